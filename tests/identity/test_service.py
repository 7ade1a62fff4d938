"""The identity service on both databases: intake (validation before any write, encrypted
storage, the job, idempotency), reading back, revealing images and a person's decision."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.factories import make_staff
from tests.identity import imaging
from tests.identity.conftest import NOTHING, blob_files, make_account, staff, stored_counts
from vigil.accounts.models import Account
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases import service as cases_service
from vigil.cases.models import Case, CaseStatus, CaseType, Resolution
from vigil.cli import app
from vigil.config import Settings
from vigil.db import transaction
from vigil.identity import service
from vigil.identity.models import IdentityImage, IdentityVerification
from vigil.identity.types import DocumentKind, ImageSide, Outcome, Reason, VerificationStatus
from vigil.integrations import service as integrations
from vigil.integrations.models import WebhookDelivery
from vigil.jobs.models import Job
from vigil.kit.blobs import BlobError, BlobStore, new_key, parse_keys
from vigil.kit.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooLarge,
    VersionConflict,
    VigilError,
)


def _submit(db: Session, settings: Settings, actor: Principal, images: dict, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("account_external_id", "acct-1")
    kw.setdefault("kind", DocumentKind.id_card)
    kw.setdefault("issuing_country", "SE")
    return service.submit(db, actor, images=images, settings=settings, **kw)


def _audit(db: Session, prefix: str = "identity.") -> list[AuditRecord]:
    return list(
        db.scalars(
            select(AuditRecord)
            .where(AuditRecord.action.startswith(prefix))
            .order_by(AuditRecord.id)
        )
    )


# --- intake ------------------------------------------------------------------------------------


def test_submit_stores_encrypted_images_and_enqueues(
    db: Session,
    settings: Settings,
    marketplace: Principal,
    account: Account,
    front_jpeg: bytes,
    back_png: bytes,
    selfie_jpeg: bytes,
) -> None:
    images = {ImageSide.front: front_jpeg, ImageSide.back: back_png, ImageSide.selfie: selfie_jpeg}
    v = _submit(db, settings, marketplace, images, issuing_country="swe")
    db.commit()
    assert v.status is VerificationStatus.pending and v.outcome is None
    assert v.account_id == account.id and v.issuing_country == "SWE"
    rows = {r.side: r for r in service.images_of(db, v.id)}
    assert set(rows) == {ImageSide.front, ImageSide.back, ImageSide.selfie}
    assert rows[ImageSide.front].media_type == "image/jpeg"
    assert rows[ImageSide.back].media_type == "image/png"
    assert (rows[ImageSide.front].width, rows[ImageSide.front].height) == (1200, 760)
    store = service.blob_store(settings)
    for side, row in rows.items():
        on_disk = store.path_of(row.blob_key).read_bytes()
        assert images[side] not in on_disk and images[side][:64] not in on_disk
        assert store.get(row.blob_key) == images[side]
    assert len(blob_files(settings)) == 3
    job = db.scalar(select(Job).where(Job.kind == service.PROCESS_JOB))
    assert job is not None and job.payload == {"verification_id": v.id}
    assert job.max_attempts == service.PROCESS_ATTEMPTS
    (record,) = _audit(db)
    assert record.action == "identity.verification.submit"
    assert record.data["sides"] == ["front", "back", "selfie"]


def test_front_only_is_enough_for_intake(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    v = _submit(
        db,
        settings,
        marketplace,
        {ImageSide.front: front_jpeg},
        kind="passport",
        issuing_country=None,
    )
    assert v.kind is DocumentKind.passport and v.issuing_country is None
    assert [r.side for r in service.images_of(db, v.id)] == [ImageSide.front]


def test_every_accepted_format(
    db: Session, settings: Settings, marketplace: Principal, account: Account
) -> None:
    card = imaging.document_like(seed=4)
    for i, (fmt, media) in enumerate(
        [("webp", "image/webp"), ("heic", "image/heic"), ("pdf", "application/pdf")]
    ):
        v = _submit(
            db,
            settings,
            marketplace,
            {ImageSide.front: imaging.encode(card, fmt)},
            idempotency_key=f"k{i}",
        )
        (row,) = service.images_of(db, v.id)
        assert row.media_type == media


BAD_IMAGES = {
    "image_empty": (b"", InvalidInput),
    "image_unsupported_type": (b"GIF89a" + b"\x00" * 100, InvalidInput),
    "image_corrupt": (b"\xff\xd8\xff\xe0" + b"\x00" * 200, InvalidInput),
    "image_too_many_pixels": (imaging.png_bomb(30_000, 30_000), TooLarge),
}


@pytest.mark.parametrize("side", [ImageSide.front, ImageSide.back, ImageSide.selfie])
@pytest.mark.parametrize("code", sorted(BAD_IMAGES))
def test_a_bad_image_names_its_field_and_stores_nothing(
    db: Session,
    settings: Settings,
    marketplace: Principal,
    account: Account,
    front_jpeg: bytes,
    back_png: bytes,
    selfie_jpeg: bytes,
    side: ImageSide,
    code: str,
) -> None:
    data, error = BAD_IMAGES[code]
    images = {ImageSide.front: front_jpeg, ImageSide.back: back_png, ImageSide.selfie: selfie_jpeg}
    images[side] = data
    with pytest.raises(error) as info:
        _submit(db, settings, marketplace, images)
    assert info.value.code == code and info.value.field == side.value
    db.rollback()
    assert stored_counts(db) == NOTHING
    assert blob_files(settings) == []


def test_image_over_the_byte_limit(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    small = settings.model_copy(update={"identity_max_upload_bytes": len(front_jpeg) - 1})
    with pytest.raises(TooLarge) as info:
        _submit(db, small, marketplace, {ImageSide.front: front_jpeg})
    assert (info.value.code, info.value.field, info.value.status_code) == (
        "image_too_large",
        "front",
        413,
    )
    assert blob_files(settings) == []


@pytest.mark.parametrize(
    ("change", "field", "code", "error"),
    [
        ({"kind": "library_card"}, "kind", "invalid_kind", InvalidInput),
        ({"issuing_country": "XX"}, "issuing_country", "invalid_country", InvalidInput),
        ({"issuing_country": "QQQ"}, "issuing_country", "invalid_country", InvalidInput),
        (
            {"idempotency_key": "has space"},
            "Idempotency-Key",
            "invalid_idempotency_key",
            InvalidInput,
        ),
        (
            {"idempotency_key": "x" * 201},
            "Idempotency-Key",
            "invalid_idempotency_key",
            InvalidInput,
        ),
        ({"images": {}}, "front", "missing_field", InvalidInput),
        ({"images": {"back": b"x"}}, "front", "missing_field", InvalidInput),
        ({"account_external_id": "nobody"}, None, "account_not_found", NotFound),
    ],
)
def test_bad_fields_refused_before_anything_is_stored(
    db: Session,
    settings: Settings,
    marketplace: Principal,
    account: Account,
    front_jpeg: bytes,
    change: dict,
    field: str | None,
    code: str,
    error: type[VigilError],
) -> None:
    kw = {"images": {ImageSide.front: front_jpeg}, **change}
    images = kw.pop("images")
    with pytest.raises(error) as info:
        _submit(db, settings, marketplace, images, **kw)
    assert info.value.code == code and info.value.field == field
    db.rollback()
    assert stored_counts(db) == NOTHING
    assert blob_files(settings) == []


def test_submit_needs_identity_write(
    db: Session, settings: Settings, account: Account, front_jpeg: bytes
) -> None:
    reader = Principal.api_key(2, "read only", frozenset())
    with pytest.raises(PermissionDenied):
        _submit(db, settings, reader, {ImageSide.front: front_jpeg})
    assert blob_files(settings) == []


def test_rolled_back_transaction_removes_its_blob_files(
    session_factory: sessionmaker[Session],
    settings: Settings,
    marketplace: Principal,
    front_jpeg: bytes,
) -> None:
    with transaction(session_factory) as s:
        make_account(s)
    with pytest.raises(RuntimeError), transaction(session_factory) as s:
        _submit(s, settings, marketplace, {ImageSide.front: front_jpeg})
        assert len(blob_files(settings)) == 1
        raise RuntimeError("the request failed after the images were stored")
    assert blob_files(settings) == []
    # A committed one keeps its file.
    with transaction(session_factory) as s:
        _submit(s, settings, marketplace, {ImageSide.front: front_jpeg})
    assert len(blob_files(settings)) == 1


def test_idempotent_resubmission(
    db: Session,
    settings: Settings,
    marketplace: Principal,
    account: Account,
    front_jpeg: bytes,
    back_png: bytes,
) -> None:
    images = {ImageSide.front: front_jpeg, ImageSide.back: back_png}
    first = _submit(db, settings, marketplace, images, idempotency_key="upload-77")
    db.commit()
    again = _submit(db, settings, marketplace, dict(images), idempotency_key="upload-77")
    assert again.id == first.id and again.replayed is True
    assert len(blob_files(settings)) == 2
    assert stored_counts(db)["verifications"] == 1 and stored_counts(db)["jobs"] == 1
    with pytest.raises(Conflict) as info:
        _submit(db, settings, marketplace, {ImageSide.front: back_png}, idempotency_key="upload-77")
    assert (info.value.code, info.value.field) == ("idempotency_key_reused", "Idempotency-Key")
    db.rollback()
    # Same key on another account is another submission.
    make_account(db, "acct-2")
    other = _submit(
        db, settings, marketplace, images, idempotency_key="upload-77", account_external_id="acct-2"
    )
    assert other.id != first.id
    # Without a key, the same images make a new verification.
    assert _submit(db, settings, marketplace, images).id not in (first.id, other.id)


# --- reading -----------------------------------------------------------------------------------


def _pending(db: Session, settings: Settings, actor: Principal, front: bytes, n: int) -> list[int]:
    return [
        _submit(db, settings, actor, {ImageSide.front: front}, idempotency_key=f"n{i}").id
        for i in range(n)
    ]


def test_get_and_lists_page_by_keyset(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    ids = _pending(db, settings, marketplace, front_jpeg, 5)
    assert service.get(db, marketplace, ids[0]).id == ids[0]
    with pytest.raises(NotFound) as info:
        service.get(db, marketplace, 999_999)
    assert info.value.code == "verification_not_found"

    seen, cursor = [], None
    while True:
        page, cursor = service.list_for_account(db, marketplace, "acct-1", cursor=cursor, limit=2)
        seen += [v.id for v in page]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)

    for vid in ids[1:4]:
        db.get(IdentityVerification, vid).status = VerificationStatus.review  # type: ignore[union-attr]
    db.flush()
    page, cursor = service.list_reviews(db, marketplace, limit=2)
    assert [v.id for v in page] == ids[1:3] and cursor is not None
    page, cursor = service.list_reviews(db, marketplace, cursor=cursor, limit=2)
    assert [v.id for v in page] == [ids[3]] and cursor is None
    pending, _ = service.list_reviews(db, marketplace, status=VerificationStatus.pending)
    assert [v.id for v in pending] == [ids[0], ids[4]]
    with pytest.raises(InvalidInput) as bad:
        service.list_reviews(db, marketplace, cursor="not-a-cursor")
    assert bad.value.field == "cursor"


def test_staff_views_are_audited_api_keys_are_not(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    (vid,) = _pending(db, settings, marketplace, front_jpeg, 1)
    service.get(db, marketplace, vid)
    assert [r.action for r in _audit(db)] == ["identity.verification.submit"]
    service.get(db, staff(Role.qa), vid)
    assert _audit(db)[-1].action == "identity.verification.view"


def test_images_only_with_identity_images_and_every_reveal_audited(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    (vid,) = _pending(db, settings, marketplace, front_jpeg, 1)
    (row,) = service.images_of(db, vid)
    for who in (marketplace, staff(Role.qa), staff(Role.policy_lead)):
        with pytest.raises(PermissionDenied):
            service.image(db, who, row.id, settings=settings)
    agent = staff(Role.agent)
    data, media = service.image(db, agent, row.id, reason="case 12", settings=settings)
    assert (data, media) == (front_jpeg, "image/jpeg")
    reveal = _audit(db)[-1]
    assert reveal.action == "identity.image.reveal" and reveal.reason == "case 12"
    assert reveal.data == {"verification_id": vid, "side": "front"}
    with pytest.raises(NotFound):
        service.image(db, agent, 424242, settings=settings)


def test_image_sealed_with_another_key_is_not_served(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    (vid,) = _pending(db, settings, marketplace, front_jpeg, 1)
    (row,) = service.images_of(db, vid)
    other = settings.model_copy(update={"blob_key": SecretStr(new_key())})
    with pytest.raises(NotFound) as info:
        service.image(db, staff(Role.agent), row.id, settings=other)
    assert info.value.code == "image_unavailable"


# --- decisions ----------------------------------------------------------------------------------


@pytest.fixture
def in_review(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> IdentityVerification:
    """A verification the pipeline sent to review, with its case in the identity queue."""
    routing.ensure_default_queues(db)
    v = _submit(db, settings, marketplace, {ImageSide.front: front_jpeg})
    v.status = VerificationStatus.review
    v.outcome = Outcome.review
    v.reasons = [Reason.mrz_unconfirmed.value]
    case = cases_service.create_case(
        db,
        service.SYSTEM,
        cases_service.NewCase(
            type=CaseType.identity_review, title="Identity review", account_id=account.id
        ),
    ).case
    v.case_id = case.id
    db.flush()
    return v


def test_approve_closes_the_case_and_notifies(
    db: Session, settings: Settings, in_review: IdentityVerification, webhook_receiver
) -> None:  # type: ignore[no-untyped-def]
    integrations.create_integration(
        db, service.SYSTEM, name="m", url=webhook_receiver.url, event_types=[service.WEBHOOK_EVENT]
    )
    user = make_staff(db, role=Role.agent)
    agent = Principal.staff(user.id, user.name, Role.agent)
    v = service.decide(
        db,
        agent,
        in_review.id,
        decision="approve",
        note="looks right",
        expected_version=in_review.version,
    )
    assert v.status is VerificationStatus.approved and v.outcome is Outcome.approve
    assert v.decided_by_id == user.id and v.decision == "approve"
    case = db.get(Case, v.case_id)
    assert case.status == CaseStatus.closed and case.resolution == Resolution.no_violation  # type: ignore[union-attr]
    closed = _audit(db, "cases.case.close")[-1]
    assert closed.target_id == str(case.id) and closed.actor_id == str(user.id)  # type: ignore[union-attr]
    (delivery,) = db.scalars(select(WebhookDelivery)).all()
    assert delivery.event_type == "identity.verification.completed"
    assert '"outcome":"approve"' in delivery.body and '"decided_by":"person"' in delivery.body
    assert _audit(db)[-1].action == "identity.verification.approve"
    with pytest.raises(IllegalTransition) as info:
        service.decide(db, agent, v.id, decision="reject", reasons=[Reason.image_blurry])
    assert info.value.code == "verification_not_in_review"


def test_reject_needs_reasons_and_tells_them_in_the_users_language(
    db: Session, settings: Settings, in_review: IdentityVerification, account: Account
) -> None:
    account.locale = "es"
    db.flush()
    user = make_staff(db, role=Role.agent)
    agent = Principal.staff(user.id, user.name, Role.agent)
    with pytest.raises(InvalidInput) as info:
        service.decide(db, agent, in_review.id, decision="reject")
    assert (info.value.field, info.value.code) == ("reasons", "reasons_required")
    with pytest.raises(InvalidInput) as info:
        service.decide(db, agent, in_review.id, decision="reject", reasons=["nope"])
    assert info.value.field == "reasons.0"
    with pytest.raises(VersionConflict):
        service.decide(
            db,
            agent,
            in_review.id,
            decision="reject",
            reasons=[Reason.image_blurry],
            expected_version=99,
        )
    v = service.decide(db, agent, in_review.id, decision="reject", reasons=[Reason.image_blurry])
    assert v.status is VerificationStatus.rejected and v.user_reasons == ["image_blurry"]
    out = service.describe(db, v)
    (reason,) = out.user_reasons
    assert reason.code is Reason.image_blurry and reason.text
    assert reason.text != service.messages.user_text(Reason.image_blurry, "en")
    assert db.get(Case, v.case_id).resolution == Resolution.actioned  # type: ignore[union-attr]


def test_escalate_moves_the_case_up_and_keeps_the_review(
    db: Session, in_review: IdentityVerification
) -> None:
    user = make_staff(db, role=Role.agent)
    agent = Principal.staff(user.id, user.name, Role.agent)
    with pytest.raises(InvalidInput) as info:
        service.decide(db, agent, in_review.id, decision="escalate")
    assert info.value.code == "note_required"
    v = service.decide(db, agent, in_review.id, decision="escalate", note="possible forgery")
    assert v.status is VerificationStatus.review and v.decision == "escalate"
    case = db.get(Case, v.case_id)
    assert case.tier == "specialist" and case.status == CaseStatus.open  # type: ignore[union-attr]


def test_decide_needs_identity_decide(db: Session, in_review: IdentityVerification) -> None:
    for role in (Role.qa, Role.policy_lead):
        with pytest.raises(PermissionDenied):
            service.decide(db, staff(role), in_review.id, decision="approve")
    with pytest.raises(InvalidInput) as info:
        service.decide(db, staff(Role.agent), in_review.id, decision="maybe")
    assert info.value.field == "decision"


def test_created_at_is_the_clock(
    db: Session,
    settings: Settings,
    marketplace: Principal,
    account: Account,
    front_jpeg: bytes,
    frozen,
) -> None:  # type: ignore[no-untyped-def]
    v = _submit(db, settings, marketplace, {ImageSide.front: front_jpeg})
    assert v.created_at == frozen.advance(timedelta(0))
    assert db.get(IdentityImage, service.images_of(db, v.id)[0].id) is not None


# --- the command line ---------------------------------------------------------------------------


def test_cli_submit_show_list_and_key_rotation(
    db: Session,
    settings: Settings,
    account: Account,
    front_jpeg: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db.commit()
    old = new_key()
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VIGIL_BLOB_KEY", old)
    runner = CliRunner()
    front = tmp_path / "front.jpg"
    front.write_bytes(front_jpeg)
    r = runner.invoke(app, ["identity", "submit", "acct-1", str(front), "--kind", "passport"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert shown["status"] == "pending" and shown["images"][0]["media_type"] == "image/jpeg"
    r = runner.invoke(app, ["identity", "show", str(shown["id"])])
    assert json.loads(r.output)["id"] == shown["id"]
    r = runner.invoke(app, ["identity", "list", "--status", "pending"])
    assert r.output.startswith(f"{shown['id']}\tpassport\tpending")
    r = runner.invoke(app, ["identity", "submit", "nobody", str(front), "--kind", "passport"])
    assert r.exit_code == 1 and "no account" in r.output

    # Rotation: a new key first, the old one after it; re-seal; then the old key can go.
    fresh = runner.invoke(app, ["identity", "new-key"]).output.strip()
    assert len(parse_keys(fresh)[0]) == 32
    monkeypatch.setenv("VIGIL_BLOB_KEY", f"{fresh},{old}")
    r = runner.invoke(app, ["identity", "reseal"])
    assert r.exit_code == 0 and "re-sealed 1 image(s)" in r.output, r.output
    (row,) = service.images_of(db, shown["id"])
    only_new = BlobStore(settings.blob_path, parse_keys(fresh))
    assert only_new.get(row.blob_key) == front_jpeg
    with pytest.raises(BlobError):
        BlobStore(settings.blob_path, parse_keys(old)).get(row.blob_key)
