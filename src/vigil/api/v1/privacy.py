"""HTTP API: legal holds, erasure requests and access requests (docs/privacy.md).

Legal holds need ``legal_holds:write`` (legal, admin) to list, place and lift. Erasure and
access requests need ``privacy:requests`` (legal, admin, and API keys with that scope: the
marketplace forwards its users' requests). Carrying out or refusing an erasure request needs
``privacy:erase`` (legal, admin; never an API key).

A refused request changes nothing: 404 ``account_not_found`` / ``case_not_found`` /
``hold_not_found`` / ``erasure_request_not_found``; 409 ``hold_lifted`` /
``erasure_request_closed``; 422 ``hold_subject_required`` / ``reason_required`` /
``reason_too_long`` / ``invalid_review_at`` / ``invalid_cursor``, with the field at fault.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status

from vigil.api.deps import DB, AppSettings, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.privacy import export, service
from vigil.privacy.models import ErasureStatus
from vigil.privacy.schemas import (
    AccessRequestIn,
    ErasureRequestIn,
    ErasureRequestOut,
    ErasureRequestPage,
    LegalHoldIn,
    LegalHoldOut,
    LegalHoldPage,
    LiftIn,
    PersonExport,
    RefuseIn,
)

router = APIRouter(tags=["privacy"])

LegalHoldsWrite = Annotated[Principal, Depends(require(Permission.legal_holds_write))]
PrivacyRequests = Annotated[Principal, Depends(require(Permission.privacy_requests))]
PrivacyErase = Annotated[Principal, Depends(require(Permission.privacy_erase))]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int | None, Query(ge=1)]


def _size(settings: Any, limit: int | None) -> int:
    return int(min(limit or settings.page_size_default, settings.page_size_max))


@router.get("/legal-holds", response_model=LegalHoldPage, summary="List legal holds, newest first")
def list_holds(
    db: DB,
    settings: AppSettings,
    actor: LegalHoldsWrite,
    active: bool | None = None,
    account_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    case_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> LegalHoldPage:
    rows, next_cursor = service.list_holds(
        db,
        active=active,
        account_id=account_id,
        case_id=case_id,
        cursor=cursor,
        limit=_size(settings, limit),
    )
    return LegalHoldPage(items=[LegalHoldOut.of(h) for h in rows], next_cursor=next_cursor)


@router.post(
    "/legal-holds",
    response_model=LegalHoldOut,
    status_code=status.HTTP_201_CREATED,
    summary="Place a legal hold on an account or a case",
)
def place_hold(body: LegalHoldIn, db: DB, actor: LegalHoldsWrite) -> LegalHoldOut:
    hold = service.place_hold(
        db,
        actor,
        account_external_id=body.account_external_id,
        case_id=body.case_id,
        reason=body.reason,
        review_at=body.review_at,
    )
    return LegalHoldOut.of(hold)


@router.get("/legal-holds/{hold_id}", response_model=LegalHoldOut, summary="One legal hold")
def get_hold(hold_id: Id, db: DB, actor: LegalHoldsWrite) -> LegalHoldOut:
    return LegalHoldOut.of(service.get_hold(db, hold_id))


@router.post(
    "/legal-holds/{hold_id}/lift", response_model=LegalHoldOut, summary="Lift a legal hold"
)
def lift_hold(hold_id: Id, body: LiftIn, db: DB, actor: LegalHoldsWrite) -> LegalHoldOut:
    return LegalHoldOut.of(service.lift_hold(db, actor, hold_id, reason=body.reason))


@router.post(
    "/privacy/erasure-requests",
    response_model=ErasureRequestOut,
    status_code=status.HTTP_201_CREATED,
    summary="Receive a person's erasure request (200 with the open one if already received)",
)
def receive_erasure(
    body: ErasureRequestIn, response: Response, db: DB, actor: PrivacyRequests
) -> ErasureRequestOut:
    request, created = service.receive_erasure_request(
        db,
        actor,
        account_external_id=body.account_external_id,
        reference=body.reference,
        note=body.note,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return ErasureRequestOut.of(request)


@router.get(
    "/privacy/erasure-requests",
    response_model=ErasureRequestPage,
    summary="List erasure requests, newest first",
)
def list_erasure(
    db: DB,
    settings: AppSettings,
    actor: PrivacyRequests,
    status_: Annotated[ErasureStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> ErasureRequestPage:
    rows, next_cursor = service.list_erasure_requests(
        db, status=status_, cursor=cursor, limit=_size(settings, limit)
    )
    return ErasureRequestPage(
        items=[ErasureRequestOut.of(r) for r in rows], next_cursor=next_cursor
    )


@router.get(
    "/privacy/erasure-requests/{request_id}",
    response_model=ErasureRequestOut,
    summary="One erasure request and, once carried out, its result",
)
def get_erasure(request_id: Id, db: DB, actor: PrivacyRequests) -> ErasureRequestOut:
    return ErasureRequestOut.of(service.get_erasure_request(db, request_id))


@router.post(
    "/privacy/erasure-requests/{request_id}/complete",
    response_model=ErasureRequestOut,
    summary="Carry out an erasure request (staff): erase what may go, list what is kept",
)
def complete_erasure(
    request_id: Id, db: DB, settings: AppSettings, actor: PrivacyErase
) -> ErasureRequestOut:
    done = service.complete_erasure_request(db, actor, request_id, settings=settings)
    return ErasureRequestOut.of(done)


@router.post(
    "/privacy/erasure-requests/{request_id}/refuse",
    response_model=ErasureRequestOut,
    summary="Refuse an erasure request with a reason (staff)",
)
def refuse_erasure(
    request_id: Id, body: RefuseIn, db: DB, actor: PrivacyErase
) -> ErasureRequestOut:
    refused = service.refuse_erasure_request(db, actor, request_id, reason=body.reason)
    return ErasureRequestOut.of(refused)


@router.post(
    "/privacy/access-requests",
    response_model=PersonExport,
    summary="Everything Vigil holds about a person (access request), as JSON",
)
def access_request(body: AccessRequestIn, db: DB, actor: PrivacyRequests) -> PersonExport:
    document = export.export_person(db, actor, body.account_external_id)
    return PersonExport.model_validate(document)
