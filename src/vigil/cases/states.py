"""The case state machine.

Statuses and the moves between them are data (:data:`ALLOWED`); :func:`transition` is the only
code that changes ``Case.status``. It refuses a move the table does not hold (409
``illegal_transition``), stamps the step's own timestamp, keeps ``assignee_id`` and
``resolution`` in step with the database's check constraints, and appends the step to the
case timeline.

``docs/case-lifecycle.md`` draws the machine.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus, Resolution
from vigil.kit import clock
from vigil.kit.errors import IllegalTransition

S = CaseStatus

ALLOWED: dict[CaseStatus, frozenset[CaseStatus]] = {
    # Pulled or assigned; escalated while waiting (same status, next tier's queue); parked by
    # a supervisor; closed unworked (duplicates, spam).
    S.open: frozenset({S.open, S.assigned, S.on_hold, S.closed}),
    # Released or escalated back to a queue; re-assigned to someone else; held; resolved.
    S.assigned: frozenset({S.open, S.assigned, S.on_hold, S.closed}),
    # Hold ran out or was escalated (queue); picked back up by a person; resolved.
    S.on_hold: frozenset({S.open, S.assigned, S.closed}),
    # Only a reopen brings a closed case back.
    S.closed: frozenset({S.open}),
}

# Which statuses each named step may start from. The status table alone cannot tell a reopen
# (closed -> open) from an escalation (which must never start from closed).
STEP_FROM: dict[CaseEventKind, frozenset[CaseStatus]] = {
    CaseEventKind.assigned: frozenset({S.open, S.assigned, S.on_hold}),
    CaseEventKind.released: frozenset({S.assigned}),
    CaseEventKind.held: frozenset({S.open, S.assigned}),
    CaseEventKind.resumed: frozenset({S.on_hold}),
    CaseEventKind.escalated: frozenset({S.open, S.assigned, S.on_hold}),
    CaseEventKind.closed: frozenset({S.open, S.assigned, S.on_hold}),
    CaseEventKind.reopened: frozenset({S.closed}),
}


def is_allowed(from_status: CaseStatus, to_status: CaseStatus) -> bool:
    return to_status in ALLOWED[from_status]


def check(case: Case, to: CaseStatus, kind: CaseEventKind | None = None) -> None:
    """Raise :class:`IllegalTransition` unless ``case`` may move to ``to`` by step ``kind``."""
    current = CaseStatus(case.status)
    if kind is not None and kind in STEP_FROM and current not in STEP_FROM[kind]:
        raise IllegalTransition(
            f"a case that is {current.value} cannot be {kind.value}",
            field="status",
            code="illegal_transition",
        )
    if not is_allowed(current, to):
        raise IllegalTransition(
            f"a case cannot go from {current.value} to {to.value}",
            field="status",
            code="illegal_transition",
        )


def transition(
    session: Session,
    case: Case,
    to: CaseStatus,
    *,
    actor: Principal,
    kind: CaseEventKind,
    reason: str | None = None,
    assignee_id: int | None = None,
    hold_until: datetime | None = None,
    resolution: Resolution | None = None,
    resolution_note: str | None = None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """Move ``case`` to ``to`` and append the step to its timeline.

    Invariants kept here (and by the database's check constraints): ``assignee_id`` is set
    exactly when the status is ``assigned``; ``resolution`` is set exactly when it is
    ``closed``; ``hold_until`` is set only while ``on_hold``.
    """
    check(case, to, kind)
    if to is S.assigned and assignee_id is None:
        raise ValueError("an assigned case needs an assignee")
    if to is S.closed and resolution is None:
        raise ValueError("a closed case needs a resolution")
    if to is S.on_hold and hold_until is None:
        raise ValueError("a hold needs an end")

    now = clock.now()
    from_status = CaseStatus(case.status)
    event_data = dict(data or {})
    if case.assignee_id is not None and (to is not S.assigned or case.assignee_id != assignee_id):
        event_data.setdefault("previous_assignee_id", case.assignee_id)

    case.status = to
    case.assignee_id = assignee_id if to is S.assigned else None
    if to is not S.on_hold:
        case.hold_until = None
    if to is not S.closed:
        case.resolution = None
        case.resolution_note = None

    if to is S.assigned:
        case.assigned_at = now
        if case.first_assigned_at is None:
            case.first_assigned_at = now
    elif to is S.on_hold:
        case.held_at = now
        case.hold_until = hold_until
    elif to is S.closed:
        case.closed_at = now
        case.resolution = resolution
        case.resolution_note = resolution_note
    if kind is CaseEventKind.escalated:
        case.escalated_at = now
    elif kind is CaseEventKind.reopened:
        case.reopened_at = now
        case.closed_at = None

    event = CaseEvent(
        case_id=case.id,
        at=now,
        kind=kind.value,
        actor_id=actor.staff_id,
        actor_label=actor.label,
        from_status=from_status.value,
        to_status=to.value,
        reason=reason,
        data=event_data,
    )
    session.add(event)
    return event


def record_event(
    session: Session,
    case: Case,
    kind: CaseEventKind,
    *,
    actor: Principal,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """A timeline entry for something that is not a status change (a note, a breach)."""
    event = CaseEvent(
        case_id=case.id,
        at=clock.now(),
        kind=kind.value,
        actor_id=actor.staff_id,
        actor_label=actor.label,
        reason=reason,
        data=data or {},
    )
    session.add(event)
    return event
