"""Outcomes outside the case queue: rule precision, identity verification, disputes.

Definitions:
- ``rule_precision``: each live (non-shadow) rule hit on an event whose case is closed with a
  judgement, placed by the event's ``occurred_at``. A judgement is a resolution of
  ``actioned`` (confirmed: the reviewers found a violation), ``no_violation`` or
  ``insufficient_evidence`` (not confirmed); cases closed as duplicate, withdrawn or other
  say nothing about the rule and are left out, as are open cases. Shadow hits never open
  cases and are excluded. ``rule`` is the rule's name, ``policy`` the hit's policy code.
- Identity: verifications processed (``processed_at``) in the bucket that reached an outcome
  (``failed`` ones are left out). The *automated* outcome is what the pipeline said: a
  verification a person decided was sent to review, whatever the person then decided. Rates
  are each outcome's share. ``identity_reasons`` counts each reason code once per
  verification that gives it.
- Disputes: ``disputes_opened`` by ``opened_at``; ``disputes_resolved`` and resolution times
  (``resolution_seconds``, the time from opening to resolution) by ``resolved_at``, as in
  ``vigil.disputes.metrics``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, literal, select, true
from sqlalchemy import case as sql_case

from vigil.accounts.models import Account
from vigil.analytics import sql
from vigil.analytics.metrics.base import (
    Ctx,
    Result,
    counts,
    flag,
    no_group,
    percentile,
    ratios,
    text_of,
)
from vigil.analytics.metrics.cases import HALF, P90
from vigil.analytics.metrics.dims import accounts_on, hidden_tier
from vigil.cases.models import Case, Resolution
from vigil.detection.models import Event
from vigil.disputes.models import Dispute
from vigil.identity.models import IdentityVerification
from vigil.identity.types import Outcome as IdOutcome
from vigil.identity.types import VerificationStatus

JUDGED = (Resolution.actioned, Resolution.no_violation, Resolution.insufficient_evidence)


def rule_precision(ctx: Ctx) -> Result:
    hit = sql.json_elements(ctx.dialect, Event.hits, "hit")
    name = sql.json_member(ctx.dialect, hit, "name")
    policy = sql.json_member(ctx.dialect, hit, "policy_code")
    shadow = sql.json_member(ctx.dialect, hit, "shadow")
    # JSON false reads as 'false' (PostgreSQL ->>) or 0 (SQLite json_extract).
    live = (
        func.coalesce(shadow, "false") == "false"
        if ctx.dialect == "postgresql"
        else func.coalesce(shadow, 0) == 0
    )
    where: list[ColumnElement[bool]] = [
        *ctx.within(Event.occurred_at),
        Event.case_id.is_not(None),
        Case.resolution.in_(JUDGED),
        live,
        name.is_not(None),
        *hidden_tier(ctx),
    ]
    if (rule := ctx.f("rule")) is not None:
        where.append(name == str(rule))
    if (code := ctx.f("policy")) is not None:
        where.append(policy == str(code))
    if (side := ctx.f("side")) is not None:
        where.append(Event.account_id.in_(accounts_on(str(side))))
    stmt = (
        select(Event.id).select_from(Event).join(Case, Case.id == Event.case_id).join(hit, true())
    )
    g: ColumnElement[Any] = no_group()
    if ctx.grouped("rule"):
        g = cast(name, String).label("g")
    elif ctx.grouped("policy"):
        g = cast(policy, String).label("g")
    elif ctx.grouped("side"):
        stmt = stmt.outerjoin(Account, Account.id == Event.account_id)
        g = Account.side.label("g")
    return ratios(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(Event.occurred_at).label("k"),
            g,
            flag(Case.resolution == Resolution.actioned).label("num"),
            literal(1).label("den"),
        ).where(*where),
    )


# Identity ------------------------------------------------------------------------------

_REACHED = (VerificationStatus.approved, VerificationStatus.rejected, VerificationStatus.review)


def automated_outcome() -> ColumnElement[Any]:
    return sql_case(
        (IdentityVerification.decided_at.is_not(None), IdOutcome.review.value),
        else_=IdentityVerification.outcome,
    )


def _identity(ctx: Ctx) -> tuple[Any, list[ColumnElement[bool]]]:
    where: list[ColumnElement[bool]] = [
        *ctx.within(IdentityVerification.processed_at),
        IdentityVerification.status.in_(_REACHED),
    ]
    side, locale = ctx.f("side"), ctx.f("locale")
    stmt = select(IdentityVerification.id)
    if side is not None or locale is not None or ctx.grouped("side") or ctx.grouped("locale"):
        stmt = stmt.join(Account, Account.id == IdentityVerification.account_id)
        if side is not None:
            where.append(Account.side == str(side))
        if locale is not None:
            where.append(Account.locale == str(locale))
    return stmt, where


def _identity_group(ctx: Ctx) -> ColumnElement[Any]:
    if ctx.grouped("side"):
        return Account.side.label("g")
    if ctx.grouped("locale"):
        return Account.locale.label("g")
    if ctx.grouped("outcome"):
        return automated_outcome().label("g")
    return no_group()


def identity_verifications(ctx: Ctx) -> Result:
    stmt, where = _identity(ctx)
    return counts(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(IdentityVerification.processed_at).label("k"),
            _identity_group(ctx),
            literal(1).label("n"),
        ).where(*where),
    )


def _identity_rate(ctx: Ctx, outcome: IdOutcome) -> Result:
    stmt, where = _identity(ctx)
    return ratios(
        ctx,
        stmt.with_only_columns(
            ctx.bucket(IdentityVerification.processed_at).label("k"),
            _identity_group(ctx),
            flag(automated_outcome() == outcome.value).label("num"),
            literal(1).label("den"),
        ).where(*where),
    )


def identity_pass_rate(ctx: Ctx) -> Result:
    return _identity_rate(ctx, IdOutcome.approve)


def identity_reject_rate(ctx: Ctx) -> Result:
    return _identity_rate(ctx, IdOutcome.reject)


def identity_review_rate(ctx: Ctx) -> Result:
    return _identity_rate(ctx, IdOutcome.review)


def identity_reasons(ctx: Ctx) -> Result:
    stmt, where = _identity(ctx)
    elems = sql.json_elements(ctx.dialect, IdentityVerification.reasons, "reason")
    g = text_of(ctx, elems.c.value).label("g") if ctx.grouped("reason") else _identity_group(ctx)
    return _reason_counts(ctx, stmt, where, elems, g)


def _reason_counts(ctx: Ctx, stmt: Any, where: Any, elems: Any, g: Any) -> Result:
    # Distinct (verification, reason) first: a reason repeated in one verification counts once.
    reason = text_of(ctx, elems.c.value)
    pairs = (
        stmt.join(elems, true())
        .with_only_columns(
            IdentityVerification.id.label("vid"),
            reason.label("r"),
            ctx.bucket(IdentityVerification.processed_at).label("k"),
            g,
        )
        .where(*where)
        .distinct()
        .subquery()
    )
    return counts(ctx, select(pairs.c.k, pairs.c.g, literal(1).label("n")))


# Disputes ------------------------------------------------------------------------------


def disputes_opened(ctx: Ctx) -> Result:
    return counts(
        ctx,
        select(
            ctx.bucket(Dispute.opened_at).label("k"),
            Dispute.reason_code.label("g") if ctx.grouped("reason") else no_group(),
            literal(1).label("n"),
        ).where(*ctx.within(Dispute.opened_at)),
    )


def _resolved(ctx: Ctx) -> list[ColumnElement[bool]]:
    return [Dispute.resolved_at.is_not(None), *ctx.within(Dispute.resolved_at)]


def _dispute_group(ctx: Ctx) -> ColumnElement[Any]:
    if ctx.grouped("outcome"):
        return Dispute.outcome.label("g")
    if ctx.grouped("reason"):
        return Dispute.reason_code.label("g")
    return no_group()


def disputes_resolved(ctx: Ctx) -> Result:
    return counts(
        ctx,
        select(
            ctx.bucket(Dispute.resolved_at).label("k"), _dispute_group(ctx), literal(1).label("n")
        ).where(*_resolved(ctx)),
    )


def _resolution(ctx: Ctx, q: Any) -> Result:
    return percentile(
        ctx,
        select(
            ctx.bucket(Dispute.resolved_at).label("k"),
            _dispute_group(ctx),
            Dispute.resolution_seconds.label("v"),
        ).where(*_resolved(ctx), Dispute.resolution_seconds.is_not(None)),
        q,
    )


def dispute_resolution_median(ctx: Ctx) -> Result:
    return _resolution(ctx, HALF)


def dispute_resolution_p90(ctx: Ctx) -> Result:
    return _resolution(ctx, P90)
