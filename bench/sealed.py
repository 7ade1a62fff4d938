"""Benchmark the cost of sealed fields (docs/encryption.md).

1. **Crypto alone**: seal and open a verification's ``fields`` and ``checks`` as the pipeline
   stores them (the test suite's realistic results, ~2 KB of JSON), and a date of birth.
2. **Through the ORM, on SQLite** (a scratch database in a temporary folder, schema from the
   migrations): write a verification's results (the UPDATE that the pipeline does, sealing
   on flush) and read them back in a fresh session (load + open), compared with the same
   work on the same bytes in a plain JSON column of the row, so the table shows what sealing
   adds.

    .venv/bin/python bench/sealed.py            # 2000 runs each
    .venv/bin/python bench/sealed.py --runs 500

Prints a table (median, p99, per operation, in microseconds); nothing is asserted.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr
from tests.identity.conftest import results_checks, results_fields

from vigil.accounts.models import Account
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind
from vigil.kit import sealed
from vigil.kit.blobs import new_key
from vigil.migrate import upgrade


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    runs = args.runs
    rows: list[tuple[str, float, float]] = []

    ring = sealed.Keyring([base64.b64decode(new_key())])
    fields, checks = results_fields(), results_checks()
    bind = {"table": "identity_verifications", "column": "fields", "row": 1}
    token = ring.seal_json(fields, **bind)  # type: ignore[arg-type]
    size = len(json.dumps(fields))
    rows.append(
        (f"seal fields ({size} B JSON)", *_time(lambda: ring.seal_json(fields, **bind), runs))
    )  # type: ignore[arg-type]
    rows.append(
        (f"open fields ({size} B JSON)", *_time(lambda: ring.open_json(token, **bind), runs))
    )  # type: ignore[arg-type]
    rows.append(("json.dumps fields (reference)", *_time(lambda: json.dumps(fields), runs)))
    dob = {"table": "accounts", "column": "date_of_birth", "row": 1}
    dob_token = ring.seal_json("1974-08-12", **dob)  # type: ignore[arg-type]
    rows.append(("seal a date of birth", *_time(lambda: ring.seal_json("1974-08-12", **dob), runs)))  # type: ignore[arg-type]
    rows.append(("open a date of birth", *_time(lambda: ring.open_json(dob_token, **dob), runs)))  # type: ignore[arg-type]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.db",
            data_dir=Path(tmp),
            field_keys=SecretStr(new_key()),
        )
        engine = make_engine(settings)
        upgrade(engine)
        factory = make_sessionmaker(engine)
        with factory() as s:
            account = Account(
                external_id="bench", side="freelancer", date_of_birth=date(1974, 8, 12)
            )
            s.add(account)
            s.flush()
            v = IdentityVerification(
                account_id=account.id, kind=DocumentKind.id_card, request_sha256="0" * 64,
                submitted_by="bench",
            )  # fmt: skip
            s.add(v)
            s.commit()
            vid = v.id

        def write_sealed() -> None:
            with factory() as s:
                row = s.get(IdentityVerification, vid)
                assert row is not None
                row.fields, row.checks = fields, checks
                s.commit()

        def read_sealed() -> None:
            with factory() as s:
                row = s.get(IdentityVerification, vid)
                assert row is not None
                _ = (row.fields, row.checks)

        big_list = [json.dumps(fields), json.dumps(checks)]
        counter: list[int] = []

        def write_plain() -> None:
            # The same bytes into a plain JSON column of the same row (``reasons``).
            with factory() as s:
                row = s.get(IdentityVerification, vid)
                assert row is not None
                counter.append(1)  # a new value each time, so every run writes
                row.reasons = [*big_list, str(len(counter))]
                s.commit()

        def read_plain() -> None:
            with factory() as s:
                row = s.get(IdentityVerification, vid)
                assert row is not None
                _ = row.reasons

        orm_runs = max(50, runs // 4)
        rows.append(("ORM: write results, sealed (SQLite)", *_time(write_sealed, orm_runs)))
        rows.append(("ORM: write the same, plain JSON (SQLite)", *_time(write_plain, orm_runs)))
        rows.append(("ORM: load + open results (SQLite)", *_time(read_sealed, orm_runs)))
        rows.append(("ORM: load + read the same, plain JSON", *_time(read_plain, orm_runs)))
        engine.dispose()

    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'median µs':>10}  {'p99 µs':>10}")
    for name, median, p99 in rows:
        print(f"{name:<{width}}  {median:>10.1f}  {p99:>10.1f}")


if __name__ == "__main__":
    main()
