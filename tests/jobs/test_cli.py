"""``vigil worker --once`` and ``vigil jobs``."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.jobs.conftest import Effects, reload
from vigil.audit.models import AuditRecord
from vigil.cli import app
from vigil.config import Settings
from vigil.jobs.models import JobStatus
from vigil.jobs.service import enqueue


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("VIGIL_SCHEDULER_ENABLED", "false")
    return CliRunner()


def test_worker_once_runs_what_is_due_and_exits(
    runner: CliRunner, session_factory: sessionmaker[Session], effects: Effects
) -> None:
    with session_factory.begin() as session:
        ids = [enqueue(session, "test.effect").id for _ in range(3)]
    result = runner.invoke(app, ["worker", "--once", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert [job_id for job_id, _ in effects.rows()] == ids


def test_jobs_list_retry_and_stats(
    runner: CliRunner, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        dead = enqueue(session, "enforcement.webhook", max_attempts=1)
        dead.status = JobStatus.dead
        dead.attempts = 1
        dead.last_error = "Traceback...\nConnectionError: refused"
        enqueue(session, "cases.sla_sweep")
        dead_id = dead.id

    listed = runner.invoke(app, ["jobs", "list", "--status", "dead"])
    assert listed.exit_code == 0, listed.output
    assert "enforcement.webhook" in listed.output
    assert "ConnectionError: refused" in listed.output
    assert "cases.sla_sweep" not in listed.output

    stats = runner.invoke(app, ["jobs", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["by_status"] == {
        "queued": 1,
        "running": 0,
        "done": 0,
        "dead": 1,
    }

    retried = runner.invoke(app, ["jobs", "retry", str(dead_id), "--reason", "fixed the URL"])
    assert retried.exit_code == 0, retried.output
    assert reload(session_factory, dead_id).status == JobStatus.queued
    with session_factory() as session:
        record = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "jobs.job.retry")
        ).one()
    assert record.actor_type == "system"
    assert record.reason == "fixed the URL"

    again = runner.invoke(app, ["jobs", "retry", str(dead_id)])
    assert again.exit_code == 1
    assert "only dead jobs can be retried" in again.output
