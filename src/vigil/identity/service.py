"""Identity verification: intake of documents, reading results back, revealing images and a
person's decision on a verification under review.

The flow: :func:`prepare_images` checks every image (type sniffed from the bytes, size and
pixel limits, decoded once) and seals each into the blob store, outside any database
transaction (decoding takes a while, and on SQLite a transaction holds the write lock);
:func:`submit` then writes the verification and its images in a short transaction and
enqueues ``identity.process`` (:mod:`vigil.identity.pipeline` does the reading and the checks
in the worker). The result reaches the marketplace by the webhook
``identity.verification.completed`` and through the API.

Invariants:
- Nothing commits here; the caller (API route, job, CLI) owns the transaction.
- Every check runs before the first write: a bad field raises a 4xx naming it and leaves no
  row and no blob file. Blobs handed to :func:`submit` belong to its transaction from its
  first line: if that transaction rolls back (or the submission is a replay) they are
  deleted again (a session hook), so a refused or failed request leaves no file behind.
- A repeated ``idempotency_key`` for the same account returns the first verification when
  the submission is the same (kind, country, the exact bytes of every image) and 409
  ``idempotency_key_reused`` when it differs.
- Images are revealed only to holders of ``identity:images`` (never to API keys), and every
  reveal is audited with its reason. Staff views of a verification, one or a list, are
  audited too (they hold what the document says about a person).
- :func:`describe` shows each reader what it may see: staff the fields and the checks'
  evidence masked (:mod:`vigil.identity.masking`) unless revealed (``get(reveal=True)``:
  ``pii:reveal`` and a reason, audited), then everything; API
  keys (the marketplace, about its own user) the outcome, what the user is told and the
  fields read, but no internal reason, no check, no case and no face distance. The webhook
  carries the same external view (no internal reason: no tipping-off).
- A person's decision (:func:`decide`) has one set of rules for every caller, API and
  console: the version the person saw is required; approving past a failed or warning check
  needs an explicit confirmation (:func:`approval_attention`); a rejection's reasons come
  from :data:`REJECTION_REASONS`; the case must be in a tier the person may work. The review
  list shows each person the tiers they may work (:func:`workable_tiers`), oldest submission
  first.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from vigil.accounts import normalize
from vigil.accounts import service as accounts_service
from vigil.accounts.models import Account
from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Role, Tier
from vigil.auth.principal import ActorType, Principal
from vigil.cases import repository as cases_repository
from vigil.cases import service as cases_service
from vigil.cases.models import Case, CaseStatus, Resolution
from vigil.config import Settings
from vigil.identity import forensics, messages, mrz
from vigil.identity import images as image_codec
from vigil.identity.masking import mask_checks, mask_fields
from vigil.identity.models import IdentityHashBand, IdentityImage, IdentityVerification
from vigil.identity.schemas import (
    NOT_VERIFIED,
    CheckOut,
    ImageOut,
    UserReasonOut,
    VerificationOut,
)
from vigil.identity.types import (
    CheckStatus,
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
from vigil.kit.pagination import (
    decode_id_cursor,
    decode_time_id_cursor,
    encode_cursor,
    encode_time_id_cursor,
)
from vigil.kit.per_settings import PerSettings

__all__ = [
    "PROCESS_JOB",
    "REJECTION_REASONS",
    "WEBHOOK_EVENT",
    "Fingerprint",
    "PreparedImage",
    "PreparedImages",
    "approval_attention",
    "blob_store",
    "check_submission",
    "completion_payload",
    "decide",
    "describe",
    "describe_many",
    "get",
    "image",
    "list_for_account",
    "list_reviews",
    "prepare_images",
    "submit",
    "workable_tiers",
]

TARGET = "identity_verification"
PROCESS_JOB = "identity.process"
WEBHOOK_EVENT = "identity.verification.completed"
# A document that fails to process three times will fail again: mark it failed instead.
PROCESS_ATTEMPTS = 3
SYSTEM = Principal.system("identity")
MAX_IDEMPOTENCY_KEY = 200
MAX_NOTE_CHARS = 4000
MAX_REVEAL_REASON_CHARS = 500
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_ALPHA3 = re.compile(r"^[A-Z]{3}$")
SIDE_ORDER = (ImageSide.front, ImageSide.back, ImageSide.selfie)


# --- the blob store, one per Settings --------------------------------------------------------

# The blob store for given settings, built once (the key file is read once).
blob_store: PerSettings[BlobStore] = PerSettings(lambda settings: BlobStore.from_settings(settings))


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
    kind: DocumentKind, country: str | None, sha256: Mapping[ImageSide, str]
) -> str:
    """One hash of a submission: kind, country and each image's SHA-256."""
    h = hashlib.sha256()
    h.update(f"{kind.value}\n{country or ''}\n".encode())
    for side in SIDE_ORDER:
        h.update(f"{side.value}:{sha256.get(side, '-')}\n".encode())
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


@dataclass(frozen=True)
class PreparedImage:
    """One image, checked and sealed into the blob store."""

    side: ImageSide
    blob_key: str
    media_type: str
    size: int
    width: int
    height: int
    sha256: str


@dataclass
class PreparedImages:
    """The images of one submission, checked and sealed before any database transaction.

    Until :func:`submit` adopts them into its transaction the files belong to whoever holds
    this object: :meth:`discard` deletes them."""

    store: BlobStore
    images: dict[ImageSide, PreparedImage]

    def sha256(self) -> dict[ImageSide, str]:
        return {side: image.sha256 for side, image in self.images.items()}

    def discard(self) -> None:
        for image in self.images.values():
            self.store.delete(image.blob_key)


def _sides(
    images: Mapping[ImageSide, bytes | None] | Mapping[str, bytes | None],
) -> dict[ImageSide, bytes]:
    return {ImageSide(side): data for side, data in images.items() if data is not None}


def prepare_images(
    settings: Settings, images: Mapping[ImageSide, bytes | None] | Mapping[str, bytes | None]
) -> PreparedImages:
    """Check every image (``front`` required; type, byte and pixel limits, a full decode) and
    seal each into the blob store. Touches no database, so it runs before the transaction
    that records the submission. A bad image raises a 4xx naming its side, and nothing is
    written; a failure while writing deletes what was written."""
    raw = _sides(images)
    decoded = _decode_all(settings, raw)
    store = blob_store(settings)
    prepared = PreparedImages(store=store, images={})
    try:
        for side, image in decoded.items():
            prepared.images[side] = PreparedImage(
                side=side,
                blob_key=store.put(raw[side]),
                media_type=image.media_type,
                size=len(raw[side]),
                width=image.width,
                height=image.height,
                sha256=image.sha256,
            )
    except BaseException:
        prepared.discard()
        raise
    return prepared


def _adopt(session: Session, prepared: PreparedImages) -> None:
    """Make the prepared files this session's: deleted again unless its transaction commits."""
    if not session.in_transaction():
        session.begin()
    for image in prepared.images.values():
        _track_blob(session, prepared.store, image.blob_key)


def check_submission(
    kind: DocumentKind | str, issuing_country: str | None, idempotency_key: str | None
) -> tuple[DocumentKind, str | None, str | None]:
    """The cheap checks of a submission, normalized: kind, issuing country, idempotency key.
    :func:`submit` runs them; the API runs them first too, before the images are decoded."""
    return (
        _check_kind(kind),
        _check_country(issuing_country),
        _check_idempotency_key(idempotency_key),
    )


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
    images: Mapping[ImageSide, bytes] | PreparedImages,
    idempotency_key: str | None = None,
    settings: Settings | None = None,
) -> IdentityVerification:
    """Take a document for verification; the reading runs later, in the worker.

    ``images`` are the raw bytes by side (checked and sealed here, inside the caller's
    transaction: fine for a CLI or a job), or :func:`prepare_images`' result (checked and
    sealed before the transaction began: what the API does, so the transaction stays short).

    Returns the new verification (``pending``), or, for a repeat of ``idempotency_key`` with
    the same content, the first one (its ``replayed`` attribute is then True).
    """
    prepared = images if isinstance(images, PreparedImages) else None
    if prepared is not None:
        _adopt(session, prepared)
    actor.require(Permission.identity_write)
    settings = settings or Settings()
    kind, country, key = check_submission(kind, issuing_country, idempotency_key)
    account = accounts_service.account_by_external_id(session, account_external_id)
    if prepared is None:
        raw = _sides(images)  # type: ignore[arg-type]
        sha256 = {side: hashlib.sha256(data).hexdigest() for side, data in raw.items()}
    else:
        sha256 = prepared.sha256()
    digest = _request_digest(kind, country, sha256)
    if key is not None:
        found = _by_idempotency_key(session, account.id, key)
        if found is not None:
            if prepared is not None:
                prepared.discard()  # the first submission's files serve the replay
            return _replay(found, digest)
    if prepared is None:
        prepared = prepare_images(settings, raw)
        _adopt(session, prepared)

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
    rows = [
        IdentityImage(
            account_id=account.id,
            side=image.side,
            blob_key=image.blob_key,
            media_type=image.media_type,
            size=image.size,
            width=image.width,
            height=image.height,
            sha256=image.sha256,
        )
        for image in prepared.images.values()
    ]
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
        winner = _by_idempotency_key(session, account.id, key) if key is not None else None
        if winner is None:
            raise
        prepared.discard()
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


def get(
    session: Session,
    actor: Principal,
    verification_id: int,
    *,
    reveal: bool = False,
    reason: str | None = None,
) -> IdentityVerification:
    """One verification; a staff view is audited (it holds what the document says). With
    ``reveal`` (needs ``pii:reveal`` and a reason) the view is an audited reveal
    (``identity.verification.reveal``, the reason in the record): pass ``revealed=True`` to
    :func:`describe` only after this returned."""
    actor.require(Permission.identity_read)
    reason = (reason or "").strip() or None
    if reveal and actor.is_staff:
        actor.require(Permission.pii_reveal)
        if reason is None:
            raise InvalidInput(
                "revealing personal data needs a reason", field="reason", code="reason_required"
            )
    verification = _load(session, verification_id)
    if actor.is_staff:
        action = "identity.verification.reveal" if reveal else "identity.verification.view"
        audit.record(session, actor, action, TARGET, verification.id, reason=reason)
    return verification


def images_of(session: Session, verification_id: int) -> list[IdentityImage]:
    rows = session.scalars(
        select(IdentityImage).where(IdentityImage.verification_id == verification_id)
    )
    return sorted(rows, key=lambda r: SIDE_ORDER.index(r.side))


def list_for_account(
    session: Session,
    actor: Principal,
    account_external_id: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[IdentityVerification], str | None]:
    """An account's verifications, newest first, one keyset page at a time (a staff view is
    audited with the ids it returned)."""
    actor.require(Permission.identity_read)
    account = accounts_service.account_by_external_id(session, account_external_id)
    stmt = select(IdentityVerification).where(IdentityVerification.account_id == account.id)
    if cursor is not None:
        stmt = stmt.where(IdentityVerification.id < decode_id_cursor(cursor))
    rows = list(session.scalars(stmt.order_by(IdentityVerification.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    rows = rows[:limit]
    if actor.is_staff:
        audit.record(
            session, actor, "identity.verification.list", "account", account.id,
            data={"verification_ids": [v.id for v in rows]},
        )  # fmt: skip
    return rows, next_cursor


def workable_tiers(actor: Principal) -> list[Tier] | None:
    """The case tiers whose verifications ``actor`` is shown in a list (None: every one).

    Staff who work cases see the tiers they may work (``cases.repository.can_work_tier``: an
    agent Tier 1 only, a specialist Tier 1 and specialist, legal and admins all), so an
    escalated verification leaves the Tier 1 list. Staff who only read (QA, policy leads)
    see every tier they may see (``cases.service.visible``: legal only with ``cases:legal``).
    API keys and the system work no case; they see every verification (API keys without the
    case or its tier)."""
    if not actor.is_staff:
        return None
    visible = [t for t in Tier if t is not Tier.legal or actor.can(Permission.legal_cases)]
    if actor.role is Role.admin or actor.tier is None:
        return visible
    return [t for t in visible if cases_repository.can_work_tier(actor.role, t)]


def list_reviews(
    session: Session,
    actor: Principal,
    *,
    status: VerificationStatus = VerificationStatus.review,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[IdentityVerification], str | None]:
    """Verifications in ``status`` (by default those waiting for a person), oldest
    submission first (keyset on ``(created_at, id)``), limited to those whose case sits in a
    tier :func:`workable_tiers` gives ``actor`` (a verification without a case is shown to
    all). A staff view is audited with the ids it returned, as :func:`get` audits one."""
    actor.require(Permission.identity_read)
    stmt = select(IdentityVerification).where(IdentityVerification.status == status)
    tiers = workable_tiers(actor)
    if tiers is not None and len(tiers) < len(Tier):
        stmt = stmt.outerjoin(Case, Case.id == IdentityVerification.case_id).where(
            or_(IdentityVerification.case_id.is_(None), Case.tier.in_(tiers))
        )
    if cursor is not None:
        at, after = decode_time_id_cursor(cursor)
        stmt = stmt.where(
            or_(
                IdentityVerification.created_at > at,
                and_(IdentityVerification.created_at == at, IdentityVerification.id > after),
            )
        )
    stmt = stmt.order_by(IdentityVerification.created_at, IdentityVerification.id)
    rows = list(session.scalars(stmt.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_time_id_cursor(last.created_at, last.id)
    rows = rows[:limit]
    if actor.is_staff:
        audit.record(
            session, actor, "identity.verification.list", TARGET, None,
            data={"status": status.value, "verification_ids": [v.id for v in rows]},
        )  # fmt: skip
    return rows, next_cursor


def image(
    session: Session,
    actor: Principal,
    image_id: int,
    *,
    reason: str | None = None,
    settings: Settings | None = None,
) -> tuple[bytes, str]:
    """The decrypted bytes of one image and their media type. Needs ``identity:images``
    (staff only: API keys cannot hold it) and a reason (1 to 500 characters: the API asks
    the caller for one, the console writes its own); every reveal is audited with it."""
    if not actor.can(Permission.identity_images):
        raise PermissionDenied(
            "seeing document images needs the 'identity:images' permission",
            code="permission_denied",
        )
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "say why you look at this image (reason): every reveal is recorded with it",
            field="reason",
            code="reason_required",
        )
    if len(reason) > MAX_REVEAL_REASON_CHARS:
        raise InvalidInput(
            f"reason is at most {MAX_REVEAL_REASON_CHARS} characters",
            field="reason",
            code="too_long",
        )
    row = session.get(IdentityImage, image_id)
    if row is None:
        raise NotFound(f"no identity image {image_id}", code="image_not_found")
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


def user_reasons(
    verification: IdentityVerification, locale: str, *, external: bool = False
) -> list[UserReasonOut]:
    """What the user is told, with its text in ``locale``. ``external`` (the marketplace: API
    keys, the webhook) shows a reason that is never disclosed (reuse, screening, editing... a
    reviewer may reject for one) as the neutral ``not_verified``, so its code cannot tip off
    the user either; staff see the code the reviewer chose."""
    out: list[UserReasonOut] = []
    for code in verification.user_reasons or []:
        try:
            reason = Reason(code)
        except ValueError:
            continue
        item = UserReasonOut(code=reason, text=messages.user_text(reason, locale))
        if external and reason not in messages.USER_REASONS:
            item = UserReasonOut(code=NOT_VERIFIED, text=messages.user_text(reason, locale))
        if item not in out:
            out.append(item)
    return out


def external_reasons(verification: IdentityVerification) -> list[str]:
    """The reason codes the marketplace may see: those the user may be told. Internal
    findings (screening, reuse, editing signs, read states) stay with staff."""
    disclosed = {r.value for r in messages.USER_REASONS}
    return [r for r in verification.reasons or [] if r in disclosed]


def describe_many(
    session: Session,
    verifications: Sequence[IdentityVerification],
    *,
    actor: Principal | None = None,
) -> list[VerificationOut]:
    """:func:`describe` for a page: images in one query, the cases (for their tier) in
    another, accounts from the identity map."""
    ids = [v.id for v in verifications]
    by_verification: dict[int, list[IdentityImage]] = {vid: [] for vid in ids}
    if ids:
        for row in session.scalars(
            select(IdentityImage).where(IdentityImage.verification_id.in_(ids))
        ):
            by_verification[row.verification_id].append(row)
    case_ids = {v.case_id for v in verifications if v.case_id is not None}
    if case_ids:
        # Loaded into the identity map, where ``describe``'s ``session.get`` finds them.
        list(session.scalars(select(Case).where(Case.id.in_(case_ids))))
    return [
        describe(session, v, actor=actor, image_rows=by_verification[v.id]) for v in verifications
    ]


def describe(
    session: Session,
    verification: IdentityVerification,
    *,
    actor: Principal | None = None,
    replayed: bool | None = None,
    image_rows: Sequence[IdentityImage] | None = None,
    revealed: bool = False,
) -> VerificationOut:
    """A verification as ``actor`` may see it (see the module's invariants): staff with the
    fields and the checks' evidence masked unless ``revealed`` (an audited reveal with a
    reason, :func:`get`); API keys without internal reasons, checks, case or face distance.
    ``actor=None`` (or the system principal) is a trusted caller on this machine (the CLI, a
    job): the full view."""
    account = session.get(Account, verification.account_id)
    if image_rows is None:
        image_rows = images_of(session, verification.id)
    if replayed is None:
        replayed = bool(getattr(verification, "replayed", False))
    external = actor is not None and actor.type is ActorType.api_key
    masked = (
        actor is not None and actor.is_staff and not (revealed and actor.can(Permission.pii_reveal))
    )
    fields = dict(verification.fields or {})
    checks = list(verification.checks or [])
    case = None
    if verification.case_id is not None and not external:
        case = session.get(Case, verification.case_id)
    if masked:
        fields, checks = mask_fields(fields), mask_checks(checks)
    return VerificationOut(
        id=verification.id,
        account_id=account.external_id if account is not None else "",
        kind=verification.kind,
        issuing_country=verification.issuing_country,
        status=verification.status,
        outcome=verification.outcome,
        reasons=external_reasons(verification) if external else list(verification.reasons or []),
        user_reasons=user_reasons(verification, _locale_of(account), external=external),
        checks=[] if external else [CheckOut.model_validate(c) for c in checks],
        fields=fields,
        face_distance=None if external else verification.face_distance,
        case_id=None if external else verification.case_id,
        tier=Tier(case.tier) if case is not None else None,
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
    """The ``identity.verification.completed`` webhook's data: the outcome and what the user
    can act on (codes and texts in the account's language), as the marketplace may see them.
    No internal reason (screening, reuse...: the marketplace might pass them on to the user)
    and no case id; the fields read are fetched through the API if needed."""
    account = session.get(Account, verification.account_id)
    locale = _locale_of(account)
    return {
        "verification_id": verification.id,
        "account_id": account.external_id if account is not None else None,
        "kind": verification.kind.value,
        "status": verification.status.value,
        "outcome": verification.outcome.value if verification.outcome else None,
        "user_reasons": [
            r.model_dump(mode="json") for r in user_reasons(verification, locale, external=True)
        ],
        "locale": locale,
        "decided_by": "person" if verification.decision else "automated",
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
# Candidates from the band index looked at per query (a band shared by very many images is
# noise: the exact distance discards them).
MAX_BAND_CANDIDATES = 2000


class Fingerprint(str):
    """A document fingerprint (64 hex) that knows the id of the key that made it; assigning
    it to ``IdentityVerification.document_fingerprint`` records that id next to it."""

    key_id: str

    def __new__(cls, value: str, key_id: str) -> Fingerprint:
        made = super().__new__(cls, value)
        made.key_id = key_id
        return made


def _document_key(number: str, issuer: str) -> str:
    """``CC:NUMBER`` as the account's document identifier has it, so the fingerprint and the
    linked-accounts graph agree on what "the same document" is. An issuer without an ISO
    alpha-2 code (``UTO``, ``EUE``, ``UNO``...) or a number the identifier refuses is kept as
    read, upper case, letters and digits only."""
    try:
        return normalize.normalize_document(f"{issuer}:{number}")
    except ValueError:
        return f"{issuer.strip().upper()}:{re.sub(r'[^0-9A-Z]', '', number.upper())}"


def fingerprint(
    store: BlobStore, *, number: str, issuer: str, birth_date: date | None
) -> Fingerprint:
    """Keyed hash (HMAC-SHA256) of a document's identity: normalized issuer and number, and
    birth date. The key is the store's hash key (``identity_fingerprint_key``), independent
    of the blob keys, so rotating those never changes a fingerprint."""
    message = f"{_document_key(number, issuer)}\n{birth_date.isoformat() if birth_date else ''}"
    digest = hmac.new(
        store.derive("identity-document-fingerprint"), message.encode(), hashlib.sha256
    ).hexdigest()
    return Fingerprint(digest, store.hash_key_id)


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
            .order_by(IdentityImage.id.desc())
            .limit(limit)
        ):
            found[row.id] = _match(session, row, 0, "same_file")
    column = IdentityImage.phash if kind == "image" else IdentityImage.portrait_phash
    # Newest first, so a bounded scan of a very common band still sees the latest uploads
    # (the same document resubmitted on a fresh account), and the same rows every time.
    candidates = session.execute(
        select(IdentityImage.id, column)
        .join(IdentityHashBand, IdentityHashBand.image_id == IdentityImage.id)
        .where(
            IdentityHashBand.kind == kind,
            IdentityHashBand.band.in_(bands_of(phash)),
            IdentityHashBand.account_id != except_account_id,
        )
        .distinct()
        .order_by(IdentityImage.id.desc())
        .limit(MAX_BAND_CANDIDATES)
    ).all()
    for image_id, other in candidates:
        if image_id in found or other is None or len(other) != len(phash):
            continue
        distance = forensics.hash_distance(phash, other)
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

# What a reviewer may reject for: every reason the user can act on (its text says what to
# do), and the internal findings that are grounds on their own (the user is told the neutral
# ``not_verified`` text for these). Not ``ok``/``not_applicable``, and not the states a
# reviewer is there to resolve (an unconfirmed or unreadable read, a partial name match, a
# possible screening hit, a name not read): resolved, they become one of these.
REJECTION_REASONS: tuple[Reason, ...] = (
    *messages.USER_REASONS,
    *(
        r
        for r in (
            Reason.mrz_invalid_field,
            Reason.viz_mismatch,
            Reason.document_reused,
            Reason.image_reused,
            Reason.editing_suspected,
            Reason.screening_hit,
            Reason.selfie_is_document_copy,
        )
        if r not in messages.USER_REASONS
    ),
)


def approval_attention(checks: Sequence[Mapping[str, Any]]) -> str | None:
    """Why approving needs an explicit confirmation, or None when it does not: a check that
    failed, or one with a warning the machine left for a person (a possible screening hit,
    an uncertain face, an unconfirmed read, editing signs...). :func:`decide` applies it to
    every caller (the API's ``confirm: true``, the console's confirmation)."""
    statuses = {c.get("status") for c in checks}
    if CheckStatus.failed.value in statuses:
        return "some checks failed"
    if CheckStatus.warning.value in statuses:
        return "some checks need a look"
    return None


def _rejection_reasons(reasons: Sequence[Reason | str]) -> list[Reason]:
    accepted = {r.value: r for r in REJECTION_REASONS}
    codes: list[Reason] = []
    for i, value in enumerate(reasons):
        code = accepted.get(str(value))
        if code is None:
            raise InvalidInput(
                f"{str(value)[:64]!r} is not a reason a verification can be rejected for; "
                f"one of: {', '.join(accepted)}",
                field=f"reasons.{i}",
                code="invalid_reason",
            )
        if code not in codes:
            codes.append(code)
    return codes


_TIER_NAMES = {Tier.tier1: "Tier 1", Tier.specialist: "specialist", Tier.legal: "legal"}
_ROLE_PLURALS = {
    Role.agent: "agents",
    Role.specialist: "specialists",
    Role.legal: "legal reviewers",
    Role.qa: "QA reviewers",
    Role.policy_lead: "policy leads",
    Role.leadership: "T&S leadership",
    Role.admin: "admins",
}


def _require_workable(actor: Principal, case: Case) -> None:
    """403 when the case sits in a tier ``actor`` may not work (after an escalation, say)."""
    if not actor.is_staff:
        return
    tier = Tier(case.tier)
    tiers = workable_tiers(actor)
    if tiers is None or tier in tiers:
        return
    who = _ROLE_PLURALS.get(actor.role, "your role") if actor.role else "your role"
    raise PermissionDenied(
        f"this verification's case was moved to the {_TIER_NAMES[tier]} tier, and {who} "
        f"cannot work {_TIER_NAMES[tier]} cases",
        code="cannot_work_tier",
    )


def decide(
    session: Session,
    actor: Principal,
    verification_id: int,
    *,
    decision: str,
    reasons: Sequence[Reason | str] = (),
    note: str | None = None,
    expected_version: int | None = None,
    confirm: bool = False,
) -> IdentityVerification:
    """A person approves, rejects or escalates a verification under review.

    Approve and reject set the status, close the verification's case (taking it first when
    nobody holds it) and notify the marketplace by webhook; a rejection needs at least one
    of :data:`REJECTION_REASONS`. Escalate moves the case up a tier (a note is required) and
    leaves the verification in review.

    The rules every caller gets (the API and the console alike): ``expected_version``, the
    version the person saw, is required (422 ``version_required``; 409 ``version_conflict``
    when it moved on), so a second reviewer never silently overwrites the first; approving
    while :func:`approval_attention` has something to say needs ``confirm`` (422
    ``confirmation_required``); the verification's case must be in a tier the person may
    work (403 ``cannot_work_tier``).
    """
    actor.require(Permission.identity_decide)
    plan = _PLANS.get(decision)
    if plan is None:
        raise InvalidInput(
            "decision is approve, reject or escalate", field="decision", code="invalid_decision"
        )
    # Reasons go with a rejection (what the user is told); with another decision they mean
    # nothing and are left out.
    codes = _rejection_reasons(reasons) if decision == "reject" else []
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"note is at most {MAX_NOTE_CHARS} characters", field="note")
    if decision == "reject" and not codes:
        raise InvalidInput(
            "a rejection needs at least one reason the user is told",
            field="reasons",
            code="reason_required",
        )
    if decision == "escalate" and note is None:
        raise InvalidInput("an escalation needs a note", field="note", code="note_required")
    if expected_version is None:
        raise InvalidInput(
            "send the version of the verification you decided on (expected_version)",
            field="expected_version",
            code="version_required",
        )

    verification = _load(session, verification_id, lock=True)
    if verification.version != expected_version:
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
    if case is not None:
        _require_workable(actor, case)
    attention = approval_attention(verification.checks or [])
    if decision == "approve" and attention and not confirm:
        raise InvalidInput(
            f"{attention}: confirm that you approve anyway",
            field="confirm",
            code="confirmation_required",
        )

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
