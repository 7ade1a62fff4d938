"""HTTP API for incidents: open one (by hand, from a trend alert, from a cluster), link
cases, move it through ``open -> investigating -> mitigated -> closed``, and keep notes.

Reading needs ``trends:read``; every change ``incidents:write`` (audited). Legal-tier cases
never appear to those without ``cases:legal`` (linking one is 404 ``case_not_found``).
Refusals change nothing: 404 ``incident_not_found`` / ``case_not_found`` /
``case_link_not_found``, 409 ``illegal_transition`` / ``already_escalated`` /
``version_conflict``, 422 naming the ``field`` at fault.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from sqlalchemy.orm import Session

from vigil.analytics.incidents import service
from vigil.analytics.incidents.models import IncidentSeverity, IncidentStatus
from vigil.analytics.incidents.schemas import (
    EntryOut,
    EntryPage,
    IncidentDetailOut,
    IncidentIn,
    IncidentOut,
    IncidentPage,
    IncidentPatch,
    LinkedCaseOut,
    LinkedCasePage,
    LinkIn,
    NoteIn,
    SourceOut,
    TransitionIn,
)
from vigil.api.deps import DB, AppSettings, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.kit.errors import InvalidInput

router = APIRouter(tags=["trends"])

TrendsRead = Annotated[Principal, Depends(require(Permission.trends_read))]
IncidentsWrite = Annotated[Principal, Depends(require(Permission.incidents_write))]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int | None, Query(ge=1)]


def _size(settings: AppSettings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


def _detail(db: Session, actor: Principal, incident_id: int) -> IncidentDetailOut:
    incident = service.get_incident(db, actor, incident_id)
    cases, cases_next = service.linked_cases(db, actor, incident_id)
    entries, _ = service.timeline(db, actor, incident_id, limit=50)
    return IncidentDetailOut(
        **IncidentOut.of(incident).model_dump(),
        cases=[LinkedCaseOut.of(link, case) for link, case in cases],
        cases_next_cursor=cases_next,
        sources=[SourceOut.of(s) for s in service.sources(db, actor, incident_id)],
        timeline=[EntryOut.of(e) for e in entries],
    )


@router.get("/incidents", response_model=IncidentPage, summary="Incidents, newest first")
def list_incidents(
    db: DB,
    settings: AppSettings,
    actor: TrendsRead,
    status_: Annotated[IncidentStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> IncidentPage:
    rows, next_cursor = service.list_incidents(
        db, actor, status=status_, cursor=cursor, limit=_size(settings, limit)
    )
    return IncidentPage(items=[IncidentOut.of(i) for i in rows], next_cursor=next_cursor)


@router.post(
    "/incidents",
    response_model=IncidentDetailOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open an incident (by hand, from a trend alert or from a cluster)",
)
def create_incident(body: IncidentIn, db: DB, actor: IncidentsWrite) -> IncidentDetailOut:
    if body.alert_id is not None and body.cluster_id is not None:
        raise InvalidInput(
            "escalate one alert or one cluster at a time",
            field="cluster_id",
            code="one_source",
        )
    if body.alert_id is not None:
        incident = service.open_from_alert(
            db,
            actor,
            body.alert_id,
            title=body.title,
            summary=body.summary,
            severity=body.severity,
            owner_id=body.owner_id,
        )
    elif body.cluster_id is not None:
        incident = service.open_from_cluster(
            db,
            actor,
            body.cluster_id,
            title=body.title,
            summary=body.summary,
            severity=body.severity,
            owner_id=body.owner_id,
        )
    if body.alert_id is not None or body.cluster_id is not None:
        if body.case_ids:
            service.link_cases(db, actor, incident.id, body.case_ids)
    else:
        if body.title is None:
            raise InvalidInput("title is required", field="title", code="title_required")
        incident = service.create(
            db,
            actor,
            title=body.title,
            summary=body.summary or "",
            severity=body.severity or IncidentSeverity.medium,
            owner_id=body.owner_id,
            case_ids=body.case_ids,
        )
    return _detail(db, actor, incident.id)


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetailOut,
    summary="One incident with its cases, sources and timeline",
)
def get_incident(incident_id: Id, db: DB, actor: TrendsRead) -> IncidentDetailOut:
    return _detail(db, actor, incident_id)


@router.patch("/incidents/{incident_id}", response_model=IncidentOut, summary="Edit an incident")
def patch_incident(
    incident_id: Id, body: IncidentPatch, db: DB, actor: IncidentsWrite
) -> IncidentOut:
    incident = service.update(
        db,
        actor,
        incident_id,
        title=body.title,
        summary=body.summary,
        severity=body.severity,
        owner_id=body.owner_id or None,
        clear_owner=body.owner_id == 0,
        expected_version=body.expected_version,
    )
    return IncidentOut.of(incident)


@router.post(
    "/incidents/{incident_id}/transition",
    response_model=IncidentOut,
    summary="Move an incident along open -> investigating -> mitigated -> closed",
)
def transition(incident_id: Id, body: TransitionIn, db: DB, actor: IncidentsWrite) -> IncidentOut:
    incident = service.transition(
        db, actor, incident_id, body.to, note=body.note, expected_version=body.expected_version
    )
    return IncidentOut.of(incident)


@router.get(
    "/incidents/{incident_id}/cases",
    response_model=LinkedCasePage,
    summary="The incident's cases you may see",
)
def list_cases(
    incident_id: Id,
    db: DB,
    settings: AppSettings,
    actor: TrendsRead,
    cursor: Cursor = None,
    limit: Limit = None,
) -> LinkedCasePage:
    rows, next_cursor = service.linked_cases(
        db, actor, incident_id, cursor=cursor, limit=_size(settings, limit)
    )
    return LinkedCasePage(
        items=[LinkedCaseOut.of(link, case) for link, case in rows], next_cursor=next_cursor
    )


@router.post(
    "/incidents/{incident_id}/cases",
    response_model=LinkedCasePage,
    summary="Link cases (those already linked are left as they were)",
)
def link_cases(incident_id: Id, body: LinkIn, db: DB, actor: IncidentsWrite) -> LinkedCasePage:
    service.link_cases(db, actor, incident_id, body.case_ids)
    rows, next_cursor = service.linked_cases(db, actor, incident_id)
    return LinkedCasePage(
        items=[LinkedCaseOut.of(link, case) for link, case in rows], next_cursor=next_cursor
    )


@router.delete(
    "/incidents/{incident_id}/cases/{case_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unlink a case",
)
def unlink_case(incident_id: Id, case_id: Id, db: DB, actor: IncidentsWrite) -> Response:
    service.unlink_case(db, actor, incident_id, case_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/incidents/{incident_id}/notes",
    response_model=EntryPage,
    summary="The incident's timeline (notes, status changes, links), newest first",
)
def list_notes(
    incident_id: Id,
    db: DB,
    settings: AppSettings,
    actor: TrendsRead,
    cursor: Cursor = None,
    limit: Limit = None,
) -> EntryPage:
    rows, next_cursor = service.timeline(
        db, actor, incident_id, cursor=cursor, limit=_size(settings, limit)
    )
    return EntryPage(items=[EntryOut.of(e) for e in rows], next_cursor=next_cursor)


@router.post(
    "/incidents/{incident_id}/notes",
    response_model=EntryOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a note to the timeline",
)
def add_note(incident_id: Id, body: NoteIn, db: DB, actor: IncidentsWrite) -> EntryOut:
    return EntryOut.of(service.add_note(db, actor, incident_id, body.body))


@router.get(
    "/cases/{case_id}/incidents",
    response_model=list[IncidentOut],
    summary="The incidents a case belongs to",
)
def case_incidents(case_id: Id, db: DB, actor: TrendsRead) -> list[IncidentOut]:
    return [IncidentOut.of(i) for i in service.for_case(db, actor, case_id)]
