"""Identity verification: intake of documents, reading results back, revealing images and a
person's decision on a verification under review.

The flow: :func:`submit` checks every image (type sniffed from the bytes, size and pixel
limits, decoded once), seals each in the blob store, writes the verification and its images
and enqueues ``identity.process`` (:mod:`vigil.identity.pipeline` does the reading and the
checks in the worker). The result reaches the marketplace by the webhook
``identity.verification.completed`` and through the API.

Invariants:
- Nothing commits here; the caller (API route, job, CLI) owns the transaction.
- Every check runs before the first write: a bad field raises a 4xx naming it and leaves no
  row and no blob file. Blobs written for a transaction that then rolls back are deleted
  again (a session hook), so a refused or failed request leaves no file behind.
- A repeated ``idempotency_key`` for the same account returns the first verification when
  the submission is the same (kind, country, the exact bytes of every image) and 409
  ``idempotency_key_reused`` when it differs.
- Images are revealed only to holders of ``identity:images`` (never to API keys), and every
  reveal is audited with its reason. Staff views of a verification are audited too (it holds
  what the document says about a person).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from vigil.accounts import normalize
from vigil.accounts import service as accounts_service
from vigil.accounts.models import Account
from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases_service
from vigil.cases.models import Case, CaseStatus, Resolution
from vigil.config import Settings
from vigil.identity import images as image_codec
from vigil.identity import messages, mrz
from vigil.identity.models import IdentityHashBand, IdentityImage, IdentityVerification
from vigil.identity.schemas import CheckOut, ImageOut, UserReasonOut, VerificationOut
from vigil.identity.types import (
    DocumentKind,
    ImageSide,
    Outcome,
    Reason,
    VerificationStatus,
)
from vigil.integrations import service as integrations
from vigil.jobs import service as jobs
from vigil.kit import clock
from vigil.kit.blobs import BlobError, BlobStore
from vigil.kit.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooLarge,
    VersionConflict,
)
from vigil.kit.pagination import decode_cursor, encode_cursor

__all__ = [
    "PROCESS_JOB",
    "WEBHOOK_EVENT",
    "blob_store",
    "completion_payload",
    "decide",
    "describe",
    "describe_many",
    "get",
    "image",
    "list_for_account",
    "list_reviews",
    "submit",
]

TARGET = "identity_verification"
PROCESS_JOB = "identity.process"
WEBHOOK_EVENT = "identity.verification.completed"
# A document that fails to process three times will fail again: mark it failed instead.
PROCESS_ATTEMPTS = 3
SYSTEM = Principal.system("identity")
MAX_IDEMPOTENCY_KEY = 200
MAX_NOTE_CHARS = 4000
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_ALPHA3 = re.compile(r"^[A-Z]{3}$")
SIDE_ORDER = (ImageSide.front, ImageSide.back, ImageSide.selfie)


# --- the blob store, one per Settings --------------------------------------------------------

_stores: dict[int, BlobStore] = {}
_stores_lock = threading.Lock()


def blob_store(settings: Settings) -> BlobStore:
    """The blob store for these settings (built once: the key file is read once)."""
    key = id(settings)
    found = _stores.get(key)
    if found is None:
        with _stores_lock:
            found = _stores.get(key)
            if found is None:
                found = _stores[key] = BlobStore.from_settings(settings)
                weakref.finalize(settings, _stores.pop, key, None)
    return found


_PENDING_BLOBS = "vigil.identity.pending_blobs"


def _forget_blobs(session: Session) -> None:
    # ``after_commit`` fires for a savepoint's release too: only the real commit counts.
    if not session.in_nested_transaction():
        session.info.pop(_PENDING_BLOBS, None)


def _delete_blobs(session: Session, transaction: Any) -> None:
    # ``after_commit`` has already taken the list when the transaction committed; whatever is
    # left when the outermost transaction ends was rolled back (or never committed).
    if transaction.parent is not None or transaction.nested:
        return
    for store, key in session.info.pop(_PENDING_BLOBS, []):
        store.delete(key)


def _track_blob(session: Session, store: BlobStore, key: str) -> None:
    """Delete ``key`` again if the session's transaction rolls back instead of committing."""
    if _PENDING_BLOBS not in session.info:
        if not sa_event.contains(session, "after_commit", _forget_blobs):
            sa_event.listen(session, "after_commit", _forget_blobs)
            # The outermost transaction's end only, not a savepoint's: a savepoint rolled
            # back elsewhere keeps this request's rows.
            sa_event.listen(session, "after_transaction_end", _delete_blobs)
        session.info[_PENDING_BLOBS] = []
    session.info[_PENDING_BLOBS].append((store, key))


# --- validation --------------------------------------------------------------------------------


def _check_kind(kind: DocumentKind | str) -> DocumentKind:
    try:
        return DocumentKind(kind)
    except ValueError:
        raise InvalidInput(
            f"kind is one of {', '.join(k.value for k in DocumentKind)}",
            field="kind",
            code="invalid_kind",
        ) from None


def _check_country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 (``ES``) or an ICAO 9303 code (``ESP``, ``D``, ``GBD``)."""
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if len(code) == 2:
        try:
            return normalize.normalize_country(code)
        except ValueError:
            pass
    elif mrz.known_country(code):
        return code
    raise InvalidInput(
        "issuing_country is an ISO 3166-1 alpha-2 or an ICAO 9303 country code",
        field="issuing_country",
        code="invalid_country",
    )


def _check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.match(value):
        raise InvalidInput(
            "Idempotency-Key is 1 to 200 printable ASCII characters without spaces",
            field="Idempotency-Key",
            code="invalid_idempotency_key",
        )
    return value


def _request_digest(
    kind: DocumentKind, country: str | None, images: Mapping[ImageSide, bytes]
) -> str:
    h = hashlib.sha256()
    h.update(f"{kind.value}\n{country or ''}\n".encode())
    for side in SIDE_ORDER:
        data = images.get(side)
        digest = hashlib.sha256(data).hexdigest() if data is not None else "-"
        h.update(f"{side.value}:{digest}\n".encode())
    return h.hexdigest()


def _decode_all(
    settings: Settings, images: Mapping[ImageSide, bytes]
) -> dict[ImageSide, image_codec.DecodedImage]:
    if images.get(ImageSide.front) is None:
        raise InvalidInput(
            "the front of the document is required", field="front", code="missing_field"
        )
    out: dict[ImageSide, image_codec.DecodedImage] = {}
    for side in SIDE_ORDER:
        data = images.get(side)
        if data is None:
            continue
        try:
            out[side] = image_codec.decode(
                data,
                max_bytes=settings.identity_max_upload_bytes,
                max_pixels=settings.identity_max_pixels,
            )
        except image_codec.ImageRejected as exc:
            error_class = TooLarge if exc.status_code == 413 else InvalidInput
            raise error_class(exc.message, field=side.value, code=exc.code) from None
    return out


# --- intake ------------------------------------------------------------------------------------


def _by_idempotency_key(session: Session, account_id: int, key: str) -> IdentityVerification | None:
    return session.scalar(
        select(IdentityVerification).where(
            IdentityVerification.account_id == account_id,
            IdentityVerification.idempotency_key == key,
        )
    )


def _replay(found: IdentityVerification, digest: str) -> IdentityVerification:
    if found.request_sha256 != digest:
        raise Conflict(
            "this Idempotency-Key was used for a different submission",
            field="Idempotency-Key",
            code="idempotency_key_reused",
        )
    found.replayed = True  # type: ignore[attr-defined]
    return found


def submit(
    session: Session,
    actor: Principal,
    *,
    account_external_id: str,
    kind: DocumentKind | str,
    issuing_country: str | None,
    images: Mapping[ImageSide, bytes],
    idempotency_key: str | None = None,
    settings: Settings | None = None,
) -> IdentityVerification:
    """Take a document for verification; the reading runs later, in the worker.

    Returns the new verification (``pending``), or, for a repeat of ``idempotency_key`` with
    the same content, the first one (its ``replayed`` attribute is then True).
    """
    actor.require(Permission.identity_write)
    settings = settings or Settings()
    kind = _check_kind(kind)
    country = _check_country(issuing_country)
    key = _check_idempotency_key(idempotency_key)
    account = accounts_service.account_by_external_id(session, account_external_id)
    images = {ImageSide(side): data for side, data in images.items() if data is not None}
    digest = _request_digest(kind, country, images)
    if key is not None:
        found = _by_idempotency_key(session, account.id, key)
        if found is not None:
            return _replay(found, digest)
    decoded = _decode_all(settings, images)

    store = blob_store(settings)
    verification = IdentityVerification(
        account_id=account.id,
        kind=kind,
        issuing_country=country,
        status=VerificationStatus.pending,
        reasons=[],
        user_reasons=[],
        checks=[],
        fields={},
        idempotency_key=key,
        request_sha256=digest,
        submitted_by=actor.label[:200],
    )
    rows: list[IdentityImage] = []
    for side, image in decoded.items():
        blob_key = store.put(images[side])
        _track_blob(session, store, blob_key)
        rows.append(
            IdentityImage(
                account_id=account.id,
                side=side,
                blob_key=blob_key,
                media_type=image.media_type,
                size=len(images[side]),
                width=image.width,
                height=image.height,
                sha256=image.sha256,
            )
        )
    try:
        # A savepoint: two requests with one key can race; the loser returns the winner's.
        with session.begin_nested():
            session.add(verification)
            session.flush()
            for row in rows:
                row.verification_id = verification.id
                session.add(row)
            session.flush()
    except IntegrityError:
        for row in rows:
            store.delete(row.blob_key)
        winner = _by_idempotency_key(session, account.id, key) if key is not None else None
        if winner is None:
            raise
        return _replay(winner, digest)
    jobs.enqueue(
        session,
        PROCESS_JOB,
        {"verification_id": verification.id},
        dedup_key=f"{PROCESS_JOB}:{verification.id}",
        max_attempts=PROCESS_ATTEMPTS,
    )
    audit.record(
        session,
        actor,
        "identity.verification.submit",
        TARGET,
        verification.id,
        data={
            "account_id": account.id,
            "kind": kind.value,
            "issuing_country": country,
            "sides": [r.side.value for r in rows],
            "bytes": sum(r.size for r in rows),
        },
    )
    verification.replayed = False  # type: ignore[attr-defined]
    return verification


# --- reading -----------------------------------------------------------------------------------


def _load(session: Session, verification_id: int, *, lock: bool = False) -> IdentityVerification:
    stmt = (
        select(IdentityVerification)
        .where(IdentityVerification.id == verification_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update()
    found = session.scalar(stmt)
    if found is None:
        raise NotFound(f"no identity verification {verification_id}", code="verification_not_found")
    return found


def get(session: Session, actor: Principal, verification_id: int) -> IdentityVerification:
    """One verification; a staff view is audited (it holds what the document says)."""
    actor.require(Permission.identity_read)
    verification = _load(session, verification_id)
    if actor.is_staff:
        audit.record(session, actor, "identity.verification.view", TARGET, verification.id)
    return verification


def images_of(session: Session, verification_id: int) -> list[IdentityImage]:
    rows = session.scalars(
        select(IdentityImage).where(IdentityImage.verification_id == verification_id)
    )
    return sorted(rows, key=lambda r: SIDE_ORDER.index(r.side))


def _cursor_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    (value,) = decode_cursor(cursor, 1)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
    return value


def list_for_account(
    session: Session,
    actor: Principal,
    account_external_id: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[IdentityVerification], str | None]:
    """An account's verifications, newest first, one keyset page at a time."""
    actor.require(Permission.identity_read)
    account = accounts_service.account_by_external_id(session, account_external_id)
    stmt = select(IdentityVerification).where(IdentityVerification.account_id == account.id)
    after = _cursor_id(cursor)
    if after is not None:
        stmt = stmt.where(IdentityVerification.id < after)
    rows = list(session.scalars(stmt.order_by(IdentityVerification.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    rows = rows[:limit]
    if actor.is_staff:
        audit.record(
            session, actor, "identity.verification.list", "account", account.id,
            data={"verification_ids": [v.id for v in rows]},
        )  # fmt: skip
    return rows, next_cursor


def list_reviews(
    session: Session,
    actor: Principal,
    *,
    status: VerificationStatus = VerificationStatus.review,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[IdentityVerification], str | None]:
    """Verifications in ``status`` (by default those waiting for a person), oldest first."""
    actor.require(Permission.identity_read)
    stmt = select(IdentityVerification).where(IdentityVerification.status == status)
    after = _cursor_id(cursor)
    if after is not None:
        stmt = stmt.where(IdentityVerification.id > after)
    rows = list(session.scalars(stmt.order_by(IdentityVerification.id).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def image(
    session: Session,
    actor: Principal,
    image_id: int,
    *,
    reason: str | None = None,
    settings: Settings | None = None,
) -> tuple[bytes, str]:
    """The decrypted bytes of one image and their media type. Needs ``identity:images``
    (staff only: API keys cannot hold it); every reveal is audited with its reason."""
    if not actor.can(Permission.identity_images):
        raise PermissionDenied(
            "seeing document images needs the 'identity:images' permission",
            code="permission_denied",
        )
    row = session.get(IdentityImage, image_id)
    if row is None:
        raise NotFound(f"no identity image {image_id}", code="image_not_found")
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > 500:
        raise InvalidInput("reason is at most 500 characters", field="reason")
    try:
        data = blob_store(settings or Settings()).get(row.blob_key)
    except BlobError as exc:
        raise NotFound(
            f"the image's encrypted file cannot be read: {exc}", code="image_unavailable"
        ) from None
    audit.record(
        session, actor, "identity.image.reveal", "identity_image", row.id, reason=reason,
        data={"verification_id": row.verification_id, "side": row.side.value},
    )  # fmt: skip
    return data, row.media_type


# --- what the marketplace and the console read --------------------------------------------------


def _locale_of(account: Account | None) -> str:
    return (account.locale if account is not None else None) or "en"


def user_reasons(verification: IdentityVerification, locale: str) -> list[UserReasonOut]:
    out: list[UserReasonOut] = []
    for code in verification.user_reasons or []:
        try:
            reason = Reason(code)
        except ValueError:
            continue
        out.append(UserReasonOut(code=reason, text=messages.user_text(reason, locale)))
    return out


def describe_many(
    session: Session, verifications: Sequence[IdentityVerification]
) -> list[VerificationOut]:
    """:func:`describe` for a page: images in one query, accounts from the identity map."""
    ids = [v.id for v in verifications]
    by_verification: dict[int, list[IdentityImage]] = {vid: [] for vid in ids}
    if ids:
        for row in session.scalars(
            select(IdentityImage).where(IdentityImage.verification_id.in_(ids))
        ):
            by_verification[row.verification_id].append(row)
    return [describe(session, v, image_rows=by_verification[v.id]) for v in verifications]


def describe(
    session: Session,
    verification: IdentityVerification,
    *,
    replayed: bool | None = None,
    image_rows: Sequence[IdentityImage] | None = None,
) -> VerificationOut:
    account = session.get(Account, verification.account_id)
    if image_rows is None:
        image_rows = images_of(session, verification.id)
    if replayed is None:
        replayed = bool(getattr(verification, "replayed", False))
    return VerificationOut(
        id=verification.id,
        account_id=account.external_id if account is not None else "",
        kind=verification.kind,
        issuing_country=verification.issuing_country,
        status=verification.status,
        outcome=verification.outcome,
        reasons=list(verification.reasons or []),
        user_reasons=user_reasons(verification, _locale_of(account)),
        checks=[CheckOut.model_validate(c) for c in verification.checks or []],
        fields=dict(verification.fields or {}),
        face_distance=verification.face_distance,
        case_id=verification.case_id,
        images=[
            ImageOut(
                id=r.id,
                side=r.side,
                media_type=r.media_type,
                size=r.size,
                width=r.width,
                height=r.height,
            )
            for r in sorted(image_rows, key=lambda r: SIDE_ORDER.index(r.side))
        ],
        decision=verification.decision,
        decided_at=verification.decided_at,
        created_at=verification.created_at,
        processed_at=verification.processed_at,
        version=verification.version,
        replayed=replayed,
    )


def completion_payload(session: Session, verification: IdentityVerification) -> dict[str, Any]:
    """The ``identity.verification.completed`` webhook's data: the outcome and what the
    user can act on, without the fields read (the marketplace fetches them if it needs)."""
    account = session.get(Account, verification.account_id)
    locale = _locale_of(account)
    return {
        "verification_id": verification.id,
        "account_id": account.external_id if account is not None else None,
        "kind": verification.kind.value,
        "status": verification.status.value,
        "outcome": verification.outcome.value if verification.outcome else None,
        "reasons": list(verification.reasons or []),
        "user_reasons": [r.model_dump(mode="json") for r in user_reasons(verification, locale)],
        "locale": locale,
        "decided_by": "person" if verification.decision else "automated",
        "case_id": verification.case_id,
    }


def notify(session: Session, verification: IdentityVerification) -> None:
    """Emit the completion webhook once per status the verification reaches."""
    integrations.emit(
        session,
        WEBHOOK_EVENT,
        completion_payload(session, verification),
        idempotency_key=f"identity.verification:{verification.id}:{verification.status.value}",
        subject_type=TARGET,
        subject_id=verification.id,
        case_id=verification.case_id,
    )


# --- reuse lookups (the pipeline's queries) ------------------------------------------------------

HASH_BANDS = 8


def fingerprint(store: BlobStore, *, number: str, issuer: str, birth_date: date | None) -> str:
    """Keyed hash of a document's identity: normalized number, issuer and birth date."""
    number = re.sub(r"[^0-9A-Z]", "", number.upper())
    message = f"{issuer.upper()}\n{number}\n{birth_date.isoformat() if birth_date else ''}"
    return hmac.new(
        store.derive("identity-document-fingerprint"), message.encode(), hashlib.sha256
    ).hexdigest()


def accounts_with_fingerprint(
    session: Session, value: str, *, except_account_id: int, limit: int = 20
) -> list[dict[str, Any]]:
    """Other accounts whose verifications read the same document (newest first)."""
    rows = session.execute(
        select(IdentityVerification.id, IdentityVerification.account_id, Account.external_id)
        .join(Account, Account.id == IdentityVerification.account_id)
        .where(
            IdentityVerification.document_fingerprint == value,
            IdentityVerification.account_id != except_account_id,
        )
        .order_by(IdentityVerification.id.desc())
        .limit(limit)
    ).all()
    return [
        {"verification_id": vid, "account_id": aid, "account_external_id": ext}
        for vid, aid, ext in rows
    ]


def bands_of(phash: str) -> list[str]:
    return [f"{i}:{phash[2 * i : 2 * i + 2]}" for i in range(HASH_BANDS)]


def store_hash_bands(session: Session, image_row: IdentityImage, kind: str, phash: str) -> None:
    session.add_all(
        IdentityHashBand(image_id=image_row.id, account_id=image_row.account_id, kind=kind,
                         band=band)
        for band in bands_of(phash)
    )  # fmt: skip


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def similar_images(
    session: Session,
    *,
    kind: str,
    phash: str,
    sha256: str | None,
    except_account_id: int,
    max_distance: int,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Images on other accounts with the same bytes, or a perceptual hash within
    ``max_distance`` bits (candidates from the band index; exact distance here)."""
    found: dict[int, dict[str, Any]] = {}
    if sha256 is not None and kind == "image":
        for row in session.scalars(
            select(IdentityImage)
            .where(IdentityImage.sha256 == sha256, IdentityImage.account_id != except_account_id)
            .limit(limit)
        ):
            found[row.id] = _match(session, row, 0, "same_file")
    column = IdentityImage.phash if kind == "image" else IdentityImage.portrait_phash
    candidates = session.execute(
        select(IdentityImage.id, column)
        .join(IdentityHashBand, IdentityHashBand.image_id == IdentityImage.id)
        .where(
            IdentityHashBand.kind == kind,
            IdentityHashBand.band.in_(bands_of(phash)),
            IdentityHashBand.account_id != except_account_id,
        )
        .distinct()
        .limit(2000)
    ).all()
    for image_id, other in candidates:
        if image_id in found or other is None:
            continue
        distance = _hamming(phash, other)
        if distance <= max_distance:
            near = session.get(IdentityImage, image_id)
            if near is not None:
                found[image_id] = _match(session, near, distance, f"{kind}_phash")
        if len(found) >= limit:
            break
    return sorted(found.values(), key=lambda m: (m["distance"], m["image_id"]))


def _match(session: Session, row: IdentityImage, distance: int, how: str) -> dict[str, Any]:
    account = session.get(Account, row.account_id)
    return {
        "image_id": row.id,
        "verification_id": row.verification_id,
        "account_id": row.account_id,
        "account_external_id": account.external_id if account is not None else None,
        "side": row.side.value,
        "distance": distance,
        "match": how,
    }


# --- a person's decision -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    status: VerificationStatus
    outcome: Outcome | None
    resolution: Resolution | None


_PLANS = {
    "approve": _Plan(VerificationStatus.approved, Outcome.approve, Resolution.no_violation),
    "reject": _Plan(VerificationStatus.rejected, Outcome.reject, Resolution.actioned),
    "escalate": _Plan(VerificationStatus.review, None, None),
}


def decide(
    session: Session,
    actor: Principal,
    verification_id: int,
    *,
    decision: str,
    reasons: Sequence[Reason | str] = (),
    note: str | None = None,
    expected_version: int | None = None,
) -> IdentityVerification:
    """A person approves, rejects or escalates a verification under review.

    Approve and reject set the status, close the verification's case (taking it first when
    nobody holds it) and notify the marketplace by webhook; a rejection needs at least one
    reason the user is told. Escalate moves the case up a tier (a note is required) and
    leaves the verification in review.
    """
    actor.require(Permission.identity_decide)
    plan = _PLANS.get(decision)
    if plan is None:
        raise InvalidInput(
            "decision is approve, reject or escalate", field="decision", code="invalid_decision"
        )
    codes: list[Reason] = []
    for i, value in enumerate(reasons):
        try:
            code = Reason(value)
        except ValueError:
            raise InvalidInput(
                f"unknown reason {value!r}", field=f"reasons.{i}", code="invalid_reason"
            ) from None
        if code not in codes:
            codes.append(code)
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"note is at most {MAX_NOTE_CHARS} characters", field="note")
    if decision == "reject" and not codes:
        raise InvalidInput(
            "a rejection needs at least one reason the user is told",
            field="reasons",
            code="reasons_required",
        )
    if decision == "escalate" and note is None:
        raise InvalidInput("an escalation needs a note", field="note", code="note_required")

    verification = _load(session, verification_id, lock=True)
    if expected_version is not None and verification.version != expected_version:
        raise VersionConflict(
            f"the verification is at version {verification.version}, not {expected_version}; "
            "reload and try again",
            field="expected_version",
        )
    if verification.status is not VerificationStatus.review:
        raise IllegalTransition(
            f"only a verification in review can be decided; this one is "
            f"{verification.status.value}",
            code="verification_not_in_review",
        )
    case = session.get(Case, verification.case_id) if verification.case_id else None

    if decision == "escalate":
        if case is None or case.status == CaseStatus.closed:
            raise IllegalTransition(
                "this verification has no open case to escalate", code="no_open_case"
            )
        _take(session, actor, case)
        cases_service.escalate(session, actor, case.id, reason=note or "")
    else:
        if case is not None and case.status != CaseStatus.closed:
            _take(session, actor, case)
            cases_service.close(
                session,
                actor,
                case.id,
                resolution=plan.resolution or Resolution.other,
                note=note or f"identity verification {decision}d",
            )
        verification.status = plan.status
        verification.outcome = plan.outcome
        if decision == "reject":
            verification.user_reasons = [c.value for c in codes]
            verification.reasons = _merged(verification.reasons, codes)
        else:
            verification.user_reasons = []
    now = clock.now()
    verification.decision = decision
    verification.decision_note = note
    verification.decided_by_id = actor.staff_id
    verification.decided_at = now
    try:
        session.flush()
    except StaleDataError:
        raise VersionConflict(
            "someone else changed this verification; reload and try again"
        ) from None
    audit.record(
        session, actor, f"identity.verification.{decision}", TARGET, verification.id,
        reason=note,
        data={"reasons": [c.value for c in codes], "case_id": verification.case_id,
              "version": verification.version},
    )  # fmt: skip
    if decision != "escalate":
        notify(session, verification)
    return verification


def _merged(existing: Sequence[str] | None, codes: Sequence[Reason]) -> list[str]:
    out = list(existing or [])
    for code in codes:
        if code.value not in out:
            out.append(code.value)
    return out


def _take(session: Session, actor: Principal, case: Case) -> None:
    """Closing or escalating is for the case's holder: take an open, unheld case first."""
    if case.status == CaseStatus.open and actor.staff_id is not None:
        cases_service.assign(session, actor, case.id)
