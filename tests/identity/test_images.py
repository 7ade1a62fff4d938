"""Image intake: formats sniffed from bytes, limits enforced before decoding, EXIF orientation
applied, metadata kept, anything else refused with a stable code."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from tests.identity import imaging
from vigil.identity import images
from vigil.identity.images import ImageRejected, decode, sniff

LIMITS = {"max_bytes": 12_000_000, "max_pixels": 40_000_000}


def two_tone(width: int = 300, height: int = 200) -> Image.Image:
    """Red on the left half, blue on the right: which way up it is can be read off a pixel."""
    im = Image.new("RGB", (width, height), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, width // 2, height))
    return im


def near(pixel: tuple[int, ...], color: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel[:3], color, strict=True))


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("jpeg", "image/jpeg"),
        ("png", "image/png"),
        ("webp", "image/webp"),
        ("heic", "image/heic"),
        ("pdf", "application/pdf"),
    ],
)
def test_every_accepted_format_decodes_to_upright_rgb(fmt: str, media_type: str) -> None:
    data = imaging.encode(two_tone(), fmt)
    assert sniff(data) == media_type
    out = decode(data, **LIMITS)
    assert out.media_type == media_type
    assert out.image.mode == "RGB"
    assert (out.width, out.height) == out.image.size
    assert abs(out.width / out.height - 1.5) < 0.01  # 3:2 kept (a PDF is rendered at its dpi)
    assert near(out.image.getpixel((out.width // 4, out.height // 2)), (255, 0, 0))
    assert near(out.image.getpixel((3 * out.width // 4, out.height // 2)), (0, 0, 255))
    assert out.sha256 == hashlib.sha256(data).hexdigest()
    assert out.size_bytes == len(data)


def test_the_type_comes_from_the_bytes_not_from_what_the_uploader_says() -> None:
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    bmp = io.BytesIO()
    Image.new("RGB", (10, 10)).save(bmp, "BMP")
    refused = {
        "gif": gif.getvalue(),
        "bmp": bmp.getvalue(),
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>',
        "html": b"<html><script>alert(1)</script></html>",
        "zip": b"PK\x03\x04" + b"\x00" * 100,
        "avif": b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64,
    }
    for name, data in refused.items():
        assert sniff(data) is None, name
        with pytest.raises(ImageRejected) as err:
            decode(data, **LIMITS)
        assert err.value.code == "image_unsupported_type", name
        assert err.value.status_code == 422


def test_empty_and_oversized_files_are_refused_before_parsing() -> None:
    with pytest.raises(ImageRejected) as err:
        decode(b"", **LIMITS)
    assert err.value.code == "image_empty"
    data = imaging.png(two_tone())
    with pytest.raises(ImageRejected) as err:
        decode(data, max_bytes=len(data) - 1, max_pixels=LIMITS["max_pixels"])
    assert err.value.code == "image_too_large"
    assert err.value.status_code == 413
    # Garbage over the byte limit is refused for its size: nothing was parsed.
    with pytest.raises(ImageRejected) as err:
        decode(b"\x00" * 101, max_bytes=100, max_pixels=100)
    assert err.value.code == "image_too_large"


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(lambda: imaging.png_bomb(60_000, 60_000), id="png"),
        pytest.param(lambda: imaging.jpeg_with_size(60_000, 60_000), id="jpeg"),
        pytest.param(lambda: imaging.webp_with_size(16_000, 16_000), id="webp"),
    ],
)
def test_decompression_bombs_are_refused_from_their_header(bomb) -> None:  # type: ignore[no-untyped-def]
    # Pillow would warn (an error under our pytest configuration) or raise at these sizes: the
    # header check must refuse first, having decoded nothing.
    data = bomb()
    assert len(data) < 200_000
    with pytest.raises(ImageRejected) as err:
        decode(data, **LIMITS)
    assert err.value.code == "image_too_many_pixels"
    assert "60000x60000" in err.value.message or "16000x16000" in err.value.message


def test_a_real_image_over_the_pixel_limit_is_refused() -> None:
    data = imaging.jpeg(two_tone(1200, 1000))
    with pytest.raises(ImageRejected) as err:
        decode(data, max_bytes=LIMITS["max_bytes"], max_pixels=1_000_000)
    assert err.value.code == "image_too_many_pixels"
    assert decode(data, max_bytes=LIMITS["max_bytes"], max_pixels=1_200_000).width == 1200


def test_a_heic_over_the_pixel_limit_is_refused_before_decoding() -> None:
    data = imaging.heic(two_tone(640, 480))
    with pytest.raises(ImageRejected) as err:
        decode(data, max_bytes=LIMITS["max_bytes"], max_pixels=640 * 480 - 1)
    assert err.value.code == "image_too_many_pixels"


def test_a_pdf_drawing_a_huge_image_is_refused_before_rendering() -> None:
    data = imaging.pdf(Image.new("RGB", (1000, 1000), "red"))
    # The page draws an image whose dictionary claims 9999x9999 pixels.
    bomb = data.replace(b"/Width 1000", b"/Width 9999").replace(b"/Height 1000", b"/Height 9999")
    assert bomb != data
    with pytest.raises(ImageRejected) as err:
        decode(bomb, **LIMITS)
    assert err.value.code == "image_too_many_pixels"


def test_a_pdf_image_at_the_deepest_allowed_nesting_is_still_counted() -> None:
    # Drawn inside 8 form XObjects (the limit): seen, and refused for its pixels.
    bomb = imaging.pdf_drawing(2000, 2000, depth=images.PDF_MAX_FORM_DEPTH)
    with pytest.raises(ImageRejected) as err:
        decode(bomb, max_bytes=LIMITS["max_bytes"], max_pixels=1_000_000)
    assert err.value.code == "image_too_many_pixels"
    assert "2000x2000" in err.value.message
    # The same nesting around a small image is an ordinary page.
    fine = imaging.pdf_drawing(300, 300, depth=images.PDF_MAX_FORM_DEPTH)
    out = decode(fine, max_bytes=LIMITS["max_bytes"], max_pixels=1_000_000)
    assert near(out.image.getpixel((out.width // 2, out.height // 2)), (0, 0, 0))


@pytest.mark.parametrize("depth", [9, 12])
def test_a_pdf_nesting_its_drawing_past_the_depth_limit_is_refused(depth: int) -> None:
    # A 64-megapixel image drawn inside `depth` nested forms: a ~64 kB file that pdfium
    # would decode in full. Refused before rendering, whatever the image's size.
    bomb = imaging.pdf_drawing(8000, 8000, depth=depth)
    assert len(bomb) < 100_000
    with pytest.raises(ImageRejected) as err:
        decode(bomb, **LIMITS)
    assert err.value.code == "image_too_complex"
    assert err.value.status_code == 422
    assert f"more than {images.PDF_MAX_FORM_DEPTH} levels" in err.value.message
    small = imaging.pdf_drawing(10, 10, depth=depth)
    with pytest.raises(ImageRejected) as err:
        decode(small, **LIMITS)
    assert err.value.code == "image_too_complex"


def test_the_images_of_a_pdf_page_are_limited_together_and_in_number() -> None:
    limit = {"max_bytes": LIMITS["max_bytes"], "max_pixels": 2_000_000}
    # Five 600x600 images (1.8 MP together) fit; six (2.16 MP) do not, though each one does,
    # whether they are six image objects or one drawn six times, inside forms or not.
    assert decode(imaging.pdf_drawing(600, 600, images=5, distinct=True), **limit).pages == 1
    for distinct, depth in ((True, 0), (False, 0), (True, 3)):
        data = imaging.pdf_drawing(600, 600, images=6, distinct=distinct, depth=depth)
        with pytest.raises(ImageRejected) as err:
            decode(data, **limit)
        assert err.value.code == "image_too_many_pixels"
        assert "2,160,000 pixels together" in err.value.message
    # Many tiny images: the count is capped whatever their pixels.
    many = imaging.pdf_drawing(4, 4, images=images.PDF_MAX_IMAGES + 1, depth=2)
    with pytest.raises(ImageRejected) as err:
        decode(many, **limit)
    assert err.value.code == "image_too_complex"
    assert f"more than {images.PDF_MAX_IMAGES} images" in err.value.message
    assert decode(imaging.pdf_drawing(4, 4, images=images.PDF_MAX_IMAGES), **limit).pages == 1


def test_a_pdf_page_with_too_many_objects_to_walk_is_refused() -> None:
    assert decode(imaging.pdf_with_paths(1000), **LIMITS).pages == 1
    with pytest.raises(ImageRejected) as err:
        decode(imaging.pdf_with_paths(images.PDF_MAX_OBJECTS + 1), **LIMITS)
    assert err.value.code == "image_too_complex"


def test_a_large_pdf_page_is_rendered_within_the_pixel_limit() -> None:
    data = imaging.pdf(two_tone(600, 400), resolution=20.0)  # a 30 x 20 inch page
    out = decode(data, max_bytes=LIMITS["max_bytes"], max_pixels=2_000_000)
    assert out.width * out.height <= 2_000_000
    assert out.width > 1500  # as large as the limit allows, not a thumbnail
    assert near(out.image.getpixel((out.width // 4, out.height // 2)), (255, 0, 0))


def test_only_the_first_pdf_page_is_rendered() -> None:
    buf = io.BytesIO()
    first = Image.new("RGB", (400, 300), (0, 160, 0))
    first.save(buf, "PDF", save_all=True, append_images=[Image.new("RGB", (400, 300), (200, 0, 0))])
    out = decode(buf.getvalue(), **LIMITS)
    assert out.pages == 2
    assert near(out.image.getpixel((out.width // 2, out.height // 2)), (0, 160, 0))


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda: imaging.jpeg(two_tone())[:600], id="truncated-jpeg"),
        pytest.param(lambda: imaging.png(two_tone())[:80], id="truncated-png"),
        pytest.param(lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 50, id="jpeg-no-frame"),
        pytest.param(lambda: b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20, id="webp-garbage"),
        pytest.param(lambda: b"%PDF-1.7\n" + b"garbage " * 50, id="pdf-garbage"),
        pytest.param(
            lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00heicmif1" + b"\x00" * 40,
            id="heic-garbage",
        ),
    ],
)
def test_corrupt_files_are_refused_as_corrupt(broken) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImageRejected) as err:
        decode(broken(), **LIMITS)
    assert err.value.code == "image_corrupt"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    upright = two_tone(300, 200)
    data = imaging.oriented_jpeg(upright, orientation)
    stored = Image.open(io.BytesIO(data))
    assert stored.size == ((200, 300) if orientation in (6, 8) else (300, 200))
    out = decode(data, **LIMITS)
    assert out.image.size == (300, 200)
    assert near(out.image.getpixel((60, 100)), (255, 0, 0))
    assert near(out.image.getpixel((240, 100)), (0, 0, 255))


def test_heic_orientation_is_applied() -> None:
    stored = two_tone(300, 200).transpose(Image.Transpose.ROTATE_90)
    data = imaging.heic(stored, exif=imaging.exif_with(Orientation=6))
    out = decode(data, **LIMITS)
    assert out.image.size == (300, 200)
    assert near(out.image.getpixel((60, 100)), (255, 0, 0))


def test_exif_and_xmp_metadata_are_kept_for_forensics() -> None:
    exif = imaging.exif_with(
        Software="Adobe Photoshop 25.0 (Windows)",
        Make="Canon",
        Model="EOS 80D",
        DateTime="2024:03:01 10:00:00",
    )
    buf = io.BytesIO()
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>'
        b'<rdf:Description xmp:CreatorTool="GIMP 2.10" xmp:ModifyDate="2024-03-02T11:00:00">'
        b'<xmpMM:History><rdf:Seq><rdf:li stEvt:action="saved" '
        b'stEvt:softwareAgent="GIMP 2.10 (Linux)"/></rdf:Seq></xmpMM:History>'
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    two_tone().save(
        buf, "JPEG", quality=50, exif=exif.tobytes(), xmp=xmp, comment=b"edited\x00 here"
    )
    out = decode(buf.getvalue(), **LIMITS)
    meta = out.metadata
    assert meta["Software"] == "Adobe Photoshop 25.0 (Windows)"
    assert meta["Make"] == "Canon"
    assert meta["Model"] == "EOS 80D"
    assert meta["DateTime"] == "2024:03:01 10:00:00"
    assert meta["XMP:CreatorTool"] == "GIMP 2.10"
    assert meta["XMP:ModifyDate"] == "2024-03-02T11:00:00"
    assert meta["XMP:History"] == "GIMP 2.10 (Linux)"
    assert meta["JPEG:Comment"] == "edited here"  # control characters dropped
    assert out.jpeg_quality is not None and abs(out.jpeg_quality - 50) <= 2
    assert all(isinstance(v, str) and len(v) <= 200 for v in meta.values())


def test_png_text_chunks_are_kept() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "paint.net 5.0")
    info.add_text("Comment", "x" * 500)
    buf = io.BytesIO()
    two_tone().save(buf, "PNG", pnginfo=info)
    out = decode(buf.getvalue(), **LIMITS)
    assert out.metadata["Software"] == "paint.net 5.0"
    assert out.metadata["Text:Comment"] == "x" * 200


def test_a_camera_jpeg_has_no_editor_metadata() -> None:
    data = imaging.jpeg(two_tone(), exif=imaging.exif_with(Make="Apple", Model="iPhone 15"))
    meta = decode(data, **LIMITS).metadata
    assert "Software" not in meta
    assert not any(key.startswith("XMP:") for key in meta)


def test_transparency_is_flattened_onto_white() -> None:
    im = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (0, 0, 50, 100))
    for fmt in ("png", "webp"):
        out = decode(imaging.encode(im, fmt), **LIMITS)
        assert out.image.mode == "RGB"
        assert near(out.image.getpixel((75, 50)), (255, 255, 255), tol=5)
        assert near(out.image.getpixel((25, 50)), (255, 0, 0), tol=5)


def test_sixteen_bit_greys_keep_their_contrast() -> None:
    arr = np.zeros((50, 100), dtype=np.uint16)
    arr[:, 50:] = 4000  # a 12-bit sensor's white, far below 65535
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    out = decode(buf.getvalue(), **LIMITS)
    assert out.image.getpixel((10, 10)) == (0, 0, 0)
    assert out.image.getpixel((90, 10)) == (255, 255, 255)


def test_header_sizes_match_what_pillow_decodes() -> None:
    for fmt, media_type in (
        ("jpeg", images.JPEG),
        ("png", images.PNG),
        ("webp", images.WEBP),
        ("heic", images.HEIC),
    ):
        data = imaging.encode(two_tone(321, 123), fmt)
        assert images.header_size(data, media_type) == (321, 123)
    lossless = io.BytesIO()
    two_tone(321, 123).save(lossless, "WEBP", lossless=True)
    assert images.header_size(lossless.getvalue(), images.WEBP) == (321, 123)
    progressive = io.BytesIO()
    two_tone(321, 123).save(progressive, "JPEG", progressive=True)
    assert images.header_size(progressive.getvalue(), images.JPEG) == (321, 123)


def test_decoding_is_safe_from_many_threads() -> None:
    uploads = [imaging.pdf(two_tone()), imaging.heic(two_tone()), imaging.jpeg(two_tone())] * 6
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda d: decode(d, **LIMITS), uploads))
    assert [r.media_type for r in results] == [images.sniff(d) for d in uploads]
    assert all(near(r.image.getpixel((r.width // 4, r.height // 2)), (255, 0, 0)) for r in results)


def test_grey_and_cmyk_jpegs_come_out_rgb() -> None:
    for mode in ("L", "CMYK"):
        buf = io.BytesIO()
        two_tone().convert(mode).save(buf, "JPEG", quality=90)
        out = decode(buf.getvalue(), **LIMITS)
        assert out.image.mode == "RGB"
        assert out.image.size == (300, 200)
        left, right = out.image.getpixel((60, 100)), out.image.getpixel((240, 100))
        assert left != right  # the two halves stay apart whatever the colour model
