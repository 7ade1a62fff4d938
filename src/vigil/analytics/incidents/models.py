"""Tables of incidents.

An ``Incident`` is a problem the team tracks as one piece of work: a scam wave, a spike of
one report reason in one country, a cluster of copy-pasted messages. Invariants:

- ``status`` moves by :mod:`vigil.analytics.incidents.states` only; each step stamps its
  timestamp (``investigating_at``, ``mitigated_at``, ``closed_at``: the latest time the step
  was taken) and the check constraints below keep the stamps in step with the status.
  ``closed_at`` is set exactly while the incident is closed (a reopen clears it).
- A case is linked at most once (``uq_incident_cases_incident_id_case_id``); the link records
  who linked it, when, and how (by hand, from an alert, from a cluster). Unlinking deletes
  the row; the timeline and the audit log keep the history.
- An alert or cluster is a source of at most one incident (``uq_incident_sources_kind_ref_id``).
- The timeline (``IncidentEntry``) is append-only: notes, status changes, links.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONType, enum_check, str_enum

_FK_STAFF = "staff_users.id"
_FK_INCIDENT = "incidents.id"


class IncidentStatus(StrEnum):
    open = "open"
    investigating = "investigating"
    mitigated = "mitigated"
    closed = "closed"


class IncidentSeverity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class IncidentOrigin(StrEnum):
    manual = "manual"  # opened by hand (an agent documents a trend they noticed)
    alert = "alert"  # escalated from a trend alert
    cluster = "cluster"  # escalated from an emerging cluster


class SourceKind(StrEnum):
    alert = "alert"
    cluster = "cluster"


class EntryKind(StrEnum):
    opened = "opened"
    updated = "updated"
    note = "note"
    status = "status"
    case_linked = "case_linked"
    case_unlinked = "case_unlinked"
    source_linked = "source_linked"


class Incident(IdMixin, Base):
    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(enum_check("status", IncidentStatus), name="status"),
        CheckConstraint(enum_check("severity", IncidentSeverity), name="severity"),
        CheckConstraint(enum_check("origin", IncidentOrigin), name="origin"),
        CheckConstraint("(closed_at IS NOT NULL) = (status = 'closed')", name="closed_at"),
        CheckConstraint(
            "(status <> 'investigating') OR (investigating_at IS NOT NULL)",
            name="investigating_at",
        ),
        CheckConstraint(
            "(status <> 'mitigated') OR (mitigated_at IS NOT NULL)", name="mitigated_at"
        ),
        # The list (newest first, by status).
        Index("ix_incidents_status", "status", "id"),
    )

    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[IncidentSeverity] = mapped_column(
        str_enum(IncidentSeverity, 16), default=IncidentSeverity.medium
    )
    status: Mapped[IncidentStatus] = mapped_column(
        str_enum(IncidentStatus, 16), default=IncidentStatus.open
    )
    origin: Mapped[IncidentOrigin] = mapped_column(
        str_enum(IncidentOrigin, 16), default=IncidentOrigin.manual
    )
    owner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL"))
    opened_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    opened_by_label: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    investigating_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def ref(self) -> str:
        """How staff name an incident."""
        return f"INC-{self.id}"


class IncidentCase(IdMixin, Base):
    __tablename__ = "incident_cases"
    __table_args__ = (
        CheckConstraint(enum_check("via", IncidentOrigin), name="via"),
        UniqueConstraint("incident_id", "case_id"),
        # A case's incidents (the case page).
        Index("ix_incident_cases_case", "case_id", "incident_id"),
    )

    incident_id: Mapped[int] = mapped_column(BigId, ForeignKey(_FK_INCIDENT, ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id", ondelete="CASCADE"))
    via: Mapped[IncidentOrigin] = mapped_column(str_enum(IncidentOrigin, 16))
    linked_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    linked_by_label: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(default=clock.now)


class IncidentSource(IdMixin, Base):
    __tablename__ = "incident_sources"
    __table_args__ = (
        CheckConstraint(enum_check("kind", SourceKind), name="kind"),
        UniqueConstraint("kind", "ref_id"),
        Index("ix_incident_sources_incident", "incident_id", "id"),
    )

    incident_id: Mapped[int] = mapped_column(BigId, ForeignKey(_FK_INCIDENT, ondelete="CASCADE"))
    kind: Mapped[SourceKind] = mapped_column(str_enum(SourceKind, 16))
    # The trend alert's or the cluster's id (no foreign key: they live in other domains).
    ref_id: Mapped[int] = mapped_column(BigId)
    linked_by_label: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(default=clock.now)


class IncidentEntry(IdMixin, Base):
    __tablename__ = "incident_entries"
    __table_args__ = (
        CheckConstraint(enum_check("kind", EntryKind), name="kind"),
        Index("ix_incident_entries_incident", "incident_id", "id"),
    )

    incident_id: Mapped[int] = mapped_column(BigId, ForeignKey(_FK_INCIDENT, ondelete="CASCADE"))
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind, 16))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
