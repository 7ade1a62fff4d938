"""What leaves Vigil about a dispute: the ``dispute.updated`` and
``dispute.payment_instruction`` webhooks, and the messages to the parties."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.disputes import messages, money, states
from vigil.disputes.access import (
    load_account,
    open_proposal,
)
from vigil.disputes.models import (
    Dispute,
    DisputeEvent,
    DisputeEventKind,
    Party,
)
from vigil.integrations import service as integrations


def external_ids(session: Session, dispute: Dispute) -> tuple[str, str]:
    return (
        load_account(session, dispute.buyer_account_id).external_id,
        load_account(session, dispute.seller_account_id).external_id,
    )


def money_fields(minor: int, currency: str) -> dict[str, Any]:
    return {
        "amount": money.to_decimal_str(minor, currency),
        "amount_minor": minor,
        "currency": currency,
    }


def public_state(session: Session, dispute: Dispute) -> dict[str, Any]:
    buyer, seller = external_ids(session, dispute)
    return {
        "dispute_id": dispute.id,
        "status": dispute.status.value,
        "subject": {"type": dispute.subject_type.value, "ref": dispute.subject_ref},
        "buyer_external_id": buyer,
        "seller_external_id": seller,
        "opened_by": dispute.opened_by.value,
        "reason_code": dispute.reason_code.value,
        "amount": money_fields(dispute.amount_minor, dispute.currency),
        "respondent_defaulted": dispute.respondent_defaulted,
        "response_due_at": dispute.response_due_at,
        "outcome": dispute.outcome.value if dispute.outcome else None,
        "resolved_by": dispute.resolved_by.value if dispute.resolved_by else None,
        "payment_status": dispute.payment_status.value,
        "resolved_at": dispute.resolved_at,
        "refund": money_fields(dispute.refund_minor, dispute.currency)
        if dispute.refund_minor
        else None,
        "release": money_fields(dispute.release_minor, dispute.currency)
        if dispute.release_minor
        else None,
        "open_proposal": _proposal_state(session, dispute),
    }


def _proposal_state(session: Session, dispute: Dispute) -> dict[str, Any] | None:
    """The open proposal, so the marketplace can show it and relay the answers without
    another read."""
    proposal = open_proposal(session, dispute)
    if proposal is None:
        return None
    refund, release = money.split_for(
        proposal.outcome.value, dispute.amount_minor, proposal.refund_minor
    )
    return {
        "id": proposal.id,
        "outcome": proposal.outcome.value,
        "refund": money_fields(refund, dispute.currency),
        "release": money_fields(release, dispute.currency),
        "due_at": proposal.due_at,
        "buyer_answer": proposal.buyer_answer.value if proposal.buyer_answer else None,
        "seller_answer": proposal.seller_answer.value if proposal.seller_answer else None,
    }


def emit_updated(session: Session, dispute: Dispute, event: DisputeEvent) -> None:
    session.flush()  # the event's id names this change
    payload = {
        **public_state(session, dispute),
        "change": event.kind.value,
        "changed_at": event.at,
    }
    integrations.emit(
        session,
        "dispute.updated",
        payload,
        idempotency_key=f"dispute:{dispute.id}:event:{event.id}",
        subject_type="dispute",
        subject_id=dispute.id,
        case_id=dispute.case_id,
    )


def instruct(
    session: Session,
    actor: Principal,
    dispute: Dispute,
    instruction: str,
    *,
    key: str,
    refund_minor: int = 0,
    release_minor: int = 0,
    note: str | None = None,
) -> DisputeEvent:
    """Send a ``dispute.payment_instruction`` (``hold``, ``refund`` or ``release``) and put it
    on the timeline. ``key`` names the step, so a repeat is never a second instruction."""
    buyer, seller = external_ids(session, dispute)
    payload: dict[str, Any] = {
        "dispute_id": dispute.id,
        "instruction": instruction,
        "subject": {"type": dispute.subject_type.value, "ref": dispute.subject_ref},
        "buyer_external_id": buyer,
        "seller_external_id": seller,
        "currency": dispute.currency,
        "disputed_amount": money.to_decimal_str(dispute.amount_minor, dispute.currency),
        "disputed_amount_minor": dispute.amount_minor,
        "outcome": dispute.outcome.value if dispute.outcome else None,
    }
    if instruction == "hold":
        payload["hold_amount"] = payload["disputed_amount"]
        payload["hold_amount_minor"] = dispute.amount_minor
    else:
        payload["refund_amount"] = money.to_decimal_str(refund_minor, dispute.currency)
        payload["refund_amount_minor"] = refund_minor
        payload["release_amount"] = money.to_decimal_str(release_minor, dispute.currency)
        payload["release_amount_minor"] = release_minor
    if note:
        payload["note"] = note
    idempotency_key = f"dispute:{dispute.id}:payment:{key}"
    integrations.emit(
        session,
        "dispute.payment_instruction",
        payload,
        idempotency_key=idempotency_key,
        subject_type="dispute",
        subject_id=dispute.id,
        case_id=dispute.case_id,
    )
    return states.record(
        session,
        dispute,
        DisputeEventKind.payment_instruction,
        actor=actor,
        data={
            "instruction": instruction,
            "key": idempotency_key,
            "refund_minor": refund_minor,
            "release_minor": release_minor,
        },
    )


def notify(
    session: Session,
    settings: Settings,
    dispute: Dispute,
    parties: Sequence[Party],
    template: str,
    extra: dict[str, Any] | None = None,
) -> None:
    for party in parties:
        messages.send(
            session,
            settings,
            dispute,
            load_account(session, dispute.account_id_of(party)),
            party,
            template,
            extra or {},
        )
