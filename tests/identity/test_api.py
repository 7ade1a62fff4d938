"""The identity API over HTTP on both databases: multipart upload (with its own body limit),
errors that name the field and store nothing, idempotent resubmission, reading back, images
for staff only (audited), decisions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import auth_header, login_as, make_api_key, make_staff
from tests.identity import imaging
from tests.identity.conftest import NOTHING, blob_files, make_account, stored_counts
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.cases import routing
from vigil.cases import service as cases_service
from vigil.cases.models import CaseType
from vigil.config import Settings
from vigil.identity import service
from vigil.identity.models import IdentityVerification
from vigil.identity.types import Outcome, VerificationStatus


@pytest.fixture
def key(db: Session) -> dict[str, str]:
    make_account(db, "acct-1", locale="pt-BR")
    _, secret = make_api_key(db)
    db.commit()
    return auth_header(secret)


def _files(**parts: bytes | None) -> dict[str, Any]:
    return {
        name: (f"{name}.bin", data, "application/octet-stream")
        for name, data in parts.items()
        if data is not None
    }


def _post(
    client: TestClient,
    headers: dict[str, str],
    *,
    form: dict[str, str] | None = None,
    account: str = "acct-1",
    **parts: bytes | None,
):  # type: ignore[no-untyped-def]
    data = {"kind": "id_card", "issuing_country": "SE"} if form is None else form
    return client.post(
        f"/v1/accounts/{account}/documents", data=data, files=_files(**parts), headers=headers
    )


def test_upload_larger_than_the_global_limit_is_accepted(
    client: TestClient, db: Session, settings: Settings, key: dict[str, str]
) -> None:
    """Three real photos exceed the 1 MB JSON limit: the upload route has its own."""
    grain = np.random.default_rng(5).integers(0, 255, (640, 640, 3), dtype="uint8")
    big = imaging.png(Image.fromarray(grain))  # a lossless scan does not compress
    assert len(big) > settings.max_body_bytes
    noisy = imaging.jpeg(imaging.document_like(seed=9))
    r = _post(client, key, front=big, back=noisy, selfie=noisy)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "pending" and body["account_id"] == "acct-1"
    assert body["kind"] == "id_card" and body["issuing_country"] == "SE"
    assert [i["side"] for i in body["images"]] == ["front", "back", "selfie"]
    assert r.headers["location"] == f"/v1/identity/verifications/{body['id']}"
    assert "blob_key" not in r.text and "fingerprint" not in r.text
    # Other routes keep the global limit.
    r = client.put(
        "/v1/accounts/acct-2",
        content=b"x" * (settings.max_body_bytes + 1),
        headers={**key, "content-type": "application/json"},
    )
    assert r.status_code == 413


def test_upload_over_its_own_limit_is_refused(
    client: TestClient, db: Session, settings: Settings, key: dict[str, str]
) -> None:
    limit = 3 * settings.identity_max_upload_bytes + 64 * 1024
    r = client.post(
        "/v1/accounts/acct-1/documents",
        content=b"x" * (limit + 1),
        headers={**key, "content-type": "multipart/form-data; boundary=abc"},
    )
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert stored_counts(db) == NOTHING


def test_idempotency_key_replays_the_first_verification(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes, back_png: bytes
) -> None:
    headers = {**key, "Idempotency-Key": "doc-upload-1"}
    first = _post(client, headers, front=front_jpeg, back=back_png)
    again = _post(client, headers, front=front_jpeg, back=back_png)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    assert again.headers["idempotent-replayed"] == "true"
    other = _post(client, headers, front=back_png, back=front_jpeg)
    assert other.status_code == 409
    assert (other.json()["code"], other.json()["field"]) == (
        "idempotency_key_reused",
        "Idempotency-Key",
    )
    assert stored_counts(db)["verifications"] == 1


BAD = [
    # (form, parts, status, code, field)
    ({"kind": "library_card"}, {"front": b"img"}, 422, "invalid_field", "kind"),
    ({}, {"front": b"img"}, 422, "missing_field", "kind"),
    (
        {"kind": "passport", "issuing_country": "XX"},
        {"front": b"img"},
        422,
        "invalid_country",
        "issuing_country",
    ),
    (
        {"kind": "passport", "issuing_country": "ABCD"},
        {"front": b"img"},
        422,
        "invalid_field",
        "issuing_country",
    ),
    ({"kind": "passport"}, {}, 422, "missing_field", "front"),
    ({"kind": "passport"}, {"front": b"img", "passport": b"img"}, 422, "unknown_field", "passport"),
    ({"kind": "passport"}, {"front": b""}, 422, "image_empty", "front"),
    (
        {"kind": "passport"},
        {"front": b"img", "back": b"%!PS-Adobe"},
        422,
        "image_unsupported_type",
        "back",
    ),
    (
        {"kind": "passport"},
        {"front": b"img", "selfie": b"\x89PNG\r\n\x1a\nbroken"},
        422,
        "image_corrupt",
        "selfie",
    ),
    (
        {"kind": "passport"},
        {"front": imaging.png_bomb(40_000, 40_000)},
        413,
        "image_too_many_pixels",
        "front",
    ),
]


@pytest.mark.parametrize(("form", "parts", "status", "code", "field"), BAD)
def test_bad_input_names_the_field_and_stores_nothing(
    client: TestClient,
    db: Session,
    settings: Settings,
    key: dict[str, str],
    front_jpeg: bytes,
    form: dict[str, str],
    parts: dict[str, bytes],
    status: int,
    code: str,
    field: str,
) -> None:
    files = {side: (front_jpeg if data == b"img" else data) for side, data in parts.items()}
    r = _post(client, key, form=form, **files)
    assert r.status_code == status, r.text
    assert (r.json()["code"], r.json()["field"]) == (code, field)
    assert stored_counts(db) == NOTHING
    assert blob_files(settings) == []


def test_bad_idempotency_key_and_unknown_account(
    client: TestClient, db: Session, settings: Settings, key: dict[str, str], front_jpeg: bytes
) -> None:
    r = _post(client, {**key, "Idempotency-Key": "a b"}, front=front_jpeg)
    assert (r.status_code, r.json()["field"]) == (422, "Idempotency-Key")
    r = _post(client, key, account="nobody", front=front_jpeg)
    assert (r.status_code, r.json()["code"]) == (404, "account_not_found")
    assert stored_counts(db) == NOTHING and blob_files(settings) == []


def test_permissions(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes
) -> None:
    _, read_only = make_api_key(db, scopes=["identity:read"])
    db.commit()
    r = _post(client, auth_header(read_only), front=front_jpeg)
    assert r.status_code == 403
    vid = _post(client, key, front=front_jpeg).json()["id"]
    assert (
        client.get(f"/v1/identity/verifications/{vid}", headers=auth_header(read_only)).status_code
        == 200
    )
    # API keys see results, never images.
    image_id = client.get(f"/v1/identity/verifications/{vid}", headers=key).json()["images"][0][
        "id"
    ]
    assert client.get(f"/v1/identity/images/{image_id}", headers=key).status_code == 403
    assert (
        client.post(
            f"/v1/identity/verifications/{vid}/decision", headers=key, json={"decision": "approve"}
        ).status_code
        == 403
    )


def test_staff_read_images_audited_and_lists(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes, back_png: bytes
) -> None:
    ids = [
        _post(client, {**key, "Idempotency-Key": f"k{i}"}, front=front_jpeg, back=back_png).json()[
            "id"
        ]
        for i in range(3)
    ]
    page = client.get("/v1/accounts/acct-1/documents?limit=2", headers=key).json()
    assert [v["id"] for v in page["items"]] == [ids[2], ids[1]]
    rest = client.get(f"/v1/accounts/acct-1/documents?cursor={page['next_cursor']}", headers=key)
    assert [v["id"] for v in rest.json()["items"]] == [ids[0]]
    assert (
        client.get("/v1/accounts/acct-1/documents?cursor=zz", headers=key).json()["field"]
        == "cursor"
    )
    pending = client.get("/v1/identity/verifications?status=pending", headers=key).json()
    assert [v["id"] for v in pending["items"]] == ids
    assert client.get("/v1/identity/verifications", headers=key).json()["items"] == []
    assert client.get("/v1/identity/verifications?status=nope", headers=key).status_code == 422
    assert client.get("/v1/identity/verifications/999999", headers=key).json()["code"] == (
        "verification_not_found"
    )

    agent = make_staff(db, role=Role.agent)
    login_as(client, db, agent)
    v = client.get(f"/v1/identity/verifications/{ids[0]}").json()
    back = next(i for i in v["images"] if i["side"] == "back")
    r = client.get(f"/v1/identity/images/{back['id']}?reason=case%207")
    assert r.status_code == 200 and r.content == back_png
    assert r.headers["content-type"] == "image/png" and "no-store" in r.headers["cache-control"]
    reveal = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "identity.image.reveal")
    ).one()
    assert reveal.reason == "case 7" and reveal.actor_id == str(agent.id)
    qa = make_staff(db, role=Role.qa)
    login_as(client, db, qa)
    assert client.get(f"/v1/identity/images/{back['id']}").status_code == 403


def test_decision_over_http(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes
) -> None:
    vid = _post(client, key, front=front_jpeg).json()["id"]
    routing.ensure_default_queues(db)
    v = db.get(IdentityVerification, vid)
    assert v is not None
    case = cases_service.create_case(
        db,
        service.SYSTEM,
        cases_service.NewCase(
            type=CaseType.identity_review, title="Identity review", account_id=v.account_id
        ),
    ).case
    v.status, v.outcome, v.case_id = VerificationStatus.review, Outcome.review, case.id
    db.commit()
    version = client.get(f"/v1/identity/verifications/{vid}", headers=key).json()["version"]
    agent = make_staff(db, role=Role.agent)
    login_as(client, db, agent)
    r = client.post(
        f"/v1/identity/verifications/{vid}/decision", json={"decision": "reject", "reasons": []}
    )
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        422,
        "reasons_required",
        "reasons",
    )
    r = client.post(
        f"/v1/identity/verifications/{vid}/decision",
        json={"decision": "reject", "reasons": ["bogus"]},
    )
    assert r.status_code == 422 and r.json()["field"] == "reasons.0"
    r = client.post(
        f"/v1/identity/verifications/{vid}/decision",
        json={"decision": "reject", "reasons": ["image_glare"], "expected_version": version},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "rejected" and body["decision"] == "reject"
    (reason,) = body["user_reasons"]
    assert reason["code"] == "image_glare" and reason["text"]  # in the account's Portuguese
    r = client.post(f"/v1/identity/verifications/{vid}/decision", json={"decision": "approve"})
    assert (r.status_code, r.json()["code"]) == (409, "verification_not_in_review")
