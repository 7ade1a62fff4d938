"""PDF417: what the project writes, it reads back byte for byte, also when the picture is
rotated, small, low-contrast or noisy; a picture without a symbol reads as nothing."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from vigil.identity import aamva, barcode

PAYLOAD = aamva.encode(
    {
        "DAQ": "D1234567",
        "DCS": "DOE",
        "DAC": "JANE",
        "DBB": "01021990",
        "DBA": "01022030",
        "DAJ": "CA",
        "DAG": "1 MAIN STREET",
    },
    iin="636014",
)


def _on_card(symbol: Image.Image, *, size: tuple[int, int] = (1400, 900)) -> Image.Image:
    """The symbol pasted on a light card background with some printed text, as on the back
    of a license."""
    card = Image.new("RGB", size, (232, 236, 240))
    draw = ImageDraw.Draw(card)
    for row in range(6):
        draw.text((60, 40 + 22 * row), "RESTRICTIONS NONE  ENDORSEMENTS NONE", fill=(40, 40, 60))
    card.paste(symbol, ((size[0] - symbol.width) // 2, size[1] - symbol.height - 80))
    return card


def test_render_then_read_is_exact() -> None:
    image = barcode.render_pdf417(PAYLOAD)
    assert image.mode == "RGB" and image.width == 800
    assert barcode.read_pdf417(image) == [PAYLOAD.encode("ascii")]


def test_binary_payload_round_trips() -> None:
    data = bytes(range(256))
    assert barcode.read_pdf417(barcode.render_pdf417(data, width=900)) == [data]


def test_control_characters_survive() -> None:
    (read,) = barcode.read_pdf417(barcode.render_pdf417(PAYLOAD))
    assert read.startswith(b"@\n\x1e\rANSI ")
    assert aamva.parse(read).fields.document_number == "D1234567"


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_rotated_photo_is_read(angle: int) -> None:
    card = _on_card(barcode.render_pdf417(PAYLOAD, width=1000)).rotate(angle, expand=True)
    assert barcode.read_pdf417(card) == [PAYLOAD.encode("ascii")]


def test_slightly_skewed_blurred_low_contrast_jpeg_is_read() -> None:
    card = _on_card(barcode.render_pdf417(PAYLOAD, width=1000))
    card = card.rotate(3, expand=True, fillcolor=(200, 200, 200))
    card = card.filter(ImageFilter.GaussianBlur(1.2))
    card = ImageEnhance.Contrast(card).enhance(0.5)
    buffer = io.BytesIO()
    card.save(buffer, "JPEG", quality=70)
    buffer.seek(0)
    photo = Image.open(buffer).convert("RGB")
    assert barcode.read_pdf417(photo) == [PAYLOAD.encode("ascii")]


def test_small_symbol_is_read() -> None:
    symbol = barcode.render_pdf417(PAYLOAD, width=800)
    small = symbol.resize(
        (symbol.width * 2 // 3, symbol.height * 2 // 3), Image.Resampling.BILINEAR
    )
    assert barcode.read_pdf417(_on_card(small, size=(900, 600))) == [PAYLOAD.encode("ascii")]


def test_no_symbol_reads_nothing() -> None:
    rng = random.Random(5)
    noise = Image.new("L", (400, 300))
    noise.putdata([rng.randrange(256) for _ in range(400 * 300)])
    assert barcode.read_pdf417(noise.convert("RGB")) == []
    assert barcode.read_pdf417(Image.new("RGB", (300, 200), "white")) == []


def test_damaged_symbol_is_repaired_by_error_correction() -> None:
    image = barcode.render_pdf417(PAYLOAD, width=800, ec_level=5)
    draw = ImageDraw.Draw(image)
    draw.rectangle((300, 40, 340, 70), fill="white")  # a scratch across a few codewords
    assert barcode.read_pdf417(image) == [PAYLOAD.encode("ascii")]


def test_symbols_keep_position_and_text() -> None:
    (symbol,) = barcode.read_pdf417_symbols(barcode.render_pdf417("HELLO ÉCOLE"))
    assert symbol.text == "HELLO ÉCOLE"
    assert symbol.file_id is None
