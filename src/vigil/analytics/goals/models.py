"""Tables of the goals domain: targets that leadership sets on catalog metrics."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONType, enum_check, str_enum


class Comparator(StrEnum):
    gte = "gte"  # the metric must be at least the target (SLA attainment >= 95 %)
    lte = "lte"  # the metric must be at most the target (overturn rate <= 5 %)

    @property
    def symbol(self) -> str:
        return ">=" if self is Comparator.gte else "<="


class GoalPeriod(StrEnum):
    week = "week"
    month = "month"
    quarter = "quarter"


class GoalStatus(StrEnum):
    active = "active"
    archived = "archived"  # kept for its history; a goal is never deleted


class Goal(IdMixin, Base):
    """A target on one metric of the catalog for a period (week, month or quarter).

    ``starts_on`` is the first day of the first period (a Monday, the 1st of a month or of a
    quarter); a one-off goal (``recurring`` false) covers that period only, a recurring one
    every period from then on. ``filters`` narrow the metric like the metrics API does (keys
    are filters the metric supports, never ``reviewer``: goals are team targets). ``version``
    increases on every change, so two editors cannot overwrite each other unknowingly.
    """

    __tablename__ = "goals"
    __table_args__ = (
        CheckConstraint(enum_check("comparator", Comparator), name="comparator"),
        CheckConstraint(enum_check("period", GoalPeriod), name="period"),
        CheckConstraint(enum_check("status", GoalStatus), name="status"),
        # The dashboard lists active goals in creation order.
        Index("ix_goals_status_id", "status", "id"),
    )

    metric: Mapped[str] = mapped_column(String(64))
    comparator: Mapped[Comparator] = mapped_column(str_enum(Comparator, 8))
    target: Mapped[float] = mapped_column(Float)
    period: Mapped[GoalPeriod] = mapped_column(str_enum(GoalPeriod, 16))
    starts_on: Mapped[date] = mapped_column(Date)
    recurring: Mapped[bool] = mapped_column(Boolean, default=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    owner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[GoalStatus] = mapped_column(str_enum(GoalStatus, 16), default=GoalStatus.active)
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    archived_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
