from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.auth.permissions import Tier
from vigil.kit import clock
from vigil.kit.models import (
    Base,
    BigId,
    IdMixin,
    JSONList,
    TimestampMixin,
    enum_check,
    str_enum,
)


class CaseType(StrEnum):
    identity_review = "identity_review"
    account_review = "account_review"
    user_report = "user_report"
    detection = "detection"
    dispute = "dispute"
    appeal = "appeal"


class CaseStatus(StrEnum):
    open = "open"  # waiting in a queue, nobody holds it
    assigned = "assigned"  # one person holds it
    on_hold = "on_hold"  # waiting on someone outside (the user, another team) until hold_until
    closed = "closed"  # resolved, with a resolution


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Resolution(StrEnum):
    actioned = "actioned"
    no_violation = "no_violation"
    duplicate = "duplicate"
    insufficient_evidence = "insufficient_evidence"
    withdrawn = "withdrawn"
    other = "other"


class Queue(IdMixin, TimestampMixin, Base):
    """A line of work with its own SLA. ``tier`` says who works it."""

    __tablename__ = "queues"
    __table_args__ = (CheckConstraint(enum_check("tier", Tier), name="tier"),)

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    tier: Mapped[Tier] = mapped_column(str_enum(Tier, 16), default=Tier.tier1)
    sla_minutes: Mapped[int] = mapped_column(default=24 * 60)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class QueueMember(Base):
    """Who works a queue. A worker with no memberships works every queue of their tier."""

    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class RoutingRule(IdMixin, Base):
    """Where a new or escalated case goes. Rules are tried in ``position`` order; the first
    whose every non-empty criterion matches wins. An empty list matches anything."""

    __tablename__ = "routing_rules"

    position: Mapped[int] = mapped_column(index=True)
    queue_id: Mapped[int] = mapped_column(BigId, ForeignKey("queues.id", ondelete="CASCADE"))
    case_types: Mapped[list[str]] = mapped_column(JSONList, default=list)
    languages: Mapped[list[str]] = mapped_column(JSONList, default=list)
    tiers: Mapped[list[str]] = mapped_column(JSONList, default=list)
    min_severity: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Case(IdMixin, TimestampMixin, Base):
    """A piece of T&S work about (usually) one account.

    Invariants: ``status`` changes only through ``cases.states.transition``; each step stamps
    its own timestamp; ``assignee_id`` is set exactly when status is ``assigned``;
    ``version`` guards concurrent edits.
    """

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(enum_check("status", CaseStatus), name="status"),
        CheckConstraint(enum_check("type", CaseType), name="type"),
        CheckConstraint(enum_check("severity", Severity), name="severity"),
        CheckConstraint(enum_check("tier", Tier), name="tier"),
        CheckConstraint("priority BETWEEN 1 AND 4", name="priority"),
        CheckConstraint(
            "(status = 'assigned') = (assignee_id IS NOT NULL)", name="assignee_iff_assigned"
        ),
        CheckConstraint(
            "(status = 'closed') = (resolution IS NOT NULL)", name="resolution_iff_closed"
        ),
        # "Next case": the most urgent open case of a set of queues.
        Index(
            "ix_cases_pull",
            "queue_id",
            "priority",
            "sla_due_at",
            "id",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        # SLA sweep: cases not closed and not yet flagged, by due time.
        Index(
            "ix_cases_sla_due",
            "sla_due_at",
            postgresql_where=text("status <> 'closed' AND sla_breached_at IS NULL"),
            sqlite_where=text("status <> 'closed' AND sla_breached_at IS NULL"),
        ),
        # "Next case" across several queues (an agent with no memberships works every queue
        # of their tier): walk open cases in urgency order and filter by queue.
        Index(
            "ix_cases_pull_any",
            "priority",
            "sla_due_at",
            "id",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        # Queue statistics read only live cases; every column they need is in the index.
        Index(
            "ix_cases_live",
            "queue_id",
            "status",
            "queued_at",
            "sla_due_at",
            "sla_breached_at",
            postgresql_where=text("status <> 'closed'"),
            sqlite_where=text("status <> 'closed'"),
        ),
        # Holds that have run out (the resume job).
        Index(
            "ix_cases_hold_until",
            "hold_until",
            postgresql_where=text("status = 'on_hold'"),
            sqlite_where=text("status = 'on_hold'"),
        ),
        Index("ix_cases_queue_status", "queue_id", "status"),
        # Metrics walk cases by when they opened, closed and were first taken.
        Index("ix_cases_opened_at", "opened_at"),
        Index(
            "ix_cases_closed_at",
            "closed_at",
            postgresql_where=text("closed_at IS NOT NULL"),
            sqlite_where=text("closed_at IS NOT NULL"),
        ),
        # Backlog age (metrics): the cases not closed, by when they opened.
        Index(
            "ix_cases_unclosed_opened_at",
            "opened_at",
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
        ),
        Index(
            "ix_cases_first_assigned_at",
            "first_assigned_at",
            postgresql_where=text("first_assigned_at IS NOT NULL"),
            sqlite_where=text("first_assigned_at IS NOT NULL"),
        ),
        Index("ix_cases_assignee_status", "assignee_id", "status"),
        Index("ix_cases_account", "account_id", "id"),
        # At most one open case per dedup key (same account + policy + source).
        Index(
            "uq_cases_open_dedup_key",
            "dedup_key",
            unique=True,
            postgresql_where=text("status <> 'closed' AND dedup_key IS NOT NULL"),
            sqlite_where=text("status <> 'closed' AND dedup_key IS NOT NULL"),
        ),
    )

    type: Mapped[CaseType] = mapped_column(str_enum(CaseType))
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus, 16), default=CaseStatus.open)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(default=3)  # 1 = most urgent
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, 16), default=Severity.medium)
    tier: Mapped[Tier] = mapped_column(str_enum(Tier, 16), default=Tier.tier1)
    language: Mapped[str] = mapped_column(String(16), default="en")
    policy_code: Mapped[str | None] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(50), default="api")  # api, console, detection...
    source_ref: Mapped[str | None] = mapped_column(String(200))
    dedup_key: Mapped[str | None] = mapped_column(String(300))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="SET NULL")
    )
    queue_id: Mapped[int] = mapped_column(BigId, ForeignKey("queues.id"))
    assignee_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )

    # A timestamp per step of the lifecycle.
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    first_assigned_at: Mapped[datetime | None]
    assigned_at: Mapped[datetime | None]
    held_at: Mapped[datetime | None]
    hold_until: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopened_at: Mapped[datetime | None]
    queued_at: Mapped[datetime] = mapped_column(default=clock.now)  # entered current queue
    sla_due_at: Mapped[datetime]
    sla_breached_at: Mapped[datetime | None]

    resolution: Mapped[Resolution | None] = mapped_column(str_enum(Resolution, 32))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class CaseEventKind(StrEnum):
    created = "created"
    assigned = "assigned"
    released = "released"
    escalated = "escalated"
    rerouted = "rerouted"
    held = "held"
    resumed = "resumed"
    closed = "closed"
    reopened = "reopened"
    note = "note"
    sla_breached = "sla_breached"
    updated = "updated"
    # A create with the dedup key of a live case: the signal is kept on the existing case.
    deduplicated = "deduplicated"
    # Decisions and what follows from them (enforcement, communications).
    decided = "decided"
    decision_pending = "decision_pending"  # waiting for a second approver (four-eyes)
    decision_approved = "decision_approved"
    decision_rejected = "decision_rejected"
    decision_reversed = "decision_reversed"
    action_expired = "action_expired"
    message_sent = "message_sent"
    message_failed = "message_failed"


class CaseEvent(IdMixin, Base):
    """The case timeline: everything that happened to a case, in order. Append-only."""

    __tablename__ = "case_events"
    __table_args__ = (
        Index("ix_case_events_case", "case_id", "id"),
        # Reviewers' active hours (metrics): the events staff recorded, by time.
        Index(
            "ix_case_events_staff_at",
            "at",
            "actor_id",
            postgresql_where=text("actor_id IS NOT NULL"),
            sqlite_where=text("actor_id IS NOT NULL"),
        ),
    )

    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    kind: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    actor_label: Mapped[str] = mapped_column(String(200), default="system")
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CaseNote(IdMixin, Base):
    """An internal note on a case. Never shown to the marketplace's users."""

    __tablename__ = "case_notes"
    __table_args__ = (UniqueConstraint("case_id", "id"),)

    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CaseRecusal(Base):
    """Who must not work a case: the reviewer of the decision an appeal contests, the reviewer
    whose decision a QA sample checks. ``pull_next`` never hands such a case to them and
    ``assign`` refuses them (``recused``). Written by ``cases.service.recuse``."""

    __tablename__ = "case_recusals"
    __table_args__ = (Index("ix_case_recusals_staff", "staff_id", "case_id"),)

    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
