"""API models of incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.analytics.incidents.models import (
    EntryKind,
    Incident,
    IncidentCase,
    IncidentEntry,
    IncidentOrigin,
    IncidentSeverity,
    IncidentSource,
    IncidentStatus,
    SourceKind,
)
from vigil.cases.models import Case


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentIn(_Body):
    """Open an incident: by hand (``title``, optional ``case_ids``), or from a trend alert
    (``alert_id``) or an emerging cluster (``cluster_id``), whose cases are linked and whose
    title and summary are the defaults."""

    title: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=20_000)
    severity: IncidentSeverity | None = None
    owner_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    case_ids: list[int] = Field(default_factory=list, max_length=200)
    alert_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    cluster_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class IncidentPatch(_Body):
    title: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=20_000)
    severity: IncidentSeverity | None = None
    owner_id: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="0 removes the owner."
    )
    expected_version: int | None = Field(default=None, ge=1)


class TransitionIn(_Body):
    to: IncidentStatus
    note: str | None = Field(default=None, max_length=20_000)
    expected_version: int | None = Field(default=None, ge=1)


class NoteIn(_Body):
    body: str = Field(max_length=20_000)


class LinkIn(_Body):
    case_ids: list[int] = Field(min_length=1, max_length=200)


class IncidentOut(BaseModel):
    id: int
    ref: str = Field(description='How staff name it, e.g. "INC-7".')
    title: str
    summary: str
    severity: IncidentSeverity
    status: IncidentStatus
    origin: IncidentOrigin
    owner_id: int | None
    opened_by: str
    opened_at: datetime
    investigating_at: datetime | None
    mitigated_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, i: Incident) -> IncidentOut:
        return cls(
            id=i.id,
            ref=i.ref,
            title=i.title,
            summary=i.summary,
            severity=i.severity,
            status=i.status,
            origin=i.origin,
            owner_id=i.owner_id,
            opened_by=i.opened_by_label,
            opened_at=i.opened_at,
            investigating_at=i.investigating_at,
            mitigated_at=i.mitigated_at,
            closed_at=i.closed_at,
            updated_at=i.updated_at,
            version=i.version,
        )


class LinkedCaseOut(BaseModel):
    case_id: int
    title: str
    status: str
    tier: str
    policy_code: str | None
    via: IncidentOrigin
    linked_by: str
    linked_at: datetime

    @classmethod
    def of(cls, link: IncidentCase, case: Case) -> LinkedCaseOut:
        return cls(
            case_id=case.id,
            title=case.title,
            status=str(case.status),
            tier=str(case.tier),
            policy_code=case.policy_code,
            via=link.via,
            linked_by=link.linked_by_label,
            linked_at=link.linked_at,
        )


class SourceOut(BaseModel):
    kind: SourceKind
    ref_id: int
    linked_by: str
    linked_at: datetime

    @classmethod
    def of(cls, s: IncidentSource) -> SourceOut:
        return cls(kind=s.kind, ref_id=s.ref_id, linked_by=s.linked_by_label, linked_at=s.linked_at)


class EntryOut(BaseModel):
    id: int
    kind: EntryKind
    at: datetime
    actor: str
    body: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, e: IncidentEntry) -> EntryOut:
        return cls(id=e.id, kind=e.kind, at=e.at, actor=e.actor_label, body=e.body, data=e.data)


class IncidentDetailOut(IncidentOut):
    cases: list[LinkedCaseOut] = Field(
        description="Linked cases you may see, most recently linked first (the first page)."
    )
    cases_next_cursor: str | None = None
    sources: list[SourceOut]
    timeline: list[EntryOut] = Field(description="Newest first (the first page).")


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None = None


class LinkedCasePage(BaseModel):
    items: list[LinkedCaseOut]
    next_cursor: str | None = None


class EntryPage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None = None
