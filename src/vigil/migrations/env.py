"""Alembic environment. The URL comes from the caller (``vigil db upgrade`` passes the
configured one) or, when run as plain ``alembic``, from ``VIGIL_DATABASE_URL``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from vigil.config import Settings
from vigil.db import make_engine
from vigil.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    engine = make_engine(Settings(database_url=url), poolclass=None)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
