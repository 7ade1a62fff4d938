"""Image quality: blur, glare and resolution reported with the reasons a user can fix."""

from __future__ import annotations

from PIL import Image

from tests.identity import imaging
from vigil.config import Settings
from vigil.identity.quality import assess, blur_score, glare_score
from vigil.identity.types import Reason


def settings_limits() -> dict[str, float]:
    s = Settings()
    return {
        "blur_min": s.identity_blur_min,
        "glare_max": s.identity_glare_max,
        "min_short_side": s.identity_min_pixels_short_side,
    }


def test_a_sharp_evenly_lit_document_passes() -> None:
    report = assess(imaging.document_like(), **settings_limits())  # type: ignore[arg-type]
    assert report.ok
    assert report.reasons == []
    assert (report.width, report.height) == (1200, 760)
    assert report.glare == 0.0
    assert report.to_json()["ok"] is True


def test_a_blurred_document_is_reported_blurry() -> None:
    report = assess(imaging.blurred(imaging.document_like(), 6), **settings_limits())  # type: ignore[arg-type]
    assert not report.ok
    assert report.reasons == [Reason.image_blurry]


def test_blur_is_measured_the_same_whatever_the_resolution() -> None:
    doc = imaging.document_like()
    small = blur_score(doc.resize((900, 570)))
    large = blur_score(doc.resize((2400, 1520)))
    assert 0.5 < small / large < 2.0
    # ...and falls steadily as the blur grows.
    scores = [blur_score(imaging.blurred(doc, r)) for r in (0.5, 1.5, 3, 6)]
    assert scores == sorted(scores, reverse=True)


def test_a_sharp_document_on_a_plain_table_is_not_blurry() -> None:
    table = Image.new("RGB", (2000, 1500), (90, 70, 50))
    table.paste(imaging.document_like().resize((900, 570)), (550, 460))
    assert assess(table, **settings_limits()).ok  # type: ignore[arg-type]
    assert Reason.image_blurry in assess(imaging.blurred(table, 6), **settings_limits()).reasons  # type: ignore[arg-type]


def test_a_reflection_on_the_document_is_reported_as_glare() -> None:
    doc = imaging.document_like()
    report = assess(imaging.glared(doc, share=0.10), **settings_limits())  # type: ignore[arg-type]
    assert report.reasons == [Reason.image_glare]
    assert 0.08 < report.glare < 0.12
    small = glare_score(imaging.glared(doc, share=0.01))
    assert 0.005 < small < settings_limits()["glare_max"]


def test_white_areas_of_the_document_and_page_margins_are_not_glare() -> None:
    # A scan: the card on a white page (the margin touches the border).
    page = Image.new("RGB", (1700, 2200), (255, 255, 255))
    page.paste(imaging.document_like(), (250, 300))
    assert glare_score(page) == 0.0
    # A digitally made card whose body is pure white, full of printed text.
    card = imaging.document_like()
    white = Image.new("RGB", (1300, 860), (40, 40, 40))
    body = card.point(lambda v: 255 if v > 200 else v)
    white.paste(body, (50, 50))
    assert glare_score(white) == 0.0


def test_a_small_image_is_reported_low_resolution() -> None:
    small = imaging.document_like(400, 250)
    report = assess(small, **settings_limits())  # type: ignore[arg-type]
    assert Reason.image_low_resolution in report.reasons
    assert not report.ok


def test_several_problems_are_all_reported() -> None:
    bad = imaging.glared(imaging.blurred(imaging.document_like(480, 280), 5), share=0.15)
    reasons = assess(bad, **settings_limits()).reasons  # type: ignore[arg-type]
    assert set(reasons) == {Reason.image_low_resolution, Reason.image_blurry, Reason.image_glare}


def test_a_selfie_from_the_portraits_passes() -> None:
    for person in (0, 1):
        assert assess(imaging.face_image(person, "selfie"), **settings_limits()).ok  # type: ignore[arg-type]
