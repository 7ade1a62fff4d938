"""Tables of trend detection: hourly counts per category, the roll-up's high-water mark, and
trend alerts.

Invariants:
- ``trend_counts`` holds one row per (dimension, value, hour bucket) with the number of
  events counted for it; rows are only ever added to (upsert ``count = count + n``) by the
  roll-up, which moves its mark past the events it counted in the same transaction, so an
  event is counted once.
- Bucket keys are the text keys of ``vigil.analytics.sql.bucket`` (``2026-11-21T22``): they
  sort in time order on both databases, and a day is the key's first ten characters.
- At most one *active* alert (open, acknowledged or escalated) exists per series
  (dimension, value): a partial unique index enforces it, so two detectors racing cannot open
  two. A later rise of the same series extends that alert.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONList, enum_check, str_enum


class Dimension(StrEnum):
    """What events are counted by. See ``rollup.SPECS`` for which events each counts."""

    report_reason = "report_reason"
    rule = "rule"
    policy = "policy"
    country = "country"
    signup_cohort = "signup_cohort"
    payment_method = "payment_method"


DIMENSIONS: tuple[str, ...] = tuple(d.value for d in Dimension)


class Granularity(StrEnum):
    hour = "hour"
    day = "day"


class AlertStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    dismissed = "dismissed"
    escalated = "escalated"
    resolved = "resolved"


ACTIVE_STATUSES: tuple[AlertStatus, ...] = (
    AlertStatus.open,
    AlertStatus.acknowledged,
    AlertStatus.escalated,
)
_ACTIVE_SQL = "status IN ('open', 'acknowledged', 'escalated')"


class TrendCount(Base):
    __tablename__ = "trend_counts"
    __table_args__ = (
        UniqueConstraint("dimension", "value", "bucket"),
        # Detection reads every series of one bucket (the latest hour, its baselines).
        Index("ix_trend_counts_bucket", "bucket", "dimension"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dimension: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(200))
    bucket: Mapped[str] = mapped_column(String(13))
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class TrendRollupState(Base):
    """The roll-up's high-water mark: every event with an id at or below ``last_event_id``
    has been counted. One row per named walk, locked while a run works."""

    __tablename__ = "trend_rollup_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class TrendAlert(IdMixin, Base):
    """A significant rise of one series over its weekly-seasonal baseline.

    ``observed``/``expected``/``ratio``/``excess``/``p_value`` describe the latest bucket
    that fired (``last_bucket``); ``peak_ratio`` the largest seen. ``expected`` is the
    number the ratio and the excess were computed from: the baseline median
    (``baseline_median``), or the new-value floor when that is higher.
    ``baseline_history`` is the series' total count over its baseline weeks before the
    bucket: 0 means a value with no history ("new"). Both are null on rows written before
    they were recorded. ``start_bucket`` is the
    hour the rise began. Both are hour keys: a day alert's bucket is the 24 hours from its
    ``last_bucket`` hour (a rolling day), ending at ``last_seen_at``; rows written before
    days rolled may hold day keys (``2026-11-22``)."""

    __tablename__ = "trend_alerts"
    __table_args__ = (
        CheckConstraint(enum_check("status", AlertStatus), name="status"),
        CheckConstraint(enum_check("granularity", Granularity), name="granularity"),
        Index(
            "ix_trend_alerts_active_series",
            "dimension",
            "value",
            unique=True,
            postgresql_where=text(_ACTIVE_SQL),
            sqlite_where=text(_ACTIVE_SQL),
        ),
        # The inbox: by status, newest first; and a series' history.
        Index("ix_trend_alerts_status_id", "status", "id"),
        Index("ix_trend_alerts_series", "dimension", "value", "id"),
    )

    dimension: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(200))
    granularity: Mapped[Granularity] = mapped_column(str_enum(Granularity, 8))
    status: Mapped[AlertStatus] = mapped_column(str_enum(AlertStatus, 16), default=AlertStatus.open)
    observed: Mapped[int] = mapped_column(BigInteger)
    expected: Mapped[float] = mapped_column(Float)
    ratio: Mapped[float] = mapped_column(Float)
    excess: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float] = mapped_column(Float)
    peak_ratio: Mapped[float] = mapped_column(Float)
    baseline_median: Mapped[float | None] = mapped_column(Float)
    baseline_history: Mapped[int | None] = mapped_column(BigInteger)
    start_bucket: Mapped[str] = mapped_column(String(13))
    started_at: Mapped[datetime]
    last_bucket: Mapped[str] = mapped_column(String(13))
    last_seen_at: Mapped[datetime]
    # [{"dimension", "value", "observed", "expected", "share"}], best first.
    contributors: Mapped[list[dict[str, Any]]] = mapped_column(JSONList, default=list)
    sample_case_ids: Mapped[list[int]] = mapped_column(JSONList, default=list)
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    ack_note: Mapped[str | None] = mapped_column(Text)
    dismissed_at: Mapped[datetime | None]
    dismissed_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None]
    escalated_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    # The incident it was escalated into (vigil.analytics.incidents); not a foreign key so
    # this table does not depend on that one's migration order.
    incident_id: Mapped[int | None] = mapped_column(BigId)
    resolved_at: Mapped[datetime | None]
    resolve_note: Mapped[str | None] = mapped_column(Text)
