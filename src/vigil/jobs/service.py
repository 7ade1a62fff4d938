"""Enqueueing jobs in the caller's transaction (the transactional outbox of DESIGN.md), and
the operator's view of the job table: list, inspect, retry dead letters, counts.

Nothing here commits: the request, the CLI command or the worker owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.jobs.models import Job, JobStatus
from vigil.kit import clock
from vigil.kit.errors import IllegalTransition, InvalidInput, NotFound
from vigil.kit.pagination import decode_cursor, encode_cursor


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
    work forever: use e.g. ``"sla_sweep:2026-11-21T10:05"``). This holds across concurrent
    transactions too: the insert runs in a savepoint, and when another transaction wins the
    race on the unique key, its job is returned.
    """
    job, _created = enqueue_once(
        session, kind, payload, run_at=run_at, dedup_key=dedup_key, max_attempts=max_attempts
    )
    return job


def enqueue_once(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedup_key: str | None = None,
    max_attempts: int = 8,
) -> tuple[Job, bool]:
    """:func:`enqueue`, also telling whether this call added the job (``False`` when the
    ``dedup_key`` was already taken)."""
    if dedup_key is None:
        job = _new_job(kind, payload, run_at, None, max_attempts)
        session.add(job)
        session.flush()
        return job, True
    existing = session.scalar(select(Job).where(Job.dedup_key == dedup_key))
    if existing is not None:
        return existing, False
    job = _new_job(kind, payload, run_at, dedup_key, max_attempts)
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        winner = session.scalar(select(Job).where(Job.dedup_key == dedup_key))
        if winner is None:  # the conflict was not on dedup_key
            raise
        return winner, False
    return job, True


def _new_job(
    kind: str,
    payload: dict[str, Any] | None,
    run_at: datetime | None,
    dedup_key: str | None,
    max_attempts: int,
) -> Job:
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    return Job(
        kind=kind,
        payload=payload or {},
        status=JobStatus.queued,
        attempts=0,
        run_at=run_at or clock.now(),
        dedup_key=dedup_key,
        max_attempts=max_attempts,
        created_at=clock.now(),
    )


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("no such job", code="job_not_found")
    return job


@dataclass(frozen=True)
class JobPage:
    items: list[Job]
    next_cursor: str | None


def list_jobs(
    session: Session,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> JobPage:
    """Newest first, keyset-paginated on ``id``."""
    query = select(Job).order_by(Job.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if cursor is not None:
        (last_id,) = decode_cursor(cursor, 1)
        if not isinstance(last_id, int) or isinstance(last_id, bool):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(Job.id < last_id)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return JobPage(rows, encode_cursor([rows[-1].id]) if more and rows else None)


def retry(session: Session, actor: Principal, job_id: int, *, reason: str | None = None) -> Job:
    """Send a dead job back to the queue, due now, with a fresh set of attempts.

    Only ``dead`` jobs: a queued or running job is already going to run, and a done job's
    effects happened (enqueue new work for it instead).
    """
    job = session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar()
    if job is None:
        raise NotFound("no such job", code="job_not_found")
    if job.status != JobStatus.dead:
        raise IllegalTransition(
            f"only dead jobs can be retried; this one is {job.status.value}",
            code="job_not_dead",
        )
    previous_attempts = job.attempts
    job.status = JobStatus.queued
    job.attempts = 0
    job.run_at = clock.now()
    job.locked_by = None
    job.locked_until = None
    job.started_at = None
    job.finished_at = None
    session.flush()
    audit.record(
        session,
        actor,
        "jobs.job.retry",
        "job",
        job.id,
        reason=reason,
        data={
            "kind": job.kind,
            "previous_attempts": previous_attempts,
            "last_error": (job.last_error or "")[:500],
        },
    )
    return job


@dataclass(frozen=True)
class KindCount:
    kind: str
    status: JobStatus
    count: int


@dataclass(frozen=True)
class JobStats:
    by_status: dict[JobStatus, int]
    by_kind: list[KindCount]
    oldest_due_at: datetime | None  # the longest-waiting runnable job: a growing lag means
    # workers cannot keep up
    expired_leases: int  # running jobs whose worker stopped renewing: it probably died


def stats(session: Session) -> JobStats:
    now = clock.now()
    rows = session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    ).all()
    by_status = {status: 0 for status in JobStatus}
    by_kind: list[KindCount] = []
    for kind, status, count in rows:
        by_status[JobStatus(status)] += count
        by_kind.append(KindCount(kind, JobStatus(status), count))
    by_kind.sort(key=lambda k: (k.kind, k.status.value))
    oldest = session.scalar(
        select(func.min(Job.run_at)).where(Job.status == JobStatus.queued, Job.run_at <= now)
    )
    expired = session.scalar(
        select(func.count()).where(Job.status == JobStatus.running, Job.locked_until < now)
    )
    return JobStats(
        by_status=by_status,
        by_kind=by_kind,
        oldest_due_at=clock.as_utc(oldest) if oldest is not None else None,
        expired_leases=int(expired or 0),
    )
