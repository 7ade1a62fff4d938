"""``/v1/events``: one event decided in the request, batches with per-item results, reads, and
refusals that name the field and store nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.detection.conftest import counts, event, make_account, make_rule
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.auth.permissions import Role
from vigil.detection.models import Event
from vigil.policies.models import PolicyVersion


@pytest.fixture
def key(db: Session) -> dict[str, str]:
    _, secret = make_api_key(db, scopes=["events:write", "events:read"])
    db.commit()
    return auth_header(secret)


@pytest.fixture
def setup(db: Session, fees: PolicyVersion) -> None:
    make_account(db, "acct-1")
    make_rule(
        db, "contact_in_message", 'event.text.contains("@")', score=60, outcome="review",
        policy_code="fee_circumvention", description="Contact details in a message",
    )  # fmt: skip
    make_rule(db, "trying_out", "true", score=1, state="shadow")
    db.commit()


def _post(client: TestClient, key: dict[str, str], body: Any, path: str = "/v1/events") -> Any:
    return client.post(path, json=body, headers=key)


def test_an_event_is_answered_with_its_decision(
    client: TestClient, db: Session, key: dict[str, str], setup: None
) -> None:
    body = event(account_id="acct-1", data={"text": "write to me at a@b.example"})
    response = _post(client, key, body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["event_id"], out["outcome"], out["score"], out["duplicate"]) == (
        body["event_id"], "review", 60.0, False,
    )  # fmt: skip
    assert out["case_id"] is not None and out["decision_id"] is None
    [hit] = out["hits"]  # the shadow rule is not shown to the marketplace
    assert hit["name"] == "contact_in_message" and hit["reason"].startswith("Contact details")

    again = _post(client, key, body)
    assert again.status_code == 200
    assert {**again.json(), "duplicate": False} == out and again.json()["duplicate"] is True

    reused = _post(client, key, {**body, "data": {"text": "something else"}})
    assert reused.status_code == 409
    assert (reused.json()["code"], reused.json()["field"]) == ("event_id_reused", "event_id")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "teleport"}, "type"),
        ({"data": {"text": 42}}, "data.text"),
        ({"data": {"attachments": "several"}}, "data.attachments"),
        ({"ip": "not-an-ip"}, "ip"),
        ({"occurred_at": "2026-11-21T09:00:00"}, "occurred_at"),
        ({"acount_id": "typo"}, "acount_id"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    client: TestClient, db: Session, key: dict[str, str], setup: None,
    changes: dict[str, Any], field: str,
) -> None:  # fmt: skip
    before = counts(db)
    response = _post(client, key, {**event(account_id="acct-1"), **changes})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert counts(db) == before


def test_a_signup_without_side_is_refused_with_nothing_stored(
    client: TestClient, db: Session, key: dict[str, str]
) -> None:
    before = counts(db)
    response = _post(client, key, event(type="signup", account_id="new-1"))
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["code"]) == ("data.side", "missing_field")
    assert counts(db) == before


def test_a_batch_decides_each_item_on_its_own(
    client: TestClient, db: Session, key: dict[str, str], setup: None
) -> None:
    good = event(account_id="acct-1", data={"text": "a@b.example"})
    items = [
        good,
        {**event(account_id="acct-1"), "type": "teleport"},
        event(account_id="acct-1", data={"rating": 9}, type="review_posted"),
        good,  # the same event twice in one batch: decided once
        {**good, "data": {"text": "other"}},  # its id reused for other content
        "not an object",
        event(account_id="acct-1", type="login"),
    ]
    response = _post(client, key, {"events": items}, "/v1/events/batch")
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["accepted"], out["refused"], out["duplicates"]) == (3, 4, 1)
    by_index = {i["index"]: i for i in out["items"]}
    assert by_index[0]["decision"]["outcome"] == "review"
    assert by_index[3]["decision"]["duplicate"] is True
    assert by_index[3]["decision"]["case_id"] == by_index[0]["decision"]["case_id"]
    assert [(by_index[i]["status"], by_index[i]["error"]["field"]) for i in (1, 2, 4, 5)] == [
        (422, "events.1.type"),
        (422, "events.2.data.rating"),
        (409, "events.4.event_id"),
        (422, "events.5"),
    ]
    assert by_index[6]["decision"]["outcome"] == "allow"
    assert counts(db, [Event])["Event"] == 2


def test_a_batch_over_the_limit_is_refused_whole(
    client: TestClient, db: Session, key: dict[str, str], setup: None
) -> None:
    client.app.state.settings.events_batch_max = 2  # type: ignore[attr-defined]
    items = [event(account_id="acct-1", type="login") for _ in range(3)]
    response = _post(client, key, {"events": items}, "/v1/events/batch")
    assert response.status_code == 413
    assert (response.json()["code"], response.json()["field"]) == ("batch_too_large", "events")
    assert counts(db, [Event])["Event"] == 0


def test_reads_for_the_marketplace_and_for_staff(
    client: TestClient, db: Session, key: dict[str, str], setup: None
) -> None:
    body = event(account_id="acct-1", ip="203.0.113.50", data={"text": "a@b.example"})
    _post(client, key, body)
    _post(client, key, event(account_id="acct-1", type="login"))

    mine = client.get(f"/v1/events/{body['event_id']}", headers=key).json()
    assert mine["payload"]["ip"] == "203.0.113.50"
    assert [h["name"] for h in mine["hits"]] == ["contact_in_message"]
    assert "messages_1h" in mine["features"]

    page = client.get("/v1/events", params={"account": "acct-1", "limit": 1}, headers=key).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(
        "/v1/events", params={"account": "acct-1", "cursor": page["next_cursor"]}, headers=key
    ).json()
    assert [i["event_id"] for i in rest["items"]] == [body["event_id"]]
    assert client.get("/v1/events/nope", headers=key).status_code == 404
    _post(client, key, event(account_id="acct-1", type="login", event_id="orders/77/paid"))
    assert client.get("/v1/events/orders/77/paid", headers=key).json()["type"] == "login"
    assert client.get("/v1/events", params={"type": "teleport"}, headers=key).status_code == 422

    login_as(client, db, make_staff(db, role=Role.agent))
    seen = client.get(f"/v1/events/{body['event_id']}").json()
    assert seen["payload"]["ip"] == "203.0.113.*"  # masked for staff
    assert {h["name"] for h in seen["hits"]} == {"contact_in_message", "trying_out"}


def test_sending_events_needs_events_write(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.admin))  # admins hold every permission
    assert client.post("/v1/events", json=event(type="login")).status_code == 200
    login_as(client, db, make_staff(db, role=Role.agent))
    assert client.post("/v1/events", json=event(type="login")).status_code == 403
