"""Goals: targets on catalog metrics per period, and how each one is doing.

A goal never holds figures of its own: its progress is the metrics service's series over the
goal's period, with the goal's filters, asked for by the person looking (so their own
permissions apply). Reading goals needs ``metrics:read``; setting them ``goals:write``.

Invariants:
- A goal names a metric of the catalog and only filters that metric supports; ``reviewer`` is
  refused: goals are team targets, not targets on one person.
- Goals are archived, never deleted; every create, change and archive is audited.
- A finished period is ``met`` or ``missed``; an ongoing one ``on_track`` or ``at_risk``;
  no figure at all (or a period still to come) is ``no_data``. Nothing is guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.analytics.goals.models import Comparator, Goal, GoalPeriod, GoalStatus
from vigil.analytics.goals.schemas import GoalIn, GoalUpdate
from vigil.analytics.metrics import catalog
from vigil.analytics.metrics import service as metrics
from vigil.audit.service import record
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, VersionConflict

Status = Literal["met", "on_track", "at_risk", "missed", "no_data"]
FINISHED_STATUSES = ("met", "missed", "no_data")
PREVIOUS_PERIODS = 4
AGAINST_BETTER = "comparator_against_better_direction"
# Goals are set for years a business plans for; bounding them keeps every period's end (and
# the 4 previous periods) inside ``date``'s range, so no date arithmetic can overflow.
FIRST_YEAR, LAST_YEAR = 2000, 2999


# --- periods -------------------------------------------------------------------------------


def period_start(period: GoalPeriod, day: date) -> date:
    """The first day of the period that contains ``day``."""
    if period is GoalPeriod.week:
        return day - timedelta(days=day.weekday())
    if period is GoalPeriod.month:
        return day.replace(day=1)
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def next_period(period: GoalPeriod, start: date) -> date:
    if period is GoalPeriod.week:
        return start + timedelta(days=7)
    months = 1 if period is GoalPeriod.month else 3
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def previous_period(period: GoalPeriod, start: date) -> date:
    return period_start(period, start - timedelta(days=1))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressPoint:
    day: date
    value: float | None


@dataclass(frozen=True)
class PeriodResult:
    period_start: date
    period_end: date
    value: float | None
    status: Literal["met", "missed", "no_data"]


@dataclass(frozen=True)
class GoalProgress:
    goal: Goal
    period_start: date
    period_end: date  # exclusive
    interval: Literal["day", "week"]
    points: list[ProgressPoint]
    current: float | None
    numerator: float | None
    denominator: float | None
    target: float
    status: Status
    previous: list[PeriodResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def list_goals(session: Session, actor: Principal, *, include_archived: bool = False) -> list[Goal]:
    """Active goals first, each group in creation order. Goals are few (tens): no paging."""
    actor.require(Permission.metrics_read)
    stmt = select(Goal)
    if not include_archived:
        stmt = stmt.where(Goal.status == GoalStatus.active)
    stmt = stmt.order_by(Goal.status, Goal.id)
    return list(session.scalars(stmt))


def get_goal(session: Session, actor: Principal, goal_id: int) -> Goal:
    actor.require(Permission.metrics_read)
    goal = session.get(Goal, goal_id)
    if goal is None:
        raise NotFound(f"goal {goal_id} not found", code="goal_not_found")
    return goal


def warnings(goal: Goal | GoalIn) -> list[str]:
    """Accepted choices worth a second look. A comparator against the metric's better
    direction (``time to decision >= 3600``) is allowed: a floor on a 'lower is better'
    metric can be deliberate (a minimum review time), so it is flagged, not refused."""
    definition = catalog.METRICS.get(goal.metric)
    if definition is None:
        return ["metric_unavailable"]
    better = definition.better
    if (better == "higher" and goal.comparator is Comparator.lte) or (
        better == "lower" and goal.comparator is Comparator.gte
    ):
        return [AGAINST_BETTER]
    return []


def label(goal: Goal) -> str:
    """``SLA attainment >= 95%``: the goal as one line of text."""
    definition = catalog.METRICS.get(goal.metric)
    name = definition.label if definition is not None else goal.metric
    unit = definition.unit if definition is not None else "count"
    return f"{name} {goal.comparator.symbol} {format_value(goal.target, unit)}"


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.4g}%"
    if unit == "seconds":
        return duration_text(value)
    return f"{value:.4g}"


def duration_text(seconds: float) -> str:
    """A duration target as a leader writes it: ``4h``, ``1h 30m``, ``2d``, ``45s``. Every
    non-zero unit is kept (no rounding), so the text reads back to the same number of seconds
    through the console form."""
    rest = round(abs(seconds))
    if rest == 0:
        return "0s"
    parts = []
    for suffix, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{suffix}")
    return ("-" if seconds < 0 else "") + " ".join(parts)


def _meets(comparator: Comparator, value: float, target: float) -> bool:
    return value >= target if comparator is Comparator.gte else value <= target


def _series(
    session: Session, actor: Principal, goal: Goal, start: date, end: date, interval: str
) -> Any:
    query = metrics.parse_query(
        goal.metric, _midnight(start), _midnight(end), interval, dict(goal.filters), None
    )
    return metrics.series(session, actor, query)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def additive(definition: catalog.MetricDef) -> bool:
    """Whether the metric's figure for a period is the sum of its days: counts of things that
    happen (cases closed) are; levels read at an instant (backlog, ``snapshot``) are not.
    Decided by the catalog, never guessed from the data (one bucket always 'adds up')."""
    return definition.kind == "count" and definition.unit == "count" and not definition.snapshot


def _points(
    buckets: list[Any], total: Any, definition: catalog.MetricDef, start: date
) -> list[ProgressPoint]:
    """Cumulative points from the period's start. Counts that add up accumulate as a running
    sum; rates as sum(numerator) / sum(denominator) (kept only when they reproduce the
    window's total); levels and medians are shown bucket by bucket. A bucket that begins
    before the period (weeks are Monday-aligned, quarters need not start on one) is dated at
    the period's start."""

    def day(b: Any) -> date:
        return max(b.start, start)

    if additive(definition):
        running = 0.0
        out = []
        for b in buckets:
            running += b.value or 0.0
            out.append(ProgressPoint(day(b), running))
        return out
    if (
        definition.kind == "ratio"
        and not definition.snapshot
        and total.numerator is not None
        and total.denominator
        and all(b.numerator is not None or b.denominator in (None, 0) for b in buckets)
    ):
        num = den = 0.0
        out = []
        for b in buckets:
            num += b.numerator or 0.0
            den += b.denominator or 0.0
            out.append(ProgressPoint(day(b), (num / den) if den else None))
        if den and _close(num, total.numerator) and _close(den, total.denominator):
            return out
    return [ProgressPoint(day(b), b.value) for b in buckets]


def progress(
    session: Session,
    actor: Principal,
    goal: Goal,
    period: date | None = None,
    *,
    history: bool = True,
) -> GoalProgress:
    """How ``goal`` is doing in the period that contains ``period`` (default: today's period;
    for a one-off goal, its only period; for a recurring goal that has not started yet, its
    first period, which is ``no_data``). A day given explicitly outside a one-off goal's
    period, or before a recurring goal starts, is 422 ``period_outside_goal``; a day after
    year 2999 is 422 ``invalid_period``. ``history=False`` leaves ``previous`` empty (it costs
    one metrics query per earlier period)."""
    actor.require(Permission.metrics_read)
    today = clock.now().date()
    if period is not None and not FIRST_YEAR <= period.year <= LAST_YEAR:
        raise InvalidInput(
            f"give a day between {FIRST_YEAR} and {LAST_YEAR}",
            field="period",
            code="invalid_period",
        )
    start = period_start(goal.period, period or today)
    if period is None and (not goal.recurring or start < goal.starts_on):
        start = goal.starts_on
    if start < goal.starts_on or (not goal.recurring and start != goal.starts_on):
        raise InvalidInput(
            "that day is outside the goal's periods", field="period", code="period_outside_goal"
        )
    end = next_period(goal.period, start)
    interval: Literal["day", "week"] = "week" if goal.period is GoalPeriod.quarter else "day"
    notes = warnings(goal)
    definition = catalog.METRICS.get(goal.metric)
    if definition is None or start > today:
        return GoalProgress(
            goal, start, end, interval, [], None, None, None, goal.target, "no_data", [], notes
        )
    upto = min(end, today + timedelta(days=1))
    series = _series(session, actor, goal, start, upto, interval)
    points = _points(list(series.buckets), series.total, definition, start)
    current = series.total.value
    status: Status
    if current is None:
        status = "no_data"
    elif upto >= end:
        status = "met" if _meets(goal.comparator, current, goal.target) else "missed"
    else:
        judged = current
        if additive(definition):
            # A count so far is compared with its share of the target, projected linearly.
            elapsed = (upto - start).days
            judged = current * (end - start).days / elapsed if elapsed else current
        status = "on_track" if _meets(goal.comparator, judged, goal.target) else "at_risk"
    previous: list[PeriodResult] = []
    if goal.recurring and history:
        cursor = start
        while len(previous) < PREVIOUS_PERIODS:
            cursor = previous_period(goal.period, cursor)
            if cursor < goal.starts_on:
                break
            after = next_period(goal.period, cursor)
            total = _series(session, actor, goal, cursor, after, "week").total
            result: Literal["met", "missed", "no_data"] = (
                "no_data"
                if total.value is None
                else ("met" if _meets(goal.comparator, total.value, goal.target) else "missed")
            )
            previous.append(PeriodResult(cursor, after, total.value, result))
    return GoalProgress(
        goal,
        start,
        end,
        interval,
        points,
        current,
        series.total.numerator,
        series.total.denominator,
        goal.target,
        status,
        previous,
        notes,
    )


def overview(session: Session, actor: Principal, *, history: bool = True) -> list[GoalProgress]:
    """Every active goal with its progress in the current period, for the dashboard.
    ``history=False`` skips the previous periods' results (one metrics query each) where the
    screen does not show them."""
    return [
        progress(session, actor, g, default_day(g), history=history)
        for g in list_goals(session, actor)
    ]


def default_day(goal: Goal) -> date | None:
    # A one-off goal shows its own period, past or future; a recurring one today's (or its
    # first period while it has not started: ``progress`` takes care of that).
    return None if goal.recurring else goal.starts_on


# --- writing -------------------------------------------------------------------------------


# Fields a goal always has: a change may leave them out, but not set them to null.
REQUIRED = ("metric", "comparator", "target", "period", "starts_on", "recurring")


def _validate(session: Session, values: dict[str, Any]) -> None:
    for key in REQUIRED:
        if values.get(key) is None:
            raise InvalidInput(f"{key} cannot be null", field=key, code="invalid_field")
    name = values["metric"]
    definition = catalog.METRICS.get(name)
    if definition is None:
        raise InvalidInput(f"unknown metric '{name}'", field="metric", code="unknown_metric")
    comparator = values["comparator"]
    if comparator not in (Comparator.gte, Comparator.lte):
        raise InvalidInput(
            "comparator must be >= or <=", field="comparator", code="invalid_comparator"
        )
    filters: dict[str, Any] = values["filters"]
    for key in filters:
        if key == "reviewer":
            raise InvalidInput(
                "a goal is a team target; it cannot be set on one reviewer",
                field="filters.reviewer",
                code="reviewer_goal_not_allowed",
            )
        if key not in definition.filters:
            raise InvalidInput(
                f"{definition.label} cannot be filtered by {key}",
                field=f"filters.{key}",
                code="filter_not_supported",
            )
    target = values["target"]
    if not math.isfinite(target) or target < 0:
        raise InvalidInput(
            "the target must be a number of 0 or more", field="target", code="target_out_of_range"
        )
    if definition.unit == "ratio" and target > 1:
        raise InvalidInput(
            f"{definition.label} is a ratio: the target must be between 0 and 1 (0.95 for 95%)",
            field="target",
            code="target_out_of_range",
        )
    period: GoalPeriod = values["period"]
    starts_on: date = values["starts_on"]
    if not FIRST_YEAR <= starts_on.year <= LAST_YEAR:
        raise InvalidInput(
            f"a goal starts between {FIRST_YEAR} and {LAST_YEAR}",
            field="starts_on",
            code="invalid_period_start",
        )
    if period_start(period, starts_on) != starts_on:
        what = {"week": "a Monday", "month": "the 1st of a month", "quarter": "a quarter's 1st"}
        raise InvalidInput(
            f"a {period.value} goal starts on {what[period.value]}",
            field="starts_on",
            code="invalid_period_start",
        )
    owner_id = values["owner_id"]
    if owner_id is not None:
        owner = session.get(StaffUser, owner_id)
        if owner is None or not owner.active:
            raise InvalidInput(
                "no active staff member has that id", field="owner_id", code="owner_not_found"
            )
    # The metrics service has the last word on filter values (a queue slug that exists ...).
    try:
        metrics.parse_query(
            name,
            _midnight(starts_on),
            _midnight(next_period(period, starts_on)),
            "week" if period is GoalPeriod.quarter else "day",
            dict(filters),
            None,
        )
    except InvalidInput as exc:
        where = exc.field if exc.field in filters else None
        raise InvalidInput(
            exc.message, field=f"filters.{where}" if where else exc.field, code=exc.code
        ) from exc


def _snapshot(goal: Goal) -> dict[str, Any]:
    return {
        "metric": goal.metric,
        "comparator": goal.comparator.value,
        "target": goal.target,
        "period": goal.period.value,
        "starts_on": goal.starts_on.isoformat(),
        "recurring": goal.recurring,
        "filters": dict(goal.filters),
        "owner_id": goal.owner_id,
        "notes": goal.notes,
    }


def create_goal(session: Session, actor: Principal, data: GoalIn) -> Goal:
    actor.require(Permission.goals_write)
    values = data.model_dump()
    values["starts_on"] = data.starts_on or period_start(data.period, clock.now().date())
    _validate(session, values)
    now = clock.now()
    goal = Goal(
        **values,
        status=GoalStatus.active,
        created_by_id=actor.staff_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(goal)
    session.flush()
    record(session, actor, "analytics.goal.create", "goal", goal.id, data=_snapshot(goal))
    return goal


def _changeable(session: Session, actor: Principal, goal_id: int, version: int | None) -> Goal:
    actor.require(Permission.goals_write)
    goal = session.get(Goal, goal_id, with_for_update=True)
    if goal is None:
        raise NotFound(f"goal {goal_id} not found", code="goal_not_found")
    if goal.status is GoalStatus.archived:
        raise Conflict("the goal is archived", code="goal_archived")
    if version is not None and version != goal.version:
        raise VersionConflict(
            "the goal was changed by someone else; reload it",
            field="version",
            code="version_conflict",
        )
    return goal


def update_goal(session: Session, actor: Principal, goal_id: int, data: GoalUpdate) -> Goal:
    goal = _changeable(session, actor, goal_id, data.version)
    given = data.model_dump(exclude_unset=True, exclude={"version"})
    before = _snapshot(goal)
    values = {**{k: getattr(goal, k) for k in before}, **given}
    if values.get("filters") is None:
        values["filters"] = {}
    if values.get("notes") is None:
        values["notes"] = ""
    _validate(session, values)
    for key, value in values.items():
        setattr(goal, key, value)
    after = _snapshot(goal)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if not changed:
        return goal
    goal.version += 1
    goal.updated_at = clock.now()
    session.flush()
    record(session, actor, "analytics.goal.update", "goal", goal.id, data={"changes": changed})
    return goal


def archive_goal(
    session: Session, actor: Principal, goal_id: int, *, reason: str | None = None
) -> Goal:
    goal = _changeable(session, actor, goal_id, None)
    now = clock.now()
    goal.status = GoalStatus.archived
    goal.archived_at = now
    goal.updated_at = now
    goal.version += 1
    session.flush()
    record(session, actor, "analytics.goal.archive", "goal", goal.id, reason=reason)
    return goal


def statuses(items: Iterable[GoalProgress]) -> dict[str, int]:
    """How many goals are in each status: the dashboard's summary line."""
    counts = {s: 0 for s in ("met", "on_track", "at_risk", "missed", "no_data")}
    for item in items:
        counts[item.status] += 1
    return counts
