"""API models of goals and their progress."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vigil.analytics.goals.models import Comparator, GoalPeriod, GoalStatus

_SYMBOLS = {">=": "gte", "<=": "lte", "≥": "gte", "≤": "lte"}

FilterValue = str | int
Notes = Annotated[str, Field(max_length=2000)]


def _comparator(value: Any) -> Any:
    if isinstance(value, str):
        return _SYMBOLS.get(value.strip(), value.strip())
    return value


class GoalIn(BaseModel):
    """A new goal. ``comparator`` accepts ``>=``/``<=`` as well as ``gte``/``lte``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "metric": "sla_attainment",
                    "comparator": ">=",
                    "target": 0.95,
                    "period": "month",
                    "recurring": True,
                    "filters": {"queue": "tier1-en"},
                    "notes": "Q4 commitment to the board",
                }
            ]
        },
    )

    metric: Annotated[str, Field(min_length=1, max_length=64)]
    comparator: Comparator
    target: float
    period: GoalPeriod
    starts_on: date | None = Field(
        default=None,
        description="First day of the first period (a Monday, the 1st of a month or quarter); "
        "default: the start of the current period.",
    )
    recurring: bool = True
    filters: dict[Annotated[str, Field(max_length=32)], FilterValue] = Field(default_factory=dict)
    owner_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    notes: Notes = ""

    _cmp = field_validator("comparator", mode="before")(_comparator)


class GoalUpdate(BaseModel):
    """A change to a goal: only the fields given change. ``version``, when given, must be the
    goal's current version (409 ``version_conflict`` otherwise)."""

    model_config = ConfigDict(extra="forbid")

    metric: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    comparator: Comparator | None = None
    target: float | None = None
    period: GoalPeriod | None = None
    starts_on: date | None = None
    recurring: bool | None = None
    filters: dict[Annotated[str, Field(max_length=32)], FilterValue] | None = None
    owner_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    notes: Notes | None = None
    version: int | None = Field(default=None, ge=1)

    _cmp = field_validator("comparator", mode="before")(_comparator)


class ArchiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str | None, Field(max_length=2000)] = None


class GoalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    metric: str
    label: str
    comparator: Comparator
    target: float
    period: GoalPeriod
    starts_on: date
    recurring: bool
    filters: dict[str, FilterValue]
    owner_id: int | None
    notes: str
    status: GoalStatus
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    version: int
    warnings: list[str] = Field(
        default_factory=list,
        description="Accepted but worth a second look, e.g. `comparator_against_better_direction`.",
    )


class PointOut(BaseModel):
    day: date
    value: float | None


class PeriodResultOut(BaseModel):
    period_start: date
    period_end: date
    value: float | None
    status: Literal["met", "missed", "no_data"]


class ProgressOut(BaseModel):
    period_start: date
    period_end: date = Field(description="Exclusive.")
    interval: Literal["day", "week"]
    points: list[PointOut]
    current: float | None
    numerator: float | None
    denominator: float | None
    target: float
    status: Literal["met", "on_track", "at_risk", "missed", "no_data"]
    previous: list[PeriodResultOut]


class GoalWithProgressOut(BaseModel):
    goal: GoalOut
    progress: ProgressOut


class GoalList(BaseModel):
    items: list[GoalWithProgressOut]
