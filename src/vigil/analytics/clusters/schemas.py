"""API models of emerging clusters."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vigil.analytics.clusters.models import ClusterStatus, TextCluster
from vigil.analytics.incidents.models import IncidentSeverity


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcknowledgeIn(_Body):
    note: str | None = Field(default=None, max_length=4000)


class DismissIn(_Body):
    reason: str = Field(
        max_length=4000, description="Why it is not a problem (a known template, a test)."
    )


class EscalateIn(_Body):
    title: str | None = Field(default=None, max_length=200, description="Defaults to the label.")
    summary: str | None = Field(default=None, max_length=20_000)
    severity: IncidentSeverity | None = None
    owner_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    incident_id: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="Add the cluster to this open incident instead of opening a new one.",
    )


class ExampleOut(BaseModel):
    event_id: int
    type: str
    occurred_at: datetime
    text: str = Field(description="Contact details masked ([email], [phone], [link]...).")


class ClusterOut(BaseModel):
    id: int
    label: str = Field(description="The group's top words.")
    terms: list[str]
    status: ClusterStatus
    size: int = Field(description="Texts in the group in the latest window that saw it.")
    accounts: int = Field(description="Distinct accounts that sent or filed them.")
    baseline_matches: int = Field(
        description="Similar texts in the baseline window before it (few: it is new)."
    )
    event_types: list[str]
    first_seen_at: datetime
    last_seen_at: datetime
    detected_at: datetime
    updated_at: datetime
    examples: list[ExampleOut] = Field(description="The texts nearest the group's centre.")
    member_event_ids: list[int] = Field(description="The newest members (at most 500).")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str | None
    dismissed_at: datetime | None
    dismissed_by: str | None
    dismiss_reason: str | None
    escalated_at: datetime | None
    incident_id: int | None

    @classmethod
    def of(cls, c: TextCluster) -> ClusterOut:
        return cls(
            id=c.id,
            label=c.label,
            terms=[str(t) for t in c.terms or []],
            status=c.status,
            size=c.size,
            accounts=c.accounts,
            baseline_matches=c.baseline_matches,
            event_types=[str(t) for t in c.event_types or []],
            first_seen_at=c.first_seen_at,
            last_seen_at=c.last_seen_at,
            detected_at=c.detected_at,
            updated_at=c.updated_at,
            examples=[ExampleOut.model_validate(e) for e in c.examples or []],
            member_event_ids=[int(i) for i in c.member_event_ids or []],
            acknowledged_at=c.acknowledged_at,
            acknowledged_by=c.acknowledged_by_label,
            note=c.note,
            dismissed_at=c.dismissed_at,
            dismissed_by=c.dismissed_by_label,
            dismiss_reason=c.dismiss_reason,
            escalated_at=c.escalated_at,
            incident_id=c.incident_id,
        )


class ClusterPage(BaseModel):
    items: list[ClusterOut]
    next_cursor: str | None = None
