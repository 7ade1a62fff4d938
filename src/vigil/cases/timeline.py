"""Internal notes and the case timeline.

The timeline is the case's ``CaseEvent`` rows in order: every status step, escalation,
breach, duplicate signal and note (a note is one entry carrying its text), so one keyset over
event ids pages through everything that happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import states
from vigil.cases.models import CaseEvent, CaseEventKind, CaseNote
from vigil.cases.service import MAX_NOTE_CHARS, get_case, required_text
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, PermissionDenied
from vigil.kit.pagination import decode_cursor, encode_cursor


def add_note(session: Session, actor: Principal, case_id: int, *, body: str) -> CaseNote:
    """An internal note. Notes never reach the marketplace or its users."""
    actor.require(Permission.cases_work)
    if not actor.is_staff:
        raise PermissionDenied("notes are written by staff", code="staff_only")
    case = get_case(session, actor, case_id)
    body = required_text(body, "body", MAX_NOTE_CHARS)
    note = CaseNote(case_id=case.id, author_id=actor.staff_id, body=body, created_at=clock.now())
    session.add(note)
    session.flush()
    states.record_event(session, case, CaseEventKind.note, actor=actor, data={"note_id": note.id})
    session.flush()
    audit.record(session, actor, "cases.note.create", "case", case.id, data={"note_id": note.id})
    return note


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    at: datetime
    kind: str
    actor_id: int | None
    actor_label: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict[str, Any]
    note: str | None  # the note's text, for ``note`` entries seen by staff


def timeline(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    cursor: str | None = None,
    limit: int = 200,
) -> tuple[list[TimelineEntry], str | None]:
    """Everything that happened to the case, oldest first. A note is one entry with its text;
    the text is left out for API keys (notes are internal to the team)."""
    case = get_case(session, actor, case_id)
    query = (
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.id)
        .limit(limit + 1)
    )
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(CaseEvent.id > after)
    events = list(session.scalars(query))
    more = len(events) > limit
    events = events[:limit]
    bodies: dict[int, str] = {}
    note_ids = [e.data.get("note_id") for e in events if e.kind == CaseEventKind.note]
    if actor.is_staff and note_ids:
        rows = session.execute(
            select(CaseNote.id, CaseNote.body).where(
                CaseNote.case_id == case.id, CaseNote.id.in_([n for n in note_ids if n])
            )
        )
        bodies = {note_id: body for note_id, body in rows}
    entries = [
        TimelineEntry(
            id=e.id,
            at=e.at,
            kind=e.kind,
            actor_id=e.actor_id,
            actor_label=e.actor_label,
            from_status=e.from_status,
            to_status=e.to_status,
            reason=e.reason,
            data=e.data,
            note=bodies.get(e.data.get("note_id", 0)) if e.kind == CaseEventKind.note else None,
        )
        for e in events
    ]
    audit.record(session, actor, "cases.case.view_timeline", "case", case.id)
    return entries, encode_cursor([events[-1].id]) if more and events else None
