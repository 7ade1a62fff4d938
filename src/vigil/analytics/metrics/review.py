"""Quality of decisions: QA scores and agreement, appeal and overturn rates.

QA figures use the scorecards' definitions (``vigil.quality.scores``): scored samples, placed
by the time of the original decision (``qa_samples.decided_at``); agreement is the scorecards'
``agreed``: the blind re-decision's label *and* policy equal to the original's; kappa is
Cohen's kappa of the two labels alone (``vigil.quality.kappa``), undefined (null) with fewer
than two samples or a single label. A sample with the same label but another policy counts
as agreeing for kappa and not for agreement: the catalog and docs say so beside both.
Legal-tier cases count only for callers who may see them, as on the scorecards.

Appeal figures use ``vigil.appeals.metrics``' cohort: restrictive decisions that took effect
(``applied_at``) in the bucket, each followed to its appeal whenever it was made:
``appeal_rate`` = appealed / decisions; ``overturn_rate`` = (overturned + modified) / decided
appeals.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, cast, exists, func, literal, select

from vigil.analytics.metrics.base import Cell, Ctx, Result, flag, no_group, ratios
from vigil.analytics.metrics.dims import decision_filters, decision_group, queue_id_of
from vigil.appeals import metrics as appeal_metrics
from vigil.appeals.models import Appeal
from vigil.auth.permissions import Permission, Tier
from vigil.cases.models import Case, Queue
from vigil.enforcement.models import Decision
from vigil.quality.kappa import kappa_with_note
from vigil.quality.models import QASample, SampleStatus


def _qa_where(ctx: Ctx) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        QASample.status == SampleStatus.scored,
        *ctx.within(QASample.decided_at),
    ]
    if (queue := ctx.f("queue")) is not None:
        where.append(QASample.queue_id == queue_id_of(str(queue)))
    if (policy := ctx.f("policy")) is not None:
        where.append(QASample.original_policy_code == str(policy))
    if (reviewer := ctx.f("reviewer")) is not None:
        where.append(QASample.decided_by_id == int(reviewer))
    if not ctx.actor.can(Permission.legal_cases):
        where.append(exists().where(Case.id == QASample.case_id, Case.tier != Tier.legal))
    return where


def _qa_group(ctx: Ctx, stmt: Any) -> tuple[Any, ColumnElement[Any]]:
    group = ctx.query.group_by
    if group == "queue":
        return stmt.outerjoin(Queue, Queue.id == QASample.queue_id), Queue.slug.label("g")
    if group == "policy":
        return stmt, QASample.original_policy_code.label("g")
    if group == "reviewer":
        return stmt, cast(QASample.decided_by_id, String).label("g")
    return stmt, no_group()


def _qa_ratio(ctx: Ctx, num: ColumnElement[Any], den: ColumnElement[Any]) -> Result:
    stmt, g = _qa_group(ctx, select(QASample.id))
    return ratios(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(QASample.decided_at).label("k"), g, num.label("num"), den.label("den")
        ).where(*_qa_where(ctx)),
    )


def qa_agreement_rate(ctx: Ctx) -> Result:
    return _qa_ratio(ctx, flag(QASample.agreed.is_(True)), literal(1))


def qa_right_policy_rate(ctx: Ctx) -> Result:
    return _qa_ratio(ctx, flag(QASample.right_policy.is_(True)), literal(1))


def qa_right_action_rate(ctx: Ctx) -> Result:
    return _qa_ratio(ctx, flag(QASample.right_action.is_(True)), literal(1))


def qa_message_quality(ctx: Ctx) -> Result:
    """Mean of the 1-5 message score over the samples that were given one."""
    return _qa_ratio(
        ctx,
        func.coalesce(QASample.message_quality, 0),
        flag(QASample.message_quality.is_not(None)),
    )


def qa_kappa(ctx: Ctx) -> Result:
    """One grouped read of the confusion tables (bucket, group, original, blind); kappa of
    each bucket's table and of the window's (the sum of its buckets' tables)."""
    stmt, g = _qa_group(ctx, select(QASample.id))
    sub = (
        stmt.with_only_columns(
            ctx.bucket(QASample.decided_at).label("k"),
            g,
            QASample.original_label.label("a"),
            QASample.blind_label.label("b"),
        )
        .where(*_qa_where(ctx))
        .subquery()
    )
    tables: dict[tuple[str, str | None], dict[tuple[str, str], int]] = {}
    totals: dict[str | None, dict[tuple[str, str], int]] = {}
    for k, grp, a, b, n in ctx.session.execute(
        select(sub.c.k, sub.c.g, sub.c.a, sub.c.b, func.count()).group_by(
            sub.c.k, sub.c.g, sub.c.a, sub.c.b
        )
    ):
        key = None if grp is None else str(grp)
        cell = (str(a), str(b))
        table = tables.setdefault((str(k), key), {})
        table[cell] = table.get(cell, 0) + int(n)
        whole = totals.setdefault(key, {})
        whole[cell] = whole.get(cell, 0) + int(n)
    result = Result()
    for where, table in tables.items():
        result.cells[where] = Cell(kappa_with_note(table)[0], None, float(sum(table.values())))
    for key, table in totals.items():
        result.totals[key] = Cell(kappa_with_note(table)[0], None, float(sum(table.values())))
    return result


# Appeals -------------------------------------------------------------------------------


def _appeals(ctx: Ctx, num: ColumnElement[Any], den: ColumnElement[Any]) -> Result:
    cohort = appeal_metrics._cohort(ctx.start, ctx.end, ctx.actor.can(Permission.legal_cases))
    stmt = (
        select(Decision.id)
        .join(Case, Case.id == Decision.case_id)
        .outerjoin(Appeal, Appeal.decision_id == Decision.id)
    )
    stmt, g = decision_group(ctx, stmt, case_joined=True)
    return ratios(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(Decision.applied_at).label("k"), g, num.label("num"), den.label("den")
        ).where(*cohort, *decision_filters(ctx, case_joined=True)),
    )


def appeal_rate(ctx: Ctx) -> Result:
    return _appeals(ctx, flag(Appeal.id.is_not(None)), literal(1))


def overturn_rate(ctx: Ctx) -> Result:
    return _appeals(
        ctx,
        flag(Appeal.status.in_(appeal_metrics._OVERTURNED)),
        flag(Appeal.status.in_(appeal_metrics._DECIDED)),
    )
