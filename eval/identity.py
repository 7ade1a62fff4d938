"""Evaluate identity verification end to end; print every section's table.

    .venv/bin/python eval/identity.py [--data ../shared/data/idv] [--only mrz,barcodes,...]

Sections (each a module beside this one exposing ``run(data_dir: Path) -> list[str]``):

- ``mrz``: the MRZ reader on specimen documents (eval/identity_mrz.py);
- ``barcodes``: PDF417 payloads and the AAMVA example (eval/identity_barcodes.py);
- ``faces``: genuine and impostor face distances, the thresholds' error rates
  (eval/identity_faces.py);
- ``simulated``: the full pipeline on the simulator's documents, correct outcome per defect
  (eval/identity_simulated.py).

A section whose module or data is missing says so and the others still run. Nothing here is
asserted: read the tables.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "idv"
SECTIONS = {
    "mrz": "identity_mrz",
    "barcodes": "identity_barcodes",
    "faces": "identity_faces",
    "simulated": "identity_simulated",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", default="", help="comma-separated sections")
    args = parser.parse_args()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    for name in wanted:
        module_name = SECTIONS.get(name)
        print(f"== {name}")
        if module_name is None:
            print(f"  unknown section (choose from {', '.join(SECTIONS)})")
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            print(f"  skipped: {exc}")
            continue
        started = time.perf_counter()
        for line in module.run(args.data):
            print(line)
        print(f"  ({time.perf_counter() - started:.0f} s)")
        print()


if __name__ == "__main__":
    main()
