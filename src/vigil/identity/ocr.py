"""Text on a document image: every line the OCR engine finds (for the visual zone) and the
machine-readable zone, read more than once and confirmed.

The engine is RapidOCR with the PP-OCRv6 ONNX models its wheel ships (no download at run
time), loaded lazily once per process; calls are serialized by a lock, so ``read_document``
is safe from any thread.

How the MRZ is read (docs/identity/reading-mrz.md):
1. the whole image (turned by 90/270 or 180 degrees when no MRZ is found upright);
2. when that read is complete and valid, each of its lines cut out and recognized alone at
   two sizes; otherwise the MRZ band cut out, enlarged and detected again, then its lines
   one by one;
3. a character-by-character vote over the reads of each line.
Each read goes through ``mrz.read`` (correction and repair). ``mrz_confirmed`` is True only
when two independent reads (not the vote) give the same lines, both pass their check digits,
and at least one needed no repair. A read that fails its check digits is never replaced by a
guess: the result is the best read, valid only when its own check digits pass.

Invariants: boxes are in pixels of the image given to ``read_document`` (whatever turn was
needed); nothing here touches the database or the network.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from vigil.identity import mrz
from vigil.identity.mrz import MrzResult

Box = tuple[float, float, float, float]

# The longer side, in pixels, a whole document is read at: specimens 300-700 px wide are
# enlarged (small text is missed otherwise), phone photos reduced. Chosen among 736, 860 and
# 1100 on the specimens (docs/identity/reading-mrz.md): 36, 37 and 36 read exactly, CPU
# time growing with the size.
PAGE_SIDE = 860


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: Box  # x0, y0, x1, y1 in pixels of the image given
    score: float

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center_y(self) -> float:
        return (self.box[1] + self.box[3]) / 2


@dataclass
class DocumentText:
    lines: list[OcrLine]
    mrz: MrzResult | None
    mrz_reads: list[MrzResult] = field(default_factory=list)
    mrz_confirmed: bool = False
    rotation: int = 0  # degrees (counter-clockwise) the image was turned to read it

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


_engine: Any = None
_engine_lock = threading.Lock()
_call_lock = threading.Lock()


def engine() -> Any:
    """The process's RapidOCR engine, created on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                from rapidocr import RapidOCR

                # Detection at the size ``run`` gives it (only very large inputs reduced).
                _engine = RapidOCR(
                    params={
                        "Global.log_level": "error",
                        "Det.limit_type": "max",
                        "Det.limit_side_len": 2048,
                    }
                )
    return _engine


def _bgr(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def run(image: Image.Image, *, detect: bool = True, side: int | None = None) -> list[OcrLine]:
    """OCR of one image: lines in reading order (top to bottom, then left to right), boxes in
    pixels of ``image``. The image is first scaled so that its longer side is ``side`` pixels
    (small scans enlarged, large photos reduced: text is detected and recognized at that
    size; None keeps it as is). With ``detect=False`` the whole image is recognized as a
    single line."""
    eng = engine()
    scale = 1.0
    work = image
    if side is not None and detect and max(image.size) > 0:
        scale = side / max(image.size)
        if abs(scale - 1.0) > 0.05:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            work = image.resize(size, Image.Resampling.LANCZOS)
        else:
            scale = 1.0
    with _call_lock:
        # No per-line orientation classifier: it turns MRZ lines upside down (a run of
        # "<" looks like ">" turned), and whole-image turns are tried by read_document.
        out = eng(_bgr(work), use_det=detect, use_cls=False, use_rec=True)
    texts = getattr(out, "txts", None) or ()
    scores = getattr(out, "scores", None) or ()
    boxes = getattr(out, "boxes", None)
    lines = []
    for i, text in enumerate(texts):
        if boxes is not None and detect:
            pts = np.asarray(boxes[i], dtype=float) / scale
            box = (
                float(pts[:, 0].min()),
                float(pts[:, 1].min()),
                float(pts[:, 0].max()),
                float(pts[:, 1].max()),
            )
        else:
            box = (0.0, 0.0, float(image.width), float(image.height))
        lines.append(OcrLine(str(text), box, float(scores[i]) if i < len(scores) else 0.0))
    return sorted(lines, key=lambda line: (round(line.center_y / max(line.height, 1)), line.box[0]))


def _rows(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """MRZ-looking lines, with fragments of one row (the detector sometimes cuts a line in
    two) joined left to right; sorted top to bottom. Only adjacent fragments made of MRZ
    characters are joined, so printed text beside the zone is not glued onto it."""
    candidates = []
    for line in lines:
        text = mrz.normalize_line(line.text)
        upright = line.box[2] - line.box[0] > line.height  # not vertical text
        if upright and len(text) >= 4 and sum(ch in mrz.CHARSET for ch in text) >= len(text) - 1:
            candidates.append(line)
    candidates.sort(key=lambda line: line.center_y)
    rows: list[list[OcrLine]] = []
    for line in candidates:
        for row in rows:
            ref = row[0]
            if abs(line.center_y - ref.center_y) < 0.5 * min(ref.height, line.height):
                row.append(line)
                break
        else:
            rows.append([line])
    joined = []
    for row in rows:
        row.sort(key=lambda line: line.box[0])
        clusters: list[list[OcrLine]] = [[row[0]]]
        for line in row[1:]:
            prev = clusters[-1][-1]
            if line.box[0] - prev.box[2] < 1.5 * max(prev.height, line.height):
                clusters[-1].append(line)
            else:
                clusters.append([line])
        for cluster in clusters:
            text = "".join(mrz.normalize_line(line.text) for line in cluster)
            box = (
                min(line.box[0] for line in cluster),
                min(line.box[1] for line in cluster),
                max(line.box[2] for line in cluster),
                max(line.box[3] for line in cluster),
            )
            joined.append(OcrLine(text, box, min(line.score for line in cluster)))
    return sorted(
        (line for line in joined if mrz.looks_like_mrz(line.text)), key=lambda line: line.center_y
    )


def _rotate_box(box: Box, turn: int, width: int, height: int) -> Box:
    """A box found on the image turned by ``turn`` degrees counter-clockwise -> the same box
    on the original image (``width`` x ``height``)."""
    x0, y0, x1, y1 = box
    if turn == 90:  # turned image is height x width; (x, y) <- (width - y, x)... inverse
        return (width - y1, x0, width - y0, x1)
    if turn == 180:
        return (width - x1, height - y1, width - x0, height - y0)
    if turn == 270:
        return (y0, height - x1, y1, height - x0)
    return box


def _band(image: Image.Image, rows: Sequence[OcrLine], expected: int) -> Image.Image | None:
    """The MRZ band: the rows found, widened to the full width and by a line above and
    below (a line the first pass missed is often just there), enlarged so that a line is
    about 64 pixels high, grey and contrast-stretched."""
    if not rows:
        return None
    height = float(np.median([row.height for row in rows]))
    top = min(row.box[1] for row in rows)
    bottom = max(row.box[3] for row in rows)
    missing = max(0, expected - len(rows))
    pad = height * (0.6 + 1.3 * missing)
    y0 = max(0, int(top - pad))
    y1 = min(image.height, int(bottom + pad))
    x0 = max(0, int(min(row.box[0] for row in rows) - 2 * height))
    x1 = min(image.width, int(max(row.box[2] for row in rows) + 2 * height))
    if y1 - y0 < 4 or x1 - x0 < 4:
        return None
    crop = image.crop((x0, y0, x1, y1)).convert("L")
    scale = min(4.0, max(1.0, 64.0 / max(height, 1.0)))
    if scale > 1.05:
        crop = crop.resize(
            (int(crop.width * scale), int(crop.height * scale)), Image.Resampling.LANCZOS
        )
    crop = ImageOps.autocontrast(crop, cutoff=1)
    return crop.convert("RGB")


def _line_crops(
    image: Image.Image, rows: Sequence[OcrLine], *, sharpen: bool, height: int = 64
) -> list[Image.Image]:
    """Each MRZ line cut tightly out of ``image`` (its neighbours left out), grey, enlarged
    to about ``height`` pixels, contrast-stretched (and sharpened), on a white margin: the
    recognizer then sees one line and nothing else."""
    out = []
    gray = image.convert("L")
    for row in rows:
        x0, y0, x1, y1 = row.box
        dy = row.height * 0.1
        dx = row.height * 0.5
        piece = gray.crop(
            (
                max(0, int(x0 - dx)),
                max(0, int(y0 - dy)),
                min(gray.width, int(x1 + dx)),
                min(gray.height, int(y1 + dy)),
            )
        )
        if piece.width < 8 or piece.height < 8:
            continue
        scale = min(4.0, height / piece.height)
        if scale > 1.05:
            size = (round(piece.width * scale), round(piece.height * scale))
            piece = piece.resize(size, Image.Resampling.LANCZOS)
        piece = ImageOps.autocontrast(piece, cutoff=1)
        if sharpen:
            piece = piece.filter(ImageFilter.UnsharpMask(radius=2, percent=120, threshold=2))
        piece = ImageOps.expand(piece, border=max(2, piece.height // 3), fill=255)
        out.append(piece.convert("RGB"))
    return out


def _read_lines(crops: Sequence[Image.Image]) -> MrzResult | None:
    texts = ["".join(found.text for found in run(crop, detect=False)) for crop in crops]
    return mrz.read(texts)


def _vote(groups: Sequence[Sequence[str]]) -> list[str]:
    """Character-by-character majority over reads of the same lines (reads of another
    length for a line are left out of that line's vote)."""
    if not groups:
        return []
    count = max(len(g) for g in groups)
    voted = []
    for i in range(count):
        reads = [g[i] for g in groups if len(g) > i]
        length = Counter(len(r) for r in reads).most_common(1)[0][0]
        same = [r for r in reads if len(r) == length]
        voted.append(
            "".join(Counter(chars).most_common(1)[0][0] for chars in zip(*same, strict=True))
        )
    return voted


def _expected_lines(rows: Sequence[OcrLine]) -> int:
    lengths = [len(row.text) for row in rows]
    if lengths and np.median(lengths) < 33:
        return 3
    return 2


def _pick(reads: Sequence[MrzResult]) -> MrzResult | None:
    """The read to report: the valid lines most reads give (ties go to the earlier read, the
    whole-image one first), with the fewest repairs; when none is valid, the lines most
    reads give, then the read passing the most check digits."""
    valid = [r for r in reads if r.valid]
    counts = Counter(r.lines for r in valid)
    if counts:
        lines, _ = counts.most_common(1)[0]
        return min((r for r in valid if r.lines == lines), key=lambda r: len(r.repairs))
    if not reads:
        return None
    counts = Counter(r.lines for r in reads)
    return max(
        reads,
        key=lambda r: (counts[r.lines], sum(r.check_digits.values()), -len(r.errors)),
    )


def read_mrz(
    image: Image.Image, lines: Sequence[OcrLine]
) -> tuple[MrzResult | None, list[MrzResult], bool]:
    """The MRZ of ``image`` given the first pass's ``lines``: the further passes and the
    vote. Returns (chosen read, every read, confirmed)."""
    rows = _rows(lines)
    if not rows:
        return None, [], False
    independent: list[MrzResult] = []
    first = mrz.read([row.text for row in rows])
    if first is not None:
        independent.append(first)
    expected = _expected_lines(rows)
    if first is not None and first.valid and len(rows) >= expected:
        # The first pass found every line: read each of its lines again, cut out, in two
        # preparations (recognition only: cheap). Two sizes, because the recognizer's
        # errors depend on the scale: reads at one size agree with each other too easily.
        used = [row for row in rows if row.text in first.raw]
        for sharpen, height in ((False, 32), (True, 48)):
            again = _read_lines(_line_crops(image, used, sharpen=sharpen, height=height))
            if again is not None:
                independent.append(again)
    else:
        # A line missing or failing: detect again on the enlarged band, which often finds
        # the missing line, then read the band's lines one by one.
        band = _band(image, rows, expected)
        band_rows = _rows(run(band, side=None)) if band is not None else []
        second = mrz.read([row.text for row in band_rows])
        if second is not None:
            independent.append(second)
        if band is not None and band_rows:
            third = _read_lines(_line_crops(band, band_rows, sharpen=True))
            if third is not None:
                independent.append(third)
    groups = [list(r.lines) for r in independent]
    reads = list(independent)
    same_shape = [g for g in groups if len(g) == len(groups[0])] if groups else []
    if len(same_shape) >= 3:
        voted = mrz.read(_vote(same_shape))
        if voted is not None:
            reads.append(voted)
    chosen = _pick(reads)
    return chosen, reads, confirmed(chosen, independent)


def confirmed(chosen: MrzResult | None, independent: Sequence[MrzResult]) -> bool:
    """Two independent reads give the chosen lines and pass their check digits, and at least
    one of them needed no repair: a repair is a guess that a misprint could also satisfy, so
    two reads repaired the same way confirm nothing."""
    if chosen is None or not chosen.valid:
        return False
    agreeing = [r for r in independent if r.valid and r.lines == chosen.lines]
    return len(agreeing) >= 2 and any(not r.repairs for r in agreeing)


def read_document(image: Image.Image, *, turns: bool = True) -> DocumentText:
    """Every text line of ``image`` and its MRZ (if any), read and cross-checked. When no MRZ
    is found upright and ``turns`` is set, the image is read again turned: by 90 and 270
    degrees when it is portrait (documents are landscape), else by 180. Without an MRZ the
    lines of the upright image are returned."""
    image = image.convert("RGB")
    if min(image.size) < 32:
        return DocumentText(lines=[], mrz=None)
    upright: list[OcrLine] | None = None
    order = [0]
    if turns:
        order += [90, 270] if image.height > image.width * 1.1 else [180]
    for turn in order:
        turned = image if turn == 0 else image.rotate(turn, expand=True)
        lines = run(turned, side=PAGE_SIDE)
        if upright is None:
            upright = lines
        if not _rows(lines):
            continue
        chosen, reads, confirmed = read_mrz(turned, lines)
        if chosen is None:
            continue
        if turn:
            lines = [
                OcrLine(
                    line.text,
                    _rotate_box(line.box, turn, image.width, image.height),
                    line.score,
                )
                for line in lines
            ]
        return DocumentText(
            lines=lines, mrz=chosen, mrz_reads=reads, mrz_confirmed=confirmed, rotation=turn
        )
    return DocumentText(lines=upright or [], mrz=None)
