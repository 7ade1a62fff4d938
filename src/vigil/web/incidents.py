"""Console: incidents, where a trend someone noticed becomes a piece of tracked work.

- ``/incidents``: the list, newest first, filtered by status; closed ones are greyed.
- ``/incidents/new``: an agent who noticed something documents it by hand: title, summary,
  severity and the cases that show it (``C-123`` references).
- ``/incidents/{id}``: status with the moves allowed from it as buttons, owner, severity, the
  editable title and summary, linked cases (add by reference, remove), the alerts and clusters
  it came from, and the notes and changes as a timeline.

Views are thin: every change goes through ``vigil.analytics.incidents.service`` under the
logged-in staff member's principal, in the request's transaction; the service audits. A refused
form is rolled back and the page shown again with the problem under its field (422/409) and
what was typed kept. Reading needs ``trends:read``; every change ``incidents:write``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.analytics.incidents import service as incidents
from vigil.analytics.incidents import states
from vigil.analytics.incidents.models import (
    EntryKind,
    Incident,
    IncidentCase,
    IncidentEntry,
    IncidentOrigin,
    IncidentSeverity,
    IncidentStatus,
    SourceKind,
)
from vigil.api.deps import DB
from vigil.auth.models import StaffUser
from vigil.auth.permissions import ROLE_PERMISSIONS, Permission
from vigil.kit.errors import InvalidInput, VigilError
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.common import notice_of, page, redirect

router = APIRouter(include_in_schema=False)

IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CaseRef = Annotated[int, Path(ge=1, le=2**63 - 1)]
PAGE_SIZE = 50
CASES_SHOWN = 100
# References one form may link at once: enough for a wave noticed by hand, small enough that
# a pasted list by mistake is refused rather than linking hundreds of cases.
MAX_REFS = 50

STATUS_LABELS = {
    IncidentStatus.open: "open",
    IncidentStatus.investigating: "investigating",
    IncidentStatus.mitigated: "mitigated",
    IncidentStatus.closed: "closed",
}
STATUS_KINDS = {
    IncidentStatus.open: "warning",
    IncidentStatus.investigating: "warning",
    IncidentStatus.mitigated: "ok",
    IncidentStatus.closed: "",
}
# The button for a move, by (from, to): reopening a closed incident is not "investigate".
MOVE_WORDS = {
    IncidentStatus.investigating: "Start investigating",
    IncidentStatus.mitigated: "Mark mitigated",
    IncidentStatus.closed: "Close",
}
REOPEN_WORDS = "Reopen (back to investigating)"
STATUS_OPTIONS = [("all", "All")] + [(s.value, label) for s, label in STATUS_LABELS.items()]
SEVERITY_LABELS = {s: s.value for s in IncidentSeverity}
ENTRY_LABELS = {
    "opened": "opened the incident",
    "note": "wrote a note",
    "status": "changed the status",
    "case_linked": "linked cases",
    "case_unlinked": "removed a case",
    "source_linked": "linked an alert or cluster",
    "updated": "edited the incident",
}
NOTICES = {
    "created": ("ok", "Incident opened."),
    "escalated": ("ok", "Incident opened from the alert; its sample cases are linked."),
    "escalated_cluster": ("ok", "Incident opened from the cluster; its cases are linked."),
    "moved": ("ok", "Status changed."),
    "saved": ("ok", "Incident saved."),
    "linked": ("ok", "Cases linked."),
    "unlinked": ("ok", "Case removed from the incident."),
    "noted": ("ok", "Note added."),
}
# Service field -> the form control it names, per form on the page.
FORM_FIELDS = {
    "edit": {"title": "title", "summary": "summary", "severity": "severity", "owner_id": "owner"},
    "link": {"case_ids": "cases", "cases": "cases", "case_id": "cases"},
    "note": {"body": "body"},
    "move": {"to": "to", "note": "note"},
    "new": {
        "title": "title",
        "summary": "summary",
        "severity": "severity",
        "case_ids": "cases",
        "cases": "cases",
        "case_id": "cases",
    },
}

# A reference names its kind: "C-123", "c123" or "#123". A bare number is refused, since a
# stray "1" (a count, a list item) would otherwise link case C-1 without anyone noticing.
_REF = re.compile(r"^(?:c-?|#)(\d{1,19})$", re.IGNORECASE)


def reference(case_id: int) -> str:
    return f"C-{case_id}"


def parse_case_refs(raw: str, *, required: bool = True) -> list[int]:
    """``C-123``, ``c123`` or ``#123``, separated by spaces, commas or new lines, in the order
    given, each once. Anything else, a bare number included, is refused naming the token, so
    a typo never links a different case."""
    tokens = [t for t in re.split(r"[\s,;]+", raw.strip()) if t]
    if not tokens:
        if required:
            raise InvalidInput(
                "Give at least one case reference, like C-123", field="cases", code="cases_required"
            )
        return []
    ids: list[int] = []
    for token in tokens:
        found = _REF.match(token)
        value = int(found.group(1)) if found else 0
        if not found or not 1 <= value <= 2**63 - 1:
            number = token if token.isdigit() else "123"
            raise InvalidInput(
                f"“{token[:40]}” is not a case reference: write C-{number} (or #{number})",
                field="cases",
                code="invalid_case_ref",
            )
        if value not in ids:
            ids.append(value)
    if len(ids) > MAX_REFS:
        raise InvalidInput(
            f"Link at most {MAX_REFS} cases at a time", field="cases", code="too_many_cases"
        )
    return ids


def _case_words(exc: VigilError) -> str:
    """The service's refusal in the reviewer's words (a case named by its reference)."""
    message = exc.message
    found = re.search(r"\b(\d+)\b", message)
    if exc.code == "case_not_found":
        if found:
            return f"There is no case {reference(int(found.group(1)))} you can see"
        return "One of these cases does not exist or you cannot see it"
    if exc.code == "version_conflict":
        return "Someone changed this incident since you opened it: reload the page and try again"
    return message[:1].upper() + message[1:]


def _status_of(exc: VigilError) -> int:
    """A case the reader cannot see is a problem with what they typed (422), not a missing
    page."""
    return 422 if exc.code == "case_not_found" else exc.status_code


def _errors_of(form: str, exc: VigilError) -> dict[str, str]:
    fields = FORM_FIELDS.get(form, {})
    control = fields.get(exc.field or "", None)
    if exc.code == "case_not_found":
        control = "cases"
    text = _case_words(exc)
    return {f"{form}-{control}" if control else form: text}


def _label(labels: dict[Any, str], value: Any) -> str:
    return labels.get(value, str(value).replace("_", " "))


def moves(status: IncidentStatus) -> list[dict[str, Any]]:
    """The buttons for the moves the state machine allows from ``status``, in its order."""
    out = []
    allowed = states.ALLOWED[status]
    for to in (s for s in IncidentStatus if s in allowed):
        reopen = status == IncidentStatus.closed and to == IncidentStatus.investigating
        out.append(
            {
                "to": to.value,
                "label": REOPEN_WORDS if reopen else MOVE_WORDS.get(to, to.value),
                # The step forward is the primary button; closing early is not.
                "primary": to != IncidentStatus.closed or status == IncidentStatus.mitigated,
            }
        )
    return out


def owner_choices(db: Session) -> list[tuple[int, str]]:
    """Active staff who may work on incidents (their role holds ``incidents:write``), by name.
    Bounded: a team, not the whole company."""
    roles = [r for r, perms in ROLE_PERMISSIONS.items() if Permission.incidents_write in perms]
    rows = db.execute(
        select(StaffUser.id, StaffUser.name)
        .where(StaffUser.active.is_(True), StaffUser.role.in_(roles))
        .order_by(StaffUser.name, StaffUser.id)
        .limit(500)
    )
    return [(staff_id, name) for staff_id, name in rows]


def _names(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(ids)))
    return {staff_id: name for staff_id, name in rows}


def _row(i: Incident, owners: dict[int, str], counts: dict[int, int]) -> dict[str, Any]:
    status = IncidentStatus(i.status)
    return {
        "id": i.id,
        "ref": i.ref,
        "title": i.title,
        "status": status.value,
        "status_label": STATUS_LABELS[status],
        "status_kind": STATUS_KINDS[status],
        "severity": IncidentSeverity(i.severity).value,
        "owner": owners.get(i.owner_id) if i.owner_id else None,
        "opened_at": i.opened_at,
        "opened_by": i.opened_by_label,
        "cases": counts.get(i.id, 0),
        "closed": status == IncidentStatus.closed,
    }


def _notice(request: Request) -> dict[str, str] | None:
    key = request.query_params.get("notice")
    if key in NOTICES:
        kind, text = NOTICES[key]
        return {"kind": kind, "text": text}
    return notice_of(request)


# --- the list -------------------------------------------------------------------------------


@router.get("/incidents")
def incident_list(
    request: Request, db: DB, who: Console, status: str = "all", cursor: str | None = None
) -> Response:
    p = who.principal
    p.require(Permission.trends_read)
    error = None
    if status not in {value for value, _ in STATUS_OPTIONS}:
        error, status = "Choose a status from the list.", "all"
    found: list[Incident] = []
    next_cursor = None
    if not error:
        try:
            found, next_cursor = _list(db, who, status, cursor)
        except InvalidInput as exc:
            db.rollback()
            error = exc.message[:1].upper() + exc.message[1:] + "."
    owners = _names(db, {i.owner_id for i in found if i.owner_id})
    counts: dict[int, int] = {}
    if found:
        rows = db.execute(
            select(IncidentCase.incident_id, func.count())
            .where(IncidentCase.incident_id.in_([i.id for i in found]))
            .group_by(IncidentCase.incident_id)
        )
        counts = {incident_id: int(n) for incident_id, n in rows}
    next_url = (
        "/incidents?" + urlencode({"status": status, "cursor": next_cursor})
        if next_cursor
        else None
    )
    return page(
        request, who, "incidents/list.html", status_code=422 if error else 200,
        rows=[_row(i, owners, counts) for i in found], status=status,
        status_options=STATUS_OPTIONS, error=error, next_url=next_url,
        can_write=p.can(Permission.incidents_write), nav=_nav(who, "incidents"),
        notice=_notice(request),
    )  # fmt: skip


def _list(
    db: Session, who: ConsoleUser, status: str, cursor: str | None
) -> tuple[list[Incident], str | None]:
    """One keyset page, newest first."""
    chosen = None if status == "all" else IncidentStatus(status)
    return incidents.list_incidents(
        db, who.principal, status=chosen, cursor=cursor, limit=PAGE_SIZE
    )


def _nav(who: ConsoleUser, current: str) -> dict[str, Any]:
    """The sub-navigation shared by the trends and incidents pages."""
    return {
        "current": current,
        "can_reports": who.principal.can(Permission.reports_read),
    }


# --- a new incident by hand ------------------------------------------------------------------


def _new_page(
    request: Request,
    db: Session,
    who: ConsoleUser,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request, who, "incidents/new.html", status_code=status_code,
        values=values or {"severity": IncidentSeverity.medium.value},
        errors=errors or {}, severities=list(IncidentSeverity),
        first_error=next(iter(errors or {}), None), nav=_nav(who, "incidents"),
    )  # fmt: skip


@router.get("/incidents/new")
def new_incident_form(request: Request, db: DB, who: Console, cases: str = "") -> HTMLResponse:
    who.principal.require(Permission.incidents_write)
    values = {"severity": IncidentSeverity.medium.value, "cases": cases[:2000]}
    return _new_page(request, db, who, values=values)


@router.post("/incidents")
def create_incident(
    request: Request, db: DB, who: ConsolePost,
    title: Annotated[str, Form()] = "", summary: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "medium", cases: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    who.principal.require(Permission.incidents_write)
    values = {"title": title, "summary": summary, "severity": severity, "cases": cases}
    try:
        if not title.strip():
            raise InvalidInput("Give the incident a title", field="title", code="title_required")
        if severity not in {s.value for s in IncidentSeverity}:
            raise InvalidInput("Choose a severity", field="severity", code="invalid_severity")
        case_ids = parse_case_refs(cases, required=False)
        incident = incidents.create(
            db, who.principal, title=title, summary=summary,
            severity=IncidentSeverity(severity), case_ids=case_ids,
        )  # fmt: skip
        target = f"/incidents/{incident.id}?notice=created"
    except VigilError as exc:
        if exc.status_code == 403:
            raise
        db.rollback()
        errors = {
            k.removeprefix("new-"): v for k, v in _errors_of("new", exc).items() if k != "new"
        } or {"form": _case_words(exc)}
        return _new_page(
            request, db, who, values=values, errors=errors, status_code=_status_of(exc)
        )
    return redirect(target)


# --- one incident -----------------------------------------------------------------------------


def _sources(db: Session, who: ConsoleUser, incident_id: int) -> list[dict[str, Any]]:
    """The alerts and clusters the incident came from, each with its own words when it can
    still be read (a source the reader may not open is named by its number only)."""
    out = []
    for link in incidents.sources(db, who.principal, incident_id):
        kind = SourceKind(link.kind).value
        label = None
        try:
            if kind == "alert":
                from vigil.web.trends import alert_headline

                label = alert_headline(db, who, link.ref_id)
            else:
                from vigil.analytics.clusters import service as clusters

                label = clusters.get_cluster(db, who.principal, link.ref_id).label
        except VigilError:
            label = None
        out.append(
            {
                "kind": kind,
                "kind_label": "Trend alert" if kind == "alert" else "Emerging cluster",
                "url": f"/trends/{'alerts' if kind == 'alert' else 'clusters'}/{link.ref_id}",
                "id": link.ref_id,
                "label": label,
            }
        )
    return out


def _entry(e: IncidentEntry) -> dict[str, Any]:
    """One timeline line: who did what, with the detail the entry's data holds."""
    kind = EntryKind(e.kind)
    data = e.data or {}
    label = _label(ENTRY_LABELS, kind.value)
    if kind == EntryKind.status and data.get("from") and data.get("to"):
        label = f"moved it from {data['from']} to {data['to']}"
    elif kind == EntryKind.case_linked and data.get("case_id"):
        label = f"linked {reference(int(data['case_id']))}"
    elif kind == EntryKind.case_unlinked and data.get("case_id"):
        label = f"removed {reference(int(data['case_id']))}"
    elif kind == EntryKind.source_linked and data.get("ref_id"):
        noun = "trend alert" if data.get("kind") == "alert" else "cluster"
        label = f"linked {noun} #{data['ref_id']}"
    elif kind == EntryKind.updated and data:
        names = {"title": "title", "summary": "summary", "severity": "severity",
                 "owner_id": "owner"}  # fmt: skip
        # In the form's order (PostgreSQL's jsonb does not keep the keys' order).
        changed = [word for key, word in names.items() if key in data]
        if changed:
            label = "edited the " + ", ".join(changed)
    return {"at": e.at, "who": e.actor_label or "Vigil", "label": label, "kind": kind.value,
            "body": e.body}  # fmt: skip


def _render(
    request: Request,
    db: Session,
    who: ConsoleUser,
    incident_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    cases_cursor: str | None = None,
) -> HTMLResponse:
    p = who.principal
    i = incidents.get_incident(db, p, incident_id)
    status = IncidentStatus(i.status)
    linked, more_cases = incidents.linked_cases(
        db, p, incident_id, cursor=cases_cursor, limit=CASES_SHOWN
    )
    entries, _ = incidents.timeline(db, p, incident_id, limit=100)
    owners = owner_choices(db) if p.can(Permission.incidents_write) else []
    owner_name = dict(owners).get(i.owner_id) if i.owner_id else None
    if i.owner_id and owner_name is None:
        owner_name = _names(db, {i.owner_id}).get(i.owner_id)
    steps = [
        ("opened", i.opened_at),
        ("investigating", i.investigating_at),
        ("mitigated", i.mitigated_at),
        ("closed", i.closed_at),
    ]
    head = {
        "id": i.id,
        "ref": i.ref,
        "title": i.title,
        "summary": i.summary,
        "status": status.value,
        "status_label": STATUS_LABELS[status],
        "status_kind": STATUS_KINDS[status],
        "severity": IncidentSeverity(i.severity).value,
        "owner_id": i.owner_id,
        "owner": owner_name,
        "opened_at": i.opened_at,
        "opened_by": i.opened_by_label,
        "origin": IncidentOrigin(i.origin).value,
        "version": i.version,
        "steps": [{"name": n, "at": at} for n, at in steps],
    }
    edit_values = {
        "edit-title": i.title,
        "edit-summary": i.summary or "",
        "edit-severity": head["severity"],
        "edit-owner": str(i.owner_id or ""),
    }
    edit_values.update(values or {})
    return page(
        request, who, "incidents/detail.html", status_code=status_code,
        i=head, moves=moves(status) if p.can(Permission.incidents_write) else [],
        cases=[
            {
                "id": c.id, "ref": reference(c.id), "title": c.title,
                "status": str(getattr(c.status, "value", c.status)).replace("_", " "),
                "linked_by": link.linked_by_label, "linked_at": link.linked_at,
            }
            for link, c in linked
        ],
        more_cases_url=(
            f"/incidents/{incident_id}?" + urlencode({"cases_cursor": more_cases})
            if more_cases else None
        ),
        sources=_sources(db, who, incident_id),
        timeline=[_entry(e) for e in entries],
        owners=owners, severities=list(IncidentSeverity),
        can_write=p.can(Permission.incidents_write),
        errors=errors or {}, values=edit_values,
        first_error=next((k for k in (errors or {}) if "-" in k), None),
        nav=_nav(who, "incidents"), notice=_notice(request),
    )  # fmt: skip


def _act(
    request: Request,
    db: Session,
    who: ConsoleUser,
    incident_id: int,
    form: str,
    values: dict[str, str],
    run: Any,
) -> Response:
    """Run one change; on a refusal roll everything back and show the page again with the
    problem next to its field (404 and 403 stay what they are)."""
    try:
        target: str = run()
    except VigilError as exc:
        if exc.status_code in (403, 404) and exc.code != "case_not_found":
            raise
        db.rollback()
        return _render(
            request, db, who, incident_id,
            errors=_errors_of(form, exc), values=values, status_code=_status_of(exc),
        )  # fmt: skip
    return redirect(target)


@router.get("/incidents/{incident_id}")
def incident_page(
    request: Request, db: DB, who: Console, incident_id: IncidentId,
    cases_cursor: str | None = None,
) -> HTMLResponse:  # fmt: skip
    who.principal.require(Permission.trends_read)
    return _render(request, db, who, incident_id, cases_cursor=cases_cursor)


@router.post("/incidents/{incident_id}/transition")
def move(
    request: Request, db: DB, who: ConsolePost, incident_id: IncidentId,
    to: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    def run() -> str:
        who.principal.require(Permission.incidents_write)
        if to not in {s.value for s in IncidentStatus}:
            raise InvalidInput("Choose a status", field="to", code="invalid_status")
        incidents.transition(
            db, who.principal, incident_id, IncidentStatus(to), note=note.strip() or None
        )
        return f"/incidents/{incident_id}?notice=moved"

    return _act(request, db, who, incident_id, "move", {"move-note": note}, run)


@router.post("/incidents/{incident_id}/edit")
def edit(
    request: Request, db: DB, who: ConsolePost, incident_id: IncidentId,
    title: Annotated[str, Form()] = "", summary: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "", owner: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    values = {
        "edit-title": title,
        "edit-summary": summary,
        "edit-severity": severity,
        "edit-owner": owner,
    }

    def run() -> str:
        who.principal.require(Permission.incidents_write)
        if not title.strip():
            raise InvalidInput("Give the incident a title", field="title", code="title_required")
        if severity not in {s.value for s in IncidentSeverity}:
            raise InvalidInput("Choose a severity", field="severity", code="invalid_severity")
        owner_id = None
        if owner:
            if not owner.isdigit() or int(owner) not in dict(owner_choices(db)):
                raise InvalidInput(
                    "Choose an owner from the list", field="owner_id", code="invalid_owner"
                )
            owner_id = int(owner)
        expected = int(version) if version.isdigit() else None
        incidents.update(
            db, who.principal, incident_id, title=title, summary=summary,
            severity=IncidentSeverity(severity), owner_id=owner_id,
            clear_owner=owner_id is None, expected_version=expected,
        )  # fmt: skip
        return f"/incidents/{incident_id}?notice=saved"

    return _act(request, db, who, incident_id, "edit", values, run)


@router.post("/incidents/{incident_id}/cases")
def link(
    request: Request, db: DB, who: ConsolePost, incident_id: IncidentId,
    cases: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    def run() -> str:
        who.principal.require(Permission.incidents_write)
        incidents.link_cases(db, who.principal, incident_id, parse_case_refs(cases))
        return f"/incidents/{incident_id}?notice=linked"

    return _act(request, db, who, incident_id, "link", {"link-cases": cases}, run)


@router.post("/incidents/{incident_id}/cases/{case_id}/remove")
def unlink(
    request: Request, db: DB, who: ConsolePost, incident_id: IncidentId, case_id: CaseRef
) -> Response:
    def run() -> str:
        who.principal.require(Permission.incidents_write)
        incidents.unlink_case(db, who.principal, incident_id, case_id)
        return f"/incidents/{incident_id}?notice=unlinked"

    return _act(request, db, who, incident_id, "link", {}, run)


@router.post("/incidents/{incident_id}/notes")
def note(
    request: Request, db: DB, who: ConsolePost, incident_id: IncidentId,
    body: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    def run() -> str:
        who.principal.require(Permission.incidents_write)
        if not body.strip():
            raise InvalidInput("Write the note", field="body", code="body_required")
        incidents.add_note(db, who.principal, incident_id, body)
        return f"/incidents/{incident_id}?notice=noted#timeline"

    return _act(request, db, who, incident_id, "note", {"note-body": body}, run)
