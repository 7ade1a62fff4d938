"""The rules that keep a dispute honest: only the marketplace acts for a party, a default
does not depend on when the sweep ran, one live dispute per subject, bounded submissions,
a priority that reads the currency, a sweep that survives one bad dispute, a case that
closes only with its dispute, and messages only to the two parties."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.disputes.conftest import MARKETPLACE, SYSTEM, counts, make_account, mediator, spec
from tests.enforcement.conftest import decide, make_policy
from tests.factories import make_staff
from tests.servers import WebhookReceiver
from vigil.accounts.models import Account
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, Resolution
from vigil.communications import service as communications
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.disputes import service
from vigil.disputes.models import (
    Dispute,
    DisputeEvent,
    DisputeStatus,
    Outcome,
)
from vigil.disputes.schemas import ProposalIn, RulingIn, SubmissionIn
from vigil.disputes.sides import MAX_SUBMISSIONS_PER_PARTY
from vigil.enforcement.models import DecisionStatus
from vigil.integrations import service as integrations
from vigil.integrations.models import WebhookDelivery
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import Conflict, InvalidInput, PermissionDenied

pytestmark = pytest.mark.usefixtures("queues")


def _pair(db: Session) -> tuple[Account, Account]:
    return make_account(db, "client"), make_account(db, "freelancer", locale="pt-BR")


def _kinds(db: Session, dispute_id: int) -> list[str]:
    return [
        e.kind.value
        for e in db.scalars(
            select(DisputeEvent)
            .where(DisputeEvent.dispute_id == dispute_id)
            .order_by(DisputeEvent.id)
        )
    ]


def _responded(db: Session, dispute: Dispute, seller: Account, settings: Settings) -> None:
    service.submit(
        db,
        MARKETPLACE,
        dispute.id,
        seller.external_id,
        SubmissionIn(statement="Delivered as agreed."),
        settings=settings,
    )


# --- staff never act as a party ---------------------------------------------------------------


def test_staff_never_act_for_a_party_and_nothing_is_written(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    _responded(db, dispute, seller, settings)
    agent = mediator(db, dispute)
    proposal = service.propose(
        db, agent, dispute.id, ProposalIn(outcome=Outcome.full_refund, note="Refund."),
        settings=settings,
    )  # fmt: skip
    admin = auth_service.principal_for(make_staff(db, role=Role.admin))
    before = counts(db)
    attempts = [
        lambda: service.open_dispute(db, admin, spec(buyer, seller), settings=settings),
        lambda: service.submit(
            db, admin, dispute.id, buyer.external_id, SubmissionIn(statement="x"),
            settings=settings,
        ),
        lambda: service.add_file(
            db, admin, dispute.id, buyer.external_id, "a.txt", "text/plain", b"hello",
            settings=settings,
        ),
        lambda: service.answer(
            db, admin, dispute.id, proposal.id, buyer.external_id, True, None, settings=settings
        ),
        lambda: service.withdraw(
            db, admin, dispute.id, buyer.external_id, "done", settings=settings
        ),
    ]  # fmt: skip
    for attempt in attempts:
        with pytest.raises(PermissionDenied) as refused:
            attempt()
        assert refused.value.code == "marketplace_only"
    assert counts(db) == before
    db.refresh(proposal)
    assert (proposal.buyer_answer, proposal.seller_answer) == (None, None)


# --- a late respondent has defaulted, sweep or not ---------------------------------------------


def test_a_respondent_after_the_deadline_has_defaulted_before_the_sweep_ran(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    priority = db.get(Case, dispute.case_id).priority  # type: ignore[union-attr]
    frozen.advance(timedelta(hours=settings.dispute_response_hours + 2))
    _responded(db, dispute, seller, settings)
    assert dispute.status is DisputeStatus.in_mediation
    assert dispute.respondent_defaulted and dispute.defaulted_at is not None
    assert (dispute.responded_at, dispute.response_seconds) == (None, None)
    # The default first, then the late side kept as evidence.
    assert _kinds(db, dispute.id)[-2:] == ["defaulted", "submission"]
    case = db.get(Case, dispute.case_id)
    assert case is not None and case.priority == priority - 1
    told = db.scalars(
        select(Message.account_id).where(
            Message.case_id == dispute.case_id, Message.template_key.like("%/defaulted")
        )
    ).all()
    assert set(told) == {buyer.id, seller.id}
    assert service.sweep(db, settings) == 0  # nothing left to do


def test_a_respondent_just_before_the_deadline_has_responded(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    frozen.advance(timedelta(hours=settings.dispute_response_hours) - timedelta(seconds=1))
    _responded(db, dispute, seller, settings)
    assert (dispute.status, dispute.respondent_defaulted) == (DisputeStatus.in_mediation, False)
    assert dispute.response_seconds == settings.dispute_response_hours * 3600 - 1


# --- one live dispute per subject ---------------------------------------------------------------


def test_the_other_party_opening_the_same_subject_is_refused_naming_the_dispute(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    first = service.open_dispute(
        db, MARKETPLACE, spec(buyer, seller, subject_ref="job-9"), settings=settings,
        idempotency_key="open-9",
    )  # fmt: skip
    before = counts(db)
    with pytest.raises(Conflict) as refused:
        service.open_dispute(
            db,
            MARKETPLACE,
            spec(buyer, seller, subject_ref="job-9", opened_by="seller", statement="Counter."),
            settings=settings,
        )
    assert (refused.value.code, refused.value.field) == ("dispute_exists", "subject_ref")
    assert str(first.id) in refused.value.message
    # Other terms from the same opener are refused too, not silently dropped.
    with pytest.raises(Conflict) as other_amount:
        service.open_dispute(
            db, MARKETPLACE, spec(buyer, seller, subject_ref="job-9", amount="99.00"),
            settings=settings,
        )  # fmt: skip
    assert other_amount.value.code == "dispute_exists"
    # The same key with other details is a reused key.
    with pytest.raises(Conflict) as reused:
        service.open_dispute(
            db, MARKETPLACE, spec(buyer, seller, subject_ref="job-9", opened_by="seller"),
            settings=settings, idempotency_key="open-9",
        )  # fmt: skip
    assert reused.value.code == "idempotency_key_reused"
    assert counts(db) == before
    # A true repeat (key or same request) still returns the first.
    replay = service.open_dispute_result(
        db, MARKETPLACE, spec(buyer, seller, subject_ref="job-9"), settings=settings,
        idempotency_key="open-9",
    )  # fmt: skip
    assert (replay.dispute.id, replay.created) == (first.id, False)
    assert counts(db) == before


# --- bounded submissions ------------------------------------------------------------------------


def test_a_party_sends_a_bounded_number_of_statements(db: Session, settings: Settings) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(
        db, MARKETPLACE, spec(buyer, seller, statement=""), settings=settings
    )
    for i in range(MAX_SUBMISSIONS_PER_PARTY):
        service.submit(
            db, MARKETPLACE, dispute.id, buyer.external_id, SubmissionIn(statement=f"Point {i}"),
            settings=settings,
        )  # fmt: skip
    before = counts(db)
    with pytest.raises(Conflict) as refused:
        service.submit(
            db, MARKETPLACE, dispute.id, buyer.external_id, SubmissionIn(statement="One more"),
            settings=settings,
        )  # fmt: skip
    assert (refused.value.code, refused.value.field) == ("too_many_submissions", "statement")
    assert counts(db) == before
    # The other party's allowance is its own.
    _responded(db, dispute, seller, settings)


# --- priority by currency -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "priority"),
    [
        ("6000.00", "USD", 1),
        ("600.00", "EUR", 2),
        ("60.00", "GBP", 3),
        ("20.00", "USD", 4),
        ("5000", "JPY", 4),  # about USD 35: not urgent
        ("800000", "JPY", 1),
        ("3000.00", "BRL", 2),
        ("5000", "XOF", 3),  # no table for this currency: the normal priority
        ("9000.000", "KWD", 3),
    ],
)
def test_the_case_priority_reads_the_currency(
    db: Session, settings: Settings, amount: str, currency: str, priority: int
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(
        db, MARKETPLACE, spec(buyer, seller, amount=amount, currency=currency), settings=settings
    )
    case = db.get(Case, dispute.case_id)
    assert case is not None and case.priority == priority


# --- the sweep survives one bad dispute --------------------------------------------------------


def test_one_failing_dispute_does_not_undo_the_rest_of_the_sweep(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    buyer, seller = _pair(db)
    disputes = [
        service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
        for _ in range(3)
    ]
    broken = disputes[1]
    # Bad data on one case: it no longer names the parties, so its messages are refused.
    db.execute(update(Case).where(Case.id == broken.case_id).values(attributes={}))
    db.commit()
    frozen.advance(timedelta(hours=settings.dispute_response_hours + 1))
    assert service.sweep(db, settings) == 2
    db.commit()
    for dispute in disputes:
        db.refresh(dispute)
    assert [d.respondent_defaulted for d in disputes] == [True, False, True]
    assert broken.status is DisputeStatus.awaiting_response
    assert "defaulted" not in _kinds(db, broken.id)
    assert service.sweep(db, settings) == 0  # tried again, still refused, nothing else moves


# --- the case closes with its dispute ----------------------------------------------------------


def test_the_dispute_case_is_not_closed_by_hand_while_the_dispute_is_live(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    _responded(db, dispute, seller, settings)
    agent = mediator(db, dispute)
    with pytest.raises(Conflict) as refused:
        cases.close(db, agent, dispute.case_id, resolution=Resolution.other, note="Done.")
    assert refused.value.code == "dispute_live"
    case = db.get(Case, dispute.case_id)
    assert case is not None and case.status is not CaseStatus.closed
    # The outcome closes it.
    service.rule(
        db, agent, dispute.id, RulingIn(outcome=Outcome.release, reason="Delivered."),
        settings=settings,
    )  # fmt: skip
    db.refresh(case)
    assert case.status is CaseStatus.closed


# --- messages on the dispute's case go to its two parties only -----------------------------------


def test_a_dispute_case_writes_to_its_parties_only(db: Session, settings: Settings) -> None:
    buyer, seller = _pair(db)
    stranger = make_account(db, "client")
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    before = counts(db)
    with pytest.raises(InvalidInput) as refused:
        communications.send(
            db, SYSTEM, account_id=stranger.id, case_id=dispute.case_id, decision_id=None,
            locale="en", subject="Hello", body="Body", channels=["in_app"],
            any_case_account=True,
        )  # fmt: skip
    assert refused.value.code == "case_account_mismatch"
    assert counts(db) == before
    sent = communications.send(
        db, SYSTEM, account_id=buyer.id, case_id=dispute.case_id, decision_id=None,
        locale="en", subject="Hello", body="Body", channels=["in_app"], any_case_account=True,
    )  # fmt: skip
    assert [m.account_id for m in sent] == [buyer.id]


# --- dispute.updated tells the marketplace where things stand ------------------------------------


def test_dispute_updated_carries_the_open_proposal_and_the_outcome(
    db: Session, settings: Settings, webhook_receiver: WebhookReceiver
) -> None:
    integrations.create_integration(db, SYSTEM, name="marketplace", url=webhook_receiver.url)
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    _responded(db, dispute, seller, settings)
    agent = mediator(db, dispute)
    proposal = service.propose(
        db, agent, dispute.id,
        ProposalIn(outcome=Outcome.partial_refund, amount="40.50", note="Split."),  # type: ignore[arg-type]
        settings=settings,
    )  # fmt: skip
    for party in (buyer, seller):
        service.answer(
            db, MARKETPLACE, dispute.id, proposal.id, party.external_id, True, None,
            settings=settings,
        )  # fmt: skip
    payloads = [
        json.loads(d.body)["data"]
        for d in db.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.event_type == "dispute.updated")
            .order_by(WebhookDelivery.id)
        )
    ]
    proposed = next(p for p in payloads if p["change"] == "proposed")
    assert proposed["open_proposal"]["id"] == proposal.id
    assert proposed["open_proposal"]["refund"]["amount"] == "40.50"
    assert proposed["open_proposal"]["release"]["amount_minor"] == 8000
    assert proposed["open_proposal"]["due_at"]
    agreed = payloads[-1]
    assert agreed["change"] == "agreed" and agreed["open_proposal"] is None
    assert agreed["resolved_at"] and agreed["refund"]["amount_minor"] == 4050
    assert agreed["release"]["amount"] == "80.00"


def test_a_decision_waiting_on_the_case_blocks_proposals_and_rulings(
    db: Session, settings: Settings
) -> None:
    buyer, seller = _pair(db)
    dispute = service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)
    _responded(db, dispute, seller, settings)
    agent = mediator(db, dispute)
    make_policy(db)
    # A warning would close the case at once: refused while the dispute is live.
    with pytest.raises(Conflict) as closing:
        decide(db, agent, db.get(Case, dispute.case_id), settings)  # type: ignore[arg-type]
    assert closing.value.code == "dispute_live"
    # A ban waits for a second approver; meanwhile the mediator cannot propose or rule.
    pending = decide(
        db, agent, db.get(Case, dispute.case_id), settings,  # type: ignore[arg-type]
        actions=[{"type": "ban", "scope": "account"}],
        departure_reason="Threats in the excerpts.",
    )  # fmt: skip
    assert pending.status == DecisionStatus.pending_approval
    before = counts(db)
    with pytest.raises(Conflict) as proposing:
        service.propose(
            db, agent, dispute.id, ProposalIn(outcome=Outcome.release, note="Release."),
            settings=settings,
        )  # fmt: skip
    assert proposing.value.code == "decision_pending"
    with pytest.raises(Conflict) as ruling:
        service.rule(
            db, agent, dispute.id, RulingIn(outcome=Outcome.release, reason="Delivered."),
            settings=settings,
        )  # fmt: skip
    assert ruling.value.code == "decision_pending"
    assert counts(db) == before
