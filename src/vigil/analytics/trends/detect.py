"""Detection: each series' latest complete hour and day against its weekly-seasonal baseline.

The baseline of an hour is the same hour of the week in each of the previous
``trend_baseline_weeks`` weeks (of a day, the same weekday), so busy Mondays and quiet nights
are expected rather than alerted on. Weeks before the first count Vigil holds are left out
(not taken as zeros); with no week of history at all nothing is judged.

A bucket is a significant rise when all of these hold:
- ``observed >= min_count`` (a handful of reports is not a trend, whatever the ratio);
- ``observed >= min_ratio * expected``, where ``expected`` is the baseline mean (a value never
  seen in the baseline is compared with ``trend_new_value_expected`` per hour);
- the Poisson upper tail ``P(X >= observed)`` with mean ``expected + sd`` is below
  ``trend_alpha``. Adding the weeks' standard deviation keeps a series that is noisier than
  Poisson (most real ones) from alerting on its ordinary swings.

A significant series with no active alert opens one: its start is the first bucket of the run
above baseline leading to it (at most 72 hours / 7 days back), its top contributors and
sample cases come from a drill-down over the events of that window (bounded by the
``occurred_at`` indexes). A series with an active alert extends it instead. An active alert
whose series has been back within baseline for ``trend_resolve_hours`` resolves itself.
Everything else reads the counts table only.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scipy.special import pdtrc
from sqlalchemy import and_, case, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.analytics.sql import dialect_of
from vigil.analytics.trends import rollup
from vigil.analytics.trends.models import (
    ACTIVE_STATUSES,
    DIMENSIONS,
    AlertStatus,
    Granularity,
    TrendAlert,
    TrendCount,
    TrendRollupState,
)
from vigil.analytics.trends.states import transition
from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.jobs import service as jobs
from vigil.kit import clock

DETECTOR = Principal.system("trend detector")
NOTIFY = "trends.notify_alert"
STATE_NAME = "detector"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# How far back the start of a run above baseline is looked for.
START_LOOKBACK = {Granularity.hour: 72, Granularity.day: 7}
TOP_PER_DIMENSION = 3
TOP_CONTRIBUTORS = 10
MIN_SHARE = 0.05
SAMPLE_CASES = 10
RESOLVE_BATCH = 500


@dataclass
class DetectResult:
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Thresholds:
    weeks: int
    alpha: float
    hour_min_count: int
    hour_min_ratio: float
    day_min_count: int
    day_min_ratio: float
    new_value_expected: float
    resolve_hours: int
    snooze_hours: int
    notify: bool

    @classmethod
    def of(cls, settings: Settings | None) -> Thresholds:
        def get(name: str) -> Any:
            if settings is not None:
                return getattr(settings, name)
            return Settings.model_fields[name].default

        return cls(
            weeks=int(get("trend_baseline_weeks")),
            alpha=float(get("trend_alpha")),
            hour_min_count=int(get("trend_hour_min_count")),
            hour_min_ratio=float(get("trend_hour_min_ratio")),
            day_min_count=int(get("trend_day_min_count")),
            day_min_ratio=float(get("trend_day_min_ratio")),
            new_value_expected=float(get("trend_new_value_expected")),
            resolve_hours=int(get("trend_resolve_hours")),
            snooze_hours=int(get("trend_dismiss_snooze_hours")),
            notify=bool(get("trend_notify")),
        )

    def min_count(self, g: Granularity) -> int:
        return self.hour_min_count if g is Granularity.hour else self.day_min_count

    def min_ratio(self, g: Granularity) -> float:
        return self.hour_min_ratio if g is Granularity.hour else self.day_min_ratio

    def floor(self, g: Granularity) -> float:
        return self.new_value_expected * (1 if g is Granularity.hour else 24)


@dataclass(frozen=True)
class Verdict:
    observed: int
    expected: float  # the baseline mean (0 for a value never seen)
    ratio: float
    excess: float
    p_value: float
    significant: bool


def judge(observed: int, weeks: list[int], g: Granularity, th: Thresholds) -> Verdict:
    """The test of one bucket against the counts of its baseline weeks."""
    mean = sum(weeks) / len(weeks) if weeks else 0.0
    sd = statistics.stdev(weeks) if len(weeks) >= 2 else 0.0
    reference = mean if mean > 0 else th.floor(g)
    p_value = float(pdtrc(observed - 1, reference + sd)) if observed > 0 else 1.0
    ratio = observed / reference
    significant = observed >= th.min_count(g) and ratio >= th.min_ratio(g) and p_value < th.alpha
    return Verdict(observed, mean, ratio, observed - mean, p_value, significant)


# --- bucket keys -----------------------------------------------------------------------------


def hour_key(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H")


def day_key(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


def key_of(at: datetime, g: Granularity) -> str:
    return hour_key(at) if g is Granularity.hour else day_key(at)


def parse_key(key: str) -> datetime:
    fmt = "%Y-%m-%dT%H" if "T" in key else "%Y-%m-%d"
    return datetime.strptime(key, fmt).replace(tzinfo=UTC)


def floor_hour(at: datetime) -> datetime:
    return clock.as_utc(at).replace(minute=0, second=0, microsecond=0)


def step(g: Granularity) -> timedelta:
    return HOUR if g is Granularity.hour else DAY


def baseline_weeks(slot: datetime, first: datetime, weeks: int) -> list[int]:
    """The week offsets whose same slot lies entirely after Vigil's first count."""
    return [k for k in range(1, weeks + 1) if slot - k * WEEK >= first]


# --- reading counts ----------------------------------------------------------------------------


def series_hours(
    session: Session, dimension: str, value: str, start: datetime, end: datetime
) -> dict[datetime, int]:
    """Hourly counts of one series for hours in ``[start, end)`` (absent hours are 0)."""
    rows = session.execute(
        select(TrendCount.bucket, TrendCount.count).where(
            TrendCount.dimension == dimension,
            TrendCount.value == value,
            TrendCount.bucket >= hour_key(start),
            TrendCount.bucket < hour_key(end),
        )
    )
    return {parse_key(b): int(c) for b, c in rows}


def slot_count(hours: dict[datetime, int], slot: datetime, g: Granularity) -> int:
    if g is Granularity.hour:
        return hours.get(slot, 0)
    return sum(hours.get(slot + i * HOUR, 0) for i in range(24))


def _day_range(day: datetime) -> Any:
    key = day_key(day)
    return and_(TrendCount.bucket >= f"{key}T00", TrendCount.bucket <= f"{key}T23")


def _current(session: Session, slot: datetime, g: Granularity, th: Thresholds) -> list[Any]:
    if g is Granularity.hour:
        return list(
            session.execute(
                select(TrendCount.dimension, TrendCount.value, TrendCount.count).where(
                    TrendCount.bucket == hour_key(slot),
                    TrendCount.count >= th.min_count(g),
                )
            )
        )
    total = func.sum(TrendCount.count)
    return list(
        session.execute(
            select(TrendCount.dimension, TrendCount.value, total)
            .where(_day_range(slot))
            .group_by(TrendCount.dimension, TrendCount.value)
            .having(total >= th.min_count(g))
        )
    )


def _baseline(
    session: Session, slot: datetime, g: Granularity, ks: list[int], series: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[int, int]]:
    """Per series, the count of the same slot ``k`` weeks back, for each ``k`` in ``ks``."""
    found: dict[tuple[str, str], dict[int, int]] = {}
    chunk = 500
    for i in range(0, len(series), chunk):
        wanted = tuple_(TrendCount.dimension, TrendCount.value).in_(series[i : i + chunk])
        for k in ks:
            back = slot - k * WEEK
            if g is Granularity.hour:
                where = TrendCount.bucket == hour_key(back)
            else:
                where = _day_range(back)
            rows = session.execute(
                select(TrendCount.dimension, TrendCount.value, func.sum(TrendCount.count))
                .where(where, wanted)
                .group_by(TrendCount.dimension, TrendCount.value)
            )
            for d, v, c in rows:
                found.setdefault((d, v), {})[k] = int(c)
    return found


# --- drill-down over the events of an alert's window -------------------------------------------


def run_start(
    session: Session,
    dimension: str,
    value: str,
    slot: datetime,
    g: Granularity,
    first: datetime,
    th: Thresholds,
) -> datetime:
    """The first bucket of the run of buckets above baseline (mean + sd) that ends at
    ``slot``, looking back at most ``START_LOOKBACK`` buckets."""
    size = step(g)
    lookback = START_LOOKBACK[g]
    earliest = slot - lookback * size
    hours = series_hours(session, dimension, value, earliest - th.weeks * WEEK, slot + size)
    start = slot
    at = slot - size
    while at >= earliest and at >= first:
        weeks = [slot_count(hours, at - k * WEEK, g) for k in baseline_weeks(at, first, th.weeks)]
        mean = sum(weeks) / len(weeks) if weeks else 0.0
        sd = statistics.stdev(weeks) if len(weeks) >= 2 else 0.0
        observed = slot_count(hours, at, g)
        if observed <= 0 or observed <= mean + sd:
            break
        start = at
        at -= size
    return start


def _windows(start: datetime, end: datetime, ks: list[int]) -> list[tuple[int, datetime, datetime]]:
    return [(0, start, end)] + [(k, start - k * WEEK, end - k * WEEK) for k in ks]


def contributors(
    session: Session,
    dimension: str,
    value: str,
    start: datetime,
    end: datetime,
    ks: list[int],
) -> list[dict[str, Any]]:
    """The values of the other dimensions that account for most of the series' excess over
    its baseline in ``[start, end)``: for each, its count among the series' events in the
    window, the mean count in the same window of the baseline weeks, and its share of the
    excess. Best first."""
    dialect = dialect_of(session)
    windows = _windows(start, end, ks)
    in_any = or_(*(rollup.in_window(a, b) for _k, a, b in windows))
    s = rollup.members(dialect, dimension, in_any).subquery("s")
    series = select(s.c.event_id).where(s.c.value == value).distinct().subquery("se")

    def week_of(col: Any) -> Any:
        return case(*((and_(col >= a, col < b), k) for k, a, b in windows), else_=-1)

    n = len(ks)
    # The week of each row is a column of a subquery, grouped by name: PostgreSQL does not
    # match a CASE in GROUP BY with the one in SELECT (their parameters are bound apart).
    w = (
        select(s.c.event_id, week_of(s.c.occurred_at).label("wk"))
        .where(s.c.value == value)
        .subquery("w")
    )
    totals = {
        int(k): int(c)
        for k, c in session.execute(
            select(w.c.wk, func.count(func.distinct(w.c.event_id))).group_by(w.c.wk)
        )
    }
    series_excess = totals.get(0, 0) - (sum(c for k, c in totals.items() if k > 0) / n if n else 0)
    found: list[dict[str, Any]] = []
    for other in DIMENSIONS:
        if other == dimension:
            continue
        m = rollup.members(dialect, other, in_any).subquery("m")
        j = (
            select(m.c.value, week_of(m.c.occurred_at).label("wk"))
            .select_from(m.join(series, series.c.event_id == m.c.event_id))
            .subquery("j")
        )
        counts: dict[str, dict[int, int]] = {}
        for v, k, c in session.execute(
            select(j.c.value, j.c.wk, func.count()).group_by(j.c.value, j.c.wk)
        ):
            counts.setdefault(str(v), {})[int(k)] = int(c)
        rows = []
        for v, by_week in counts.items():
            observed = by_week.get(0, 0)
            expected = sum(c for k, c in by_week.items() if k > 0) / n if n else 0.0
            if observed - expected > 0:
                rows.append((v, observed, expected, observed - expected))
        denominator = series_excess if series_excess > 0 else sum(r[3] for r in rows)
        if denominator <= 0:
            continue
        rows.sort(key=lambda r: (-r[3], r[0]))
        for v, observed, expected, excess in rows[:TOP_PER_DIMENSION]:
            share = min(1.0, excess / denominator)
            if share >= MIN_SHARE:
                found.append(
                    {
                        "dimension": other,
                        "value": v,
                        "observed": observed,
                        "expected": round(expected, 2),
                        "share": round(share, 4),
                    }
                )
    found.sort(key=lambda r: (-r["share"], r["dimension"], r["value"]))
    return found[:TOP_CONTRIBUTORS]


def sample_cases(
    session: Session, dimension: str, value: str, start: datetime, end: datetime
) -> list[int]:
    """Up to ``SAMPLE_CASES`` cases linked to the series' events in ``[start, end)``, those
    with the newest events first."""
    m = rollup.members(dialect_of(session), dimension, rollup.in_window(start, end)).subquery()
    return [
        int(c)
        for c in session.scalars(
            select(m.c.case_id)
            .where(m.c.value == value, m.c.case_id.is_not(None))
            .group_by(m.c.case_id)
            .order_by(func.max(m.c.event_id).desc())
            .limit(SAMPLE_CASES)
        )
    ]


# --- the run -----------------------------------------------------------------------------------


def _lock(session: Session) -> None:
    """Serialize detectors (two workers would race to open the same alert)."""
    rollup_state = (
        select(TrendRollupState).where(TrendRollupState.name == STATE_NAME).with_for_update()
    )
    if session.scalar(rollup_state) is None:
        try:
            with session.begin_nested():
                session.add(TrendRollupState(name=STATE_NAME, last_event_id=0))
                session.flush()
        except IntegrityError:
            pass
        session.scalar(rollup_state)


def _active(session: Session, dimension: str, value: str) -> TrendAlert | None:
    return session.scalar(
        select(TrendAlert)
        .where(
            TrendAlert.dimension == dimension,
            TrendAlert.value == value,
            TrendAlert.status.in_(ACTIVE_STATUSES),
        )
        .with_for_update()
    )


def _extend(alert: TrendAlert, slot: datetime, g: Granularity, v: Verdict) -> bool:
    changed = False
    if alert.granularity is g and slot > parse_key(alert.last_bucket):
        alert.observed, alert.expected = v.observed, v.expected
        alert.ratio, alert.excess, alert.p_value = v.ratio, v.excess, v.p_value
        alert.peak_ratio = max(alert.peak_ratio, v.ratio)
        alert.last_bucket = key_of(slot, g)
        changed = True
    end = slot + step(g)
    if end > alert.last_seen_at:
        alert.last_seen_at = end
        changed = True
    if changed:
        alert.updated_at = clock.now()
    return changed


def _open(
    session: Session,
    th: Thresholds,
    dimension: str,
    value: str,
    slot: datetime,
    g: Granularity,
    v: Verdict,
    first: datetime,
) -> TrendAlert | None:
    now = clock.now()
    snoozed = session.scalar(
        select(TrendAlert.id)
        .where(
            TrendAlert.dimension == dimension,
            TrendAlert.value == value,
            TrendAlert.status == AlertStatus.dismissed,
            TrendAlert.dismissed_at > now - timedelta(hours=th.snooze_hours),
        )
        .limit(1)
    )
    if snoozed is not None:
        return None
    start = run_start(session, dimension, value, slot, g, first, th)
    end = slot + step(g)
    ks = baseline_weeks(start, first, th.weeks)
    alert = TrendAlert(
        dimension=dimension,
        value=value,
        granularity=g,
        status=AlertStatus.open,
        observed=v.observed,
        expected=v.expected,
        ratio=v.ratio,
        excess=v.excess,
        p_value=v.p_value,
        peak_ratio=v.ratio,
        start_bucket=key_of(start, g),
        started_at=start,
        last_bucket=key_of(slot, g),
        last_seen_at=end,
        contributors=contributors(session, dimension, value, start, end, ks),
        sample_case_ids=sample_cases(session, dimension, value, start, end),
        opened_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        return None  # opened by another detector meanwhile; the next run extends it
    audit.record(
        session,
        DETECTOR,
        "trends.alert.open",
        "trend_alert",
        alert.id,
        data={
            "dimension": dimension,
            "value": value,
            "granularity": g.value,
            "observed": v.observed,
            "expected": round(v.expected, 3),
            "start": alert.start_bucket,
        },
    )
    if th.notify:
        jobs.enqueue(session, NOTIFY, {"alert_id": alert.id}, dedup_key=f"{NOTIFY}:{alert.id}")
    return alert


def _judge_slot(
    session: Session,
    th: Thresholds,
    slot: datetime,
    g: Granularity,
    first: datetime,
    result: DetectResult,
) -> None:
    ks = baseline_weeks(slot, first, th.weeks)
    if not ks:
        return  # not a week of history yet: nothing to compare with
    current = _current(session, slot, g, th)
    if not current:
        return
    base = _baseline(session, slot, g, ks, [(d, v) for d, v, _c in current])
    for dimension, value, observed in sorted(current, key=lambda r: (r[0], r[1])):
        by_week = base.get((dimension, value), {})
        verdict = judge(int(observed), [by_week.get(k, 0) for k in ks], g, th)
        if not verdict.significant:
            continue
        alert = _active(session, dimension, value)
        if alert is not None:
            changed = _extend(alert, slot, g, verdict)
            if changed and alert.id not in result.opened + result.updated:
                result.updated.append(alert.id)
            continue
        opened = _open(session, th, dimension, value, slot, g, verdict, first)
        if opened is not None:
            result.opened.append(opened.id)


def _elevated(hours: dict[datetime, int], start: datetime, end: datetime, first: datetime,
              th: Thresholds) -> bool:  # fmt: skip
    """Whether any hour of ``[start, end)``, or the whole span, is still a rise by the count
    and ratio thresholds (significance aside: resolving wants the series plainly back)."""
    total = expected_total = 0.0
    at = start
    while at < end:
        weeks = [hours.get(at - k * WEEK, 0) for k in baseline_weeks(at, first, th.weeks)]
        mean = sum(weeks) / len(weeks) if weeks else 0.0
        observed = hours.get(at, 0)
        reference = mean if mean > 0 else th.floor(Granularity.hour)
        if observed >= th.hour_min_count and observed >= th.hour_min_ratio * reference:
            return True
        total += observed
        expected_total += mean
        at += HOUR
    reference = expected_total if expected_total > 0 else th.floor(Granularity.day)
    return total >= th.day_min_count and total >= th.day_min_ratio * reference


def _resolve(
    session: Session, th: Thresholds, hour_end: datetime, first: datetime, result: DetectResult
) -> None:
    span = timedelta(hours=th.resolve_hours)
    quiet_since = hour_end - span
    alerts = session.scalars(
        select(TrendAlert)
        .where(TrendAlert.status.in_(ACTIVE_STATUSES), TrendAlert.last_seen_at <= quiet_since)
        .order_by(TrendAlert.id)
        .limit(RESOLVE_BATCH)
        .with_for_update()
    )
    for alert in list(alerts):
        hours = series_hours(
            session, alert.dimension, alert.value, quiet_since - th.weeks * WEEK, hour_end
        )
        if _elevated(hours, quiet_since, hour_end, first, th):
            continue
        note = f"back within baseline since {hour_key(quiet_since)}:00 UTC"
        transition(alert, AlertStatus.resolved, text=note)
        audit.record(
            session, DETECTOR, "trends.alert.resolve", "trend_alert", alert.id, reason=note
        )
        result.resolved.append(alert.id)


def run(
    session: Session, *, now: datetime | None = None, settings: Settings | None = None
) -> DetectResult:
    """Judge the latest complete hour (the one ending at ``floor_hour(now)``) and the latest
    complete day of every series, open or extend alerts, and resolve those back to normal.
    Never commits; the alert emails are jobs that go out after the caller commits."""
    th = Thresholds.of(settings)
    at = clock.as_utc(now or clock.now())
    result = DetectResult()
    _lock(session)
    first_key = session.scalar(select(func.min(TrendCount.bucket)))
    if first_key is None:
        return result
    first = parse_key(first_key)
    hour_end = floor_hour(at)
    _judge_slot(session, th, hour_end - HOUR, Granularity.hour, first, result)
    today = hour_end.replace(hour=0)
    _judge_slot(session, th, today - DAY, Granularity.day, first, result)
    _resolve(session, th, hour_end, first, result)
    session.flush()
    return result


def expected_for(
    hours: dict[datetime, int], slot: datetime, g: Granularity, first: datetime, weeks: int
) -> float:
    """The baseline mean of ``slot`` from hourly counts (``hours`` must reach back far
    enough): what charts draw as the expected line."""
    ks = baseline_weeks(slot, first, weeks)
    if not ks:
        return math.nan
    return sum(slot_count(hours, slot - k * WEEK, g) for k in ks) / len(ks)
