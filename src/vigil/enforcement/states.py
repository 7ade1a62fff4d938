"""The decision and action state machines.

Statuses and the moves between them are data (:data:`DECISION_MOVES`, :data:`ACTION_MOVES`);
:func:`transition_decision` and :func:`transition_action` are the only code that changes a
status. They refuse a move the table does not hold (409 ``illegal_transition``) and stamp the
step's own timestamp, which the database's check constraints tie to the status.

::

    pending_approval --approve--> applied --reverse--> reversed
          |
          +--reject--> rejected
    (a decision without four-eyes actions is written straight as applied)

    action: pending --apply--> active --ends_at--> expired
                                  +----reverse---> reversed
"""

from __future__ import annotations

from datetime import datetime

from vigil.enforcement.models import ActionStatus, Decision, DecisionAction, DecisionStatus
from vigil.kit.errors import IllegalTransition

D = DecisionStatus
A = ActionStatus

DECISION_MOVES: dict[DecisionStatus, frozenset[DecisionStatus]] = {
    D.pending_approval: frozenset({D.applied, D.rejected}),
    D.applied: frozenset({D.reversed}),
    D.rejected: frozenset(),
    D.reversed: frozenset(),
}

ACTION_MOVES: dict[ActionStatus, frozenset[ActionStatus]] = {
    A.pending: frozenset({A.active}),
    A.active: frozenset({A.expired, A.reversed}),
    A.expired: frozenset(),
    A.reversed: frozenset(),
}

# The error code a refused move answers with, by the step that was attempted.
_REFUSALS: dict[DecisionStatus, str] = {
    D.applied: "decision_not_pending",
    D.rejected: "decision_not_pending",
    D.reversed: "decision_not_applied",
}


def check_decision(decision: Decision, to: DecisionStatus) -> None:
    current = DecisionStatus(decision.status)
    if to not in DECISION_MOVES[current]:
        raise IllegalTransition(
            f"a decision that is {current.value} cannot become {to.value}",
            field="status",
            code=_REFUSALS.get(to, "illegal_transition"),
        )


def transition_decision(
    decision: Decision,
    to: DecisionStatus,
    *,
    at: datetime,
    staff_id: int | None = None,
    reason: str | None = None,
) -> None:
    """Move ``decision`` to ``to``, stamping who and when for that step."""
    check_decision(decision, to)
    was_pending = decision.status == D.pending_approval
    decision.status = to
    if to is D.applied:
        decision.applied_at = at
        if was_pending:
            decision.approved_at = at
            decision.approved_by_id = staff_id
    elif to is D.rejected:
        decision.rejected_at = at
        decision.rejected_by_id = staff_id
    elif to is D.reversed:
        decision.reversed_at = at
        decision.reversed_by_id = staff_id
        decision.reversal_reason = reason


def check_action(action: DecisionAction, to: ActionStatus) -> None:
    current = ActionStatus(action.status)
    if to not in ACTION_MOVES[current]:
        raise IllegalTransition(
            f"an action that is {current.value} cannot become {to.value}",
            field="status",
            code="illegal_transition",
        )


def transition_action(
    action: DecisionAction,
    to: ActionStatus,
    *,
    at: datetime,
    reason: str | None = None,
) -> None:
    check_action(action, to)
    action.status = to
    if to is A.active:
        action.starts_at = at
    elif to is A.expired:
        action.expired_at = at
    elif to is A.reversed:
        action.reversed_at = at
        action.reversal_reason = reason
