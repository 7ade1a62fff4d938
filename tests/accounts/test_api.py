"""The accounts HTTP API as the marketplace's servers and the T&S staff use it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.accounts.conftest import audit_actions as _audit_rows
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.auth.permissions import Role
from vigil.kit import clock

MARIA: dict[str, Any] = {
    "side": "freelancer",
    "display_name": "Maria S.",
    "legal_name": "Maria Souza",
    "date_of_birth": "1990-04-12",
    "country": "BR",
    "locale": "pt-BR",
    "email": "Maria.Souza@Example.com",
    "phone": "+55 11 98765-4321",
    "registered_at": "2024-05-01T12:00:00Z",
    "identifiers": [
        {"kind": "device", "value": "dev-1"},
        {"kind": "ip", "value": "203.0.113.7"},
    ],
}


@pytest.fixture
def key(db: Session) -> dict[str, str]:
    """Headers of the marketplace's API key (read and write accounts)."""
    _, secret = make_api_key(db, scopes=["accounts:read", "accounts:write"])
    db.commit()
    return auth_header(secret)


def audit_actions(db: Session, prefix: str = "accounts.") -> list[SimpleNamespace]:
    """Audit records as plain values; the read transaction is ended at once, because on
    SQLite it holds the write lock the app needs next."""
    rows = [
        SimpleNamespace(action=r.action, reason=r.reason, data=r.data, actor_id=r.actor_id)
        for r in _audit_rows(db, prefix)
    ]
    db.rollback()
    return rows


def _put(client: TestClient, headers: dict[str, str], external_id: str, **body: Any) -> Any:
    return client.put(f"/v1/accounts/{external_id}", json=body, headers=headers)


def _as_staff(client: TestClient, db: Session, role: Role = Role.specialist) -> None:
    login_as(client, db, make_staff(db, role=role))


# --- upsert ---------------------------------------------------------------------------------


def test_put_creates_then_updates_with_versions(
    client: TestClient, key: dict[str, str], frozen: clock.FrozenClock
) -> None:
    created = _put(client, key, "mkt-42", **MARIA)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["version"] == 1
    assert body["email"] == "maria.souza@example.com"  # API keys see what they sent
    assert body["phone"] == "+5511987654321"
    assert body["age"] == 36
    assert body["masked"] is False
    assert created.headers["etag"] == '"1"'
    assert created.headers["location"] == "/v1/accounts/mkt-42"

    updated = _put(client, key, "mkt-42", display_name="Maria")
    assert updated.status_code == 200
    assert (updated.json()["version"], updated.json()["legal_name"]) == (2, "Maria Souza")

    same = _put(client, key, "mkt-42", **MARIA | {"display_name": "Maria"})
    assert same.status_code == 200
    assert same.json()["version"] == 2
    assert same.headers["etag"] == '"2"'


def test_if_match_conflict_is_409_and_writes_nothing(
    client: TestClient, key: dict[str, str], db: Session
) -> None:
    _put(client, key, "mkt-1", side="client", display_name="Ann")
    _put(client, key, "mkt-1", display_name="Anna")  # version 2

    stale = client.put(
        "/v1/accounts/mkt-1",
        json={"display_name": "Stale", "identifiers": [{"kind": "device", "value": "d9"}]},
        headers=key | {"If-Match": '"1"'},
    )
    assert stale.status_code == 409
    assert stale.json()["code"] == "version_conflict"
    assert stale.json()["details"] == [{"current_version": 2}]

    now = client.get("/v1/accounts/mkt-1", headers=key).json()
    assert (now["display_name"], now["version"]) == ("Anna", 2)
    assert client.get("/v1/accounts/mkt-1/identifiers", headers=key).json()["items"] == []
    assert [r.action for r in audit_actions(db)] == [
        "accounts.account.create",
        "accounts.account.update",
    ]

    body_version = _put(client, key, "mkt-1", display_name="Stale", expected_version=1)
    assert body_version.status_code == 409
    fresh = client.put(
        "/v1/accounts/mkt-1", json={"display_name": "Ana"}, headers=key | {"If-Match": 'W/"2"'}
    )
    assert (fresh.status_code, fresh.json()["version"]) == (200, 3)
    garbage = client.put("/v1/accounts/mkt-1", json={}, headers=key | {"If-Match": "latest"})
    assert (garbage.status_code, garbage.json()["field"]) == (422, "If-Match")


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"side": "client", "nickname": "x"}, "nickname", "unknown_field"),
        ({"side": 5}, "side", "invalid_field"),
        ({"side": "seller"}, "side", "invalid_field"),
        ({"side": "client", "display_name": 123}, "display_name", "invalid_field"),
        ({"side": "client", "country": "XX"}, "country", "invalid_field"),
        ({"side": "client", "country": "Brazil"}, "country", "invalid_field"),
        ({"side": "client", "email": "maria@example"}, "email", "invalid_field"),
        ({"side": "client", "phone": "11 98765-4321"}, "phone", "invalid_field"),
        ({"side": "client", "locale": "portuguese"}, "locale", "invalid_field"),
        ({"side": "client", "date_of_birth": "2026-11-22"}, "date_of_birth", "invalid_field"),
        ({"side": "client", "date_of_birth": "1899-12-31"}, "date_of_birth", "invalid_field"),
        ({"side": "client", "date_of_birth": "12/04/1990"}, "date_of_birth", "invalid_field"),
        ({"side": "client", "registered_at": "2024-05-01T12:00:00"}, "registered_at",
         "invalid_field"),
        ({"side": None}, "side", "invalid_field"),
        ({"display_name": "no side on create"}, "side", "missing_field"),
        ({"side": "client", "status": "suspended"}, "status", "invalid_field"),
        ({"side": "client", "identifiers": [{"kind": "ip", "value": "1.2.3"}]},
         "identifiers.0.value", "invalid_identifier"),
        ({"side": "client", "identifiers": [{"kind": "fax", "value": "1"}]},
         "identifiers.0.kind", "invalid_field"),
        ({"side": "client", "expected_version": -1}, "expected_version", "invalid_field"),
    ],
)  # fmt: skip
def test_bad_input_is_422_with_the_field_and_writes_nothing(
    client: TestClient,
    key: dict[str, str],
    frozen: clock.FrozenClock,
    body: dict[str, Any],
    field: str,
    code: str,
) -> None:
    response = _put(client, key, "mkt-7", **body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert (error["field"], error["code"]) == (field, code)
    assert error["request_id"]
    assert client.get("/v1/accounts/mkt-7", headers=key).status_code == 404


def test_malformed_json_and_wrong_body_type_are_422(
    client: TestClient, key: dict[str, str]
) -> None:
    headers = key | {"Content-Type": "application/json"}
    broken = client.put("/v1/accounts/mkt-7", content=b'{"side": "client",', headers=headers)
    assert broken.status_code == 422
    assert broken.json()["code"] == "invalid_json"
    listed = client.put("/v1/accounts/mkt-7", json=["client"], headers=key)
    assert listed.status_code == 422
    too_long = client.put("/v1/accounts/" + "x" * 201, json={"side": "client"}, headers=key)
    assert (too_long.status_code, too_long.json()["field"]) == (422, "external_id")
    assert client.get("/v1/accounts/mkt-7", headers=key).status_code == 404


def test_permissions(client: TestClient, db: Session) -> None:
    _, read_only = make_api_key(db, scopes=["accounts:read"])
    db.commit()
    response = _put(client, auth_header(read_only), "mkt-1", side="client")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert client.get("/v1/accounts/mkt-1").status_code == 401


# --- reading, masking, reveal ---------------------------------------------------------------


def test_unknown_external_id_is_404_everywhere(
    client: TestClient, key: dict[str, str], db: Session
) -> None:
    for path in ["", "/identifiers", "/linked", "/restrictions"]:
        response = client.get(f"/v1/accounts/nobody{path}", headers=key)
        assert (response.status_code, response.json()["code"]) == (404, "account_not_found")
    post = client.post(
        "/v1/accounts/nobody/identifiers",
        json={"identifiers": [{"kind": "device", "value": "d"}]},
        headers=key,
    )
    assert post.status_code == 404
    _as_staff(client, db)
    restrict = client.post(
        "/v1/accounts/nobody/restrictions", json={"kind": "listing", "reason": "spam"}
    )
    assert restrict.status_code == 404
    lift = client.post("/v1/restrictions/999/lift", json={"reason": "x"})
    assert (lift.status_code, lift.json()["code"]) == (404, "restriction_not_found")


def test_staff_see_masked_data_and_reveal_with_a_reason(
    client: TestClient, key: dict[str, str], db: Session, frozen: clock.FrozenClock
) -> None:
    _put(client, key, "mkt-42", **MARIA)
    _as_staff(client, db, Role.agent)

    masked = client.get("/v1/accounts/mkt-42").json()
    assert masked["masked"] is True
    assert masked["email"] == "m***a@example.com"
    assert masked["phone"] == "+55*********21"
    assert masked["legal_name"] == "M*** S***"
    assert masked["date_of_birth"] is None
    assert masked["age"] == 36
    assert masked["display_name"] == "Maria S."  # public on the marketplace anyway
    assert len(audit_actions(db, "accounts.account.view")) == 1

    no_reason = client.get("/v1/accounts/mkt-42", params={"reveal": "true"})
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")

    revealed = client.get(
        "/v1/accounts/mkt-42", params={"reveal": "true", "reason": "case 81: identity check"}
    ).json()
    assert revealed["masked"] is False
    assert revealed["email"] == "maria.souza@example.com"
    assert revealed["date_of_birth"] == "1990-04-12"
    (record,) = audit_actions(db, "accounts.account.reveal")
    assert record.reason == "case 81: identity check"

    identifiers = client.get("/v1/accounts/mkt-42/identifiers").json()["items"]
    values = {i["kind"]: i["value"] for i in identifiers}
    assert values["ip"] == "203.0.113.*"
    assert values["email"] == "m***a@example.com"
    assert [r.data["view"] for r in audit_actions(db, "accounts.account.view")] == [
        "profile",
        "identifiers",
    ]


def test_roles_without_reveal_permission_get_403(
    client: TestClient, key: dict[str, str], db: Session
) -> None:
    _put(client, key, "mkt-42", **MARIA)
    _as_staff(client, db, Role.qa)
    response = client.get("/v1/accounts/mkt-42", params={"reveal": "true", "reason": "why not"})
    assert response.status_code == 403
    assert audit_actions(db, "accounts.account.reveal") == []


def test_api_key_reads_are_unmasked_and_not_audited(
    client: TestClient, key: dict[str, str], db: Session
) -> None:
    _put(client, key, "mkt-42", **MARIA)
    body = client.get("/v1/accounts/mkt-42", headers=key).json()
    assert (body["email"], body["masked"]) == ("maria.souza@example.com", False)
    assert audit_actions(db, "accounts.account.view") == []


def test_list_filters_and_keyset(client: TestClient, key: dict[str, str], db: Session) -> None:
    for n, country in enumerate(["BR", "BR", "US", "BR"]):
        _put(client, key, f"mkt-{n}", side="client", country=country, email=f"u{n}@example.com")
    first = client.get("/v1/accounts", params={"country": "BR", "limit": 2}, headers=key).json()
    assert [a["external_id"] for a in first["items"]] == ["mkt-0", "mkt-1"]
    rest = client.get(
        "/v1/accounts",
        params={"country": "BR", "limit": 2, "cursor": first["next_cursor"]},
        headers=key,
    ).json()
    assert [a["external_id"] for a in rest["items"]] == ["mkt-3"]
    assert rest["next_cursor"] is None
    by_email = client.get("/v1/accounts", params={"email": "U2@example.com"}, headers=key).json()
    assert [a["external_id"] for a in by_email["items"]] == ["mkt-2"]
    bad = client.get("/v1/accounts", params={"cursor": "not-a-cursor"}, headers=key)
    assert (bad.status_code, bad.json()["field"]) == (422, "cursor")

    _as_staff(client, db, Role.agent)
    staff_view = client.get("/v1/accounts", params={"status": "active"}).json()
    assert staff_view["items"][0]["email"] == "u***0@example.com"
    assert len(audit_actions(db, "accounts.account.list")) == 1


# --- identifiers and linked accounts ---------------------------------------------------------


def test_identifier_batch_is_all_or_nothing(client: TestClient, key: dict[str, str]) -> None:
    _put(client, key, "mkt-1", side="client")
    bad = client.post(
        "/v1/accounts/mkt-1/identifiers",
        json={"identifiers": [{"kind": "device", "value": "ok"},
                              {"kind": "phone", "value": "call me"}]},
        headers=key,
    )  # fmt: skip
    assert (bad.status_code, bad.json()["field"]) == (422, "identifiers.1.value")
    assert client.get("/v1/accounts/mkt-1/identifiers", headers=key).json()["items"] == []

    too_many = [{"kind": "device", "value": f"d{i}"} for i in range(101)]
    response = client.post(
        "/v1/accounts/mkt-1/identifiers", json={"identifiers": too_many}, headers=key
    )
    assert (response.status_code, response.json()["field"]) == (422, "identifiers")
    empty = client.post("/v1/accounts/mkt-1/identifiers", json={"identifiers": []}, headers=key)
    assert empty.status_code == 422

    good = client.post(
        "/v1/accounts/mkt-1/identifiers",
        json={"identifiers": [{"kind": "device", "value": " dev-1 "},
                              {"kind": "ip", "value": "2001:DB8::1"}]},
        headers=key,
    )  # fmt: skip
    assert good.status_code == 200
    assert (good.json()["created"], good.json()["updated"]) == (2, 0)
    assert {i["value"] for i in good.json()["items"]} == {"dev-1", "2001:db8::1"}


def test_linked_accounts_over_http(client: TestClient, key: dict[str, str], db: Session) -> None:
    ring = [{"kind": "device", "value": "dev-ring-0001"},
            {"kind": "payment", "value": "fp_card_0001"}]  # fmt: skip
    _put(client, key, "ring-a", side="client", identifiers=ring)
    _put(client, key, "ring-b", side="freelancer", identifiers=ring)
    _put(client, key, "alone", side="client", identifiers=[{"kind": "device", "value": "mine"}])

    linked = client.get("/v1/accounts/ring-a/linked", headers=key).json()
    (item,) = linked["items"]
    assert item["account"]["external_id"] == "ring-b"
    assert item["shared_count"] == 2
    assert item["shared"] == ring
    assert client.get("/v1/accounts/alone/linked", headers=key).json()["items"] == []
    only_cards = client.get(
        "/v1/accounts/ring-a/linked", params={"kind": "payment"}, headers=key
    ).json()
    assert only_cards["shared_values"] == [
        {"kind": "payment", "value": "fp_card_0001", "accounts": 1}
    ]

    _as_staff(client, db, Role.agent)
    masked = client.get("/v1/accounts/ring-a/linked").json()
    assert masked["items"][0]["shared"][0]["value"] == "dev-***0001"


# --- restrictions ----------------------------------------------------------------------------


def test_restrictions_place_read_and_lift(
    client: TestClient, key: dict[str, str], db: Session, frozen: clock.FrozenClock
) -> None:
    _put(client, key, "mkt-1", side="pro")
    denied = client.post(
        "/v1/accounts/mkt-1/restrictions", json={"kind": "listing", "reason": "x"}, headers=key
    )
    assert denied.status_code == 403  # API keys cannot restrict

    _as_staff(client, db, Role.specialist)
    placed = client.post(
        "/v1/accounts/mkt-1/restrictions",
        json={"kind": "suspension", "reason": "payment fraud ring", "policy_code": "FRAUD-2"},
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["in_force"] is True
    short = client.post(
        "/v1/accounts/mkt-1/restrictions",
        json={"kind": "messaging", "reason": "spam", "ends_at": "2026-11-22T09:00:00Z"},
    )
    assert short.status_code == 201
    past = client.post(
        "/v1/accounts/mkt-1/restrictions",
        json={"kind": "messaging", "reason": "spam", "ends_at": "2026-11-20T09:00:00Z"},
    )
    assert (past.status_code, past.json()["field"]) == (422, "ends_at")
    blank = client.post("/v1/accounts/mkt-1/restrictions", json={"kind": "listing", "reason": " "})
    assert (blank.status_code, blank.json()["field"]) == (422, "reason")

    # The marketplace pulls what is in force.
    in_force = client.get("/v1/accounts/mkt-1/restrictions", headers=key).json()["items"]
    assert [r["kind"] for r in in_force] == ["messaging", "suspension"]
    account = client.get("/v1/accounts/mkt-1", headers=key).json()
    assert account["status"] == "suspended"
    assert account["restrictions_in_force"] == ["messaging", "suspension"]

    lifted = client.post(
        f"/v1/restrictions/{placed.json()['id']}/lift", json={"reason": "appeal granted"}
    )
    assert lifted.status_code == 200
    assert (lifted.json()["in_force"], lifted.json()["lift_reason"]) == (False, "appeal granted")
    again = client.post(f"/v1/restrictions/{placed.json()['id']}/lift", json={"reason": "x"})
    assert (again.status_code, again.json()["code"]) == (409, "restriction_lifted")
    assert client.get("/v1/accounts/mkt-1", headers=key).json()["status"] == "restricted"

    client.post(f"/v1/restrictions/{short.json()['id']}/lift", json={"reason": "done"})
    assert client.get("/v1/accounts/mkt-1", headers=key).json()["status"] == "active"
    assert client.get("/v1/accounts/mkt-1/restrictions", headers=key).json()["items"] == []
    history = client.get(
        "/v1/accounts/mkt-1/restrictions", params={"all": "true"}, headers=key
    ).json()["items"]
    assert len(history) == 2
    assert all(r["lifted_at"] for r in history)


def test_agents_cannot_restrict(client: TestClient, key: dict[str, str], db: Session) -> None:
    _put(client, key, "mkt-1", side="pro")
    _as_staff(client, db, Role.agent)
    response = client.post(
        "/v1/accounts/mkt-1/restrictions", json={"kind": "listing", "reason": "spam"}
    )
    assert response.status_code == 403
