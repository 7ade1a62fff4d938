"""The identity service on both databases: intake (validation before any write, encrypted
storage, the job, idempotency), reading back, revealing images and a person's decision."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.factories import make_staff
from tests.identity import imaging
from tests.identity.conftest import (
    NOTHING,
    SECRETS,
    blob_files,
    give_results,
    make_account,
    staff,
    stored_counts,
)
from vigil.accounts.models import Account
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases import service as cases_service
from vigil.cases.models import Case, CaseStatus, CaseType, Resolution
from vigil.cli import app
from vigil.config import Settings
from vigil.db import transaction
from vigil.identity import masking, service
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
            service.image(db, who, row.id, reason="case 12", settings=settings)
    agent = staff(Role.agent)
    # A reveal needs a reason, kept in the audit record: none, blank or too long is refused
    # and nothing is recorded.
    for reason, code in ((None, "reason_required"), ("  ", "reason_required"),
                         ("x" * 501, "too_long")):  # fmt: skip
        with pytest.raises(InvalidInput) as refused:
            service.image(db, agent, row.id, reason=reason, settings=settings)
        assert (refused.value.code, refused.value.field) == (code, "reason")
    assert [r.action for r in _audit(db, "identity.image.")] == []
    data, media = service.image(db, agent, row.id, reason="case 12", settings=settings)
    assert (data, media) == (front_jpeg, "image/jpeg")
    reveal = _audit(db)[-1]
    assert reveal.action == "identity.image.reveal" and reveal.reason == "case 12"
    assert reveal.data == {"verification_id": vid, "side": "front"}
    with pytest.raises(NotFound):
        service.image(db, agent, 424242, reason="case 12", settings=settings)


def test_image_sealed_with_another_key_is_not_served(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    (vid,) = _pending(db, settings, marketplace, front_jpeg, 1)
    (row,) = service.images_of(db, vid)
    other = settings.model_copy(update={"blob_key": SecretStr(new_key())})
    with pytest.raises(NotFound) as info:
        service.image(db, staff(Role.agent), row.id, reason="case 12", settings=other)
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
        service.decide(
            db, agent, v.id, decision="reject", reasons=[Reason.image_blurry],
            expected_version=v.version,
        )  # fmt: skip
    assert info.value.code == "verification_not_in_review"


def test_reject_needs_reasons_and_tells_them_in_the_users_language(
    db: Session, settings: Settings, in_review: IdentityVerification, account: Account
) -> None:
    account.locale = "es"
    db.flush()
    user = make_staff(db, role=Role.agent)
    agent = Principal.staff(user.id, user.name, Role.agent)
    version = in_review.version
    with pytest.raises(InvalidInput) as info:
        service.decide(db, agent, in_review.id, decision="reject", expected_version=version)
    assert (info.value.field, info.value.code) == ("reasons", "reason_required")
    with pytest.raises(InvalidInput) as info:
        service.decide(
            db, agent, in_review.id, decision="reject", reasons=["nope"], expected_version=version
        )
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
    v = service.decide(
        db, agent, in_review.id, decision="reject", reasons=[Reason.image_blurry],
        expected_version=version,
    )  # fmt: skip
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
    version = in_review.version
    with pytest.raises(InvalidInput) as info:
        service.decide(db, agent, in_review.id, decision="escalate", expected_version=version)
    assert info.value.code == "note_required"
    v = service.decide(
        db, agent, in_review.id, decision="escalate", note="possible forgery",
        expected_version=version,
    )  # fmt: skip
    assert v.status is VerificationStatus.review and v.decision == "escalate"
    case = db.get(Case, v.case_id)
    assert case.tier == "specialist" and case.status == CaseStatus.open  # type: ignore[union-attr]


def test_decide_needs_identity_decide(db: Session, in_review: IdentityVerification) -> None:
    for role in (Role.qa, Role.policy_lead):
        with pytest.raises(PermissionDenied):
            service.decide(db, staff(role), in_review.id, decision="approve", expected_version=1)
    with pytest.raises(InvalidInput) as info:
        service.decide(db, staff(Role.agent), in_review.id, decision="maybe", expected_version=1)
    assert info.value.field == "decision"


def _person(db: Session, role: Role = Role.agent) -> Principal:
    user = make_staff(db, role=role)
    return Principal.staff(user.id, user.name, role)


def test_a_decision_needs_the_version_the_reviewer_saw(
    db: Session, in_review: IdentityVerification
) -> None:
    with pytest.raises(InvalidInput) as info:
        service.decide(db, _person(db), in_review.id, decision="approve")
    assert (info.value.code, info.value.field) == ("version_required", "expected_version")
    assert db.get(IdentityVerification, in_review.id).status is VerificationStatus.review  # type: ignore[union-attr]
    assert _audit(db, "identity.verification.approve") == []


REUSED_IMAGE = {
    "name": "image_reuse", "status": "failed", "reason": "image_reused", "review_only": False,
    "evidence": {"matches": [{"account_external_id": "acct-9", "distance": 2}]},
}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "attention"),
    [("failed", "some checks failed"), ("warning", "some checks need a look"),
     ("passed", None), ("skipped", None)],
)  # fmt: skip
def test_approval_attention(status: str, attention: str | None) -> None:
    checks = [{**REUSED_IMAGE, "status": "passed"}, {**REUSED_IMAGE, "status": status}]
    assert service.approval_attention(checks) == attention
    assert service.approval_attention([]) is None


def test_approving_past_a_failed_check_needs_a_confirmation(
    db: Session, in_review: IdentityVerification
) -> None:
    in_review.checks = [REUSED_IMAGE]
    db.flush()
    agent = _person(db)
    with pytest.raises(InvalidInput) as info:
        service.decide(
            db, agent, in_review.id, decision="approve", expected_version=in_review.version
        )
    assert (info.value.code, info.value.field) == ("confirmation_required", "confirm")
    assert info.value.message == "some checks failed: confirm that you approve anyway"
    assert db.get(Case, in_review.case_id).status == CaseStatus.open  # type: ignore[union-attr]
    assert in_review.status is VerificationStatus.review
    # Confirmed, the approval goes through.
    v = service.decide(
        db, agent, in_review.id, decision="approve", expected_version=in_review.version,
        confirm=True,
    )  # fmt: skip
    assert v.status is VerificationStatus.approved


@pytest.mark.parametrize(
    "bad", ["ok", "not_applicable", "mrz_unconfirmed", "screening_possible_hit", "nope"]
)
def test_only_grounds_for_rejection_are_accepted_as_reasons(
    db: Session, in_review: IdentityVerification, bad: str
) -> None:
    agent = _person(db)
    with pytest.raises(InvalidInput) as info:
        service.decide(
            db, agent, in_review.id, decision="reject", reasons=["image_blurry", bad],
            expected_version=in_review.version,
        )  # fmt: skip
    assert (info.value.code, info.value.field) == ("invalid_reason", "reasons.1")
    listed = info.value.message.split("one of: ", 1)[1].split(", ")
    assert listed == [r.value for r in service.REJECTION_REASONS]
    assert {r.value for r in service.messages.USER_REASONS} <= set(listed)
    assert {"document_reused", "image_reused", "screening_hit", "editing_suspected"} <= set(listed)
    assert not {"ok", "not_applicable", "mrz_unconfirmed"} & set(listed)
    assert in_review.status is VerificationStatus.review
    v = service.decide(
        db, agent, in_review.id, decision="reject", reasons=["image_reused"],
        expected_version=in_review.version,
    )  # fmt: skip
    assert v.status is VerificationStatus.rejected and v.user_reasons == ["image_reused"]


def test_an_escalated_verification_leaves_the_tier1_list(
    db: Session, in_review: IdentityVerification, marketplace: Principal
) -> None:
    agent, specialist = _person(db, Role.agent), _person(db, Role.specialist)
    legal, admin = _person(db, Role.legal), _person(db, Role.admin)

    def listed(who: Principal) -> list[int]:
        return [v.id for v in service.list_reviews(db, who)[0]]

    assert listed(agent) == listed(specialist) == [in_review.id]
    (shown,) = service.describe_many(db, [in_review], actor=agent)
    assert shown.tier is Tier.tier1
    service.decide(
        db, agent, in_review.id, decision="escalate", note="the portrait looks pasted",
        expected_version=in_review.version,
    )  # fmt: skip
    assert listed(agent) == []
    for who in (specialist, legal, admin, staff(Role.qa), marketplace):
        assert listed(who) == [in_review.id]
    (shown,) = service.describe_many(db, [in_review], actor=specialist)
    assert shown.tier is Tier.specialist
    assert service.describe(db, in_review, actor=marketplace).tier is None  # not for API keys
    with pytest.raises(PermissionDenied) as info:
        service.decide(
            db, agent, in_review.id, decision="approve", expected_version=in_review.version
        )
    assert info.value.code == "cannot_work_tier"
    assert info.value.message == (
        "this verification's case was moved to the specialist tier, and agents cannot work "
        "specialist cases"
    )
    # Up to legal: only legal and admins see it (QA does not see legal cases at all).
    service.decide(
        db, specialist, in_review.id, decision="escalate", note="for legal",
        expected_version=in_review.version,
    )  # fmt: skip
    for who in (agent, specialist, staff(Role.qa)):
        assert listed(who) == []
    assert listed(legal) == listed(admin) == [in_review.id]
    v = service.decide(
        db, legal, in_review.id, decision="approve", expected_version=in_review.version
    )
    assert v.status is VerificationStatus.approved


def test_the_review_list_is_oldest_submission_first(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    ids = _pending(db, settings, marketplace, front_jpeg, 4)
    base = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    # Submission times out of id order, two of them at the same instant.
    submitted = {ids[0]: base + timedelta(hours=3), ids[1]: base,
                 ids[2]: base + timedelta(hours=1), ids[3]: base + timedelta(hours=1)}  # fmt: skip
    for vid, at in submitted.items():
        db.get(IdentityVerification, vid).created_at = at  # type: ignore[union-attr]
    db.flush()
    seen: list[int] = []
    cursor = None
    while True:
        page, cursor = service.list_reviews(
            db, marketplace, status=VerificationStatus.pending, cursor=cursor, limit=1
        )
        seen += [v.id for v in page]
        if cursor is None:
            break
    assert seen == [ids[1], ids[2], ids[3], ids[0]]
    indexes = inspect(db.connection()).get_indexes("identity_verifications")
    assert ["status", "created_at", "id"] in [ix["column_names"] for ix in indexes]


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


# --- images prepared before the transaction -------------------------------------------------------


def test_prepared_images_belong_to_the_transaction_that_adopts_them(
    session_factory: sessionmaker[Session],
    settings: Settings,
    marketplace: Principal,
    front_jpeg: bytes,
    back_png: bytes,
) -> None:
    with transaction(session_factory) as s:
        make_account(s)
    images = {ImageSide.front: front_jpeg, ImageSide.back: back_png}
    # Prepared outside any transaction: files written, no row yet.
    prepared = service.prepare_images(settings, images)
    assert len(blob_files(settings)) == 2
    assert {i.side for i in prepared.images.values()} == set(images)
    # A transaction that adopts them and then fails takes the files with it.
    with pytest.raises(RuntimeError), transaction(session_factory) as s:
        service.submit(
            s, marketplace, account_external_id="acct-1", kind="id_card",
            issuing_country="SE", images=prepared, settings=settings,
        )  # fmt: skip
        raise RuntimeError("the request failed after the rows were written")
    assert blob_files(settings) == []
    # So does a refusal inside submit (unknown account): nothing is left.
    prepared = service.prepare_images(settings, images)
    with pytest.raises(NotFound), transaction(session_factory) as s:
        service.submit(
            s, marketplace, account_external_id="nobody", kind="id_card",
            issuing_country="SE", images=prepared, settings=settings,
        )  # fmt: skip
    assert blob_files(settings) == []
    # Committed: kept, and readable as the rows say.
    with transaction(session_factory) as s:
        first = service.submit(
            s, marketplace, account_external_id="acct-1", kind="id_card", issuing_country="SE",
            images=service.prepare_images(settings, images), idempotency_key="p-1",
            settings=settings,
        )  # fmt: skip
        first_id = first.id
    assert len(blob_files(settings)) == 2
    # A replay's freshly prepared files are not kept: the first submission's serve it.
    with transaction(session_factory) as s:
        again = service.submit(
            s, marketplace, account_external_id="acct-1", kind="id_card", issuing_country="SE",
            images=service.prepare_images(settings, images), idempotency_key="p-1",
            settings=settings,
        )  # fmt: skip
        assert again.id == first_id and again.replayed is True
    assert len(blob_files(settings)) == 2
    with session_factory() as s:
        store = service.blob_store(settings)
        rows = service.images_of(s, first_id)
        assert [store.get(r.blob_key) for r in rows] == [front_jpeg, back_png]


def test_prepare_refuses_a_bad_image_and_writes_nothing(
    settings: Settings, front_jpeg: bytes
) -> None:
    with pytest.raises(InvalidInput) as info:
        service.prepare_images(
            settings, {ImageSide.front: front_jpeg, ImageSide.selfie: b"\x89PNG\r\n\x1a\nbad"}
        )
    assert (info.value.code, info.value.field) == ("image_corrupt", "selfie")
    with pytest.raises(InvalidInput) as info:
        service.prepare_images(settings, {ImageSide.back: front_jpeg})
    assert (info.value.code, info.value.field) == ("missing_field", "front")
    assert blob_files(settings) == []


# --- fingerprints ---------------------------------------------------------------------------------


def test_fingerprints_survive_blob_key_rotation_and_dropping_the_old_key(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    old, new = new_key(), new_key()
    stages = [
        settings.model_copy(update={"blob_key": SecretStr(keys)})
        for keys in (old, f"{new},{old}", new)
    ]
    document = {"number": "D2314-5890", "issuer": "SE", "birth_date": date(1974, 8, 12)}
    prints = [service.fingerprint(service.blob_store(s), **document) for s in stages]  # type: ignore[arg-type]
    assert prints[0] == prints[1] == prints[2]
    assert len(prints[0]) == 64 and "D23145890" not in prints[0]
    # The number as the account's document identifier has it: separators do not count.
    same = service.fingerprint(
        service.blob_store(stages[2]), number="d23145890", issuer="se", birth_date=date(1974, 8, 12)
    )
    assert same == prints[0]
    other_birth = service.fingerprint(
        service.blob_store(stages[2]), number="D23145890", issuer="SE", birth_date=date(1974, 8, 13)
    )
    assert other_birth != prints[0]
    # An ICAO issuer without an ISO alpha-2 code is fingerprinted as read.
    assert len(service.fingerprint(service.blob_store(stages[2]), number="L898902C3",
                                   issuer="UTO", birth_date=None)) == 64  # fmt: skip
    # Stored with the id of the key that made it.
    v = _submit(db, stages[0], marketplace, {ImageSide.front: front_jpeg})
    v.document_fingerprint = prints[2]
    db.flush()
    db.expire(v)
    assert v.document_fingerprint == prints[0]
    assert v.document_fingerprint_key == service.blob_store(stages[0]).hash_key_id
    assert (settings.data_dir / "fingerprint.key").exists()


def test_image_hash_distance_must_stay_under_the_band_count() -> None:
    with pytest.raises(ValidationError, match="identity_image_hash_distance"):
        Settings(identity_image_hash_distance=8)
    assert Settings(identity_image_hash_distance=7).identity_image_hash_distance == 7


# --- who sees what --------------------------------------------------------------------------------


def test_describe_masks_personal_data_for_staff_without_pii_reveal(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    v = _submit(db, settings, marketplace, {ImageSide.front: front_jpeg})
    give_results(v, case_id=None)
    db.flush()
    for role in (Role.qa, Role.policy_lead):
        out = service.describe(db, v, actor=staff(role))
        text = out.model_dump_json()
        for secret in SECRETS:
            assert secret not in text, (role, secret)
        assert out.fields["document"]["surname"] == "E***"
        assert out.fields["document"]["birth_date"] == masking.HIDDEN
        assert out.fields["document"]["document_number"].endswith("90")
        assert out.fields["mrz"]["lines"] == [masking.HIDDEN] * 3
        assert out.fields["mrz"]["errors"] == ["impossible birth date: hidden"]
        # What is not personal stays: outcomes, scores, dates of the document, the reasons.
        assert out.fields["document"]["expiry_date"] == "2030-01-01"
        assert out.fields["mrz"]["check_digits"] == {"document_number": True, "birth_date": True}
        assert out.checks[0].evidence["score"] == 100.0
        assert out.reasons == ["screening_possible_hit", "image_blurry"]
        assert out.face_distance == 0.31
    # An agent (pii:reveal) sees them masked too until an audited reveal (``get``).
    assert "D23145890" not in service.describe(db, v, actor=staff(Role.agent)).model_dump_json()
    full = service.describe(db, v, actor=staff(Role.agent), revealed=True).model_dump_json()
    assert all(secret in full for secret in ("ERIKSSON", "D23145890", "1974-08-12", "I<SWE"))
    assert service.describe(db, v).fields == v.fields  # the CLI: a trusted caller


def test_api_keys_see_the_outcome_and_what_the_user_is_told_not_internal_findings(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    v = _submit(db, settings, marketplace, {ImageSide.front: front_jpeg})
    give_results(v)
    v.user_reasons = ["image_blurry", "document_reused"]  # a reviewer's undisclosed reason
    db.flush()
    out = service.describe(db, v, actor=marketplace)
    assert out.reasons == ["image_blurry"]
    assert out.checks == [] and out.case_id is None and out.face_distance is None
    assert out.fields["document"]["document_number"] == "D23145890"  # its own user's document
    codes = [r.code for r in out.user_reasons]
    assert codes == [Reason.image_blurry, "not_verified"]
    assert out.user_reasons[1].text == service.messages.user_text(Reason.document_reused, "en")
    # Staff see the reviewer's own code.
    staff_view = service.describe(db, v, actor=staff(Role.agent))
    assert [r.code for r in staff_view.user_reasons] == [
        Reason.image_blurry,
        Reason.document_reused,
    ]


def test_webhook_payload_carries_no_internal_reason_nor_case(
    db: Session, in_review: IdentityVerification, webhook_receiver
) -> None:  # type: ignore[no-untyped-def]
    integrations.create_integration(
        db, service.SYSTEM, name="m", url=webhook_receiver.url, event_types=[service.WEBHOOK_EVENT]
    )
    in_review.reasons = ["screening_hit", "document_reused"]
    user = make_staff(db, role=Role.agent)
    agent = Principal.staff(user.id, user.name, Role.agent)
    v = service.decide(
        db, agent, in_review.id, decision="reject",
        reasons=[Reason.image_blurry, Reason.screening_hit], expected_version=in_review.version,
    )  # fmt: skip
    payload = service.completion_payload(db, v)
    assert "reasons" not in payload and "case_id" not in payload
    assert payload["outcome"] == "reject" and payload["status"] == "rejected"
    assert payload["user_reasons"] == [
        {"code": "image_blurry", "text": service.messages.user_text(Reason.image_blurry, "en")},
        {"code": "not_verified", "text": service.messages.user_text(Reason.screening_hit, "en")},
    ]
    (delivery,) = db.scalars(select(WebhookDelivery)).all()
    body = json.loads(delivery.body)["data"]
    assert body == payload
    assert "screening" not in delivery.body and "document_reused" not in delivery.body


def test_staff_list_views_are_audited_api_keys_are_not(
    db: Session, settings: Settings, marketplace: Principal, account: Account, front_jpeg: bytes
) -> None:
    ids = _pending(db, settings, marketplace, front_jpeg, 2)
    service.list_reviews(db, marketplace, status=VerificationStatus.pending)
    service.list_for_account(db, marketplace, "acct-1")
    assert [r.action for r in _audit(db, "identity.verification.list")] == []
    service.list_reviews(db, staff(Role.qa), status=VerificationStatus.pending)
    service.list_for_account(db, staff(Role.policy_lead), "acct-1")
    by_status, by_account = _audit(db, "identity.verification.list")
    assert by_status.data == {"status": "pending", "verification_ids": ids}
    assert by_account.target_type == "account"
    assert by_account.data == {"verification_ids": sorted(ids, reverse=True)}


# --- two sessions at once (PostgreSQL: row locks and the unique index make them wait) -------------


def _wait_until_blocked(session_factory: sessionmaker[Session], pid: int) -> None:
    """Until backend ``pid`` waits for a lock another transaction holds (a condition, not a
    time: the loop only bounds how long a broken test hangs)."""
    for _ in range(600):
        with session_factory() as s:
            waiting = s.execute(
                text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted"),
                {"pid": pid},
            ).scalar_one()
        if waiting:
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"backend {pid} never waited for a lock")


@pytest.mark.only_backend("postgresql")
def test_idempotency_race_between_two_sessions_returns_the_winner(
    session_factory: sessionmaker[Session],
    settings: Settings,
    marketplace: Principal,
    front_jpeg: bytes,
) -> None:
    """B checks the key before A commits (and finds nothing), inserts, waits on the unique
    index for A, fails when A commits, and answers with A's verification: its own files are
    deleted."""
    with transaction(session_factory) as s:
        make_account(s)
    images = {ImageSide.front: front_jpeg}
    a = session_factory()
    first = _submit(a, settings, marketplace, images, idempotency_key="race-1")
    outcome: dict[str, object] = {}
    b_pid: list[int] = []

    def b_submits() -> None:
        try:
            with transaction(session_factory) as b:
                b_pid.append(b.execute(text("SELECT pg_backend_pid()")).scalar_one())
                ready.set()
                got = _submit(b, settings, marketplace, images, idempotency_key="race-1")
                outcome["id"], outcome["replayed"] = got.id, got.replayed
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    ready = threading.Event()
    thread = threading.Thread(target=b_submits)
    thread.start()
    assert ready.wait(30)
    _wait_until_blocked(session_factory, b_pid[0])
    a.commit()
    a.close()
    thread.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome == {"id": first.id, "replayed": True}
    with session_factory() as s:
        assert stored_counts(s)["verifications"] == 1
    assert len(blob_files(settings)) == 1


@pytest.mark.only_backend("postgresql")
def test_two_reviewers_deciding_at_once_one_wins(
    session_factory: sessionmaker[Session],
    settings: Settings,
    marketplace: Principal,
    front_jpeg: bytes,
) -> None:
    with transaction(session_factory) as s:
        account = make_account(s)
        routing.ensure_default_queues(s)
        v = _submit(s, settings, marketplace, {ImageSide.front: front_jpeg})
        v.status, v.outcome = VerificationStatus.review, Outcome.review
        v.case_id = cases_service.create_case(
            s, service.SYSTEM,
            cases_service.NewCase(type=CaseType.identity_review, title="Identity review",
                                  account_id=account.id),
        ).case.id  # fmt: skip
        alice, bob = make_staff(s, role=Role.agent), make_staff(s, role=Role.agent)
        vid = v.id
        s.flush()
        seen = v.version  # what both reviewers had on their screens
        agents = [Principal.staff(u.id, u.name, Role.agent) for u in (alice, bob)]
    a = session_factory()
    service.decide(a, agents[0], vid, decision="approve", expected_version=seen)  # row lock
    outcome: dict[str, object] = {}
    b_pid: list[int] = []
    ready = threading.Event()

    def bob_rejects() -> None:
        try:
            with transaction(session_factory) as b:
                b_pid.append(b.execute(text("SELECT pg_backend_pid()")).scalar_one())
                ready.set()
                service.decide(
                    b, agents[1], vid, decision="reject", reasons=[Reason.image_glare],
                    expected_version=seen,
                )  # fmt: skip
        except VigilError as exc:
            outcome["code"] = exc.code

    thread = threading.Thread(target=bob_rejects)
    thread.start()
    assert ready.wait(30)
    _wait_until_blocked(session_factory, b_pid[0])
    a.commit()
    a.close()
    thread.join(60)
    # Bob waited for Alice's lock, then found the version he saw gone: nothing overwritten.
    assert outcome == {"code": "version_conflict"}
    with session_factory() as s:
        final = s.get(IdentityVerification, vid)
        assert final is not None and final.status is VerificationStatus.approved
        assert final.decided_by_id == agents[0].staff_id
        assert [r.action for r in _audit(s, "identity.verification.")][-1] == (
            "identity.verification.approve"
        )
