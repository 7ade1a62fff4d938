"""Enqueueing jobs in the caller's transaction (the transactional outbox of DESIGN.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.jobs.models import Job
from vigil.kit import clock


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedup_key: str | None = None,
    max_attempts: int = 8,
) -> Job:
    """Add a job to the caller's transaction: it exists if and only if the caller commits.

    With ``dedup_key``, a second enqueue of the same key returns the existing job instead of
    adding another (the key stays taken after the job finishes, so a key names one piece of
    work forever: use e.g. ``"sla_sweep:2026-11-21T10:05"``).
    """
    if dedup_key is not None:
        existing = session.scalar(select(Job).where(Job.dedup_key == dedup_key))
        if existing is not None:
            return existing
    job = Job(
        kind=kind,
        payload=payload or {},
        run_at=run_at or clock.now(),
        dedup_key=dedup_key,
        max_attempts=max_attempts,
    )
    session.add(job)
    session.flush()
    return job
