"""``compute``: every declared feature, of its declared type, for every event type; account
age and signup timing on the frozen clock; linked accounts and text through their owners'
services."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from cel_expr_python import cel
from sqlalchemy.orm import Session

from tests.conftest import FROZEN_AT
from tests.detection.features.conftest import ev
from vigil.accounts.models import Account, AccountStatus, Identifier, IdentifierKind, Side
from vigil.config import Settings
from vigil.detection.events import EVENT_SCHEMAS, TEXT_TYPES, EventIn
from vigil.detection.features import compute
from vigil.detection.features.registry import declared
from vigil.detection.features.store import MemoryStore, VelocityStore
from vigil.kit.clock import FrozenClock

_n = itertools.count(1)
PY_TYPES: dict[str, type] = {"int": int, "double": float, "bool": bool, "string": str}
CEL_TYPES = {
    "int": cel.Type.INT,
    "double": cel.Type.DOUBLE,
    "bool": cel.Type.BOOL,
    "string": cel.Type.STRING,
    "list_string": cel.Type.List(cel.Type.STRING),
}


def make_account(db: Session, **fields: Any) -> Account:
    fields.setdefault("external_id", f"acct-{next(_n)}")
    fields.setdefault("side", Side.freelancer)
    account = Account(**fields)
    db.add(account)
    db.flush()
    return account


def share(db: Session, kind: IdentifierKind, value: str, *accounts: Account) -> None:
    for account in accounts:
        db.add(Identifier(account_id=account.id, kind=kind, value=value))
    db.flush()


def event_in(event_type: str, account: Account | None, **fields: Any) -> EventIn:
    data = {"text": "Hello, I can start on Monday."} if event_type in TEXT_TYPES else {}
    return EventIn(
        event_id=f"e-{next(_n)}",
        type=event_type,
        account_id=account.external_id if account is not None else "unknown-account",
        occurred_at=fields.pop("occurred_at", FROZEN_AT),
        ip="203.0.113.7",
        device_id="device-1",
        payment_fingerprint="card-1",
        counterparty_id="other-1",
        data=fields.pop("data", data),
        **fields,
    )


def assert_typed(values: dict[str, Any]) -> None:
    types = declared()
    assert set(values) == set(types)
    for name, cel_type in types.items():
        value = values[name]
        if cel_type == "list_string":
            assert type(value) is list and all(type(v) is str for v in value), name
        else:
            assert type(value) is PY_TYPES[cel_type], (name, value)


@pytest.mark.parametrize("event_type", sorted(EVENT_SCHEMAS))
def test_every_feature_is_present_and_typed_for_every_event_type(
    db: Session, settings: Settings, frozen: FrozenClock, event_type: str
) -> None:
    account = make_account(db, registered_at=FROZEN_AT - timedelta(days=2))
    store = MemoryStore()
    for subject in (account, None):
        assert_typed(compute(db, settings, store, event_in(event_type, subject), subject))


def test_features_type_check_and_evaluate_in_cel(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    """The values are what CEL expects for the declared types (one variable per feature)."""
    account = make_account(db)
    values = compute(db, settings, MemoryStore(), event_in("message_sent", account), account)
    env = cel.NewEnv(variables={n: CEL_TYPES[t] for n, t in declared().items()})
    probe = {
        "int": "{n} >= 0",
        "double": "{n} >= 0.0",
        "bool": "{n} || !{n}",
        "string": "size({n}) >= 0",
        "list_string": "size({n}) >= 0",
    }
    expression = " && ".join(probe[t].format(n=n) for n, t in declared().items())
    assert env.compile(expression).eval(data=values).value() is True


def test_account_age_and_signup_timing(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    signed_up = FROZEN_AT - timedelta(days=3, hours=5, minutes=1)
    account = make_account(db, registered_at=signed_up)
    store = MemoryStore()
    login = compute(db, settings, store, event_in("login", account), account)
    assert (login["account_age_days"], login["account_age_hours"]) == (3, 77)
    assert login["account_known"] is True
    assert login["payout_minutes_after_signup"] == 0  # not a payout

    fresh = make_account(db, registered_at=FROZEN_AT - timedelta(minutes=45, seconds=30))
    payout = compute(db, settings, store, event_in("payout_request", fresh), fresh)
    assert payout["payout_minutes_after_signup"] == 45
    assert payout["account_age_days"] == 0


def test_age_falls_back_to_when_vigil_first_saw_the_account(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    account = make_account(db, registered_at=None)  # created_at: the frozen now
    frozen.advance(timedelta(days=2, hours=1))
    event = event_in("login", account, occurred_at=None)  # happened "now"
    values = compute(db, settings, MemoryStore(), event, account)
    assert (values["account_age_days"], values["account_age_hours"]) == (2, 49)


def test_an_unknown_account_gets_defaults_not_errors(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    values = compute(db, settings, MemoryStore(), event_in("payout_request", None), None)
    assert values["account_known"] is False
    assert values["account_age_days"] == values["linked_accounts"] == 0
    assert values["linked_by"] == []
    assert values["account_events_1h"] == 1  # velocity still counts the external id


def test_velocity_is_keyed_by_event_time_not_the_clock(
    db: Session, settings: Settings, frozen: FrozenClock, store: VelocityStore
) -> None:
    """End to end on both stores."""
    account = make_account(db)
    for minutes in (0, 30, 90):
        event = event_in(
            "message_sent", account, occurred_at=FROZEN_AT - timedelta(minutes=minutes)
        )
        compute(db, settings, store, event, account)
    values = compute(db, settings, store, event_in("login", account), account)
    assert (values["messages_1h"], values["messages_24h"]) == (2, 3)
    assert values["is_first_message"] is False


def test_linked_accounts(db: Session, settings: Settings, frozen: FrozenClock) -> None:
    me = make_account(db)
    twin = make_account(db, status=AccountStatus.suspended)
    other = make_account(db)
    share(db, IdentifierKind.device, "device-shared", me, twin, other)
    values = compute(db, settings, MemoryStore(), event_in("login", me), me)
    assert values["linked_accounts"] == 2
    assert values["linked_banned_accounts"] == 1
    assert values["linked_by"] == ["device"]


def test_events_without_text_have_zero_text_features(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    account = make_account(db)
    for event in (event_in("payment", account), event_in("message_sent", account, data={})):
        values = compute(db, settings, MemoryStore(), event, account)
        assert values["has_text"] is False
        assert values["text_length"] == values["contact_details_count"] == 0
        assert values["scam_score"] == values["off_platform_score"] == 0.0
        assert values["contact_kinds"] == values["payment_apps"] == []


def test_text_features(db: Session, settings: Settings, frozen: FrozenClock) -> None:
    account = make_account(db)
    text = "Let's take this off the site: email me at bob.smith@gmail.com or pay via venmo"
    event = event_in("message_sent", account, data={"text": text})
    values = compute(db, settings, MemoryStore(), event, account)
    assert values["has_text"] is True
    assert values["text_length"] == len(text)
    assert values["has_email"] is True
    assert values["contact_details_count"] >= 1
    assert "email" in values["contact_kinds"]
    assert values["has_payment_app"] is True
    assert "venmo" in values["payment_apps"]
    assert 0.0 < values["off_platform_score"] <= 1.0
    assert 0.0 <= values["scam_score"] <= 1.0
    assert 0.0 <= values["abuse_score"] <= 1.0


def test_an_ordinary_message_is_quiet(db: Session, settings: Settings, frozen: FrozenClock) -> None:
    account = make_account(db)
    event = event_in("message_sent", account, data={"text": "Thanks, the logo looks great!"})
    values = compute(db, settings, MemoryStore(), event, account)
    assert values["contact_details_count"] == 0
    assert values["has_payment_app"] is False
    assert values["contact_kinds"] == []


def test_compute_accepts_any_event_shaped_object(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    values = compute(db, settings, MemoryStore(), ev("login", occurred_at=FROZEN_AT), None)
    assert_typed(values)


def test_obfuscated_contact_and_messaging_app(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    account = make_account(db)
    text = "whatsapp me at 415 555 0134, or jane dot doe at gmail dot com"
    values = compute(
        db, settings, MemoryStore(), event_in("message_sent", account, data={"text": text}), account
    )
    assert values["contact_obfuscated"] is True
    assert values["has_messaging_app"] is True
    assert values["messaging_apps"] == ["whatsapp"]
    assert (values["has_phone"], values["has_email"]) == (True, True)
    assert set(values["contact_kinds"]) >= {"email", "phone", "messaging_app"}
