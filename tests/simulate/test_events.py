"""The simulated event stream: deterministic, valid for the events API, and carrying the bad
actors' behaviour its ground truth claims."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.factories import make_api_key
from vigil.accounts.models import Account, AccountStatus
from vigil.cli import app
from vigil.config import Settings
from vigil.detection.events import EVENT_SCHEMAS, SYSTEM_EVENT_TYPES, EventIn
from vigil.detection.models import Event
from vigil.kit import clock
from vigil.simulate import chat
from vigil.simulate.events import HARASSER, EventStream, generate, read_events
from vigil.simulate.feed import ingest_stream, post_stream
from vigil.simulate.generator import make_plan
from vigil.simulate.plan import Label, Plan

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@cache
def plan(seed: int = 3, accounts: int = 1000, days: int = 30, now: datetime = NOW) -> Plan:
    return make_plan(seed, accounts, days, now, with_cases=False)


@cache
def stream(seed: int = 3, accounts: int = 1000, days: int = 30) -> EventStream:
    return generate(plan(seed, accounts, days))


def digest(s: EventStream) -> str:
    body = json.dumps(
        [[e.envelope, e.label.__dict__] for e in s.events], sort_keys=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()


# --- determinism and shape ----------------------------------------------------------------------


def test_same_plan_same_events_and_another_seed_others() -> None:
    first = stream(5, 300, 14)
    assert digest(generate(make_plan(5, 300, 14, NOW, with_cases=False))) == digest(first)
    assert digest(stream(6, 300, 14)) != digest(first)


def test_the_same_seed_later_gives_the_same_events_shifted_in_time() -> None:
    shift = timedelta(days=2, hours=7, minutes=13)
    first = stream(5, 300, 14)
    later = generate(plan(5, 300, 14, NOW + shift))
    assert [(e.type, e.at + shift, e.envelope["data"]) for e in first.events] == [
        (e.type, e.at, e.envelope["data"]) for e in later.events
    ]


def test_every_event_is_valid_for_the_events_api_and_every_type_occurs() -> None:
    s = stream()
    for e in s.events:
        parsed = EventIn.model_validate(e.envelope)
        assert parsed.event_id == e.label.event_id and parsed.occurred_at == e.at
    # Every type the marketplace sends (Vigil records the system types itself).
    assert {e.type for e in s.events} == set(EVENT_SCHEMAS) - SYSTEM_EVENT_TYPES
    assert len({e.envelope["event_id"] for e in s.events}) == len(s.events)


def test_events_are_in_time_order_inside_the_window_after_each_signup() -> None:
    p, s = plan(), stream()
    assert [e.at for e in s.events] == sorted(e.at for e in s.events)
    assert all(p.start <= e.at < p.now for e in s.events)
    first: dict[str, str] = {}
    for e in s.events:
        first.setdefault(e.envelope["account_id"], e.type)
    assert len(first) == len(p.accounts) and set(first.values()) == {"signup"}
    signups = Counter(e.envelope["account_id"] for e in s.events if e.type == "signup")
    assert set(signups.values()) == {1}
    # Every event happens in a session: it carries the device and address of one.
    assert all(e.envelope["device_id"] and e.envelope["ip"] for e in s.events)


def test_volumes_look_like_a_marketplace_and_benign_traffic_dominates() -> None:
    s = stream()
    types = Counter(e.type for e in s.events)
    assert 10 <= len(s.events) / len(s.accounts) <= 40
    assert types["login"] > types["message_sent"] > types["contract_started"]
    assert types["payment"] >= types["contract_started"] > types["review_posted"]
    benign = sum(1 for e in s.events if e.label.actor == Label.benign)
    evidence = sum(1 for e in s.events if e.label.policy_code)
    assert benign / len(s.events) > 0.85 and evidence / len(s.events) < 0.06
    languages = Counter(
        "pt" if " você " in f" {t} " else "es" if "¿" in t or " tienes " in t else "other"
        for e in s.events
        if (t := e.envelope["data"].get("text", "")) and e.type == "message_sent"
    )
    assert languages["pt"] > 50 and languages["es"] > 50


# --- ground truth ---------------------------------------------------------------------------------


def test_labels_line_up_with_the_plans_bad_actors() -> None:
    p, s = plan(), stream()
    by_id = {a.external_id: a for a in p.accounts}
    for e in s.events:
        account = by_id[e.envelope["account_id"]]
        assert e.label.account_id == account.external_id
        assert e.label.group_key == account.group_key
        if e.label.actor == HARASSER:
            assert account.label is Label.benign  # drawn by the events, not by the plan
        else:
            assert e.label.actor == account.label.value
    for external_id, truth in s.accounts.items():
        account = by_id[external_id]
        assert truth.actor in (account.label.value, HARASSER)
        assert bool(truth.policies) == truth.bad
    harassers = [t for t in s.accounts.values() if t.actor == HARASSER]
    assert 1 <= len(harassers) <= 0.01 * len(p.accounts)
    # Evidence is about a bad actor of the kind that breaks that policy.
    for e in s.events:
        if e.label.policy_code:
            subject = s.accounts[e.label.subject_id or ""]
            assert e.label.policy_code in subject.policies, e.label
    evidence = Counter(e.label.policy_code for e in s.events if e.label.policy_code)
    for code in (
        "fee_circumvention",
        "fraud_scams",
        "duplicate_accounts",
        "fake_reviews",
        "harassment_threats",
    ):
        assert evidence[code] > 0, code


def test_allowed_contact_is_there_as_hard_negatives_and_is_not_evidence() -> None:
    """What the policy pack allows: a pro's number for a visit paid on the platform, a
    portfolio link, a question about PayPal at the checkout."""
    p = make_plan(8, 1000, 30, NOW, "mixed", with_cases=False)
    s = generate(p)
    phones = {a.external_id: a.phone for a in p.accounts}
    benign = [
        e
        for e in s.events
        if e.label.actor == Label.benign and e.envelope["data"].get("text") and not e.label.what
    ]
    visits = [e for e in benign if phones[e.envelope["account_id"]] in e.envelope["data"]["text"]]
    assert len(visits) >= 10 and all(e.type == "message_sent" for e in visits)
    assert any(".portfolio.example" in e.envelope["data"]["text"] for e in benign)
    assert any("PayPal" in e.envelope["data"]["text"] for e in benign)
    assert all(e.label.policy_code is None for e in benign)


# --- what bad actors do -----------------------------------------------------------------------


def _digits(text: str) -> str:
    for lang in ("en", "es", "pt"):
        for digit, word in enumerate(chat._DIGIT_WORDS[lang]):
            text = re.sub(rf"\b{word}\b", str(digit), text)
    return re.sub(r"\D", "", text)


def _reaches_off_platform(text: str, phone: str, email: str) -> bool:
    squashed = re.sub(r"\s", "", text)
    local = email.split("@")[0]
    return (
        phone[-7:] in _digits(text)
        or local in squashed
        or bool(re.search(r"@\w+", text))
        or any(app in text for app in chat.CHAT_APPS)
    )


def test_solicitors_put_contact_details_in_their_first_messages() -> None:
    p, s = plan(), stream()
    by_id = {a.external_id: a for a in p.accounts}
    said: dict[str, list[str]] = defaultdict(list)  # conversation -> senders, in order
    flagged = 0
    for e in s.events:
        if e.type != "message_sent":
            continue
        conv = e.envelope["data"]["conversation_id"]
        said[conv].append(e.envelope["account_id"])
        if e.label.policy_code != "fee_circumvention":
            continue
        flagged += 1
        seller = by_id[e.envelope["account_id"]]
        assert seller.label is Label.off_platform
        assert said[conv].count(seller.external_id) <= 2  # its first or second message
        assert _reaches_off_platform(e.envelope["data"]["text"], seller.phone, seller.email)
    solicitors = [a for a in p.accounts if a.label is Label.off_platform]
    assert flagged >= len(solicitors)
    # Most ask outright for payment outside: a payment app, a discount, "the fee".
    asks = [
        e.envelope["data"]["text"]
        for e in s.events
        if e.label.policy_code == "fee_circumvention" and e.type == "message_sent"
    ]
    channels = {c for lang in chat.PAY_CHANNELS.values() for c in lang} | set(chat.CHAT_APPS)
    assert sum(any(c in t for c in channels) for t in asks) >= 0.8 * len(asks)


def test_ring_members_sign_up_on_one_device_and_pay_with_one_card() -> None:
    p, s = plan(), stream()
    rings: dict[str, list[str]] = defaultdict(list)
    for a in p.accounts:
        if a.label is Label.fraud_ring and a.group_key:
            rings[a.group_key].append(a.external_id)
    assert rings
    for members in rings.values():
        mine = [e for e in s.events if e.envelope["account_id"] in members]
        devices = {e.envelope["device_id"] for e in mine if e.type == "signup"}
        assert len(devices) == 1
        cards = Counter(e.envelope["payment_fingerprint"] for e in mine if e.type == "payment")
        payers = {e.envelope["account_id"] for e in mine if e.type == "payment"}
        if len(payers) >= 2:
            card, _ = cards.most_common(1)[0]
            sharing = {
                e.envelope["account_id"]
                for e in mine
                if e.type == "payment" and e.envelope["payment_fingerprint"] == card
            }
            assert len(sharing) >= 2


def test_scammers_blast_many_buyers_within_hours_of_signing_up() -> None:
    p, s = plan(), stream()
    scammers = {a.external_id: a for a in p.accounts if a.label is Label.scammer and a.is_seller}
    assert scammers
    blasted = 0
    for external_id, a in scammers.items():
        pitched = [
            e
            for e in s.events
            if e.envelope["account_id"] == external_id and e.label.what.startswith("the same scam")
        ]
        first_day = {
            e.envelope["counterparty_id"]
            for e in pitched
            if e.at - a.registered_at < timedelta(hours=12)
        }
        blasted += len(first_day) >= 10
    assert blasted >= len(scammers) / 2
    payouts = [e for e in s.events if e.label.what == "payout right after signup"]
    for e in payouts:
        signed = scammers[e.envelope["account_id"]].registered_at
        assert e.at - signed < timedelta(days=3)


def test_fake_reviewers_post_five_stars_for_one_seller_in_a_burst() -> None:
    s = stream()
    bursts: dict[str, list] = defaultdict(list)
    for e in s.events:
        if e.label.policy_code == "fake_reviews":
            bursts[e.label.group_key or ""].append(e)
    assert bursts
    for reviews in bursts.values():
        assert {e.envelope["counterparty_id"] for e in reviews} == {
            reviews[0].envelope["counterparty_id"]
        }
        assert {e.envelope["data"]["rating"] for e in reviews} == {5}
        assert max(e.at for e in reviews) - min(e.at for e in reviews) <= timedelta(hours=2)


# --- files, the pipeline, the API --------------------------------------------------------------


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    return CliRunner()


def test_cli_writes_events_and_labels(cli: CliRunner, tmp_path: Path) -> None:
    out, labels = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
    args = ["simulate", "events", "--accounts", "80", "--days", "7", "--seed", "4"]
    result = cli.invoke(app, [*args, "--out", str(out), "--labels", str(labels)])
    assert result.exit_code == 0, result.output
    events = list(read_events(out))
    truth = [json.loads(line) for line in labels.read_text().splitlines()]
    assert f"wrote {len(events)} events" in result.output
    assert [t["event_id"] for t in truth if t["kind"] == "event"] == [e["event_id"] for e in events]
    assert sum(t["kind"] == "account" for t in truth) == 80
    assert all(EventIn.model_validate(e) for e in events)

    nowhere = cli.invoke(app, args)
    assert nowhere.exit_code == 2 and "--out" in nowhere.output


@pytest.mark.slow
def test_ingesting_decides_every_event_once_and_places_the_plans_suspensions(
    settings: Settings, session_factory: sessionmaker[Session], db: Session
) -> None:
    p = make_plan(12, 40, 4, clock.now(), with_cases=False)
    s = generate(p)
    first = ingest_stream(session_factory, settings, s, p, batch=100)
    assert first.events == len(s.events) and first.duplicates == 0
    assert db.scalar(select(func.count()).select_from(Event)) == len(s.events)
    assert db.scalar(select(func.count()).select_from(Account)) == len(p.accounts)
    db.rollback()
    # A second feed of the same stream changes nothing: every event was decided already.
    again = ingest_stream(session_factory, settings, s, p, batch=100)
    assert again.duplicates == len(s.events) and again.restrictions == 0
    assert db.scalar(select(func.count()).select_from(Event)) == len(s.events)
    suspended = db.scalar(
        select(func.count()).select_from(Account).where(Account.status == AccountStatus.suspended)
    )
    assert suspended == first.restrictions == len(p.restrictions)


def test_posting_sends_batches_to_the_events_api(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, secret = make_api_key(db, scopes=["events:write"])
    db.commit()
    s = generate(make_plan(13, 15, 2, clock.now(), with_cases=False))
    summary = post_stream("", secret, s.events, batch=50, client=client)
    assert summary.events == len(s.events) and summary.refused == 0
    assert db.scalar(select(func.count()).select_from(Event)) == len(s.events)
