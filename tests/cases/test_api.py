"""The cases and queues HTTP API, as the marketplace and the team use it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.cases.models import Case, CaseEvent, Queue, RoutingRule
from vigil.kit import clock
from vigil.kit.clock import FrozenClock


def login(client: TestClient, db: Session, user: StaffUser) -> None:
    csrf = login_as(client, db, user)
    client.headers["X-CSRF-Token"] = csrf


@pytest.fixture
def marketplace(db: Session, queues: dict[str, Queue]) -> dict[str, str]:
    _, secret = make_api_key(db, scopes=["cases:create", "cases:read", "queues:read"])
    db.commit()
    return auth_header(secret)


def open_case(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"type": "user_report", "title": "Asked me to pay outside the platform", **fields}
    response = client.post("/v1/cases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def snapshot(db: Session, case_id: int) -> tuple[Any, ...]:
    """What a refused request must leave exactly as it was. Ends its read transaction, which
    on SQLite holds the write lock the app needs."""
    db.expire_all()
    case = db.get(Case, case_id)
    assert case is not None
    events = db.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
    )
    records = db.scalar(select(func.count()).select_from(AuditRecord))
    state = (case.status, case.version, case.assignee_id, case.tier, case.queue_id, events, records)
    db.rollback()
    return state


def test_marketplace_opens_a_case_and_dedups(
    client: TestClient, marketplace: dict[str, str], queues: dict[str, Queue], frozen: FrozenClock
) -> None:
    case = open_case(client, marketplace, dedup_key="report:991", priority=2, language="es")
    assert case["status"] == "open" and case["source"] == "api"
    assert case["queue_id"] == queues["es"].id
    assert case["sla_state"] == "ok"
    again = client.post(
        "/v1/cases",
        json={"type": "user_report", "title": "Same report", "dedup_key": "report:991"},
        headers=marketplace,
    )
    assert again.status_code == 200 and again.json()["id"] == case["id"]
    got = client.get(f"/v1/cases/{case['id']}", headers=marketplace)
    assert got.status_code == 200 and got.json()["title"] == case["title"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"type": "user_report", "title": "x", "colour": "red"}, "unknown_field", "colour"),
        ({"type": "user_report", "title": "x", "priority": "urgent"}, "invalid_field", "priority"),
        ({"type": "user_report", "title": "x", "priority": 7}, "invalid_field", "priority"),
        ({"type": "parking_ticket", "title": "x"}, "invalid_field", "type"),
        ({"title": "x"}, "missing_field", "type"),
        (
            {"type": "user_report", "title": "x", "account_id": 123},
            "account_not_found",
            "account_id",
        ),
    ],
)
def test_bad_case_input_names_the_field_and_writes_nothing(
    client: TestClient,
    db: Session,
    marketplace: dict[str, str],
    body: dict[str, Any],
    code: str,
    field: str,
) -> None:
    response = client.post("/v1/cases", json=body, headers=marketplace)
    assert response.status_code in (404, 422)
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert db.scalar(select(func.count()).select_from(Case)) == 0


def test_malformed_json_is_422(client: TestClient, marketplace: dict[str, str]) -> None:
    response = client.post(
        "/v1/cases",
        content=b'{"type": "user_report", "title": ',
        headers={**marketplace, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_json"


def test_unknown_and_hidden_ids_are_404(
    client: TestClient, db: Session, queues: dict[str, Queue], marketplace: dict[str, str]
) -> None:
    lawyer = make_staff(db, role=Role.legal)
    agent = make_staff(db, role=Role.agent)
    login(client, db, lawyer)
    legal_case = open_case(client, {}, tier="legal")
    login(client, db, agent)
    for path in (f"/v1/cases/{legal_case['id']}", "/v1/cases/424242", "/v1/queues/424242"):
        response = client.get(path)
        assert response.status_code == 404, path
    assert client.get(f"/v1/cases/{legal_case['id']}/timeline").status_code == 404
    assert (
        client.post(f"/v1/cases/{legal_case['id']}/notes", json={"body": "hi"}).status_code == 404
    )
    assert client.get(f"/v1/queues/{queues['legal'].id}").status_code == 404
    assert client.get("/v1/cases/99999999999999999999").status_code == 422
    assert client.get("/v1/cases", headers=marketplace).json()["items"] == []


def test_an_agents_day(
    client: TestClient, db: Session, marketplace: dict[str, str], frozen: FrozenClock
) -> None:
    first = open_case(client, marketplace, priority=3)
    urgent = open_case(client, marketplace, priority=1, type="detection")
    agent = make_staff(db, role=Role.agent)
    login(client, db, agent)

    pulled = client.post("/v1/cases/next")
    assert pulled.status_code == 200
    assert pulled.json()["id"] == urgent["id"] and pulled.json()["assignee_id"] == agent.id

    note = client.post(f"/v1/cases/{urgent['id']}/notes", json={"body": "Checked the payouts."})
    assert note.status_code == 201 and note.json()["author_id"] == agent.id

    closed = client.post(
        f"/v1/cases/{urgent['id']}/close",
        json={"resolution": "actioned", "note": "Suspended payouts", "expected_version": 2},
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]

    assert client.post("/v1/cases/next").json()["id"] == first["id"]
    held = client.post(
        f"/v1/cases/{first['id']}/hold",
        json={"until": (clock.now() + timedelta(days=1)).isoformat(), "reason": "asked for proof"},
    )
    assert held.status_code == 200 and held.json()["status"] == "on_hold"
    assert client.post("/v1/cases/next").status_code == 204  # nothing else is waiting
    resumed = client.post(f"/v1/cases/{first['id']}/resume")
    assert resumed.json()["status"] == "assigned"
    released = client.post(f"/v1/cases/{first['id']}/release", json={"reason": "going home"})
    assert released.json()["status"] == "open" and released.json()["assignee_id"] is None

    timeline = client.get(f"/v1/cases/{urgent['id']}/timeline").json()["items"]
    assert [e["kind"] for e in timeline] == ["created", "assigned", "note", "closed"]
    assert timeline[2]["note"] == "Checked the payouts."
    # The marketplace sees the steps but never the team's internal notes.
    seen = client.get(f"/v1/cases/{urgent['id']}/timeline", headers=marketplace).json()["items"]
    assert seen[2]["kind"] == "note" and seen[2]["note"] is None


def test_illegal_steps_are_409_and_change_nothing(
    client: TestClient, db: Session, marketplace: dict[str, str]
) -> None:
    case = open_case(client, marketplace)
    agent = make_staff(db, role=Role.agent)
    login(client, db, agent)
    before = snapshot(db, case["id"])
    for path, body in [
        ("release", {}),
        ("resume", {}),
        ("hold", {"until": "2030-01-01T00:00:00Z", "reason": "x", "staff": 1}),
    ]:
        response = client.post(f"/v1/cases/{case['id']}/{path}", json=body)
        if path == "hold":
            assert response.status_code == 422 and response.json()["field"] == "staff"
        else:
            assert response.status_code == 409, path
            assert response.json()["code"] == "illegal_transition"
    assert snapshot(db, case["id"]) == before

    client.post(f"/v1/cases/{case['id']}/assign")
    client.post(
        f"/v1/cases/{case['id']}/close", json={"resolution": "no_violation", "note": "fine"}
    )
    before = snapshot(db, case["id"])
    response = client.post(f"/v1/cases/{case['id']}/escalate", json={"reason": "too late"})
    assert response.status_code == 409 and response.json()["code"] == "illegal_transition"
    assert snapshot(db, case["id"]) == before


def test_escalate_needs_a_reason_and_climbs_the_ladder(
    client: TestClient, db: Session, marketplace: dict[str, str], queues: dict[str, Queue]
) -> None:
    case = open_case(client, marketplace)
    agent = make_staff(db, role=Role.agent)
    login(client, db, agent)
    client.post("/v1/cases/next")
    before = snapshot(db, case["id"])
    missing = client.post(f"/v1/cases/{case['id']}/escalate", json={})
    assert (missing.status_code, missing.json()["field"]) == (422, "reason")
    blank = client.post(f"/v1/cases/{case['id']}/escalate", json={"reason": "   "})
    assert (blank.status_code, blank.json()["field"], blank.json()["code"]) == (
        422,
        "reason",
        "reason_required",
    )
    assert snapshot(db, case["id"]) == before
    up = client.post(
        f"/v1/cases/{case['id']}/escalate",
        json={"reason": "threat to a minor", "severity": "critical", "priority": 1},
    )
    assert up.status_code == 200
    body = up.json()
    assert (body["tier"], body["queue_id"], body["status"], body["severity"]) == (
        "specialist",
        queues["escalations"].id,
        "open",
        "critical",
    )
    assert client.post("/v1/cases/next").status_code == 204  # agents do not pull escalations


def test_stale_version_is_409(client: TestClient, db: Session, marketplace: dict[str, str]) -> None:
    case = open_case(client, marketplace)
    lead = make_staff(db, role=Role.specialist)
    other = make_staff(db, role=Role.agent)
    login(client, db, lead)
    ok = client.post(
        f"/v1/cases/{case['id']}/assign", json={"staff_id": other.id, "expected_version": 1}
    )
    assert ok.status_code == 200 and ok.json()["version"] == 2
    before = snapshot(db, case["id"])
    stale = client.post(
        f"/v1/cases/{case['id']}/release", json={"reason": "x", "expected_version": 1}
    )
    assert stale.status_code == 409 and stale.json()["code"] == "version_conflict"
    assert snapshot(db, case["id"]) == before


def test_permissions(client: TestClient, db: Session, marketplace: dict[str, str]) -> None:
    case = open_case(client, marketplace)
    # An API key may open and read cases, not work them.
    assert client.post("/v1/cases/next", headers=marketplace).status_code == 403
    assert (
        client.post(
            f"/v1/cases/{case['id']}/close",
            json={"resolution": "actioned", "note": "x"},
            headers=marketplace,
        ).status_code
        == 403
    )
    agent = make_staff(db, role=Role.agent)
    other = make_staff(db, role=Role.agent)
    login(client, db, agent)
    denied = client.post(f"/v1/cases/{case['id']}/assign", json={"staff_id": other.id})
    assert denied.status_code == 403
    assert client.post(f"/v1/cases/{case['id']}/reopen", json={"reason": "x"}).status_code == 403
    assert client.post("/v1/queues", json={"slug": "x", "name": "X"}).status_code == 403


def test_list_filters(client: TestClient, db: Session, marketplace: dict[str, str]) -> None:
    a = open_case(client, marketplace, type="appeal", policy_code="fees")
    open_case(client, marketplace, type="dispute")
    listed = client.get("/v1/cases", params={"type": "appeal"}, headers=marketplace).json()
    assert [c["id"] for c in listed["items"]] == [a["id"]]
    by_status = client.get(
        "/v1/cases", params=[("status", "open"), ("status", "closed")], headers=marketplace
    ).json()
    assert len(by_status["items"]) == 2
    page = client.get("/v1/cases", params={"limit": 1}, headers=marketplace).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(
        "/v1/cases", params={"limit": 1, "cursor": page["next_cursor"]}, headers=marketplace
    ).json()
    assert rest["items"][0]["id"] == a["id"]
    bad = client.get("/v1/cases", params={"status": "sleeping"}, headers=marketplace)
    assert (bad.status_code, bad.json()["field"]) == (422, "status.0")
    bad_cursor = client.get("/v1/cases", params={"cursor": "!!"}, headers=marketplace)
    assert (bad_cursor.status_code, bad_cursor.json()["field"]) == (422, "cursor")


# --- queues -----------------------------------------------------------------------------------


def test_queues_with_figures_and_admin(
    client: TestClient, db: Session, marketplace: dict[str, str], queues: dict[str, Queue]
) -> None:
    open_case(client, marketplace, type="appeal")
    lead = make_staff(db, role=Role.policy_lead)
    agent = make_staff(db, role=Role.agent)
    login(client, db, lead)
    listed = {q["slug"]: q for q in client.get("/v1/queues").json()["items"]}
    assert "legal" not in listed  # legal queues are for the legal team
    assert listed["appeals"]["open"] == 1 and listed["appeals"]["sla_state"] == "ok"

    made = client.post(
        "/v1/queues", json={"slug": "fraud", "name": "Fraud rings", "sla_minutes": 240}
    )
    assert made.status_code == 201
    fraud = made.json()
    taken = client.post("/v1/queues", json={"slug": "fraud", "name": "Again"})
    assert (taken.status_code, taken.json()["field"]) == (409, "slug")
    bad_slug = client.post("/v1/queues", json={"slug": "Fraud Rings!", "name": "x"})
    assert (bad_slug.status_code, bad_slug.json()["field"]) == (422, "slug")

    patched = client.patch(f"/v1/queues/{fraud['id']}", json={"sla_minutes": 120})
    assert patched.status_code == 200 and patched.json()["sla_minutes"] == 120
    wrong = client.patch(f"/v1/queues/{fraud['id']}", json={"tier": "legal"})
    assert (wrong.status_code, wrong.json()["field"]) == (422, "tier")

    members = client.put(f"/v1/queues/{fraud['id']}/members", json={"staff_ids": [agent.id]})
    assert members.status_code == 200 and members.json()["staff_ids"] == [agent.id]
    assert client.get(f"/v1/queues/{fraud['id']}").json()["members"] == [agent.id]
    nobody = client.put(f"/v1/queues/{fraud['id']}/members", json={"staff_ids": [agent.id + 99]})
    assert (nobody.status_code, nobody.json()["field"]) == (404, "staff_ids.0")


def test_routing_rules_are_replaced_all_or_nothing(
    client: TestClient, db: Session, marketplace: dict[str, str], queues: dict[str, Queue]
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    login(client, db, lead)
    before = client.get("/v1/queues/routing-rules").json()["rules"]
    assert len(before) == db.scalar(select(func.count()).select_from(RoutingRule))
    db.rollback()
    bad = client.put(
        "/v1/queues/routing-rules",
        json={
            "rules": [
                {"queue_id": queues["disputes"].id, "case_types": ["appeal"]},
                {"queue_id": 424242},
            ]
        },
    )
    assert (bad.status_code, bad.json()["field"]) == (404, "rules.1.queue_id")
    never = client.put(
        "/v1/queues/routing-rules",
        json={"rules": [{"queue_id": queues["legal"].id, "tiers": ["tier1"]}]},
    )
    assert (never.status_code, never.json()["field"]) == (422, "rules.0.tiers")
    assert client.get("/v1/queues/routing-rules").json()["rules"] == before

    ok = client.put(
        "/v1/queues/routing-rules",
        json={"rules": [{"queue_id": queues["disputes"].id, "case_types": ["dispute"]}]},
    )
    assert ok.status_code == 200 and len(ok.json()["rules"]) == 1
    dispute = open_case(client, marketplace, type="dispute")
    assert dispute["queue_id"] == queues["disputes"].id
    report = open_case(client, marketplace, type="user_report")
    assert report["queue_id"] == queues["triage"].id  # no rule: the fallback
