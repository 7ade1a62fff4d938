"""Case flow: opened, closed, backlog and its age, SLA attainment, time to first action.

Definitions (docs/metrics.md repeats them for readers):
- A case is *open* from ``opened_at`` until ``closed_at``. Reopening clears ``closed_at``, so a
  reopened case counts as open from its first opening (its closed spell is not remembered).
- ``backlog`` is the number of cases open at the end of each bucket (for the current bucket:
  now). It is computed from the flow (cases opened minus cases closed, cumulated from the
  beginning of time), so it reads two ordered index ranges, not one row per case per bucket.
  By ``age_band`` it counts, for each bucket end, the open cases by how long they had been
  open then.
- ``sla_attainment``: of the cases closed in the bucket, the share closed by their
  ``sla_due_at`` and never flagged as breached. It says nothing of cases still open, so
  ``backlog_past_sla`` counts the open cases already past their ``sla_due_at`` at each
  bucket's end (a snapshot, like ``backlog``).
- ``time_to_first_action``: from opening to the first time a person took the case
  (``first_assigned_at``), placed by ``first_assigned_at``. Cases closed without anyone taking
  them (automation) have no first action and are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select, true, union_all
from sqlalchemy import case as sql_case

from vigil.analytics.metrics.base import (
    Cell,
    Ctx,
    Result,
    bucket_ends,
    bucket_starts,
    counts,
    flag,
    maximum,
    percentile,
    ratios,
    read_instants,
)
from vigil.analytics.metrics.dims import case_filters, case_group
from vigil.cases.models import Case

HALF = Fraction(1, 2)
P90 = Fraction(9, 10)

# (key, upper bound in seconds): the open case's age at the bucket's end.
AGE_BANDS: tuple[tuple[str, float | None], ...] = (
    ("<1h", 3600.0),
    ("1-4h", 4 * 3600.0),
    ("4-24h", 24 * 3600.0),
    ("1-3d", 3 * 86400.0),
    (">3d", None),
)


def cases_opened(ctx: Ctx) -> Result:
    stmt, g = case_group(ctx, select(Case.id))
    return counts(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(Case.opened_at).label("k"), g, literal(1).label("n")
        ).where(*ctx.within(Case.opened_at), *case_filters(ctx)),
    )


def cases_closed(ctx: Ctx) -> Result:
    stmt, g = case_group(ctx, select(Case.id))
    return counts(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(Case.closed_at).label("k"), g, literal(1).label("n")
        ).where(*ctx.within(Case.closed_at), *case_filters(ctx)),
    )


def sla_attainment(ctx: Ctx) -> Result:
    met = (Case.closed_at <= Case.sla_due_at) & Case.sla_breached_at.is_(None)
    stmt, g = case_group(ctx, select(Case.id))
    return ratios(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(Case.closed_at).label("k"),
            g,
            flag(met).label("num"),
            literal(1).label("den"),
        ).where(*ctx.within(Case.closed_at), *case_filters(ctx)),
    )


def _first_action(ctx: Ctx, q: Fraction) -> Result:
    stmt, g = case_group(ctx, select(Case.id))
    return percentile(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(Case.first_assigned_at).label("k"),
            g,
            ctx.seconds(Case.opened_at, Case.first_assigned_at).label("v"),
        ).where(*ctx.within(Case.first_assigned_at), *case_filters(ctx)),
        q,
    )


def time_to_first_action_median(ctx: Ctx) -> Result:
    return _first_action(ctx, HALF)


def time_to_first_action_p90(ctx: Ctx) -> Result:
    return _first_action(ctx, P90)


def backlog(ctx: Ctx) -> Result:
    if ctx.grouped("age_band"):
        return _backlog_by_age(ctx)
    # +1 at each opening, -1 at each closing; everything before the window folds into one
    # opening balance (key ''), then a running sum gives the count at each bucket's end.
    where = case_filters(ctx)
    opened, g1 = case_group(ctx, select(Case.id))
    closed, g2 = case_group(ctx, select(Case.id))
    flow = union_all(
        opened.with_only_columns(Case.opened_at.label("t"), g1, literal(1).label("d")).where(
            Case.opened_at < ctx.end, *where
        ),
        closed.with_only_columns(Case.closed_at.label("t"), g2, literal(-1).label("d")).where(
            Case.closed_at.is_not(None), Case.closed_at < ctx.end, *where
        ),
    ).subquery()
    key = sql_case((flow.c.t < ctx.start, ""), else_=ctx.bucket(flow.c.t))
    sub = select(key.label("k"), flow.c.g.label("g"), flow.c.d.label("d")).subquery()
    deltas: dict[tuple[str, str | None], int] = {}
    for k, g, d in ctx.session.execute(
        select(sub.c.k, sub.c.g, func.sum(sub.c.d)).group_by(sub.c.k, sub.c.g)
    ):
        deltas[(str(k), None if g is None else str(g))] = int(d or 0)
    result = Result()
    groups = {g for _, g in deltas}
    keys = [d.isoformat() for d in bucket_starts(ctx.start, ctx.end, ctx.query.interval)]
    for g in groups:
        running = deltas.get(("", g), 0)
        for k in keys:
            running += deltas.get((k, g), 0)
            result.cells[(k, g)] = Cell(float(running))
        result.totals[g] = Cell(float(running))
    return result


def _reach(ctx: Ctx) -> timedelta | None:
    """How long before a bucket end a case still open then may have opened, if it has closed
    since: the longest duration of the cases closed after the first read instant (one index
    range on ``closed_at``). None when none has."""
    first = min(at for _, at in read_instants(ctx))
    longest = ctx.session.scalar(
        select(func.max(ctx.seconds(Case.opened_at, Case.closed_at))).where(Case.closed_at >= first)
    )
    if longest is None:
        return None
    return timedelta(seconds=math.ceil(float(longest)) + 1)


def _aged(
    ctx: Ctx,
    value: Callable[[ColumnElement[float]], ColumnElement[Any]],
    past_due: bool = False,
) -> Any:
    """The cases open at each bucket end (``k``, ``g``, ``v`` = ``value(age then)``); with
    ``past_due``, only those whose ``sla_due_at`` had passed by then.

    A case open at ``e`` (opened before it, not closed by then) is either still open now
    (read through the partial index on unclosed cases, as many rows as today's backlog), or
    closed since ``e`` -- and then it opened no earlier than ``e - reach``, where ``reach`` is
    the longest duration among cases closed since the window began (an index range on
    ``opened_at`` per bucket end). Both halves are index ranges, so the work follows the
    backlog's size, not the table's.
    """
    ends = bucket_ends(ctx, _reach(ctx))
    age = ctx.seconds(Case.opened_at, ends.c.e)
    still_open, g1 = case_group(ctx, select(ends.c.k).select_from(ends).join(Case, true()))
    closed_since, g2 = case_group(ctx, select(ends.c.k).select_from(ends).join(Case, true()))
    due = [Case.sla_due_at < ends.c.e] if past_due else []
    return union_all(
        still_open.with_only_columns(ends.c.k.label("k"), g1, value(age).label("v")).where(
            Case.closed_at.is_(None), Case.opened_at < ends.c.e, *due, *case_filters(ctx)
        ),
        closed_since.with_only_columns(ends.c.k.label("k"), g2, value(age).label("v")).where(
            Case.opened_at >= ends.c.lo,
            Case.opened_at < ends.c.e,
            Case.closed_at >= ends.c.e,
            *due,
            *case_filters(ctx),
        ),
    ).subquery()


def _band(age: ColumnElement[float]) -> ColumnElement[str]:
    whens = [(age < bound, key) for key, bound in AGE_BANDS if bound is not None]
    return sql_case(*whens, else_=AGE_BANDS[-1][0])


def _backlog_by_age(ctx: Ctx) -> Result:
    aged = _aged(ctx, _band)
    # The band is the group key here (``v``), so the query's own group key is not used.
    result = counts(ctx, select(aged.c.k, aged.c.v.label("g"), literal(1).label("n")))
    # A snapshot: the total is the state at the window's end (its last bucket).
    last = bucket_starts(ctx.start, ctx.end, ctx.query.interval)[-1].isoformat()
    result.totals = {g: result.cells.get((last, g), Cell(0.0)) for _, g in result.cells}
    result.labels = {key: key for key, _ in AGE_BANDS}
    return result


def _age_source(ctx: Ctx) -> Any:
    aged = _aged(ctx, lambda age: age)
    return select(aged.c.k, aged.c.g, aged.c.v)


def _snapshot_totals(ctx: Ctx, result: Result) -> Result:
    last = bucket_starts(ctx.start, ctx.end, ctx.query.interval)[-1].isoformat()
    groups = {g for _, g in result.cells} | set(result.totals)
    result.totals = {g: result.cells.get((last, g), Cell(None, None, 0.0)) for g in groups}
    return result


def backlog_past_sla(ctx: Ctx) -> Result:
    """Open cases whose SLA due time had passed at each bucket end: the late backlog that
    ``sla_attainment`` (closed cases only) cannot show until those cases close."""
    aged = _aged(ctx, lambda age: age, past_due=True)
    result = counts(ctx, select(aged.c.k, aged.c.g, literal(1).label("n")))
    last = bucket_starts(ctx.start, ctx.end, ctx.query.interval)[-1].isoformat()
    groups = {g for _, g in result.cells}
    result.totals = {g: result.cells.get((last, g), Cell(0.0)) for g in groups}
    return result


def backlog_age_median(ctx: Ctx) -> Result:
    return _snapshot_totals(ctx, percentile(ctx, _age_source(ctx), HALF, total=False))


def backlog_age_max(ctx: Ctx) -> Result:
    return _snapshot_totals(ctx, maximum(ctx, _age_source(ctx), total=False))
