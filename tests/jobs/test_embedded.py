"""``vigil serve`` runs one in-process worker in the embedded mode."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.jobs.conftest import Effects, reload
from vigil.app import create_app
from vigil.config import Settings
from vigil.jobs.models import JobStatus
from vigil.jobs.service import enqueue


def test_the_served_app_runs_jobs_in_process(
    settings: Settings, session_factory: sessionmaker[Session], effects: Effects
) -> None:
    embedded = settings.model_copy(
        update={"serve_worker": True, "worker_poll_seconds": 0.05, "scheduler_enabled": True}
    )
    with TestClient(create_app(embedded)) as client:
        assert client.get("/v1/health").status_code == 200
        with session_factory.begin() as session:
            job_id = enqueue(session, "test.effect").id
        deadline = time.monotonic() + 20
        while reload(session_factory, job_id).status != JobStatus.done:
            assert time.monotonic() < deadline, "the embedded worker did not run the job"
            time.sleep(0.05)
    assert effects.rows() == [(job_id, 1)]
