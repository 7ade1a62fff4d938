"""API models for cases and queues. Request bodies refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vigil.auth.permissions import Tier
from vigil.cases.models import (
    Case,
    CaseStatus,
    CaseType,
    Queue,
    Resolution,
    RoutingRule,
    Severity,
)
from vigil.cases.queues import QueueStats
from vigil.cases.sla import sla_state
from vigil.cases.timeline import TimelineEntry


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Versioned(_Body):
    expected_version: int | None = Field(
        default=None,
        ge=1,
        description="Refuse the change (409) unless the case is at this version.",
    )


# --- requests ---------------------------------------------------------------------------------


class CaseCreate(_Body):
    type: CaseType
    title: str = Field(min_length=1, max_length=300)
    summary: str = Field(default="", max_length=20_000)
    priority: int = Field(default=3, ge=1, le=4, description="1 is the most urgent.")
    severity: Severity = Severity.medium
    tier: Tier = Tier.tier1
    language: str = Field(default="en", min_length=2, max_length=16, pattern=r"^[A-Za-z-]+$")
    policy_code: str | None = Field(default=None, max_length=100)
    account_id: int | None = Field(default=None, ge=1)
    account_external_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="The marketplace's own id."
    )
    source: str | None = Field(default=None, min_length=1, max_length=50)
    source_ref: str | None = Field(default=None, max_length=200)
    dedup_key: str | None = Field(
        default=None,
        max_length=300,
        description="While a case with this key is not closed, creating another returns it.",
    )
    attributes: dict[str, Any] = Field(default_factory=dict)


class AssignBody(_Versioned):
    staff_id: int | None = Field(
        default=None, ge=1, description="Whom to assign; leave out to take the case yourself."
    )
    reason: str | None = Field(default=None, max_length=4000)


class ReasonBody(_Versioned):
    reason: str | None = Field(default=None, max_length=4000)


class RequiredReasonBody(_Versioned):
    reason: str = Field(max_length=4000)


class EscalateBody(_Versioned):
    reason: str = Field(max_length=4000, description="Why this needs the next tier. Required.")
    severity: Severity | None = None
    priority: int | None = Field(default=None, ge=1, le=4)


class HoldBody(_Versioned):
    until: AwareDatetime
    reason: str = Field(max_length=4000)


class CloseBody(_Versioned):
    resolution: Resolution
    note: str = Field(max_length=20_000)


class NoteBody(_Body):
    body: str = Field(max_length=20_000)


class QueueCreate(_Body):
    slug: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    tier: Tier = Tier.tier1
    sla_minutes: int = Field(default=24 * 60, ge=1)
    description: str = Field(default="", max_length=4000)


class QueueUpdate(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    sla_minutes: int | None = Field(default=None, ge=1)
    active: bool | None = None


class RuleIn(_Body):
    queue_id: int = Field(ge=1)
    case_types: list[CaseType] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    tiers: list[Tier] = Field(default_factory=list)
    min_severity: Severity | None = None
    active: bool = True


class RulesIn(_Body):
    rules: list[RuleIn] = Field(max_length=500)


class MembersIn(_Body):
    staff_ids: list[int] = Field(max_length=1000)


# --- responses --------------------------------------------------------------------------------


class CaseOut(BaseModel):
    id: int
    type: CaseType
    status: CaseStatus
    title: str
    summary: str
    priority: int
    severity: Severity
    tier: Tier
    language: str
    policy_code: str | None
    source: str
    source_ref: str | None
    dedup_key: str | None
    attributes: dict[str, Any]
    account_id: int | None
    queue_id: int
    assignee_id: int | None
    created_by_id: int | None
    opened_at: datetime
    first_assigned_at: datetime | None
    assigned_at: datetime | None
    held_at: datetime | None
    hold_until: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None
    reopened_at: datetime | None
    queued_at: datetime
    sla_due_at: datetime
    sla_breached_at: datetime | None
    sla_state: str = Field(description="ok, warning (75% of the SLA used) or breached")
    resolution: Resolution | None
    resolution_note: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, case: Case) -> CaseOut:
        values = {name: getattr(case, name) for name in cls.model_fields if name != "sla_state"}
        return cls(**values, sla_state=sla_state(case))


class CasePage(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None = None


class TimelineEntryOut(BaseModel):
    id: int
    at: datetime
    kind: str
    actor_id: int | None
    actor_label: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict[str, Any]
    note: str | None

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineEntryOut:
        return cls(**entry.__dict__)


class TimelinePage(BaseModel):
    items: list[TimelineEntryOut]
    next_cursor: str | None = None


class NoteOut(BaseModel):
    id: int
    case_id: int
    author_id: int | None
    body: str
    created_at: datetime


class QueueOut(BaseModel):
    id: int
    slug: str
    name: str
    description: str
    tier: Tier
    sla_minutes: int
    active: bool
    open: int = 0
    assigned: int = 0
    on_hold: int = 0
    breached: int = 0
    oldest_open_age_seconds: int | None = None
    next_due_at: datetime | None = None
    sla_state: str = "ok"
    members: list[int] | None = None

    @classmethod
    def of(cls, stats: QueueStats, members: list[int] | None = None) -> QueueOut:
        q: Queue = stats.queue
        return cls(
            id=q.id,
            slug=q.slug,
            name=q.name,
            description=q.description,
            tier=q.tier,
            sla_minutes=q.sla_minutes,
            active=q.active,
            open=stats.open,
            assigned=stats.assigned,
            on_hold=stats.on_hold,
            breached=stats.breached,
            oldest_open_age_seconds=stats.oldest_open_age_seconds,
            next_due_at=stats.next_due_at,
            sla_state=stats.sla_state,
            members=members,
        )


class QueuePage(BaseModel):
    items: list[QueueOut]
    next_cursor: str | None = None


class RuleOut(BaseModel):
    id: int
    position: int
    queue_id: int
    case_types: list[str]
    languages: list[str]
    tiers: list[str]
    min_severity: str | None
    active: bool

    @classmethod
    def of(cls, rule: RoutingRule) -> RuleOut:
        return cls(
            id=rule.id,
            position=rule.position,
            queue_id=rule.queue_id,
            case_types=list(rule.case_types),
            languages=list(rule.languages),
            tiers=list(rule.tiers),
            min_severity=rule.min_severity,
            active=rule.active,
        )


class RulesOut(BaseModel):
    rules: list[RuleOut]


class MembersOut(BaseModel):
    queue_id: int
    staff_ids: list[int]
