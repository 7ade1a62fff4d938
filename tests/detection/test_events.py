"""The event envelope and the per-type data schemas: defaults, normalisation, and errors that
name the field as the marketplace wrote it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vigil.detection.events import EVENT_SCHEMAS, EVENT_TYPES, TEXT_TYPES, EventIn, schema_of

CONTRACT_TYPES = {
    "signup",
    "login",
    "profile_update",
    "message_sent",
    "listing_created",
    "job_posted",
    "proposal_sent",
    "contract_started",
    "payment",
    "payout_request",
    "review_posted",
    "report_filed",
    "document_uploaded",
    "identity_verified",
}


def _errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        EventIn.model_validate(body)
    return [(".".join(str(p) for p in e["loc"]), e["type"]) for e in caught.value.errors()]


def test_every_contract_type_is_declared() -> None:
    assert set(EVENT_TYPES) == CONTRACT_TYPES == set(EVENT_SCHEMAS)


@pytest.mark.parametrize("event_type", sorted(CONTRACT_TYPES))
def test_each_type_validates_an_empty_payload_with_defaults(event_type: str) -> None:
    event = EventIn.model_validate({"event_id": "e1", "type": event_type, "account_id": "a1"})
    declared = set(EVENT_SCHEMAS[event_type].model_fields)
    assert declared and set(event.data) == declared
    assert schema_of(event_type)["type"] == "object"
    if event_type in TEXT_TYPES:
        assert event.data["text"] == ""


def test_text_fields_are_named_text() -> None:
    for event_type in TEXT_TYPES:
        assert "text" in EVENT_SCHEMAS[event_type].model_fields


def test_identifiers_and_contact_data_are_normalised() -> None:
    event = EventIn.model_validate(
        {
            "event_id": "e1",
            "type": "signup",
            "account_id": "a1",
            "ip": "::ffff:203.0.113.9",
            "device_id": "  dev-1  ",
            "occurred_at": "2026-11-21T10:00:00+01:00",
            "data": {"side": "client", "email": "Maria@Example.COM", "country": "br"},
        }
    )
    assert event.ip == "203.0.113.9"
    assert event.device_id == "dev-1"
    assert event.occurred_at is not None and event.occurred_at.utcoffset() is not None
    assert event.occurred_at.hour == 9
    assert event.data["email"] == "maria@example.com"
    assert event.data["country"] == "BR"


def test_undeclared_data_fields_are_kept_for_rules() -> None:
    event = EventIn.model_validate(
        {"event_id": "e1", "type": "payment", "account_id": "a", "data": {"gateway": "x"}}
    )
    assert event.data["gateway"] == "x" and event.data["status"] == "succeeded"


def test_unknown_type_names_type() -> None:
    assert _errors({"event_id": "e1", "type": "teleport", "account_id": "a"}) == [
        ("type", "value_error")
    ]


def test_wrong_field_type_names_data_field() -> None:
    found = _errors(
        {
            "event_id": "e1",
            "type": "message_sent",
            "account_id": "a",
            "data": {"text": 12, "attachments": "many"},
        }
    )
    assert found == [("data.text", "string_type"), ("data.attachments", "int_parsing")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "review_posted", "data": {"rating": 9}}, "data.rating"),
        ({"type": "payment", "data": {"amount": -5}}, "data.amount"),
        ({"type": "payment", "data": {"currency": "dollars"}}, "data.currency"),
        ({"type": "signup", "data": {"email": "not-an-email"}}, "data.email"),
        ({"type": "signup", "data": {"side": "alien"}}, "data.side"),
        ({"type": "login", "ip": "999.1.1.1"}, "ip"),
        ({"type": "login", "occurred_at": "2026-11-21T10:00:00"}, "occurred_at"),
        ({"type": "login", "acount_id": "typo"}, "acount_id"),
        ({"type": "login", "event_id": ""}, "event_id"),
        ({"type": "login", "event_id": "x" * 201}, "event_id"),
    ],
)
def test_bad_values_name_their_field(body: dict[str, Any], field: str) -> None:
    full = {"event_id": "e1", "account_id": "a", **body}
    assert field in [loc for loc, _ in _errors(full)]


def test_fingerprint_ignores_nothing_the_caller_sent() -> None:
    base = {"event_id": "e1", "type": "message_sent", "account_id": "a", "data": {"text": "hi"}}
    same = EventIn.model_validate({**base, "data": {"text": "hi", "attachments": 0}})
    other = EventIn.model_validate({**base, "data": {"text": "hello"}})
    first = EventIn.model_validate(base)
    assert first.fingerprint() == same.fingerprint()  # a default spelled out is the same event
    assert first.fingerprint() != other.fingerprint()
