"""Synthetic documents: the machine-readable zones carry the truth, the pictures are what a
phone would send, and each defect is really in the pixels or the data."""

from __future__ import annotations

import io
import random
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest
from PIL import Image

from vigil.config import Settings
from vigil.identity import aamva, barcode, checks, faces, mrz, ocr, quality
from vigil.identity.types import CheckStatus, DocumentKind, Outcome, Reason
from vigil.simulate import document_layouts, documents, pools, portraits
from vigil.simulate.documents import Defect, Person

TODAY = date(2026, 11, 21)
LUCIA = Person("Muñoz García", "Lucía", date(1990, 3, 14), "F", "ESP", "ES", face=0)
JOAO = Person("Gonçalves", "João Pedro", date(1984, 7, 2), "M", "BRA", "BR", face=1)
EMILY = Person("Johnson", "Emily Rose", date(1985, 11, 2), "F", "USA", "US", face=1)


def render(
    kind: DocumentKind, person: Person, *defects: Defect, seed: int = 1
) -> documents.SyntheticDocument:
    return documents.render(kind, person, rng=random.Random(seed), defects=defects, today=TODAY)


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image


@pytest.fixture(scope="module")
def clean() -> dict[DocumentKind, documents.SyntheticDocument]:
    return {
        DocumentKind.passport: render(DocumentKind.passport, LUCIA),
        DocumentKind.id_card: render(DocumentKind.id_card, JOAO),
        DocumentKind.driver_license: render(DocumentKind.driver_license, EMILY),
    }


def test_a_clean_passport_carries_its_truth_in_a_valid_td3_mrz(
    clean: dict[DocumentKind, documents.SyntheticDocument],
) -> None:
    doc = clean[DocumentKind.passport]
    result = mrz.parse(doc.mrz_lines, today=TODAY)
    assert result.format is mrz.MrzFormat.TD3 and result.valid
    read, truth = result.fields, doc.truth
    assert (read.document_number, read.surname, read.given_names) == (
        truth.document_number,
        "MUNOZ GARCIA",
        "LUCIA",
    )
    assert (read.birth_date, read.expiry_date, read.sex) == (
        date(1990, 3, 14),
        truth.expiry_date,
        "F",
    )
    assert truth.expiry_date is not None and truth.expiry_date > TODAY
    # The visual zone prints the holder's own spelling, with Spanish and English labels.
    assert doc.printed["surname"] == "MUÑOZ GARCÍA"
    assert doc.printed["birth_date"] == "14 MAR 1990"
    assert doc.back is None and doc.expected is Outcome.approve and not doc.expected_reasons
    front = picture(doc.front)
    assert 1250 <= front.width <= 1600 and front.height > 800
    assert front.getexif().get(0x0110)  # a phone's camera model, like a real upload


def test_an_id_card_has_its_td1_mrz_on_the_back(
    clean: dict[DocumentKind, documents.SyntheticDocument],
) -> None:
    doc = clean[DocumentKind.id_card]
    result = mrz.parse(doc.mrz_lines, today=TODAY)
    assert result.format is mrz.MrzFormat.TD1 and result.valid
    assert result.fields.surname == "GONCALVES" and result.fields.given_names == "JOAO PEDRO"
    assert result.fields.issuing_country == "BRA"
    assert doc.back is not None and picture(doc.back).width == picture(doc.front).width
    assert doc.printed["birth_date"] == "02.07.1984"


def test_a_driver_license_barcode_scans_back_to_its_aamva_truth(
    clean: dict[DocumentKind, documents.SyntheticDocument],
) -> None:
    doc = clean[DocumentKind.driver_license]
    assert doc.aamva_payload and not doc.mrz_lines and doc.back is not None
    # Scanned from the photographed back, not from the payload we kept.
    scanned = barcode.read_pdf417(picture(doc.back).convert("RGB"))
    assert scanned and scanned[0].decode() == doc.aamva_payload
    parsed = aamva.parse(scanned[0])
    assert not parsed.errors and parsed.jurisdiction == doc.state
    assert parsed.jurisdiction_matches_iin
    fields = parsed.fields
    assert fields.document_kind is DocumentKind.driver_license
    assert (fields.document_number, fields.surname, fields.birth_date) == (
        doc.truth.document_number,
        "JOHNSON",
        date(1985, 11, 2),
    )
    assert fields.expiry_date == doc.truth.expiry_date
    assert doc.truth.expiry_date is not None and doc.truth.expiry_date.timetuple()[1:3] == (11, 2)
    assert doc.printed["birth_date"] == "11/02/1985"


def test_the_same_seed_draws_the_same_document() -> None:
    a = render(DocumentKind.id_card, LUCIA, seed=9)
    b = render(DocumentKind.id_card, LUCIA, seed=9)
    assert (a.front, a.back, a.mrz_lines) == (b.front, b.back, b.mrz_lines)
    assert render(DocumentKind.id_card, LUCIA, seed=10).mrz_lines != a.mrz_lines


def test_a_bad_check_digit_fails_exactly_one_check_and_cannot_be_repaired() -> None:
    doc = render(DocumentKind.passport, LUCIA, Defect.bad_check_digit)
    strict = mrz.parse(doc.mrz_lines, today=TODAY)
    assert not strict.valid
    assert [k for k, ok in strict.check_digits.items() if not ok] == ["document_number"]
    # The reader, which repairs OCR slips, must not turn it into a valid document.
    read = mrz.read(doc.mrz_lines, today=TODAY)
    assert read is not None and not read.valid
    # A person looks (an OCR misread or a forgery sign), unless the photo itself is bad.
    assert doc.expected is Outcome.review
    assert doc.expected_reasons == {Reason.mrz_check_digits_failed}
    card = render(DocumentKind.id_card, JOAO, Defect.bad_check_digit)
    assert not mrz.parse(card.mrz_lines, today=TODAY).check_digits["document_number"]


def test_expired_and_underage_are_in_the_data() -> None:
    expired = render(DocumentKind.id_card, LUCIA, Defect.expired)
    assert expired.truth.expiry_date is not None and expired.truth.expiry_date < TODAY
    assert mrz.parse(expired.mrz_lines, today=TODAY).valid
    assert expired.expected is Outcome.reject
    assert expired.expected_reasons == {Reason.document_expired}
    minor = render(DocumentKind.driver_license, EMILY, Defect.underage)
    birth = minor.truth.birth_date
    assert birth is not None and 14 <= (TODAY - birth).days / 365.25 < 18
    assert aamva.parse(minor.aamva_payload or "").fields.birth_date == birth
    # The account was opened with the same (under-age) birth date.
    assert documents.profile_for(minor)["date_of_birth"] == birth
    assert minor.expected_reasons == {Reason.holder_under_age}


def test_validity_holds_on_the_day_for_every_kind_and_birthday() -> None:
    rng = random.Random(3)
    for n in range(300):
        kind = (DocumentKind.passport, DocumentKind.id_card, DocumentKind.driver_license)[n % 3]
        holder = Person("Lee", "Ana", date(1970, 1, 1) + timedelta(days=n * 37), "F", "USA", "US")
        expired = rng.random() < 0.5
        defects = (Defect.expired,) if expired else ()
        birth, issued, expiry = documents.document_dates(kind, holder, defects, TODAY, None, rng)
        assert issued <= TODAY and birth == holder.birth_date
        assert (expiry < TODAY) if expired else (expiry > TODAY)
        if kind is DocumentKind.driver_license:
            assert (expiry.month, expiry.day) == (birth.month, birth.day)


def test_a_tampered_birth_date_is_printed_over_and_leaves_editing_traces() -> None:
    doc = render(DocumentKind.passport, LUCIA, Defect.tampered_field)
    assert doc.printed["birth_date"] != "14 MAR 1990"
    assert doc.printed["birth_date"].endswith(("1984", "1985", "1986", "1987"))
    assert mrz.parse(doc.mrz_lines, today=TODAY).fields.birth_date == date(1990, 3, 14)
    assert "Photoshop" in str(picture(doc.front).getexif().get(0x0131))
    assert doc.expected is Outcome.review
    assert doc.expected_reasons == {Reason.viz_mismatch, Reason.editing_suspected}


def test_a_mismatched_profile_names_someone_else() -> None:
    doc = render(DocumentKind.passport, JOAO, Defect.mismatched_profile)
    profile = documents.profile_for(doc)
    assert profile["legal_name"] != "João Pedro Gonçalves"
    assert profile["date_of_birth"] != date(1984, 7, 2)
    assert profile["country"] == "BR"
    clean_profile = documents.profile_for(render(DocumentKind.passport, JOAO))
    assert clean_profile == {
        "legal_name": "João Pedro Gonçalves",
        "date_of_birth": date(1984, 7, 2),
        "country": "BR",
    }


def test_a_reused_document_is_the_same_document_in_a_new_photo() -> None:
    first = render(DocumentKind.driver_license, EMILY, seed=3)
    again = documents.reuse(first, rng=random.Random(4), today=TODAY)
    assert again.truth == first.truth and again.state == first.state
    assert again.front != first.front
    assert again.expected is Outcome.review and again.expected_reasons == {Reason.document_reused}


@pytest.mark.skipif(not portraits.available(), reason="the portraits' packages are absent")
def test_the_selfie_shows_the_holder_unless_the_faces_mismatch() -> None:
    settings = Settings()
    for defects, near in (((), True), ((Defect.face_mismatch,), False)):
        doc = render(DocumentKind.id_card, LUCIA, *defects)
        assert doc.selfie is not None
        found = faces.compare(picture(doc.selfie).convert("RGB"), picture(doc.front).convert("RGB"))
        assert found.selfie_faces == 1 and found.document_faces == 1
        assert found.distance is not None
        if near:
            assert found.distance < settings.identity_face_match_distance
        else:
            assert found.distance > settings.identity_face_mismatch_distance
            assert doc.expected is Outcome.review
            assert doc.expected_reasons == {Reason.face_mismatch}


def test_quality_defects_degrade_the_front_photo() -> None:
    sharp = render(DocumentKind.passport, LUCIA, seed=5)
    blurred = render(DocumentKind.passport, LUCIA, Defect.blur, seed=5)
    small = render(DocumentKind.passport, LUCIA, Defect.low_resolution, seed=5)
    glared = render(DocumentKind.passport, LUCIA, Defect.glare, seed=5)
    # The blurred JPEG holds far less detail than the sharp one of the same scene.
    assert len(blurred.front) < len(sharp.front) * 0.6
    assert min(picture(small.front).size) < 300
    grey = np.asarray(picture(glared.front).convert("L"))
    assert (grey >= 250).mean() > 0.04
    for doc, reason in ((blurred, Reason.image_blurry), (small, Reason.image_low_resolution)):
        assert doc.expected is Outcome.reject and doc.expected_reasons == {reason}


def test_defects_combine_to_the_most_severe_outcome() -> None:
    doc = render(DocumentKind.id_card, LUCIA, Defect.expired, Defect.mismatched_profile)
    assert doc.expected is Outcome.reject
    assert doc.expected_reasons == {
        Reason.document_expired,
        Reason.name_mismatch,
        Reason.birth_date_mismatch,
    }
    # A bad photo still rejects; the dates of a failing MRZ are not certain enough to.
    blurred = render(DocumentKind.passport, LUCIA, Defect.blur, Defect.bad_check_digit)
    assert blurred.expected is Outcome.reject
    expired = render(DocumentKind.passport, LUCIA, Defect.expired, Defect.bad_check_digit)
    assert expired.expected is Outcome.review
    assert expired.expected_reasons == {Reason.document_expired, Reason.mrz_check_digits_failed}


def test_a_defect_that_does_not_apply_is_refused() -> None:
    with pytest.raises(ValueError, match="bad_check_digit"):
        render(DocumentKind.driver_license, EMILY, Defect.bad_check_digit)
    with pytest.raises(ValueError, match="visa"):
        render(DocumentKind.visa, LUCIA)


def test_the_mrz_falls_back_to_another_monospaced_font(monkeypatch: pytest.MonkeyPatch) -> None:
    document_layouts.font.cache_clear()
    monkeypatch.setattr(document_layouts, "OCRB", document_layouts.DEJAVU / "missing.otf")
    try:
        doc = render(DocumentKind.passport, LUCIA, seed=2)
    finally:
        document_layouts.font.cache_clear()
    assert mrz.parse(doc.mrz_lines, today=TODAY).valid
    assert picture(doc.front).width >= 1250


def test_people_for_simulated_accounts_split_their_legal_names() -> None:
    es = documents.person_from_account("Lucía Romero García", date(1990, 1, 1), "ES", face=3)
    assert (es.given_names, es.surname, es.nationality) == ("Lucía", "Romero García", "ESP")
    us = documents.person_from_account("Emily Rose Smith", date(1990, 1, 1), "US", face=2)
    assert (us.given_names, us.surname, us.nationality) == ("Emily Rose", "Smith", "USA")
    # A country without documents drawn: the holder takes the fallback issuer's, whole.
    se = documents.person_from_account("Elsa Andersson", date(1990, 1, 1), "SE", face=2)
    assert (se.nationality, se.country) == ("USA", "US")


def test_issuers_are_countries_the_checks_know_and_cover_the_simulated_accounts() -> None:
    for issuer in document_layouts.ISSUERS.values():
        assert mrz.country_alpha2(issuer.alpha3) == issuer.alpha2
        assert set(document_layouts.LABELS[issuer.language]) == set(document_layouts.LABELS["en"])
    assert {c.code for c in pools.COUNTRIES} <= set(document_layouts.BY_ALPHA2)
    # A license's IIN is AAMVA's own for its state.
    for state in document_layouts.STATES:
        assert aamva.IIN_JURISDICTIONS[document_layouts.state_iin(state)][0] == state


SWEDE = Person("Andersson", "Elsa", date(1991, 6, 5), "F", "SWE", "SE", face=0)


@pytest.mark.parametrize(
    ("kind", "person"),
    [
        (DocumentKind.passport, LUCIA),
        (DocumentKind.id_card, JOAO),
        (DocumentKind.driver_license, EMILY),
        (DocumentKind.passport, SWEDE),  # no Swedish documents drawn
        (DocumentKind.id_card, SWEDE),
        (DocumentKind.driver_license, JOAO),  # a Brazilian with a US license
        (DocumentKind.passport, replace(LUCIA, country="GB")),  # living abroad
    ],
)
def test_every_clean_document_matches_its_profile(kind: DocumentKind, person: Person) -> None:
    doc = render(kind, person)
    profile = documents.profile_for(doc)
    truth = doc.truth
    assert doc.expected is Outcome.approve
    country = checks.profile_country(truth, profile["country"])
    assert country.status is CheckStatus.passed, country.evidence
    name = checks.profile_name(truth, profile["legal_name"], match_min=90, review_min=70)
    assert name.status is CheckStatus.passed, name.evidence
    assert checks.profile_birth_date(truth, profile["date_of_birth"]).status is CheckStatus.passed
    # The holder the document names is the one the profile describes.
    assert profile["country"] == doc.person.country
    if kind is not DocumentKind.driver_license:
        assert truth.issuing_country == truth.nationality == doc.person.nationality
        assert mrz.parse(doc.mrz_lines, today=TODAY).fields.nationality == doc.person.nationality


def test_a_real_ocr_reads_the_mrz_back_exactly(
    clean: dict[DocumentKind, documents.SyntheticDocument],
) -> None:
    for kind in (DocumentKind.passport, DocumentKind.id_card):
        doc = clean[kind]
        side = doc.front if kind is DocumentKind.passport else doc.back
        assert side is not None
        text = ocr.read_document(picture(side).convert("RGB"))
        assert text.mrz is not None and text.mrz.valid
        assert list(text.mrz.lines) == doc.mrz_lines


def test_the_quality_check_sees_each_photo_defect_and_passes_a_clean_photo(
    clean: dict[DocumentKind, documents.SyntheticDocument],
) -> None:
    settings = Settings()

    def reasons(data: bytes) -> list[Reason]:
        return quality.assess(
            picture(data).convert("RGB"),
            blur_min=settings.identity_blur_min,
            glare_max=settings.identity_glare_max,
            min_short_side=settings.identity_min_pixels_short_side,
        ).reasons

    for doc in clean.values():
        assert reasons(doc.front) == []
    for defect, reason in (
        (Defect.blur, Reason.image_blurry),
        (Defect.glare, Reason.image_glare),
        (Defect.low_resolution, Reason.image_low_resolution),
    ):
        for kind, person in ((DocumentKind.passport, LUCIA), (DocumentKind.driver_license, EMILY)):
            assert reason in reasons(render(kind, person, defect, seed=6).front)
