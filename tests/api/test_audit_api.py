"""/v1/audit over HTTP: filters, keyset pages, verify."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from vigil.audit import service as audit
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.kit import clock

SYSTEM = Principal.system("tests")


def _seed(db: Session, frozen: clock.FrozenClock) -> None:
    for i in range(6):
        audit.record(db, SYSTEM, "accounts.account.view", "account", i % 2, reason=f"r{i}")
        frozen.advance(timedelta(minutes=1))
    audit.record(db, SYSTEM, "auth.api_key.revoke", "api_key", 9, reason="leak")


def test_list_filters_and_pages_newest_first(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    _seed(db, frozen)
    login_as(client, db, make_staff(db, role=Role.policy_lead))  # adds auth.session.login
    page = client.get("/v1/audit", params={"limit": 3}).json()
    assert [r["id"] for r in page["items"]] == [8, 7, 6]
    nxt = client.get("/v1/audit", params={"limit": 3, "cursor": page["next_cursor"]}).json()
    assert [r["id"] for r in nxt["items"]] == [5, 4, 3]

    by_target = client.get("/v1/audit", params={"target_type": "account", "target_id": "1"}).json()[
        "items"
    ]
    assert [r["reason"] for r in by_target] == ["r5", "r3", "r1"]
    prefix = client.get("/v1/audit", params={"action": "auth.*"}).json()["items"]
    assert {r["action"] for r in prefix} == {"auth.api_key.revoke", "auth.session.login"}
    start = clock.now() - timedelta(minutes=6)
    window = client.get(
        "/v1/audit",
        params={
            "since": start.isoformat(),
            "until": (start + timedelta(minutes=2)).isoformat(),
        },
    ).json()["items"]
    assert [r["id"] for r in window] == [2, 1]
    naive = client.get("/v1/audit", params={"since": "2026-11-21T09:00:00"})
    assert naive.status_code == 200


def test_verify_over_http_reports_breaks(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    _seed(db, frozen)
    login_as(client, db, make_staff(db, role=Role.admin))
    ok = client.get("/v1/audit/verify").json()
    assert ok["ok"] is True and ok["checked"] == 8 and ok["breaks"] == []
    head = f"{ok['last_id']}:{ok['last_hash']}"
    db.execute(text("UPDATE audit_records SET reason = 'edited' WHERE id = 2"))
    db.commit()
    broken = client.get("/v1/audit/verify", params={"expect_head": head}).json()
    assert broken["ok"] is False
    assert broken["breaks"] == [
        {"record_id": 2, "problem": "record content does not match its hash"}
    ]
    bad = client.get("/v1/audit/verify", params={"expect_head": "nope"})
    assert bad.status_code == 422 and bad.json()["field"] == "expect_head"


def test_agents_cannot_read_the_audit_log(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    assert client.get("/v1/audit").status_code == 403
