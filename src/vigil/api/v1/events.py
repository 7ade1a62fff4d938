"""HTTP API for events: the marketplace sends what happens and gets the decision back in the
same request.

``POST /v1/events`` answers 200 with the decision (``duplicate: true`` for an ``event_id``
already decided, which is then not re-run), 409 ``event_id_reused`` for an id sent before with
other content, and 422 naming the field (``type``, ``data.<field>``...) with nothing stored.
``POST /v1/events/batch`` decides each item on its own and answers 200 with one entry per
item, in order: a refused item carries its status and error, and does not stop the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from vigil.api.deps import DB, AppSettings, EventsRead, EventsWrite
from vigil.detection import service
from vigil.detection.events import EventIn
from vigil.detection.schemas import BatchIn, BatchOut, DecisionOut, EventOut, EventPage

router = APIRouter(tags=["events"])

EventId = Annotated[str, Path(min_length=1, max_length=200, description="Your event_id.")]


@router.post("/events", response_model=DecisionOut, summary="Send one event, get its decision")
def send_event(body: EventIn, db: DB, settings: AppSettings, actor: EventsWrite) -> DecisionOut:
    result = service.ingest(db, settings, body, actor=actor)
    return DecisionOut.of(result)


@router.post(
    "/events/batch",
    response_model=BatchOut,
    summary="Send up to events_batch_max events; each is decided on its own",
    responses={413: {"description": "More events than events_batch_max (field: events)"}},
)
def send_batch(body: BatchIn, db: DB, settings: AppSettings, actor: EventsWrite) -> BatchOut:
    return BatchOut.of(service.ingest_batch(db, settings, body.events, actor=actor))


@router.get(
    "/events/{event_id:path}", response_model=EventOut, summary="One event and its decision"
)
def get_event(event_id: EventId, db: DB, actor: EventsRead) -> EventOut:
    return EventOut.of(service.get_event(db, actor, event_id), staff=actor.is_staff)


@router.get("/events", response_model=EventPage, summary="Events, newest first")
def list_events(
    db: DB,
    settings: AppSettings,
    actor: EventsRead,
    account: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    type_: Annotated[str | None, Query(alias="type", max_length=40)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> EventPage:
    rows, next_cursor = service.list_events(
        db,
        actor,
        account=account,
        type=type_,
        since=since,
        until=until,
        cursor=cursor,
        limit=min(limit or settings.page_size_default, settings.page_size_max),
    )
    return EventPage(
        items=[EventOut.of(r, staff=actor.is_staff) for r in rows], next_cursor=next_cursor
    )
