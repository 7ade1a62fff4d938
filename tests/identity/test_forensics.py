"""Editing signals (metadata, error-level analysis) and perceptual hashes."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from tests.identity import imaging
from vigil.identity import faces, forensics
from vigil.identity.images import decode

LIMITS = {"max_bytes": 12_000_000, "max_pixels": 40_000_000}


def roundtrip(image: Image.Image, quality: int) -> Image.Image:
    with Image.open(io.BytesIO(imaging.jpeg(image, quality=quality))) as out:
        return out.convert("RGB")


def retyped_name(photo: Image.Image) -> Image.Image:
    """The surname field painted over and typed again, as a forger would."""
    edited = photo.copy()
    draw = ImageDraw.Draw(edited)
    draw.rectangle((420, 240, 800, 290), fill=(236, 232, 220))
    draw.text((420, 240), "SMITHERSON", fill=(10, 10, 10), font=imaging.font(32))
    return edited


def test_a_camera_photo_shows_no_sign_of_editing() -> None:
    data = imaging.jpeg(
        imaging.document_like(),
        quality=88,
        exif=imaging.exif_with(Make="Apple", Model="iPhone 15", Software="17.4.1"),
    )
    report = forensics.editing_signals(decode(data, **LIMITS))
    assert not report.suspicious
    assert report.software is None
    assert report.ela < forensics.ELA_SUSPICIOUS
    assert report.evidence["camera"] == {
        "Make": "Apple",
        "Model": "iPhone 15",
        "Software": "17.4.1",
    }
    assert report.to_json()["suspicious"] is False


def test_an_editor_in_the_metadata_is_a_signal() -> None:
    for tags in (
        {"Software": "Adobe Photoshop 25.0 (Windows)"},
        {"ProcessingSoftware": "GIMP 2.10.36"},
    ):
        data = imaging.png(imaging.document_like(), exif=imaging.exif_with(**tags))
        report = forensics.editing_signals(decode(data, **LIMITS))
        assert report.suspicious
        assert report.software == next(iter(tags.values()))
        assert report.evidence["editor"]["key"] == next(iter(tags))
        assert report.evidence["ela"]["skipped"]  # a PNG has no compression history


def test_an_edit_history_in_xmp_is_a_signal() -> None:
    buf = io.BytesIO()
    xmp = (
        b'<x:xmpmeta><rdf:li stEvt:action="saved" stEvt:softwareAgent="Pixelmator Pro 3.5"/>'
        b"</x:xmpmeta>"
    )
    imaging.document_like().save(buf, "JPEG", quality=90, xmp=xmp)
    report = forensics.editing_signals(decode(buf.getvalue(), **LIMITS))
    assert report.software == "Pixelmator Pro 3.5"
    assert report.suspicious


def test_a_field_retyped_after_the_photo_was_taken_stands_out_in_the_error_levels() -> None:
    original = roundtrip(imaging.on_card(imaging.face_image(0)), 75)  # the phone's JPEG
    clean = imaging.jpeg(original, quality=92)  # saved again, untouched
    forged = imaging.jpeg(retyped_name(original), quality=92)
    clean_report = forensics.editing_signals(decode(clean, **LIMITS))
    forged_report = forensics.editing_signals(decode(forged, **LIMITS))
    assert not clean_report.suspicious
    assert forged_report.suspicious
    assert forged_report.software is None  # the forger stripped the metadata: ELA still sees it
    x0, y0, x1, y1 = forged_report.evidence["ela"]["box"]
    # Around the retyped letters ("SMITHERSON" from x=420 to ~620), not elsewhere on the card.
    assert 400 <= x0 <= 440 and 224 <= y0 <= 260 and 560 <= x1 <= 820 and 270 <= y1 <= 320
    assert forged_report.evidence["ela"]["quality"] == 75  # the original's quality


def test_a_large_photo_is_analysed_in_a_bounded_window_on_the_jpeg_grid() -> None:
    # 6.4 MP, over the 4 MP analysis bound: a window of it is analysed at full resolution,
    # and the evidence says which and what that means; the retyped field inside it is found
    # at its place in the whole image.
    width, height = 3200, 2000
    s = width / 1200
    original = roundtrip(imaging.document_like(width, height, seed=3), 75)
    forged = original.copy()
    draw = ImageDraw.Draw(forged)
    draw.rectangle((int(420 * s), int(240 * s), int(800 * s), int(290 * s)), fill=(236, 232, 220))
    draw.text((int(420 * s), int(240 * s)), "SMITHERSON", fill=(10, 10, 10),
              font=imaging.font(int(32 * s)))  # fmt: skip
    report = forensics.editing_signals(decode(imaging.jpeg(forged, quality=92), **LIMITS))
    ela = report.evidence["ela"]
    analysed = ela["analysed"]
    x0, y0, x1, y1 = analysed["box"]
    assert analysed["pixels"] == (x1 - x0) * (y1 - y0) <= forensics.ELA_MAX_PIXELS
    assert analysed["pixels"] > 0.9 * forensics.ELA_MAX_PIXELS  # as much as the bound allows
    assert analysed["of_pixels"] == width * height
    assert all(v % forensics.ELA_BLOCK == 0 for v in (x0, y0, x1 - x0, y1 - y0))
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert "only this region" in analysed["note"] and "not seen" in analysed["note"]
    assert report.suspicious and ela["quality"] == 75
    bx0, by0, bx1, by1 = ela["box"]
    assert x0 <= bx0 < bx1 <= x1 and y0 <= by0 < by1 <= y1
    assert int(400 * s) <= bx0 <= int(440 * s) and int(224 * s) <= by0 <= int(290 * s)

    clean = forensics.editing_signals(decode(imaging.jpeg(original, quality=92), **LIMITS))
    assert not clean.suspicious
    assert clean.evidence["ela"]["analysed"] == analysed  # the same window: same texture

    # An image within the bound is analysed whole, with no note.
    small = forensics.editing_signals(decode(imaging.jpeg(imaging.document_like()), **LIMITS))
    assert small.evidence["ela"]["analysed"] == {
        "box": [0, 0, 1200, 760], "pixels": 1200 * 760, "of_pixels": 1200 * 760,
    }  # fmt: skip


def test_a_swapped_portrait_stands_out_in_the_error_levels() -> None:
    original = roundtrip(imaging.on_card(imaging.face_image(0)), 70)
    swapped = original.copy()
    swapped.paste(imaging.face_image(1).resize((320, 410)), (60, 150))
    report = forensics.editing_signals(decode(imaging.jpeg(swapped, quality=95), **LIMITS))
    assert report.suspicious
    assert report.ela > 0.1


def test_an_edit_saved_at_the_original_quality_is_not_seen() -> None:
    # The limit of error-level analysis, kept visible: same quality, no ghost.
    original = roundtrip(imaging.on_card(imaging.face_image(0)), 85)
    forged = imaging.jpeg(retyped_name(original), quality=85)
    assert not forensics.editing_signals(decode(forged, **LIMITS)).suspicious


def test_the_same_document_photographed_again_has_a_close_hash() -> None:
    doc = imaging.on_card(imaging.face_image(0))
    again = roundtrip(doc.resize((900, 570)), 70)
    other = imaging.on_card(imaging.face_image(1))
    same = forensics.hash_distance(forensics.phash(doc), forensics.phash(again))
    different = forensics.hash_distance(
        forensics.phash(doc), forensics.phash(imaging.document_like(seed=5))
    )
    assert len(forensics.phash(doc)) == 16
    assert same <= 6
    assert different > 6
    assert forensics.hash_distance(forensics.phash(doc), forensics.phash(doc)) == 0
    assert forensics.phash(other) != forensics.phash(doc)


def test_the_portrait_hash_follows_the_face_across_documents() -> None:
    face = imaging.face_image(0)
    card_a = imaging.on_card(face)
    card_b = Image.new("RGB", (1400, 900), (200, 210, 230))  # another layout, same photo
    card_b.paste(face.resize((320, 410)), (900, 300))
    hashes = []
    for card in (card_a, card_b):
        box, _, angle = faces.largest_face(card)
        assert box is not None
        hashes.append(forensics.portrait_hash(card, box, rotation=angle))
    other_card = imaging.on_card(imaging.face_image(1))
    other_box, _, _ = faces.largest_face(other_card)
    assert other_box is not None
    assert forensics.hash_distance(hashes[0], hashes[1]) <= 8
    assert forensics.hash_distance(hashes[0], forensics.portrait_hash(other_card, other_box)) > 12


def test_the_portrait_hash_of_a_turned_document_is_the_upright_one() -> None:
    card = imaging.on_card(imaging.face_image(0))
    box, _, _ = faces.largest_face(card)
    turned = faces.turn(card, 90)
    tbox, _, angle = faces.largest_face(turned)
    assert box is not None and tbox is not None and angle == 270
    upright = forensics.portrait_hash(card, box)
    assert (
        forensics.hash_distance(upright, forensics.portrait_hash(turned, tbox, rotation=angle)) <= 4
    )
