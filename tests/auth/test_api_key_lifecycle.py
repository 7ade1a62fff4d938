"""Over HTTP: a rotated key's old secret works until its grace ends and not a moment after;
a revoked key is refused at once."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import auth_header, login_as, make_staff
from vigil.auth.permissions import Role
from vigil.kit import clock


def _admin_client(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.admin))


def _create_key(client: TestClient) -> tuple[int, str]:
    created = client.post("/v1/api-keys", json={"name": "shop", "scopes": ["policies:read"]})
    assert created.status_code == 201, created.text
    assert created.headers["Cache-Control"] == "no-store"
    return created.json()["id"], created.json()["secret"]


def _status(client: TestClient, secret: str) -> int:
    # With a bearer key the session cookie is not looked at: only the key speaks.
    return client.get("/v1/policies", headers=auth_header(secret)).status_code


def test_rotated_key_stops_when_its_grace_ends(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    _admin_client(client, db)
    key_id, old = _create_key(client)
    rotated = client.post(
        f"/v1/api-keys/{key_id}/rotate", json={"grace_seconds": 600, "reason": "yearly"}
    )
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["secret"]
    assert (_status(client, old), _status(client, new)) == (200, 200)
    frozen.advance(timedelta(seconds=599))
    assert _status(client, old) == 200
    frozen.advance(timedelta(seconds=1))
    assert (_status(client, old), _status(client, new)) == (401, 200)


def test_rotation_without_grace_and_revocation_cut_at_once(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    _admin_client(client, db)
    key_id, old = _create_key(client)
    rotated = client.post(f"/v1/api-keys/{key_id}/rotate", json={"grace_seconds": 0})
    assert rotated.status_code == 201, rotated.text
    new_id, new = rotated.json()["id"], rotated.json()["secret"]
    assert (_status(client, old), _status(client, new)) == (401, 200)
    revoked = client.post(f"/v1/api-keys/{new_id}/revoke", json={"reason": "leaked in a log"})
    assert revoked.status_code == 200, revoked.text
    assert _status(client, new) == 401
