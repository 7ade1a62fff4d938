"""Detection: each series' latest complete hour, and the 24 hours ending with it, against
their weekly-seasonal baseline.

Both buckets end at the latest whole hour and are judged at every run: the hour catches a
sudden burst, the rolling day (``Granularity.day``: 24 hours from any whole hour) a rise too
thin for a single hour, within hours of its start instead of once a calendar day is over.
The baseline of an hour is the same hour of the week, in the marketplace's local time
(``trend_timezone``), in each of the previous ``trend_baseline_weeks`` weeks; of a day, the
same 24 hours 7k days earlier (UTC). Local time keeps a busy Monday 09:00 compared with the previous
Mondays' 09:00 across a daylight-saving change. Weeks before the first count Vigil holds are
left out (not taken as zeros); with no week of history at all nothing is judged.

The expected count is the *median* of the baseline weeks (one unusual week, a past wave or an
outage, does not move it), or ``trend_new_value_expected`` per hour when that is higher (a
value never or rarely seen): the *floor*. The alert's expected count, ratio and excess are all
computed from that one number, and the alert records the median and the series' total count
over the baseline weeks, so a value is called "new" only when it has no history at all there.
Real counts vary more than a Poisson count: the test is a
negative binomial upper tail whose variance is ``mu + mu^2/k`` times ``1 + 1.57/n`` (the
median's own error over ``n`` weeks). ``1/k``, the series' over-dispersion, is estimated from
its own history (method of moments, pooled over the same slots of the previous 7 days and
their baseline weeks: 168 hours or 7 days, not just the 4 values of one slot), and is never
below ``trend_min_overdispersion``. A bucket is a significant rise when all of these hold:
- ``observed >= min_count`` (a handful of reports is not a trend, whatever the ratio);
- ``observed >= min_ratio * expected``;
- that upper tail ``P(X >= observed)`` is below ``trend_alpha``.

A significant series with no active alert opens one: its start is the first hour of the run
of hours above baseline leading to it (at most 72 hours back), or for a day the hour from
which the excess adds up to the most (``rise_start``, at most 6 days back); its top
contributors and
sample cases come from a bounded drill-down over the events of that window (by the
``occurred_at`` indexes, at most ``CONTRIBUTOR_ROWS`` events per window). A series with an
active alert extends it instead (one active alert per series, whatever the granularity;
alert bucket keys are hours: a day alert's ``last_bucket`` is the first hour of its latest
24 hours). An active alert whose series has been back within baseline for
``trend_resolve_hours`` after its last seen resolves itself. Everything else reads the
counts table only.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scipy.special import betainc, pdtrc
from sqlalchemy import and_, func, select, tuple_
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
from vigil.detection.models import Event
from vigil.jobs import service as jobs
from vigil.kit import clock

DETECTOR = Principal.system("trend detector")
NOTIFY = "trends.notify_alert"
STATE_NAME = "detector"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# How far back the start of a run above baseline is looked for (buckets of an hour alert;
# hours before the end of a day alert's 24 hours). A day alert's window stays within 7 days,
# so it never overlaps its week-1 baseline window.
START_LOOKBACK = {Granularity.hour: 72, Granularity.day: 6 * 24}
TOP_PER_DIMENSION = 3
TOP_CONTRIBUTORS = 10
MIN_SHARE = 0.05
SAMPLE_CASES = 10
RESOLVE_BATCH = 500
# The drill-down reads at most this many of the series' events per window (newest first).
CONTRIBUTOR_ROWS = 5_000
ID_CHUNK = 1_000


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
    min_dispersion: float = 0.0
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

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
            min_dispersion=float(get("trend_min_overdispersion")),
            zone=zone(str(get("trend_timezone"))),
        )

    def min_count(self, g: Granularity) -> int:
        return self.hour_min_count if g is Granularity.hour else self.day_min_count

    def min_ratio(self, g: Granularity) -> float:
        return self.hour_min_ratio if g is Granularity.hour else self.day_min_ratio

    def floor(self, g: Granularity) -> float:
        return self.new_value_expected * (1 if g is Granularity.hour else 24)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"trend_timezone: unknown time zone {name!r}") from None


@dataclass(frozen=True)
class Verdict:
    observed: int
    expected: float  # max(median, the new-value floor): what ratio and excess use
    ratio: float  # observed / expected
    excess: float  # observed - expected
    p_value: float
    significant: bool
    median: float = 0.0  # the baseline median itself (0 for a value never seen)


# Variance of the median of n draws, relative to the variance of one, times n (~pi/2).
MEDIAN_EFFICIENCY = math.pi / 2


def center(weeks: list[int]) -> float:
    """The baseline's expected count: the median of the weeks (robust to one odd week)."""
    return float(statistics.median(weeks)) if weeks else 0.0


def upper_tail(observed: int, mean: float, variance: float) -> float:
    """``P(X >= observed)`` for a count with this mean and variance: negative binomial when
    over-dispersed, Poisson otherwise."""
    if observed <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if variance <= mean * (1 + 1e-9):
        return float(pdtrc(observed - 1, mean))
    r = mean * mean / (variance - mean)  # the negative binomial's size (k)
    # P(X > observed - 1) = I_{1-p}(observed, r) with p = r / (r + mean).
    return float(betainc(observed, r, mean / (r + mean)))


def judge(
    observed: int, weeks: list[int], g: Granularity, th: Thresholds, dispersion: float = 0.0
) -> Verdict:
    """The test of one bucket against the counts of its baseline weeks; ``dispersion`` is
    the series' estimated ``1/k`` (``estimate_dispersion``)."""
    mid = center(weeks)
    reference = max(mid, th.floor(g))
    inv_k = max(dispersion, th.min_dispersion)
    variance = reference + inv_k * reference * reference
    if weeks:
        variance *= 1 + MEDIAN_EFFICIENCY / len(weeks)
    p_value = upper_tail(observed, reference, variance)
    ratio = observed / reference
    significant = observed >= th.min_count(g) and ratio >= th.min_ratio(g) and p_value < th.alpha
    return Verdict(observed, reference, ratio, observed - reference, p_value, significant, mid)


def precheck(observed: int, weeks: list[int], g: Granularity, th: Thresholds) -> bool:
    """The count and ratio conditions alone: only series passing them need the history read
    that estimates their dispersion."""
    reference = max(center(weeks), th.floor(g))
    return observed >= th.min_count(g) and observed >= th.min_ratio(g) * reference


# --- bucket keys -----------------------------------------------------------------------------


def hour_key(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H")


def day_key(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


def key_of(at: datetime, g: Granularity) -> str:
    """An hour's key; a day's: the calendar day's key at midnight, else the key of the first
    hour of the 24 hours (a rolling day)."""
    if g is Granularity.day and (at.hour, at.minute, at.second) == (0, 0, 0):
        return day_key(at)
    return hour_key(at)


def parse_key(key: str) -> datetime:
    fmt = "%Y-%m-%dT%H" if "T" in key else "%Y-%m-%d"
    return datetime.strptime(key, fmt).replace(tzinfo=UTC)


def floor_hour(at: datetime) -> datetime:
    return clock.as_utc(at).replace(minute=0, second=0, microsecond=0)


def step(g: Granularity) -> timedelta:
    return HOUR if g is Granularity.hour else DAY


def week_back(slot: datetime, k: int, g: Granularity, tz: ZoneInfo | None = None) -> datetime:
    """The same slot ``k`` weeks before ``slot``. An hour is taken in local wall time (the
    same local hour, ``7k`` local days back: 167 or 169 real hours across a daylight-saving
    change); a day is a UTC day, 7k days back."""
    if g is Granularity.day or tz is None or tz.key == "UTC":
        return slot - k * WEEK
    local = clock.as_utc(slot).astimezone(tz) - k * WEEK  # aware arithmetic is wall-clock
    return floor_hour(local.astimezone(UTC))


def baseline_weeks(
    slot: datetime,
    first: datetime,
    weeks: int,
    g: Granularity = Granularity.hour,
    tz: ZoneInfo | None = None,
) -> list[int]:
    """The week offsets whose same slot lies entirely after Vigil's first count."""
    return [k for k in range(1, weeks + 1) if week_back(slot, k, g, tz) >= first]


def baseline_counts(
    hours: dict[datetime, int],
    slot: datetime,
    g: Granularity,
    first: datetime,
    weeks: int,
    tz: ZoneInfo | None = None,
) -> list[int]:
    """The counts of ``slot``'s baseline weeks, from hourly counts reaching back far enough."""
    return [
        slot_count(hours, week_back(slot, k, g, tz), g)
        for k in baseline_weeks(slot, first, weeks, g, tz)
    ]


def estimate_dispersion(
    hours: dict[datetime, int], slot: datetime, g: Granularity, first: datetime, th: Thresholds
) -> float:
    """The series' over-dispersion ``1/k`` (variance ``mu + mu^2/k``), by the method of
    moments pooled over the slots of the 7 days before ``slot`` (168 hours or 7 days), each
    with its baseline weeks: ``sum((x - m)^2 - m) / sum(m^2)`` over slots with at least two
    weeks. The judged slot and the rest of its week are left out, so a rise under way does
    not widen its own band. 0 (Poisson) when there is too little history."""
    size = step(g)
    num = den = 0.0
    at = slot - size
    while at >= slot - WEEK:
        xs = baseline_counts(hours, at, g, first, th.weeks, th.zone)
        if len(xs) >= 2:
            m = sum(xs) / len(xs)
            num += sum((x - m) ** 2 for x in xs) - (len(xs) - 1) * m
            den += (len(xs) - 1) * m * m
        at -= size
    return max(0.0, num / den) if den > 0 else 0.0


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


def _day_range(start: datetime) -> Any:
    """The hour buckets of the 24 hours from ``start`` (any whole hour)."""
    return and_(TrendCount.bucket >= hour_key(start), TrendCount.bucket < hour_key(start + DAY))


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
    session: Session,
    slot: datetime,
    g: Granularity,
    ks: list[int],
    series: list[tuple[str, str]],
    tz: ZoneInfo,
) -> dict[tuple[str, str], dict[int, int]]:
    """Per series, the count of the same slot ``k`` weeks back, for each ``k`` in ``ks``."""
    found: dict[tuple[str, str], dict[int, int]] = {}
    chunk = 500
    for i in range(0, len(series), chunk):
        wanted = tuple_(TrendCount.dimension, TrendCount.value).in_(series[i : i + chunk])
        for k in ks:
            back = week_back(slot, k, g, tz)
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


def history(
    session: Session, dimension: str, value: str, slot: datetime, th: Thresholds
) -> dict[datetime, int]:
    """The hourly counts one series' dispersion estimate and run start need: the week
    before ``slot`` and its baseline weeks (plus an hour each side for local-time shifts)."""
    start = slot - (th.weeks + 1) * WEEK - 2 * HOUR
    return series_hours(session, dimension, value, start, slot + DAY)


# --- drill-down over the events of an alert's window -------------------------------------------


def above(observed: int, weeks: list[int]) -> bool:
    """Whether a bucket stands clearly above its baseline (the run an alert starts with):
    two Poisson standard deviations over the median."""
    mid = center(weeks)
    return observed > 0 and observed > mid + 2 * math.sqrt(max(mid, 1.0))


def rise_start(
    hours: dict[datetime, int], end: datetime, first: datetime, th: Thresholds
) -> datetime:
    """The hour a rise ending at ``end`` began: the hour ``h`` (at most ``START_LOOKBACK``
    hours back) from which the excess ``sum(x_t - m_t for h <= t < end)`` is largest, where
    ``m_t`` is the mean of hour ``t``'s baseline weeks. Hour by hour, so a rolling day alert
    says "since Tue 09:00" even when single hours are too small to stand out; the mean (not
    the median) because the median of a sparse series' hours is 0 and would make every
    quiet hour look like excess."""
    earliest = max(end - START_LOOKBACK[Granularity.day] * HOUR, first)
    best_at, best, excess = end - HOUR, -math.inf, 0.0
    at = end - HOUR
    while at >= earliest:
        weeks = baseline_counts(hours, at, Granularity.hour, first, th.weeks, th.zone)
        excess += hours.get(at, 0) - (sum(weeks) / len(weeks) if weeks else 0.0)
        if excess > best:
            best_at, best = at, excess
        at -= HOUR
    return best_at


def run_start(
    hours: dict[datetime, int], slot: datetime, g: Granularity, first: datetime, th: Thresholds
) -> datetime:
    """The first bucket of the run of buckets above baseline that ends at ``slot``, looking
    back at most ``START_LOOKBACK`` buckets (``hours`` from ``history``); for a day (24 hours
    from ``slot``), the hour the rise began (``rise_start``)."""
    if g is Granularity.day:
        return rise_start(hours, slot + DAY, first, th)
    size = step(g)
    earliest = slot - START_LOOKBACK[g] * size
    start = slot
    at = slot - size
    while at >= earliest and at >= first:
        weeks = baseline_counts(hours, at, g, first, th.weeks, th.zone)
        if not above(slot_count(hours, at, g), weeks):
            break
        start = at
        at -= size
    return start


def _windows(
    start: datetime, end: datetime, ks: list[int], g: Granularity, tz: ZoneInfo | None
) -> list[tuple[int, datetime, datetime]]:
    return [(0, start, end)] + [
        (k, week_back(start, k, g, tz), week_back(end, k, g, tz)) for k in ks
    ]


@dataclass
class Drill:
    contributors: list[dict[str, Any]]
    sample_case_ids: list[int]


def _series_rows(
    session: Session, dimension: str, value: str, a: datetime, b: datetime
) -> tuple[list[tuple[int, int | None]], float]:
    """The series' events in ``[a, b)``, newest first, at most ``CONTRIBUTOR_ROWS``, as
    ``(event_id, case_id)``; and the factor that scales counts among them to the window
    (1 unless the cap cut the window short)."""
    dialect = dialect_of(session)
    m = rollup.members(dialect, dimension, rollup.in_window(a, b)).subquery("m")
    rows = [
        (int(e), None if c is None else int(c))
        for e, c in session.execute(
            select(m.c.event_id, m.c.case_id)
            .where(m.c.value == value)
            .order_by(m.c.event_id.desc())
            .limit(CONTRIBUTOR_ROWS)
        )
    ]
    if len(rows) < CONTRIBUTOR_ROWS:
        return rows, 1.0
    total = session.scalar(select(func.count()).select_from(m).where(m.c.value == value)) or 0
    return rows, max(1.0, total / len(rows))


def drill_down(
    session: Session,
    dimension: str,
    value: str,
    start: datetime,
    end: datetime,
    ks: list[int],
    g: Granularity = Granularity.hour,
    tz: ZoneInfo | None = None,
) -> Drill:
    """What the series' events in ``[start, end)`` have in common, against the same window in
    each baseline week ``k`` of ``ks``: the values of the other dimensions that account for
    most of the excess (count among the series' events in the window, mean count in the
    baseline windows, share of the excess; best first), and up to ``SAMPLE_CASES`` cases of
    the newest events.

    Bounded: one indexed read of the series' events per window (at most ``CONTRIBUTOR_ROWS``,
    newest first; counts are scaled up when a window holds more), then, per other dimension,
    a description of just those events by id. Every event of the series is described, flagged
    or not (a payment-method wave of disputed payments still gets its countries)."""
    dialect = dialect_of(session)
    week_of: dict[int, int] = {}
    scale: dict[int, float] = {}
    totals: dict[int, float] = {}
    cases: list[int] = []
    for k, a, b in _windows(start, end, ks, g, tz):
        series, factor = _series_rows(session, dimension, value, a, b)
        scale[k] = factor
        totals[k] = len(series) * factor
        for event_id, case_id in series:
            week_of.setdefault(event_id, k)
            if k == 0 and case_id is not None and case_id not in cases:
                cases.append(case_id)
    n = len(ks)
    series_excess = totals.get(0, 0.0) - (
        sum(c for k, c in totals.items() if k > 0) / n if n else 0
    )
    ids = sorted(week_of)
    found: list[dict[str, Any]] = []
    for other in DIMENSIONS:
        if other == dimension:
            continue
        counts: dict[str, dict[int, float]] = {}
        for i in range(0, len(ids), ID_CHUNK):
            m = rollup.members(
                dialect, other, Event.id.in_(ids[i : i + ID_CHUNK]), counted_only=False
            ).subquery("m")
            for event_id, v in session.execute(select(m.c.event_id, m.c.value)):
                k = week_of[int(event_id)]
                by_week = counts.setdefault(str(v), {})
                by_week[k] = by_week.get(k, 0.0) + scale[k]
        rows = []
        for v, by_week in counts.items():
            observed = by_week.get(0, 0.0)
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
                        "observed": round(observed),
                        "expected": round(expected, 2),
                        "share": round(share, 4),
                    }
                )
    found.sort(key=lambda r: (-r["share"], r["dimension"], r["value"]))
    return Drill(found[:TOP_CONTRIBUTORS], cases[:SAMPLE_CASES])


def contributors(
    session: Session,
    dimension: str,
    value: str,
    start: datetime,
    end: datetime,
    ks: list[int],
) -> list[dict[str, Any]]:
    """The contributors of ``drill_down`` (UTC week offsets)."""
    return drill_down(session, dimension, value, start, end, ks).contributors


def sample_cases(
    session: Session, dimension: str, value: str, start: datetime, end: datetime
) -> list[int]:
    """Up to ``SAMPLE_CASES`` cases linked to the series' events in ``[start, end)``, those
    with the newest events first."""
    return drill_down(session, dimension, value, start, end, []).sample_case_ids


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


def baseline_history(
    hours: dict[datetime, int], start: datetime, first: datetime, weeks: int
) -> int:
    """The series' total count over the ``weeks`` weeks before ``start`` (the start of the
    rise), from Vigil's first count on: 0 is a value with no history there, the only one
    called "new"."""
    since = max(start - weeks * WEEK, first)
    return sum(c for at, c in hours.items() if since <= at < start)


def recent_cases(
    session: Session, dimension: str, value: str, start: datetime, end: datetime
) -> list[int]:
    """Up to ``SAMPLE_CASES`` cases of the series' events in ``[start, end)``, those with the
    newest events first (one bounded, indexed read)."""
    rows, _factor = _series_rows(session, dimension, value, start, end)
    cases: list[int] = []
    for _event_id, case_id in rows:
        if case_id is not None and case_id not in cases:
            cases.append(case_id)
            if len(cases) >= SAMPLE_CASES:
                break
    return cases


def _extend(
    session: Session,
    alert: TrendAlert,
    slot: datetime,
    g: Granularity,
    v: Verdict,
    now: datetime,
    history_total: int | None = None,
) -> bool:
    changed = False
    if alert.granularity is g and slot > parse_key(alert.last_bucket):
        alert.observed, alert.expected = v.observed, v.expected
        alert.ratio, alert.excess, alert.p_value = v.ratio, v.excess, v.p_value
        alert.baseline_median = v.median
        if history_total is not None:
            alert.baseline_history = history_total
        alert.peak_ratio = max(alert.peak_ratio, v.ratio)
        alert.last_bucket = hour_key(slot)
        changed = True
    end = slot + step(g)
    if end > alert.last_seen_at:
        alert.last_seen_at = end
        # The cases opened since it was raised (a wave's reports keep arriving): the sample
        # stays the newest ones of the whole window.
        cases = recent_cases(session, alert.dimension, alert.value, alert.started_at, end)
        if cases != list(alert.sample_case_ids or []):
            alert.sample_case_ids = cases
        changed = True
    if changed:
        alert.updated_at = now
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
    hours: dict[datetime, int],
    now: datetime,
) -> TrendAlert | None:
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
    start = run_start(hours, slot, g, first, th)
    end = slot + step(g)
    # The same window in the baseline weeks, hour by hour in local time (a day alert's start
    # is an hour).
    ks = baseline_weeks(start, first, th.weeks, Granularity.hour, th.zone)
    drill = drill_down(session, dimension, value, start, end, ks, Granularity.hour, th.zone)
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
        baseline_median=v.median,
        baseline_history=baseline_history(hours, start, first, th.weeks),
        start_bucket=hour_key(start),
        started_at=start,
        last_bucket=hour_key(slot),
        last_seen_at=end,
        contributors=drill.contributors,
        sample_case_ids=drill.sample_case_ids,
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
    now: datetime,
    result: DetectResult,
) -> None:
    ks = baseline_weeks(slot, first, th.weeks, g, th.zone)
    if not ks:
        return  # not a week of history yet: nothing to compare with
    current = _current(session, slot, g, th)
    if not current:
        return
    base = _baseline(session, slot, g, ks, [(d, v) for d, v, _c in current], th.zone)
    for dimension, value, observed in sorted(current, key=lambda r: (r[0], r[1])):
        by_week = base.get((dimension, value), {})
        weeks = [by_week.get(k, 0) for k in ks]
        if not precheck(int(observed), weeks, g, th):
            continue
        hours = history(session, dimension, value, slot, th)
        dispersion = estimate_dispersion(hours, slot, g, first, th)
        verdict = judge(int(observed), weeks, g, th, dispersion)
        if not verdict.significant:
            continue
        alert = _active(session, dimension, value)
        if alert is not None:
            total = baseline_history(hours, alert.started_at, first, th.weeks)
            changed = _extend(session, alert, slot, g, verdict, now, total)
            if changed and alert.id not in result.opened + result.updated:
                result.updated.append(alert.id)
            continue
        opened = _open(session, th, dimension, value, slot, g, verdict, first, hours, now)
        if opened is not None:
            result.opened.append(opened.id)


def _elevated(hours: dict[datetime, int], start: datetime, end: datetime, first: datetime,
              th: Thresholds) -> bool:  # fmt: skip
    """Whether any hour of ``[start, end)``, or the whole span, is still a rise by the count
    and ratio thresholds (significance aside: resolving wants the series plainly back)."""
    total = expected_total = 0.0
    at = start
    while at < end:
        mid = center(baseline_counts(hours, at, Granularity.hour, first, th.weeks, th.zone))
        observed = hours.get(at, 0)
        reference = max(mid, th.floor(Granularity.hour))
        if observed >= th.hour_min_count and observed >= th.hour_min_ratio * reference:
            return True
        total += observed
        expected_total += mid
        at += HOUR
    reference = max(expected_total, th.floor(Granularity.day))
    return total >= th.day_min_count and total >= th.day_min_ratio * reference


def _resolve(
    session: Session,
    th: Thresholds,
    hour_end: datetime,
    first: datetime,
    now: datetime,
    result: DetectResult,
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
            session,
            alert.dimension,
            alert.value,
            quiet_since - th.weeks * WEEK - 2 * HOUR,
            hour_end,
        )
        if _elevated(hours, quiet_since, hour_end, first, th):
            continue
        note = f"back within baseline since {hour_key(quiet_since)}:00 UTC"
        transition(alert, AlertStatus.resolved, text=note, at=now)
        audit.record(
            session, DETECTOR, "trends.alert.resolve", "trend_alert", alert.id, reason=note
        )
        result.resolved.append(alert.id)


def run(
    session: Session, *, now: datetime | None = None, settings: Settings | None = None
) -> DetectResult:
    """Judge the latest complete hour (the one ending at ``floor_hour(now)``) and the 24
    hours ending with it (a rolling day, so a rise is judged every hour rather than once a
    calendar day is over) of every series, open or extend alerts, and resolve those back to
    normal.
    ``now`` (default: the clock) also stamps what changes. Never commits; the alert emails
    are jobs that go out after the caller commits."""
    th = Thresholds.of(settings)
    at = clock.as_utc(now or clock.now())
    result = DetectResult()
    _lock(session)
    first_key = session.scalar(select(func.min(TrendCount.bucket)))
    if first_key is None:
        return result
    first = parse_key(first_key)
    hour_end = floor_hour(at)
    _judge_slot(session, th, hour_end - HOUR, Granularity.hour, first, at, result)
    _judge_slot(session, th, hour_end - DAY, Granularity.day, first, at, result)
    _resolve(session, th, hour_end, first, at, result)
    session.flush()
    return result


def expected_for(
    hours: dict[datetime, int],
    slot: datetime,
    g: Granularity,
    first: datetime,
    weeks: int,
    tz: ZoneInfo | None = None,
) -> float:
    """The baseline median of ``slot`` from hourly counts (``hours`` must reach back far
    enough): what charts draw as the expected line; NaN without a week of history."""
    counts = baseline_counts(hours, slot, g, first, weeks, tz)
    return center(counts) if counts else math.nan
