"""The shared vocabulary of identity verification: what is submitted, what is read, what is
checked and what comes out. Readers (``mrz``, ``aamva``, ``viz``), checks (``checks``), the
pipeline and the console all speak these types; nothing here touches the database.

Everything a check keeps as evidence is JSON-serializable (strings, numbers, booleans, lists,
dicts): it is stored with the verification and shown to the reviewer as is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any


class DocumentKind(StrEnum):
    passport = "passport"
    id_card = "id_card"
    driver_license = "driver_license"
    residence_permit = "residence_permit"
    visa = "visa"


class ImageSide(StrEnum):
    front = "front"
    back = "back"
    selfie = "selfie"


class VerificationStatus(StrEnum):
    """``pending`` until the job runs; ``processing`` while it does; then the outcome.
    ``review`` waits for a person (an ``identity_review`` case); ``failed`` means the job could
    not process the images at all (an internal error, retried by the job system first)."""

    pending = "pending"
    processing = "processing"
    approved = "approved"
    rejected = "rejected"
    review = "review"
    failed = "failed"

    @property
    def final(self) -> bool:
        return self in (VerificationStatus.approved, VerificationStatus.rejected)


class Outcome(StrEnum):
    approve = "approve"
    reject = "reject"
    review = "review"


class CheckStatus(StrEnum):
    passed = "passed"
    failed = "failed"  # a reason to reject, or to review when the failure is not certain
    warning = "warning"  # a reason to review, never to reject
    skipped = "skipped"  # not applicable to this document, or nothing to check against


class CheckName(StrEnum):
    image_quality = "image_quality"  # blur, glare, resolution of each side
    face_present = "face_present"  # a portrait on the document, a face on the selfie
    document_expired = "document_expired"
    minimum_age = "minimum_age"
    mrz_integrity = "mrz_integrity"  # MRZ found, check digits pass, read confirmed
    barcode_integrity = "barcode_integrity"  # PDF417 found and parsed as AAMVA
    visual_zone = "visual_zone"  # printed fields agree with the MRZ or the barcode
    sides_consistency = "sides_consistency"  # front and back tell the same story
    profile_name = "profile_name"
    profile_birth_date = "profile_birth_date"
    profile_country = "profile_country"
    document_reuse = "document_reuse"  # same number + issuer + birth date on another account
    image_reuse = "image_reuse"  # same image (perceptual hash) on another account
    face_match = "face_match"  # selfie vs document portrait
    editing_signs = "editing_signs"  # metadata, error-level analysis: review signal only
    screening = "screening"  # sanctions / PEP lists


class Reason(StrEnum):
    """Stable reason codes. A user-facing ``reject`` reason has text the user can act on in
    ``identity.messages`` (en/es/pt); the rest are for reviewers."""

    ok = "ok"
    not_applicable = "not_applicable"
    # image_quality / face_present (the user can fix these by retaking the photo)
    image_blurry = "image_blurry"
    image_glare = "image_glare"
    image_low_resolution = "image_low_resolution"
    image_unreadable = "image_unreadable"
    image_missing = "image_missing"
    face_not_found = "face_not_found"
    selfie_face_not_found = "selfie_face_not_found"
    multiple_faces = "multiple_faces"
    # reading
    mrz_not_found = "mrz_not_found"
    mrz_check_digits_failed = "mrz_check_digits_failed"
    mrz_unconfirmed = "mrz_unconfirmed"  # check digits pass but nothing independent agrees
    mrz_invalid_field = "mrz_invalid_field"  # e.g. unknown country code, impossible date
    barcode_not_found = "barcode_not_found"
    barcode_invalid = "barcode_invalid"
    viz_mismatch = "viz_mismatch"
    viz_unreadable = "viz_unreadable"
    sides_mismatch = "sides_mismatch"
    document_kind_mismatch = "document_kind_mismatch"  # claimed passport, read an ID card
    # validity
    document_expired = "document_expired"
    expiry_unknown = "expiry_unknown"
    holder_under_age = "holder_under_age"
    birth_date_unknown = "birth_date_unknown"
    # against the profile
    name_mismatch = "name_mismatch"
    name_partial_match = "name_partial_match"
    birth_date_mismatch = "birth_date_mismatch"
    country_mismatch = "country_mismatch"
    profile_incomplete = "profile_incomplete"
    # against other accounts and lists
    document_reused = "document_reused"
    image_reused = "image_reused"
    face_mismatch = "face_mismatch"
    face_uncertain = "face_uncertain"
    editing_suspected = "editing_suspected"
    screening_hit = "screening_hit"
    screening_possible_hit = "screening_possible_hit"
    name_unknown = "name_unknown"  # the document's name was not read
    selfie_is_document_copy = "selfie_is_document_copy"  # the selfie is the document's photo


@dataclass
class Check:
    name: CheckName
    status: CheckStatus
    reason: Reason = Reason.ok
    evidence: dict[str, Any] = field(default_factory=dict)
    # A signal for a reviewer only: never the sole ground of an automated rejection.
    review_only: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name.value,
            "status": self.status.value,
            "reason": self.reason.value,
            "evidence": self.evidence,
            "review_only": self.review_only,
        }


@dataclass
class DocumentFields:
    """What one source (``mrz``, ``barcode``, ``viz``) or the merge of them says about the
    document. Names are as printed (upper case for the MRZ, ICAO-transliterated there);
    countries are ISO 3166-1 alpha-3 as in ICAO 9303 (``D`` for Germany is kept as read and
    mapped by ``country_alpha2`` where needed)."""

    source: str
    document_kind: DocumentKind | None = None
    issuing_country: str | None = None
    document_number: str | None = None
    surname: str | None = None
    given_names: str | None = None
    birth_date: date | None = None
    expiry_date: date | None = None
    issue_date: date | None = None
    sex: str | None = None  # M, F, X (or None when unspecified)
    nationality: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.given_names, self.surname) if p)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, date):
                out[key] = value.isoformat()
            elif isinstance(value, DocumentKind):
                out[key] = value.value
        return out
