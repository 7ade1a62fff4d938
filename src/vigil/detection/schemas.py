"""API models for events and their decisions.

Invariant: what a reader gets of a stored event is decided here, in :meth:`EventOut.of`. The
marketplace (API keys) gets its own payload back, but of the events Vigil records itself
(``identity_verified``) only what the identity API would show it: no document fingerprint,
no internal reason, no finding that would tip off the user (screening, reuse, face
distance). Staff get identifiers masked (``masked_payload``), the document fingerprint too.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.accounts.masking import mask_email, mask_ip, mask_phone, mask_token
from vigil.identity.messages import USER_REASONS

if TYPE_CHECKING:
    from vigil.detection.models import Event
    from vigil.detection.service import BatchItem, EventResult


class HitOut(BaseModel):
    """A rule that fired, and why."""

    model_config = ConfigDict(extra="allow")

    rule_id: int
    rule_version: int
    name: str
    score: float
    outcome: str
    policy_code: str | None = None
    queue: str | None = None
    shadow: bool = False
    reason: str = ""


class ProblemOut(BaseModel):
    """Something that did not go as the rules asked: a rule that failed on this event
    (``rule_error``), an action that could not be taken (``block_not_applied``...)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    field: str | None = None


class DecisionOut(BaseModel):
    """The decision on one event."""

    event_id: str
    outcome: str = Field(description="allow, review or block")
    score: float = Field(description="Sum of the scores of the live rules that fired.")
    hits: list[HitOut] = Field(description="The live rules that fired, with their reasons.")
    errors: list[ProblemOut]
    case_id: int | None = Field(description="The case opened (or added to) for review or block.")
    decision_id: int | None = Field(description="The automated decision, for a block.")
    snoozed_by_case_id: int | None = Field(
        default=None,
        description="Review held back: this recent case for the same account and policy was "
        "closed without a violation.",
    )
    duplicate: bool = Field(description="True: this event_id was decided before; nothing re-run.")

    @classmethod
    def of(cls, r: EventResult, *, shadow: bool = False) -> DecisionOut:
        return cls(
            event_id=r.event_id,
            outcome=r.outcome,
            score=r.score,
            hits=[HitOut(**h) for h in r.hits if shadow or not h.get("shadow")],
            errors=[ProblemOut(**e) for e in r.errors],
            case_id=r.case_id,
            decision_id=r.decision_id,
            snoozed_by_case_id=r.snoozed_by_case_id,
            duplicate=r.duplicate,
        )


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Items are checked one by one (a bad one does not sink the others), so they are taken
    # as objects here; each must be an event as ``POST /v1/events`` takes it.
    events: list[Any] = Field(
        description="Events as POST /v1/events takes them; at most VIGIL_EVENTS_BATCH_MAX."
    )


class BatchItemOut(BaseModel):
    index: int
    event_id: str | None
    status: int = Field(description="What POST /v1/events would have answered for this item.")
    decision: DecisionOut | None = None
    error: dict[str, Any] | None = Field(
        default=None, description="{code, message, field}: field is events.<index>.<path>."
    )

    @classmethod
    def of(cls, item: BatchItem) -> BatchItemOut:
        return cls(
            index=item.index,
            event_id=item.event_id,
            status=item.status,
            decision=DecisionOut.of(item.result) if item.result is not None else None,
            error=item.error,
        )


class BatchOut(BaseModel):
    accepted: int = Field(description="Items decided now or before (duplicates).")
    refused: int
    duplicates: int
    items: list[BatchItemOut]

    @classmethod
    def of(cls, items: list[BatchItem]) -> BatchOut:
        return cls(
            accepted=sum(1 for i in items if i.result is not None),
            refused=sum(1 for i in items if i.result is None),
            duplicates=sum(1 for i in items if i.result is not None and i.result.duplicate),
            items=[BatchItemOut.of(i) for i in items],
        )


def masked_payload(payload: dict[str, Any], event_type: str | None = None) -> dict[str, Any]:
    """The envelope as staff see it: identifiers and contact data masked (the accounts API
    reveals them, with a reason, when needed)."""
    out = dict(payload)
    if out.get("ip"):
        out["ip"] = mask_ip(out["ip"])
    for name in ("device_id", "payment_fingerprint"):
        if out.get(name):
            out[name] = mask_token(out[name])
    data = dict(out.get("data") or {})
    if (event_type or out.get("type")) == "identity_verified" and data.get("document_fingerprint"):
        data["document_fingerprint"] = mask_token(str(data["document_fingerprint"]))
    if data.get("email"):
        data["email"] = mask_email(data["email"])
    if data.get("phone"):
        data["phone"] = mask_phone(data["phone"])
    out["data"] = data
    return out


# Of an ``identity_verified`` event, what the marketplace may read: the outcome and the reasons
# its user may be told (``identity.service.external_reasons``' rule). The rest (fingerprint,
# internal reasons, reuse, screening, face distance) is for the rules and for staff.
_IDENTITY_EXTERNAL_DATA = ("verification_id", "kind", "outcome")
_DISCLOSED_REASONS = frozenset(r.value for r in USER_REASONS)


def external_payload(payload: dict[str, Any], event_type: str | None = None) -> dict[str, Any]:
    """The envelope as the marketplace (an API key) sees it: its own events as sent; an event
    Vigil recorded itself without what stays with staff."""
    if (event_type or payload.get("type")) != "identity_verified":
        return payload
    out = dict(payload)
    data = dict(out.get("data") or {})
    kept = {k: data[k] for k in _IDENTITY_EXTERNAL_DATA if k in data}
    kept["reasons"] = [r for r in data.get("reasons") or [] if r in _DISCLOSED_REASONS]
    out["data"] = kept
    return out


class EventOut(BaseModel):
    id: int
    event_id: str
    type: str
    account_id: str = Field(description="The marketplace's id for the account.")
    occurred_at: datetime
    received_at: datetime
    payload: dict[str, Any]
    features: dict[str, Any]
    outcome: str
    score: float
    hits: list[HitOut]
    errors: list[ProblemOut]
    case_id: int | None
    decision_id: int | None
    snoozed_by_case_id: int | None

    @classmethod
    def of(cls, e: Event, *, staff: bool) -> EventOut:
        """Staff see shadow hits (rules being tried) and masked identifiers; the
        marketplace sees its own payload back (``external_payload``: less of what Vigil
        recorded itself) and only the live rules."""
        return cls(
            id=e.id,
            event_id=e.event_id,
            type=e.type,
            account_id=e.account_external_id,
            occurred_at=e.occurred_at,
            received_at=e.received_at,
            payload=(
                masked_payload(e.payload, e.type) if staff else external_payload(e.payload, e.type)
            ),
            features=e.features or {},
            outcome=str(e.outcome),
            score=e.score,
            hits=[HitOut(**h) for h in (e.hits or []) if staff or not h.get("shadow")],
            errors=[ProblemOut(**x) for x in (e.errors or [])],
            case_id=e.case_id,
            decision_id=e.decision_id,
            snoozed_by_case_id=e.snoozed_by_case_id,
        )


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = None
