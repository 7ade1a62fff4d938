"""Fixtures for the job system's tests: the test job kinds and a table for their effects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from tests.jobs import handlers
from vigil.config import Settings
from vigil.jobs.models import Job
from vigil.jobs.worker import Worker


class Effects:
    """What handlers did, as committed to the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rows(self) -> list[tuple[int, int]]:
        with self.engine.connect() as conn:
            result = conn.execute(
                text(f"SELECT job_id, attempt FROM {handlers.EFFECTS_TABLE} ORDER BY job_id")
            )
            return [(int(r[0]), int(r[1])) for r in result]


@pytest.fixture
def effects(engine: Engine) -> Iterator[Effects]:
    table = handlers.EFFECTS_TABLE
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(text(f"CREATE TABLE {table} (job_id INTEGER NOT NULL, attempt INTEGER)"))
    yield Effects(engine)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


@pytest.fixture
def worker(settings: Settings, session_factory: sessionmaker[Session]) -> Worker:
    return Worker(settings, session_factory, name="worker-a")


def reload(factory: sessionmaker[Session], job_id: int) -> Job:
    with factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job
