"""Tables of identity verification: one row per submission, one per image, and the
perceptual-hash bands that find a reused image among many.

Invariants:
- Images live encrypted in the blob store (``vigil.kit.blobs``); a row holds the blob's key,
  never the bytes.
- ``document_fingerprint`` is an HMAC keyed by the fingerprint key (``identity_fingerprint_key``,
  independent of the blob keys), not a bare hash: the inputs (a document number, an issuer, a
  birth date) are guessable, so a bare hash would be a lookup table away from the number.
  ``document_fingerprint_key`` holds the id of the key that made it, set whenever the
  fingerprint is (a fingerprint from ``identity.service.fingerprint`` carries its key id).
- Rows that name an account (images, hash bands) have an index leading with ``account_id``,
  so deleting an account cascades by index, not by scan.
- ``(account_id, idempotency_key)`` is unique: a repeated submission returns the first.
- ``fields`` and ``checks`` (everything read from the document: names, numbers, birth dates,
  MRZ lines, AAMVA fields, and the checks' evidence quoting them) are sealed in the database
  (``vigil.kit.sealed``, bound to the row's id and column); the code reads and writes plain
  values. Nothing filters on them in SQL: lookups by document go through the fingerprint.
- ``version`` moves on every change (optimistic concurrency for reviewers' decisions).
- A verification's status moves ``pending -> processing -> approved | rejected | review |
  failed``, and ``review -> approved | rejected`` by a person; the CHECK constraints keep
  statuses, outcomes and sides inside their enums.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from vigil.identity.types import DocumentKind, ImageSide, Outcome, VerificationStatus
from vigil.kit import clock, sealed
from vigil.kit.models import (
    Base,
    BigId,
    IdMixin,
    JSONList,
    TimestampMixin,
    enum_check,
    str_enum,
)
from vigil.kit.sealed_orm import SealedJSON, install

_FIELDS = sealed.register_column("identity_verifications", "fields")
_CHECKS = sealed.register_column("identity_verifications", "checks")


class IdentityVerification(IdMixin, TimestampMixin, Base):
    """One submission of a document (front, back, selfie) for one account, and its result."""

    __tablename__ = "identity_verifications"
    __table_args__ = (
        CheckConstraint(enum_check("kind", DocumentKind), name="kind"),
        CheckConstraint(enum_check("status", VerificationStatus), name="status"),
        CheckConstraint("outcome IS NULL OR " + enum_check("outcome", Outcome), name="outcome"),
        UniqueConstraint("account_id", "idempotency_key"),
        # An account's verifications, newest first.
        Index("ix_identity_verifications_account_id_id", "account_id", "id"),
        # The review list (and other status lists), oldest submission first: the keyset
        # ``(created_at, id)`` within a status.
        Index("ix_identity_verifications_status_created_at", "status", "created_at", "id"),
        # Reuse: the same document on another account.
        Index("ix_identity_verifications_fingerprint", "document_fingerprint", "account_id"),
        # Metrics: verifications by when the pipeline reached its outcome.
        Index(
            "ix_identity_verifications_processed_at",
            "processed_at",
            postgresql_where=text("processed_at IS NOT NULL"),
            sqlite_where=text("processed_at IS NOT NULL"),
        ),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind))
    # As claimed at submission: ISO alpha-2 or ICAO alpha-3, upper case.
    issuing_country: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[VerificationStatus] = mapped_column(
        str_enum(VerificationStatus), default=VerificationStatus.pending
    )
    outcome: Mapped[Outcome | None] = mapped_column(str_enum(Outcome))
    # Reason codes behind the outcome (for reviewers) and the ones the user is told.
    reasons: Mapped[list[str]] = mapped_column(JSONList, default=list)
    user_reasons: Mapped[list[str]] = mapped_column(JSONList, default=list)
    # Every check as ``Check.to_json()``; what each source read, and the merge. Sealed: the
    # columns hold tokens, ``checks``/``fields`` the plain values (``kit.sealed_orm``).
    checks_sealed: Mapped[str | None] = mapped_column("checks", Text)
    fields_sealed: Mapped[str | None] = mapped_column("fields", Text)
    checks = SealedJSON("checks_sealed", _CHECKS, default=list)
    fields = SealedJSON("fields_sealed", _FIELDS, default=dict)
    document_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Hex id of the fingerprint key (``BlobStore.hash_key_id``) that made the fingerprint.
    document_fingerprint_key: Mapped[str | None] = mapped_column(String(16))
    face_distance: Mapped[float | None] = mapped_column(Float)
    case_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of what was submitted (kind, country, each image's SHA-256): a repeat of an
    # idempotency key must carry the same submission.
    request_sha256: Mapped[str] = mapped_column(String(64))
    submitted_by: Mapped[str] = mapped_column(String(200))
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # A person's decision on a verification under review.
    decision: Mapped[str | None] = mapped_column(String(16))
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @validates("document_fingerprint")
    def _fingerprint_key(self, _key: str, value: str | None) -> str | None:
        # A fingerprint made by ``identity.service.fingerprint`` carries the id of its key; any
        # other value (None, a plain string) leaves the key unknown.
        self.document_fingerprint_key = getattr(value, "key_id", None)
        return None if value is None else str(value)


install(IdentityVerification)


class IdentityImage(IdMixin, Base):
    """One submitted image. ``account_id`` is copied from the verification so reuse queries
    ("this image on another account") need no join."""

    __tablename__ = "identity_images"
    __table_args__ = (
        CheckConstraint(enum_check("side", ImageSide), name="side"),
        UniqueConstraint("verification_id", "side"),
        # The exact same file on another account.
        Index("ix_identity_images_sha256", "sha256", "account_id"),
        # Deleting an account cascades here.
        Index("ix_identity_images_account_id", "account_id"),
    )

    verification_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("identity_verifications.id", ondelete="CASCADE")
    )
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    side: Mapped[ImageSide] = mapped_column(str_enum(ImageSide, 16))
    blob_key: Mapped[str] = mapped_column(String(64), unique=True)
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # 64-bit perceptual hashes (16 hex), of the whole image and of the portrait on it.
    phash: Mapped[str | None] = mapped_column(String(16))
    portrait_phash: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class IdentityHashBand(IdMixin, Base):
    """One of the eight 8-bit bands of an image's perceptual hash.

    Two 64-bit hashes within Hamming distance 7 agree exactly on at least one of their eight
    bands (pigeonhole), so "images near this one" is an indexed equality lookup on the eight
    bands followed by an exact distance on the few candidates, instead of a scan."""

    __tablename__ = "identity_hash_bands"
    __table_args__ = (
        Index("ix_identity_hash_bands_lookup", "kind", "band", "account_id"),
        # Deleting an account cascades here.
        Index("ix_identity_hash_bands_account_id", "account_id"),
    )

    image_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("identity_images.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "image" or "portrait"
    band: Mapped[str] = mapped_column(String(8))  # "<index>:<2 hex>", e.g. "3:af"
