"""Engine and session wiring.

Transactions are owned by the caller at the edge: the request dependency, the CLI command or
the job runner opens a session, commits on success and rolls back on error. Services only
``flush()``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's own BEGIN handling is off (isolation_level=None); take the write lock at the
    # start of every transaction so a read-then-write never fails with SQLITE_BUSY midway.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# The settings each engine was made from: sealed columns (``vigil.kit.sealed_orm``) find their
# keyring through the session's engine.
_engine_settings: weakref.WeakKeyDictionary[Engine, Settings] = weakref.WeakKeyDictionary()


def settings_of(engine: Engine) -> Settings | None:
    """The settings ``engine`` was made from by :func:`make_engine` (None for others)."""
    return _engine_settings.get(engine)


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    engine = _make_engine(settings, **kwargs)
    _engine_settings[engine] = settings
    return engine


def _make_engine(settings: Settings, **kwargs: Any) -> Engine:
    url = settings.database_url
    if settings.is_sqlite:
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit if the block succeeds, roll back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
