"""Fuzz the MRZ and AAMVA parsers for longer than CI does, and print a table.

    .venv/bin/python bench/fuzz_parsers.py                    # 20,000 examples per property
    .venv/bin/python bench/fuzz_parsers.py --examples 200000 --seed 7

The properties are those of ``tests/security/test_parser_fuzz.py`` (defined once, in
``tests/security/parser_props.py``): any input gives a result or the parser's own error; a
document built by the project's encoder parses back to its fields; a damaged one never
crashes the reader. atheris is not installed; hypothesis with a large budget stands in (it
shrinks what it finds to a small failing input, printed under the table).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from tests.security import parser_props as props

from vigil.identity import aamva, mrz


def _damaged_mrz(data: Any) -> None:
    fields, fmt = data.draw(props.mrz_documents())
    try:
        lines = mrz.build(fields, fmt)
    except ValueError:
        return
    props.mrz_damaged_read_never_raises(data.draw(props.damaged("\n".join(lines))).split("\n"))


def _damaged_aamva(data: Any) -> None:
    payload = aamva.encode(data.draw(props.aamva_elements), iin=data.draw(props.iins))
    props.aamva_parse_raises_only_its_error(data.draw(props.damaged(payload)))


PROPERTIES: dict[str, tuple[Any, Callable[..., None]]] = {
    "mrz.parse(any text)": (
        st.lists(props.any_text, max_size=4),
        props.mrz_parse_raises_only_its_error,
    ),
    "mrz.parse(shaped garbage)": (props.shaped_lines(), props.mrz_parse_raises_only_its_error),
    "mrz.read(OCR-like text)": (
        st.lists(st.one_of(props.ocr_like, props.mrz_line), max_size=5),
        props.mrz_read_never_raises,
    ),
    "mrz build -> parse": (props.mrz_documents(), props.mrz_round_trip),
    "mrz.read(damaged MRZ)": (st.data(), _damaged_mrz),
    "aamva.parse(any text/bytes)": (
        st.one_of(props.any_text, st.binary(max_size=300)),
        props.aamva_parse_raises_only_its_error,
    ),
    "aamva encode -> parse": (
        st.tuples(props.aamva_elements, props.iins),
        lambda pair: props.aamva_round_trip(*pair),
    ),
    "aamva.parse(damaged payload)": (st.data(), _damaged_aamva),
}


def run(
    name: str, strategy: Any, check: Callable[..., None], examples: int, at: int
) -> tuple[int, str | None, float]:
    count = 0

    @settings(
        max_examples=examples, database=None, deadline=None, print_blob=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @seed(at)
    @given(strategy)
    def prop(value: Any) -> None:
        nonlocal count
        count += 1
        check(value)

    started = time.perf_counter()
    try:
        prop()
        failure = None
    except Exception:  # a property failed: hypothesis has shrunk it; keep its report
        failure = traceback.format_exc(limit=-3)
    return count, failure, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=20_000, help="per property")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--only", help="run the properties whose name contains this")
    args = parser.parse_args()
    print(f"seed {args.seed}, up to {args.examples:,} examples per property\n")
    print(f"{'property':<32} {'examples':>9} {'failed':>7} {'seconds':>8} {'per s':>8}")
    failures: list[tuple[str, str]] = []
    for name, (strategy, check) in PROPERTIES.items():
        if args.only and args.only not in name:
            continue
        count, failure, seconds = run(name, strategy, check, args.examples, args.seed)
        print(
            f"{name:<32} {count:>9,} {'yes' if failure else 'no':>7} {seconds:>8.1f} "
            f"{count / seconds if seconds else 0:>8.0f}",
            flush=True,
        )
        if failure:
            failures.append((name, failure))
    for name, failure in failures:
        print(f"\n--- {name} ---\n{failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
