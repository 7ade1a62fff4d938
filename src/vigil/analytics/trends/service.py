"""Trend alerts for staff: the inbox, one alert with its chart, triage (acknowledge, dismiss),
escalation into an incident, and the counts behind the charts.

Reading needs ``trends:read``; acknowledging and dismissing ``trends:triage``; marking an
alert escalated ``incidents:write`` (the incidents service calls it when it opens an incident
from the alert). Every change is recorded on the alert (who, when, why) and in the audit log.
Refusals change nothing: 404 ``alert_not_found``, 409 ``illegal_transition``, 422 naming the
field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.analytics.trends.detect import (
    DAY,
    HOUR,
    WEEK,
    Thresholds,
    baseline_counts,
    center,
    floor_hour,
    key_of,
    parse_key,
    series_hours,
    slot_count,
)
from vigil.analytics.trends.models import (
    DIMENSIONS,
    AlertStatus,
    Granularity,
    TrendAlert,
    TrendCount,
)
from vigil.analytics.trends.states import transition
from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.config import get_settings
from vigil.kit.errors import InvalidInput, NotFound
from vigil.kit.pagination import Page, decode_id_cursor, encode_cursor

NOTE_MAX = 2000
# The longest span one counts request may cover, per interval (bounded responses).
# "24h" is rolling 24 hours ending at ``end``'s hour: the buckets a day alert judges (its
# figure is one of them), where "day" is the UTC calendar day.
MAX_SPAN = {"hour": timedelta(days=31), "day": timedelta(days=400), "24h": timedelta(days=400)}
# Dates a counts request may name: bucket keys are four-digit years, and far-off dates are
# typing mistakes rather than questions.
EARLIEST_YEAR = 2000
LATEST_YEAR = 2200


# --- reading -----------------------------------------------------------------------------------


def _load(session: Session, alert_id: int, *, lock: bool = False) -> TrendAlert:
    query = select(TrendAlert).where(TrendAlert.id == alert_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    alert = session.scalar(query)
    if alert is None:
        raise NotFound("no such trend alert", field="alert_id", code="alert_not_found")
    return alert


def _statuses(status: AlertStatus | str | Sequence[AlertStatus] | None) -> list[AlertStatus]:
    if status is None:
        return []
    raw = [status] if isinstance(status, str) else list(status)
    try:
        return [AlertStatus(s) for s in raw]
    except ValueError:
        raise InvalidInput("unknown alert status", field="status", code="invalid_status") from None


def _dimension(dimension: str) -> str:
    if dimension not in DIMENSIONS:
        raise InvalidInput(
            f"dimension must be one of: {', '.join(DIMENSIONS)}",
            field="dimension",
            code="invalid_dimension",
        )
    return dimension


def list_alerts(
    session: Session,
    actor: Principal,
    *,
    status: AlertStatus | str | Sequence[AlertStatus] | None = None,
    dimension: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[TrendAlert]:
    """Alerts, newest first, optionally of some statuses and one dimension."""
    actor.require(Permission.trends_read)
    query = select(TrendAlert)
    statuses = _statuses(status)
    if statuses:
        query = query.where(TrendAlert.status.in_(statuses))
    if dimension is not None:
        query = query.where(TrendAlert.dimension == _dimension(dimension))
    if cursor is not None:
        query = query.where(TrendAlert.id < decode_id_cursor(cursor))
    limit = max(1, limit)
    rows = list(session.scalars(query.order_by(TrendAlert.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor([rows[-1].id]) if more else None)


def get_alert(session: Session, actor: Principal, alert_id: int) -> TrendAlert:
    actor.require(Permission.trends_read)
    return _load(session, alert_id)


def open_alert_count(session: Session, actor: Principal) -> int:
    """Alerts nobody has triaged yet (the console's badge)."""
    actor.require(Permission.trends_read)
    return int(
        session.scalar(select(func.count()).where(TrendAlert.status == AlertStatus.open)) or 0
    )


def sample_cases(session: Session, actor: Principal, alert: TrendAlert) -> list[int]:
    """The alert's sample cases that ``actor`` may see (legal-tier cases only for those with
    ``cases:legal``), in the alert's order."""
    actor.require(Permission.trends_read)
    ids = [int(i) for i in alert.sample_case_ids or []]
    if not ids:
        return []
    query = select(Case.id).where(Case.id.in_(ids))
    if not actor.can(Permission.legal_cases):
        query = query.where(Case.tier != Tier.legal)
    visible = set(session.scalars(query))
    return [i for i in ids if i in visible]


def _first_bucket(session: Session) -> datetime | None:
    key = session.scalar(select(func.min(TrendCount.bucket)))
    return None if key is None else parse_key(key)


def alert_series(
    session: Session, actor: Principal, alert_id: int, *, hours: int = 24 * 14
) -> list[tuple[str, int, float]]:
    """``(bucket_key, observed, expected)`` of the alert's series, oldest first, over the
    ``hours`` before the end of its latest bucket (in day buckets for a day alert).
    ``expected`` is the baseline median (0 before there is a week of history)."""
    alert = get_alert(session, actor, alert_id)
    if hours < 1 or hours > 24 * 92:
        raise InvalidInput("hours must be between 1 and 2208", field="hours", code="invalid_hours")
    g = alert.granularity
    size = HOUR if g is Granularity.hour else DAY
    end = alert.last_seen_at
    n = max(1, hours if g is Granularity.hour else hours // 24)
    start = end - n * size
    return _series(session, alert.dimension, alert.value, g, start, end)


def _series(
    session: Session, dimension: str, value: str, g: Granularity, start: datetime, end: datetime
) -> list[tuple[str, int, float]]:
    # The deployment's baseline weeks and time zone, so the chart's expected line is the
    # detector's expected count.
    th = Thresholds.of(get_settings())
    first = _first_bucket(session)
    counts = series_hours(session, dimension, value, start - th.weeks * WEEK - 2 * HOUR, end)
    size = HOUR if g is Granularity.hour else DAY
    out: list[tuple[str, int, float]] = []
    at = start
    while at < end:
        weeks = [] if first is None else baseline_counts(counts, at, g, first, th.weeks, th.zone)
        out.append((key_of(at, g), slot_count(counts, at, g), round(center(weeks), 3)))
        at += size
    return out


@dataclass
class ValueSeries:
    value: str
    counts: list[int]
    expected: list[float]


@dataclass
class CountSeries:
    dimension: str
    interval: str
    buckets: list[str]
    series: list[ValueSeries]


def counts(
    session: Session,
    actor: Principal,
    *,
    dimension: str,
    value: str | None = None,
    interval: Literal["hour", "day", "24h"] | str = "hour",
    start: datetime,
    end: datetime,
    limit: int = 5,
) -> CountSeries:
    """Counts of ``dimension`` per ``interval`` in ``[start, end)`` (both rounded down to
    the hour or day; for ``24h``, rolling 24 hours ending at ``end``'s hour, keyed by their
    first hour: what a day alert counts), with each bucket's baseline median. One
    ``value``, or the ``limit`` values with the highest total in the range."""
    actor.require(Permission.trends_read)
    _dimension(dimension)
    if interval not in MAX_SPAN:
        raise InvalidInput("interval must be hour, day or 24h", field="interval",
                           code="invalid_interval")  # fmt: skip
    for name, at in (("start", start), ("end", end)):
        # By the year alone: converting a far-off date to UTC can overflow.
        if not EARLIEST_YEAR <= at.year < LATEST_YEAR:
            raise InvalidInput(
                f"{name} must be between {EARLIEST_YEAR} and {LATEST_YEAR}",
                field=name,
                code="invalid_range",
            )
    g = Granularity.hour if interval == "hour" else Granularity.day
    start = floor_hour(start)
    end = floor_hour(end)
    if interval == "day":
        start, end = start.replace(hour=0), end.replace(hour=0)
    elif interval == "24h" and end > start:
        # Whole 24 hours back from ``end`` (the last one ends there, as a day alert's does).
        start = end - math.ceil((end - start) / DAY) * DAY
    if end <= start:
        raise InvalidInput("end must be after start", field="end", code="invalid_range")
    if end - start > MAX_SPAN[interval]:
        raise InvalidInput(
            f"at most {MAX_SPAN[interval].days} days per request at this interval",
            field="end",
            code="range_too_large",
        )
    if value is not None:
        values = [value]
    else:
        total = func.sum(TrendCount.count)
        values = list(
            session.scalars(
                select(TrendCount.value)
                .where(
                    TrendCount.dimension == dimension,
                    TrendCount.bucket >= key_of(start, Granularity.hour),
                    TrendCount.bucket < key_of(end, Granularity.hour),
                )
                .group_by(TrendCount.value)
                .order_by(total.desc(), TrendCount.value)
                .limit(max(1, min(limit, 50)))
            )
        )
    out: list[ValueSeries] = []
    buckets: list[str] = []
    for v in values:
        rows = _series(session, dimension, v, g, start, end)
        buckets = [b for b, _o, _e in rows]
        out.append(ValueSeries(v, [o for _b, o, _e in rows], [e for _b, _o, e in rows]))
    if not buckets:
        size = HOUR if g is Granularity.hour else DAY
        at = start
        while at < end:
            buckets.append(key_of(at, g))
            at += size
    return CountSeries(dimension=dimension, interval=interval, buckets=buckets, series=out)


# --- triage ------------------------------------------------------------------------------------


def _text(value: str | None, field: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"a {field} is required", field=field, code=f"{field}_required")
        return None
    if len(text) > NOTE_MAX:
        raise InvalidInput(f"at most {NOTE_MAX} characters", field=field, code="too_long")
    return text


def acknowledge(
    session: Session, actor: Principal, alert_id: int, note: str | None = None
) -> TrendAlert:
    """Someone is looking into it: the alert leaves the untriaged count."""
    actor.require(Permission.trends_triage)
    text = _text(note, "note", required=False)
    alert = _load(session, alert_id, lock=True)
    transition(alert, AlertStatus.acknowledged, staff_id=actor.staff_id, text=text)
    session.flush()
    audit.record(session, actor, "trends.alert.acknowledge", "trend_alert", alert.id,
                 reason=text)  # fmt: skip
    return alert


def dismiss(session: Session, actor: Principal, alert_id: int, reason: str) -> TrendAlert:
    """Not a trend worth acting on (a known campaign, a data problem...): the reason is
    required. The series does not alert again for ``trend_dismiss_snooze_hours``."""
    actor.require(Permission.trends_triage)
    text = _text(reason, "reason", required=True)
    alert = _load(session, alert_id, lock=True)
    transition(alert, AlertStatus.dismissed, staff_id=actor.staff_id, text=text)
    session.flush()
    audit.record(session, actor, "trends.alert.dismiss", "trend_alert", alert.id, reason=text)
    return alert


def mark_escalated(
    session: Session, actor: Principal, alert_id: int, incident_id: int
) -> TrendAlert:
    """Record that the alert was escalated into incident ``incident_id``. Calling it again
    with the same incident changes nothing; another incident, or a dismissed or resolved
    alert, is 409 ``illegal_transition``."""
    actor.require(Permission.incidents_write)
    alert = _load(session, alert_id, lock=True)
    if alert.status is AlertStatus.escalated and alert.incident_id == incident_id:
        return alert
    transition(alert, AlertStatus.escalated, staff_id=actor.staff_id, incident_id=incident_id)
    session.flush()
    audit.record(session, actor, "trends.alert.escalate", "trend_alert", alert.id,
                 data={"incident_id": incident_id})  # fmt: skip
    return alert
