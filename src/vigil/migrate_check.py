"""``alembic check`` on every database we support: models and migrations must not drift.

Runs against a fresh SQLite file always, and against a scratch PostgreSQL database when one
answers (required under ``CI=true``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid

from alembic import command
from sqlalchemy import create_engine, text

from vigil.config import Settings
from vigil.db import make_engine
from vigil.migrate import alembic_config, upgrade

PG_ADMIN_URL = os.environ.get(
    "VIGIL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def check(url: str) -> None:
    engine = make_engine(Settings(database_url=url))
    upgrade(engine)
    cfg = alembic_config(url)
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        command.check(cfg)
    engine.dispose()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        check(f"sqlite:///{tmp}/check.db")
        print("alembic check: sqlite ok")
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if in_ci:
            print(f"alembic check: PostgreSQL required under CI=true: {exc}", file=sys.stderr)
            return 1
        print(f"alembic check: postgresql skipped ({exc.__class__.__name__}: no server)")
        return 0
    name = f"vigil_check_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        check(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
        print("alembic check: postgresql ok")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
