"""HTTP API for cases: open, list, read, pull the next one, and every lifecycle step.

Each step answers 404 for a case you cannot see, 409 ``illegal_transition`` when the case's
status does not allow it, 409 ``version_conflict`` when ``expected_version`` is stale, and 422
with the offending ``field`` for bad input. A refused step changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from vigil.api.deps import DB, AppSettings, CasesAssign, CasesCreate, CasesRead, CasesWork
from vigil.auth.permissions import Tier
from vigil.cases import service, timeline
from vigil.cases.models import CaseStatus, CaseType
from vigil.cases.schemas import (
    AssignBody,
    CaseCreate,
    CaseOut,
    CasePage,
    CloseBody,
    EscalateBody,
    HoldBody,
    NoteBody,
    NoteOut,
    ReasonBody,
    RequiredReasonBody,
    TimelineEntryOut,
    TimelinePage,
)

router = APIRouter(tags=["cases"])

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The case's id.")]
IdQuery = Annotated[int | None, Query(ge=1, le=2**63 - 1)]


def _limit(settings: AppSettings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


@router.post(
    "/cases",
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open a case",
    responses={200: {"description": "A live case with this dedup_key exists; it is returned"}},
)
def create_case(body: CaseCreate, response: Response, db: DB, actor: CasesCreate) -> CaseOut:
    result = service.create_case(db, actor, service.NewCase(**body.model_dump()))
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return CaseOut.of(result.case)


@router.get("/cases", response_model=CasePage, summary="List cases, newest first")
def list_cases(
    db: DB,
    settings: AppSettings,
    actor: CasesRead,
    status_: Annotated[list[CaseStatus] | None, Query(alias="status")] = None,
    queue_id: IdQuery = None,
    assignee_id: IdQuery = None,
    type_: Annotated[CaseType | None, Query(alias="type")] = None,
    account_id: IdQuery = None,
    policy_code: Annotated[str | None, Query(max_length=100)] = None,
    tier: Tier | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> CasePage:
    filters = service.CaseFilter(
        status=status_,
        queue_id=queue_id,
        assignee_id=assignee_id,
        type=type_,
        account_id=account_id,
        policy_code=policy_code,
        tier=tier,
        created_from=created_from,
        created_to=created_to,
    )
    rows, next_cursor = service.list_cases(
        db, actor, filters, cursor=cursor, limit=_limit(settings, limit)
    )
    return CasePage(items=[CaseOut.of(c) for c in rows], next_cursor=next_cursor)


@router.post(
    "/cases/next",
    response_model=CaseOut,
    summary="Take the most urgent case you may work",
    responses={204: {"description": "Nothing is waiting in your queues"}},
)
def pull_next(db: DB, actor: CasesWork) -> CaseOut | Response:
    case = service.pull_next(db, actor)
    if case is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return CaseOut.of(case)


@router.get("/cases/{case_id}", response_model=CaseOut, summary="One case")
def get_case(case_id: CaseId, db: DB, actor: CasesRead) -> CaseOut:
    return CaseOut.of(service.view_case(db, actor, case_id))


@router.get(
    "/cases/{case_id}/timeline",
    response_model=TimelinePage,
    summary="Everything that happened to a case, oldest first",
)
def case_timeline(
    case_id: CaseId,
    db: DB,
    settings: AppSettings,
    actor: CasesRead,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> TimelinePage:
    entries, next_cursor = timeline.timeline(
        db, actor, case_id, cursor=cursor, limit=_limit(settings, limit)
    )
    return TimelinePage(items=[TimelineEntryOut.of(e) for e in entries], next_cursor=next_cursor)


@router.post(
    "/cases/{case_id}/assign",
    response_model=CaseOut,
    summary="Assign a case (to someone with cases:assign, or to yourself if it is open)",
)
def assign(case_id: CaseId, db: DB, actor: CasesWork, body: AssignBody | None = None) -> CaseOut:
    body = body or AssignBody()
    case = service.assign(
        db,
        actor,
        case_id,
        staff_id=body.staff_id,
        reason=body.reason,
        expected_version=body.expected_version,
    )
    return CaseOut.of(case)


@router.post("/cases/{case_id}/release", response_model=CaseOut, summary="Give a case back")
def release(case_id: CaseId, db: DB, actor: CasesWork, body: ReasonBody | None = None) -> CaseOut:
    body = body or ReasonBody()
    case = service.release(
        db, actor, case_id, reason=body.reason, expected_version=body.expected_version
    )
    return CaseOut.of(case)


@router.post(
    "/cases/{case_id}/escalate",
    response_model=CaseOut,
    summary="Escalate to the next tier (Tier 1 -> specialist -> legal); a reason is required",
)
def escalate(case_id: CaseId, body: EscalateBody, db: DB, actor: CasesWork) -> CaseOut:
    case = service.escalate(
        db,
        actor,
        case_id,
        reason=body.reason,
        severity=body.severity,
        priority=body.priority,
        expected_version=body.expected_version,
    )
    return CaseOut.of(case)


@router.post("/cases/{case_id}/hold", response_model=CaseOut, summary="Put a case on hold")
def hold(case_id: CaseId, body: HoldBody, db: DB, actor: CasesWork) -> CaseOut:
    case = service.hold(
        db,
        actor,
        case_id,
        until=body.until,
        reason=body.reason,
        expected_version=body.expected_version,
    )
    return CaseOut.of(case)


@router.post(
    "/cases/{case_id}/resume",
    response_model=CaseOut,
    summary="End a hold early and take the case",
)
def resume(case_id: CaseId, db: DB, actor: CasesWork, body: ReasonBody | None = None) -> CaseOut:
    body = body or ReasonBody()
    case = service.resume(
        db, actor, case_id, reason=body.reason, expected_version=body.expected_version
    )
    return CaseOut.of(case)


@router.post("/cases/{case_id}/close", response_model=CaseOut, summary="Resolve a case")
def close(case_id: CaseId, body: CloseBody, db: DB, actor: CasesWork) -> CaseOut:
    case = service.close(
        db,
        actor,
        case_id,
        resolution=body.resolution,
        note=body.note,
        expected_version=body.expected_version,
    )
    return CaseOut.of(case)


@router.post("/cases/{case_id}/reopen", response_model=CaseOut, summary="Reopen a closed case")
def reopen(case_id: CaseId, body: RequiredReasonBody, db: DB, actor: CasesAssign) -> CaseOut:
    case = service.reopen(
        db, actor, case_id, reason=body.reason, expected_version=body.expected_version
    )
    return CaseOut.of(case)


@router.post(
    "/cases/{case_id}/notes",
    response_model=NoteOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add an internal note",
)
def add_note(case_id: CaseId, body: NoteBody, db: DB, actor: CasesWork) -> NoteOut:
    note = timeline.add_note(db, actor, case_id, body=body.body)
    return NoteOut(
        id=note.id,
        case_id=note.case_id,
        author_id=note.author_id,
        body=note.body,
        created_at=note.created_at,
    )
