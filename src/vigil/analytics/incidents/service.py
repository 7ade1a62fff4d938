"""Incidents: opening one (by hand, from a trend alert, from an emerging cluster), linking
cases to it, moving it through its lifecycle, and its timeline.

Rules:

- Reading needs ``trends:read``; every change needs ``incidents:write`` and is audited
  (``analytics.incident.*``) and written to the incident's timeline.
- Legal-tier cases exist only for those who hold ``cases:legal``: linking one by hand is
  404 ``case_not_found`` for anyone else, and the case lists and :func:`for_case` never show
  one to them. Cases linked from an alert or a cluster are linked whatever their tier (the
  link follows the evidence, not who escalated it) and shown only to those who may see them.
- An alert or a cluster becomes part of one incident at most: escalating it again is 409.
  Opening from an alert calls the trends service's ``mark_escalated`` in the same
  transaction, so the alert and the incident agree or neither changes.
- A closed incident takes no new cases, alerts or clusters and loses none (409
  ``incident_closed``: reopen it first); notes and edits are still accepted.
- Every refusal comes before the first write; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from vigil.analytics.clusters import service as clusters
from vigil.analytics.incidents import states
from vigil.analytics.incidents.models import (
    EntryKind,
    Incident,
    IncidentCase,
    IncidentEntry,
    IncidentOrigin,
    IncidentSeverity,
    IncidentSource,
    IncidentStatus,
    SourceKind,
)
from vigil.audit import service as audit
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.kit import clock
from vigil.kit.errors import Conflict, IllegalTransition, InvalidInput, NotFound, VersionConflict
from vigil.kit.pagination import decode_id_cursor, encode_cursor

MAX_TITLE = 200
MAX_TEXT = 20_000
MAX_LINK = 200  # cases linked by one request
_ALERT_ESCALATABLE = frozenset({"open", "acknowledged"})


# --- helpers ----------------------------------------------------------------------------------


def _title(value: str | None) -> str:
    cleaned = " ".join((value or "").split())
    if not cleaned:
        raise InvalidInput("title is required", field="title", code="title_required")
    if len(cleaned) > MAX_TITLE:
        raise InvalidInput(f"title is longer than {MAX_TITLE} characters", field="title")
    return cleaned


def _long_text(value: str | None, field: str, *, required: bool = False) -> str:
    cleaned = (value or "").strip()
    if required and not cleaned:
        raise InvalidInput(f"{field} is required", field=field, code=f"{field}_required")
    if len(cleaned) > MAX_TEXT:
        raise InvalidInput(f"{field} is longer than {MAX_TEXT} characters", field=field)
    return cleaned


def _owner(session: Session, owner_id: int | None) -> int | None:
    if owner_id is None:
        return None
    user = session.get(StaffUser, owner_id)
    if user is None or not user.active:
        raise InvalidInput("no such active staff member", field="owner_id", code="unknown_owner")
    return owner_id


def _sees_legal(actor: Principal) -> bool:
    return actor.can(Permission.legal_cases)


def _visible_case(
    session: Session, actor: Principal, case_id: int, *, field: str = "case_ids"
) -> Case:
    """``field`` names the input at fault: ``case_ids`` for a list, ``case_id`` for one."""
    case = session.get(Case, case_id)
    if case is None or (case.tier == Tier.legal and not _sees_legal(actor)):
        raise NotFound(f"no such case: {case_id}", field=field, code="case_not_found")
    return case


def _refuse_closed(incident: Incident, field: str = "incident_id") -> None:
    """What an incident covers (its cases, alerts, clusters) changes only while it is not
    closed: a closed incident is a finished record, reopened (``investigating``) before it
    takes on more. Notes, title, summary and severity stay editable: the post-mortem is
    written after closing."""
    if incident.status == IncidentStatus.closed:
        raise IllegalTransition(
            "the incident is closed: reopen it first, or open a new one",
            field=field,
            code="incident_closed",
        )


def _entry(
    session: Session,
    incident: Incident,
    actor: Principal,
    kind: EntryKind,
    *,
    body: str | None = None,
    data: dict[str, Any] | None = None,
) -> IncidentEntry:
    entry = IncidentEntry(
        incident_id=incident.id,
        kind=kind,
        at=clock.now(),
        actor_id=actor.staff_id,
        actor_label=actor.label,
        body=body,
        data=data or {},
    )
    session.add(entry)
    return entry


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise VersionConflict(
            "someone else changed this incident; reload and try again", code="version_conflict"
        ) from exc


# --- reading ----------------------------------------------------------------------------------


def get_incident(
    session: Session, actor: Principal, incident_id: int, *, lock: bool = False
) -> Incident:
    """404 ``incident_not_found`` when there is none."""
    actor.require(Permission.trends_read)
    query = select(Incident).where(Incident.id == incident_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    incident = session.scalar(query)
    if incident is None:
        raise NotFound("no such incident", field="incident_id", code="incident_not_found")
    return incident


def list_incidents(
    session: Session,
    actor: Principal,
    *,
    status: IncidentStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Incident], str | None]:
    """Newest first, keyset on id (``ix_incidents_status`` for a status)."""
    actor.require(Permission.trends_read)
    query = select(Incident).order_by(Incident.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(Incident.status == status)
    if cursor:
        query = query.where(Incident.id < decode_id_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


def linked_cases(
    session: Session,
    actor: Principal,
    incident_id: int,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[tuple[IncidentCase, Case]], str | None]:
    """The incident's cases the actor may see, most recently linked first (keyset on the
    link's id); legal-tier cases are left out for those without ``cases:legal``."""
    get_incident(session, actor, incident_id)
    query = (
        select(IncidentCase, Case)
        .join(Case, Case.id == IncidentCase.case_id)
        .where(IncidentCase.incident_id == incident_id)
        .order_by(IncidentCase.id.desc())
        .limit(limit + 1)
    )
    if not _sees_legal(actor):
        query = query.where(Case.tier != Tier.legal)
    if cursor:
        query = query.where(IncidentCase.id < decode_id_cursor(cursor))
    rows = [(link, case) for link, case in session.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1][0].id]) if more and rows else None


def timeline(
    session: Session,
    actor: Principal,
    incident_id: int,
    *,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[IncidentEntry], str | None]:
    """Newest first. Entries about a legal-tier case are left out for those who may not see
    it (the entry names the case)."""
    get_incident(session, actor, incident_id)
    query = (
        select(IncidentEntry)
        .where(IncidentEntry.incident_id == incident_id)
        .order_by(IncidentEntry.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        query = query.where(IncidentEntry.id < decode_id_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].id]) if more and rows else None
    if not _sees_legal(actor):
        rows = _without_hidden_cases(session, rows)
    return rows, next_cursor


def _without_hidden_cases(session: Session, rows: list[IncidentEntry]) -> list[IncidentEntry]:
    named = {int(r.data["case_id"]) for r in rows if (r.data or {}).get("case_id") is not None}
    if not named:
        return rows
    hidden = set(
        session.scalars(select(Case.id).where(Case.id.in_(named), Case.tier == Tier.legal))
    )
    return [r for r in rows if (r.data or {}).get("case_id") not in hidden]


def sources(session: Session, actor: Principal, incident_id: int) -> list[IncidentSource]:
    """The alerts and clusters the incident came from, in the order they were added."""
    get_incident(session, actor, incident_id)
    return list(
        session.scalars(
            select(IncidentSource)
            .where(IncidentSource.incident_id == incident_id)
            .order_by(IncidentSource.id)
        )
    )


def for_case(session: Session, actor: Principal, case_id: int) -> list[Incident]:
    """The incidents a case belongs to, newest first (``ix_incident_cases_case``). 404
    ``case_not_found`` when the actor may not see the case."""
    actor.require(Permission.trends_read)
    _visible_case(session, actor, case_id, field="case_id")
    return list(
        session.scalars(
            select(Incident)
            .join(IncidentCase, IncidentCase.incident_id == Incident.id)
            .where(IncidentCase.case_id == case_id)
            .order_by(Incident.id.desc())
        )
    )


# --- opening ----------------------------------------------------------------------------------


def create(
    session: Session,
    actor: Principal,
    *,
    title: str,
    summary: str = "",
    severity: IncidentSeverity = IncidentSeverity.medium,
    owner_id: int | None = None,
    case_ids: Sequence[int] = (),
) -> Incident:
    """Open an incident by hand, linking ``case_ids`` (each must be visible to the actor)."""
    actor.require(Permission.incidents_write)
    wanted = _check_case_ids(session, actor, case_ids)
    return _open(
        session,
        actor,
        title=_title(title),
        summary=_long_text(summary, "summary"),
        severity=severity,
        owner_id=_owner(session, owner_id),
        origin=IncidentOrigin.manual,
        case_ids=wanted,
    )


def _check_case_ids(session: Session, actor: Principal, case_ids: Iterable[int]) -> list[int]:
    wanted = list(dict.fromkeys(int(c) for c in case_ids))
    if len(wanted) > MAX_LINK:
        raise InvalidInput(
            f"link at most {MAX_LINK} cases at a time", field="case_ids", code="too_many_cases"
        )
    for case_id in wanted:
        _visible_case(session, actor, case_id)
    return wanted


def _open(
    session: Session,
    actor: Principal,
    *,
    title: str,
    summary: str,
    severity: IncidentSeverity,
    owner_id: int | None,
    origin: IncidentOrigin,
    case_ids: Sequence[int],
) -> Incident:
    now = clock.now()
    incident = Incident(
        title=title,
        summary=summary,
        severity=severity,
        status=IncidentStatus.open,
        origin=origin,
        owner_id=owner_id,
        opened_by_id=actor.staff_id,
        opened_by_label=actor.label,
        opened_at=now,
        updated_at=now,
    )
    session.add(incident)
    session.flush()
    _entry(session, incident, actor, EntryKind.opened, body=title, data={"origin": origin.value})
    audit.record(
        session,
        actor,
        "analytics.incident.create",
        "incident",
        incident.id,
        data={"title": title, "severity": severity.value, "origin": origin.value},
    )
    _link(session, actor, incident, case_ids, via=origin)
    return incident


def _link(
    session: Session,
    actor: Principal,
    incident: Incident,
    case_ids: Sequence[int],
    *,
    via: IncidentOrigin,
) -> list[IncidentCase]:
    """Link the cases not linked yet; a case already linked is left as it was."""
    if not case_ids:
        return []
    present = set(
        session.scalars(
            select(IncidentCase.case_id).where(
                IncidentCase.incident_id == incident.id, IncidentCase.case_id.in_(case_ids)
            )
        )
    )
    existing = set(session.scalars(select(Case.id).where(Case.id.in_(case_ids))))
    made: list[IncidentCase] = []
    now = clock.now()
    for case_id in case_ids:
        if case_id in present or case_id not in existing:
            continue
        link = IncidentCase(
            incident_id=incident.id,
            case_id=case_id,
            via=via,
            linked_by_id=actor.staff_id,
            linked_by_label=actor.label,
            linked_at=now,
        )
        session.add(link)
        made.append(link)
        _entry(session, incident, actor, EntryKind.case_linked, data={"case_id": case_id})
    if made:
        incident.updated_at = now
        _flush(session)
        audit.record(
            session,
            actor,
            "analytics.incident.link_cases",
            "incident",
            incident.id,
            data={"case_ids": [m.case_id for m in made], "via": via.value},
        )
    return made


def _check_source_free(session: Session, kind: SourceKind, ref_id: int) -> None:
    """409 ``already_escalated`` when the alert or cluster is part of an incident already."""
    taken = session.scalar(
        select(IncidentSource.incident_id).where(
            IncidentSource.kind == kind, IncidentSource.ref_id == ref_id
        )
    )
    if taken is not None:
        raise Conflict(
            f"this {kind.value} is already part of incident INC-{taken}",
            field=f"{kind.value}_id",
            code="already_escalated",
            details=[{"incident_id": taken}],
        )


def _add_source(
    session: Session, actor: Principal, incident: Incident, kind: SourceKind, ref_id: int
) -> None:
    session.add(
        IncidentSource(
            incident_id=incident.id,
            kind=kind,
            ref_id=ref_id,
            linked_by_label=actor.label,
            linked_at=clock.now(),
        )
    )
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent escalation of the same source won
        raise Conflict(
            f"this {kind.value} is already part of an incident",
            field=f"{kind.value}_id",
            code="already_escalated",
        ) from exc
    _entry(
        session,
        incident,
        actor,
        EntryKind.source_linked,
        data={"kind": kind.value, "ref_id": ref_id},
    )
    audit.record(
        session,
        actor,
        "analytics.incident.link_source",
        "incident",
        incident.id,
        data={"kind": kind.value, "ref_id": ref_id},
    )


def _target(
    session: Session,
    actor: Principal,
    incident_id: int | None,
    *,
    title: str,
    summary: str,
    severity: IncidentSeverity,
    owner_id: int | None,
    origin: IncidentOrigin,
    case_ids: Sequence[int],
) -> Incident:
    """A new incident, or the existing one named by ``incident_id`` (not closed) with the
    cases added."""
    if incident_id is None:
        return _open(
            session,
            actor,
            title=title,
            summary=summary,
            severity=severity,
            owner_id=owner_id,
            origin=origin,
            case_ids=case_ids,
        )
    incident = get_incident(session, actor, incident_id, lock=True)
    _link(session, actor, incident, case_ids, via=origin)
    return incident


def _check_open(session: Session, actor: Principal, incident_id: int | None) -> None:
    if incident_id is None:
        return
    _refuse_closed(get_incident(session, actor, incident_id))


def open_from_alert(
    session: Session,
    actor: Principal,
    alert_id: int,
    *,
    title: str | None = None,
    summary: str | None = None,
    severity: IncidentSeverity | None = None,
    owner_id: int | None = None,
    incident_id: int | None = None,
) -> Incident:
    """Escalate trend alert ``alert_id`` into a new incident (or into ``incident_id``),
    linking the alert's sample cases; the alert becomes ``escalated``."""
    from vigil.analytics.trends import service as trends
    from vigil.analytics.trends import wording

    actor.require(Permission.incidents_write)
    alert = trends.get_alert(session, actor, alert_id)
    if str(alert.status) not in _ALERT_ESCALATABLE:
        raise IllegalTransition(
            f"an alert that is {alert.status} cannot be escalated",
            field="alert_id",
            code="illegal_transition",
        )
    _check_source_free(session, SourceKind.alert, alert.id)
    _check_open(session, actor, incident_id)
    owner = _owner(session, owner_id)
    default_title = f"Rise in {wording.label(alert.dimension)} = {alert.value}"
    default_summary = f"Trend alert #{alert.id}: {wording.sentence(alert)} (UTC)."
    incident = _target(
        session,
        actor,
        incident_id,
        title=_title(title or default_title),
        summary=_long_text(summary if summary is not None else default_summary, "summary"),
        severity=severity or IncidentSeverity.medium,
        owner_id=owner,
        origin=IncidentOrigin.alert,
        case_ids=list(dict.fromkeys(int(c) for c in alert.sample_case_ids or [])),
    )
    _add_source(session, actor, incident, SourceKind.alert, alert.id)
    trends.mark_escalated(session, actor, alert.id, incident.id)
    return incident


def open_from_cluster(
    session: Session,
    actor: Principal,
    cluster_id: int,
    *,
    title: str | None = None,
    summary: str | None = None,
    severity: IncidentSeverity | None = None,
    owner_id: int | None = None,
    incident_id: int | None = None,
) -> Incident:
    """Escalate emerging cluster ``cluster_id`` into a new incident (or into
    ``incident_id``), linking the cases its member events were filed on; the cluster becomes
    ``escalated``."""
    actor.require(Permission.incidents_write)
    actor.require(Permission.trends_read)
    cluster = clusters.load_cluster(session, cluster_id, lock=True)
    clusters.check_escalation(cluster)
    _check_source_free(session, SourceKind.cluster, cluster.id)
    _check_open(session, actor, incident_id)
    owner = _owner(session, owner_id)
    default_summary = (
        f"Emerging cluster #{cluster.id}: {cluster.size} similar texts from {cluster.accounts} "
        f"accounts, first seen {clock.as_utc(cluster.first_seen_at):%Y-%m-%d %H:%M} UTC."
    )
    # The example quoted is never from a legal-tier case: every staff member reads the
    # incident, whoever opened it.
    hidden = clusters.legal_event_ids(
        session, [int(e["event_id"]) for e in cluster.examples or [] if e.get("event_id")]
    )
    examples = [
        str(e.get("text", ""))
        for e in cluster.examples or []
        if int(e.get("event_id") or 0) not in hidden
    ][:1]
    if examples:
        default_summary += f'\nExample: "{examples[0]}"'
    incident = _target(
        session,
        actor,
        incident_id,
        title=_title(title or f"Cluster: {cluster.label}"[:MAX_TITLE]),
        summary=_long_text(summary if summary is not None else default_summary, "summary"),
        severity=severity or IncidentSeverity.medium,
        owner_id=owner,
        origin=IncidentOrigin.cluster,
        case_ids=clusters.case_ids(session, cluster),
    )
    _add_source(session, actor, incident, SourceKind.cluster, cluster.id)
    clusters.mark_escalated(session, actor, cluster, incident.id)
    return incident


# --- changing ---------------------------------------------------------------------------------


def _check_version(incident: Incident, expected: int | None) -> None:
    if expected is not None and incident.version != expected:
        raise VersionConflict(
            f"the incident is at version {incident.version}, not {expected}; reload and try again",
            field="expected_version",
            code="version_conflict",
        )


def update(
    session: Session,
    actor: Principal,
    incident_id: int,
    *,
    title: str | None = None,
    summary: str | None = None,
    severity: IncidentSeverity | None = None,
    owner_id: int | None = None,
    clear_owner: bool = False,
    expected_version: int | None = None,
) -> Incident:
    """Change what is given (``clear_owner`` removes the owner)."""
    actor.require(Permission.incidents_write)
    new_title = _title(title) if title is not None else None
    new_summary = _long_text(summary, "summary") if summary is not None else None
    new_owner = _owner(session, owner_id)
    incident = get_incident(session, actor, incident_id, lock=True)
    _check_version(incident, expected_version)
    changes: dict[str, Any] = {}
    if new_title is not None and new_title != incident.title:
        changes["title"] = [incident.title, new_title]
        incident.title = new_title
    if new_summary is not None and new_summary != incident.summary:
        changes["summary"] = True
        incident.summary = new_summary
    if severity is not None and severity != incident.severity:
        changes["severity"] = [str(incident.severity), severity.value]
        incident.severity = severity
    if clear_owner and incident.owner_id is not None:
        changes["owner_id"] = [incident.owner_id, None]
        incident.owner_id = None
    elif new_owner is not None and new_owner != incident.owner_id:
        changes["owner_id"] = [incident.owner_id, new_owner]
        incident.owner_id = new_owner
    if not changes:
        return incident
    incident.updated_at = clock.now()
    _entry(session, incident, actor, EntryKind.updated, data=changes)
    _flush(session)
    audit.record(session, actor, "analytics.incident.update", "incident", incident.id, data=changes)
    return incident


def transition(
    session: Session,
    actor: Principal,
    incident_id: int,
    to: IncidentStatus,
    *,
    note: str | None = None,
    expected_version: int | None = None,
) -> Incident:
    """Move the incident along its lifecycle (:mod:`vigil.analytics.incidents.states`);
    409 ``illegal_transition`` for a move the machine does not hold."""
    actor.require(Permission.incidents_write)
    body = _long_text(note, "note") or None
    incident = get_incident(session, actor, incident_id, lock=True)
    _check_version(incident, expected_version)
    previous = states.transition(incident, to)
    _entry(
        session,
        incident,
        actor,
        EntryKind.status,
        body=body,
        data={"from": previous.value, "to": to.value},
    )
    _flush(session)
    audit.record(
        session,
        actor,
        "analytics.incident.transition",
        "incident",
        incident.id,
        reason=body,
        data={"from": previous.value, "to": to.value},
    )
    return incident


def add_note(session: Session, actor: Principal, incident_id: int, body: str) -> IncidentEntry:
    actor.require(Permission.incidents_write)
    text = _long_text(body, "body", required=True)
    incident = get_incident(session, actor, incident_id, lock=True)
    incident.updated_at = clock.now()
    entry = _entry(session, incident, actor, EntryKind.note, body=text)
    _flush(session)
    audit.record(
        session, actor, "analytics.incident.note", "incident", incident.id, data={"entry": entry.id}
    )
    return entry


def link_cases(
    session: Session, actor: Principal, incident_id: int, case_ids: Sequence[int]
) -> list[IncidentCase]:
    """Link cases by hand; each must be visible to the actor (404 ``case_not_found``,
    nothing linked). Cases already linked are left as they were; returns the new links."""
    actor.require(Permission.incidents_write)
    if not case_ids:
        raise InvalidInput("name at least one case", field="case_ids", code="case_ids_required")
    wanted = _check_case_ids(session, actor, case_ids)
    incident = get_incident(session, actor, incident_id, lock=True)
    _refuse_closed(incident)
    return _link(session, actor, incident, wanted, via=IncidentOrigin.manual)


def unlink_case(session: Session, actor: Principal, incident_id: int, case_id: int) -> None:
    """404 ``case_link_not_found`` when the case is not linked (or not visible)."""
    actor.require(Permission.incidents_write)
    incident = get_incident(session, actor, incident_id, lock=True)
    link = session.scalar(
        select(IncidentCase).where(
            IncidentCase.incident_id == incident.id, IncidentCase.case_id == case_id
        )
    )
    case = session.get(Case, case_id)
    if link is None or case is None or (case.tier == Tier.legal and not _sees_legal(actor)):
        raise NotFound(
            "this case is not linked to the incident", field="case_id", code="case_link_not_found"
        )
    _refuse_closed(incident)
    session.delete(link)
    incident.updated_at = clock.now()
    _entry(session, incident, actor, EntryKind.case_unlinked, data={"case_id": case_id})
    _flush(session)
    audit.record(
        session,
        actor,
        "analytics.incident.unlink_case",
        "incident",
        incident.id,
        data={"case_id": case_id},
    )
