"""The simulator's faces: many people from two photographs, each a face of their own.

Measured with the identity pipeline's own tools (dlib through ``vigil.identity.faces``, the
aligned portrait hash of ``vigil.identity.forensics``) on a few persons of each photograph."""

from __future__ import annotations

import io
import itertools
import random
import sys
from datetime import date

import pytest
from PIL import Image

from vigil.config import Settings
from vigil.identity import faces, forensics
from vigil.identity.types import DocumentKind
from vigil.simulate import documents, portraits

pytestmark = [
    pytest.mark.slow,  # dlib: ~0.5-1 s per image
    pytest.mark.skipif(not portraits.available(), reason="the portraits' packages are absent"),
]

# Persons 0, 2, 4... are built on one photograph, 1, 3, 5... on the other.
PEOPLE = (0, 1, 2, 3, 4, 5, 6, 9)


def face(person: int, variant: str = "document", seed: int | None = None) -> Image.Image:
    image = portraits.portrait(person, variant=variant, seed=seed)
    assert image is not None
    return image


def portrait_hash(image: Image.Image) -> str:
    box, _, angle = faces.largest_face(image)
    assert box is not None
    return forensics.portrait_hash(image, box, rotation=angle)


@pytest.fixture(scope="module")
def hashes() -> dict[int, str]:
    return {p: portrait_hash(face(p)) for p in PEOPLE}


def test_a_person_is_always_drawn_the_same_and_the_first_two_are_the_photographs() -> None:
    assert face(7).tobytes() == face(7).tobytes()
    assert face(7, "selfie", 3).tobytes() == face(7, "selfie", 3).tobytes()
    assert face(7, "selfie", 3).tobytes() != face(7, "selfie", 4).tobytes()
    assert portraits.look(0) == portraits.look(1) == portraits.Look()
    assert portraits.look(2) != portraits.Look()
    assert portraits.look(2) != portraits.look(4)
    assert [portraits.source_name(p) for p in (0, 1, 2, 3)] == [
        "astronaut",
        "grace_hopper",
        "astronaut",
        "grace_hopper",
    ]
    assert face(2).size == portraits.DOCUMENT_SIZE
    assert face(2, "selfie").size == portraits.SELFIE_SIZE
    with pytest.raises(ValueError):
        portraits.portrait(2, variant="passport")


def test_every_two_people_have_portraits_far_apart_by_hash(hashes: dict[int, str]) -> None:
    limit = Settings().identity_image_hash_distance
    distances = {
        (a, b): forensics.hash_distance(hashes[a], hashes[b])
        for a, b in itertools.combinations(PEOPLE, 2)
    }
    # Twice the reuse limit: no simulated person's portrait is taken for another's.
    assert min(distances.values()) > 2 * limit, distances


def test_the_portrait_on_a_rendered_document_is_the_persons_own() -> None:
    limit = Settings().identity_image_hash_distance
    rendered = {}
    for person in (2, 4):
        holder = documents.Person(
            "Muñoz García", "Lucía", date(1990, 3, 14), "F", "ESP", "ES", face=person
        )
        doc = documents.render(
            DocumentKind.id_card, holder, rng=random.Random(person), today=date(2026, 11, 21)
        )
        front = Image.open(io.BytesIO(doc.front)).convert("RGB")
        rendered[person] = (portrait_hash(front), portrait_hash(face(person)))
    # The same person's portrait is found again on their document (the reuse check works)...
    for on_document, own in rendered.values():
        assert forensics.hash_distance(on_document, own) <= limit
    # ...and two persons' documents are not taken for one another.
    assert forensics.hash_distance(rendered[2][0], rendered[4][0]) > 2 * limit


@pytest.mark.parametrize("person", [2, 3, 9])
def test_the_selfie_matches_its_document_without_being_a_copy(person: int) -> None:
    settings = Settings()
    document = face(person)
    for seed in (0, 1):
        selfie = face(person, "selfie", seed)
        result = faces.compare(selfie, document)
        assert result.distance is not None
        assert result.selfie_faces == 1 and result.document_faces == 1
        assert settings.identity_face_same_image_distance < result.distance
        assert result.distance <= settings.identity_face_match_distance
        whole = forensics.hash_distance(forensics.phash(selfie), forensics.phash(document))
        assert whole > settings.identity_image_hash_distance


@pytest.mark.parametrize(("document_person", "selfie_person"), [(0, 1), (2, 3), (3, 4), (9, 4)])
def test_people_of_the_two_photographs_are_a_clear_mismatch(
    document_person: int, selfie_person: int
) -> None:
    # face_mismatch draws the selfie of person + 1: always the other photograph.
    result = faces.compare(face(selfie_person, "selfie"), face(document_person))
    assert result.distance is not None
    assert result.distance > Settings().identity_face_mismatch_distance


def test_no_portrait_without_the_packages_that_ship_the_photographs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    portraits._source.cache_clear()
    portraits._person.cache_clear()
    monkeypatch.setitem(sys.modules, "skimage", None)  # import skimage -> ImportError
    try:
        assert portraits.portrait(2) is None
        assert portraits.portrait(3) is not None  # matplotlib's photograph is still there
        assert not portraits.available()
    finally:
        monkeypatch.undo()
        portraits._source.cache_clear()
        portraits._person.cache_clear()
    assert portraits.available()
