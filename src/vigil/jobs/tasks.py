"""The job table's own upkeep: finished jobs are deleted after ``job_retention_days``.

Dead jobs are kept until someone retries or investigates them; only ``done`` rows go, in
batches, so the table stays the size of the recent past and the claim indexes stay small.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from vigil.jobs.models import Job, JobStatus
from vigil.jobs.registry import JobContext, handler, periodic
from vigil.kit import clock

log = logging.getLogger("vigil.jobs")

PRUNE = "jobs.prune"
BATCH = 5000


def prune_done_jobs(session: Any, older_than: timedelta, *, batch: int = BATCH) -> int:
    cutoff = clock.now() - older_than
    removed = 0
    while True:
        ids = list(
            session.scalars(
                select(Job.id)
                .where(Job.status == JobStatus.done, Job.finished_at < cutoff)
                .order_by(Job.id)
                .limit(batch)
            )
        )
        if not ids:
            return removed
        session.execute(delete(Job).where(Job.id.in_(ids)))
        removed += len(ids)


@handler(PRUNE)
def prune(ctx: JobContext, _payload: dict[str, Any]) -> None:
    removed = prune_done_jobs(ctx.session, timedelta(days=ctx.settings.job_retention_days))
    if removed:
        log.info("pruned %d finished jobs", removed)


periodic(PRUNE, timedelta(hours=1), PRUNE)
