from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.jobs.models import Job, JobStatus
from vigil.jobs.service import enqueue
from vigil.jobs.tasks import prune_done_jobs
from vigil.kit import clock


def test_prune_removes_only_old_finished_jobs(db: Session, frozen: clock.FrozenClock) -> None:
    old_done = enqueue(db, "x.old")
    old_dead = enqueue(db, "x.dead")
    recent_done = enqueue(db, "x.recent")
    waiting = enqueue(db, "x.waiting")
    old_done.status, old_done.finished_at = JobStatus.done, clock.now() - timedelta(days=8)
    old_dead.status, old_dead.finished_at = JobStatus.dead, clock.now() - timedelta(days=30)
    recent_done.status, recent_done.finished_at = JobStatus.done, clock.now() - timedelta(days=1)
    db.flush()

    assert prune_done_jobs(db, timedelta(days=7), batch=1) == 1

    left = set(db.scalars(select(Job.kind)))
    assert left == {"x.dead", "x.recent", "x.waiting"}
    assert waiting.status == JobStatus.queued
