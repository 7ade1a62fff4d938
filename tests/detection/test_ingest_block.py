"""Blocks: an automated decision through the enforcement service (strike, restriction,
webhook, message, DSA statement declared as automated), four-eyes on severe actions, and the
fall back to review when the action cannot be taken. Also ``decide_automated`` on its own."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.detection.conftest import (
    FEES,
    MARKETPLACE,
    SCAM,
    SYSTEM,
    counts,
    event,
    ingest,
    make_account,
    make_policy,
    make_rule,
)
from vigil.accounts import service as accounts
from vigil.accounts.models import Account, AccountStatus, Restriction, RestrictionKind
from vigil.cases.models import Case, CaseEvent, CaseStatus, CaseType, Resolution
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.db import transaction
from vigil.detection import service
from vigil.detection.events import EventIn
from vigil.detection.models import Event
from vigil.dsa.models import Statement
from vigil.enforcement.automated import decide_automated
from vigil.enforcement.models import Decision, DecisionStatus, Strike
from vigil.integrations import service as integrations
from vigil.integrations.models import WebhookDelivery
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import InvalidInput
from vigil.policies.actions import ActionType, Scope

SCAM_TEXT = "send the deposit by gift card first"
SCAM_RULE = 'event.text.contains("gift card")'

# Listings under this policy are taken down on a first offence (a four-eyes action).
LISTINGS: dict[str, Any] = {
    **FEES,
    "code": "prohibited_listing",
    "title": "Prohibited listings",
    "description": "Listings for services the marketplace does not allow.",
    "ladder": [{"strikes": 1, "action": "remove", "scope": "listing", "duration_days": None}],
    "user_title": {"en": "Prohibited listing", "es": "Anuncio prohibido", "pt": "Anúncio proibido"},
}


@pytest.fixture(autouse=True)
def _setup(db: Session, queues: None, frozen: FrozenClock) -> None:
    """The scam policy, a block rule on message text, and a webhook endpoint (deliveries are
    recorded, not sent: no worker runs here)."""
    make_policy(db, SCAM)
    make_rule(db, "gift_card_deposit", SCAM_RULE, score=100, outcome="block", policy_code="scam")
    integrations.create_integration(
        db, SYSTEM, name="marketplace", url="http://127.0.0.1:9/hooks",
        event_types=["action.applied", "action.reversed", "message.in_app"],
    )  # fmt: skip
    db.flush()


def _of(db: Session, model: type, **where: Any) -> list[Any]:
    stmt = select(model)
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    return list(db.scalars(stmt))


def test_a_block_takes_an_automated_decision_with_everything_it_implies(
    db: Session, settings: Settings
) -> None:
    account = make_account(db, "acct-1", locale="es")
    result = ingest(db, settings, account_id="acct-1", data={"text": SCAM_TEXT})
    assert result.outcome == "block" and result.errors == []
    assert result.decision_id is not None and result.case_id is not None

    decision = db.get(Decision, result.decision_id)
    assert decision is not None
    assert (decision.status, decision.action, decision.decided_by_id) == (
        DecisionStatus.applied, ActionType.suspend, None,
    )  # fmt: skip
    assert decision.decided_by_label == "detection"
    case = db.get(Case, result.case_id)
    assert case is not None
    assert (case.type, case.status, case.resolution, case.source, case.account_id) == (
        CaseType.detection, CaseStatus.closed, Resolution.actioned, "detection", account.id,
    )  # fmt: skip

    [restriction] = _of(db, Restriction, account_id=account.id)
    assert restriction.kind == RestrictionKind.suspension and restriction.ends_at is not None
    db.refresh(account)
    assert account.status == AccountStatus.suspended
    [strike] = _of(db, Strike, account_id=account.id)
    assert strike.policy_code == "scam"

    [statement] = _of(db, Statement, decision_id=decision.id)
    assert statement.automated_decision == "AUTOMATED_DECISION_FULLY"
    assert statement.fields["automated_detection"] == "Yes"
    assert statement.fields["source_type"] == "SOURCE_VOLUNTARY"
    assert statement.fields["content_type"] == ["CONTENT_TYPE_TEXT"]
    assert "gift_card_deposit" in statement.fields["decision_facts"]

    deliveries = _of(db, WebhookDelivery)
    assert "action.applied" in {d.event_type for d in deliveries}
    messages = _of(db, Message, account_id=account.id)
    assert {m.channel for m in messages} == {"email", "in_app"}
    assert all(m.locale == "es" for m in messages)


def test_a_repeated_block_event_applies_nothing_twice(db: Session, settings: Settings) -> None:
    make_account(db, "acct-1")
    first = ingest(db, settings, account_id="acct-1", event_id="evt-b", data={"text": SCAM_TEXT})
    before = counts(db)
    again = ingest(db, settings, account_id="acct-1", event_id="evt-b", data={"text": SCAM_TEXT})
    assert again.duplicate and again.decision_id == first.decision_id
    assert counts(db) == before


def test_the_ladder_climbs_and_a_ban_waits_for_a_second_approver(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    account = make_account(db, "acct-1")
    ingest(db, settings, account_id="acct-1", data={"text": SCAM_TEXT})
    # Once the 7-day suspension is over (and the cooldown with it), a new offence climbs.
    frozen.advance(timedelta(days=8))
    second = ingest(db, settings, account_id="acct-1", data={"text": SCAM_TEXT})
    decision = db.get(Decision, second.decision_id)
    assert decision is not None
    assert (decision.status, decision.action) == (DecisionStatus.pending_approval, ActionType.ban)
    assert decision.statement_spec is not None
    assert decision.statement_spec["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    case = db.get(Case, second.case_id)
    assert case is not None and case.status == CaseStatus.open
    db.refresh(account)
    assert account.status == AccountStatus.suspended  # not removed until approved
    # While the ban waits for its approver, another offence joins it instead of deciding again.
    third = ingest(db, settings, account_id="acct-1", data={"text": SCAM_TEXT})
    assert (third.outcome, third.decision_id, third.case_id) == (
        "block", second.decision_id, second.case_id,
    )  # fmt: skip
    assert counts(db, [Decision])["Decision"] == 2


def _burst(db: Session, settings: Settings, n: int, frozen: FrozenClock) -> list[Any]:
    out = []
    for i in range(n):
        out.append(ingest(db, settings, account_id="acct-1", event_id=f"evt-burst-{i}",
                          data={"text": SCAM_TEXT}))  # fmt: skip
        frozen.advance(timedelta(milliseconds=250))
    return out


def test_a_burst_of_block_events_takes_one_decision(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    account = make_account(db, "acct-1")
    results = _burst(db, settings, 4, frozen)  # four messages within one second

    [decision] = _of(db, Decision, account_id=account.id)
    assert decision.action == ActionType.suspend  # the first step, not warn-restrict-suspend
    assert [(r.outcome, r.decision_id, r.case_id) for r in results] == [
        ("block", decision.id, decision.case_id)
    ] * 4
    assert len(_of(db, Strike, account_id=account.id)) == 1
    assert len(_of(db, Statement, decision_id=decision.id)) == 1
    assert len(_of(db, Restriction, account_id=account.id)) == 1
    messages = _of(db, Message, account_id=account.id)
    assert sorted(m.channel for m in messages) == ["email", "in_app"]  # one message, two ways
    applied = [d for d in _of(db, WebhookDelivery) if d.event_type == "action.applied"]
    assert len(applied) == 1
    # Every event points at the one decision, and the later ones are evidence on its case.
    rows = _of(db, Event, account_id=account.id)
    assert {(e.event_id, e.decision_id, e.case_id) for e in rows} == {
        (f"evt-burst-{i}", decision.id, decision.case_id) for i in range(4)
    }
    db.flush()
    joined = _of(db, CaseEvent, case_id=decision.case_id, kind="deduplicated")
    assert sorted(e.data["event_id"] for e in joined) == [f"evt-burst-{i}" for i in (1, 2, 3)]
    assert all(e.data["decision_id"] == decision.id for e in joined)


def test_after_the_cooldown_a_warning_no_longer_holds_a_block_back(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    make_policy(db, {**FEES, "code": "spam", "title": "Spam"})
    make_rule(db, "bulk_links", 'event.text.contains("click here")', score=100,
              outcome="block", policy_code="spam")  # fmt: skip
    account = make_account(db, "acct-1")
    first = ingest(db, settings, account_id="acct-1", data={"text": "click here"})
    frozen.advance(timedelta(hours=settings.detection_block_cooldown_hours - 1))
    within = ingest(db, settings, account_id="acct-1", data={"text": "click here"})
    assert within.decision_id == first.decision_id
    frozen.advance(timedelta(hours=2))
    after = ingest(db, settings, account_id="acct-1", data={"text": "click here"})
    assert after.decision_id not in (None, first.decision_id)
    actions = [d.action for d in _of(db, Decision, account_id=account.id)]
    assert actions == [ActionType.warn, ActionType.restrict]  # the ladder's next step


def test_concurrent_block_events_take_one_decision(
    db: Session, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    account = make_account(db, "acct-1")
    db.commit()
    store = service.store_for(settings)
    errors: list[BaseException] = []

    def send(i: int) -> None:
        body = event(account_id="acct-1", event_id=f"evt-race-{i}", data={"text": SCAM_TEXT})
        try:
            with transaction(session_factory) as session:
                service.ingest(session, settings, EventIn.model_validate(body),
                               actor=MARKETPLACE, store=store)  # fmt: skip
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    [decision] = _of(db, Decision, account_id=account.id)
    assert len(_of(db, Strike, account_id=account.id)) == 1
    assert {e.decision_id for e in _of(db, Event, account_id=account.id)} == {decision.id}


def test_a_block_decides_the_review_case_waiting_for_the_same_policy(
    db: Session, settings: Settings
) -> None:
    make_rule(db, "deposit_talk", 'event.text.contains("deposit")', score=60,
              outcome="review", policy_code="scam")  # fmt: skip
    make_account(db, "acct-1")
    review = ingest(db, settings, account_id="acct-1", data={"text": "a deposit first?"})
    assert review.outcome == "review" and review.case_id is not None
    block = ingest(db, settings, account_id="acct-1", data={"text": SCAM_TEXT})
    assert block.decision_id is not None and block.case_id == review.case_id
    case = db.get(Case, review.case_id)
    assert case is not None and case.status == CaseStatus.closed
    assert counts(db, [Case])["Case"] == 1


def test_a_removed_account_gets_nothing_more(db: Session, settings: Settings) -> None:
    account = make_account(db, "acct-1")
    accounts.mark_removed(db, SYSTEM, account, "banned earlier")
    result = ingest(db, settings, account_id="acct-1", data={"text": SCAM_TEXT})
    assert result.outcome == "block" and result.decision_id is None and result.case_id is None
    assert [e["code"] for e in result.errors] == ["account_removed"]


def test_a_block_that_cannot_be_taken_goes_to_review(db: Session, settings: Settings) -> None:
    make_policy(db, LISTINGS)
    make_rule(db, "banned_service", 'event.text.contains("essay")', score=100, outcome="block",
              policy_code="prohibited_listing", event_types=["listing_created"])  # fmt: skip
    make_account(db, "acct-1")
    # No listing_id: there is nothing to name in the removal.
    result = ingest(db, settings, account_id="acct-1", type="listing_created",
                    data={"text": "I write your essay"})  # fmt: skip
    assert result.outcome == "block" and result.decision_id is None
    [problem] = result.errors
    assert (problem["code"], problem["refused"], problem["field"]) == (
        "block_not_applied", "target_ref_required", "actions.0.target_ref",
    )  # fmt: skip
    case = db.get(Case, result.case_id)
    assert case is not None and case.status == CaseStatus.open and case.priority == 2
    assert counts(db, [Decision])["Decision"] == 0


def test_a_removal_names_the_listing_from_the_event(db: Session, settings: Settings) -> None:
    make_policy(db, LISTINGS)
    make_rule(db, "banned_service", 'event.text.contains("essay")', score=100, outcome="block",
              policy_code="prohibited_listing", event_types=["listing_created"])  # fmt: skip
    make_account(db, "acct-1")
    result = ingest(db, settings, account_id="acct-1", type="listing_created",
                    data={"text": "I write your essay", "listing_id": "L-77"})  # fmt: skip
    decision = db.get(Decision, result.decision_id)
    assert decision is not None and decision.status == DecisionStatus.pending_approval
    db.refresh(decision)
    assert decision.statement_spec is not None
    assert decision.statement_spec["content_type"] == ["CONTENT_TYPE_TEXT"]


# --- decide_automated alone ---------------------------------------------------------------------


def test_decide_automated_on_activity_without_text(db: Session, settings: Settings) -> None:
    account = make_account(db, "acct-1")
    decision = decide_automated(
        db, settings, account_id=account.id, policy_code="scam", action=ActionType.suspend,
        scope=Scope.account, duration_days=30, reason="payout to a card seen on banned accounts",
        evidence={"event_id": "evt-9", "event_type": "payout_request",
                  "occurred_at": "2026-11-20T10:00:00+00:00"},
        case_id=None,
    )  # fmt: skip
    assert decision.status == DecisionStatus.applied
    assert decision.departed is True  # the ladder proposes 7 days; the rule asked for 30
    assert decision.departure_reason and "payout" in decision.departure_reason
    [statement] = _of(db, Statement, decision_id=decision.id)
    assert statement.fields["content_type"] == ["CONTENT_TYPE_OTHER"]
    assert statement.fields["content_date"] == "2026-11-20"


def test_decide_automated_refuses_what_the_policy_refuses(db: Session, settings: Settings) -> None:
    account = make_account(db, "acct-1")
    with pytest.raises(InvalidInput) as caught:
        decide_automated(
            db, settings, account_id=account.id, policy_code="scam", action=ActionType.restrict,
            scope=Scope.account, duration_days=None, reason="test", evidence={}, case_id=None,
        )  # fmt: skip
    assert caught.value.field == "actions.0.scope"
    with pytest.raises(InvalidInput) as caught:
        decide_automated(
            db, settings, account_id=account.id, policy_code="nope", action=ActionType.warn,
            scope=Scope.account, duration_days=None, reason="test", evidence={}, case_id=None,
        )  # fmt: skip
    assert caught.value.field == "policy_code"


def test_no_email_address_reaches_the_public_statement(db: Session, settings: Settings) -> None:
    account: Account = make_account(db, "acct-1")
    decision = decide_automated(
        db, settings, account_id=account.id, policy_code="scam", action=ActionType.suspend,
        scope=Scope.account, duration_days=7, reason="asked to pay scam.er@mail.example",
        evidence={"rules": ["contact: write to scam.er@mail.example"]}, case_id=None,
    )  # fmt: skip
    [statement] = _of(db, Statement, decision_id=decision.id)
    assert "@" not in statement.fields["decision_facts"]
