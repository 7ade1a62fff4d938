"""Tables of emerging clusters.

A ``TextCluster`` is a group of similar texts (reports filed by users, messages the rules
flagged) found by the periodic job in :mod:`vigil.analytics.clusters.service`. Invariants:

- Examples are stored with contact details masked (``[email]``, ``[phone]``...): the list
  is read by everyone with ``trends:read``, who must not learn users' contact details from it.
- ``member_event_ids`` holds at most ``MAX_MEMBERS`` ids (the newest); ``size`` counts all
  members of the latest run that saw the group, so it may exceed the list's length.
- A later run that meets the same group updates this row (member overlap or centroid
  similarity) instead of adding a second one; a dismissed cluster stays dismissed when it is
  seen again (its numbers still move), so a dismissal is not undone by the next hour.
- ``status`` moves ``new -> acknowledged | dismissed | escalated``,
  ``acknowledged -> dismissed | escalated``, ``dismissed -> escalated``; each step stamps its
  own columns (kept when a later step follows: a dismissed cluster escalated later still
  shows who dismissed it and why), required by check constraints.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONList, enum_check, str_enum

MAX_MEMBERS = 500
_FK_STAFF = "staff_users.id"


class ClusterStatus(StrEnum):
    new = "new"
    acknowledged = "acknowledged"
    dismissed = "dismissed"
    escalated = "escalated"


class TextCluster(IdMixin, Base):
    __tablename__ = "text_clusters"
    __table_args__ = (
        CheckConstraint(enum_check("status", ClusterStatus), name="status"),
        CheckConstraint(
            "(status <> 'acknowledged') OR (acknowledged_at IS NOT NULL)", name="acknowledged_at"
        ),
        CheckConstraint(
            "(status <> 'dismissed') OR (dismissed_at IS NOT NULL AND dismiss_reason IS NOT NULL)",
            name="dismissed_at",
        ),
        CheckConstraint(
            "(status <> 'escalated') OR (escalated_at IS NOT NULL AND incident_id IS NOT NULL)",
            name="escalated_at",
        ),
        # The list (newest first, by status) and the job's look-up of recent clusters.
        Index("ix_text_clusters_status", "status", "id"),
        Index("ix_text_clusters_last_seen", "last_seen_at", "id"),
    )

    label: Mapped[str] = mapped_column(String(200))
    terms: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    size: Mapped[int] = mapped_column(default=0)
    accounts: Mapped[int] = mapped_column(default=0)
    # Texts of the baseline window as similar as the group's own members are to each other.
    baseline_matches: Mapped[int] = mapped_column(default=0)
    event_types: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    detected_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    # [{"event_id", "type", "occurred_at", "text"}], nearest the centroid first; text masked.
    examples: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    member_event_ids: Mapped[list[Any]] = mapped_column(JSONList, default=list)

    status: Mapped[ClusterStatus] = mapped_column(
        str_enum(ClusterStatus, 16), default=ClusterStatus.new
    )
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    acknowledged_by_label: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    dismissed_at: Mapped[datetime | None]
    dismissed_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    dismissed_by_label: Mapped[str | None] = mapped_column(String(200))
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None]
    # The incident it was escalated into (no foreign key: incidents sit in another domain,
    # and an incident is never deleted).
    incident_id: Mapped[int | None] = mapped_column(BigId)

    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
