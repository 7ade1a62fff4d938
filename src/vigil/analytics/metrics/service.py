"""Any metric of the catalog as a time series by day or week, filtered and grouped.

``parse_query`` validates a request once (so the API, the console, goals and the bench refuse
the same things with the same codes); ``series`` authorizes and computes it with one
statement (``catalog.METRICS[name].compute``); ``table`` is the same view as rows for a
CSV/XLSX download.

Invariants:
- Every bucket of ``[start, end)`` is present, in order: counts are 0 where nothing happened,
  ratios and quantiles None (with a denominator of 0, so a chart can say "n=0").
- Per-reviewer figures (a ``reviewer`` filter naming someone else, or ``group_by=reviewer``)
  need ``metrics:reviewers``; a reviewer may always read their own.
- A metric whose figures come from another domain needs that domain's read permission too
  (``MetricDef.requires``: QA, rules, appeals, disputes, identity).
- At most ``MAX_GROUPS`` groups, the largest first (by count, or by denominator); the line
  beside them (``Series.buckets``/``total``) adds up every group, shown or not.
- The window is exactly ``[start, end)``: by week, a first or last bucket may cover part of
  its week only (goals read weekly totals over periods that need not start on a Monday).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts.models import Side
from vigil.analytics.export import Column
from vigil.analytics.metrics.base import (
    MAX_GROUPS,
    Cell,
    Ctx,
    Interval,
    Query,
    Result,
    bucket_starts,
)
from vigil.analytics.metrics.catalog import METRICS, MetricDef
from vigil.auth.models import StaffUser
from vigil.auth.permissions import API_KEY_SCOPES, Permission
from vigil.auth.principal import ActorType, Principal
from vigil.cases.models import Queue
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, NotFound, PermissionDenied

DEFAULT_DAYS = 28
DEFAULT_WEEKS = 12
MAX_DAYS_BY_DAY = 400
MAX_DAYS_BY_WEEK = 3 * 365 + 1
# Instants outside these years are refused: nothing in Vigil happened before, and date
# arithmetic on the window must not overflow.
YEARS = (2000, 2199)
INTERVALS: tuple[str, ...] = ("day", "week")

__all__ = ["GroupSeries", "Point", "Query", "Series", "parse_query", "series", "table"]


@dataclass(frozen=True)
class Point:
    start: date  # the bucket's first day (a Monday for weeks)
    value: float | None
    numerator: float | None
    denominator: float | None


@dataclass(frozen=True)
class GroupSeries:
    key: str
    label: str
    buckets: list[Point]
    total: Point


@dataclass(frozen=True)
class Series:
    metric: MetricDef
    query: Query
    interval: Interval
    buckets: list[Point]
    total: Point
    groups: list[GroupSeries]


# Validation ------------------------------------------------------------------------------


def _instant(value: datetime | date | str | None, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = (
                date.fromisoformat(value)
                if len(value) == 10
                else datetime.fromisoformat(value.replace("Z", "+00:00"))
            )
        except ValueError:
            raise InvalidInput(
                "give a day (2026-11-21) or a time with a zone (2026-11-21T09:00:00Z)",
                field=field,
                code="invalid_datetime",
            ) from None
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise InvalidInput(
            f"give a time between the years {YEARS[0]} and {YEARS[1]}",
            field=field,
            code="invalid_datetime",
        )
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInput(
                "give a time zone (e.g. 2026-11-21T09:00:00Z)", field=field, code="naive_datetime"
            )
        return clock.as_utc(value)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _default_window(interval: str) -> tuple[datetime, datetime]:
    today = clock.now().date()
    if interval == "week":
        monday = today - timedelta(days=today.weekday())
        end = datetime(monday.year, monday.month, monday.day, tzinfo=UTC) + timedelta(days=7)
        return end - timedelta(weeks=DEFAULT_WEEKS), end
    end = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    return end - timedelta(days=DEFAULT_DAYS), end


def _filter_value(name: str, value: str | int) -> str | int:
    if name == "reviewer":
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                "reviewer is a staff id", field="reviewer", code="invalid_filter"
            ) from None
        if not 1 <= number < 2**63:
            raise InvalidInput("reviewer is a staff id", field="reviewer", code="invalid_filter")
        return number
    text = str(value).strip()
    if len(text) > 200:
        raise InvalidInput(f"{name} is too long", field=name, code="invalid_filter")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidInput(f"{name} has a control character", field=name, code="invalid_filter")
    if name == "side" and text not in {s.value for s in Side}:
        raise InvalidInput(
            "side is one of " + ", ".join(s.value for s in Side),
            field="side",
            code="invalid_filter",
        )
    return text


def parse_query(
    metric: str,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    interval: str | None = "day",
    filters: Mapping[str, str | int | None] | None = None,
    group_by: str | None = None,
) -> Query:
    """A validated query. A day means 00:00 UTC of that day; ``end`` is exclusive."""
    definition = METRICS.get(metric)
    if definition is None:
        raise NotFound(f"no metric is called '{metric}'", field="metric", code="unknown_metric")
    interval = interval or "day"
    if interval not in INTERVALS:
        raise InvalidInput("interval is day or week", field="interval", code="invalid_interval")
    begin, finish = _instant(start, "start"), _instant(end, "end")
    if begin is None or finish is None:
        default_start, default_end = _default_window(interval)
        if finish is None:
            finish = default_end if begin is None else max(default_end, begin + timedelta(days=1))
        if begin is None:
            begin = finish - (default_end - default_start)
    if begin >= finish:
        raise InvalidInput("start must be before end", field="start", code="invalid_window")
    longest = MAX_DAYS_BY_DAY if interval == "day" else MAX_DAYS_BY_WEEK
    if finish - begin > timedelta(days=longest):
        raise InvalidInput(
            f"ask for at most {longest} days by {interval}", field="start", code="window_too_long"
        )
    chosen: dict[str, str | int] = {}
    for name, value in (filters or {}).items():
        if value is None or value == "":
            continue
        if name not in definition.filters:
            raise InvalidInput(
                f"{metric} cannot be filtered by {name}"
                + (
                    f" (it takes {', '.join(sorted(definition.filters))})"
                    if definition.filters
                    else ""
                ),
                field=name,
                code="filter_not_supported",
            )
        chosen[name] = _filter_value(name, value)
    if group_by is not None and group_by != "":
        if group_by not in definition.group_by:
            raise InvalidInput(
                f"{metric} cannot be grouped by {group_by}",
                field="group_by",
                code="group_by_not_supported",
            )
    else:
        group_by = None
    return Query(metric, begin, finish, interval, chosen, group_by)  # type: ignore[arg-type]


def readable(actor: Principal, definition: MetricDef) -> bool:
    """Whether ``actor`` may read ``definition`` at all (per-reviewer figures aside)."""
    return actor.can(Permission.metrics_read) and (
        definition.requires is None or actor.can(definition.requires)
    )


def _authorize(actor: Principal, definition: MetricDef, query: Query) -> None:
    actor.require(Permission.metrics_read)
    if definition.requires is not None and not actor.can(definition.requires):
        # A key can never hold some domains' read scopes: asking for one would mislead.
        if actor.type == ActorType.api_key and definition.requires not in API_KEY_SCOPES:
            raise PermissionDenied(
                f"{definition.label} is not available to API keys (it needs the "
                f"'{definition.requires.value}' permission, which an API key cannot hold); "
                "read it in the console",
                code="metric_forbidden",
            )
        raise PermissionDenied(
            f"{definition.label} needs the '{definition.requires.value}' permission as well",
            code="metric_forbidden",
        )
    if actor.can(Permission.metrics_reviewers):
        return
    if query.group_by == "reviewer":
        raise PermissionDenied(
            "other reviewers' figures need the 'metrics:reviewers' permission",
            field="group_by",
            code="reviewer_metrics_forbidden",
        )
    reviewer = query.filters.get("reviewer")
    if reviewer is not None and (actor.staff_id is None or int(reviewer) != actor.staff_id):
        raise PermissionDenied(
            "other reviewers' figures need the 'metrics:reviewers' permission",
            field="reviewer",
            code="reviewer_metrics_forbidden",
        )


# Assembly --------------------------------------------------------------------------------


def _empty(definition: MetricDef) -> Cell:
    if definition.kind == "count":
        return Cell(0.0)
    if definition.kind == "ratio":
        return Cell(None, 0.0, 0.0)
    return Cell(None, None, 0.0)


def _point(day: date, cell: Cell) -> Point:
    return Point(day, cell.value, cell.numerator, cell.denominator)


def _size(cell: Cell) -> float:
    if cell.denominator is not None:
        return cell.denominator
    return cell.value or 0.0


def _labels(session: Session, group_by: str | None, keys: list[str]) -> dict[str, str]:
    if group_by == "reviewer":
        ids = [int(k) for k in keys if k.isdigit()]
        if not ids:
            return {}
        return {
            str(i): name
            for i, name in session.execute(
                select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(ids))
            )
        }
    if group_by == "queue" and keys:
        return {
            slug: name
            for slug, name in session.execute(
                select(Queue.slug, Queue.name).where(Queue.slug.in_(keys))
            )
        }
    return {}


def series(session: Session, actor: Principal, query: Query) -> Series:
    definition = METRICS.get(query.metric)
    if definition is None:
        raise NotFound(
            f"no metric is called '{query.metric}'", field="metric", code="unknown_metric"
        )
    _authorize(actor, definition, query)
    result: Result = definition.compute(Ctx(session, actor, query))
    days = bucket_starts(query.start, query.end, query.interval)
    empty = _empty(definition)

    def points(group: str | None) -> list[Point]:
        return [_point(d, result.cells.get((d.isoformat(), group), empty)) for d in days]

    groups: list[GroupSeries] = []
    if query.group_by is None:
        buckets = points(None)
        total = _point(days[0], result.totals.get(None, empty))
    else:
        ranked = sorted(
            result.totals,
            key=lambda g: (-_size(result.totals[g]), g is None, g or ""),
        )
        keys = ranked[:MAX_GROUPS]
        names = _labels(session, query.group_by, [k for k in keys if k is not None])
        for key in keys:
            text = key if key is not None else "none"
            if key is None:
                label = "automated" if query.group_by == "reviewer" else "(none)"
            else:
                label = names.get(key, key)
            groups.append(
                GroupSeries(text, label, points(key), _point(days[0], result.totals[key]))
            )
        every = groups + [
            GroupSeries("", "", points(key), _point(days[0], result.totals[key]))
            for key in ranked[MAX_GROUPS:]
        ]
        buckets, total = _ungrouped(definition, days, every, empty)
    return Series(definition, query, query.interval, buckets, total, groups)


def _ungrouped(
    definition: MetricDef, days: list[date], groups: list[GroupSeries], empty: Cell
) -> tuple[list[Point], Point]:
    """The line beside the groups, from every group (not only those shown): counts add up,
    ratios add their numerators and denominators; quantiles do not add up, so that line has
    no value."""
    if definition.kind == "quantile":
        blank = [_point(d, _empty(definition)) for d in days]
        return blank, _point(days[0], _empty(definition))
    out: list[Point] = []
    for i, d in enumerate(days):
        out.append(_sum(d, [g.buckets[i] for g in groups], definition))
    return out, _sum(days[0], [g.total for g in groups], definition)


def _sum(day: date, points: list[Point], definition: MetricDef) -> Point:
    if definition.kind == "count":
        return Point(day, float(sum(p.value or 0.0 for p in points)), None, None)
    num = sum(p.numerator or 0.0 for p in points)
    den = sum(p.denominator or 0.0 for p in points)
    return Point(day, num / den if den else None, num, den)


def table(result: Series) -> tuple[list[Column], list[list[Any]]]:
    """One row per bucket (per group and bucket when grouped), then the window's total
    (``bucket`` = ``total``)."""
    columns = [Column("bucket", "bucket")]
    if result.groups:
        # "group" whatever the split, so a script reads every split's file the same way.
        columns += [Column("group", "group"), Column("label", "label")]
    columns += [
        Column("value", result.metric.name),
        Column("numerator", "numerator"),
        Column("denominator", "denominator"),
    ]
    rows: list[list[Any]] = []

    counted = result.metric.kind == "count"

    def whole(value: float | None) -> Any:
        # Counts are written as counts ("25", not "25.0"); rates and durations as they are.
        return int(value) if value is not None and float(value).is_integer() else value

    def row(p: Point, bucket: str, *group: str) -> list[Any]:
        value = whole(p.value) if counted else p.value
        return [bucket, *group, value, whole(p.numerator), whole(p.denominator)]

    if result.groups:
        for g in result.groups:
            rows += [row(p, p.start.isoformat(), g.key, g.label) for p in g.buckets]
            rows.append(row(g.total, "total", g.key, g.label))
    else:
        rows += [row(p, p.start.isoformat()) for p in result.buckets]
        rows.append(row(result.total, "total"))
    return columns, rows
