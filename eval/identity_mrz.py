"""The MRZ reader on real specimen documents: data lines read exactly, false accepts, the
documents that correctly fail their check digits, and seconds per document.

    .venv/bin/python eval/identity_mrz.py [--data ../shared/data/idv] [--verbose]

Reads ``specimens/`` against ``specimens/ground_truth.json`` (the MRZ lines transcribed by
eye). For each image, ``ocr.read_document`` is timed end to end (every OCR pass included);
the engine is loaded and warmed up once before timing.

- exact: every line of the chosen read equals the ground truth.
- false accept: the chosen read passes its check digits but a line differs from the ground
  truth (must be 0: check digits do not prove a read right).
- correctly failing: the ground truth fails its own check digits and the read says so
  (``valid=False``), whatever its lines.
- confirmed: two independent reads agree (``mrz_confirmed``), and whether that was right.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from PIL import Image

from vigil.identity import mrz, ocr

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "idv"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run(data_dir: Path, *, verbose: bool = False) -> list[str]:
    folder = data_dir / "specimens"
    truth_file = folder / "ground_truth.json"
    if not truth_file.exists():
        return [f"MRZ: skipped, no {truth_file}"]
    truth: dict[str, list[str]] = json.loads(truth_file.read_text())
    ocr.engine()
    ocr.run(Image.new("RGB", (200, 60), "white"))  # warm up: first inference is slower
    rows = []
    times = []
    cpu = []
    exact = false_accepts = confirmed = confirmed_wrong = 0
    failing_truth = failing_reported = 0
    for name, lines in truth.items():
        image = Image.open(folder / name).convert("RGB")
        started, started_cpu = time.perf_counter(), time.process_time()
        doc = ocr.read_document(image)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        expected = tuple(lines)
        truth_valid = mrz.parse(lines).valid
        read = doc.mrz
        got = read.lines if read else ()
        is_exact = got == expected
        exact += is_exact
        false_accept = read is not None and read.valid and not is_exact
        false_accepts += false_accept
        if not truth_valid:
            failing_truth += 1
            failing_reported += read is not None and not read.valid
        if doc.mrz_confirmed:
            confirmed += 1
            confirmed_wrong += not is_exact
        status = "exact" if is_exact else ("FALSE ACCEPT" if false_accept else "miss")
        if read is not None and not read.valid:
            status += ", fails check digits"
            if not truth_valid:
                status += " (as printed)"
        if read is not None and read.repairs:
            status += f", {len(read.repairs)} repaired"
        if doc.mrz_confirmed:
            status += ", confirmed"
        rows.append(f"  {name:36} {times[-1]:5.2f}s {cpu[-1]:5.2f}s cpu  {status}")
        if verbose or not is_exact:
            for want, have in zip(expected, got or ("",) * len(expected), strict=False):
                mark = "   " if want == have else " ≠ "
                rows.append(f"      {mark}{have or '(nothing)'}")
                if want != have:
                    rows.append(f"      want {want}")
    total = len(truth)
    out = [
        "MRZ on specimen documents (ocr.read_document + mrz.read)",
        *rows,
        "",
        f"  documents                         {total}",
        f"  data lines read exactly           {exact}/{total}",
        f"  false accepts                     {false_accepts}",
        f"  failing as printed, reported      {failing_reported}/{failing_truth}",
        f"  confirmed by two reads            {confirmed} ({confirmed_wrong} of them wrong)",
        f"  seconds per document, median      {statistics.median(times):.2f}",
        f"  seconds per document, p95         {_percentile(times, 0.95):.2f}",
        f"  CPU seconds per document, median  {statistics.median(cpu):.2f} (all threads)",
        f"  CPU seconds per document, p95     {_percentile(cpu, 0.95):.2f}",
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    print("\n".join(run(args.data, verbose=args.verbose)))


if __name__ == "__main__":
    main()
