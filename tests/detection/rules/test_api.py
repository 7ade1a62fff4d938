"""/v1/rules over HTTP: CRUD, versions, state, validate, test, backtests, permissions."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.detection.rules.conftest import rule_body, written
from tests.detection.rules.test_backtest import stored_event
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.auth.permissions import Role
from vigil.kit import clock

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def lead(client: TestClient, db: Session) -> TestClient:
    login_as(client, db, make_staff(db, role=Role.policy_lead))
    return client


def _create(client: TestClient, **changes: Any) -> Any:
    return client.post("/v1/rules", json=rule_body(**changes))


def test_create_read_edit_and_list(lead: TestClient) -> None:
    created = _create(lead, state="shadow", change_reason="new pattern from the fraud team")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "shadow" and body["version"] == 1 and body["score"] == 60.0
    assert body["change_reason"] == "new pattern from the fraud team"

    edited = lead.patch(
        "/v1/rules/new_account_mass_messaging",
        json={"score": 70, "change_reason": "more weight", "expected_version": 1},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["changed"] is True and edited.json()["rule"]["version"] == 2
    stale = lead.patch(
        "/v1/rules/new_account_mass_messaging",
        json={"score": 75, "change_reason": "x", "expected_version": 1},
    )
    assert stale.status_code == 409 and stale.json()["code"] == "version_conflict"

    versions = lead.get("/v1/rules/new_account_mass_messaging/versions?limit=1").json()
    assert [v["version"] for v in versions["items"]] == [2] and versions["next_cursor"]
    older = lead.get(
        f"/v1/rules/new_account_mass_messaging/versions?cursor={versions['next_cursor']}"
    )
    assert [v["version"] for v in older.json()["items"]] == [1]
    assert lead.get("/v1/rules/new_account_mass_messaging/versions/1").json()["score"] == 60.0
    assert lead.get("/v1/rules/new_account_mass_messaging").json()["current_version"] == 2
    assert [r["name"] for r in lead.get("/v1/rules?state=shadow").json()["items"]] == [
        "new_account_mass_messaging"
    ]
    assert lead.get("/v1/rules?state=active").json()["items"] == []
    assert lead.get("/v1/rules/nope").status_code == 404
    assert lead.get("/v1/rules/new_account_mass_messaging/versions/9").status_code == 404


def test_a_save_that_does_not_type_check_is_refused_with_its_position(
    lead: TestClient, db: Session
) -> None:
    before = written(db)
    refused = _create(lead, expression="account.age_days < 2 &&\n features.nope > 1")
    assert refused.status_code == 422
    error = refused.json()
    assert (error["code"], error["field"]) == ("rule_invalid", "expression")
    assert (error["details"][0]["line"], error["details"][0]["column"]) == (2, 10)
    assert written(db) == before
    unknown = _create(lead, policy_code="made_up")
    assert unknown.status_code == 422 and unknown.json()["field"] == "policy_code"
    extra = lead.post("/v1/rules", json={**rule_body(), "colour": "red"})
    assert extra.status_code == 422 and extra.json()["code"] == "unknown_field"


def test_state_changes_follow_the_machine(lead: TestClient) -> None:
    _create(lead)
    moved = lead.post(
        "/v1/rules/new_account_mass_messaging/state", json={"state": "active", "reason": "ok"}
    )
    assert moved.status_code == 200 and moved.json()["state"] == "active"
    illegal = lead.post("/v1/rules/new_account_mass_messaging/state", json={"state": "draft"})
    assert illegal.status_code == 409 and illegal.json()["code"] == "illegal_transition"
    revisions = lead.get("/v1/rules/revisions").json()
    assert revisions[0]["revision"] == 1 and revisions[0]["rules"] == 1


def test_validate_and_test_an_expression(lead: TestClient, db: Session) -> None:
    ok = lead.post("/v1/rules/validate", json={"expression": "features.messages_1h > 20"})
    assert ok.json() == {"valid": True, "problems": [], "variables": ["features.messages_1h"]}
    bad = lead.post("/v1/rules/validate", json={"expression": "features.messages_1h > 'x'"})
    assert bad.status_code == 200 and bad.json()["valid"] is False
    assert bad.json()["problems"][0]["column"] == 22

    fired = lead.post(
        "/v1/rules/test",
        json={
            "expression": "features.messages_1h > 20 && account.age_days < 2",
            "account": {"age_days": 1},
            "features": {"messages_1h": 25},
        },
    )
    assert fired.json()["result"] is True
    assert fired.json()["values"] == {"features.messages_1h": 25, "account.age_days": 1}
    failed = lead.post(
        "/v1/rules/test", json={"expression": "event.data.amount > 1.0", "event": {"data": {}}}
    )
    assert failed.json()["result"] is None and "amount" in failed.json()["error"]

    stored = stored_event(db, None, clock.now(), {"messages_1h": 30})
    db.commit()
    replayed = lead.post(
        "/v1/rules/test",
        json={"expression": "features.messages_1h >= 30", "event_id": stored.event_id},
    )
    assert replayed.json()["result"] is True
    missing = lead.post("/v1/rules/test", json={"expression": "true", "event_id": "nope"})
    assert missing.status_code == 422 and missing.json()["code"] == "unknown_event"


def test_backtests_over_http(lead: TestClient, db: Session) -> None:
    _create(lead, state="active")
    loud = stored_event(db, None, clock.now().replace(hour=8), {"messages_1h": 30}).id
    stored_event(db, None, clock.now().replace(hour=8), {"messages_1h": 5})
    db.commit()
    run = lead.post(
        "/v1/rules/backtests",
        json={
            "since": "2026-11-20T00:00:00Z",
            "until": "2026-11-21T09:00:00Z",
            "compare": {"kind": "rule", "name": "new_account_mass_messaging"},
        },
    )
    assert run.status_code == 201, run.text
    body = run.json()
    assert body["status"] == "done" and body["events_scanned"] == 2
    assert body["results"][0]["hits"] == 1
    assert body["results"][0]["sample_event_ids"] == [loud]
    assert body["comparison"]["rules"][0]["hits_gained"] == 0
    fetched = lead.get(f"/v1/rules/backtests/{body['id']}")
    assert fetched.json()["results"] == body["results"]
    assert [b["id"] for b in lead.get("/v1/rules/backtests").json()["items"]] == [body["id"]]
    bad = lead.post("/v1/rules/backtests", json={"target": {"kind": "revision", "revision": 42}})
    assert bad.status_code == 422 and bad.json()["field"] == "target.revision"
    assert lead.get("/v1/rules/backtests/999").status_code == 404


def test_who_may_read_and_write(client: TestClient, db: Session) -> None:
    agent = make_staff(db, role=Role.agent)
    login_as(client, db, agent)
    assert client.get("/v1/rules").status_code == 200
    assert _create(client).status_code == 403
    assert client.post("/v1/rules/validate", json={"expression": "true"}).status_code == 200
    assert client.post("/v1/rules/backtests", json={}).status_code == 403
    client.cookies.clear()
    _, secret = make_api_key(db)
    db.commit()
    assert client.get("/v1/rules", headers=auth_header(secret)).status_code == 403


def test_trying_an_expression_on_a_stored_event_masks_personal_data(
    lead: TestClient, db: Session
) -> None:
    """A policy lead has no pii:reveal: the values a trial read come back masked, as the
    events API shows them, while the expression still ran on the real values."""
    stored = stored_event(
        db, None, clock.now(), {}, data={"email": "alice.secret@example.com", "text": "hi"}
    )
    stored.payload = {**stored.payload, "ip": "203.0.113.77"}
    db.commit()
    trial = lead.post(
        "/v1/rules/test",
        json={
            "expression": "event.ip == '203.0.113.77' && event.data.email != ''",
            "event_id": stored.event_id,
        },
    )
    assert trial.status_code == 200, trial.text
    body = trial.json()
    assert body["result"] is True
    shown = str(body["values"])
    assert "203.0.113.77" not in shown and "alice.secret" not in shown
