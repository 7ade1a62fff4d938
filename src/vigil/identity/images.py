"""Safe intake of document and selfie images: bytes in, one RGB picture out, or a refusal.

Everything an uploader sends is untrusted, so the order of operations is the invariant:

1. the byte limit is checked before anything is parsed;
2. the type is sniffed from the magic bytes (never from a file name or a declared type): JPEG,
   PNG, WebP, HEIC/HEIF (pillow-heif) and PDF (first page, pypdfium2); anything else is
   refused;
3. the pixel dimensions are read from the format's header by this module's own small parsers
   (JPEG SOF, PNG IHDR, WebP VP8/VP8L/VP8X, the HEIF container, the PDF page box and the size of
   every image the page draws) and checked against the pixel limit *before* a single pixel is
   decoded, so a decompression bomb (a few kilobytes that inflate to gigabytes) is refused at
   the cost of reading a header. Pillow's own bomb guard is never reached: the effective limit
   is the smaller of ``max_pixels`` and ``PIL.Image.MAX_IMAGE_PIXELS``. A PDF page is rendered
   only when every image it draws has been counted: its form XObjects are walked to the end
   (a page nesting them deeper than ``PDF_MAX_FORM_DEPTH``, drawing more than
   ``PDF_MAX_IMAGES`` images or holding more than ``PDF_MAX_OBJECTS`` objects is refused as
   ``image_too_complex``), each image and the sum of all of them stay within the limit, and
   annotations (whose appearance streams the walk does not see) are not drawn;
4. the first frame only is decoded (animated WebP/PNG, multi-image HEIF, multi-page PDF);
   EXIF orientation is applied, so the picture is upright as the camera saw it; transparency
   is flattened onto white; the result is always mode ``RGB``;
5. metadata that forensics needs (EXIF software/make/model/dates, XMP creator tool and edit
   history, PNG text, JPEG comment and estimated quality, ICC profile description, PDF
   producer/creator) is kept as short printable strings in ``DecodedImage.metadata``.

A refusal is an :class:`ImageRejected` with a stable ``code``; nothing is stored or changed by
this module. ``decode`` is thread-safe (pdfium, which is not, runs under a lock).
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
HEIC = "image/heic"
HEIF = "image/heif"
PDF = "application/pdf"
MEDIA_TYPES = (JPEG, PNG, WEBP, HEIC, HEIF, PDF)

# PDF pages are rendered at this resolution unless the pixel limit asks for less: enough for
# OCR of a scanned A4 page (MRZ characters are ~2.5 mm high: ~20 px at 200 dpi).
PDF_DPI = 200
# What a PDF page may hold for its images to be counted before it is rendered. A scanned or
# photographed document draws one to a few images, rarely inside a form XObject; generators
# that tile a scan into strips stay far below the image cap.
PDF_MAX_FORM_DEPTH = 8  # form XObjects nested in each other
PDF_MAX_IMAGES = 64  # images drawn (each time an image is drawn counts)
PDF_MAX_OBJECTS = 20_000  # page objects walked (text runs, paths, images, forms)
_PILLOW_FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", HEIC: "HEIF", HEIF: "HEIF"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_METADATA_MAX = 200  # characters kept per metadata value

_pdf_lock = threading.Lock()
_heif_lock = threading.Lock()
_heif_registered = False


class ImageRejected(Exception):
    """An upload that is not an image Vigil accepts. ``code`` is stable: ``image_empty``,
    ``image_too_large`` (bytes), ``image_too_many_pixels``, ``image_unsupported_type``,
    ``image_corrupt``, ``image_too_complex`` (a PDF page whose drawing cannot be checked
    within bounds). ``status_code`` is the HTTP status that fits it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status_code(self) -> int:
        return 413 if self.code in ("image_too_large", "image_too_many_pixels") else 422


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, upright
    media_type: str
    width: int
    height: int
    sha256: str  # of the bytes as uploaded
    metadata: dict[str, str] = field(default_factory=dict)
    size_bytes: int = 0
    jpeg_quality: int | None = None  # estimated from the quantization tables (JPEG only)
    pages: int = 1  # PDF: the document's page count (the first is rendered)


def sniff(data: bytes) -> str | None:
    """The media type the magic bytes announce, or None when it is not one we accept."""
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[4:8] == b"ftyp" and len(data) >= 12:
        box_size = int.from_bytes(data[0:4], "big")
        brands = {data[8:12]}
        end = min(max(box_size, 16), len(data), 256)
        brands.update(data[i : i + 4] for i in range(16, end - 3, 4))
        if data[8:12] in (b"avif", b"avis"):
            return None  # AV1 stills: no decoder in this build
        if brands & _HEIC_BRANDS:
            return HEIC
        if brands & _HEIF_BRANDS:
            return HEIF
        return None
    # A PDF header may be preceded by junk within the first 1024 bytes (PDF 1.7, 7.5.2).
    if b"%PDF-" in data[:1024]:
        return PDF
    return None


def decode(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedImage:
    """Check and decode one upload. Raises :class:`ImageRejected`; never anything else for bad
    input (a bug in a codec surfaces as ``image_corrupt``)."""
    if not data:
        raise ImageRejected("image_empty", "The file is empty.")
    if len(data) > max_bytes:
        raise ImageRejected(
            "image_too_large",
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.",
        )
    media_type = sniff(data)
    if media_type is None:
        raise ImageRejected(
            "image_unsupported_type",
            "The file is not a JPEG, PNG, WebP, HEIC or PDF image.",
        )
    limit = max_pixels
    if Image.MAX_IMAGE_PIXELS is not None:
        limit = min(limit, int(Image.MAX_IMAGE_PIXELS))
    if media_type == PDF:
        decoded = _decode_pdf(data, limit)
    else:
        decoded = _decode_raster(data, media_type, limit)
    decoded.sha256 = hashlib.sha256(data).hexdigest()
    decoded.size_bytes = len(data)
    return decoded


def header_size(data: bytes, media_type: str) -> tuple[int, int]:
    """Width and height from the header alone (no pixel is decoded). Raises ImageRejected
    (``image_corrupt``) when the header cannot be read."""
    try:
        if media_type == JPEG:
            size = _jpeg_size(data)
        elif media_type == PNG:
            size = _png_size(data)
        elif media_type == WEBP:
            size = _webp_size(data)
        elif media_type in (HEIC, HEIF):
            size = _heif_size(data)
        else:
            size = None
    except (struct.error, IndexError, ValueError, RuntimeError, OSError):
        size = None
    if size is None or size[0] <= 0 or size[1] <= 0:
        raise ImageRejected("image_corrupt", "The image header cannot be read.")
    return size


def _too_many(width: int, height: int, limit: int) -> ImageRejected:
    return ImageRejected(
        "image_too_many_pixels",
        f"The image is {width}x{height} pixels; the limit is {limit:,} pixels.",
    )


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i < n:
        if data[i] != 0xFF:
            return None
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        marker = data[i]
        i += 1
        if marker in (0x01, *range(0xD0, 0xD8)):
            continue  # no length
        if marker in (0xD9, 0xDA):
            return None  # end of image / start of scan before any frame header
        (length,) = struct.unpack(">H", data[i : i + 2])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            return width, height
        if length < 2:
            return None
        i += length
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            return None
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    return None


def _heif_size(data: bytes) -> tuple[int, int] | None:
    import pillow_heif

    # open_heif parses the container (item properties: ispe) and decodes nothing until asked.
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    largest = max((im.size for im in heif), key=lambda s: s[0] * s[1])
    primary = heif.size
    # Every image in the container is checked: a small primary next to a huge hidden one
    # is still refused.
    return largest if largest[0] * largest[1] > primary[0] * primary[1] else primary


def _register_heif() -> None:
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_registered = True


def _decode_raster(data: bytes, media_type: str, limit: int) -> DecodedImage:
    width, height = header_size(data, media_type)
    if width * height > limit:
        raise _too_many(width, height, limit)
    if media_type in (HEIC, HEIF):
        _register_heif()
    try:
        im = Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[media_type]])
        if im.size[0] * im.size[1] > limit:  # the header parser and Pillow disagree: trust neither
            raise _too_many(im.size[0], im.size[1], limit)
        im.seek(0)
        im.load()
        metadata = _metadata(im)
        quality = _jpeg_quality(im) if media_type == JPEG else None
        upright = ImageOps.exif_transpose(im)
        rgb = _to_rgb(upright)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:  # pragma: no cover - the limit is checked first
        raise ImageRejected("image_too_many_pixels", str(exc)) from exc
    except Exception as exc:
        raise ImageRejected("image_corrupt", "The image cannot be decoded.") from exc
    if quality is not None:
        metadata["JPEG:Quality"] = str(quality)
    return DecodedImage(
        image=rgb,
        media_type=media_type,
        width=rgb.width,
        height=rgb.height,
        sha256="",
        metadata=metadata,
        jpeg_quality=quality,
    )


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        # 16-bit and float greys: scale to 8 bits instead of clipping to white.
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        top = float(arr.max()) or 1.0
        return Image.fromarray((arr * (255.0 / top)).clip(0, 255).astype("uint8")).convert("RGB")
    return im.convert("RGB")


def _too_complex(message: str) -> ImageRejected:
    return ImageRejected("image_too_complex", message)


def _check_pdf_images(page: Any, limit: int) -> None:
    """Refuse a page whose images cannot all be counted, or whose images together exceed
    ``limit`` pixels, before pdfium decodes any of them. Walks every page object, descending
    into form XObjects (pdfium renders every level, so the walk must reach every level too:
    a page nesting deeper than ``PDF_MAX_FORM_DEPTH`` is refused, not partly checked)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    images = objects = total = 0
    pending: list[tuple[Any, int]] = [(None, 0)]  # (form object or None for the page, level)
    while pending:
        form, level = pending.pop()
        if form is None:
            count = pdfium_c.FPDFPage_CountObjects(page.raw)
        else:
            count = pdfium_c.FPDFFormObj_CountObjects(form)
        if count < 0:
            raise ImageRejected("image_corrupt", "The PDF's page objects cannot be read.")
        objects += count
        if objects > PDF_MAX_OBJECTS:
            raise _too_complex(
                f"The PDF page holds more than {PDF_MAX_OBJECTS:,} objects; "
                "send a photo or a scan of the document."
            )
        for i in range(count):
            if form is None:
                obj = pdfium_c.FPDFPage_GetObject(page.raw, i)
            else:
                obj = pdfium_c.FPDFFormObj_GetObject(form, i)
            if not obj:
                raise ImageRejected("image_corrupt", "The PDF's page objects cannot be read.")
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_FORM:
                if level + 1 > PDF_MAX_FORM_DEPTH:
                    raise _too_complex(
                        f"The PDF page nests drawings more than {PDF_MAX_FORM_DEPTH} levels "
                        "deep; send a photo or a scan of the document."
                    )
                pending.append((obj, level + 1))
            elif kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                images += 1
                if images > PDF_MAX_IMAGES:
                    raise _too_complex(
                        f"The PDF page draws more than {PDF_MAX_IMAGES} images; "
                        "send a photo or a scan of the document."
                    )
                w, h = ctypes.c_uint(), ctypes.c_uint()
                if not pdfium_c.FPDFImageObj_GetImagePixelSize(obj, w, h):
                    raise ImageRejected("image_corrupt", "An image in the PDF cannot be read.")
                iw, ih = int(w.value), int(h.value)
                if iw * ih > limit:
                    raise _too_many(iw, ih, limit)
                total += iw * ih
                if total > limit:
                    raise ImageRejected(
                        "image_too_many_pixels",
                        f"The images on the PDF page hold {total:,} pixels together; "
                        f"the limit is {limit:,} pixels.",
                    )


def _decode_pdf(data: bytes, limit: int) -> DecodedImage:
    import pypdfium2 as pdfium

    with _pdf_lock:
        pdf = None
        try:
            pdf = pdfium.PdfDocument(data)
            pages = len(pdf)
            if pages == 0:
                raise ImageRejected("image_corrupt", "The PDF has no page.")
            page = pdf[0]
            width_pt, height_pt = page.get_size()
            if not (width_pt > 0 and height_pt > 0):
                raise ImageRejected("image_corrupt", "The PDF's first page has no size.")
            # Images drawn on the page are decoded in full by the renderer whatever the output
            # size: every one of them is counted first, at any depth of form XObjects.
            _check_pdf_images(page, limit)
            scale = PDF_DPI / 72.0
            if width_pt * height_pt * scale * scale > limit:
                scale = (limit / (width_pt * height_pt)) ** 0.5 * 0.999
            bitmap = page.render(scale=scale, draw_annots=False, may_draw_forms=False)
            rendered = bitmap.to_pil()
            rgb = _to_rgb(rendered).copy()
            metadata = {
                f"PDF:{key}": _clean(value)
                for key, value in pdf.get_metadata_dict(skip_empty=True).items()
                if key in ("Producer", "Creator", "Author", "CreationDate", "ModDate", "Title")
            }
        except ImageRejected:
            raise
        except Exception as exc:
            raise ImageRejected("image_corrupt", "The PDF cannot be read.") from exc
        finally:
            if pdf is not None:
                pdf.close()
    if rgb.width * rgb.height > limit:  # pragma: no cover - guarded by the scale above
        raise _too_many(rgb.width, rgb.height, limit)
    return DecodedImage(
        image=rgb,
        media_type=PDF,
        width=rgb.width,
        height=rgb.height,
        sha256="",
        metadata={k: v for k, v in metadata.items() if v},
        pages=pages,
    )


# --- metadata -------------------------------------------------------------------------------

_EXIF_BASE = {
    0x0131: "Software",
    0x010F: "Make",
    0x0110: "Model",
    0x0132: "DateTime",
    0x013B: "Artist",
    0x013C: "HostComputer",
    0x000B: "ProcessingSoftware",
    0x0112: "Orientation",
    0x010E: "ImageDescription",
}
_EXIF_IFD = {0x9003: "DateTimeOriginal", 0x9004: "DateTimeDigitized", 0xA434: "LensModel"}
_XMP_FIELDS = ("CreatorTool", "ModifyDate", "CreateDate", "MetadataDate")
_XMP_AGENT = re.compile(r"softwareAgent(?:=\"([^\"]*)\"|>([^<]*)<)")
_XMP_FORMAT_PS = re.compile(r"photoshop:(?:History|DocumentAncestors)")
_PNG_TEXT = ("Software", "Comment", "Author", "Description", "Creation Time", "Source", "Title")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _clean(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = _CONTROL.sub("", str(value)).strip()
    return text[:_METADATA_MAX]


def _metadata(im: Image.Image) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        exif = im.getexif()
    except Exception:
        exif = None
        out["EXIF:Error"] = "unreadable"
    if exif:
        for tag, name in _EXIF_BASE.items():
            if tag in exif and exif[tag] not in (None, b"", ""):
                out[name] = _clean(exif[tag])
        try:
            ifd = exif.get_ifd(0x8769)
        except Exception:
            ifd = {}
        for tag, name in _EXIF_IFD.items():
            if tag in ifd and ifd[tag] not in (None, b"", ""):
                out[name] = _clean(ifd[tag])
        if 0x8825 in exif:
            out["GPS"] = "present"
    info = im.info
    for key in _PNG_TEXT:
        value = info.get(key)
        if isinstance(value, str | bytes) and value:
            out.setdefault(key if key == "Software" else f"Text:{key}", _clean(value))
    if isinstance(info.get("comment"), bytes | str) and info["comment"]:
        out["JPEG:Comment"] = _clean(info["comment"])
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if xmp:
        out.update(_xmp(xmp if isinstance(xmp, str) else bytes(xmp).decode("utf-8", "replace")))
    icc = info.get("icc_profile")
    if icc:
        description = _icc_description(icc)
        if description:
            out["ICC:Description"] = description
    return {k: v for k, v in out.items() if v}


def _xmp(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _XMP_FIELDS:
        m = re.search(rf"xmp:{name}(?:=\"([^\"]*)\"|>([^<]*)<)", text)
        if m:
            out[f"XMP:{name}"] = _clean(m.group(1) or m.group(2) or "")
    agents = []
    for m in _XMP_AGENT.finditer(text):
        agent = _clean(m.group(1) or m.group(2) or "")
        if agent and agent not in agents:
            agents.append(agent)
    if agents:
        out["XMP:History"] = _clean("; ".join(agents))
    if _XMP_FORMAT_PS.search(text):
        out["XMP:Photoshop"] = "present"
    return out


def _icc_description(icc: bytes) -> str | None:
    try:
        from PIL import ImageCms

        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return _clean(ImageCms.getProfileDescription(profile)) or None
    except Exception:
        return None


# IJG's standard luminance table (natural order): the quality of a JPEG is estimated from how
# its first quantization table scales this one (the formula libjpeg uses to build them).
_STD_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


def _jpeg_quality(im: Image.Image) -> int | None:
    tables = getattr(im, "quantization", None)
    if not tables or 0 not in tables:
        return None
    table = list(tables[0])
    if len(table) != 64:
        return None
    scale = sum(table) * 100.0 / sum(_STD_LUMA)
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return max(1, min(100, round(quality)))
