"""Signs that a document image was edited, and perceptual hashes to find reused images.

Both are **review signals only**: nothing here proves a forgery, and nothing here alone ever
rejects a document (the ``editing_signs`` check is ``review_only``). What each can and cannot
tell is written up in ``docs/identity/images-faces.md``.

- **Metadata**: an image editor's name in EXIF ``Software``/``ProcessingSoftware``, in XMP
  (``CreatorTool``, the edit history's ``softwareAgent``, Photoshop's own block), in PNG text or
  in a PDF's producer/creator. Camera firmware and phone OS strings are not editors. Metadata
  is trivially removed or forged: its absence says nothing, its presence is a reason to look.
- **Error-level analysis (JPEG ghosts)**: a JPEG carries the traces of every compression it went
  through. A photo saved at quality q1, edited, and saved again at q2 > q1 has its untouched
  parts quantized at q1 and the pasted parts not: recompressing the image at q1 changes the
  untouched parts little and the pasted ones a lot. ``ela`` is the share of the textured part of
  the image that stands out as one coherent region at the recompression quality where it
  stands out most (qualities below the file's own, estimated from its quantization tables).
  It cannot see an edit saved at the same or a lower quality than the original, nor an edit of
  a PNG/HEIC/PDF (``ela`` is 0 and the evidence says why). Its cost is bounded: at most
  ``ELA_MAX_PIXELS`` are analysed (float32 throughout). A larger image is not resized (that
  would erase the JPEG grid the analysis depends on): the most textured window of that size,
  aligned with the 16-pixel grid, is analysed at full resolution, and the evidence's
  ``analysed`` says which part and that edits outside it are not seen.
- **Perceptual hashes**: ``phash`` (imagehash's DCT hash, 64 bits as 16 hex digits) of the whole
  image and of the document's portrait; ``hash_distance`` is the Hamming distance. The same
  document photographed again, rescaled or recompressed stays within a few bits
  (``identity_image_hash_distance``).

Invariants: pure functions of the decoded image (thread-safe, deterministic); evidence is
JSON-serializable.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import cv2
import imagehash
import numpy as np
from PIL import Image

from vigil.identity import faces
from vigil.identity.faces import FaceBox
from vigil.identity.images import JPEG, DecodedImage

# Editors and filters, matched as words in metadata (lower case). Camera apps, phone OSes and
# RAW converters' defaults are deliberately absent.
EDITORS = (
    "photoshop",
    "lightroom",
    "gimp",
    "paint.net",
    "paintshop",
    "pixelmator",
    "affinity photo",
    "affinity designer",
    "photopea",
    "canva",
    "picsart",
    "snapseed",
    "facetune",
    "fotor",
    "befunky",
    "krita",
    "inkscape",
    "illustrator",
    "coreldraw",
    "corel photo",
    "photoscape",
    "luminar",
    "meitu",
    "polarr",
    "pixlr",
    "acorn",
    "photodirector",
    "picmonkey",
)
_EDITOR_RE = re.compile("|".join(re.escape(e) for e in EDITORS), re.IGNORECASE)
_SOFTWARE_KEYS = (
    "Software",
    "ProcessingSoftware",
    "XMP:CreatorTool",
    "XMP:History",
    "PDF:Producer",
    "PDF:Creator",
    "Text:Comment",
    "Text:Description",
    "JPEG:Comment",
)

ELA_BLOCK = 16  # px: two JPEG blocks, aligned with the 8x8 grid
# The most pixels one analysis recompresses (up to 10 rounds, float32): 4 MP keeps the peak
# memory near 100 MB whatever the upload (a 40 MP photo at full size needed ~1 GB).
ELA_MAX_PIXELS = 4_000_000
ELA_QUALITIES = range(50, 100, 5)
ELA_MARGIN = 10  # only recompress at qualities this far below the file's own
ELA_OUTLIER = 3.0  # a block stands out at this many times the median residual
ELA_ACTIVE = 1.5  # mean |Laplacian| below which a block is flat (no error to measure)
# A coherent region over 1.2 % of the textured blocks is suspicious. Chosen on generated
# documents: untouched JPEGs (single or double compression, qualities 60-95) score <= 0.006;
# one re-typed field (2 % of the card) scores ~0.02; a swapped portrait ~0.35.
ELA_SUSPICIOUS = 0.012


@dataclass
class EditingReport:
    software: str | None  # the editor named in the metadata, as written there
    ela: float  # 0-1: share of textured blocks forming an outlying region (JPEG only)
    suspicious: bool
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "software": self.software,
            "ela": round(self.ela, 4),
            "suspicious": self.suspicious,
            "evidence": self.evidence,
        }


def editor_in_metadata(metadata: dict[str, str]) -> tuple[str | None, str | None]:
    """(the metadata value naming an editor, the key it was found under)."""
    for key in _SOFTWARE_KEYS:
        value = metadata.get(key)
        if value and _EDITOR_RE.search(value):
            return value, key
    return None, None


def editing_signals(decoded: DecodedImage) -> EditingReport:
    metadata = decoded.metadata
    software, where = editor_in_metadata(metadata)
    evidence: dict[str, Any] = {"media_type": decoded.media_type}
    if software:
        evidence["editor"] = {"key": where, "value": software}
    if metadata.get("XMP:Photoshop"):
        evidence["photoshop_block"] = True
    original = metadata.get("DateTimeOriginal")
    modified = metadata.get("DateTime")
    if original and modified and original != modified:
        evidence["modified_after_capture"] = {"original": original, "modified": modified}
    for key in ("Make", "Model", "Software"):
        if key in metadata:
            evidence.setdefault("camera", {})[key] = metadata[key]
    ela = 0.0
    if decoded.media_type == JPEG:
        result = error_level(decoded.image, decoded.jpeg_quality)
        ela = result["score"]
        evidence["ela"] = result
    else:
        evidence["ela"] = {"score": 0.0, "skipped": "not a JPEG: no compression history"}
    suspicious = software is not None or ela >= ELA_SUSPICIOUS
    return EditingReport(software=software, ela=ela, suspicious=suspicious, evidence=evidence)


def _recompressed_grey(image: Image.Image, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as again:
        return np.asarray(again.convert("L"), dtype=np.float32)


def analysed_window(
    image: Image.Image, max_pixels: int = ELA_MAX_PIXELS
) -> tuple[int, int, int, int]:
    """The part of ``image`` error-level analysis looks at: all of it up to ``max_pixels``;
    beyond, the window of at most ``max_pixels`` (the image's shape, whole 16-pixel blocks,
    starting on the block grid) holding the most texture, where a document's printed fields
    and portrait are. Texture is measured on the image reduced 16 times (one pixel per
    block), so choosing costs a fraction of one analysis round."""
    w, h = image.size
    if w * h <= max_pixels:
        return (0, 0, w, h)
    scale = (max_pixels / (w * h)) ** 0.5
    cols = max(1, int(w * scale) // ELA_BLOCK)
    rows = max(1, int(h * scale) // ELA_BLOCK)
    grid_w, grid_h = w // ELA_BLOCK, h // ELA_BLOCK
    small = np.asarray(image.reduce(ELA_BLOCK).convert("L"), dtype=np.float32)
    texture = np.abs(cv2.Laplacian(small[:grid_h, :grid_w], cv2.CV_32F))
    total = cv2.integral(texture)  # (grid_h + 1, grid_w + 1)
    sums = total[rows:, cols:] - total[:-rows, cols:] - total[rows:, :-cols] + total[:-rows, :-cols]
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    x0, y0 = int(x) * ELA_BLOCK, int(y) * ELA_BLOCK
    return (x0, y0, x0 + cols * ELA_BLOCK, y0 + rows * ELA_BLOCK)


def error_level(image: Image.Image, file_quality: int | None) -> dict[str, Any]:
    """The JPEG-ghost analysis: score, the quality it was found at and the region's box (in
    the image's coordinates), and ``analysed``: the part of the image looked at (all of it,
    or a grid-aligned window of at most ``ELA_MAX_PIXELS`` for a larger image)."""
    width, height = image.size
    x_off, y_off, x_end, y_end = analysed_window(image)
    analysed: dict[str, Any] = {
        "box": [x_off, y_off, x_end, y_end],
        "pixels": (x_end - x_off) * (y_end - y_off),
        "of_pixels": width * height,
    }
    if analysed["pixels"] < width * height:
        analysed["note"] = (
            f"the image has more than {ELA_MAX_PIXELS:,} pixels: only this region (its most "
            "textured part, on the JPEG block grid, at full resolution) was analysed; an edit "
            "outside it is not seen"
        )
        image = image.crop((x_off, y_off, x_end, y_end))
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    h, w = grey.shape
    rows, cols = h // ELA_BLOCK, w // ELA_BLOCK
    top = file_quality if file_quality is not None else 100
    qualities = [q for q in ELA_QUALITIES if q <= top - ELA_MARGIN]
    if rows < 4 or cols < 4 or not qualities:
        return {
            "score": 0.0,
            "skipped": "image too small or quality too low to compare",
            "analysed": analysed,
        }

    def blocks(values: np.ndarray) -> np.ndarray:
        cut = values[: rows * ELA_BLOCK, : cols * ELA_BLOCK]
        return cut.reshape(rows, ELA_BLOCK, cols, ELA_BLOCK).mean(axis=(1, 3))

    activity = blocks(np.abs(cv2.Laplacian(grey, cv2.CV_32F)))
    active = activity > ELA_ACTIVE
    if active.sum() < 16:
        return {"score": 0.0, "skipped": "no texture to analyse", "analysed": analysed}
    best: dict[str, Any] = {"score": 0.0, "quality": None, "box": None}
    kernel = np.ones((3, 3), np.float32)
    for quality in qualities:
        difference = _recompressed_grey(image, quality)
        np.subtract(grey, difference, out=difference)
        np.abs(difference, out=difference)
        residual = blocks(difference) / (activity + 4.0)
        del difference
        median = float(np.median(residual[active]))
        if median <= 0:
            continue
        high = (residual > ELA_OUTLIER * median) & active
        neighbours = cv2.filter2D(high.astype(np.float32), -1, kernel)
        coherent = high & (neighbours >= 4)
        score = float(coherent.sum() / active.sum())
        if score > best["score"]:
            ys, xs = np.nonzero(coherent)
            best = {
                "score": score,
                "quality": quality,
                "box": [
                    x_off + int(xs.min()) * ELA_BLOCK,
                    y_off + int(ys.min()) * ELA_BLOCK,
                    x_off + int(xs.max() + 1) * ELA_BLOCK,
                    y_off + int(ys.max() + 1) * ELA_BLOCK,
                ],
            }
    best["score"] = round(best["score"], 4)
    best["file_quality"] = file_quality
    best["analysed"] = analysed
    return best


def phash(image: Image.Image) -> str:
    return str(imagehash.phash(image.convert("RGB")))


def hash_distance(a: str, b: str) -> int:
    """Hamming distance between two hex hashes of the same length."""
    if len(a) != len(b):
        raise ValueError("hashes of different lengths")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def portrait_hash(image: Image.Image, box: FaceBox, *, rotation: int = 0) -> str:
    """The pHash of the face in ``box`` (coordinates of ``image``), turned upright by
    ``rotation`` (as reported by ``faces.compare``/``faces.largest_face``) and aligned on its
    landmarks first, so that the detector's box jitter and the document's layout do not change
    the hash: the same portrait printed on two documents hashes alike."""
    upright = faces.turn(image, rotation)
    if rotation:
        inverse = {90: 270, 270: 90, 180: 180}[rotation]
        box = faces.box_in_turned(box, inverse, upright.width, upright.height)
    return phash(faces.chip(upright, box))
