"""Images for identity tests, made here and now: no test reads a file it did not make.

- ``encode(image, fmt)`` and the shortcuts ``jpeg``/``png``/``webp``/``heic``/``pdf``: the bytes
  an uploader would send, in each accepted format (``exif=`` adds an EXIF block, e.g. a
  ``Software`` tag or an ``Orientation``);
- ``oriented_jpeg``: a JPEG stored sideways with the EXIF tag that puts it upright again;
- ``document_like``: a sharp, evenly lit card with text, lines and a portrait box, the shape
  of an ID document (for quality tests); ``blurred`` and ``glared`` degrade any image;
- ``face_image``: a portrait from :mod:`vigil.simulate.portraits` (the test is skipped when the
  packages that ship the faces are absent);
- ``png_bomb``, ``jpeg_with_size``, ``webp_with_size``: files whose headers claim far more
  pixels than they hold, as a decompression bomb does;
- ``pdf_drawing``: a one-page PDF written by hand that draws a flat grey image (a few
  kilobytes of compressed zeros however many pixels it has) inside nested form XObjects,
  or many times over; ``pdf_with_paths``: a page of many tiny filled rectangles.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from vigil.simulate import portraits

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONT_DIR / "DejaVuSans.ttf"
    if path.exists():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def encode(
    image: Image.Image,
    fmt: str,
    *,
    quality: int = 90,
    exif: Image.Exif | None = None,
    resolution: float = 150.0,
) -> bytes:
    """``fmt``: jpeg, png, webp, heic or pdf (one page, the image at ``resolution`` dpi)."""
    fmt = fmt.lower()
    buf = io.BytesIO()
    extra: dict[str, object] = {}
    if exif is not None:
        extra["exif"] = exif.tobytes()
    if fmt == "jpeg":
        image.save(buf, "JPEG", quality=quality, **extra)
    elif fmt == "png":
        image.save(buf, "PNG", **extra)
    elif fmt == "webp":
        image.save(buf, "WEBP", quality=quality, **extra)
    elif fmt == "heic":
        import pillow_heif

        heif = pillow_heif.from_pillow(image)
        heif.save(buf, quality=quality, **extra)
    elif fmt == "pdf":
        image.convert("RGB").save(buf, "PDF", resolution=resolution)
    else:
        raise ValueError(fmt)
    return buf.getvalue()


def jpeg(image: Image.Image, **kw: object) -> bytes:
    return encode(image, "jpeg", **kw)  # type: ignore[arg-type]


def png(image: Image.Image, **kw: object) -> bytes:
    return encode(image, "png", **kw)  # type: ignore[arg-type]


def webp(image: Image.Image, **kw: object) -> bytes:
    return encode(image, "webp", **kw)  # type: ignore[arg-type]


def heic(image: Image.Image, **kw: object) -> bytes:
    return encode(image, "heic", **kw)  # type: ignore[arg-type]


def pdf(image: Image.Image, *, resolution: float = 150.0) -> bytes:
    return encode(image, "pdf", resolution=resolution)


def exif_with(**tags: object) -> Image.Exif:
    """An EXIF block; tags by name: Software, Make, Model, DateTime, Orientation..."""
    from PIL.ExifTags import Base

    exif = Image.Exif()
    for name, value in tags.items():
        exif[Base[name].value] = value
    return exif


# The transpose that, undone by EXIF ``Orientation`` n, gives back the upright image.
_STORED = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def oriented_jpeg(upright: Image.Image, orientation: int, **tags: object) -> bytes:
    """A JPEG whose pixels are stored turned, with the EXIF tag that makes them upright."""
    stored = upright.transpose(_STORED[orientation])
    return jpeg(stored, exif=exif_with(Orientation=orientation, **tags))


def document_like(width: int = 1200, height: int = 760, *, seed: int = 0) -> Image.Image:
    """A sharp ID-card-like image: light background, printed labels and values, rules, a
    portrait box and a machine-readable-zone-like band of monospace characters."""
    rng = random.Random(seed)
    im = Image.new("RGB", (width, height), (236, 232, 220))
    draw = ImageDraw.Draw(im)
    s = width / 1200
    draw.rectangle(
        (int(20 * s), int(20 * s), width - int(20 * s), height - int(20 * s)),
        outline=(90, 90, 120),
        width=3,
    )
    draw.rectangle(
        (int(60 * s), int(150 * s), int(380 * s), int(560 * s)),
        fill=(180, 190, 200),
        outline=(40, 40, 40),
        width=2,
    )
    title = font(int(44 * s))
    label = font(int(22 * s))
    value = font(int(32 * s))
    draw.text(
        (int(60 * s), int(50 * s)),
        "REPUBLIC OF UTOPIA  IDENTITY CARD",
        fill=(20, 30, 90),
        font=title,
    )
    y = int(160 * s)
    for key in ("Surname", "Given names", "Date of birth", "Document no.", "Expiry"):
        draw.text((int(420 * s), y), key, fill=(80, 80, 80), font=label)
        text = "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(rng.randint(6, 14))
        )
        draw.text((int(420 * s), y + int(26 * s)), text, fill=(10, 10, 10), font=value)
        y += int(78 * s)
    mono = font(int(34 * s))
    for i in range(2):
        line = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<<<") for _ in range(36))
        draw.text((int(60 * s), int((600 + 56 * i) * s)), line, fill=(0, 0, 0), font=mono)
    return im


def blurred(image: Image.Image, radius: float = 4.0) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def glared(
    image: Image.Image, *, share: float = 0.12, center: tuple[float, float] = (0.6, 0.4)
) -> Image.Image:
    """A blown-out highlight (a lamp or a flash on a laminate) covering about ``share`` of
    the image, saturated in its core and fading at its rim."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float64)
    h, w = arr.shape[:2]
    radius = (share * w * h / np.pi) ** 0.5
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(xx - center[0] * w, yy - center[1] * h) / radius
    boost = np.clip(1.6 - d, 0.0, 1.0)[..., None]  # 1 inside 0.6 r, fading to 0 at 1.6 r
    out = arr * (1 - boost) + 255.0 * boost
    core = d < 1.0
    out[core] = 255.0
    return Image.fromarray(out.clip(0, 255).astype("uint8"))


def face_image(
    person: int = 0, variant: str = "document", *, seed: int | None = None
) -> Image.Image:
    image = portraits.portrait(person, variant=variant, seed=seed)
    if image is None:
        pytest.skip("the public-domain portraits need scikit-image and matplotlib")
    return image


def on_card(face: Image.Image, *, width: int = 1200, height: int = 760) -> Image.Image:
    """A document-like card with ``face`` pasted into its portrait box."""
    card = document_like(width, height)
    s = width / 1200
    box = (int(60 * s), int(150 * s), int(380 * s), int(560 * s))
    card.paste(face.resize((box[2] - box[0], box[3] - box[1])), box[:2])
    return card


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def png_bomb(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` grey pixels; its data is a few kilobytes of
    compressed zeros (the first rows), so decoding it would allocate the whole canvas."""
    raw = zlib.compress(b"\x00" * (width + 1) * min(height, 64), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + _png_chunk(b"IDAT", raw)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small valid JPEG whose frame header is rewritten to claim ``width`` x ``height``."""
    data = bytearray(jpeg(Image.new("RGB", (16, 16), "grey")))
    i = data.index(b"\xff\xc0")
    data[i + 5 : i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_with_size(width: int, height: int) -> bytes:
    """A small WebP whose extended header (VP8X) claims a ``width`` x ``height`` canvas."""
    buf = io.BytesIO()
    Image.new("RGBA", (16, 16), (1, 2, 3, 128)).save(
        buf, "WEBP", lossless=True, exif=Image.Exif().tobytes()
    )
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def _pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (numbered from 1; the first is the catalog) with its xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def pdf_drawing(
    width: int, height: int, *, depth: int = 0, images: int = 1, distinct: bool = False
) -> bytes:
    """A one-page PDF that draws a ``width`` x ``height`` grey image ``images`` times (side by
    side, each a fresh image object when ``distinct``), inside ``depth`` form XObjects nested
    in each other (0: drawn by the page itself). The image is deflated zeros, so the file
    stays small however many pixels it claims: 64 megapixels are ~64 kB."""
    squeeze = zlib.compressobj(9)
    row_block = b"\x00" * width * min(height, 256)
    parts = []
    for start in range(0, height, 256):
        rows = min(256, height - start)
        parts.append(squeeze.compress(row_block[: width * rows]))
    pixels = b"".join(parts) + squeeze.flush()
    image = _stream(
        b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode" % (width, height),
        pixels,
    )
    # Objects: 1 catalog, 2 pages, 3 page, 4 page content, 5.. forms, then the image(s).
    first_form = 5
    first_image = first_form + depth
    n_images = images if distinct else 1
    draws = b" ".join(
        b"q %.4f 0 0 1 %.4f 0 cm /Im%d Do Q" % (1 / images, i / images, i if distinct else 0)
        for i in range(images)
    )
    image_names = b" ".join(b"/Im%d %d 0 R" % (i, first_image + i) for i in range(n_images))
    leaf_resources = b"<< /XObject << " + image_names + b" >> >>"
    forms = []
    for level in range(depth):
        if level == depth - 1:
            resources, content = leaf_resources, draws
        else:
            resources = b"<< /XObject << /F %d 0 R >> >>" % (first_form + level + 1)
            content = b"/F Do"
        forms.append(
            _stream(
                b"/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources " + resources,
                content,
            )
        )
    if depth:
        page_resources = b"<< /XObject << /F %d 0 R >> >>" % first_form
        page_content = b"q 200 0 0 200 0 0 cm /F Do Q"
    else:
        page_resources = leaf_resources
        page_content = b"q 200 0 0 200 0 0 cm " + draws + b" Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources "
        + page_resources
        + b" /Contents 4 0 R >>",
        _stream(b"", page_content),
        *forms,
        *([image] * n_images),
    ]
    return _pdf_file(objects)


def pdf_with_paths(count: int) -> bytes:
    """A one-page PDF whose content is ``count`` separate tiny filled rectangles (one page
    object each)."""
    content = b"\n".join(b"%d %d 1 1 re f" % (i % 200, i // 200 % 200) for i in range(count))
    return _pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
            _stream(b"", content),
        ]
    )
