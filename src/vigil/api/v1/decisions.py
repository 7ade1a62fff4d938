"""HTTP API: decisions on cases, four-eyes approvals, reversals and strikes.

A refused request changes nothing: 404 for a case or decision you cannot see, 403 with a
stable code (``not_assignee``, ``own_decision``, ``approver_tier_required``), 409 when the
state does not allow it (``case_closed``, ``decision_pending``, ``decision_not_pending``,
``decision_not_applied``), 422 naming the field at fault (``violations.0.policy``,
``actions.1.scope``, ``departure_reason``, ``statement.facts``, ``message.channels``...).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from vigil.api.deps import (
    DB,
    AppSettings,
    CasesRead,
    DecisionsApprove,
    DecisionsReverse,
    DecisionsWrite,
)
from vigil.auth.principal import Principal
from vigil.enforcement import service
from vigil.enforcement.models import DecisionStatus
from vigil.enforcement.schemas import (
    DecisionDetailOut,
    DecisionIn,
    DecisionOut,
    DecisionPage,
    PreviewOut,
    ReasonIn,
    RequiredReasonIn,
    StrikeOut,
    StrikePage,
    SuggestionOut,
)

router = APIRouter(tags=["decisions"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
IdQuery = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
ExternalId = Annotated[
    str, Path(min_length=1, max_length=200, description="the marketplace's own id")
]
Limit = Annotated[int | None, Query(ge=1)]


def _limit(settings: AppSettings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


def _detail(
    db: DB, actor: Principal, decision_id: int, *, viewed: bool = False
) -> DecisionDetailOut:
    view = service.decision_detail(db, actor, decision_id, audit_view=viewed)
    return DecisionDetailOut.detail(view, internal=actor.is_staff)


@router.get(
    "/cases/{case_id}/decisions/suggestion",
    response_model=SuggestionOut,
    summary="What the enforcement ladder proposes for these policies, and why",
)
def suggestion(
    case_id: Id,
    db: DB,
    actor: DecisionsWrite,
    policy: Annotated[
        list[str], Query(max_length=10, description="a policy code (or code:version); repeat")
    ] = [],  # noqa: B006 -- FastAPI copies query defaults
) -> SuggestionOut:
    return SuggestionOut.of(service.suggestion_for(db, actor, case_id, policy))


@router.post(
    "/cases/{case_id}/decisions/preview",
    response_model=PreviewOut,
    summary="What a decision would do, its message and its statement of reasons; writes nothing",
)
def preview(
    case_id: Id, body: DecisionIn, db: DB, settings: AppSettings, actor: DecisionsWrite
) -> PreviewOut:
    return PreviewOut.of(service.preview(db, actor, case_id, body, settings=settings))


@router.post(
    "/cases/{case_id}/decisions",
    response_model=DecisionDetailOut,
    status_code=status.HTTP_201_CREATED,
    summary="Decide a case (applied at once, or waiting for a second approver)",
)
def decide(
    case_id: Id, body: DecisionIn, db: DB, settings: AppSettings, actor: DecisionsWrite
) -> DecisionDetailOut:
    decision = service.decide(db, actor, case_id, body, settings=settings)
    return _detail(db, actor, decision.id)


@router.get(
    "/cases/{case_id}/decisions",
    response_model=list[DecisionOut],
    summary="Every decision made on a case, oldest first",
)
def case_decisions(case_id: Id, db: DB, actor: CasesRead) -> list[DecisionOut]:
    views = service.decisions_for_case(db, actor, case_id)
    return [DecisionOut.of(v, internal=actor.is_staff) for v in views]


@router.get(
    "/decisions",
    response_model=DecisionPage,
    summary="List decisions (status=pending_approval: the approvers' list, oldest first)",
)
def list_decisions(
    db: DB,
    settings: AppSettings,
    actor: CasesRead,
    status_: Annotated[list[DecisionStatus] | None, Query(alias="status")] = None,
    case_id: IdQuery = None,
    account: Annotated[
        str | None, Query(min_length=1, max_length=200, description="account external id")
    ] = None,
    cursor: str | None = None,
    limit: Limit = None,
) -> DecisionPage:
    filters = service.DecisionFilter(status=status_, case_id=case_id, account_external_id=account)
    views, next_cursor = service.list_decisions(
        db, actor, filters, cursor=cursor, limit=_limit(settings, limit)
    )
    return DecisionPage(
        items=[DecisionOut.of(v, internal=actor.is_staff) for v in views],
        next_cursor=next_cursor,
    )


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionDetailOut,
    summary="One decision, with its webhooks, messages and statement of reasons",
)
def get_decision(decision_id: Id, db: DB, actor: CasesRead) -> DecisionDetailOut:
    return _detail(db, actor, decision_id, viewed=True)


@router.post(
    "/decisions/{decision_id}/approve",
    response_model=DecisionDetailOut,
    summary="Second approval (four-eyes): the decision is applied",
)
def approve(
    decision_id: Id,
    db: DB,
    settings: AppSettings,
    actor: DecisionsApprove,
    body: ReasonIn | None = None,
) -> DecisionDetailOut:
    reason = body.reason if body is not None else None
    service.approve(db, actor, decision_id, reason=reason, settings=settings)
    return _detail(db, actor, decision_id)


@router.post(
    "/decisions/{decision_id}/reject",
    response_model=DecisionDetailOut,
    summary="Refuse a decision waiting for approval; the case goes back to its reviewer",
)
def reject(
    decision_id: Id, body: RequiredReasonIn, db: DB, actor: DecisionsApprove
) -> DecisionDetailOut:
    service.reject(db, actor, decision_id, reason=body.reason)
    return _detail(db, actor, decision_id)


@router.post(
    "/decisions/{decision_id}/reverse",
    response_model=DecisionDetailOut,
    summary="Overturn an applied decision: lift its restrictions, void its strikes",
)
def reverse(
    decision_id: Id,
    body: RequiredReasonIn,
    db: DB,
    settings: AppSettings,
    actor: DecisionsReverse,
) -> DecisionDetailOut:
    service.reverse_decision(db, actor, decision_id, body.reason, settings=settings)
    return _detail(db, actor, decision_id)


@router.get(
    "/accounts/{external_id}/strikes",
    response_model=StrikePage,
    summary="An account's strikes, newest first (counts: whether the ladder counts it now)",
)
def strikes(
    external_id: ExternalId,
    db: DB,
    settings: AppSettings,
    actor: CasesRead,
    cursor: str | None = None,
    limit: Limit = None,
) -> StrikePage:
    record = service.strikes_for_account(
        db, actor, external_id, cursor=cursor, limit=_limit(settings, limit)
    )
    return StrikePage(
        account_external_id=record.account.external_id,
        active_weight=record.active_weight,
        items=[StrikeOut.of(s) for s in record.strikes],
        next_cursor=record.next_cursor,
    )
