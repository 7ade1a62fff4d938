"""Decompression bombs, made for real: complete, valid files (every pixel present, deflated
or entropy-coded) that are a few kilobytes on disk and decode to far more pixels than the
limit. Each is refused with ``image_too_many_pixels`` from its header, before the decoder is
asked for a single pixel (the decoders are watched: a call to ``Image.load`` or to pdfium's
render would fail the test). Plus the metadata bombs of PNG (zTXt, iCCP): refused or capped,
never inflated in full."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import pytest
from PIL import Image

from tests.identity import imaging
from vigil.identity import images
from vigil.identity.images import ImageRejected, decode

LIMIT = 1_000_000  # pixels: the files below hold 1 to 9 million
SIDE = 3_000


def _chunk(kind: bytes, body: bytes) -> bytes:
    return imaging._png_chunk(kind, body)


def real_png() -> bytes:
    """Every row present: 9 megapixels of zeros deflate to ~9 kB."""
    raw = zlib.compress((b"\x00" + b"\x00" * SIDE) * SIDE, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", SIDE, SIDE, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", raw)
        + _chunk(b"IEND", b"")
    )


def _saved(fmt: str, size: int = SIDE, **options: object) -> bytes:
    buf = io.BytesIO()
    Image.new("L" if fmt != "WEBP" else "RGB", (size, size), 128).save(buf, fmt, **options)
    return buf.getvalue()


def real_heic() -> bytes:
    return imaging.heic(Image.new("RGB", (1_024, 1_024), (128, 128, 128)))  # just over LIMIT


BOMBS: dict[str, Callable[[], bytes]] = {
    "png": real_png,
    "jpeg": lambda: _saved("JPEG", quality=10),
    "progressive-jpeg": lambda: _saved("JPEG", quality=10, progressive=True),
    "webp-lossless": lambda: _saved("WEBP", 1_500, lossless=True),
    "webp-lossy": lambda: _saved("WEBP", 1_500, quality=10),
    "heic": real_heic,
    "pdf-page-image": lambda: imaging.pdf_drawing(SIDE, SIDE),
    "pdf-nested-forms": lambda: imaging.pdf_drawing(SIDE, SIDE, depth=3),
}


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any pixel is decoded (raster) or any page rendered (PDF)."""
    import pypdfium2

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the decoder was reached")

    monkeypatch.setattr(Image.Image, "load", refuse)
    monkeypatch.setattr(pypdfium2.PdfPage, "render", refuse)


@pytest.mark.parametrize("make", list(BOMBS.values()), ids=list(BOMBS))
def test_real_bombs_are_refused_before_decoding(make: Callable[[], bytes], request) -> None:  # type: ignore[no-untyped-def]
    data = make()
    # Over the limit from at most ~100 kB (9 megapixels, 27 MB as RGB, for most).
    assert len(data) < 110_000
    request.getfixturevalue("no_decoding")
    with pytest.raises(ImageRejected) as refused:
        decode(data, max_bytes=10_000_000, max_pixels=LIMIT)
    assert refused.value.code == "image_too_many_pixels"
    assert refused.value.status_code == 413


def test_the_same_files_decode_when_the_limit_allows_them() -> None:
    # The files are real images, not broken ones: the refusal above is the limit's doing.
    decoded = decode(real_png(), max_bytes=10_000_000, max_pixels=10_000_000)
    assert (decoded.width, decoded.height) == (SIDE, SIDE)


def test_the_type_is_sniffed_from_the_content_not_the_name() -> None:
    png = real_png()
    assert images.sniff(png) == images.PNG
    # A PNG that says it is a JPEG (or anything) is still a PNG bomb; text is no image.
    assert images.sniff(b"GIF89a" + png) is None
    with pytest.raises(ImageRejected) as refused:
        decode(b"<svg xmlns='http://www.w3.org/2000/svg'/>", max_bytes=1_000, max_pixels=LIMIT)
    assert refused.value.code == "image_unsupported_type"


def _small_png_with(kind: bytes, body: bytes) -> bytes:
    base = imaging.png(Image.new("RGB", (8, 8), "white"))
    return base[:33] + _chunk(kind, body) + base[33:]


METADATA_BOMBS = {
    "ztxt": lambda: (b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * 20_000_000, 9)),
    "iccp": lambda: (b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * 20_000_000, 9)),
    "itxt": lambda: (
        b"iTXt",
        b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zlib.compress(b"<" * 20_000_000, 9),
    ),
}


@pytest.mark.parametrize("chunk", list(METADATA_BOMBS.values()), ids=list(METADATA_BOMBS))
def test_png_metadata_bombs_are_not_inflated(chunk: Callable[[], tuple[bytes, bytes]]) -> None:
    data = _small_png_with(*chunk())
    assert len(data) < 100_000  # 20 MB inside
    try:
        decoded = decode(data, max_bytes=1_000_000, max_pixels=LIMIT)
    except ImageRejected as refused:
        assert refused.code == "image_corrupt"
        return
    # Accepted: the chunk was skipped or capped, and what is kept is short.
    assert all(len(v) <= 200 for v in decoded.metadata.values())
