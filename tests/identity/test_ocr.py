"""OCR of documents: MRZ images rendered here with the OCR-B font, read by the real engine
(RapidOCR, PP-OCRv6 shipped in its wheel). Few and small: each read takes about a second."""

from __future__ import annotations

import io
import random
import threading
from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from vigil.identity import mrz, ocr
from vigil.identity.mrz import MrzFormat
from vigil.identity.types import DocumentFields, DocumentKind
from vigil.simulate import documents

OCRB = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

pytestmark = pytest.mark.skipif(not OCRB.exists(), reason="fonts-ocr-b is not installed")


def _fields(number: str = "C4X7Y2K18") -> DocumentFields:
    return DocumentFields(
        source="test",
        document_kind=DocumentKind.passport,
        issuing_country="BRA",
        document_number=number,
        surname="OLIVEIRA",
        given_names="JOANA MARIA",
        birth_date=date(1988, 3, 14),
        expiry_date=date(2031, 11, 2),
        sex="F",
        nationality="BRA",
    )


def _document(lines: list[str], *, width: int = 1100) -> Image.Image:
    """A plain data page: a title and labelled fields in a sans font, the MRZ in OCR-B at
    the bottom, as printed (about 2.5 mm characters on a 125 mm page)."""
    size = width // 40
    image = Image.new("RGB", (width, int(width * 0.7)), (236, 232, 220))
    draw = ImageDraw.Draw(image)
    sans = ImageFont.truetype(str(DEJAVU), size) if DEJAVU.exists() else ImageFont.load_default()
    draw.text(
        (width // 20, width // 25),
        "REPUBLICA FEDERATIVA DO BRASIL / PASSPORT",
        font=sans,
        fill=(20, 30, 90),
    )
    draw.text((width // 3, width // 8), "Surname / Sobrenome", font=sans, fill=(60, 60, 60))
    draw.text((width // 3, width // 8 + size + 4), "OLIVEIRA", font=sans, fill=(0, 0, 0))
    size = int(width / len(lines[0]) * 1.6)
    font = ImageFont.truetype(str(OCRB), size)
    while font.getlength(lines[0]) > width * 0.93:
        size -= 1
        font = ImageFont.truetype(str(OCRB), size)
    y = int(image.height * 0.72)
    for line in lines:
        draw.text((width // 30, y), line, font=font, fill=(10, 10, 10))
        y += int(font.size * 1.45)
    return image


@pytest.fixture(scope="module")
def passport_lines() -> list[str]:
    return mrz.build(_fields(), MrzFormat.TD3)


def test_reads_a_rendered_passport_mrz_and_confirms_it(passport_lines: list[str]) -> None:
    image = _document(passport_lines)
    doc = ocr.read_document(image)
    assert doc.mrz is not None
    assert doc.mrz.lines == tuple(passport_lines)
    assert doc.mrz.valid
    assert doc.mrz_confirmed
    assert len(doc.mrz_reads) >= 2
    assert doc.mrz.fields.document_number == "C4X7Y2K18"
    assert doc.mrz.fields.birth_date == date(1988, 3, 14)
    # the rest of the page is there for the visual zone, with boxes inside the image
    assert any("OLIVEIRA" in line.text for line in doc.lines)
    for line in doc.lines:
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 < x1 <= image.width + 1
        assert 0 <= y0 < y1 <= image.height + 1
        assert 0 <= line.score <= 1


def test_reads_an_upside_down_small_id_card() -> None:
    fields = _fields("ID9021345")
    fields.document_kind = DocumentKind.id_card
    lines = mrz.build(fields, MrzFormat.TD1)
    image = _document(lines, width=520).rotate(180)
    doc = ocr.read_document(image)
    assert doc.rotation == 180
    assert doc.mrz is not None
    assert doc.mrz.format is MrzFormat.TD1
    assert doc.mrz.lines == tuple(lines)
    assert doc.mrz.valid


def test_a_document_printed_with_a_wrong_check_digit_is_read_as_failing(
    passport_lines: list[str],
) -> None:
    line2 = passport_lines[1]
    wrong = str((int(line2[19]) + 3) % 10)  # the birth date's check digit
    printed = [passport_lines[0], line2[:19] + wrong + line2[20:]]
    doc = ocr.read_document(_document(printed))
    assert doc.mrz is not None
    assert doc.mrz.lines == tuple(printed)
    assert not doc.mrz.valid
    assert doc.mrz.check_digits["birth_date"] is False
    assert doc.mrz.repairs == []
    assert not doc.mrz_confirmed


def test_no_mrz_on_a_page_without_one() -> None:
    image = Image.new("RGB", (600, 380), "white")
    ImageDraw.Draw(image).text((30, 40), "DRIVER LICENSE", fill="black")
    doc = ocr.read_document(image, turns=False)
    assert doc.mrz is None
    assert doc.mrz_reads == []
    assert not doc.mrz_confirmed


def test_engine_is_shared_and_calls_are_safe_from_threads(passport_lines: list[str]) -> None:
    assert ocr.engine() is ocr.engine()
    band = Image.new("RGB", (1300, 70), "white")
    font = ImageFont.truetype(str(OCRB), 30)
    ImageDraw.Draw(band).text((10, 15), passport_lines[1], font=font, fill="black")
    results: list[list[str]] = []

    def work() -> None:
        results.append([line.text for line in ocr.run(band)])

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    assert results[0] == results[1] == results[2]
    assert mrz.normalize_line("".join(results[0])) == passport_lines[1]


def test_reads_repaired_the_same_way_do_not_confirm_each_other() -> None:
    """A repair is a guess a misprint could also satisfy: two reads that both needed it
    confirm nothing; one read that needed no repair does."""
    lines = mrz.build(_fields("XS1234567"), MrzFormat.TD3)
    misread = [lines[0], "X5" + lines[1][2:]]
    repaired = mrz.read(misread)
    clean = mrz.read(lines)
    assert repaired is not None and clean is not None
    assert repaired.valid and repaired.repairs
    assert repaired.lines == clean.lines
    assert not ocr.confirmed(repaired, [repaired, mrz.read(misread)])
    assert ocr.confirmed(repaired, [repaired, clean])
    assert not ocr.confirmed(clean, [clean])


def test_a_simulated_spanish_card_keeps_its_nationality() -> None:
    """The back of a clean simulated ID card (a photo of it, as JPEG): the recognizer
    answers a Greek capital Rho for the P of "ESP" on it; the read must still say ESP."""
    person = documents.Person("Muñoz García", "Lucía", date(1990, 3, 14), "F", "ESP", "ES", face=0)
    doc = documents.render(DocumentKind.id_card, person, rng=random.Random(11))
    assert doc.back is not None
    back = Image.open(io.BytesIO(doc.back)).convert("RGB")
    read = ocr.read_document(back)
    assert read.mrz is not None
    assert read.mrz.lines == tuple(doc.mrz_lines)
    assert read.mrz.valid
    assert read.mrz.errors == []
    assert read.mrz.fields.nationality == read.mrz.fields.issuing_country == "ESP"
    assert read.mrz.fields.surname == "MUNOZ GARCIA"
