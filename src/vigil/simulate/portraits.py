"""Faces for the simulator's identity documents and selfies: many people from two photographs.

Two public-domain portraits ship inside packages the project already uses in development:
scikit-image's ``astronaut`` (Eileen Collins, NASA) and matplotlib's ``grace_hopper.jpg`` (US
Navy). ``person % 2`` picks the base photograph; ``person // 2`` picks a *look*: a geometric
warp of the face driven by its dlib landmarks (eye spacing, nose and chin length, mouth, jaw
and face width, the inner face turned a little in its outline), a mirror image, a skin tone
and a hair colour. Each simulated account therefore shows a face of its own: the same portrait
is not found on two accounts' documents (the identity pipeline's ``image_reuse`` check compares
the landmark-aligned portraits by perceptual hash), while the selfie of one ``person`` still
matches the portrait on that person's document.

Invariants:

- no network and no model at run time: the images come from the installed wheels, the
  landmarks were measured once with dlib's 68-point predictor and are stored below, and
  ``portrait`` returns None when the package of the person's photograph is missing
  (production installs need not have them);
- deterministic: the same arguments give the same pixels; a look depends on ``person`` alone,
  ``seed`` only varies the selfie (pose, light, framing) for simulations that need several
  different selfies of one face;
- persons 0 and 1 are the two photographs as they are (no warp, no colour change); persons of
  different parity are built on different photographs and are always an impostor pair for
  the face matcher (``face_mismatch`` draws the selfie of ``person + 1``); persons 0-59 are
  pairwise at least 10 bits apart by aligned portrait hash (``CHOSEN``), the reuse limit
  being 6;
- the ``document`` variant is a passport-style head-and-shoulders crop (35:45, 350x450 px); the
  ``selfie`` variant is a wider, slightly rotated, differently lit phone-like shot (480x640 px)
  that went through JPEG once, so it is never pixel-identical to the document's portrait.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

VARIANTS = ("document", "selfie")
DOCUMENT_SIZE = (350, 450)
SELFIE_SIZE = (480, 640)
_PAD = 160

# Where the face is in each source image (x0, y0, x1, y1: dlib's frontal detector, found once;
# the crops below are derived from these boxes).
_FACE_BOXES = {
    "astronaut": (175, 76, 265, 166),
    "grace_hopper": (180, 139, 366, 325),
}
_SOURCES = ("astronaut", "grace_hopper")

# dlib's 68 landmarks (shape_predictor_68_face_landmarks from face-recognition-models, run once
# on the boxes above), x0, y0, x1, y1...: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth
# 48-67, in the source image's pixels.
# fmt: off
_LANDMARKS = {
    "astronaut": (
        179, 104, 180, 116, 181, 127, 182, 139, 185, 150, 191, 160, 200, 168, 209, 176, 220, 178,
        232, 177, 243, 171, 253, 163, 260, 154, 265, 143, 268, 131, 270, 120, 272, 108, 186, 94,
        192, 88, 200, 87, 208, 89, 216, 92, 236, 93, 244, 91, 252, 91, 260, 92, 265, 99, 226, 102,
        225, 111, 225, 119, 225, 127, 214, 131, 219, 133, 224, 134, 229, 133, 234, 132, 195, 101,
        200, 98, 207, 98, 212, 104, 206, 104, 199, 104, 237, 106, 243, 100, 250, 100, 255, 105,
        250, 107, 244, 107, 201, 139, 209, 139, 218, 139, 224, 141, 230, 140, 238, 140, 246, 141,
        238, 151, 229, 155, 222, 156, 216, 155, 208, 150, 204, 141, 218, 143, 223, 144, 230, 143,
        243, 142, 229, 150, 223, 151, 217, 150,
    ),
    "grace_hopper": (
        178, 203, 181, 226, 186, 248, 192, 270, 199, 291, 209, 310, 226, 323, 245, 331, 269, 333,
        293, 329, 312, 319, 329, 304, 340, 284, 347, 262, 351, 241, 353, 218, 355, 195, 189, 188,
        196, 172, 211, 165, 228, 165, 243, 171, 284, 168, 298, 161, 315, 161, 331, 167, 340, 181,
        265, 188, 265, 205, 266, 221, 267, 238, 247, 246, 257, 249, 268, 252, 278, 249, 287, 246,
        210, 195, 218, 187, 228, 187, 238, 194, 229, 195, 219, 196, 291, 192, 300, 184, 310, 184,
        319, 190, 311, 192, 301, 193, 233, 281, 245, 274, 258, 272, 267, 274, 277, 271, 288, 273,
        300, 277, 289, 284, 278, 287, 269, 289, 259, 288, 246, 285, 238, 279, 258, 278, 268, 279,
        277, 278, 296, 278, 277, 278, 268, 279, 258, 279,
    ),
}
# fmt: on
# dlib's 68 points of a face seen in a mirror: point i of the mirrored face is point
# _MIRROR[i] of the original (its left jaw is the original's right jaw...).
_MIRROR = (
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)

# Skin tones as RGB gains on the base face (1 = as photographed), light to dark.
SKIN_TONES = (
    (1.0, 1.0, 1.0),
    (0.97, 0.9, 0.84),
    (0.9, 0.8, 0.7),
    (0.84, 0.7, 0.58),
    (0.76, 0.62, 0.5),
    (0.66, 0.52, 0.42),
)
# How far each feature may move, per photograph (fractions of the distance between the eyes).
# The ranges lean away from the other photograph's face in dlib's embedding space (measured one
# feature at a time), so a person built on one photograph stays far from every person built on
# the other.
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "astronaut": {
        "eye_spacing": (-0.1, 0.06),
        "nose_length": (-0.15, 0.12),
        "mouth_width": (-0.12, 0.08),
        "jaw_width": (-0.12, 0.1),
        "face_width": (-0.04, 0.15),
        "chin": (-0.03, 0.12),
        "turn": (-0.24, 0.24),
    },
    "grace_hopper": {
        "eye_spacing": (-0.1, 0.06),
        "nose_length": (-0.15, 0.05),
        "mouth_width": (-0.08, 0.12),
        "jaw_width": (-0.03, 0.15),
        "face_width": (-0.12, 0.08),
        "chin": (-0.03, 0.12),
        "turn": (-0.24, 0.24),
    },
}
# Hair colours (RGB of the mid-tone the hair is recoloured to); None keeps the photograph's.
HAIR: tuple[tuple[int, int, int] | None, ...] = (
    None,
    (30, 24, 22),
    (150, 60, 35),
    (190, 160, 110),
    (70, 46, 30),
    (150, 150, 150),
    (120, 80, 45),
)
# Hair is recoloured on the photographs where it is not under a hat.
_HAIR_ON = {"astronaut": True, "grace_hopper": False}
# The draws (``_drawn``) that make persons 2, 4, 6... (astronaut) and 3, 5, 7... (grace_hopper),
# in order. Chosen once from the first 200 draws of each photograph, greedily, so that every
# two of them are as far apart as possible by the aligned portrait's perceptual hash, with
# every face found by dlib's detector on the document and selfie variants and every person
# more than 0.62 from every person of the other photograph by face distance
# (docs/identity/images-faces.md gives the figures). Persons beyond the table use draw
# ``1000 + k``: distinct too, but without that guarantee.
# fmt: off
CHOSEN: dict[str, tuple[int, ...]] = {
    "astronaut": (
        125, 160, 20, 138, 1, 30, 67, 152, 32, 80, 2, 14, 31, 48, 69, 77, 110, 113, 169, 189, 4,
        38, 44, 47, 86, 100, 114, 133, 146,
    ),
    "grace_hopper": (
        80, 51, 160, 23, 125, 8, 10, 30, 76, 27, 28, 43, 50, 176, 1, 24, 32, 61, 92, 110, 127,
        130, 131, 38, 54, 57, 60, 109, 155,
    ),
}
# fmt: on

# Persons 0 .. CHECKED_PEOPLE - 1 are the ones the table above vouches for (both photographs,
# the original look and each chosen draw): a simulation that needs distinct faces stays below.
CHECKED_PEOPLE = 2 * (1 + min(len(draws) for draws in CHOSEN.values()))


@dataclass(frozen=True)
class Look:
    """What makes one simulated person's face their own (all fractions of the distance
    between the eyes, except where said)."""

    mirror: bool = False
    eye_spacing: float = 0.0  # + wider-set eyes
    nose_length: float = 0.0  # + a longer nose (the mouth moves with its base)
    mouth_width: float = 0.0
    jaw_width: float = 0.0
    face_width: float = 0.0  # cheeks
    chin: float = 0.0  # + a longer chin
    turn: float = 0.0  # the inner face shifted sideways in its outline (head turned a little)
    skin: tuple[float, float, float] = (1.0, 1.0, 1.0)  # RGB gains
    hair: tuple[int, int, int] | None = None  # RGB


def look(person: int) -> Look:
    """The look of ``person``: persons 0 and 1 are the photographs as they are; the others
    are draws of ``_drawn`` (``CHOSEN``)."""
    k = person // 2
    if k == 0:
        return Look()
    name = source_name(person)
    chosen = CHOSEN[name]
    return _drawn(name, chosen[k - 1] if k <= len(chosen) else 1000 + k)


def _drawn(name: str, draw: int) -> Look:
    """One random look for a person built on photograph ``name`` (deterministic in ``draw``)."""
    rng = random.Random(f"vigil.simulate.portraits:{name}:{draw}")
    moves = {key: rng.uniform(lo, hi) for key, (lo, hi) in RANGES[name].items()}
    tone = SKIN_TONES[rng.randrange(len(SKIN_TONES))]
    hair = rng.choice(HAIR) if _HAIR_ON[name] else None
    return Look(mirror=rng.random() < 0.5, skin=tone, hair=hair, **moves)


@lru_cache(maxsize=2)
def _source(name: str) -> Image.Image | None:
    try:
        if name == "astronaut":
            from skimage import data

            return Image.fromarray(data.astronaut()).convert("RGB")
        from matplotlib import cbook

        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        with Image.open(path) as im:
            return im.convert("RGB")
    except ImportError:
        return None


def available() -> bool:
    """True when both portraits can be made (the packages that ship them are installed)."""
    return all(_source(name) is not None for name in _SOURCES)


def source_name(person: int) -> str:
    return _SOURCES[person % 2]


def portrait(
    person: int, *, variant: str = "document", seed: int | None = None
) -> Image.Image | None:
    """The face of ``person`` as an RGB image, or None when its source package is absent."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    if person < 0:
        raise ValueError("person must be 0 or more")
    name = source_name(person)
    if _source(name) is None:
        return None
    source, (x0, y0, x1, y1) = _person(person)
    face_w = x1 - x0
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2
    if variant == "document":
        return _document(source, cx, cy, face_w)
    return _selfie(source, cx, cy, face_w, random.Random(seed if seed is not None else person))


# --- the person ------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _person(person: int) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """The base photograph turned into ``person`` (mirrored, warped, recoloured),
    and where the face now is."""
    name = source_name(person)
    source = _source(name)
    assert source is not None
    box = _FACE_BOXES[name]
    the_look = look(person)
    if the_look == Look():
        return source, box
    points = np.asarray(_LANDMARKS[name], dtype=np.float32).reshape(68, 2)
    image = np.asarray(source, dtype=np.float32)
    width = source.width
    if the_look.mirror:
        image = image[:, ::-1]
        points = points[list(_MIRROR)]
        points[:, 0] = width - 1 - points[:, 0]
        box = (width - box[2], box[1], width - box[0], box[3])
    image, points = _warp(image, points, the_look)
    image = _recolour(image, points, the_look)
    out = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "RGB")
    # The face box follows the warp (its centre and width, from the jaw line).
    grow = (float(np.ptp(points[:17, 0])) / float(np.ptp(_jaw(name)))) - 1.0
    bw = (box[2] - box[0]) * (1 + grow)
    shift_x = float(points[:17, 0].mean() - _jaw_centre(name, the_look.mirror, width))
    cx = (box[0] + box[2]) / 2 + shift_x
    cy = (box[1] + box[3]) / 2
    return out, (cx - bw / 2, cy - bw / 2, cx + bw / 2, cy + bw / 2)


def _jaw(name: str) -> np.ndarray:
    return np.asarray(_LANDMARKS[name], dtype=np.float32).reshape(68, 2)[:17, 0]


def _jaw_centre(name: str, mirror: bool, width: int) -> float:
    x = float(_jaw(name).mean())
    return width - 1 - x if mirror else x


def _eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[42:48].mean(axis=0) - points[36:42].mean(axis=0)))


def _warp(image: np.ndarray, points: np.ndarray, lk: Look) -> tuple[np.ndarray, np.ndarray]:
    """Move parts of the face by smooth Gaussian bumps centred on their landmarks (a
    displacement field, applied backwards with OpenCV's remap); returns the warped image and
    the landmarks moved with it."""
    import cv2

    iod = _eye_distance(points)
    left_eye, right_eye = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    mouth = points[48:68].mean(axis=0)
    mid_x = float(points[27:36, 0].mean())
    # (centre, radius, displacement), all in pixels.
    bumps: list[tuple[np.ndarray, float, tuple[float, float]]] = [
        (left_eye, 0.45 * iod, (-lk.eye_spacing * iod / 2, 0.0)),
        (right_eye, 0.45 * iod, (lk.eye_spacing * iod / 2, 0.0)),
        (points[33], 0.35 * iod, (0.0, lk.nose_length * iod)),
        (mouth, 0.45 * iod, (0.0, (lk.nose_length + 0.3 * lk.chin) * iod)),
        (points[48], 0.25 * iod, (-lk.mouth_width * iod / 2, 0.0)),
        (points[54], 0.25 * iod, (lk.mouth_width * iod / 2, 0.0)),
        (points[8], 0.55 * iod, (0.0, lk.chin * iod)),
        (points[27:68].mean(axis=0), 0.8 * iod, (lk.turn * iod, 0.0)),
    ]
    for i in (4, 5, 6, 10, 11, 12):
        side = 1.0 if points[i, 0] > mid_x else -1.0
        bumps.append((points[i], 0.45 * iod, (side * lk.jaw_width * iod / 2, 0.0)))
    for i in (1, 2, 14, 15):
        side = 1.0 if points[i, 0] > mid_x else -1.0
        bumps.append((points[i], 0.5 * iod, (side * lk.face_width * iod / 2, 0.0)))

    def field(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx = np.zeros(np.broadcast(x, y).shape, np.float32)
        dy = np.zeros_like(dx)
        for centre, radius, (vx, vy) in bumps:
            weight = np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * radius**2))
            dx += vx * weight
            dy += vy * weight
        return dx, dy

    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = field(xs, ys)
    # Backward mapping: the pixel at y comes from y - d(y) (d is small and smooth: its
    # gradient stays far below 1, so the field does not fold).
    warped = cv2.remap(
        np.ascontiguousarray(image),
        xs - dx,
        ys - dy,
        interpolation=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT,
    )
    px, py = field(points[:, 0], points[:, 1])
    return warped, points + np.stack([px, py], axis=1)


def _mask(size: tuple[int, int], polygons: list[np.ndarray], blur: float) -> np.ndarray:
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for polygon in polygons:
        draw.polygon([(float(x), float(y)) for x, y in polygon], fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(mask, dtype=np.float32)[..., None] / 255.0


def _recolour(image: np.ndarray, points: np.ndarray, lk: Look) -> np.ndarray:
    """The skin tone (on the face and neck, not the eyes and mouth) and the hair colour
    (the darker, coloured pixels of the head above and beside the face)."""
    h, w = image.shape[:2]
    iod = _eye_distance(points)
    out = image
    if lk.skin != (1.0, 1.0, 1.0):
        forehead = points[26:16:-1] - np.array([0.0, 0.45 * iod], np.float32)
        face = np.concatenate([points[:17], forehead])
        chin = points[8]
        neck = np.array(
            [
                points[4],
                [points[4, 0] + 0.1 * iod, chin[1] + 0.9 * iod],
                [points[12, 0] - 0.1 * iod, chin[1] + 0.9 * iod],
                points[12],
            ],
            np.float32,
        )
        skin = _mask((w, h), [face, neck], 0.08 * iod)
        holes = _mask((w, h), [points[36:42], points[42:48], points[60:68]], 0.03 * iod)
        m = skin * (1.0 - np.clip(holes * 1.6, 0.0, 1.0))
        out = out * (1.0 - m) + out * np.asarray(lk.skin, np.float32) * m
    if lk.hair is not None:
        centre = points[27] - np.array([0.0, 0.6 * iod], np.float32)
        rx, ry = 1.45 * iod, 1.35 * iod
        head = Image.new("L", (w, h), 0)
        ImageDraw.Draw(head).ellipse(
            (centre[0] - rx, centre[1] - ry, centre[0] + rx, centre[1] + ry * 1.4), fill=255
        )
        head_m = np.asarray(head.filter(ImageFilter.GaussianBlur(0.1 * iod)), np.float32) / 255
        forehead = points[26:16:-1] - np.array([0.0, 0.35 * iod], np.float32)
        face = _mask((w, h), [np.concatenate([points[:17], forehead])], 0.05 * iod)[..., 0]
        grey = image.mean(axis=2)
        chroma = image.max(axis=2) - image.min(axis=2)
        # Hair is darker than the backdrop or clearly coloured; the backdrop is light grey.
        hairy = np.clip((200.0 - grey) / 40.0, 0, 1) * np.clip(chroma / 25.0, 0.3, 1)
        m = (head_m * (1.0 - face) * hairy)[..., None]
        # The new colour keeps the hair's light and shade (its brightness around its median).
        inside = m[..., 0] > 0.5
        typical = float(np.median(grey[inside])) if inside.any() else 128.0
        shade = np.clip(grey[..., None] / max(typical, 1.0), 0.3, 1.8)
        target = np.asarray(lk.hair, np.float32) * shade
        out = out * (1.0 - m) + target * m
    return out


# --- the photographs -------------------------------------------------------------------


def _crop(source: Image.Image, cx: float, cy: float, w: float, h: float) -> Image.Image:
    """Crop a w x h box centred on (cx, cy), shifted (never shrunk) to stay inside the source."""
    left = min(max(cx - w / 2, 0), max(source.width - w, 0))
    top = min(max(cy - h / 2, 0), max(source.height - h, 0))
    return source.crop((round(left), round(top), round(left + w), round(top + h)))


def _document(source: Image.Image, cx: float, cy: float, face_w: float) -> Image.Image:
    width = face_w * 2.0
    height = width * 45 / 35
    # The face sits a little above the middle of a passport photo.
    crop = _crop(source, cx, cy + face_w * 0.12, width, height)
    photo = crop.resize(DOCUMENT_SIZE, Image.Resampling.LANCZOS)
    # Printed portraits are a little flatter and cooler than the original photograph.
    photo = ImageEnhance.Contrast(photo).enhance(0.92)
    return ImageEnhance.Color(photo).enhance(0.85)


def _selfie(
    source: Image.Image, cx: float, cy: float, face_w: float, rng: random.Random
) -> Image.Image:
    angle = rng.uniform(3.0, 6.0) * rng.choice((-1, 1))
    zoom = rng.uniform(2.5, 3.0)
    width = face_w * zoom
    height = width * 4 / 3
    dx = rng.uniform(-0.1, 0.1) * face_w
    dy = rng.uniform(0.2, 0.35) * face_w
    # Pad by repeating the edges, so the rotation leaves no black corners in the frame.
    pad = _PAD
    padded = Image.fromarray(np.pad(np.asarray(source), ((pad, pad), (pad, pad), (0, 0)), "edge"))
    cx, cy = cx + pad, cy + pad
    rotated = padded.rotate(angle, resample=Image.Resampling.BICUBIC, center=(cx, cy))
    crop = _crop(rotated, cx + dx, cy + dy, width, height)
    photo = crop.resize(SELFIE_SIZE, Image.Resampling.BICUBIC)
    photo = ImageEnhance.Brightness(photo).enhance(rng.uniform(1.04, 1.15))
    photo = ImageEnhance.Color(photo).enhance(rng.uniform(1.0, 1.15))
    photo = photo.filter(ImageFilter.GaussianBlur(0.6))
    # A phone camera's JPEG, decoded again: never pixel-identical to the document portrait.
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=82)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")
