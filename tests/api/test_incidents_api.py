"""The incidents API: open by hand, from a cluster and from a trend alert; link and unlink
cases; the lifecycle; notes; a case's incidents; refusals (403, 404, 409, 422) write
nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.analytics.clusters.conftest import make_cluster
from tests.analytics.incidents.conftest import event_on, legal_case, make_alert, new_case
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.analytics.incidents.models import Incident, IncidentCase, IncidentEntry
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.cases import routing

pytestmark = pytest.mark.usefixtures("queues", "frozen")


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _refused(response: Any, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    if field is not None:
        assert body["field"] == field, body


@pytest.fixture
def queues(db: Session) -> None:
    routing.ensure_default_queues(db)
    db.flush()


def _counts(db: Session) -> tuple[int, ...]:
    """Rows written so far (read in a transaction of its own, ended before the next request:
    on SQLite an open transaction would hold the write lock the app needs)."""
    db.rollback()
    counted = tuple(
        int(db.scalar(select(func.count()).select_from(m)) or 0)
        for m in (Incident, IncidentCase, IncidentEntry, AuditRecord)
    )
    db.rollback()
    return counted


def test_an_agent_opens_works_and_closes_an_incident(client: TestClient, db: Session) -> None:
    staff = make_staff(db, role=Role.agent)
    # Ids read before login_as commits (after it, reading them would open a transaction in
    # ``db`` holding SQLite's write lock during the requests).
    a, b = new_case(db).id, new_case(db).id
    agent_id, agent_name = staff.id, staff.name
    login_as(client, db, staff)

    made = _ok(
        client.post(
            "/v1/incidents",
            json={"title": "Fake invoices", "severity": "high", "case_ids": [a]},
        ),
        201,
    )
    iid = made["id"]
    assert made["ref"] == f"INC-{iid}" and made["status"] == "open"
    assert [c["case_id"] for c in made["cases"]] == [a]
    assert made["opened_by"] == agent_name

    linked = _ok(client.post(f"/v1/incidents/{iid}/cases", json={"case_ids": [b]}))
    assert sorted(c["case_id"] for c in linked["items"]) == sorted([a, b])
    assert _ok(client.delete(f"/v1/incidents/{iid}/cases/{a}"), 204) is None
    _refused(client.delete(f"/v1/incidents/{iid}/cases/{a}"), 404, "case_link_not_found")

    _ok(client.post(f"/v1/incidents/{iid}/notes", json={"body": "Same IBAN in all of them."}), 201)
    moved = _ok(
        client.post(f"/v1/incidents/{iid}/transition", json={"to": "investigating", "note": "mine"})
    )
    assert moved["status"] == "investigating" and moved["investigating_at"]
    patched = _ok(client.patch(f"/v1/incidents/{iid}", json={"owner_id": agent_id}))
    assert patched["owner_id"] == agent_id

    before = _counts(db)
    _refused(
        client.post(f"/v1/incidents/{iid}/transition", json={"to": "open"}),
        409,
        "illegal_transition",
        "to",
    )
    assert _counts(db) == before
    assert _ok(client.get(f"/v1/incidents/{iid}"))["status"] == "investigating"

    _ok(client.post(f"/v1/incidents/{iid}/transition", json={"to": "mitigated"}))
    closed = _ok(client.post(f"/v1/incidents/{iid}/transition", json={"to": "closed"}))
    assert closed["closed_at"] and closed["mitigated_at"]

    detail = _ok(client.get(f"/v1/incidents/{iid}"))
    kinds = [e["kind"] for e in detail["timeline"]][::-1]
    assert kinds == [
        "opened",
        "case_linked",
        "case_linked",
        "case_unlinked",
        "note",
        "status",
        "updated",
        "status",
        "status",
    ]
    assert [i["id"] for i in _ok(client.get(f"/v1/cases/{b}/incidents"))] == [iid]
    assert _ok(client.get("/v1/incidents?status=closed"))["items"][0]["id"] == iid


def test_refusals_write_nothing(client: TestClient, db: Session) -> None:
    qa = make_staff(db, role=Role.qa)
    agent = make_staff(db, role=Role.agent)
    hidden = legal_case(db).id
    _, secret = make_api_key(db)
    login_as(client, db, agent)
    before = _counts(db)

    _refused(client.post("/v1/incidents", json={"summary": "no title"}), 422, "title_required")
    _refused(
        client.post("/v1/incidents", json={"title": "x", "case_ids": [hidden]}),
        404,
        "case_not_found",
    )
    _refused(client.get("/v1/incidents/999999"), 404, "incident_not_found")
    _refused(client.get(f"/v1/cases/{hidden}/incidents"), 404, "case_not_found")
    _refused(
        client.post("/v1/incidents", json={"title": "x", "alert_id": 1, "cluster_id": 2}),
        422,
        "one_source",
    )
    _refused(
        client.post("/v1/incidents", json={"title": "x", "colour": "red"}), 422, "unknown_field"
    )

    login_as(client, db, qa)
    assert _ok(client.get("/v1/incidents"))["items"] == []
    _refused(client.post("/v1/incidents", json={"title": "x"}), 403, "permission_denied")

    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    _refused(client.get("/v1/incidents", headers=auth_header(secret)), 403, "permission_denied")
    assert _counts(db)[:3] == before[:3]


def test_escalations_from_a_cluster_and_an_alert(client: TestClient, db: Session) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    a, b, c = new_case(db), new_case(db), new_case(db)
    cluster = make_cluster(db, [event_on(db, a), event_on(db, b)]).id
    alert = make_alert(db, [c.id]).id
    a, b, c = a.id, b.id, c.id
    login_as(client, db, lead)

    from_cluster = _ok(
        client.post(f"/v1/clusters/{cluster}/escalate", json={"severity": "critical"}), 201
    )
    assert from_cluster["origin"] == "cluster" and from_cluster["severity"] == "critical"
    detail = _ok(client.get(f"/v1/incidents/{from_cluster['id']}"))
    assert sorted(x["case_id"] for x in detail["cases"]) == sorted([a, b])
    assert detail["sources"][0]["kind"] == "cluster"
    assert _ok(client.get(f"/v1/clusters/{cluster}"))["status"] == "escalated"

    before = _counts(db)
    _refused(client.post(f"/v1/clusters/{cluster}/escalate"), 409, "illegal_transition")
    assert _counts(db) == before

    from_alert = _ok(client.post("/v1/incidents", json={"alert_id": alert}), 201)
    assert from_alert["origin"] == "alert"
    assert [x["case_id"] for x in from_alert["cases"]] == [c]
    assert _ok(client.get(f"/v1/trends/alerts/{alert}"))["status"] == "escalated"
    assert "analytics.incident.link_source" in {r for r in db.scalars(select(AuditRecord.action))}
