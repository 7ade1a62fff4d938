"""Decisions: time to decision, handle time, productivity, automation, enforcement counts.

Definitions:
- A *decision* is a row of ``decisions`` that is not ``rejected`` (a four-eyes refusal is not a
  decision); it is placed by ``created_at``, the moment it was made. ``reviewer`` is the
  decider (null: automated).
- ``time_to_decision``: from the case's opening to the decision.
- ``handle_time``: working time on the case before a human decision: from the case's latest
  take or assignment (an ``assigned`` event: a pull, a self-take or an assignment; a resume
  from hold or a four-eyes rejection that returns the case to its holder is not one) to the
  decision, less the time the case spent on hold in between. A hold does not restart the
  clock, and waiting on the user does not count as work.
- ``decisions_per_hour``: human decisions / *active hours*, where an active hour is a distinct
  (reviewer, clock hour) in which the reviewer made a decision or recorded any case event, and
  a *reviewer* is a staff member who made at least one human decision in the bucket (an admin
  rerouting cases or a lead writing notes adds no hours). Time spent reading without touching
  anything is not seen, so the figure is an upper bound of throughput per worked hour,
  comparable across people and weeks.
- ``automation_rate``: decisions with no human decider / all decisions.
- ``enforcement_actions``: violation decisions that took effect (``applied_at`` in the bucket,
  still applied or since reversed), one per decision, by its most severe action.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, cast, exists, func, literal, or_, select, union_all
from sqlalchemy import case as sql_case

from vigil.analytics import sql
from vigil.analytics.metrics.base import Ctx, Result, counts, flag, percentile, ratios
from vigil.analytics.metrics.cases import HALF, P90
from vigil.analytics.metrics.dims import decision_filters, decision_group, sees_legal
from vigil.auth.permissions import Tier
from vigil.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
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
    taken = (
        select(func.max(CaseEvent.at))
        .where(
            CaseEvent.case_id == Decision.case_id,
            CaseEvent.kind == CaseEventKind.assigned.value,
            CaseEvent.at <= Decision.created_at,
        )
        .correlate(Decision)
        .scalar_subquery()
    )
    stmt, g = decision_group(ctx, select(Decision.id))
    decided = (
        stmt.with_only_columns(
            ctx.bucket(Decision.created_at).label("k"),
            g,
            Decision.case_id.label("cid"),
            Decision.created_at.label("at"),
            taken.label("taken"),
        )
        .where(*_decisions(ctx, _HUMAN), *decision_filters(ctx))
        .subquery()
    )
    # Time on hold after the take: every spell starts with an event entering on_hold and ends
    # with one leaving it, both between the take (the case was assigned then) and the decision
    # (it is assigned again), so sum(leaving) - sum(entering), each measured from the take.
    on_hold = CaseStatus.on_hold.value
    held = (
        select(
            func.coalesce(
                func.sum(
                    sql_case((CaseEvent.from_status == on_hold, 1), else_=-1)
                    * ctx.seconds(decided.c.taken, CaseEvent.at)
                ),
                0,
            )
        )
        .where(
            CaseEvent.case_id == decided.c.cid,
            CaseEvent.at > decided.c.taken,
            CaseEvent.at <= decided.c.at,
            or_(CaseEvent.from_status == on_hold, CaseEvent.to_status == on_hold),
        )
        .correlate(decided)
        .scalar_subquery()
    )
    return percentile(
        ctx,
        select(
            decided.c.k, decided.c.g, (ctx.seconds(decided.c.taken, decided.c.at) - held).label("v")
        ).where(decided.c.taken.is_not(None)),
        q,
    )


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
    (reviewer, hour) pairs of the staff who decided in the same bucket; both carry the bucket
    and the reviewer, so one grouped read gives the team's figure per bucket and, by
    ``reviewer``, each person's."""
    visible_events: list[ColumnElement[bool]] = (
        []
        if sees_legal(ctx)
        else [~exists().where(Case.id == CaseEvent.case_id, Case.tier == Tier.legal)]
    )
    # The decision filters (a reviewer, the legal tier) narrow both sides: the hours follow
    # the deciders.
    made = [*_decisions(ctx, _HUMAN), *decision_filters(ctx)]
    activity = union_all(
        select(
            Decision.decided_by_id.label("who"),
            Decision.created_at.label("at"),
        ).where(*made),
        select(CaseEvent.actor_id.label("who"), CaseEvent.at.label("at")).where(
            *ctx.within(CaseEvent.at), CaseEvent.actor_id.is_not(None), *visible_events
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
    # Who counts as a reviewer in a bucket: whoever made a human decision in it.
    deciders = (
        select(Decision.decided_by_id.label("who"), ctx.bucket(Decision.created_at).label("k"))
        .where(*made)
        .distinct()
        .subquery()
    )
    by_reviewer = ctx.grouped("reviewer")
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
        ).where(*made),
        select(hours.c.k, g_hours, literal(0).label("num"), literal(1).label("den"))
        .select_from(hours)
        .join(deciders, (deciders.c.who == hours.c.who) & (deciders.c.k == hours.c.k)),
    ).subquery()
    return ratios(ctx, select(source.c.k, source.c.g, source.c.num, source.c.den))
