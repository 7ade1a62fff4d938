"""Face detection and 1:1 face match: is the person in the selfie the person on the document?

The models are dlib's, as shipped by the ``face-recognition-models`` wheel, called directly the
way the ``face_recognition`` library does: the HOG frontal-face detector finds faces, the
5-point shape predictor places eyes and nose, and the ResNet encoder turns the aligned face
into a 128-number embedding. Two embeddings of one person lie close together: Euclidean
distance below ~0.6 is dlib's own "same person" operating point (99.38 % on LFW). Vigil's two
thresholds (``identity_face_match_distance``, ``identity_face_mismatch_distance``) are
calibrated in ``eval/identity_faces.py`` and documented in ``docs/identity/images-faces.md``;
this module only measures, it never decides.

Invariants:

- models are loaded lazily, once per process, under a lock; every call into dlib holds the
  same lock (dlib's detector and network keep scratch buffers and are not safe to share
  between threads), so the functions here are thread-safe;
- boxes are in the pixel coordinates of the image given (detection runs on a copy scaled to at
  most ``DETECT_MAX_SIDE``; boxes are scaled back);
- a document's portrait is its largest confident face (scoring at least ``COUNT_MIN_SCORE``);
  a document photographed sideways or upside down is searched in the four right-angle turns,
  a turn is accepted only for a confident face (a faint false detection in a wrong turn is
  not the portrait), and the turn that found the face is reported;
- nothing is stored: embeddings are biometric data, and only the distance leaves this module.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

# Detection runs on an image no larger than this (long side): phone selfies are 3000-4000 px,
# and faces in them are far larger than the detector's 80 px minimum.
DETECT_MAX_SIDE = 1280
# Below this long side, the detector also looks at a 2x upsampled image (small document
# photos, where the portrait may be 50-80 px).
UPSAMPLE_BELOW = 900
# dlib reports a detection score for each face (0 is its default threshold; real faces score
# 1-3). A face under this score is reported but not counted as "a second face" on a selfie:
# clothing patches and posters score 0.0-0.3.
COUNT_MIN_SCORE = 0.3

_lock = threading.Lock()
_models: tuple[Any, Any, Any] | None = None


@dataclass(frozen=True)
class FaceBox:
    x0: int
    y0: int
    x1: int
    y1: int
    score: float

    @property
    def area(self) -> int:
        return max(0, self.x1 - self.x0) * max(0, self.y1 - self.y0)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["score"] = round(self.score, 3)
        return out


@dataclass
class FaceComparison:
    distance: float | None  # None when either side has no face
    selfie_faces: int  # faces scoring at least COUNT_MIN_SCORE
    document_faces: int
    document_box: FaceBox | None
    selfie_box: FaceBox | None
    # Boxes are in the coordinates of the images as given; a rotation is how many degrees
    # (counter-clockwise) the image had to be turned for its face to be upright.
    document_rotation: int = 0
    selfie_rotation: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "distance": None if self.distance is None else round(self.distance, 4),
            "selfie_faces": self.selfie_faces,
            "document_faces": self.document_faces,
            "document_box": self.document_box.to_json() if self.document_box else None,
            "selfie_box": self.selfie_box.to_json() if self.selfie_box else None,
            "document_rotation": self.document_rotation,
            "selfie_rotation": self.selfie_rotation,
        }


def models() -> tuple[Any, Any, Any]:
    """(detector, shape predictor, encoder), loaded once per process."""
    global _models
    if _models is None:
        with _lock:
            if _models is None:
                import dlib
                import face_recognition_models as frm

                _models = (
                    dlib.get_frontal_face_detector(),
                    dlib.shape_predictor(frm.pose_predictor_five_point_model_location()),
                    dlib.face_recognition_model_v1(frm.face_recognition_model_location()),
                )
    return _models


def _array(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def find_faces(image: Image.Image) -> list[FaceBox]:
    """Every face found upright, largest first."""
    detector, _, _ = models()
    scale = min(1.0, DETECT_MAX_SIDE / max(image.size))
    small = image
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = image.resize(size, Image.Resampling.BILINEAR)
    arr = _array(small)
    upsample = 1 if max(small.size) < UPSAMPLE_BELOW else 0
    with _lock:
        rects, scores, _ = detector.run(arr, upsample, 0.0)
        if not rects and upsample == 0:
            rects, scores, _ = detector.run(arr, 1, 0.0)
    boxes = []
    for rect, score in zip(rects, scores, strict=True):
        x0 = max(0, round(rect.left() / scale))
        y0 = max(0, round(rect.top() / scale))
        x1 = min(image.width, round((rect.right() + 1) / scale))
        y1 = min(image.height, round((rect.bottom() + 1) / scale))
        if x1 > x0 and y1 > y0:
            boxes.append(FaceBox(x0, y0, x1, y1, float(score)))
    boxes.sort(key=lambda b: (b.area, b.score), reverse=True)
    return boxes


def encode(image: Image.Image, box: FaceBox) -> np.ndarray:
    """The 128-d embedding of the face in ``box`` (aligned on its 5 landmarks first)."""
    import dlib

    _, predictor, encoder = models()
    arr = _array(image)
    rect = dlib.rectangle(box.x0, box.y0, max(box.x0, box.x1 - 1), max(box.y0, box.y1 - 1))
    with _lock:
        shape = predictor(arr, rect)
        descriptor = encoder.compute_face_descriptor(arr, shape, 1)
    return np.asarray(descriptor, dtype=np.float64)


def chip(
    image: Image.Image, box: FaceBox, *, size: int = 150, padding: float = 0.25
) -> Image.Image:
    """The face in ``box`` aligned on its landmarks (eyes level, fixed scale): the same face
    gives nearly the same chip whatever the detector's box jitter or the photo's framing."""
    import dlib

    _, predictor, _ = models()
    arr = _array(image)
    rect = dlib.rectangle(box.x0, box.y0, max(box.x0, box.x1 - 1), max(box.y0, box.y1 - 1))
    with _lock:
        shape = predictor(arr, rect)
        aligned = dlib.get_face_chip(arr, shape, size=size, padding=padding)
    return Image.fromarray(np.asarray(aligned, dtype=np.uint8))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


_TURNS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def turn(image: Image.Image, angle: int) -> Image.Image:
    """``image`` turned ``angle`` degrees counter-clockwise (0, 90, 180, 270), exactly."""
    return image if angle == 0 else image.transpose(_TURNS[angle])


def box_in_turned(box: FaceBox, angle: int, width: int, height: int) -> FaceBox:
    """A box found in ``turn(image, angle)`` in the coordinates of ``image`` (width x height).
    (Called with the inverse angle and the turned size, it maps the other way.)"""
    if angle == 0:
        return box
    corners = [(box.x0, box.y0), (box.x1, box.y1)]
    if angle == 90:  # (x, y) -> (y, W - x)
        back = [(width - y, x) for x, y in corners]
    elif angle == 270:  # (x, y) -> (H - y, x)
        back = [(y, height - x) for x, y in corners]
    else:  # (x, y) -> (W - x, H - y)
        back = [(width - x, height - y) for x, y in corners]
    xs = [p[0] for p in back]
    ys = [p[1] for p in back]
    return FaceBox(min(xs), min(ys), max(xs), max(ys), box.score)


def largest_face(image: Image.Image, *, rotations: bool = True) -> tuple[FaceBox | None, int, int]:
    """The document's portrait: the largest confident face, trying the four right-angle turns
    when none is upright.

    A turn is accepted only when a face there scores at least ``COUNT_MIN_SCORE``: a sideways
    or upside-down photo often gives the HOG detector a faint false "face" (score ~0.05) in a
    wrong turn, and taking it would hash and encode the wrong patch. Turns are tried in the
    order 0, 90, 270, 180 and the search stops at the first confident face, so an upright
    document costs one detector pass. When no turn shows a confident face, the strongest weak
    face of any turn is returned (the same turn's box, counted as one face), so a faint but
    real portrait is still found.

    Returns (box in ``image``'s coordinates, faces counted, degrees the image had to be turned
    counter-clockwise for the face to be upright: ``turn(image, angle)`` shows it upright)."""
    angles = (0, 90, 270, 180) if rotations else (0,)
    weak: tuple[FaceBox, int] | None = None
    for angle in angles:
        boxes = find_faces(turn(image, angle))
        confident = [b for b in boxes if b.score >= COUNT_MIN_SCORE]
        if confident:  # largest first, as find_faces sorts them
            box = box_in_turned(confident[0], angle, image.width, image.height)
            return box, len(confident), angle
        strongest = max(boxes, key=lambda b: b.score, default=None)
        if strongest is not None and (weak is None or strongest.score > weak[0].score):
            weak = strongest, angle
    if weak is None:
        return None, 0, 0
    box, angle = weak
    return box_in_turned(box, angle, image.width, image.height), 1, angle


def encode_upright(image: Image.Image, box: FaceBox, angle: int) -> np.ndarray:
    """``encode`` of a face that ``largest_face`` found after turning the image."""
    turned = turn(image, angle)
    if angle == 0:
        return encode(turned, box)
    # The inverse turn of the box: turning by ``angle`` maps image coordinates to ``turned``.
    inverse = {90: 270, 270: 90, 180: 180}[angle]
    return encode(turned, box_in_turned(box, inverse, turned.width, turned.height))


def compare(selfie: Image.Image, document: Image.Image) -> FaceComparison:
    """Selfie vs the document's portrait (its largest confident face, in any right-angle turn:
    ``largest_face``; the selfie's face is found the same way): the embedding distance, and how
    many faces each side shows (a second face on a selfie is worth a reviewer's look)."""
    d_box, d_count, d_angle = largest_face(document)
    s_box, s_count, s_angle = largest_face(selfie)
    value = None
    if d_box is not None and s_box is not None:
        value = distance(
            encode_upright(selfie, s_box, s_angle), encode_upright(document, d_box, d_angle)
        )
    return FaceComparison(
        distance=value,
        selfie_faces=s_count,
        document_faces=d_count,
        document_box=d_box,
        selfie_box=s_box,
        document_rotation=d_angle,
        selfie_rotation=s_angle,
    )
