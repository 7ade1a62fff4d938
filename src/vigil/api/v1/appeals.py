"""HTTP API: appeals against decisions.

The marketplace submits its user's appeal (``appeals:write``) naming the account by its
external id and the decision by id or by the statement of reasons' reference. Staff who hold
the appeal case decide it (``appeals:decide``). A refused request changes nothing: 404
``decision_not_found`` (also for a decision about another account) / ``appeal_not_found``;
403 ``recused`` / ``not_assignee`` / ``reviewer_metrics_staff_only``; 409 ``appeal_exists`` /
``appeal_decided`` / ``decision_not_applied`` / ``modification_needs_approval``; 422
``appeal_window_closed`` / ``decision_not_appealable`` / ``reason_required`` /
``decision_required`` / ``invalid_reference``, with the field at fault (docs/appeals.md
lists every code).

An API key reads the parties' view (no ``decided_by``), and sees the appeals it can submit,
legal-tier ones included; per-reviewer metrics are for staff only.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.api.deps import DB, AppSettings, require
from vigil.appeals import hearing, metrics, service
from vigil.appeals.models import Appeal, AppealStatus
from vigil.appeals.schemas import (
    AppealIn,
    AppealOut,
    AppealPage,
    DecideIn,
    MetricsOut,
    WithdrawIn,
)
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal

router = APIRouter(tags=["appeals"])

AppealsRead = Annotated[Principal, Depends(require(Permission.appeals_read))]
AppealsWrite = Annotated[Principal, Depends(require(Permission.appeals_write))]
AppealsDecide = Annotated[Principal, Depends(require(Permission.appeals_decide))]
AppealId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The appeal's id.")]


def _out(db: Session, actor: Principal, appeal: Appeal) -> AppealOut:
    account = db.get(Account, appeal.account_id)
    external = account.external_id if account is not None else ""
    return AppealOut.of(appeal, external, internal=actor.is_staff)


@router.post(
    "/appeals",
    response_model=AppealOut,
    status_code=status.HTTP_201_CREATED,
    summary="Submit a user's appeal against a decision",
)
def submit(body: AppealIn, db: DB, settings: AppSettings, actor: AppealsWrite) -> AppealOut:
    submitted = service.submit_for_account(
        db,
        actor,
        account_external_id=body.account_external_id,
        decision_id=body.decision_id,
        reference=body.reference,
        submission_text=body.statement,
        language=body.language,
        contact=body.contact,
        settings=settings,
    )
    return _out(db, actor, submitted.appeal)


@router.get("/appeals", response_model=AppealPage, summary="List appeals, newest first")
def list_appeals(
    db: DB,
    settings: AppSettings,
    actor: AppealsRead,
    status_: Annotated[AppealStatus | None, Query(alias="status")] = None,
    account_external_id: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> AppealPage:
    size = min(limit or settings.page_size_default, settings.page_size_max)
    rows, next_cursor = service.list_appeals(
        db,
        actor,
        status=status_,
        account_external_id=account_external_id,
        cursor=cursor,
        limit=size,
    )
    return AppealPage(items=[_out(db, actor, a) for a in rows], next_cursor=next_cursor)


@router.get(
    "/appeals/metrics",
    response_model=MetricsOut,
    summary="Appeal and overturn rates, in total and per policy, rule or reviewer",
)
def appeal_metrics(
    db: DB,
    actor: AppealsRead,
    since: Annotated[date | None, Query(description="Applied on or after this day (UTC).")] = None,
    until: Annotated[date | None, Query(description="Applied on or before this day (UTC).")] = None,
    group_by: metrics.GroupBy | None = None,
) -> MetricsOut:
    result = metrics.appeal_metrics(db, actor, since=since, until=until, group_by=group_by)
    return MetricsOut.model_validate(metrics.as_dict(result))


@router.get("/appeals/{appeal_id}", response_model=AppealOut, summary="One appeal")
def get_appeal(appeal_id: AppealId, db: DB, actor: AppealsRead) -> AppealOut:
    return _out(db, actor, service.get_appeal(db, actor, appeal_id))


@router.post(
    "/appeals/{appeal_id}/decide",
    response_model=AppealOut,
    summary="Uphold, overturn or modify (by the holder of the appeal case)",
)
def decide(
    appeal_id: AppealId, body: DecideIn, db: DB, settings: AppSettings, actor: AppealsDecide
) -> AppealOut:
    appeal = hearing.decide_appeal(
        db,
        actor,
        appeal_id,
        outcome=body.outcome,
        reason=body.reason,
        new_decision=body.decision,
        settings=settings,
    )
    return _out(db, actor, appeal)


@router.post(
    "/appeals/{appeal_id}/withdraw",
    response_model=AppealOut,
    summary="Withdraw an open appeal (the user, through the marketplace)",
)
def withdraw(appeal_id: AppealId, body: WithdrawIn, db: DB, actor: AppealsWrite) -> AppealOut:
    return _out(db, actor, hearing.withdraw_appeal(db, actor, appeal_id, reason=body.reason))
