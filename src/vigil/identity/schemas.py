"""API models of identity verification: what the marketplace and staff read back.

Invariants: images are described (side, type, size), never embedded; the document
fingerprint and blob keys never leave Vigil; user-facing reasons carry their text in the
account's language, so the marketplace can show them as is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

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


class UserReasonOut(BaseModel):
    code: Reason
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
    reasons: list[str] = Field(description="Reason codes behind the outcome (for reviewers).")
    user_reasons: list[UserReasonOut] = Field(
        description="What the user can act on (a rejection's reasons), with text."
    )
    checks: list[CheckOut]
    fields: dict[str, Any] = Field(description="What was read from the document.")
    face_distance: float | None
    case_id: int | None
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
    reasons: list[Reason] = Field(
        default_factory=list,
        max_length=20,
        description="Reject: the reasons the user is told (at least one).",
    )
    note: str | None = Field(default=None, max_length=4000)
    expected_version: int | None = Field(default=None, ge=1)
