"""The dispute lifecycle through the service: opening, sides, proposals, rulings,
withdrawal, deadlines, linked reviews, and the refusals that leave nothing behind."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.disputes.conftest import MARKETPLACE, counts, make_account, mediator, spec
from tests.factories import make_staff
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.cases.models import Case, CaseStatus, CaseType
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.disputes import service
from vigil.disputes.models import (
    DisputeEvent,
    DisputeStatus,
    Outcome,
    PaymentStatus,
    ProposalStatus,
    ResolvedBy,
)
from vigil.disputes.schemas import Excerpt, ProposalIn, RulingIn, SubmissionIn
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import Conflict, IllegalTransition, InvalidInput, PermissionDenied

pytestmark = pytest.mark.usefixtures("queues")


def _pair(db: Session) -> tuple:  # type: ignore[type-arg]
    buyer = make_account(db, "customer", locale="es-MX")
    seller = make_account(db, "pro", locale="pt-BR")
    return buyer, seller


def _kinds(db: Session, dispute_id: int) -> list[str]:
    return [
        e.kind.value
        for e in db.scalars(
            select(DisputeEvent)
            .where(DisputeEvent.dispute_id == dispute_id)
            .order_by(DisputeEvent.id)
        )
    ]


def test_open_makes_a_case_in_the_disputes_queue_and_tells_the_respondent(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    assert dispute.status is DisputeStatus.awaiting_response
    assert (dispute.amount_minor, dispute.currency) == (12050, "USD")
    assert dispute.response_due_at == dispute.opened_at + timedelta(hours=72)
    case = db.get(Case, dispute.case_id)
    assert case is not None and case.type is CaseType.dispute
    assert case.attributes["dispute_id"] == dispute.id
    messages = list(db.scalars(select(Message).where(Message.case_id == case.id)))
    # To the respondent only (the seller), in Portuguese, by email and in-app.
    assert {m.account_id for m in messages} == {seller.id}
    assert {m.channel.value for m in messages} == {"email", "in_app"}
    assert all(m.locale == "pt" for m in messages)
    assert "120,50 USD" in messages[0].body  # the amount as read in Portuguese
    assert _kinds(db, dispute.id) == ["opened", "submission", "payment_instruction"]


def test_open_twice_returns_the_live_dispute_and_a_key_is_idempotent(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    first = service.open_dispute(
        db,
        MARKETPLACE,
        spec(buyer, seller, subject_ref="job-1"),
        settings=settings,
        idempotency_key="k1",
    )
    again = service.open_dispute_result(
        db, MARKETPLACE, spec(buyer, seller, subject_ref="job-1"), settings=settings
    )
    assert (again.dispute.id, again.created) == (first.id, False)
    keyed = service.open_dispute_result(
        db,
        MARKETPLACE,
        spec(buyer, seller, subject_ref="job-1"),
        settings=settings,
        idempotency_key="k1",
    )
    assert (keyed.dispute.id, keyed.created) == (first.id, False)
    with pytest.raises(Conflict) as exc:
        service.open_dispute(
            db,
            MARKETPLACE,
            spec(buyer, seller, subject_ref="job-2"),
            settings=settings,
            idempotency_key="k1",
        )
    assert exc.value.code == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"currency": "XYZ"}, "unknown_currency", "currency"),
        ({"amount": "10.123"}, "too_many_decimals", "amount"),
        ({"amount": "100.5", "currency": "JPY"}, "too_many_decimals", "amount"),
        ({"amount": "0"}, "amount_not_positive", "amount"),
        ({"amount": "-3.00"}, "amount_not_positive", "amount"),
        # Exponents are refused before any arithmetic (no overflow, no huge integers).
        ({"amount": "1e999998"}, "amount_too_large", "amount"),
        ({"amount": "1e200000"}, "amount_too_large", "amount"),
        ({"amount": "1e-999999"}, "too_many_decimals", "amount"),
    ],
)
def test_bad_money_is_refused_and_nothing_is_written(
    db: Session,
    settings: Settings,
    changes: dict,
    code: str,
    field: str,  # type: ignore[type-arg]
) -> None:
    buyer, seller = _pair(db)
    before = counts(db)
    with pytest.raises(InvalidInput) as exc:
        service.open_dispute(db, MARKETPLACE, spec(buyer, seller, **changes), settings=settings)
    assert (exc.value.code, exc.value.field) == (code, field)
    assert counts(db) == before


def test_swapped_sides_are_refused(db: Session, settings: Settings) -> None:
    buyer, seller = _pair(db)
    with pytest.raises(InvalidInput) as exc:
        service.open_dispute(
            db,
            MARKETPLACE,
            spec(
                buyer,
                seller,
                buyer_external_id=seller.external_id,
                seller_external_id=buyer.external_id,
            ),
            settings=settings,
        )
    assert exc.value.code == "wrong_side"


def test_respondent_side_moves_it_to_mediation_then_a_rejection_and_a_ruling(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    service.submit(
        db,
        MARKETPLACE,
        dispute.id,
        seller.external_id,
        SubmissionIn(
            statement="I delivered the PNG files; vector was not in the brief.",
            excerpts=[
                Excerpt(
                    sent_at=dispute.opened_at - timedelta(days=3),
                    author="buyer",
                    text="PNG is fine for now",
                )
            ],
        ),
        settings=settings,
    )
    assert dispute.status is DisputeStatus.in_mediation
    assert dispute.responded_at is not None and dispute.response_seconds == 0
    agent = mediator(db, dispute)
    proposal = service.propose(
        db,
        agent,
        dispute.id,
        ProposalIn(outcome=Outcome.partial_refund, amount=Decimal("40"), note="Split it."),
        settings=settings,
    )
    assert dispute.status is DisputeStatus.proposed and proposal.refund_minor == 4000
    service.answer(
        db, MARKETPLACE, dispute.id, proposal.id, buyer.external_id, False, "No", settings=settings
    )
    assert proposal.status is ProposalStatus.rejected
    assert dispute.status is DisputeStatus.in_mediation
    with pytest.raises(Conflict) as exc:
        service.answer(
            db,
            MARKETPLACE,
            dispute.id,
            proposal.id,
            seller.external_id,
            True,
            None,
            settings=settings,
        )
    assert exc.value.code == "proposal_closed"
    service.rule(
        db,
        agent,
        dispute.id,
        RulingIn(outcome=Outcome.full_refund, reason="Not as briefed."),
        settings=settings,
    )
    assert dispute.status is DisputeStatus.resolved
    assert (dispute.resolved_by, dispute.outcome) == (ResolvedBy.ruling, Outcome.full_refund)
    assert dispute.payment_status is PaymentStatus.refunded
    case = db.get(Case, dispute.case_id)
    assert case is not None and case.status is CaseStatus.closed


def test_mediator_rules_need_the_case_and_the_respondent_phase_over(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    agent = mediator(db, dispute)
    with pytest.raises(IllegalTransition) as exc:
        service.rule(
            db, agent, dispute.id, RulingIn(outcome=Outcome.release, reason="x"), settings=settings
        )
    assert exc.value.code == "awaiting_response"
    other = auth_service.principal_for(make_staff(db, role=Role.agent))
    with pytest.raises(PermissionDenied) as denied:
        service.propose(
            db, other, dispute.id, ProposalIn(outcome=Outcome.release, note="n"), settings=settings
        )
    assert denied.value.code == "not_mediator"


def test_withdraw_by_the_opener_releases_and_the_respondent_may_not(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    with pytest.raises(PermissionDenied) as exc:
        service.withdraw(db, MARKETPLACE, dispute.id, seller.external_id, "", settings=settings)
    assert exc.value.code == "not_opener"
    service.withdraw(
        db, MARKETPLACE, dispute.id, buyer.external_id, "Sorted it out", settings=settings
    )
    assert dispute.resolved_by is ResolvedBy.withdrawn
    assert dispute.payment_status is PaymentStatus.released
    assert dispute.release_minor == dispute.amount_minor


def test_redo_keeps_the_hold_until_the_mediator_releases(db: Session, settings: Settings) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    service.submit(
        db,
        MARKETPLACE,
        dispute.id,
        seller.external_id,
        SubmissionIn(statement="Happy to redo."),
        settings=settings,
    )
    agent = mediator(db, dispute)
    service.rule(
        db, agent, dispute.id, RulingIn(outcome=Outcome.redo, reason="Redo it."), settings=settings
    )
    assert dispute.payment_status is PaymentStatus.held
    with pytest.raises(Conflict):
        service.submit(
            db,
            MARKETPLACE,
            dispute.id,
            buyer.external_id,
            SubmissionIn(statement="late"),
            settings=settings,
        )
    service.release_payment(db, agent, dispute.id, "Redone and approved.", settings=settings)
    assert dispute.payment_status is PaymentStatus.released
    # The outcome message promised the parties the payment stays held until this step: both
    # are told it was released, each in their language, with the mediator's note.
    released = {
        m.account_id: m
        for m in db.scalars(
            select(Message).where(
                Message.case_id == dispute.case_id,
                Message.template_key.like("%/released"),
                Message.channel == "email",
            )
        )
    }
    assert set(released) == {buyer.id, seller.id}
    assert "foi liberado para você" in released[seller.id].body  # pt-BR: to the seller
    assert "se liberó al vendedor" in released[buyer.id].body  # es-MX: the buyer reads
    assert "Redone and approved." in released[buyer.id].body
    assert "120,50 BRL" not in released[buyer.id].body and "120,50 USD" in released[buyer.id].body
    assert _kinds(db, dispute.id)[-1] == "payment_instruction"
    with pytest.raises(Conflict) as exc:
        service.release_payment(db, agent, dispute.id, "again", settings=settings)
    assert exc.value.code == "nothing_held"


def test_sweep_reminds_defaults_and_lapses_once(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    case = db.get(Case, dispute.case_id)
    assert case is not None
    priority, version = case.priority, case.version
    assert service.sweep(db, settings) == 0
    frozen.advance(timedelta(hours=49))
    assert service.sweep(db, settings) == 1
    assert service.sweep(db, settings) == 0
    assert dispute.reminded_at is not None
    frozen.advance(timedelta(hours=23))
    assert service.sweep(db, settings) == 1
    assert service.sweep(db, settings) == 0
    assert dispute.status is DisputeStatus.in_mediation and dispute.respondent_defaulted
    db.refresh(case)
    assert case.priority == priority - 1
    assert case.version == version  # the holder's next save is not a version conflict
    agent = mediator(db, dispute)
    proposal = service.propose(
        db,
        agent,
        dispute.id,
        ProposalIn(outcome=Outcome.full_refund, note="Refund."),
        settings=settings,
    )
    service.answer(
        db, MARKETPLACE, dispute.id, proposal.id, buyer.external_id, True, None, settings=settings
    )
    frozen.advance(timedelta(hours=72))
    assert service.sweep(db, settings) == 1
    assert proposal.status is ProposalStatus.lapsed
    assert dispute.status is DisputeStatus.in_mediation
    assert _kinds(db, dispute.id)[-1] == "lapsed"
    assert [k for k in _kinds(db, dispute.id) if k in ("reminder", "defaulted", "lapsed")] == [
        "reminder",
        "defaulted",
        "lapsed",
    ]


def test_linked_review_about_a_party(db: Session, settings: Settings) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    agent = mediator(db, dispute)
    review = service.open_review(
        db,
        agent,
        dispute.id,
        "seller",
        None,
        "Asked the buyer to pay off-platform in the excerpts.",
    )
    assert review.type is CaseType.account_review and review.account_id == seller.id
    assert review.attributes["dispute_id"] == dispute.id
    assert service.dispute_for_review(db, agent, review.id) is dispute
    shown = service.view(db, agent, dispute.id)
    assert [r.case.id for r in shown.linked_reviews] == [review.id]
    assert shown.can_propose is False  # still awaiting the respondent
    assert shown.amount_display == "USD 120.50"


def test_a_redo_agreed_by_both_is_released_by_the_proposer_only(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    service.submit(
        db,
        MARKETPLACE,
        dispute.id,
        seller.external_id,
        SubmissionIn(statement="I will redo it."),
        settings=settings,
    )
    agent = mediator(db, dispute)
    proposal = service.propose(
        db, agent, dispute.id, ProposalIn(outcome=Outcome.redo, note="Redo."), settings=settings
    )
    for who in (buyer, seller):
        service.answer(
            db,
            MARKETPLACE,
            dispute.id,
            proposal.id,
            who.external_id,
            True,
            None,
            settings=settings,
        )
    assert (dispute.resolved_by, dispute.payment_status) == (
        ResolvedBy.agreement,
        PaymentStatus.held,
    )
    assert service.view(db, agent, dispute.id).can_release is True
    other = auth_service.principal_for(make_staff(db, role=Role.agent))
    assert service.view(db, other, dispute.id).can_release is False
    with pytest.raises(PermissionDenied):
        service.release_payment(db, other, dispute.id, "Done.", settings=settings)
    service.release_payment(db, agent, dispute.id, "Redone.", settings=settings)
    assert dispute.payment_status is PaymentStatus.released


def test_the_sweep_is_a_periodic_job_on_its_setting() -> None:
    from vigil.disputes import tasks
    from vigil.jobs import registry

    assert registry.get_handler(tasks.SWEEP) is tasks.sweep
    (task,) = [t for t in registry.periodic_tasks() if t.kind == tasks.SWEEP]
    assert task.interval(Settings(dispute_sweep_seconds=60)) == timedelta(seconds=60)
