"""GET /v1/accounts/{external_id}/cluster: masking, reveal, permissions, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.detection.links.conftest import T0, make_account
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role

pytestmark = pytest.mark.usefixtures("frozen")

DEVICE = "android-5c1e9b7a42"
CARD = "card:77aa88bb99"


@pytest.fixture
def ring(db: Session) -> dict[str, int]:
    """r1 -device- r2 -card- r3, and r1 behind a café address shared by 12 accounts."""
    made = {
        "r1": make_account(db, "r1", ("device", DEVICE), ("ip", "192.0.2.10")),
        "r2": make_account(db, "r2", ("device", DEVICE), ("payment", CARD)),
        "r3": make_account(db, "r3", ("payment", CARD)),
    }
    for i in range(11):
        make_account(db, f"guest-{i}", ("ip", "192.0.2.10", T0 + timedelta(minutes=i)))
    db.commit()
    return {name: a.id for name, a in made.items()}


def _views(db: Session, action: str) -> list[tuple[str | None, str | None, dict[str, object]]]:
    """(target id, reason, data) of each audit record; the read transaction is ended at
    once (a SQLite transaction holds the write lock the app needs)."""
    rows = [
        (r.target_id, r.reason, r.data)
        for r in db.scalars(select(AuditRecord).where(AuditRecord.action == action))
    ]
    db.rollback()
    return rows


def test_staff_see_the_cluster_masked_and_the_view_is_audited(
    client: TestClient, db: Session, ring: dict[str, int]
) -> None:
    login_as(client, db, make_staff(db, role=Role.qa))
    response = client.get("/v1/accounts/r3/cluster")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["masked"] is True
    assert body["account"]["external_id"] == "r3"
    assert [(m["account"]["external_id"], m["depth"]) for m in body["accounts"]] == [
        ("r3", 0), ("r2", 1), ("r1", 2)
    ]  # fmt: skip
    assert body["size"] == 3 and body["banned_accounts"] == 0 and body["truncated"] is False
    links = {link["kind"]: link for link in body["links"]}
    assert links["device"]["value"] == "andr***7a42"
    assert links["device"]["accounts"] == ["r2", "r1"]
    assert links["payment"]["value"] == "card***bb99"
    assert links["payment"]["reasons"] == ["shared"]
    assert DEVICE not in response.text and CARD not in response.text
    # The café is only reported for the account that holds it.
    assert body["crowded"] == []
    r1 = client.get("/v1/accounts/r1/cluster").json()
    assert r1["crowded"] == [{"kind": "ip", "value": "192.0.2.*", "accounts_at_least": 11}]
    assert "guest-0" not in str(r1["accounts"])

    (first, second) = _views(db, "accounts.account.view")
    assert first == (str(ring["r3"]), None, {"view": "cluster"})
    assert second[0] == str(ring["r1"])


def test_reveal_needs_the_permission_and_a_reason(
    client: TestClient, db: Session, ring: dict[str, int]
) -> None:
    qa = make_staff(db, role=Role.qa)
    agent = make_staff(db, role=Role.agent)
    login_as(client, db, qa)
    refused = client.get("/v1/accounts/r2/cluster", params={"reveal": True, "reason": "case 7"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"

    login_as(client, db, agent)
    missing = client.get("/v1/accounts/r2/cluster", params={"reveal": True})
    assert missing.status_code == 422
    assert (missing.json()["code"], missing.json()["field"]) == ("reason_required", "reason")
    assert _views(db, "accounts.account.reveal") == []

    shown = client.get("/v1/accounts/r2/cluster", params={"reveal": True, "reason": "case 7"})
    assert shown.status_code == 200
    assert shown.json()["masked"] is False
    assert {link["value"] for link in shown.json()["links"]} == {DEVICE, CARD}
    assert _views(db, "accounts.account.reveal") == [
        (str(ring["r2"]), "case 7", {"view": "cluster"})
    ]


def test_api_keys_read_clusters_unmasked_with_accounts_read_only(
    client: TestClient, db: Session, ring: dict[str, int]
) -> None:
    _, reader = make_api_key(db, scopes=["accounts:read"])
    _, writer = make_api_key(db, scopes=["events:write"])
    db.commit()
    ok = client.get("/v1/accounts/r1/cluster", headers=auth_header(reader))
    assert ok.status_code == 200
    assert ok.json()["masked"] is False
    assert {link["value"] for link in ok.json()["links"]} == {DEVICE, CARD}
    assert _views(db, "accounts.account.view") == []  # the marketplace's own data
    denied = client.get("/v1/accounts/r1/cluster", headers=auth_header(writer))
    assert denied.status_code == 403
    assert client.get("/v1/accounts/r1/cluster").status_code == 401


def test_cap_unknown_account_and_bad_limits(
    client: TestClient, db: Session, ring: dict[str, int]
) -> None:
    _, key = make_api_key(db, scopes=["accounts:read"])
    db.commit()
    headers = auth_header(key)
    capped = client.get("/v1/accounts/r3/cluster", params={"max_accounts": 2}, headers=headers)
    assert capped.status_code == 200
    body = capped.json()
    assert (body["size"], body["truncated"], body["max_accounts"]) == (2, True, 2)
    assert [link["kind"] for link in body["links"]] == ["payment"]
    for bad in (0, 1001, "many"):
        response = client.get(
            "/v1/accounts/r3/cluster", params={"max_accounts": bad}, headers=headers
        )
        assert response.status_code == 422
        assert response.json()["field"] == "max_accounts"
    missing = client.get("/v1/accounts/nobody/cluster", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "account_not_found"
