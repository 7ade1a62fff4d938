"""API models of legal holds, erasure requests and access requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vigil.privacy.models import ErasureRequest, ErasureStatus, LegalHold

MAX_ID = 200
MAX_REASON = 2000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LegalHoldIn(_Body):
    """Place a hold on an account (by the marketplace's id) or on a case: one of them."""

    account_external_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    case_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    reason: str = Field(max_length=MAX_REASON, description="Why (a matter, a request).")
    review_at: AwareDatetime | None = Field(
        default=None, description="When legal means to review the hold (nothing automatic)."
    )


class LiftIn(_Body):
    reason: str = Field(max_length=MAX_REASON)


class LegalHoldOut(BaseModel):
    id: int
    account_id: int | None
    case_id: int | None
    reason: str
    placed_by: str
    placed_at: datetime
    review_at: datetime | None
    active: bool
    lifted_at: datetime | None
    lifted_by: str | None
    lift_reason: str | None

    @classmethod
    def of(cls, hold: LegalHold) -> LegalHoldOut:
        return cls(
            id=hold.id,
            account_id=hold.account_id,
            case_id=hold.case_id,
            reason=hold.reason,
            placed_by=hold.placed_by_label,
            placed_at=hold.placed_at,
            review_at=hold.review_at,
            active=hold.lifted_at is None,
            lifted_at=hold.lifted_at,
            lifted_by=hold.lifted_by_label,
            lift_reason=hold.lift_reason,
        )


class LegalHoldPage(BaseModel):
    items: list[LegalHoldOut]
    next_cursor: str | None = None


class ErasureRequestIn(_Body):
    account_external_id: str = Field(
        min_length=1, max_length=MAX_ID, description="The marketplace's id of the person."
    )
    reference: str | None = Field(
        default=None, max_length=200, description="Your reference for the request (a ticket)."
    )
    note: str | None = Field(default=None, max_length=MAX_REASON)


class RefuseIn(_Body):
    reason: str = Field(max_length=MAX_REASON)


class ErasureRequestOut(BaseModel):
    id: int
    account_external_id: str
    status: ErasureStatus
    reference: str | None
    note: str | None
    requested_by: str
    received_at: datetime
    completed_at: datetime | None
    refused_at: datetime | None
    refusal_reason: str | None
    handled_by: str | None
    result: dict[str, Any] | None = Field(
        description="Once completed: `erased` (data, action, count) and `kept` (data, count, "
        "reason), and the ids of the legal holds that kept data."
    )

    @classmethod
    def of(cls, r: ErasureRequest) -> ErasureRequestOut:
        return cls(
            id=r.id,
            account_external_id=r.account_external_id,
            status=r.status,
            reference=r.reference,
            note=r.note,
            requested_by=r.requested_by_label,
            received_at=r.received_at,
            completed_at=r.completed_at,
            refused_at=r.refused_at,
            refusal_reason=r.refusal_reason,
            handled_by=r.handled_by_label,
            result=r.result,
        )


class ErasureRequestPage(BaseModel):
    items: list[ErasureRequestOut]
    next_cursor: str | None = None


class AccessRequestIn(_Body):
    account_external_id: str = Field(min_length=1, max_length=MAX_ID)


class PersonExport(BaseModel):
    """Everything Vigil holds about the person, by section (docs/privacy.md)."""

    format: str
    generated_at: datetime
    account_external_id: str
    sections: dict[str, Any]
    withheld: list[dict[str, str]]
