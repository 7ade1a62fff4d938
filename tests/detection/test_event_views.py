"""What each reader gets of a stored event through ``/v1/events``: the ``identity_verified``
events Vigil records itself carry a document fingerprint and internal findings for the rules;
the marketplace (API keys with ``events:read``) reads only what the identity API would show
it, staff read the fingerprint masked."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.detection.conftest import SYSTEM, event, make_account
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.accounts.masking import mask_token
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.detection import service
from vigil.detection.events import EventIn
from vigil.detection.models import Event

FINGERPRINT = "9f2c4e1ab07d3c58e6f1a2b4c8d0e7f39a1b2c3d4e5f60718293a4b5c6d7e8f9"
DATA: dict[str, Any] = {
    "verification_id": 311,
    "kind": "id_card",
    "outcome": "review",
    "reasons": ["image_blurry", "screening_hit", "document_reused", "mrz_unconfirmed"],
    "document_fingerprint": FINGERPRINT,
    "face_distance": 0.47,
    "document_reused": True,
    "image_reused": False,
    "screening_hit": True,
}


@pytest.fixture
def key(db: Session, settings: Settings) -> dict[str, str]:
    make_account(db, "acct-1")
    recorded = event(
        type="identity_verified", account_id="acct-1", event_id="identity_verification:311",
        data=DATA,
    )  # fmt: skip
    service.ingest(db, settings, EventIn.model_validate(recorded), actor=SYSTEM)
    _, secret = make_api_key(db, scopes=["events:read"])
    db.commit()
    return auth_header(secret)


def test_the_marketplace_reads_no_fingerprint_nor_internal_finding(
    client: TestClient, key: dict[str, str]
) -> None:
    one = client.get("/v1/events/identity_verification:311", headers=key)
    (listed,) = client.get("/v1/events", params={"type": "identity_verified"}, headers=key).json()[
        "items"
    ]
    for body in (one.json(), listed):
        assert body["payload"]["data"] == {
            "verification_id": 311,
            "kind": "id_card",
            "outcome": "review",
            "reasons": ["image_blurry"],  # the one the user may be told
        }
    for secret in (FINGERPRINT, "screening", "document_reused", "face_distance", "mrz_unconf"):
        assert secret not in one.text


def test_staff_read_the_findings_and_the_fingerprint_masked(
    client: TestClient, db: Session, key: dict[str, str]
) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    body = client.get("/v1/events/identity_verification:311").json()
    data = body["payload"]["data"]
    assert data["document_fingerprint"] == mask_token(FINGERPRINT) != FINGERPRINT
    assert FINGERPRINT not in str(body)
    assert data["reasons"] == DATA["reasons"]
    assert (data["screening_hit"], data["document_reused"], data["face_distance"]) == (
        True,
        True,
        0.47,
    )


def test_the_marketplaces_own_events_come_back_as_stored(
    client: TestClient, db: Session, key: dict[str, str]
) -> None:
    sent = event(type="message_sent", account_id="acct-1", ip="203.0.113.50",
                 data={"text": "see you on the call"})  # fmt: skip
    writer = make_api_key(db, scopes=["events:write"])[1]
    db.commit()
    assert client.post("/v1/events", json=sent, headers=auth_header(writer)).status_code == 200
    body = client.get(f"/v1/events/{sent['event_id']}", headers=key).json()
    stored = db.scalars(select(Event).where(Event.event_id == sent["event_id"])).one()
    assert body["payload"] == stored.payload
    assert body["payload"]["data"]["text"] == "see you on the call"
