"""The ingestion pipeline through the service: storage, idempotency, accounts and identifiers,
rules (live, shadow, failing), reviews with dedup and snooze. Blocks: ``test_ingest_block.py``;
HTTP: ``test_ingest_api.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.detection.conftest import (
    SYSTEM,
    counts,
    event,
    ingest,
    make_account,
    make_rule,
)
from vigil.accounts.models import Account, Identifier
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseEvent, CaseStatus, Queue, Resolution
from vigil.config import Settings
from vigil.detection import service
from vigil.detection.events import EventIn
from vigil.detection.models import Event
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import Conflict, InvalidInput
from vigil.policies.models import PolicyVersion

CONTACT = 'event.text.contains("@")'


def _stored(db: Session, event_id: str) -> Event:
    row = db.scalar(select(Event).where(Event.event_id == event_id))
    assert row is not None
    return row


def _contact_rule(db: Session, **kw: object) -> None:
    kw.setdefault("score", 60)
    kw.setdefault("outcome", "review")
    kw.setdefault("policy_code", "fee_circumvention")
    make_rule(db, "contact_in_message", CONTACT, **kw)  # type: ignore[arg-type]


# --- storage ------------------------------------------------------------------------------------


def test_an_event_is_stored_with_its_features_and_identifiers(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    account = make_account(db, "acct-1")
    result = ingest(
        db, settings, account_id="acct-1", ip="203.0.113.7", device_id="dev-1",
        payment_fingerprint="card-1", data={"text": "hello"},
    )  # fmt: skip
    assert (result.outcome, result.score, result.hits, result.case_id) == ("allow", 0.0, [], None)
    assert result.duplicate is False and result.id is not None
    row = _stored(db, result.event_id)
    assert row.account_id == account.id and row.type == "message_sent"
    assert row.occurred_at == frozen.set(row.occurred_at)  # defaulted to the frozen now
    assert row.payload["data"]["attachments"] == 0  # defaults are stored
    assert row.features and all(v is not None for v in row.features.values())
    kinds = {
        (i.kind.value, i.value)
        for i in db.scalars(select(Identifier).where(Identifier.account_id == account.id))
    }
    assert {("ip", "203.0.113.7"), ("device", "dev-1"), ("payment", "card-1")} <= kinds


def _seen(db: Session, account: Account, value: str) -> int | None:
    found = db.scalar(
        select(Identifier.seen_count).where(
            Identifier.account_id == account.id, Identifier.value == value
        )
    )
    db.commit()
    return found


def test_repeated_identifiers_are_written_at_most_hourly_and_only_once_committed(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    account = make_account(db, "acct-1")
    db.commit()
    ingest(db, settings, account_id="acct-1", type="login", ip="198.51.100.1")
    db.commit()
    ingest(db, settings, account_id="acct-1", type="login", ip="198.51.100.1")
    db.commit()
    assert _seen(db, account, "198.51.100.1") == 1  # the repeat skipped the write
    frozen.advance(timedelta(hours=2))
    ingest(db, settings, account_id="acct-1", type="login", ip="198.51.100.1")
    db.commit()
    assert _seen(db, account, "198.51.100.1") == 2

    ingest(db, settings, account_id="acct-1", type="login", ip="198.51.100.2")
    db.rollback()  # the event and its identifier are gone: the next sighting writes it again
    ingest(db, settings, account_id="acct-1", type="login", ip="198.51.100.2")
    db.commit()
    assert _seen(db, account, "198.51.100.2") == 1


def test_a_repeat_returns_the_first_decision_and_reapplies_nothing(
    db: Session, settings: Settings, fees: PolicyVersion
) -> None:
    make_account(db, "acct-1")
    _contact_rule(db)
    body = event(account_id="acct-1", event_id="evt-dup", data={"text": "mail me: a@b.example"})
    first = service.ingest(db, settings, EventIn.model_validate(body), actor=SYSTEM)
    assert first.outcome == "review" and first.case_id is not None
    before = counts(db)
    again = service.ingest(db, settings, EventIn.model_validate(body), actor=SYSTEM)
    assert again.duplicate is True
    assert (again.outcome, again.score, again.case_id, again.hits) == (
        first.outcome, first.score, first.case_id, first.hits,
    )  # fmt: skip
    assert counts(db) == before


def test_the_same_id_with_other_content_is_refused(db: Session, settings: Settings) -> None:
    make_account(db, "acct-1")
    ingest(db, settings, account_id="acct-1", event_id="evt-1", data={"text": "one"})
    with pytest.raises(Conflict) as caught:
        ingest(db, settings, account_id="acct-1", event_id="evt-1", data={"text": "two"})
    assert (caught.value.code, caught.value.field) == ("event_id_reused", "event_id")


def test_a_default_spelled_out_is_the_same_event(db: Session, settings: Settings) -> None:
    make_account(db, "acct-1")
    ingest(db, settings, account_id="acct-1", event_id="evt-1", data={"text": "one"})
    again = ingest(
        db, settings, account_id="acct-1", event_id="evt-1", data={"text": "one", "attachments": 0}
    )
    assert again.duplicate is True


# --- accounts -----------------------------------------------------------------------------------


def test_a_signup_creates_its_account_and_links_earlier_events(
    db: Session, settings: Settings
) -> None:
    early = ingest(db, settings, type="login", account_id="new-1", ip="198.51.100.4")
    assert _stored(db, early.event_id).account_id is None
    ingest(
        db, settings, type="signup", account_id="new-1", ip="198.51.100.4",
        data={"side": "client", "email": "Nia@Example.com", "country": "pt", "locale": "pt-BR"},
    )  # fmt: skip
    account = db.scalar(select(Account).where(Account.external_id == "new-1"))
    assert account is not None
    assert (account.side, account.email, account.country, account.locale) == (
        "client", "nia@example.com", "PT", "pt-BR",
    )  # fmt: skip
    assert account.registered_at is not None
    assert _stored(db, early.event_id).account_id == account.id


def test_a_signup_of_an_unknown_account_needs_its_side(db: Session, settings: Settings) -> None:
    with pytest.raises(InvalidInput) as caught:
        ingest(db, settings, type="signup", account_id="new-2", data={"email": "x@example.com"})
    assert (caught.value.field, caught.value.code) == ("data.side", "missing_field")


def test_a_signup_of_a_known_account_changes_nothing_on_it(db: Session, settings: Settings) -> None:
    account = make_account(db, "acct-1", display_name="Kept")
    version = account.version
    ingest(db, settings, type="signup", account_id="acct-1", data={"display_name": "Other"})
    db.refresh(account)
    assert (account.display_name, account.version) == ("Kept", version)


def test_an_unknown_account_is_decided_but_nothing_is_opened(
    db: Session, settings: Settings, fees: PolicyVersion
) -> None:
    _contact_rule(db)
    result = ingest(db, settings, account_id="ghost", data={"text": "pay me at a@b.example"})
    assert result.outcome == "review" and result.case_id is None
    assert [e["code"] for e in result.errors] == ["account_unknown"]
    assert counts(db, [Case])["Case"] == 0


# --- rules --------------------------------------------------------------------------------------


def test_a_failing_rule_is_recorded_and_the_others_still_fire(
    db: Session, settings: Settings, fees: PolicyVersion
) -> None:
    make_account(db, "acct-1")
    _contact_rule(db)
    # Well typed, but a division by zero at run time.
    make_rule(
        db, "divides_by_zero", "100 / (features.messages_1h - features.messages_1h) > 1", score=5
    )
    result = ingest(db, settings, account_id="acct-1", data={"text": "a@b.example"})
    assert [h["name"] for h in result.hits] == ["contact_in_message"]
    assert [(e["code"], e["name"]) for e in result.errors] == [("rule_error", "divides_by_zero")]
    assert result.outcome == "review"
    assert _stored(db, result.event_id).errors == result.errors


def test_shadow_hits_are_recorded_but_do_not_count(
    db: Session, settings: Settings, fees: PolicyVersion
) -> None:
    make_account(db, "acct-1")
    _contact_rule(db, state="shadow", score=500, outcome="block")
    make_rule(db, "any_message", "true", score=5)
    result = ingest(db, settings, account_id="acct-1", data={"text": "a@b.example"})
    assert (result.outcome, result.score, result.case_id) == ("allow", 5.0, None)
    shadow = {h["name"]: h["shadow"] for h in result.hits}
    assert shadow == {"contact_in_message": True, "any_message": False}


def test_scores_add_up_to_review(db: Session, settings: Settings, fees: PolicyVersion) -> None:
    make_account(db, "acct-1")
    _contact_rule(db, score=30, outcome="allow")
    make_rule(db, "long_text", "size(event.text) > 5", score=25)
    result = ingest(db, settings, account_id="acct-1", data={"text": "write a@b.example"})
    assert (result.outcome, result.score) == ("review", 55.0)
    case = db.get(Case, result.case_id)
    assert case is not None and case.policy_code == "fee_circumvention"
    assert "contact_in_message" in case.summary and "long_text" in case.summary


# --- review: dedup and snooze -------------------------------------------------------------------


def test_a_review_opens_one_case_in_the_rules_queue_and_later_signals_join_it(
    db: Session, settings: Settings, fees: PolicyVersion
) -> None:
    account = make_account(db, "acct-1")
    _contact_rule(db, queue="reports")  # not where routing sends detection cases
    first = ingest(db, settings, account_id="acct-1", data={"text": "a@b.example"})
    second = ingest(db, settings, account_id="acct-1", data={"text": "c@d.example"})
    assert first.case_id is not None and second.case_id == first.case_id
    case = db.get(Case, first.case_id)
    assert case is not None
    queue = db.get(Queue, case.queue_id)
    assert queue is not None and queue.slug == "reports"
    assert (case.type, case.account_id, case.source, case.dedup_key) == (
        "detection", account.id, "detection", f"detection:{account.id}:fee_circumvention",
    )  # fmt: skip
    kinds = list(db.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id)))
    assert kinds == ["created", "deduplicated"]
    assert counts(db, [Case])["Case"] == 1


def test_a_queue_that_became_unusable_falls_back_to_routing(
    db: Session, settings: Settings, fees: PolicyVersion
) -> None:
    make_account(db, "acct-1")
    _contact_rule(db, queue="reports")
    reports = db.scalar(select(Queue).where(Queue.slug == "reports"))
    assert reports is not None
    reports.active = False
    db.flush()
    result = ingest(db, settings, account_id="acct-1", data={"text": "a@b.example"})
    case = db.get(Case, result.case_id)
    assert case is not None and case.queue_id != reports.id
    assert [(e["code"], e["field"]) for e in result.errors] == [("queue_unavailable", "queue")]


def test_a_signal_is_snoozed_after_a_case_closed_without_violation(
    db: Session, settings: Settings, fees: PolicyVersion, frozen: FrozenClock
) -> None:
    make_account(db, "acct-1")
    _contact_rule(db)
    first = ingest(db, settings, account_id="acct-1", data={"text": "a@b.example"})
    assert first.case_id is not None
    cases.close(db, SYSTEM, first.case_id, resolution=Resolution.no_violation, note="Fine.")

    frozen.advance(timedelta(days=settings.detection_snooze_days - 1))
    snoozed = ingest(db, settings, account_id="acct-1", data={"text": "c@d.example"})
    assert (snoozed.outcome, snoozed.case_id, snoozed.snoozed_by_case_id) == (
        "review", None, first.case_id,
    )  # fmt: skip
    assert _stored(db, snoozed.event_id).snoozed_by_case_id == first.case_id

    frozen.advance(timedelta(days=2))
    later = ingest(db, settings, account_id="acct-1", data={"text": "e@f.example"})
    assert later.case_id not in (None, first.case_id)
    assert later.snoozed_by_case_id is None
    fresh = db.get(Case, later.case_id)
    assert fresh is not None and fresh.status == CaseStatus.open


def test_a_case_closed_as_actioned_does_not_snooze(
    db: Session, settings: Settings, fees: PolicyVersion
) -> None:
    make_account(db, "acct-1")
    _contact_rule(db)
    first = ingest(db, settings, account_id="acct-1", data={"text": "a@b.example"})
    assert first.case_id is not None
    cases.close(db, SYSTEM, first.case_id, resolution=Resolution.actioned, note="Warned.")
    again = ingest(db, settings, account_id="acct-1", data={"text": "c@d.example"})
    assert again.case_id not in (None, first.case_id) and again.snoozed_by_case_id is None


# --- reading ------------------------------------------------------------------------------------


def test_lists_page_newest_first_and_filter(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    make_account(db, "acct-1")
    make_account(db, "acct-2")
    made = []
    for _ in range(5):
        frozen.advance(timedelta(minutes=1))
        made.append(ingest(db, settings, account_id="acct-1", type="login").event_id)
    ingest(db, settings, account_id="acct-2", type="login")
    ingest(db, settings, account_id="acct-1", type="payment")

    page, cursor = service.list_events(db, SYSTEM, account="acct-1", type="login", limit=2)
    seen = [e.event_id for e in page]
    while cursor is not None:
        page, cursor = service.list_events(
            db, SYSTEM, account="acct-1", type="login", limit=2, cursor=cursor
        )
        seen += [e.event_id for e in page]
    assert seen == list(reversed(made))

    first = _stored(db, made[0])
    window, _ = service.list_events(
        db, SYSTEM, since=first.occurred_at, until=first.occurred_at + timedelta(minutes=2)
    )
    assert [e.event_id for e in window] == made[:2][::-1]
    with pytest.raises(InvalidInput) as caught:
        service.list_events(db, SYSTEM, type="teleport")
    assert caught.value.field == "type"


def test_events_of_an_unknown_account_are_listed_by_its_id(db: Session, settings: Settings) -> None:
    result = ingest(db, settings, account_id="ghost", type="login")
    rows, _ = service.list_events(db, SYSTEM, account="ghost")
    assert [r.event_id for r in rows] == [result.event_id]
