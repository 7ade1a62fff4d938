"""/v1/api-keys over HTTP: the secret is shown once, keys work, revoke and rotate."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import auth_header, login_as, make_staff
from vigil.auth.permissions import Role
from vigil.kit import clock


def _admin(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.admin))


def test_secret_is_shown_once_and_the_key_works(client: TestClient, db: Session) -> None:
    _admin(client, db)
    created = client.post("/v1/api-keys", json={"name": "prod", "scopes": ["staff:read"]})
    assert created.status_code == 422 and created.json()["code"] == "scope_not_allowed"

    created = client.post("/v1/api-keys", json={"name": "prod", "scopes": ["cases:read"]})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    key = created.json()
    secret = key["secret"]
    assert secret.startswith(key["prefix"])

    listed = client.get("/v1/api-keys")
    assert listed.status_code == 200
    assert secret not in listed.text and "secret" not in listed.json()["items"][0]

    client.cookies.clear()
    assert client.get("/v1/staff/me", headers=auth_header(secret)).status_code == 403
    assert client.get("/v1/staff", headers=auth_header(secret)).status_code == 403
    bogus = client.get("/v1/staff", headers=auth_header(secret + "x"))
    assert bogus.status_code == 401 and bogus.json()["code"] == "invalid_api_key"
    assert bogus.headers["www-authenticate"] == "Bearer"


def test_revoke_and_rotate_over_http(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    _admin(client, db)
    first = client.post("/v1/api-keys", json={"name": "a", "scopes": ["cases:read"]}).json()
    rotated = client.post(f"/v1/api-keys/{first['id']}/rotate", json={"grace_seconds": 300})
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["rotated_from_id"] == first["id"] and new["secret"] != first["secret"]
    listed = {k["id"]: k for k in client.get("/v1/api-keys").json()["items"]}
    assert listed[first["id"]]["expires_at"] is not None  # still working, for 300 s

    no_reason = client.post(f"/v1/api-keys/{new['id']}/revoke", json={})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    revoked = client.post(f"/v1/api-keys/{new['id']}/revoke", json={"reason": "test over"})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    again = client.post(f"/v1/api-keys/{new['id']}/revoke", json={"reason": "again"})
    assert again.status_code == 409
    assert client.post("/v1/api-keys/999999/revoke", json={"reason": "x"}).status_code == 404
    too_long = client.post(f"/v1/api-keys/{first['id']}/rotate", json={"grace_seconds": -1})
    assert too_long.status_code == 422

    ids = [k["id"] for k in client.get("/v1/api-keys").json()["items"]]
    assert new["id"] not in ids
    ids_all = [
        k["id"]
        for k in client.get("/v1/api-keys", params={"include_revoked": True}).json()["items"]
    ]
    assert new["id"] in ids_all


def test_expiry_in_the_past_is_refused(client: TestClient, db: Session) -> None:
    _admin(client, db)
    response = client.post(
        "/v1/api-keys",
        json={"name": "old", "scopes": ["cases:read"], "expires_at": "2000-01-01T00:00:00"},
    )
    assert response.status_code == 422 and response.json()["field"] == "expires_at"
