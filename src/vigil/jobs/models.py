from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, IdMixin, enum_check, str_enum


class JobStatus(StrEnum):
    queued = "queued"  # waiting for run_at
    running = "running"  # claimed by a worker until locked_until
    done = "done"
    dead = "dead"  # out of attempts, or failed permanently; kept for inspection and retry


class Job(IdMixin, Base):
    """One unit of background work.

    Invariants: a job is written in the same transaction as the state change that causes it
    (so it never points at rolled-back state); a ``running`` job whose lease has expired
    belongs to a dead worker and may be claimed again; ``dedup_key`` is unique so a periodic
    slot or a repeated request enqueues at most one job.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(enum_check("status", JobStatus), name="status"),
        # The claim query: runnable jobs in due order.
        Index(
            "ix_jobs_runnable",
            "run_at",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        # Lease expiry scan: running jobs whose worker died.
        Index(
            "ix_jobs_leases",
            "locked_until",
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
        # The dead-letter list (newest first); dead jobs are few, so this stays tiny while
        # done jobs pile up.
        Index(
            "ix_jobs_dead",
            "id",
            postgresql_where=text("status = 'dead'"),
            sqlite_where=text("status = 'dead'"),
        ),
    )

    kind: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus), default=JobStatus.queued)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    run_at: Mapped[datetime] = mapped_column(default=clock.now)
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None]
    dedup_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class PeriodicRun(Base):
    """When each periodic task last fired; read and written only by the scheduler leader."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_run_at: Mapped[datetime]


class Lease(Base):
    """A named lease, for leader election where advisory locks do not exist (SQLite)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
