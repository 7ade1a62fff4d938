"""Decisions: time to decision, handle time, productivity, automation, enforcement counts.

Definitions:
- A *decision* is a row of ``decisions`` that is not ``rejected`` (a four-eyes refusal is not a
  decision); it is placed by ``created_at``, the moment it was made. ``reviewer`` is the
  decider (null: automated).
- ``time_to_decision``: from the case's opening to the decision.
- ``handle_time``: from the latest assignment of the case before the decision (the decider
  holds the case when deciding, so this is their assignment) to the decision; human decisions
  only.
- ``decisions_per_hour``: human decisions / *active hours*, where an active hour is a distinct
  (reviewer, clock hour) in which the reviewer made a decision or recorded any case event.
  Time spent reading without touching anything is not seen, so the figure is an upper bound of
  throughput per worked hour, comparable across people and weeks.
- ``automation_rate``: decisions with no human decider / all decisions.
- ``enforcement_actions``: violation decisions that took effect (``applied_at`` in the bucket,
  still applied or since reversed), one per decision, by its most severe action.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, literal, select, union_all

from vigil.analytics import sql
from vigil.analytics.metrics.base import Ctx, Result, counts, flag, percentile, ratios
from vigil.analytics.metrics.cases import HALF, P90
from vigil.analytics.metrics.dims import decision_filters, decision_group
from vigil.cases.models import Case, CaseEvent, CaseStatus
from vigil.enforcement.models import Decision, DecisionStatus

_MADE = Decision.status != DecisionStatus.rejected
_HUMAN = Decision.decided_by_id.is_not(None)


def _decisions(ctx: Ctx, *extra: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    return [*ctx.within(Decision.created_at), _MADE, *extra]


def _time_to_decision(ctx: Ctx, q: Any) -> Result:
    stmt = select(Decision.id).join(Case, Case.id == Decision.case_id)
    stmt, g = decision_group(ctx, stmt, case_joined=True)
    return percentile(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(Decision.created_at).label("k"),
            g,
            ctx.seconds(Case.opened_at, Decision.created_at).label("v"),
        ).where(*_decisions(ctx), *decision_filters(ctx, case_joined=True)),
        q,
    )


def time_to_decision_median(ctx: Ctx) -> Result:
    return _time_to_decision(ctx, HALF)


def time_to_decision_p90(ctx: Ctx) -> Result:
    return _time_to_decision(ctx, P90)


def _handle_time(ctx: Ctx, q: Any) -> Result:
    assigned = (
        select(func.max(CaseEvent.at))
        .where(
            CaseEvent.case_id == Decision.case_id,
            CaseEvent.to_status == CaseStatus.assigned.value,
            CaseEvent.at <= Decision.created_at,
        )
        .correlate(Decision)
        .scalar_subquery()
    )
    stmt, g = decision_group(ctx, select(Decision.id))
    inner = stmt.with_only_columns(
        ctx.bucket(Decision.created_at).label("k"),
        g,
        ctx.seconds(assigned, Decision.created_at).label("v"),
    ).where(*_decisions(ctx, _HUMAN), *decision_filters(ctx))
    sub = inner.subquery()
    return percentile(ctx, select(sub.c.k, sub.c.g, sub.c.v).where(sub.c.v.is_not(None)), q)


def handle_time_median(ctx: Ctx) -> Result:
    return _handle_time(ctx, HALF)


def handle_time_p90(ctx: Ctx) -> Result:
    return _handle_time(ctx, P90)


def automation_rate(ctx: Ctx) -> Result:
    stmt, g = decision_group(ctx, select(Decision.id))
    return ratios(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(Decision.created_at).label("k"),
            g,
            flag(Decision.decided_by_id.is_(None)).label("num"),
            literal(1).label("den"),
        ).where(*_decisions(ctx), *decision_filters(ctx)),
    )


def enforcement_actions(ctx: Ctx) -> Result:
    stmt, g = decision_group(ctx, select(Decision.id))
    return counts(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(Decision.applied_at).label("k"), g, literal(1).label("n")
        ).where(
            *ctx.within(Decision.applied_at),
            Decision.status.in_([DecisionStatus.applied, DecisionStatus.reversed]),
            Decision.no_violation.is_(False),
            *decision_filters(ctx),
        ),
    )


def decisions_per_hour(ctx: Ctx) -> Result:
    """Numerator rows come from decisions, denominator rows from the distinct active
    (reviewer, hour) pairs; both carry the bucket and the reviewer, so one grouped read gives
    the team's figure per bucket and, by ``reviewer``, each person's."""
    reviewer = ctx.f("reviewer")
    activity = union_all(
        select(
            Decision.decided_by_id.label("who"),
            Decision.created_at.label("at"),
        ).where(*_decisions(ctx, _HUMAN)),
        select(CaseEvent.actor_id.label("who"), CaseEvent.at.label("at")).where(
            *ctx.within(CaseEvent.at), CaseEvent.actor_id.is_not(None)
        ),
    ).subquery()
    hours = (
        select(
            activity.c.who,
            sql.bucket(ctx.dialect, activity.c.at, "hour").label("h"),
            sql.bucket(ctx.dialect, activity.c.at, ctx.query.interval).label("k"),
        )
        .distinct()
        .subquery()
    )
    by_reviewer = ctx.grouped("reviewer")
    hours_where = [hours.c.who == int(reviewer)] if reviewer is not None else []
    decisions_where = [Decision.decided_by_id == int(reviewer)] if reviewer is not None else []
    g_hours: ColumnElement[Any] = (
        cast(hours.c.who, String).label("g") if by_reviewer else literal(None).label("g")
    )
    g_dec: ColumnElement[Any] = (
        cast(Decision.decided_by_id, String).label("g") if by_reviewer else literal(None).label("g")
    )
    source = union_all(
        select(
            ctx.bucket(Decision.created_at).label("k"),
            g_dec,
            literal(1).label("num"),
            literal(0).label("den"),
        ).where(*_decisions(ctx, _HUMAN), *decisions_where),
        select(hours.c.k, g_hours, literal(0).label("num"), literal(1).label("den")).where(
            *hours_where
        ),
    ).subquery()
    return ratios(ctx, select(source.c.k, source.c.g, source.c.num, source.c.den))
