"""Face detection and selfie-vs-document match on the simulator's public-domain portraits.

A detector pass takes up to a second, so a result several tests check (the genuine match,
the rendered passport's portrait) is computed once per module."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.identity import imaging
from vigil.config import Settings
from vigil.identity import faces, forensics
from vigil.simulate.documents import SyntheticDocument

pytestmark = pytest.mark.slow  # dlib: ~0.2-1 s per image


@pytest.fixture(scope="module")
def card0() -> Image.Image:
    return imaging.on_card(imaging.face_image(0))


@pytest.fixture(scope="module")
def selfie0() -> Image.Image:
    return imaging.face_image(0, "selfie")


@pytest.fixture(scope="module")
def genuine(card0: Image.Image, selfie0: Image.Image) -> faces.FaceComparison:
    """Person 0's selfie against person 0's card, upright."""
    return faces.compare(selfie0, card0)


def test_one_face_is_found_on_a_portrait_and_none_on_a_blank_card() -> None:
    portrait = imaging.face_image(1)
    boxes = faces.find_faces(portrait)
    assert len(boxes) == 1
    box = boxes[0]
    assert 0 <= box.x0 < box.x1 <= portrait.width and 0 <= box.y0 < box.y1 <= portrait.height
    assert box.score > faces.COUNT_MIN_SCORE
    # The face is in the middle third horizontally of a passport-style photo.
    assert portrait.width / 4 < (box.x0 + box.x1) / 2 < 3 * portrait.width / 4
    assert faces.find_faces(imaging.document_like()) == []


def test_the_same_person_matches_and_another_person_does_not(
    card0: Image.Image, genuine: faces.FaceComparison
) -> None:
    settings = Settings()
    assert genuine.distance is not None
    assert genuine.distance <= settings.identity_face_match_distance
    assert (genuine.selfie_faces, genuine.document_faces) == (1, 1)
    impostor = faces.compare(imaging.face_image(1, "selfie"), card0)
    assert impostor.distance is not None
    assert impostor.distance > settings.identity_face_mismatch_distance
    evidence = genuine.to_json()
    assert evidence["distance"] == round(genuine.distance, 4)
    assert evidence["document_box"]["x0"] >= 60  # inside the card's portrait box


def test_a_document_photographed_sideways_or_upside_down_is_still_matched(
    card0: Image.Image, selfie0: Image.Image, genuine: faces.FaceComparison
) -> None:
    upright = genuine
    assert upright.document_rotation == 0
    assert upright.distance is not None and upright.document_box is not None
    for photographed in (90, 180):
        turned = faces.turn(card0, photographed)
        result = faces.compare(selfie0, turned)
        assert result.distance == pytest.approx(upright.distance, abs=1e-6)
        # Turning the photo back by the reported angle makes it upright again.
        assert (photographed + result.document_rotation) % 360 == 0
        # The box is in the turned photo's coordinates: the face is really there.
        box = result.document_box
        assert box is not None
        crop = faces.turn(turned.crop((box.x0, box.y0, box.x1, box.y1)), result.document_rotation)
        assert faces.find_faces(crop.resize((crop.width * 2, crop.height * 2)))


@pytest.fixture(scope="module")
def passport(holder_passport: SyntheticDocument) -> Image.Image:
    """The front of a passport the simulator renders, upright (``HOLDER``'s, conftest)."""
    if holder_passport.selfie is None:
        pytest.skip("the simulator's portraits need scikit-image and matplotlib")
    with Image.open(io.BytesIO(holder_passport.front)) as opened:
        return opened.convert("RGB")


@pytest.fixture(scope="module")
def passport_portrait(passport: Image.Image) -> tuple[faces.FaceBox | None, int, int]:
    """``faces.largest_face(passport)``: the upright passport's portrait."""
    return faces.largest_face(passport)


def test_every_turn_of_a_rendered_passport_finds_its_portrait_upright(
    passport: Image.Image, passport_portrait: tuple[faces.FaceBox | None, int, int]
) -> None:
    # On this passport the detector also "finds" a faint false face (score ~0.05) when the photo
    # is turned counter-clockwise (in the turn 0) or upside down (in the turn 270): a turn is
    # only taken for a confident face, so every photo gives the upright portrait and its hash.
    box, count, rotation = passport_portrait
    assert box is not None and (count, rotation) == (1, 0)
    assert box.score >= faces.COUNT_MIN_SCORE
    expected_hash = forensics.portrait_hash(passport, box)
    for photographed in (90, 180, 270):
        photo = faces.turn(passport, photographed)
        found, found_count, found_rotation = faces.largest_face(photo)
        # Turning the photo back by the reported angle makes it upright again.
        assert (photographed + found_rotation) % 360 == 0, photographed
        assert found_count == 1
        # The box is the upright portrait's, in the turned photo's coordinates.
        back = (360 - photographed) % 360
        assert found == faces.box_in_turned(box, back, photo.width, photo.height)
        assert forensics.portrait_hash(photo, found, rotation=found_rotation) == expected_hash


def test_with_no_confident_face_in_any_turn_the_strongest_faint_one_is_reported(
    passport: Image.Image, passport_portrait: tuple[faces.FaceBox | None, int, int]
) -> None:
    # The portrait painted over: what is left is the faint false face of the turn 90 (and
    # nothing in the other turns). It is reported, with its turn and its low score, so that a
    # caller can tell it from a real portrait; a card with nothing face-like reports none.
    box, _, _ = passport_portrait
    assert box is not None
    painted = passport.copy()
    pad = (box.x1 - box.x0) // 2
    ImageDraw.Draw(painted).rectangle(
        (box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad), fill=(235, 235, 235)
    )
    faint, count, rotation = faces.largest_face(painted)
    assert faint is not None and faint.score < faces.COUNT_MIN_SCORE
    assert (count, rotation) == (1, 90)
    turned = faces.find_faces(faces.turn(painted, 90))
    assert [faces.box_in_turned(b, 90, painted.width, painted.height) for b in turned] == [faint]
    assert faces.largest_face(imaging.document_like()) == (None, 0, 0)


def test_the_documents_portrait_is_its_largest_face() -> None:
    # Many ID cards print a small second "ghost" portrait beside the main one.
    face = imaging.face_image(0)
    card = imaging.on_card(face)
    card.paste(face.resize((175, 225)), (900, 420))
    result = faces.compare(imaging.face_image(0, "selfie"), card)
    assert result.document_faces == 2
    assert result.document_box is not None
    assert result.document_box.x1 < 600  # the big portrait on the left, not the ghost


def test_no_face_on_the_selfie_gives_no_distance(card0: Image.Image) -> None:
    result = faces.compare(imaging.document_like(600, 800), card0)
    assert result.distance is None
    assert result.selfie_faces == 0
    assert result.selfie_box is None
    assert result.document_faces == 1


def test_two_people_on_a_selfie_are_counted() -> None:
    left = imaging.face_image(0, "selfie")
    right = imaging.face_image(1, "selfie")
    both = Image.new("RGB", (960, 640))
    both.paste(left, (0, 0))
    both.paste(right, (480, 0))
    result = faces.compare(both, imaging.on_card(imaging.face_image(0)))
    assert result.selfie_faces == 2


def test_a_large_phone_photo_is_searched_at_a_working_size(selfie0: Image.Image) -> None:
    big = selfie0.resize((selfie0.width * 6, selfie0.height * 6), Image.Resampling.BICUBIC)
    boxes_small = faces.find_faces(selfie0)
    boxes_big = faces.find_faces(big)
    assert len(boxes_big) == 1
    # The box is given in the big image's pixels.
    assert boxes_big[0].x0 == pytest.approx(boxes_small[0].x0 * 6, abs=40)
    assert boxes_big[0].x1 == pytest.approx(boxes_small[0].x1 * 6, abs=40)


def test_encodings_and_distance(card0: Image.Image) -> None:
    box = faces.find_faces(card0)[0]
    a = faces.encode(card0, box)
    assert a.shape == (128,)
    assert faces.distance(a, a) == 0.0
    b = faces.encode(imaging.face_image(1), faces.find_faces(imaging.face_image(1))[0])
    assert faces.distance(a, b) == pytest.approx(faces.distance(b, a))
    assert faces.distance(a, b) == pytest.approx(float(np.linalg.norm(a - b)))


def test_comparisons_from_several_threads_agree_with_one_thread(card0: Image.Image) -> None:
    selfies = [imaging.face_image(p, "selfie", seed=s) for p in (0, 1) for s in (1, 2)]
    alone = [faces.compare(s, card0).distance for s in selfies]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda s: faces.compare(s, card0).distance, selfies))
    assert together == alone
