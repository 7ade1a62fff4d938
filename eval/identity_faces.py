"""Calibrate and evaluate the selfie-vs-document face match (``vigil.identity.faces``).

Data (evaluation only, never copied into the project): ``../shared/data/idv/faces``, 9 photos
of 4 people. The file name says who is who: ``PERSON__FILE.jpg``, except the ``test`` and
``test_images`` folders, where the person is the file name without its digits
(``test__obama1.jpg`` is Obama). Every pair of photos is a genuine pair (same person) or an
impostor pair.

Three conditions are measured, each with the distance of every pair:

1. ``photo vs photo``: the photos as they are (8 genuine, 28 impostor pairs);
2. ``document vs photo``: one side of each pair turned into a document portrait first, the way
   an ID card shows it: the face cropped passport-style, shrunk to a 120-px-wide face, flatter
   contrast and colour, pasted on a card and saved as a JPEG at quality 70 (both directions:
   16 genuine, 56 impostor pairs);
3. ``simulator``: the two public-domain portraits of :mod:`vigil.simulate.portraits`,
   document variant vs 5 selfie variants each (10 genuine, 10 impostor pairs); skipped when
   scikit-image/matplotlib are absent.

For each: min / median / max distance of genuine and impostor pairs; then, over all pairs, the
false match rate (impostor at or below the threshold) and false non-match rate (genuine above
it) at a sweep of thresholds, and the outcome bands at the configured thresholds: match
(<= ``identity_face_match_distance``), review (between), mismatch (>
``identity_face_mismatch_distance``). Seconds per comparison (detection + 2 encodings).

A second table checks the image-quality limits (``identity.quality``) against the 39 real
specimens of ``idv/specimens`` (all legible documents, scanned or photographed at 220-1340 px):
blur and glare figures and which images a limit would refuse.

    .venv/bin/python eval/identity_faces.py [--data ../shared/data/idv]

Each section of ``eval/identity.py`` is a ``run(data_dir) -> list[str]``; this is one.
"""

from __future__ import annotations

import argparse
import io
import itertools
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from vigil.config import Settings
from vigil.identity import faces, quality

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "idv"
SWEEP = (0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70)

Pair = tuple[str, float]  # (label, distance)


def _idv(data_dir: Path) -> Path:
    return data_dir / "idv" if (data_dir / "idv").is_dir() else data_dir


def person_of(name: str) -> str:
    folder, _, file = name.partition("__")
    if folder.startswith("test"):
        return "".join(c for c in Path(file).stem if not c.isdigit())
    return folder


def as_document(photo: Image.Image) -> Image.Image | None:
    """The face of ``photo`` printed as an ID card's portrait, photographed back."""
    box, _, angle = faces.largest_face(photo)
    if box is None:
        return None
    upright = faces.turn(photo, angle)
    if angle:
        box = faces.find_faces(upright)[0]
    w = box.x1 - box.x0
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2 + 0.12 * w
    cw, ch = 2.0 * w, 2.0 * w * 45 / 35
    crop = upright.crop(
        (round(cx - cw / 2), round(cy - ch / 2), round(cx + cw / 2), round(cy + ch / 2))
    )
    portrait = crop.resize((240, 308), Image.Resampling.LANCZOS)  # a ~120-px-wide face
    portrait = ImageEnhance.Color(ImageEnhance.Contrast(portrait).enhance(0.85)).enhance(0.7)
    card = Image.new("RGB", (1000, 630), (225, 228, 236))
    card.paste(portrait, (50, 150))
    buf = io.BytesIO()
    card.save(buf, "JPEG", quality=70)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def _encoding(image: Image.Image) -> np.ndarray | None:
    box, _, angle = faces.largest_face(image)
    return None if box is None else faces.encode_upright(image, box, angle)


def _pairs(
    encodings: dict[str, np.ndarray],
    people: dict[str, str],
    others: dict[str, np.ndarray] | None = None,
) -> tuple[list[Pair], list[Pair]]:
    genuine: list[Pair] = []
    impostor: list[Pair] = []
    if others is None:
        combos = list(itertools.combinations(sorted(encodings), 2))
        source = encodings
    else:
        combos = [(a, b) for a in sorted(others) for b in sorted(encodings) if a != b]
        source = {**encodings}
    for a, b in combos:
        left = others[a] if others is not None else source[a]
        d = faces.distance(left, source[b])
        (genuine if people[a] == people[b] else impostor).append((f"{a} / {b}", d))
    return genuine, impostor


def _summary(label: str, genuine: list[Pair], impostor: list[Pair]) -> list[str]:
    def stats(pairs: list[Pair]) -> str:
        if not pairs:
            return "   -      -      -  "
        ds = [d for _, d in pairs]
        return f"{min(ds):6.3f} {statistics.median(ds):6.3f} {max(ds):6.3f}"

    return [
        f"{label:<20} {len(genuine):>4} {stats(genuine)}   {len(impostor):>4} {stats(impostor)}"
    ]


def run(data_dir: Path) -> list[str]:
    folder = _idv(data_dir) / "faces"
    out = ["", "## Face match (selfie vs document portrait)", ""]
    if not folder.is_dir():
        return [*out, f"skipped: {folder} not found"]
    settings = Settings()
    match, mismatch = (
        settings.identity_face_match_distance,
        settings.identity_face_mismatch_distance,
    )
    faces.models()  # load once, outside the timings

    photos: dict[str, Image.Image] = {}
    for path in sorted(folder.glob("*.jp*g")):
        with Image.open(path) as im:
            photos[path.name] = ImageOps.exif_transpose(im).convert("RGB")
    people = {name: person_of(name) for name in photos}
    encodings: dict[str, np.ndarray] = {}
    doc_encodings: dict[str, np.ndarray] = {}
    missing = []
    for name, photo in photos.items():
        enc = _encoding(photo)
        if enc is None:
            missing.append(name)
            continue
        encodings[name] = enc
        document = as_document(photo)
        doc_enc = _encoding(document) if document is not None else None
        if doc_enc is None:
            missing.append(f"{name} (as document)")
        else:
            doc_encodings[name] = doc_enc

    conditions: list[tuple[str, list[Pair], list[Pair]]] = []
    conditions.append(("photo vs photo", *_pairs(encodings, people)))
    conditions.append(("document vs photo", *_pairs(encodings, people, others=doc_encodings)))

    from vigil.simulate import portraits

    if portraits.available():
        sim_enc: dict[str, np.ndarray] = {}
        sim_people: dict[str, str] = {}
        documents: dict[str, np.ndarray] = {}
        for person in (0, 1):
            doc = portraits.portrait(person, variant="document")
            assert doc is not None
            card = Image.new("RGB", (1200, 760), (236, 232, 220))
            card.paste(doc.resize((320, 410)), (60, 150))
            enc = _encoding(card)
            if enc is not None:
                documents[f"doc{person}"] = enc
                sim_people[f"doc{person}"] = str(person)
            for seed in range(5):
                selfie = portraits.portrait(person, variant="selfie", seed=seed)
                assert selfie is not None
                enc = _encoding(selfie)
                if enc is not None:
                    sim_enc[f"selfie{person}.{seed}"] = enc
                    sim_people[f"selfie{person}.{seed}"] = str(person)
        conditions.append(("simulator", *_pairs(sim_enc, sim_people, others=documents)))
    else:
        out.append("simulator portraits skipped: scikit-image / matplotlib not installed")

    out.append(
        f"photos: {len(photos)} of {len(set(people.values()))} people; "
        f"no face found: {missing or 'none'}"
    )
    out.append("")
    out.append(
        f"{'condition':<20} {'gen':>4} {'min':>6} {'median':>6} {'max':>6}   "
        f"{'imp':>4} {'min':>6} {'median':>6} {'max':>6}"
    )
    for label, genuine, impostor in conditions:
        out.extend(_summary(label, genuine, impostor))

    all_genuine = [d for _, g, _ in conditions for _, d in g]
    all_impostor = [d for _, _, i in conditions for _, d in i]
    out.append("")
    out.append("threshold   FMR (impostor <= t)   FNMR (genuine > t)")
    for t in SWEEP:
        fmr = sum(d <= t for d in all_impostor)
        fnmr = sum(d > t for d in all_genuine)
        out.append(
            f"  {t:4.2f}      {fmr:>3}/{len(all_impostor)} = {fmr / max(1, len(all_impostor)):5.1%}"
            f"      {fnmr:>3}/{len(all_genuine)} = {fnmr / max(1, len(all_genuine)):5.1%}"
        )
    out.append("")
    out.append(f"configured: match <= {match}, mismatch > {mismatch}")
    for label, genuine, impostor in conditions:
        g = [d for _, d in genuine]
        i = [d for _, d in impostor]
        out.append(
            f"  {label:<20} genuine: match {sum(d <= match for d in g)}, review "
            f"{sum(match < d <= mismatch for d in g)}, mismatch {sum(d > mismatch for d in g)}   "
            f"impostor: match {sum(d <= match for d in i)}, review "
            f"{sum(match < d <= mismatch for d in i)}, mismatch {sum(d > mismatch for d in i)}"
        )
    closest = sorted((d, label) for _, _, imp in conditions for label, d in imp)[:3]
    farthest = sorted(((d, label) for _, gen, _ in conditions for label, d in gen), reverse=True)[
        :3
    ]
    out.append("")
    out.append("closest impostor pairs: " + "; ".join(f"{label} {d:.3f}" for d, label in closest))
    out.append("farthest genuine pairs: " + "; ".join(f"{label} {d:.3f}" for d, label in farthest))

    timings = []
    names = sorted(photos)
    for a, b in itertools.pairwise(names):
        start = time.perf_counter()
        faces.compare(photos[a], photos[b])
        timings.append(time.perf_counter() - start)
    if timings:
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        out.append(
            "seconds per comparison (photos 0.5-3 MP): "
            f"median {statistics.median(timings):.2f}, p95 {p95:.2f}"
        )
    return [*out, *quality_section(_idv(data_dir))]


def quality_section(idv: Path) -> list[str]:
    """Blur and glare (``identity.quality``) of the real specimens, which are all legible
    documents: the configured limits should pass them (Netherland is the blurriest)."""
    folder = idv / "specimens"
    out = ["", "## Image quality on the specimens (all legible documents)", ""]
    if not folder.is_dir():
        return [*out, f"skipped: {folder} not found"]
    settings = Settings()
    rows = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg")):
        with Image.open(path) as im:
            report = quality.assess(
                im.convert("RGB"),
                blur_min=settings.identity_blur_min,
                glare_max=settings.identity_glare_max,
                min_short_side=settings.identity_min_pixels_short_side,
            )
        rows.append((path.name, report))
    blurs = sorted(r.blur for _, r in rows)
    out.append(
        f"{len(rows)} images; blur min {blurs[0]:.0f}, median {statistics.median(blurs):.0f} "
        f"(limit {settings.identity_blur_min:g}); glare > 0 on "
        f"{sum(r.glare > 0 for _, r in rows)} (max {max(r.glare for _, r in rows):.3f}, "
        f"limit {settings.identity_glare_max:g})"
    )
    for reason in sorted({reason for _, r in rows for reason in r.reasons}):
        names = [name for name, r in rows if reason in r.reasons]
        out.append(f"  {reason.value}: {len(names)} ({', '.join(names)})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    print("\n".join(run(args.data)))


if __name__ == "__main__":
    main()
