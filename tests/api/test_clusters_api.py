"""The clusters API: listing and reading what the job found, acknowledging and dismissing
(``trends:triage``), and the refusals, which write nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.analytics.clusters.conftest import add_event, make_cluster, scam_text
from tests.factories import login_as, make_staff
from vigil.analytics.clusters import service
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.kit import clock

pytestmark = pytest.mark.usefixtures("frozen")


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _audits(db: Session) -> int:
    """Read in a transaction of its own, ended before the next request (on SQLite an open
    transaction would hold the write lock the app needs)."""
    db.rollback()
    counted = int(db.scalar(select(func.count()).select_from(AuditRecord)) or 0)
    db.rollback()
    return counted


def test_the_job_finds_a_wave_and_the_api_shows_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    for i in range(8):
        add_event(db, scam_text(i), account=f"s{i % 4}", at=clock.now() - timedelta(hours=i))
    service.detect(db, settings)
    agent = make_staff(db, role=Role.agent)
    login_as(client, db, agent)

    page = _ok(client.get("/v1/clusters?status=new"))
    (item,) = page["items"]
    assert item["size"] == 8 and item["accounts"] == 4 and item["status"] == "new"
    assert item["examples"] and all("@" not in e["text"] for e in item["examples"])
    assert _ok(client.get(f"/v1/clusters/{item['id']}"))["label"] == item["label"]


def test_triage_and_refusals(client: TestClient, db: Session) -> None:
    agent = make_staff(db, role=Role.agent)
    lead = make_staff(db, role=Role.policy_lead)
    # Ids and names read before login_as commits: reading them after would start a
    # transaction in ``db`` that holds SQLite's write lock during the requests.
    first, second = make_cluster(db).id, make_cluster(db).id
    lead_name = lead.name
    login_as(client, db, agent)
    before = _audits(db)

    refused = client.post(f"/v1/clusters/{first}/acknowledge")
    assert refused.status_code == 403
    assert client.get("/v1/clusters/999999").json()["code"] == "cluster_not_found"
    assert client.get("/v1/clusters?status=bogus").status_code == 422
    assert _audits(db) == before

    login_as(client, db, lead)
    before = _audits(db)
    acked = _ok(client.post(f"/v1/clusters/{first}/acknowledge", json={"note": "mine"}))
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == lead_name
    missing = client.post(f"/v1/clusters/{second}/dismiss", json={"reason": ""})
    assert (missing.status_code, missing.json()["field"]) == (422, "reason")
    dismissed = _ok(client.post(f"/v1/clusters/{second}/dismiss", json={"reason": "test traffic"}))
    assert dismissed["dismiss_reason"] == "test traffic"
    again = client.post(f"/v1/clusters/{second}/acknowledge")
    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")
    assert _audits(db) == before + 2
    listed = _ok(client.get("/v1/clusters?limit=1"))
    assert [c["id"] for c in listed["items"]] == [second] and listed["next_cursor"]
