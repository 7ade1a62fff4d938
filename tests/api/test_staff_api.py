"""/v1/staff over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, auth_header, login_as, make_api_key, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role


def test_me_shows_the_caller_and_what_they_may_do(client: TestClient, db: Session) -> None:
    user = make_staff(db, role=Role.specialist, languages=["en", "es"])
    login_as(client, db, user)
    body = client.get("/v1/staff/me").json()
    assert body["id"] == user.id and body["role"] == "specialist"
    assert body["languages"] == ["en", "es"] and body["tier"] == "specialist"
    assert "cases:assign" in body["permissions"] and "staff:write" not in body["permissions"]
    assert "password_hash" not in body


def test_me_is_for_staff_not_api_keys(client: TestClient, db: Session) -> None:
    _, secret = make_api_key(db)
    db.commit()
    response = client.get("/v1/staff/me", headers=auth_header(secret))
    assert response.status_code == 403 and response.json()["code"] == "staff_only"


def test_admin_creates_staff_who_can_then_log_in(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.admin))
    response = client.post(
        "/v1/staff",
        json={
            "email": "New@Trust.example",
            "name": "New Person",
            "role": "agent",
            "password": "their first password",
            "languages": ["es"],
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["email"] == "new@trust.example"
    assert "password" not in str(response.json())
    again = client.post(
        "/v1/staff",
        json={"email": "new@trust.example", "name": "X", "role": "qa", "password": "x" * 12},
    )
    assert again.status_code == 409 and again.json()["field"] == "email"


def test_create_refuses_unknown_fields_and_bad_roles(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.admin))
    base = {"email": "a@trust.example", "name": "A", "role": "agent", "password": "x" * 12}
    unknown = client.post("/v1/staff", json=base | {"is_superuser": True})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_field"
    bad_role = client.post("/v1/staff", json=base | {"role": "overlord"})
    assert bad_role.status_code == 422 and bad_role.json()["field"] == "role"
    short = client.post("/v1/staff", json=base | {"password": "short"})
    assert short.status_code == 422 and short.json()["code"] == "password_too_short"
    assert (
        db.scalars(select(AuditRecord).where(AuditRecord.action == "auth.staff.create")).all() == []
    )


def test_patch_changes_role_and_deactivation_logs_out(client: TestClient, db: Session) -> None:
    target = make_staff(db, role=Role.agent)
    db.commit()
    other = TestClient(client.app)
    login_as(other, db, target)
    assert other.get("/v1/staff/me").status_code == 200

    admin = make_staff(db, role=Role.admin)
    login_as(client, db, admin)
    promoted = client.patch(
        f"/v1/staff/{target.id}", json={"role": "specialist", "reason": "passed review"}
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "specialist"
    # The change applies to the open session at once.
    assert other.get("/v1/staff/me").json()["role"] == "specialist"

    off = client.patch(f"/v1/staff/{target.id}", json={"active": False, "reason": "left"})
    assert off.status_code == 200 and off.json()["active"] is False
    assert other.get("/v1/staff/me").status_code == 401

    last = client.patch(f"/v1/staff/{admin.id}", json={"role": "qa"})
    assert last.status_code == 409 and last.json()["code"] == "last_admin"
    assert client.patch("/v1/staff/999999", json={"name": "x"}).status_code == 404


def test_changing_own_password_keeps_this_session_only(client: TestClient, db: Session) -> None:
    user = make_staff(db)
    db.commit()
    elsewhere = TestClient(client.app)
    login_as(elsewhere, db, user)
    login_as(client, db, user)
    wrong = client.post(
        f"/v1/staff/{user.id}/password",
        json={"current_password": "not it at all", "new_password": "brand new password"},
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "current_password"
    ok = client.post(
        f"/v1/staff/{user.id}/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "brand new password"},
    )
    assert ok.status_code == 204
    assert client.get("/v1/staff/me").status_code == 200
    assert elsewhere.get("/v1/staff/me").status_code == 401


def test_only_admins_set_other_peoples_passwords(client: TestClient, db: Session) -> None:
    victim = make_staff(db)
    login_as(client, db, make_staff(db, role=Role.specialist))
    denied = client.post(f"/v1/staff/{victim.id}/password", json={"new_password": "x" * 20})
    assert denied.status_code == 403
    login_as(client, db, make_staff(db, role=Role.admin))
    assert (
        client.post(f"/v1/staff/{victim.id}/password", json={"new_password": "x" * 20}).status_code
        == 204
    )


def test_list_pages_with_a_cursor(client: TestClient, db: Session) -> None:
    user = make_staff(db, role=Role.qa)
    for _ in range(4):
        make_staff(db)
    login_as(client, db, user)
    first = client.get("/v1/staff", params={"limit": 3}).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = client.get("/v1/staff", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    agents = client.get("/v1/staff", params={"role": "agent"}).json()["items"]
    assert {s["role"] for s in agents} == {"agent"} and len(agents) == 4
    bad = client.get("/v1/staff", params={"cursor": "!!"})
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
