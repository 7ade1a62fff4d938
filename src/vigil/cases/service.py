"""Cases: creation, visibility, the "next case" pull, assignment, escalation, holds, closing,
notes and the timeline.

Every function takes ``(session, actor, ...)`` and never commits. Every change moves the case
through :func:`vigil.cases.states.transition` (or appends a timeline entry), then flushes,
then writes its audit record. The flush comes before the audit record on purpose: on
PostgreSQL the audit chain is serialised by an advisory lock, and taking the case's row lock
first, always, means two transactions never wait on each other in opposite orders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from vigil.accounts.models import Account
from vigil.audit import service as audit
from vigil.auth import service as auth_service
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import ActorType, Principal
from vigil.cases import repository, routing, states
from vigil.cases.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseRecusal,
    CaseStatus,
    CaseType,
    Queue,
    Resolution,
    Severity,
)
from vigil.kit import clock
from vigil.kit.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    VersionConflict,
)
from vigil.kit.pagination import decode_cursor, encode_cursor

MAX_NOTE_CHARS = 20_000
SYSTEM_RECUSAL = Principal.system("cases.recusal")
MAX_REASON_CHARS = 4_000


# --- helpers ----------------------------------------------------------------------------------


def visible(actor: Principal, case: Case) -> bool:
    """Legal-tier cases exist only for those who hold ``cases:legal``."""
    return case.tier != Tier.legal or actor.can(Permission.legal_cases)


def required_text(value: str | None, field: str, limit: int = MAX_REASON_CHARS) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{field} is required", field=field, code=f"{field}_required")
    if len(text) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return text


def optional_text(value: str | None, field: str) -> str | None:
    text = (value or "").strip()
    if len(text) > MAX_REASON_CHARS:
        raise InvalidInput(f"{field} is longer than {MAX_REASON_CHARS} characters", field=field)
    return text or None


def _check_version(case: Case, expected: int | None) -> None:
    if expected is not None and case.version != expected:
        raise VersionConflict(
            f"the case is at version {case.version}, not {expected}; reload and try again",
            field="expected_version",
            code="version_conflict",
        )


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise VersionConflict(
            "someone else changed this case; reload and try again", code="version_conflict"
        ) from exc


def _may_act(actor: Principal, case: Case) -> None:
    """Working on a case someone holds is for its holder; on a case nobody holds, or someone
    else's, it needs ``cases:assign`` (a lead or a specialist)."""
    if actor.staff_id is not None and case.assignee_id == actor.staff_id:
        return
    if actor.can(Permission.cases_assign):
        return
    raise PermissionDenied(
        "only the person the case is assigned to, or a lead, may do this", code="not_assignee"
    )


def _sla_due(queue: Queue, now: datetime) -> datetime:
    return now + timedelta(minutes=queue.sla_minutes)


def _queue(session: Session, queue_id: int) -> Queue:
    queue = session.get(Queue, queue_id)
    if queue is None:  # a foreign key guarantees it; guard against a concurrent delete
        raise NotFound("the case's queue is gone", code="queue_not_found")
    return queue


def get_case(session: Session, actor: Principal, case_id: int, *, lock: bool = False) -> Case:
    """The case, if ``actor`` may see it; 404 otherwise (a legal case is not admitted to
    exist). ``lock`` takes the row lock for a change on PostgreSQL, so status checks read the
    committed truth rather than racing another writer."""
    query = select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
    if lock:
        query = query.with_for_update()
    case = session.scalar(query)
    if case is None or not visible(actor, case):
        raise NotFound("no such case", code="case_not_found")
    return case


def view_case(session: Session, actor: Principal, case_id: int) -> Case:
    """:func:`get_case` for showing to someone: the view is audited (a case's title and
    summary often carry what users told us about each other)."""
    case = get_case(session, actor, case_id)
    audit.record(session, actor, "cases.case.view", "case", case.id)
    return case


# --- create -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCase:
    type: CaseType
    title: str
    summary: str = ""
    priority: int = 3
    severity: Severity = Severity.medium
    tier: Tier = Tier.tier1
    language: str = "en"
    policy_code: str | None = None
    account_id: int | None = None
    account_external_id: str | None = None
    source: str | None = None
    source_ref: str | None = None
    dedup_key: str | None = None
    attributes: dict[str, Any] | None = None
    # A queue chosen by the caller (a detection rule names one) instead of routing's; it
    # must be active and of the case's tier (422 ``unknown_queue`` / ``queue_tier``).
    queue_slug: str | None = None


@dataclass(frozen=True)
class CreateResult:
    case: Case
    created: bool  # False: an open case with the same dedup key was returned instead


def _resolve_account(session: Session, spec: NewCase) -> int | None:
    if spec.account_id is not None:
        found = session.scalar(select(Account.id).where(Account.id == spec.account_id))
        if found is None:
            raise NotFound("no such account", field="account_id", code="account_not_found")
        return found
    if spec.account_external_id is not None:
        found = session.scalar(
            select(Account.id).where(Account.external_id == spec.account_external_id)
        )
        if found is None:
            raise NotFound(
                "no account with this external id",
                field="account_external_id",
                code="account_not_found",
            )
        return found
    return None


def _live_duplicate(session: Session, dedup_key: str) -> Case | None:
    return session.scalar(
        select(Case)
        .where(Case.dedup_key == dedup_key, Case.status != CaseStatus.closed)
        .execution_options(populate_existing=True)
    )


def _note_duplicate(session: Session, actor: Principal, case: Case, spec: NewCase) -> None:
    if not visible(actor, case):
        # The live case with this key sits in the legal tier: the caller may not see it, so
        # nothing of it is returned or written under their name.
        raise Conflict(
            "a case with this dedup_key is already open and handled by another team",
            field="dedup_key",
            code="duplicate_case_restricted",
        )
    data = {"source": spec.source, "source_ref": spec.source_ref, "title": spec.title.strip()}
    states.record_event(session, case, CaseEventKind.deduplicated, actor=actor, data=data)
    session.flush()
    audit.record(session, actor, "cases.case.deduplicate", "case", case.id, data=data)


def _named_queue(session: Session, slug: str, tier: Tier) -> Queue:
    queue = session.scalar(select(Queue).where(Queue.slug == slug))
    if queue is None or not queue.active:
        raise InvalidInput(f"no active queue '{slug}'", field="queue", code="unknown_queue")
    if queue.tier != tier:
        raise InvalidInput(
            f"queue '{slug}' takes {queue.tier} cases, not {tier.value}",
            field="queue",
            code="queue_tier",
        )
    return queue


def create_case(session: Session, actor: Principal, spec: NewCase) -> CreateResult:
    """Open a case in the queue routing picks, due within that queue's SLA.

    With a ``dedup_key`` that a live (not closed) case already has, no second case is made:
    the existing one is returned and the repeat is noted on its timeline.
    """
    actor.require(Permission.cases_create)
    title = required_text(spec.title, "title", 300)
    if not 1 <= spec.priority <= 4:
        raise InvalidInput("priority is 1 (most urgent) to 4", field="priority")
    if spec.tier is Tier.legal and not actor.can(Permission.legal_cases):
        raise PermissionDenied(
            "opening a legal case needs the 'cases:legal' permission",
            field="tier",
            code="permission_denied",
        )
    dedup_key = (spec.dedup_key or "").strip() or None
    if dedup_key is not None:
        existing = _live_duplicate(session, dedup_key)
        if existing is not None:
            _note_duplicate(session, actor, existing, spec)
            return CreateResult(existing, False)
    account_id = _resolve_account(session, spec)
    language = (spec.language or "en").strip().lower() or "en"
    if spec.type is CaseType.appeal and spec.tier is Tier.tier1:
        # An appeal is heard by someone more senior than the reviewers whose work it contests.
        spec = replace(spec, tier=Tier.specialist)
    if spec.queue_slug is not None:
        queue = _named_queue(session, spec.queue_slug, spec.tier)
    else:
        queue = routing.route(
            session, routing.CaseTraits(spec.type, language, spec.tier, spec.severity)
        )
    now = clock.now()
    source = (
        spec.source
        or {
            ActorType.api_key: "api",
            ActorType.staff: "console",
            ActorType.system: "system",
        }[actor.type]
    )
    case = Case(
        type=spec.type,
        status=CaseStatus.open,
        title=title,
        summary=(spec.summary or "").strip(),
        priority=spec.priority,
        severity=spec.severity,
        tier=spec.tier,
        language=language,
        policy_code=spec.policy_code,
        source=source,
        source_ref=spec.source_ref,
        dedup_key=dedup_key,
        attributes=dict(spec.attributes or {}),
        account_id=account_id,
        queue_id=queue.id,
        created_by_id=actor.staff_id,
        opened_at=now,
        queued_at=now,
        sla_due_at=_sla_due(queue, now),
    )
    if dedup_key is None:
        session.add(case)
        session.flush()
    else:
        # Two creates with one key can race; the partial unique index lets one win, and the
        # loser returns the winner's case instead of failing.
        try:
            with session.begin_nested():
                session.add(case)
                session.flush()
        except IntegrityError:
            existing = _live_duplicate(session, dedup_key)
            if existing is None:
                raise
            _note_duplicate(session, actor, existing, spec)
            return CreateResult(existing, False)
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            kind=CaseEventKind.created.value,
            actor_id=actor.staff_id,
            actor_label=actor.label,
            to_status=CaseStatus.open.value,
            data={"queue_id": queue.id, "queue": queue.slug, "source": source},
        )
    )
    session.flush()
    audit.record(
        session,
        actor,
        "cases.case.create",
        "case",
        case.id,
        data={"type": case.type, "queue": queue.slug, "tier": case.tier, "account_id": account_id},
    )
    return CreateResult(case, True)


# --- lists ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilter:
    status: list[CaseStatus] | None = None
    queue_id: int | None = None
    assignee_id: int | None = None
    type: CaseType | None = None
    account_id: int | None = None
    policy_code: str | None = None
    tier: Tier | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def list_cases(
    session: Session,
    actor: Principal,
    filters: CaseFilter,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Case], str | None]:
    """Newest first (by id); ``created_to`` is exclusive."""
    query = select(Case).order_by(Case.id.desc()).limit(limit + 1)
    if not actor.can(Permission.legal_cases):
        query = query.where(Case.tier != Tier.legal)
    f = filters
    if f.status:
        query = query.where(Case.status.in_(f.status))
    if f.queue_id is not None:
        query = query.where(Case.queue_id == f.queue_id)
    if f.assignee_id is not None:
        query = query.where(Case.assignee_id == f.assignee_id)
    if f.type is not None:
        query = query.where(Case.type == f.type)
    if f.account_id is not None:
        query = query.where(Case.account_id == f.account_id)
    if f.policy_code is not None:
        query = query.where(Case.policy_code == f.policy_code)
    if f.tier is not None:
        query = query.where(Case.tier == f.tier)
    bounds: dict[str, datetime] = {}
    for name, value in (("created_from", f.created_from), ("created_to", f.created_to)):
        if value is None:
            continue
        if value.tzinfo is None:
            raise InvalidInput(
                "give a time zone (e.g. 2026-11-21T09:00:00Z)", field=name, code="naive_datetime"
            )
        try:
            # A time near year 1 or 9999 can fall outside datetime's range once in UTC.
            bounds[name] = clock.as_utc(value)
        except OverflowError:
            raise InvalidInput(
                "this time is out of range", field=name, code="invalid_datetime"
            ) from None
    if "created_from" in bounds:
        query = query.where(Case.created_at >= bounds["created_from"])
    if "created_to" in bounds:
        query = query.where(Case.created_at < bounds["created_to"])
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(Case.id < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    if actor.is_staff and rows:
        # Titles and summaries carry what users told us about each other: a list that shows
        # them is a view, audited like ``view_case`` (by id, never by content).
        audit.record(
            session, actor, "cases.case.list", "case", None,
            data={"case_ids": [c.id for c in rows]},
        )  # fmt: skip
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


# --- recusal ---------------------------------------------------------------------------------


def recuse(session: Session, case: Case, staff_ids: Sequence[int | None], reason: str) -> None:
    """Keep ``staff_ids`` off ``case``: ``pull_next`` skips it for them and ``assign`` refuses
    them (``recused``). An appeal recuses the reviewer and the approver of the decision it
    contests. Repeating it changes nothing. If one of them holds the case now, it goes back to
    its queue."""
    wanted = {s for s in staff_ids if s is not None}
    if not wanted:
        return
    have = set(
        session.scalars(
            select(CaseRecusal.staff_id).where(
                CaseRecusal.case_id == case.id, CaseRecusal.staff_id.in_(wanted)
            )
        )
    )
    for staff_id in sorted(wanted - have):
        session.add(CaseRecusal(case_id=case.id, staff_id=staff_id, reason=reason[:200]))
    session.flush()
    if case.status == CaseStatus.assigned and case.assignee_id in wanted:
        states.transition(
            session,
            case,
            CaseStatus.open,
            actor=SYSTEM_RECUSAL,
            kind=CaseEventKind.released,
            reason=reason,
            data={"via": "recusal"},
        )
        _flush(session)


def recused_staff(session: Session, case_id: int) -> list[int]:
    return list(
        session.scalars(
            select(CaseRecusal.staff_id)
            .where(CaseRecusal.case_id == case_id)
            .order_by(CaseRecusal.staff_id)
        )
    )


# --- the next case ----------------------------------------------------------------------------


def pull_next(session: Session, actor: Principal, *, max_held: int | None = None) -> Case | None:
    """Assign the most urgent open case ``actor`` may work to them, and only them.

    Two pullers never get the same case. On PostgreSQL the candidate row is taken with
    ``FOR UPDATE SKIP LOCKED``: concurrent pullers skip each other's rows instead of queueing
    behind them, and the lock holds until commit. On SQLite every transaction starts with
    ``BEGIN IMMEDIATE`` (see ``vigil.db``), so pulls run one at a time; the version-checked
    UPDATE is a second guard. Returns ``None`` when nothing is waiting.
    """
    actor.require(Permission.cases_work)
    if actor.staff_id is None:
        raise PermissionDenied("only staff members pull cases", code="staff_only")
    if max_held is not None:
        held = session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.assignee_id == actor.staff_id, Case.status == CaseStatus.assigned)
        )
        if (held or 0) >= max_held:
            raise Conflict(
                f"you already hold {held} cases; close or release one first",
                code="too_many_cases",
            )
    scope = repository.pull_scope(session, actor.staff_id, actor.role, actor.languages)
    if not scope.queue_ids:
        return None
    query = repository.next_case_query(scope).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    case = session.scalar(query)
    if case is None or case.status != CaseStatus.open:
        # The row is re-read under its lock; a case that stopped being open in between is not
        # handed out (reassigning it would be a legal move, so the state machine would not
        # stop it).
        return None
    states.transition(
        session,
        case,
        CaseStatus.assigned,
        actor=actor,
        kind=CaseEventKind.assigned,
        assignee_id=actor.staff_id,
        data={"via": "pull"},
    )
    _flush(session)
    audit.record(session, actor, "cases.case.pull", "case", case.id)
    return case


# --- assignment -------------------------------------------------------------------------------


def assign(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    staff_id: int | None = None,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Case:
    """Give the case to ``staff_id`` (``cases:assign``), or take an open case oneself
    (``cases:work``). The new holder must be able to work the case's tier."""
    actor.require(Permission.cases_work)
    case = get_case(session, actor, case_id, lock=True)
    _check_version(case, expected_version)
    target_id = staff_id if staff_id is not None else actor.staff_id
    if target_id is None:
        raise InvalidInput("name the staff member to assign", field="staff_id")
    self_take = target_id == actor.staff_id and case.status == CaseStatus.open
    if not self_take:
        actor.require(Permission.cases_assign)
    if case.status == CaseStatus.assigned and case.assignee_id == target_id:
        return case  # already theirs: a repeated request changes nothing
    try:
        target = auth_service.get_staff(session, target_id)
    except NotFound:
        raise NotFound("no such staff member", field="staff_id", code="staff_not_found") from None
    if not target.active:
        raise InvalidInput(
            "this staff member is deactivated", field="staff_id", code="staff_inactive"
        )
    if not repository.can_work_tier(target.role, Tier(case.tier)):
        raise InvalidInput(
            f"a {target.role.value} cannot work {case.tier} cases",
            field="staff_id",
            code="cannot_work_tier",
        )
    if repository.is_recused(session, case.id, target.id):
        raise PermissionDenied(
            "this staff member may not work this case (they made the decision it is about)",
            field="staff_id",
            code="recused",
        )
    states.transition(
        session,
        case,
        CaseStatus.assigned,
        actor=actor,
        kind=CaseEventKind.assigned,
        assignee_id=target.id,
        reason=optional_text(reason, "reason"),
        data={"via": "self" if target_id == actor.staff_id else "assign"},
    )
    _flush(session)
    audit.record(
        session,
        actor,
        "cases.case.assign",
        "case",
        case.id,
        reason=reason,
        data={"assignee_id": target.id},
    )
    return case


def release(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Case:
    """Hand an assigned case back to its queue, keeping its place (priority and due time)."""
    actor.require(Permission.cases_work)
    case = get_case(session, actor, case_id, lock=True)
    _check_version(case, expected_version)
    states.check(case, CaseStatus.open, CaseEventKind.released)
    _may_act(actor, case)
    reason = optional_text(reason, "reason")
    states.transition(
        session, case, CaseStatus.open, actor=actor, kind=CaseEventKind.released, reason=reason
    )
    _flush(session)
    audit.record(session, actor, "cases.case.release", "case", case.id, reason=reason)
    return case


# --- escalation -------------------------------------------------------------------------------


def escalate(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    reason: str,
    severity: Severity | None = None,
    priority: int | None = None,
    expected_version: int | None = None,
) -> Case:
    """Move the case one step up the ladder (Tier 1 -> specialist -> legal): into the queue
    routing picks for the next tier, unassigned and open, with that queue's SLA from now.
    Severity and priority may be raised on the way, never lowered."""
    actor.require(Permission.cases_work)
    case = get_case(session, actor, case_id, lock=True)
    _check_version(case, expected_version)
    states.check(case, CaseStatus.open, CaseEventKind.escalated)
    _may_act(actor, case)
    reason = required_text(reason, "reason")
    current_tier = Tier(case.tier)
    next_tier = current_tier.next()
    if next_tier is None:
        raise IllegalTransition(
            "the case is already at the top of the escalation ladder", code="no_higher_tier"
        )
    new_severity = Severity(case.severity) if severity is None else severity
    if new_severity.rank < Severity(case.severity).rank:
        raise InvalidInput("an escalation can raise the severity, not lower it", field="severity")
    new_priority = case.priority if priority is None else priority
    if not 1 <= new_priority <= case.priority:
        raise InvalidInput(
            "an escalation can raise the priority (a smaller number), not lower it",
            field="priority",
        )
    queue = routing.route(
        session,
        routing.CaseTraits(CaseType(case.type), case.language, next_tier, new_severity),
    )
    now = clock.now()
    data = {
        "from_tier": current_tier.value,
        "to_tier": next_tier.value,
        "from_queue_id": case.queue_id,
        "to_queue_id": queue.id,
        "to_queue": queue.slug,
        "severity": new_severity.value,
        "priority": new_priority,
    }
    states.transition(
        session,
        case,
        CaseStatus.open,
        actor=actor,
        kind=CaseEventKind.escalated,
        reason=reason,
        data=data,
    )
    case.tier = next_tier
    case.severity = new_severity
    case.priority = new_priority
    case.queue_id = queue.id
    case.queued_at = now
    case.sla_due_at = _sla_due(queue, now)
    case.sla_breached_at = None  # a new queue, a new promise; the old breach stays on the timeline
    _flush(session)
    audit.record(session, actor, "cases.case.escalate", "case", case.id, reason=reason, data=data)
    return case


# --- holds ------------------------------------------------------------------------------------


def hold(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    until: datetime,
    reason: str,
    expected_version: int | None = None,
) -> Case:
    """Park the case until ``until`` (waiting on the user or another team). It leaves its
    holder; the resume job puts it back in its queue when the hold runs out. The SLA clock
    keeps running: the promise to the user does not pause."""
    actor.require(Permission.cases_work)
    case = get_case(session, actor, case_id, lock=True)
    _check_version(case, expected_version)
    states.check(case, CaseStatus.on_hold, CaseEventKind.held)
    _may_act(actor, case)
    reason = required_text(reason, "reason")
    until = clock.as_utc(until)
    if until <= clock.now():
        raise InvalidInput("a hold must end in the future", field="until", code="hold_in_past")
    states.transition(
        session,
        case,
        CaseStatus.on_hold,
        actor=actor,
        kind=CaseEventKind.held,
        reason=reason,
        hold_until=until,
        data={"until": until.isoformat()},
    )
    _flush(session)
    audit.record(
        session,
        actor,
        "cases.case.hold",
        "case",
        case.id,
        reason=reason,
        data={"until": until.isoformat()},
    )
    return case


def resume(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Case:
    """End a hold early. A staff member who resumes a case picks it up (it is assigned to
    them); the system (the hold ran out) puts it back in its queue."""
    actor.require(Permission.cases_work)
    case = get_case(session, actor, case_id, lock=True)
    _check_version(case, expected_version)
    reason = optional_text(reason, "reason")
    if actor.staff_id is not None:
        states.check(case, CaseStatus.assigned, CaseEventKind.resumed)
        if not repository.can_work_tier(actor.role, Tier(case.tier)):
            raise PermissionDenied(f"you cannot work {case.tier} cases", code="cannot_work_tier")
        states.transition(
            session,
            case,
            CaseStatus.assigned,
            actor=actor,
            kind=CaseEventKind.resumed,
            reason=reason,
            assignee_id=actor.staff_id,
        )
    else:
        _resume_to_queue(session, actor, case, reason)
    _flush(session)
    audit.record(session, actor, "cases.case.resume", "case", case.id, reason=reason)
    return case


def _resume_to_queue(session: Session, actor: Principal, case: Case, reason: str | None) -> None:
    states.transition(
        session, case, CaseStatus.open, actor=actor, kind=CaseEventKind.resumed, reason=reason
    )


# --- close and reopen -------------------------------------------------------------------------


def _refuse_if_decision_pending(session: Session, case: Case) -> None:
    """A decision waiting for its second approver (four-eyes) is how this case ends: closing
    it another way would leave the approver a decision about a closed case."""
    # Imported here: enforcement builds on cases, so a module-level import would be a cycle.
    from vigil.enforcement import queries as enforcement_queries

    pending = enforcement_queries.pending_decision_id(session, case.id)
    if pending is not None:
        raise Conflict(
            f"decision {pending} on this case is waiting for a second approver; "
            "it closes the case when approved (or reject it first)",
            code="decision_pending",
        )


# Checks another domain registers to refuse closing a case it still needs (a dispute's case
# while the dispute is live). Each is called with the locked case and raises to refuse.
CloseGuard = Callable[[Session, Case], None]
_CLOSE_GUARDS: list[CloseGuard] = []


def register_close_guard(guard: CloseGuard) -> None:
    """Have :func:`close` call ``guard(session, case)`` before it closes any case."""
    if guard not in _CLOSE_GUARDS:
        _CLOSE_GUARDS.append(guard)


def close(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    resolution: Resolution,
    note: str,
    expected_version: int | None = None,
) -> Case:
    """Resolve the case. Its holder may close it; anyone else needs ``cases:assign``."""
    actor.require(Permission.cases_work)
    case = get_case(session, actor, case_id, lock=True)
    _check_version(case, expected_version)
    states.check(case, CaseStatus.closed, CaseEventKind.closed)
    _may_act(actor, case)
    _refuse_if_decision_pending(session, case)
    for guard in _CLOSE_GUARDS:
        guard(session, case)
    note = required_text(note, "note", MAX_NOTE_CHARS)
    states.transition(
        session,
        case,
        CaseStatus.closed,
        actor=actor,
        kind=CaseEventKind.closed,
        reason=note,
        resolution=resolution,
        resolution_note=note,
        data={"resolution": resolution.value},
    )
    _flush(session)
    audit.record(
        session,
        actor,
        "cases.case.close",
        "case",
        case.id,
        reason=note,
        data={"resolution": resolution.value},
    )
    return case


def reopen(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    reason: str,
    expected_version: int | None = None,
) -> Case:
    """Bring a closed case back to its queue with a fresh SLA (``cases:assign``)."""
    actor.require(Permission.cases_assign)
    case = get_case(session, actor, case_id, lock=True)
    _check_version(case, expected_version)
    states.check(case, CaseStatus.open, CaseEventKind.reopened)
    reason = required_text(reason, "reason")
    if case.dedup_key is not None:
        other = _live_duplicate(session, case.dedup_key)
        if other is not None and other.id != case.id:
            raise Conflict(
                f"case {other.id} is open for the same thing; work that one",
                code="duplicate_open_case",
            )
    queue = _queue(session, case.queue_id)
    now = clock.now()
    previous = {"resolution": case.resolution, "resolution_note": case.resolution_note}
    states.transition(
        session,
        case,
        CaseStatus.open,
        actor=actor,
        kind=CaseEventKind.reopened,
        reason=reason,
        data=previous,
    )
    case.queued_at = now
    case.sla_due_at = _sla_due(queue, now)
    case.sla_breached_at = None
    _flush(session)
    audit.record(session, actor, "cases.case.reopen", "case", case.id, reason=reason)
    return case
