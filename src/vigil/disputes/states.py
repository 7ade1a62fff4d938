"""The dispute lifecycle: which status may follow which, and the one way to change it.

::

    awaiting_response ──(respondent's side, or deadline: defaulted)──▶ in_mediation
    in_mediation ──(mediator proposes)──▶ proposed
    proposed ──(rejected / lapsed)──▶ in_mediation
    proposed ──(mediator proposes again: the open proposal is superseded)──▶ proposed
    in_mediation | proposed ──(both accept / mediator rules)──▶ resolved
    awaiting_response | in_mediation | proposed ──(opener withdraws)──▶ resolved

``resolved`` is final. :func:`transition` stamps the step's timestamp, appends the timeline
entry and refuses any other move with 409 ``illegal_transition`` (or ``dispute_resolved``
once resolved), before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.disputes.models import (
    Dispute,
    DisputeEvent,
    DisputeEventKind,
    DisputeProposal,
    DisputeStatus,
    Party,
    ProposalStatus,
)
from vigil.kit import clock
from vigil.kit.errors import Conflict, IllegalTransition

S = DisputeStatus

ALLOWED: dict[DisputeStatus, frozenset[DisputeStatus]] = {
    S.awaiting_response: frozenset({S.in_mediation, S.resolved}),
    S.in_mediation: frozenset({S.proposed, S.resolved}),
    S.proposed: frozenset({S.in_mediation, S.proposed, S.resolved}),
    S.resolved: frozenset(),
}


def refuse_if_resolved(dispute: Dispute) -> None:
    if dispute.status == S.resolved:
        raise Conflict("the dispute is resolved", code="dispute_resolved")


def check(dispute: Dispute, to: DisputeStatus) -> None:
    refuse_if_resolved(dispute)
    if to not in ALLOWED[DisputeStatus(dispute.status)]:
        raise IllegalTransition(
            f"a dispute that is {dispute.status} cannot become {to}",
            code="illegal_transition",
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.as_utc(value).isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def record(
    session: Session,
    dispute: Dispute,
    kind: DisputeEventKind,
    *,
    actor: Principal,
    party: Party | None = None,
    data: dict[str, Any] | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
) -> DisputeEvent:
    """A timeline entry (also for things that are not a status change)."""
    event = DisputeEvent(
        dispute_id=dispute.id,
        at=clock.now(),
        kind=kind,
        party=party,
        actor_id=actor.staff_id,
        actor_label=actor.label,
        from_status=from_status,
        to_status=to_status,
        data=_jsonable(data or {}),
    )
    session.add(event)
    return event


def _since_open(dispute: Dispute) -> int:
    return max(0, int((clock.now() - dispute.opened_at).total_seconds()))


def transition(
    session: Session,
    dispute: Dispute,
    to: DisputeStatus,
    kind: DisputeEventKind,
    *,
    actor: Principal,
    party: Party | None = None,
    data: dict[str, Any] | None = None,
) -> DisputeEvent:
    """Move ``dispute`` to ``to`` and stamp the step; the caller flushes."""
    check(dispute, to)
    now = clock.now()
    previous = DisputeStatus(dispute.status)
    dispute.status = to
    if to is S.in_mediation and dispute.mediation_at is None:
        dispute.mediation_at = now
    if to is S.proposed and dispute.first_proposed_at is None:
        dispute.first_proposed_at = now
        dispute.first_proposal_seconds = _since_open(dispute)
    if to is S.resolved:
        dispute.resolved_at = now
        dispute.resolution_seconds = _since_open(dispute)
    return record(
        session,
        dispute,
        kind,
        actor=actor,
        party=party,
        data=data,
        from_status=previous.value,
        to_status=to.value,
    )


def close_proposal(proposal: DisputeProposal, status: ProposalStatus) -> None:
    """End an open proposal: accepted, rejected, lapsed, superseded or withdrawn."""
    proposal.status = status
    proposal.closed_at = clock.now()


def mark_responded(dispute: Dispute) -> None:
    """The respondent's first submission (before a default only)."""
    if dispute.responded_at is None and not dispute.respondent_defaulted:
        dispute.responded_at = clock.now()
        dispute.response_seconds = _since_open(dispute)
