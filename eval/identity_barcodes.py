"""Evaluate the PDF417 reader and the AAMVA parser on reference data nobody on the project
wrote.

Data (evaluation only, never copied into the project), under ``../shared/data/idv``:

- ``pdf417/``: 58 PDF417 images (real photos and synthetic symbols: rotated, cut, aliased,
  flipped, mixed ECIs, Macro PDF417 messages split over several symbols and images) with
  their exact payloads (``NAME.txt`` or ``NAME.bin``; a message split over ``NAME-01``,
  ``NAME-02``... images has one payload file ``NAME``). A payload is read exactly when the
  bytes ``identity.barcode.read_pdf417`` returns equal the ``.bin``/``.txt`` bytes, or, for
  text with ECI charset switches, when the ECI-decoded text equals the ``.txt`` (UTF-8).
- ``aamva/va_example.txt``: the AAMVA DL/ID 2020 Annex D example (Virginia), parsed field by
  field with ``identity.aamva.parse``, and the same payload printed as a PDF417 by
  ``barcode.render_pdf417`` and read back.

Prints: payloads read exactly / total, each miss with what came back, median and p95
seconds per image; then every AAMVA element with its meaning and the document fields.

    .venv/bin/python eval/identity_barcodes.py [--data ../shared/data/idv]

Each section of ``eval/identity.py`` is a ``run(data_dir) -> list[str]``; this is one.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections import defaultdict
from pathlib import Path

from PIL import Image

from vigil.identity import aamva, barcode

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "idv"
IMAGE_SUFFIXES = {".png", ".webp", ".jpg", ".jpeg", ".gif", ".bmp"}


def _idv(data_dir: Path) -> Path:
    return data_dir / "idv" if (data_dir / "idv").is_dir() else data_dir


def _expected(folder: Path, stem: str) -> tuple[str, bytes] | None:
    for ext in (".bin", ".txt"):
        path = folder / f"{stem}{ext}"
        if path.exists():
            return stem, path.read_bytes()
    return None


def _groups(folder: Path) -> dict[str, list[Path]]:
    """Payload name -> its images in order (a message over several images is one group)."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for image in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        if _expected(folder, image.stem) is not None:
            groups[image.stem].append(image)
            continue
        base = re.sub(r"-\d+$", "", image.stem)
        groups[base].append(image)
    return dict(groups)


def _short(data: bytes, limit: int = 40) -> str:
    text = repr(data[:limit])
    return text + ("..." if len(data) > limit else "")


def pdf417_section(folder: Path) -> list[str]:
    if not folder.is_dir():
        return [f"PDF417: skipped, {folder} not found"]
    lines = ["PDF417 payloads read exactly (identity.barcode.read_pdf417)", ""]
    timings: list[float] = []
    exact = total = 0
    misses: list[str] = []
    images = 0
    for name, paths in sorted(_groups(folder).items()):
        expected = _expected(folder, name)
        if expected is None:
            misses.append(f"  {name}: no payload file")
            continue
        total += 1
        data = b""
        texts = ""
        for path in paths:
            picture = Image.open(path).convert("RGB")
            started = time.perf_counter()
            symbols = barcode.read_pdf417_symbols(picture)
            payloads = barcode.read_pdf417(picture)
            timings.append(time.perf_counter() - started)
            images += 1
            data += b"".join(payloads)
            texts += "".join(s.text for s in symbols)
        want = expected[1]
        ok = data == want or texts.encode("utf-8") == want
        exact += ok
        if not ok:
            got = _short(data) if data else "nothing"
            misses.append(f"  {name} ({len(paths)} image(s)): expected {_short(want)}, got {got}")
    lines.append(f"payloads read exactly: {exact} / {total}  ({images} images)")
    if timings:
        ordered = sorted(timings)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        lines.append(
            f"seconds per image: median {statistics.median(ordered):.3f}, p95 {p95:.3f}, "
            f"max {ordered[-1]:.3f}"
        )
    if misses:
        lines += ["", "misses:", *misses]
    return lines


def aamva_section(path: Path) -> list[str]:
    if not path.exists():
        return [f"AAMVA: skipped, {path} not found"]
    payload = path.read_bytes()
    result = aamva.parse(payload)
    lines = [
        "AAMVA DL/ID example (Virginia, Annex D) parsed field by field",
        "",
        f"version {result.version}, jurisdiction version {result.jurisdiction_version}, "
        f"IIN {result.iin} -> {result.jurisdiction} "
        f"(matches the address: {result.jurisdiction_matches_iin}), "
        f"standard header: {result.header_standard}",
        "subfiles: "
        + ", ".join(f"{s['type']} at {s['offset']} ({s['length']} bytes)" for s in result.subfiles),
        "",
        f"{'element':<8} {'value':<28} meaning",
    ]
    known = 0
    for key, value in result.elements.items():
        meaning = aamva.ELEMENTS.get(key)
        if meaning is None and key.startswith("Z"):
            meaning = f"jurisdiction-specific ({key[1]})"
        elif meaning is not None:
            known += 1
        lines.append(f"{key:<8} {value:<28} {meaning or '(unknown)'}")
    lines += [
        "",
        f"elements parsed: {len(result.elements)} ({known} standard, "
        f"{len(result.elements) - known} jurisdiction-specific)",
        "fields: "
        + ", ".join(f"{k}={v}" for k, v in result.fields.to_json().items() if v is not None),
        f"errors: {result.errors or 'none'}",
        f"warnings: {result.warnings or 'none'}",
    ]
    symbol = barcode.render_pdf417(payload)
    read = barcode.read_pdf417(symbol)
    lines.append(
        "printed as PDF417 and read back: "
        + ("exact" if read == [payload] else f"MISMATCH ({[_short(r) for r in read]})")
    )
    return lines


def run(data_dir: Path) -> list[str]:
    idv = _idv(data_dir)
    return [
        *pdf417_section(idv / "pdf417"),
        "",
        *aamva_section(idv / "aamva" / "va_example.txt"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    print("\n".join(run(args.data)))


if __name__ == "__main__":
    main()
