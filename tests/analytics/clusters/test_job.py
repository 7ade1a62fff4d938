"""The hourly job, run by a real worker: it finds the wave once, and running it again (a
retry, a second worker) does not add a second cluster."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.analytics.clusters.conftest import add_event, scam_text
from vigil.analytics.clusters.models import TextCluster
from vigil.analytics.clusters.tasks import DETECT
from vigil.app import load_task_modules
from vigil.config import Settings
from vigil.jobs import service as jobs
from vigil.jobs.models import Job
from vigil.jobs.registry import periodic_tasks
from vigil.jobs.worker import Worker
from vigil.kit import clock
from vigil.kit.clock import FrozenClock


def test_the_job_is_scheduled_hourly_and_safe_to_run_twice(
    db: Session, settings: Settings, session_factory: sessionmaker[Session], frozen: FrozenClock
) -> None:
    load_task_modules()
    (task,) = [t for t in periodic_tasks() if t.kind == DETECT]
    assert task.interval(settings) == timedelta(hours=1)

    for i in range(8):
        add_event(db, scam_text(i), account=f"s{i % 4}", at=clock.now() - timedelta(hours=i))
    jobs.enqueue(db, DETECT)
    jobs.enqueue(db, DETECT)
    db.commit()

    Worker(settings, session_factory, name="clusters-job").drain()

    db.rollback()
    assert [j.status for j in db.scalars(select(Job).where(Job.kind == DETECT))] == [
        "done",
        "done",
    ]
    (cluster,) = db.scalars(select(TextCluster))
    assert (cluster.size, cluster.accounts) == (8, 4)
    db.rollback()
