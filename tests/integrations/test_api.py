"""The integrations HTTP API as an admin and the T&S leads use it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import login_as, logout, make_staff
from tests.integrations.conftest import count, emit, settle
from tests.servers import WebhookReceiver
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.integrations import signing
from vigil.integrations.models import Integration
from vigil.jobs.worker import Worker


@pytest.fixture
def admin(client: TestClient, db: Session) -> TestClient:
    login_as(client, db, make_staff(db, role=Role.admin))
    return client


def _create(client: TestClient, url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/integrations", json={"name": "marketplace", "url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_secret_is_shown_on_create_and_rotate_and_never_again(
    admin: TestClient, webhook_receiver: WebhookReceiver
) -> None:
    created = _create(admin, webhook_receiver.url, event_types=["action.applied"])
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["event_types"] == ["action.applied"] and created["active"] is True

    one = admin.get(f"/v1/integrations/{created['id']}")
    listed = admin.get("/v1/integrations")
    for response in (one, listed):
        assert response.status_code == 200
        assert secret not in response.text and '"secret"' not in response.text
    assert [i["name"] for i in listed.json()["items"]] == ["marketplace"]

    rotated = admin.post(
        f"/v1/integrations/{created['id']}/rotate-secret", json={"grace_seconds": 60}
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] not in (secret, None)
    assert rotated.json()["previous_secret_expires_at"] is not None
    assert rotated.json()["secret"] not in admin.get(f"/v1/integrations/{created['id']}").text


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"name": "m", "url": "ftp://m.example/h"}, "url", "invalid_url"),
        ({"name": "m", "url": "https://"}, "url", "invalid_url"),
        ({"name": "m", "url": "not a url"}, "url", "invalid_url"),
        ({"name": "m", "url": "https://m.example", "event_types": ["nope"]}, "event_types", None),
        ({"name": "m"}, "url", "missing_field"),
        ({"name": "m", "url": "https://m.example", "secret": "mine"}, "secret", "unknown_field"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    admin: TestClient,
    session_factory: sessionmaker[Session],
    body: dict[str, Any],
    field: str,
    code: str | None,
) -> None:
    audited = count(session_factory, AuditRecord)
    response = admin.post("/v1/integrations", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    if code is not None:
        assert response.json()["code"] == code
    assert count(session_factory, Integration) == 0
    assert count(session_factory, AuditRecord) == audited


def test_patch_changes_url_events_and_active_and_refuses_a_bad_url(
    admin: TestClient, webhook_receiver: WebhookReceiver
) -> None:
    created = _create(admin, webhook_receiver.url)
    path = f"/v1/integrations/{created['id']}"
    patched = admin.patch(
        path, json={"event_types": ["message.in_app"], "active": False, "url": "https://x.example"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["message.in_app"]
    assert patched.json()["active"] is False
    bad = admin.patch(path, json={"url": "gopher://x.example"})
    assert (bad.status_code, bad.json()["field"]) == (422, "url")
    assert admin.get(path).json()["url"] == "https://x.example"
    assert admin.patch("/v1/integrations/999999", json={}).status_code == 404


def test_a_test_ping_shows_up_in_the_delivery_log_with_its_attempts(
    admin: TestClient,
    session_factory: sessionmaker[Session],
    worker: Worker,
    webhook_receiver: WebhookReceiver,
) -> None:
    created = _create(admin, webhook_receiver.url)
    webhook_receiver.fail(1)
    sent = admin.post(f"/v1/integrations/{created['id']}/test")
    assert sent.status_code == 202, sent.text
    assert sent.json()["event_type"] == "ping" and sent.json()["status"] == "pending"
    settle(worker, session_factory)

    detail = admin.get(f"/v1/deliveries/{sent.json()['id']}")
    assert detail.status_code == 200
    got = detail.json()
    assert got["status"] == "delivered" and got["attempts"] == 2
    assert [(a["number"], a["status_code"]) for a in got["attempt_log"]] == [(1, 503), (2, 200)]
    assert got["integration_name"] == "marketplace"
    request = webhook_receiver.accepted[0]
    assert got["body"].encode() == request.body
    signing.verify(created["secret"], request.headers["vigil-signature"], request.body)

    listed = admin.get("/v1/deliveries", params={"status": "delivered", "event_type": "ping"})
    assert [d["id"] for d in listed.json()["items"]] == [got["id"]]
    assert admin.get("/v1/deliveries", params={"status": "failed"}).json()["items"] == []
    assert admin.get("/v1/deliveries", params={"status": "lost"}).status_code == 422


def test_redeliver_through_the_api(
    admin: TestClient,
    session_factory: sessionmaker[Session],
    worker: Worker,
    webhook_receiver: WebhookReceiver,
) -> None:
    created = _create(admin, webhook_receiver.url)
    webhook_receiver.fail(100)
    (delivery_id,) = emit(session_factory, "action:1:applied")
    settle(worker, session_factory)
    failed = admin.get("/v1/deliveries", params={"status": "failed"}).json()["items"]
    assert [d["id"] for d in failed] == [delivery_id]
    assert failed[0]["attempts"] == 8 and failed[0]["last_status_code"] == 503

    webhook_receiver.fail(0)
    again = admin.post(f"/v1/deliveries/{delivery_id}/redeliver", json={"reason": "fixed"})
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending"
    settle(worker, session_factory)
    assert admin.get(f"/v1/deliveries/{delivery_id}").json()["status"] == "delivered"
    twice = admin.post(f"/v1/deliveries/{delivery_id}/redeliver")
    assert (twice.status_code, twice.json()["code"]) == (409, "delivery_not_failed")
    assert admin.post("/v1/deliveries/999999/redeliver").status_code == 404
    assert created["id"]


def test_readers_read_and_only_writers_write(
    client: TestClient, db: Session, webhook_receiver: WebhookReceiver
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    agent = make_staff(db, role=Role.agent)
    admin = make_staff(db, role=Role.admin)
    login_as(client, db, admin)
    created = _create(client, webhook_receiver.url)
    logout(client)

    login_as(client, db, lead)
    assert client.get("/v1/integrations").status_code == 200
    assert client.get("/v1/deliveries").status_code == 200
    assert client.post(f"/v1/integrations/{created['id']}/test").status_code == 403
    logout(client)

    login_as(client, db, agent)
    assert client.get("/v1/integrations").status_code == 403
