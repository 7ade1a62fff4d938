"""HTTP API for jobs: the operator's window on the job table and its dead letters."""

from __future__ import annotations

from fastapi import APIRouter, Query

from vigil.api.deps import DB, AppSettings, JobsRead, JobsWrite
from vigil.jobs import service
from vigil.jobs.models import JobStatus
from vigil.jobs.schemas import JobRead, JobRetry, JobStatsRead, KindCountRead
from vigil.kit.pagination import Page

router = APIRouter(tags=["jobs"])


@router.get("/jobs", response_model=Page[JobRead], summary="List jobs, newest first")
def list_jobs(
    db: DB,
    settings: AppSettings,
    _principal: JobsRead,
    status: JobStatus | None = Query(None, description="Only jobs in this state."),
    kind: str | None = Query(None, max_length=100, description="Only jobs of this kind."),
    cursor: str | None = Query(None, max_length=200),
    limit: int | None = Query(None, ge=1, description="Page size (capped by the server)."),
) -> Page[JobRead]:
    size = min(limit or settings.page_size_default, settings.page_size_max)
    page = service.list_jobs(db, status=status, kind=kind, cursor=cursor, limit=size)
    return Page[JobRead](
        items=[JobRead.model_validate(job) for job in page.items], next_cursor=page.next_cursor
    )


@router.get("/jobs/stats", response_model=JobStatsRead, summary="Job counts by state and kind")
def job_stats(db: DB, _principal: JobsRead) -> JobStatsRead:
    stats = service.stats(db)
    return JobStatsRead(
        by_status=stats.by_status,
        by_kind=[KindCountRead(kind=k.kind, status=k.status, count=k.count) for k in stats.by_kind],
        oldest_due_at=stats.oldest_due_at,
        expired_leases=stats.expired_leases,
    )


@router.get("/jobs/{job_id}", response_model=JobRead, summary="One job")
def get_job(job_id: int, db: DB, _principal: JobsRead) -> JobRead:
    return JobRead.model_validate(service.get_job(db, job_id))


@router.post(
    "/jobs/{job_id}/retry",
    response_model=JobRead,
    summary="Send a dead job back to the queue",
    responses={409: {"description": "The job is not dead (code `job_not_dead`)."}},
)
def retry_job(job_id: int, db: DB, principal: JobsWrite, body: JobRetry | None = None) -> JobRead:
    job = service.retry(db, principal, job_id, reason=body.reason if body else None)
    return JobRead.model_validate(job)
