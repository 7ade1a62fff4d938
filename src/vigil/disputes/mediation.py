"""Mediation: proposals, the parties' answers, rulings, withdrawal, and the outcome (the case
closed, the payment instruction, both parties told)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, Resolution
from vigil.config import Settings
from vigil.disputes import money, states
from vigil.disputes.access import (
    SYSTEM,
    clean_text,
    decided_by,
    get_visible,
    open_proposal,
    party_of,
    require_marketplace,
    require_mediator,
)
from vigil.disputes.models import (
    PROPOSABLE,
    Answer,
    Dispute,
    DisputeEventKind,
    DisputeProposal,
    DisputeStatus,
    Outcome,
    Party,
    PaymentStatus,
    ProposalStatus,
    ResolvedBy,
)
from vigil.disputes.outbound import (
    emit_updated,
    instruct,
    notify,
)
from vigil.disputes.schemas import (
    MAX_NOTE_CHARS,
    ProposalIn,
    RulingIn,
)
from vigil.kit import clock
from vigil.kit.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)


def _check_refund(
    dispute: Dispute, outcome: Outcome, amount: object, field_name: str = "amount"
) -> int:
    """Refund in minor units for a proposal or ruling; 0 for outcomes without one."""
    if outcome not in PROPOSABLE:
        raise InvalidInput(
            f"outcome is one of {', '.join(o.value for o in PROPOSABLE)}",
            field="outcome",
            code="invalid_outcome",
        )
    if outcome is not Outcome.partial_refund:
        if amount is not None:
            raise InvalidInput(
                "only a partial_refund takes an amount",
                field=field_name,
                code="amount_not_expected",
            )
        return dispute.amount_minor if outcome is Outcome.full_refund else 0
    if amount is None:
        raise InvalidInput(
            "a partial_refund needs the amount", field=field_name, code="amount_required"
        )
    refund = money.to_minor(amount, dispute.currency, field_name)
    if refund > dispute.amount_minor:
        raise InvalidInput(
            f"the refund is more than the disputed "
            f"{money.display(dispute.amount_minor, dispute.currency)}",
            field=field_name,
            code="amount_exceeds_disputed",
        )
    if refund == dispute.amount_minor:
        raise InvalidInput(
            "a refund of the whole disputed amount is a full_refund",
            field=field_name,
            code="use_full_refund",
        )
    return refund


def _refuse_if_decision_pending(session: Session, case: Case) -> None:
    """A four-eyes decision waiting on the dispute's case would keep the outcome from closing
    it: settle that decision first (409 ``decision_pending``)."""
    cases._refuse_if_decision_pending(session, case)


def _require_live(dispute: Dispute) -> None:
    states.refuse_if_resolved(dispute)
    if dispute.status == DisputeStatus.awaiting_response:
        raise IllegalTransition(
            "the respondent's deadline has not passed and they have not answered yet",
            code="awaiting_response",
        )


def propose(
    session: Session,
    actor: Principal,
    dispute_id: int,
    body: ProposalIn,
    *,
    settings: Settings,
) -> DisputeProposal:
    """Put a resolution to both parties, who have ``dispute_proposal_hours`` to answer. An
    open proposal is superseded by the new one."""
    dispute = get_visible(session, actor, dispute_id, lock=True)
    case = require_mediator(session, actor, dispute)
    _require_live(dispute)
    refund = _check_refund(dispute, body.outcome, body.amount)
    _refuse_if_decision_pending(session, case)
    note = clean_text(body.note, "note", MAX_NOTE_CHARS, required=True)
    now = clock.now()
    previous = open_proposal(session, dispute, lock=True)
    if previous is not None:
        states.close_proposal(previous, ProposalStatus.superseded)
        session.flush()  # the one-open-proposal index sees the old one closed first
    proposal = DisputeProposal(
        dispute_id=dispute.id,
        status=ProposalStatus.open,
        outcome=body.outcome,
        refund_minor=refund,
        note=note,
        proposed_by_id=actor.staff_id,
        proposed_by_label=actor.label[:200],
        proposed_at=now,
        due_at=now + timedelta(hours=settings.dispute_proposal_hours),
    )
    session.add(proposal)
    session.flush()
    event = states.transition(
        session,
        dispute,
        DisputeStatus.proposed,
        DisputeEventKind.proposed,
        actor=actor,
        data={
            "proposal_id": proposal.id,
            "outcome": proposal.outcome.value,
            "refund_minor": refund,
            "due_at": proposal.due_at,
            "superseded": previous.id if previous else None,
        },
    )
    session.flush()
    audit.record(
        session,
        actor,
        "disputes.proposal.create",
        "dispute",
        dispute.id,
        reason=note,
        data={
            "proposal_id": proposal.id,
            "outcome": proposal.outcome.value,
            "refund_minor": refund,
        },
    )
    notify(
        session,
        settings,
        dispute,
        [Party.buyer, Party.seller],
        "proposal",
        {"proposal": proposal},
    )
    emit_updated(session, dispute, event)
    return proposal


def answer(
    session: Session,
    actor: Principal,
    dispute_id: int,
    proposal_id: int,
    party_external_id: str,
    accept: bool,
    comment: str | None,
    *,
    settings: Settings,
) -> DisputeProposal:
    """A party's answer to a proposal. Both accept: resolved by agreement. A rejection sends
    the dispute back to mediation. 409 ``already_answered`` for a second answer by the same
    party; 409 ``proposal_closed`` for a superseded, lapsed, rejected or overdue proposal."""
    require_marketplace(actor)
    dispute = get_visible(session, actor, dispute_id, lock=True)
    proposal = session.scalar(
        select(DisputeProposal)
        .where(DisputeProposal.id == proposal_id, DisputeProposal.dispute_id == dispute.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if proposal is None:
        raise NotFound("no such proposal on this dispute", code="proposal_not_found")
    party = party_of(session, dispute, party_external_id)
    if proposal.answer_of(party) is not None:
        raise Conflict(
            f"the {party.value} already answered this proposal",
            field="party",
            code="already_answered",
        )
    if proposal.status != ProposalStatus.open or proposal.due_at <= clock.now():
        raise Conflict(
            "the proposal is closed (superseded, rejected, lapsed or past its deadline)",
            code="proposal_closed",
        )
    comment_text = clean_text(comment, "comment", MAX_NOTE_CHARS, required=False) or None
    now = clock.now()
    verdict = Answer.accepted if accept else Answer.rejected
    if party is Party.buyer:
        proposal.buyer_answer, proposal.buyer_answered_at = verdict, now
        proposal.buyer_comment = comment_text
    else:
        proposal.seller_answer, proposal.seller_answered_at = verdict, now
        proposal.seller_comment = comment_text
    states.record(
        session,
        dispute,
        DisputeEventKind.answered,
        actor=actor,
        party=party,
        data={"proposal_id": proposal.id, "accept": accept},
    )
    session.flush()
    audit.record(
        session,
        actor,
        "disputes.proposal.answer",
        "dispute",
        dispute.id,
        reason=comment_text,
        data={"proposal_id": proposal.id, "party": party.value, "accept": accept},
    )
    if not accept:
        states.close_proposal(proposal, ProposalStatus.rejected)
        event = states.transition(
            session,
            dispute,
            DisputeStatus.in_mediation,
            DisputeEventKind.rejected,
            actor=actor,
            party=party,
            data={"proposal_id": proposal.id},
        )
        session.flush()
        notify(
            session,
            settings,
            dispute,
            [Party.buyer, Party.seller],
            "proposal_closed",
            {"proposal": proposal, "closed_reason": "rejected", "by_party": party},
        )
        emit_updated(session, dispute, event)
    elif proposal.buyer_answer is Answer.accepted and proposal.seller_answer is Answer.accepted:
        states.close_proposal(proposal, ProposalStatus.accepted)
        _resolve(
            session,
            actor,
            dispute,
            settings,
            outcome=proposal.outcome,
            refund_minor=proposal.refund_minor,
            resolved_by=ResolvedBy.agreement,
            note=proposal.note,
            kind=DisputeEventKind.agreed,
            data={"proposal_id": proposal.id},
        )
    session.flush()
    return proposal


def _close_case(session: Session, dispute: Dispute, resolution: Resolution, note: str) -> None:
    case = cases.get_case(session, SYSTEM, dispute.case_id, lock=True)
    if case.status == CaseStatus.closed:
        return
    cases.close(session, SYSTEM, case.id, resolution=resolution, note=note[:20_000] or "resolved")


def _resolve(
    session: Session,
    actor: Principal,
    dispute: Dispute,
    settings: Settings,
    *,
    outcome: Outcome,
    refund_minor: int,
    resolved_by: ResolvedBy,
    note: str,
    kind: DisputeEventKind,
    data: dict[str, Any] | None = None,
) -> None:
    """Resolve: stamp the outcome, close the case, send the payment instruction, tell both."""
    if outcome is Outcome.withdrawn:
        refund, release = 0, dispute.amount_minor
    else:
        refund, release = money.split_for(outcome.value, dispute.amount_minor, refund_minor)
    dispute.outcome = outcome
    dispute.resolved_by = resolved_by
    dispute.resolution_note = note or None
    dispute.refund_minor = refund or None
    dispute.release_minor = release or None
    if resolved_by is ResolvedBy.ruling:
        dispute.ruled_by_id = actor.staff_id
    event = states.transition(
        session,
        dispute,
        DisputeStatus.resolved,
        kind,
        actor=actor,
        data={
            **(data or {}),
            "outcome": outcome.value,
            "resolved_by": resolved_by.value,
            "refund_minor": refund,
            "release_minor": release,
        },
    )
    if outcome is Outcome.redo:
        instruction = "hold"
    elif refund:
        instruction = "refund"
    else:
        instruction = "release"
    if instruction != "hold":
        dispute.payment_status = (
            PaymentStatus.partially_refunded
            if refund and release
            else PaymentStatus.refunded
            if refund
            else PaymentStatus.released
        )
        dispute.payment_settled_at = clock.now()
    session.flush()
    _close_case(
        session,
        dispute,
        Resolution.withdrawn if outcome is Outcome.withdrawn else Resolution.other,
        f"dispute {resolved_by.value}: {outcome.value}" + (f" — {note}" if note else ""),
    )
    audit.record(
        session,
        actor,
        "disputes.dispute.resolve",
        "dispute",
        dispute.id,
        reason=note or None,
        data={
            "outcome": outcome.value,
            "resolved_by": resolved_by.value,
            "refund_minor": refund,
            "release_minor": release,
        },
    )
    instruct(
        session,
        actor,
        dispute,
        instruction,
        key="outcome",
        refund_minor=refund,
        release_minor=release,
        note="the seller redoes the work; the payment stays held until released"
        if outcome is Outcome.redo
        else None,
    )
    notify(session, settings, dispute, [Party.buyer, Party.seller], "outcome")
    emit_updated(session, dispute, event)


def rule(
    session: Session,
    actor: Principal,
    dispute_id: int,
    body: RulingIn,
    *,
    settings: Settings,
) -> Dispute:
    """The mediator decides (at any time in mediation; a reason is required). An open
    proposal is superseded."""
    dispute = get_visible(session, actor, dispute_id, lock=True)
    case = require_mediator(session, actor, dispute)
    _require_live(dispute)
    refund = _check_refund(dispute, body.outcome, body.amount)
    _refuse_if_decision_pending(session, case)
    reason = clean_text(body.reason, "reason", MAX_NOTE_CHARS, required=True)
    previous = open_proposal(session, dispute, lock=True)
    if previous is not None:
        states.close_proposal(previous, ProposalStatus.superseded)
    _resolve(
        session,
        actor,
        dispute,
        settings,
        outcome=body.outcome,
        refund_minor=refund,
        resolved_by=ResolvedBy.ruling,
        note=reason,
        kind=DisputeEventKind.ruled,
        data={"superseded": previous.id if previous else None},
    )
    session.flush()
    return dispute


def withdraw(
    session: Session,
    actor: Principal,
    dispute_id: int,
    party_external_id: str,
    reason: str | None,
    *,
    settings: Settings,
) -> Dispute:
    """The opener withdraws: resolved as ``withdrawn``, the held payment released. 403
    ``not_opener`` for the respondent, ``not_a_party`` for anyone else."""
    require_marketplace(actor)
    dispute = get_visible(session, actor, dispute_id, lock=True)
    party = party_of(session, dispute, party_external_id)
    if party != dispute.opened_by:
        raise PermissionDenied(
            "only the party who opened the dispute may withdraw it",
            field="party",
            code="not_opener",
        )
    states.refuse_if_resolved(dispute)
    note = clean_text(reason, "reason", MAX_NOTE_CHARS, required=False)
    previous = open_proposal(session, dispute, lock=True)
    if previous is not None:
        states.close_proposal(previous, ProposalStatus.withdrawn)
    _resolve(
        session,
        actor,
        dispute,
        settings,
        outcome=Outcome.withdrawn,
        refund_minor=0,
        resolved_by=ResolvedBy.withdrawn,
        note=note,
        kind=DisputeEventKind.withdrawn,
        data={"party": party.value},
    )
    session.flush()
    return dispute


def release_payment(
    session: Session,
    actor: Principal,
    dispute_id: int,
    note: str,
    *,
    settings: Settings,
) -> Dispute:
    """After a ``redo`` outcome, the mediator releases the held payment to the seller (once
    the work is redone). 409 ``nothing_held`` otherwise."""
    actor.require(Permission.disputes_mediate)
    dispute = get_visible(session, actor, dispute_id, lock=True)
    if not decided_by(session, actor, dispute):
        raise PermissionDenied(
            "only the mediator who ruled or made the accepted proposal (or a lead) may release",
            code="not_mediator",
        )
    if dispute.outcome != Outcome.redo or dispute.payment_status != PaymentStatus.held:
        raise Conflict("no payment is held for a redo on this dispute", code="nothing_held")
    text = clean_text(note, "note", MAX_NOTE_CHARS, required=True)
    dispute.payment_status = PaymentStatus.released
    dispute.release_minor = dispute.amount_minor
    dispute.payment_settled_at = clock.now()
    session.flush()
    audit.record(session, actor, "disputes.payment.release", "dispute", dispute.id, reason=text)
    event = instruct(
        session,
        actor,
        dispute,
        "release",
        key="release",
        release_minor=dispute.amount_minor,
        note=text,
    )
    emit_updated(session, dispute, event)
    # The outcome message promised the parties the payment stays held until this step.
    notify(
        session, settings, dispute, (Party.buyer, Party.seller), "released", {"release_note": text}
    )
    session.flush()
    return dispute
