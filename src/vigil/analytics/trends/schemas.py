"""API models of trend alerts and counts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vigil.analytics.trends.models import AlertStatus, Granularity, TrendAlert
from vigil.analytics.trends.service import CountSeries


class ContributorOut(BaseModel):
    dimension: str
    value: str
    observed: int = Field(description="Count among the series' events in the alert window.")
    expected: float = Field(description="Mean count in the same window of the baseline weeks.")
    share: float = Field(description="Share of the series' excess over its baseline, 0-1.")


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    dimension: str
    value: str
    granularity: Granularity
    status: AlertStatus
    observed: int = Field(
        description="Count in the latest bucket that fired (a day alert's: the rolling 24 "
        "hours ending at last_seen_at, not a calendar day)."
    )
    expected: float = Field(
        description="The expected count ratio and excess are computed from: the baseline "
        "median, or the new-value floor when higher."
    )
    ratio: float = Field(description="observed / expected.")
    excess: float = Field(description="observed - expected.")
    baseline_median: float | None = Field(
        None, description="The baseline median itself (below expected when floored)."
    )
    baseline_history: int | None = Field(
        None,
        description="The series' total count over its baseline weeks before the rise; 0 is "
        "a new value.",
    )
    p_value: float
    peak_ratio: float
    start_bucket: str
    started_at: datetime
    last_bucket: str
    last_seen_at: datetime
    contributors: list[ContributorOut]
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by_id: int | None
    ack_note: str | None
    dismissed_at: datetime | None
    dismissed_by_id: int | None
    dismiss_reason: str | None
    escalated_at: datetime | None
    escalated_by_id: int | None
    incident_id: int | None
    resolved_at: datetime | None
    resolve_note: str | None

    @classmethod
    def of(cls, alert: TrendAlert) -> AlertOut:
        return cls.model_validate(alert)


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None = None


class PointOut(BaseModel):
    bucket: str
    observed: int
    expected: float


class AlertDetailOut(AlertOut):
    series: list[PointOut]
    sample_case_ids: list[int] = Field(description="Cases linked to the series' events in the "
                                       "alert window that you may see.")  # fmt: skip


class AcknowledgeIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class DismissIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


class ValueSeriesOut(BaseModel):
    value: str
    counts: list[int]
    expected: list[float]


class CountsOut(BaseModel):
    dimension: str
    interval: str
    buckets: list[str]
    series: list[ValueSeriesOut]

    @classmethod
    def of(cls, found: CountSeries) -> CountsOut:
        return cls(
            dimension=found.dimension,
            interval=found.interval,
            buckets=found.buckets,
            series=[
                ValueSeriesOut(value=s.value, counts=s.counts, expected=s.expected)
                for s in found.series
            ],
        )
