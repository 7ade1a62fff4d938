"""Image quality of a document photo or selfie: sharp enough, free of glare, large enough.

The user can fix every problem found here by taking the photo again, so each maps to a reason
the user is told (``image_blurry``, ``image_glare``, ``image_low_resolution``).

Measures (all computed on a grey copy scaled so its long side is ``NORMAL_SIDE`` pixels, so
that the numbers do not depend on the camera's resolution):

- **blur**: the variance of the Laplacian (the classic focus measure: edges make it large,
  defocus and motion blur flatten it), taken per tile on a 6x6 grid; the figure is the median of
  the sharpest quarter of the tiles. A document rarely fills the frame: the table, the wall or
  the page margin around it is flat whatever the focus, and taking the sharpest tiles measures
  the document's text and edges, not its background;
- **glare**: the share of the image covered by blown-out highlights: pixels whose three
  channels are all at least ``GLARE_LEVEL``, cleaned of specks and thin white strokes by a
  morphological opening, kept only as blobs of at least ``GLARE_MIN_BLOB`` of the image that do
  not touch the image border (white page margins and white backgrounds around a document touch
  the border; a lamp's reflection on a laminate sits on the document), and only when the blob
  looks like a reflection: a solid core (a reflection washes out the text under it, while a
  white area of the document itself is full of text holes) blooming into a bright halo (a
  printed white area ends at sharp, darker print). A highlight that runs off the edge of the
  frame is not counted: a known blind spot;
- **resolution**: the short side in pixels against ``min_short_side``.

Invariants: pure functions of the pixels, deterministic, thread-safe; thresholds come from
settings (``identity_blur_min``, ``identity_glare_max``, ``identity_min_pixels_short_side``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from vigil.identity.types import Reason

NORMAL_SIDE = 1000
GRID = 6
GLARE_LEVEL = 250
GLARE_MIN_BLOB = 0.0005  # share of the image: ~500 px at 1000x1000
GLARE_MAX_HOLES = 0.05  # a reflection's core is solid: at most 5 % of it unsaturated
RING = 7  # px (at NORMAL_SIDE) around a blob where its halo is looked for
HALO_LEVEL = 200
GLARE_MIN_HALO = 0.85  # share of the ring at least HALO_LEVEL bright


@dataclass
class QualityReport:
    blur: float  # focus measure: higher is sharper
    glare: float  # share of the image (0-1) under blown-out highlights
    width: int
    height: int
    reasons: list[Reason] = field(default_factory=list)
    ok: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "blur": round(self.blur, 1),
            "glare": round(self.glare, 4),
            "width": self.width,
            "height": self.height,
            "reasons": [r.value for r in self.reasons],
            "ok": self.ok,
        }


def _normalised_grey(image: Image.Image) -> np.ndarray:
    grey = np.asarray(image.convert("L"))
    h, w = grey.shape
    scale = NORMAL_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(grey, size, interpolation=interpolation)


def blur_score(image: Image.Image) -> float:
    grey = _normalised_grey(image)
    lap = cv2.Laplacian(grey, cv2.CV_64F, ksize=3)
    h, w = lap.shape
    tiles = []
    for i in range(GRID):
        for j in range(GRID):
            tile = lap[i * h // GRID : (i + 1) * h // GRID, j * w // GRID : (j + 1) * w // GRID]
            if tile.size:
                tiles.append(float(tile.var()))
    if not tiles:
        return 0.0
    tiles.sort()
    sharpest = tiles[-max(1, len(tiles) // 4) :]
    return float(np.median(sharpest))


def glare_score(image: Image.Image) -> float:
    rgb = np.asarray(image.convert("RGB"))
    h, w = rgb.shape[:2]
    scale = NORMAL_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    small = cv2.resize(rgb, size, interpolation=interpolation)
    clipped = (small.min(axis=2) >= GLARE_LEVEL).astype(np.uint8)
    if not clipped.any():
        return 0.0
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    opened = cv2.morphologyEx(clipped, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    sh, sw = opened.shape
    total = sh * sw
    glare = 0
    for label in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[label])
        if area < GLARE_MIN_BLOB * total:
            continue
        if x == 0 or y == 0 or x + bw >= sw or y + bh >= sh:
            continue  # background or page margin, not a reflection on the document
        if _is_reflection(labels[y : y + bh, x : x + bw] == label, grey, x, y, area):
            glare += area
    return glare / total


def _is_reflection(mask: np.ndarray, grey: np.ndarray, x: int, y: int, area: int) -> bool:
    """A reflection washes out everything under it (its core has no holes: no text, no
    lines) and blooms into a bright halo. A white part of the document itself (the plain
    background of a printed or digital specimen) is full of text holes and ends at printed
    edges."""
    pad = RING
    h, w = grey.shape
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(w, x + mask.shape[1] + pad), min(h, y + mask.shape[0] + pad)
    local = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local[y - y0 : y - y0 + mask.shape[0], x - x0 : x - x0 + mask.shape[1]] = mask
    contours, _ = cv2.findContours(local, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(local)
    cv2.drawContours(filled, contours, -1, 1, thickness=-1)
    holes = 1.0 - area / max(1, int(filled.sum()))
    if holes > GLARE_MAX_HOLES:
        return False
    outer = cv2.dilate(filled, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
    inner = cv2.dilate(filled, np.ones((3, 3), np.uint8))
    ring = grey[y0:y1, x0:x1][(outer - inner) > 0]
    return ring.size > 0 and float((ring >= HALO_LEVEL).mean()) >= GLARE_MIN_HALO


def assess(
    image: Image.Image, *, blur_min: float, glare_max: float, min_short_side: int
) -> QualityReport:
    width, height = image.size
    blur = blur_score(image)
    glare = glare_score(image)
    reasons = []
    if min(width, height) < min_short_side:
        reasons.append(Reason.image_low_resolution)
    if blur < blur_min:
        reasons.append(Reason.image_blurry)
    if glare > glare_max:
        reasons.append(Reason.image_glare)
    return QualityReport(
        blur=blur, glare=glare, width=width, height=height, reasons=reasons, ok=not reasons
    )
