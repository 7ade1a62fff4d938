"""PDF417 reading and writing (zxing-cpp): the barcode on the back of US and Canadian
driver's licenses, read as raw bytes so that AAMVA's control characters survive.

Invariants:

- ``read_pdf417`` returns the payload of every distinct message found, as the bytes the
  symbols encode (``TextMode.Plain``: no ECI or escape rewriting), in reading order (top to
  bottom, left to right). It never raises on a picture without a barcode: it returns ``[]``.
- A Macro PDF417 message split over several symbols (same file id) is one payload: the
  symbols' bytes joined in reading order, since the binding does not expose the segment
  index (the order a printer lays them out in).
- ``read_pdf417_symbols`` keeps each symbol apart, with zxing-cpp's text (ECI applied) for
  callers that compare printed text rather than bytes.
- Reading escalates only while nothing was found: the image as given (zxing-cpp itself tries
  rotations, inverted symbols and downscales), then a grey, contrast-stretched copy, then
  larger and smaller scales (a phone photo of a card often shows the barcode too small, or
  too large for the detector's window), then a sharpened copy. A clean image costs one pass.
- ``render_pdf417`` writes a symbol with its quiet zone, as an RGB image ``width`` pixels
  wide (modules stay whole pixels: the symbol is scaled by an integer, then padded).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import zxingcpp
from PIL import Image, ImageFilter, ImageOps

_FORMAT = zxingcpp.BarcodeFormat.PDF417
_FORMATS = zxingcpp.BarcodeFormats(_FORMAT)


@dataclass(frozen=True)
class Pdf417Symbol:
    data: bytes
    text: str  # ECI-aware text, as zxing-cpp decodes it
    file_id: str | None  # Macro PDF417 file id, when the symbol is one segment of a message
    position: tuple[int, int]  # top-left corner (x, y)


def _decode(image: Image.Image | np.ndarray) -> list[Pdf417Symbol]:
    found = zxingcpp.read_barcodes(
        image,
        formats=_FORMATS,
        text_mode=zxingcpp.TextMode.Plain,
        try_rotate=True,
        try_downscale=True,
        try_invert=True,
    )
    symbols = []
    for b in found:
        if not b.valid:
            continue
        extra = b.extra if isinstance(b.extra, dict) else {}
        file_id = extra.get("FileId")
        corner = b.position.top_left
        symbols.append(
            Pdf417Symbol(
                data=bytes(b.bytes),
                text=b.text,
                file_id=str(file_id) if file_id else None,
                position=(int(corner.x), int(corner.y)),
            )
        )
    # Reading order; rows of symbols are told apart with a tolerance of a few pixels.
    return sorted(symbols, key=lambda s: (s.position[1] // 16, s.position[0]))


def _variants(image: Image.Image) -> Iterator[Image.Image]:
    grey = ImageOps.grayscale(image)
    yield ImageOps.autocontrast(grey, cutoff=1)
    short = min(grey.size)
    for factor in (2.0, 0.5, 3.0):
        size = (round(grey.width * factor), round(grey.height * factor))
        if min(size) < 40 or max(size) > 6000 or (factor < 1 and short < 400):
            continue
        yield grey.resize(size, Image.Resampling.LANCZOS)
    yield grey.filter(ImageFilter.UnsharpMask(radius=2, percent=200, threshold=2))
    # A symbol photographed with a hard shadow: a global threshold beats the local one.
    array = np.asarray(grey)
    threshold = float(array.mean())
    yield Image.fromarray(((array > threshold) * 255).astype(np.uint8))


def read_pdf417_symbols(image: Image.Image) -> list[Pdf417Symbol]:
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    symbols = _decode(image)
    if symbols:
        return symbols
    for variant in _variants(image):
        symbols = _decode(variant)
        if symbols:
            return symbols
    return []


def read_pdf417(image: Image.Image) -> list[bytes]:
    messages: dict[str, bytes] = {}
    for index, symbol in enumerate(read_pdf417_symbols(image)):
        key = f"file:{symbol.file_id}" if symbol.file_id else f"symbol:{index}"
        messages[key] = messages.get(key, b"") + symbol.data
    return list(dict.fromkeys(messages.values()))


def render_pdf417(
    payload: str | bytes, *, width: int = 800, ec_level: int = 5, columns: int | None = None
) -> Image.Image:
    """``ec_level`` 0-8 (AAMVA asks for at least 3; 5 keeps a photographed card readable);
    ``columns`` defaults to zxing-cpp's choice for the payload."""
    options: dict[str, str | int] = {"ec_level": str(ec_level)}
    if columns is not None:
        options["columns"] = columns
    symbol = zxingcpp.create_barcode(payload, _FORMAT, **options)
    base = np.asarray(zxingcpp.write_barcode_to_image(symbol, scale=1, add_quiet_zones=True))
    scale = max(1, width // base.shape[1])
    picture = Image.fromarray(base).convert("L")
    picture = picture.resize(
        (base.shape[1] * scale, base.shape[0] * scale), Image.Resampling.NEAREST
    )
    # PDF417 rows are taller than modules are wide (AAMVA: row height at least 3 modules);
    # zxing-cpp already draws rows 3 modules high, so only the width is padded here.
    canvas = Image.new("L", (max(width, picture.width), picture.height), 255)
    canvas.paste(picture, ((canvas.width - picture.width) // 2, 0))
    return canvas.convert("RGB")
