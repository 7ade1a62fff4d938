"""schemathesis against Vigil's OpenAPI document at full budget, and a table.

    .venv/bin/python bench/schemathesis.py                       # SQLite, 100 examples/op
    .venv/bin/python bench/schemathesis.py --backend postgresql --examples 200
    .venv/bin/python bench/schemathesis.py --pg-url postgresql+psycopg://user:pw@host/postgres

What it does: migrates a scratch database (a temporary SQLite file, or a database
``vigil_bench_st_<pid>`` created through ``--pg-url`` / ``VIGIL_BENCH_PG_URL`` and dropped at
the end), loads the default queues and the shipped policy pack so that some generated
requests find something, logs in an admin, and sends every /v1 operation up to ``--examples``
generated requests (hypothesis, derandomized from ``--seed``) through an in-process client.
Each response is checked for a 5xx status and against the response schema; the table lists the
operations with a failure and the totals, then every failure (request, status, check, body).
``tests/api/test_schemathesis.py`` runs the same in CI with 2 examples per operation.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

# This file's own name would shadow the schemathesis package: take bench/ off the path.
if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from tests.factories import login_as, make_staff
from tests.security import api_fuzz

from vigil.app import create_app
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.migrate import upgrade
from vigil.policies import pack as policy_pack

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _run(database_url: str, data_dir: Path, examples: int, seed: int) -> api_fuzz.Report:
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key="bench-secret-key-not-for-production",  # type: ignore[arg-type]
        serve_worker=False,
    )
    engine = make_engine(settings)
    upgrade(engine)
    db = make_sessionmaker(engine)()
    routing.ensure_default_queues(db)
    policy_pack.load_pack(db, Principal.system("bench"))
    db.commit()
    app = create_app(settings, run_worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        login_as(client, db, make_staff(db, role=Role.admin))
        report = api_fuzz.run(client, max_examples=examples, seed=seed)
    db.close()
    engine.dispose()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--examples", type=int, default=100, help="per operation")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--pg-url", default=os.environ.get("VIGIL_BENCH_PG_URL", DEFAULT_PG))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "sqlite":
            report = _run(f"sqlite:///{tmp}/bench.db", Path(tmp), args.examples, args.seed)
        else:
            name = f"vigil_bench_st_{os.getpid()}"
            admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
                report = _run(url, Path(tmp), args.examples, args.seed)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print(f"backend {args.backend}, {args.examples} examples per operation, seed {args.seed}\n")
    print(api_fuzz.table(report))
    problems = report.server_errors + report.schema_violations + report.generation_errors
    for line in problems:
        print("-", line)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
