"""API models of identity verification: what the marketplace and staff read back.

Invariants: images are described (side, type, size), never embedded; the document
fingerprint and blob keys never leave through these models; user-facing reasons carry their
text in the account's language, so the marketplace can show them as is. What each reader gets
in them (full, masked, the marketplace's view) is decided by ``identity.service.describe``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Field, StringConstraints

from vigil.auth.permissions import Tier
from vigil.identity.types import (
    DocumentKind,
    ImageSide,
    Outcome,
    Reason,
    VerificationStatus,
)


class ImageOut(BaseModel):
    id: int
    side: ImageSide
    media_type: str
    size: int
    width: int
    height: int


# The code the marketplace sees for a reason a reviewer rejected for that is never disclosed
# to the user (reuse, screening, editing signs...): its text is the neutral one.
NOT_VERIFIED: Final = "not_verified"


class UserReasonOut(BaseModel):
    code: Reason | Literal["not_verified"] = Field(
        description="A reason code; `not_verified` (to the marketplace) for one never disclosed."
    )
    text: str = Field(description="What to tell the user, in the account's language.")


class CheckOut(BaseModel):
    name: str
    status: str
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    review_only: bool = False


class VerificationOut(BaseModel):
    id: int
    account_id: str = Field(description="The marketplace's id for the account.")
    kind: DocumentKind
    issuing_country: str | None
    status: VerificationStatus
    outcome: Outcome | None
    reasons: list[str] = Field(
        description="Reason codes behind the outcome. Staff: every finding. API keys: only "
        "the codes the user may be told (internal findings stay with staff)."
    )
    user_reasons: list[UserReasonOut] = Field(
        description="What the user can act on (a rejection's reasons), with text."
    )
    checks: list[CheckOut] = Field(
        description="Every check with its evidence (staff only: empty for API keys; personal "
        "values masked for staff without pii:reveal)."
    )
    fields: dict[str, Any] = Field(
        description="What was read from the document (personal values masked for staff "
        "without pii:reveal)."
    )
    face_distance: float | None = Field(description="Selfie vs portrait (staff only).")
    case_id: int | None = Field(description="The review case (staff only).")
    tier: Tier | None = Field(
        default=None,
        description="The tier the review case sits in: tier1, specialist or legal (staff "
        "only; null without a case).",
    )
    images: list[ImageOut]
    decision: str | None = None
    decided_at: datetime | None = None
    created_at: datetime
    processed_at: datetime | None
    version: int
    replayed: bool = Field(
        default=False,
        description="True when this answers a repeat of an earlier request's Idempotency-Key.",
    )


class DecisionIn(BaseModel):
    """A person's decision on a verification under review."""

    model_config = {"extra": "forbid"}

    decision: Literal["approve", "reject", "escalate"]
    # Plain strings, checked by ``identity.service.decide``: its 422 lists the reasons a
    # verification can be rejected for (``REJECTION_REASONS``), an enum error would list
    # every code, ``ok`` included.
    reasons: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list,
        max_length=20,
        description="Reject: the reasons (at least one): what the user can act on, or an "
        "internal ground (document_reused, screening_hit...) the user is told as not_verified.",
    )
    note: str | None = Field(
        default=None, max_length=4000, description="Required to escalate: why."
    )
    expected_version: int | None = Field(
        default=None,
        ge=1,
        description="Required: the verification's version you decided on (422 "
        "version_required without it, 409 version_conflict when it moved on).",
    )
    confirm: bool = Field(
        default=False,
        description="Approve while a check failed or has a warning: true to confirm "
        "(422 confirmation_required otherwise).",
    )
