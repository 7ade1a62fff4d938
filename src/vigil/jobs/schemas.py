"""API models for the job table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.jobs.models import JobStatus


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int = Field(description="Attempts started so far, including a running one.")
    max_attempts: int
    run_at: datetime = Field(description="When the job is (or was) due to run.")
    locked_by: str | None = Field(description="The worker running it, or that last ran it.")
    locked_until: datetime | None = Field(
        description="While running: when the worker's lease ends and another may take over."
    )
    dedup_key: str | None
    last_error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobRetry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)


class KindCountRead(BaseModel):
    kind: str
    status: JobStatus
    count: int


class JobStatsRead(BaseModel):
    by_status: dict[JobStatus, int]
    by_kind: list[KindCountRead]
    oldest_due_at: datetime | None
    expired_leases: int
