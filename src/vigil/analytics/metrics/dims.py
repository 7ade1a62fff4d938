"""What each filter and group_by means on the tables the metrics read.

A case is placed by its current queue, its policy, its language and its account's side; a
decision by its case's queue, its first (most severe) policy, its decider, its message locale
and its account's side. Filters become ``IN (subquery)`` conditions on the driving table so a
metric's source select stays one statement; a group_by adds the one join it needs.

Invariant: legal-tier cases exist only for those who hold ``cases:legal``. Every case and
decision metric applies :func:`hidden_tier` / :func:`decision_visible` (QA and appeals apply
the same rule through their own sources), so neither a count, a group key (the legal queue, a
legal-order policy) nor a filter value reveals legal-tier work to anyone else.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, exists, select
from sqlalchemy.sql import Select

from vigil.accounts.models import Account
from vigil.analytics.metrics.base import Ctx, no_group
from vigil.auth.permissions import Permission, Tier
from vigil.cases.models import Case, Queue
from vigil.enforcement.models import Decision, DecisionPolicy

NONE_KEY = "none"


def queue_id_of(slug: str) -> Any:
    return select(Queue.id).where(Queue.slug == slug).scalar_subquery()


def accounts_on(side: str) -> Any:
    return select(Account.id).where(Account.side == side)


def sees_legal(ctx: Ctx) -> bool:
    return ctx.actor.can(Permission.legal_cases)


def hidden_tier(ctx: Ctx) -> list[ColumnElement[bool]]:
    """On a statement that reads ``Case``: leave out legal-tier cases unless the caller may
    see them."""
    return [] if sees_legal(ctx) else [Case.tier != Tier.legal]


def decision_visible(ctx: Ctx, *, case_joined: bool = False) -> list[ColumnElement[bool]]:
    """On a statement that reads ``Decision``: leave out decisions on legal-tier cases unless
    the caller may see them (a primary-key probe per decision, not a scan)."""
    if sees_legal(ctx):
        return []
    if case_joined:
        return [Case.tier != Tier.legal]
    return [~exists().where(Case.id == Decision.case_id, Case.tier == Tier.legal)]


def case_filters(ctx: Ctx) -> list[ColumnElement[bool]]:
    """Conditions on ``Case`` for the query's filters (queue, policy, locale, side) and the
    caller's view of the legal tier."""
    where: list[ColumnElement[bool]] = hidden_tier(ctx)
    if (queue := ctx.f("queue")) is not None:
        where.append(Case.queue_id == queue_id_of(str(queue)))
    if (policy := ctx.f("policy")) is not None:
        where.append(Case.policy_code == str(policy))
    if (locale := ctx.f("locale")) is not None:
        where.append(Case.language == str(locale))
    if (side := ctx.f("side")) is not None:
        where.append(Case.account_id.in_(accounts_on(str(side))))
    return where


def case_group(ctx: Ctx, stmt: Select[Any]) -> tuple[Select[Any], ColumnElement[Any]]:
    """The group key of a case for the query's group_by, with the join it needs."""
    group = ctx.query.group_by
    if group == "queue":
        return stmt.join(Queue, Queue.id == Case.queue_id), Queue.slug.label("g")
    if group == "policy":
        return stmt, Case.policy_code.label("g")
    if group == "locale":
        return stmt, Case.language.label("g")
    if group == "side":
        return stmt.outerjoin(Account, Account.id == Case.account_id), Account.side.label("g")
    if group == "type":
        return stmt, Case.type.label("g")
    if group == "resolution":
        return stmt, Case.resolution.label("g")
    return stmt, no_group()


def first_policy(decision_id: Any) -> Any:
    return (
        select(DecisionPolicy.policy_code)
        .where(DecisionPolicy.decision_id == decision_id, DecisionPolicy.position == 0)
        .scalar_subquery()
    )


def decision_filters(ctx: Ctx, *, case_joined: bool = False) -> list[ColumnElement[bool]]:
    """Conditions on ``Decision`` (and ``Case`` when the statement joins it), including the
    caller's view of the legal tier."""
    where: list[ColumnElement[bool]] = decision_visible(ctx, case_joined=case_joined)
    if (queue := ctx.f("queue")) is not None:
        if case_joined:
            where.append(Case.queue_id == queue_id_of(str(queue)))
        else:
            where.append(
                Decision.case_id.in_(
                    select(Case.id).where(Case.queue_id == queue_id_of(str(queue)))
                )
            )
    if (policy := ctx.f("policy")) is not None:
        where.append(
            Decision.id.in_(
                select(DecisionPolicy.decision_id).where(
                    DecisionPolicy.policy_code == str(policy), DecisionPolicy.position == 0
                )
            )
        )
    if (reviewer := ctx.f("reviewer")) is not None:
        where.append(Decision.decided_by_id == int(reviewer))
    if (locale := ctx.f("locale")) is not None:
        where.append(Decision.locale == str(locale))
    if (side := ctx.f("side")) is not None:
        where.append(Decision.account_id.in_(accounts_on(str(side))))
    return where


def decision_group(
    ctx: Ctx, stmt: Select[Any], *, case_joined: bool = False
) -> tuple[Select[Any], ColumnElement[Any]]:
    """The group key of a decision for the query's group_by, with the join it needs.
    ``reviewer`` is the decider's staff id (null: automated)."""
    group = ctx.query.group_by
    if group == "queue":
        if not case_joined:
            stmt = stmt.join(Case, Case.id == Decision.case_id)
        return stmt.join(Queue, Queue.id == Case.queue_id), Queue.slug.label("g")
    if group == "policy":
        return (
            stmt.outerjoin(
                DecisionPolicy,
                and_(DecisionPolicy.decision_id == Decision.id, DecisionPolicy.position == 0),
            ),
            DecisionPolicy.policy_code.label("g"),
        )
    if group == "reviewer":
        return stmt, cast(Decision.decided_by_id, String).label("g")
    if group == "locale":
        return stmt, Decision.locale.label("g")
    if group == "side":
        return stmt.outerjoin(Account, Account.id == Decision.account_id), Account.side.label("g")
    if group == "action":
        return stmt, Decision.action.label("g")
    return stmt, no_group()
