"""The identity API over HTTP on both databases: multipart upload (with its own body limit),
errors that name the field and store nothing, idempotent resubmission, reading back, images
for staff only (audited), decisions."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import auth_header, login_as, make_api_key, make_staff
from tests.identity import imaging
from tests.identity.conftest import (
    NOTHING,
    SECRETS,
    blob_files,
    give_results,
    make_account,
    stored_counts,
)
from vigil.app import create_app
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.cases import routing
from vigil.cases import service as cases_service
from vigil.cases.models import CaseType
from vigil.config import Settings
from vigil.identity import messages, service
from vigil.identity.models import IdentityVerification
from vigil.identity.types import Outcome, Reason, VerificationStatus


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
    client: TestClient,
    db: Session,
    settings: Settings,
    key: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three real photos exceed the 1 MB JSON limit: the upload route has its own. The parts
    are held in memory: nothing is spooled to a temporary file (plaintext documents in a
    shared folder)."""
    grain = np.random.default_rng(5).integers(0, 255, (640, 640, 3), dtype="uint8")
    big = imaging.png(Image.fromarray(grain))  # a lossless scan does not compress
    assert len(big) > settings.max_body_bytes
    noisy = imaging.jpeg(imaging.document_like(seed=9))
    spooled: list[object] = []
    real_temporary_file = tempfile.TemporaryFile

    def counting_temporary_file(*args: Any, **kwargs: Any) -> Any:
        spooled.append(args)
        return real_temporary_file(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", counting_temporary_file)
    r = _post(client, key, front=big, back=noisy, selfie=noisy)
    assert spooled == []
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
    for query, code in (("", "reason_required"), ("?reason=%20", "reason_required"),
                        (f"?reason={'x' * 501}", "too_long")):  # fmt: skip
        r = client.get(f"/v1/identity/images/{back['id']}{query}")
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, code, "reason")
    r = client.get(f"/v1/identity/images/{back['id']}?reason=case%207")
    assert r.status_code == 200 and r.content == back_png
    assert r.headers["content-type"] == "image/png" and "no-store" in r.headers["cache-control"]
    # One reveal recorded: the refused requests above recorded none.
    reveal = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "identity.image.reveal")
    ).one()
    assert reveal.reason == "case 7" and reveal.actor_id == str(agent.id)
    qa = make_staff(db, role=Role.qa)
    login_as(client, db, qa)
    assert client.get(f"/v1/identity/images/{back['id']}?reason=qa").status_code == 403


def _in_review(db: Session, client: TestClient, key: dict[str, str], front: bytes) -> int:
    """A verification the pipeline sent to review, its case in the Tier 1 identity queue."""
    vid = int(_post(client, key, front=front).json()["id"])
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
    return vid


def test_decision_over_http(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes
) -> None:
    vid = _in_review(db, client, key, front_jpeg)
    version = client.get(f"/v1/identity/verifications/{vid}", headers=key).json()["version"]
    agent = make_staff(db, role=Role.agent)
    login_as(client, db, agent)
    url = f"/v1/identity/verifications/{vid}/decision"
    r = client.post(url, json={"decision": "reject", "reasons": [], "expected_version": version})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        422,
        "reason_required",
        "reasons",
    )
    r = client.post(
        url, json={"decision": "reject", "reasons": ["bogus"], "expected_version": version}
    )
    assert r.status_code == 422 and r.json()["field"] == "reasons.0"
    r = client.post(url, json={"decision": "reject", "reasons": ["image_glare"]})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        422,
        "version_required",
        "expected_version",
    )
    r = client.post(
        f"/v1/identity/verifications/{vid}/decision",
        json={"decision": "reject", "reasons": ["image_glare"], "expected_version": version},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "rejected" and body["decision"] == "reject"
    (reason,) = body["user_reasons"]
    assert reason == {"code": "image_glare", "text": messages.user_text(Reason.image_glare, "pt")}
    r = client.post(url, json={"decision": "approve", "expected_version": body["version"]})
    assert (r.status_code, r.json()["code"]) == (409, "verification_not_in_review")


def test_api_approval_keeps_the_consoles_safeguards(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes
) -> None:
    """The request from the report: an approval with no version and no confirmation of a
    verification whose image was found on another account. Refused until both are given."""
    vid = _in_review(db, client, key, front_jpeg)
    v = db.get(IdentityVerification, vid)
    assert v is not None
    v.checks = [{"name": "image_reuse", "status": "failed", "reason": "image_reused",
                 "evidence": {}, "review_only": False}]  # fmt: skip
    db.commit()
    login_as(client, db, make_staff(db, role=Role.agent))
    url = f"/v1/identity/verifications/{vid}/decision"
    r = client.post(url, json={"decision": "approve"})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        422, "version_required", "expected_version",
    )  # fmt: skip
    version = client.get(f"/v1/identity/verifications/{vid}").json()["version"]
    r = client.post(url, json={"decision": "approve", "expected_version": version})
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        422, "confirmation_required", "confirm",
    )  # fmt: skip
    assert client.get(f"/v1/identity/verifications/{vid}").json()["status"] == "review"
    r = client.post(url, json={"decision": "approve", "expected_version": version,
                               "confirm": True})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"


def test_internal_codes_are_not_rejection_reasons(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes
) -> None:
    vid = _in_review(db, client, key, front_jpeg)
    login_as(client, db, make_staff(db, role=Role.agent))
    url = f"/v1/identity/verifications/{vid}/decision"
    version = client.get(f"/v1/identity/verifications/{vid}").json()["version"]
    r = client.post(url, json={"decision": "reject", "reasons": ["ok", "not_applicable"],
                               "expected_version": version})  # fmt: skip
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        422, "invalid_reason", "reasons.0",
    )  # fmt: skip
    accepted = r.json()["message"].split("one of: ", 1)[1].split(", ")
    assert accepted == [reason.value for reason in service.REJECTION_REASONS]
    assert "ok" not in accepted and "not_applicable" not in accepted
    assert client.get(f"/v1/identity/verifications/{vid}").json()["status"] == "review"


def test_an_escalated_verification_is_for_specialists(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes
) -> None:
    vid = _in_review(db, client, key, front_jpeg)
    agent = make_staff(db, role=Role.agent)
    login_as(client, db, agent)
    (item,) = client.get("/v1/identity/verifications").json()["items"]
    assert (item["id"], item["tier"]) == (vid, "tier1")
    r = client.post(
        f"/v1/identity/verifications/{vid}/decision",
        json={"decision": "escalate", "note": "portrait looks pasted",
              "expected_version": item["version"]},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["tier"] == "specialist"
    assert client.get("/v1/identity/verifications").json()["items"] == []
    r = client.post(
        f"/v1/identity/verifications/{vid}/decision",
        json={"decision": "approve", "expected_version": r.json()["version"]},
    )
    assert (r.status_code, r.json()["code"]) == (403, "cannot_work_tier")
    assert r.json()["message"].endswith("agents cannot work specialist cases")
    login_as(client, db, make_staff(db, role=Role.specialist))
    (item,) = client.get("/v1/identity/verifications").json()["items"]
    assert (item["id"], item["tier"]) == (vid, "specialist")
    # The marketplace sees its user's verification, never the case nor its tier.
    (mine,) = client.get("/v1/identity/verifications", headers=key).json()["items"]
    assert mine["tier"] is None and mine["case_id"] is None


# --- body limits: streamed bodies, and the large limit only with credentials ----------------------

BOUNDARY = "vigil-test-boundary"


def _part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent as a stream (chunked, no Content-Length)."""
    for i in range(0, len(body), size):
        yield body[i : i + size]


@pytest.fixture
def small_client(settings: Settings) -> Iterator[TestClient]:
    """The app with a small image limit (20 kB), so limits are reached with small bodies."""
    small = settings.model_copy(update={"identity_max_upload_bytes": 20_000})
    with TestClient(create_app(small, run_worker=False)) as c:
        yield c


def test_streamed_upload_over_the_limits_without_content_length(
    small_client: TestClient, db: Session, settings: Settings, key: dict[str, str]
) -> None:
    headers = {**key, "content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    url = "/v1/accounts/acct-1/documents"
    # One image over its own limit: refused as it arrives, naming the image.
    body = _part("kind", b"passport") + _part("front", b"\xff" * 30_000, "f.jpg")
    r = small_client.post(url, content=_chunks(body + f"--{BOUNDARY}--\r\n".encode()),
                          headers=headers)  # fmt: skip
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (413, "image_too_large", "front")
    # The whole body over the route's limit (3 x 20 kB + 64 kB), each part within its own.
    body = b"x" * 200_000 + _part("kind", b"passport")  # a preamble the parser skips
    r = small_client.post(url, content=_chunks(body), headers=headers)
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
    assert stored_counts(db) == NOTHING and blob_files(settings) == []


def test_large_body_limit_only_with_credentials(
    client: TestClient, db: Session, settings: Settings, key: dict[str, str]
) -> None:
    """Without an API key or a session cookie the upload route has the global limit: an
    anonymous client cannot make the server take a large body before it is refused."""
    size = settings.max_body_bytes + 1
    url = "/v1/accounts/acct-1/documents"
    form = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    body = b"x" * size
    r = client.post(url, content=body, headers=form)
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
    # Streamed, it is not even read: the route authenticates before it reads the body.
    r = client.post(url, content=_chunks(body), headers=form)
    assert (r.status_code, r.json()["code"]) == (401, "not_authenticated")
    # Credentials raise the limit, and are still checked: a wrong key is 401, unread.
    r = client.post(url, content=body, headers={**form, "Authorization": "Bearer vgl_wrong"})
    assert (r.status_code, r.json()["code"]) == (401, "invalid_api_key")
    client.cookies.set(settings.session_cookie, "not-a-session")
    r = client.post(url, content=body, headers=form)
    assert (r.status_code, r.json()["code"]) == (401, "not_authenticated")
    client.cookies.clear()
    # With a real key the same body reaches the route (and is refused there as malformed).
    r = client.post(url, content=body, headers={**form, **key})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_multipart")
    assert stored_counts(db) == NOTHING


def test_repeated_part_and_non_form_body_are_refused(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes
) -> None:
    headers = {**key, "content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    body = (_part("kind", b"passport") + _part("front", front_jpeg, "a.jpg")
            + _part("front", front_jpeg, "b.jpg") + f"--{BOUNDARY}--\r\n".encode())  # fmt: skip
    r = client.post("/v1/accounts/acct-1/documents", content=body, headers=headers)
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (422, "duplicate_field", "front")
    r = client.post("/v1/accounts/acct-1/documents", json={"kind": "passport"}, headers=key)
    assert (r.status_code, r.json()["code"]) == (422, "multipart_required")
    assert stored_counts(db) == NOTHING


# --- who sees what through the API ---------------------------------------------------------------


def _processed(db: Session, client: TestClient, key: dict[str, str], front: bytes) -> int:
    vid = int(_post(client, key, front=front).json()["id"])
    v = db.get(IdentityVerification, vid)
    assert v is not None
    give_results(v)
    v.status, v.outcome = VerificationStatus.review, Outcome.review
    db.commit()
    return vid


def test_qa_and_policy_leads_see_personal_data_masked(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes
) -> None:
    """QA and policy leads hold identity:read but not pii:reveal: through the API, as in the
    console, the fields read and the checks' evidence come masked, one verification or a
    list, and every view is audited."""
    vid = _processed(db, client, key, front_jpeg)
    for role in (Role.qa, Role.policy_lead):
        login_as(client, db, make_staff(db, role=role))
        answers = [
            client.get(f"/v1/identity/verifications/{vid}"),
            client.get("/v1/identity/verifications?status=review"),
            client.get("/v1/accounts/acct-1/documents"),
        ]
        for r in answers:
            assert r.status_code == 200, r.text
            for secret in SECRETS:
                assert secret not in r.text, (role, r.url, secret)
        one = answers[0].json()
        assert one["fields"]["document"]["surname"] == "E***"
        assert one["fields"]["mrz"]["lines"] == ["hidden"] * 3
        assert one["checks"][1]["evidence"]["hits"][0]["score"] == 88.0
        assert one["reasons"] == ["screening_possible_hit", "image_blurry"]
    actions = [
        r.action
        for r in db.scalars(
            select(AuditRecord).where(AuditRecord.action.like("identity.verification.%"))
        )
    ]
    assert actions.count("identity.verification.view") == 2
    assert actions.count("identity.verification.list") == 4
    # An agent (pii:reveal) sees the document as read after an audited reveal with a reason.
    login_as(client, db, make_staff(db, role=Role.agent))
    assert "D23145890" not in client.get(f"/v1/identity/verifications/{vid}").text
    full = client.get(f"/v1/identity/verifications/{vid}?reveal=true&reason=case+12").text
    assert "ERIKSSON" in full and "D23145890" in full and "I<SWE" in full


def test_api_keys_get_the_marketplace_view(
    client: TestClient, db: Session, key: dict[str, str], front_jpeg: bytes
) -> None:
    vid = _processed(db, client, key, front_jpeg)
    body = client.get(f"/v1/identity/verifications/{vid}", headers=key).json()
    assert body["reasons"] == ["image_blurry"]  # screening_possible_hit stays with staff
    assert body["checks"] == [] and body["case_id"] is None and body["face_distance"] is None
    assert body["fields"]["document"]["document_number"] == "D23145890"
    assert body["user_reasons"] == [
        {"code": "image_blurry", "text": messages.user_text(Reason.image_blurry, "pt")}
    ]
    listed = client.get("/v1/identity/verifications?status=review", headers=key).json()
    assert listed["items"][0]["checks"] == [] and "screening" not in str(listed)
