"""API models for disputes. Request bodies refuse unknown fields.

Amounts come in as ``{"amount": "120.50", "currency": "USD"}`` (a decimal string, never a
float: a JSON number is accepted but read as its exact decimal text) and go out as the same
decimal string plus ``amount_minor`` (integer minor units) and ``currency``.

Two views of a dispute: :class:`DisputeOut` is what the marketplace (an API key) sees, the
parties' view, with nothing internal (no case, no mediator, no linked reviews); staff get
:class:`DisputeStaffOut`, which adds those.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema

from vigil.disputes import money
from vigil.disputes.models import (
    Answer,
    Dispute,
    DisputeEvent,
    DisputeProposal,
    DisputeStatus,
    DisputeSubmission,
    Outcome,
    Party,
    PaymentStatus,
    ProposalStatus,
    ReasonCode,
    ResolvedBy,
    SubjectType,
    SubmissionKind,
)

MAX_STATEMENT_CHARS = 20_000
MAX_EXCERPTS = 50
MAX_EXCERPT_CHARS = 2_000
MAX_NOTE_CHARS = 4_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests ---------------------------------------------------------------------------------

# An amount as sent: checked by ``money.parse_amount`` (422 ``invalid_amount`` on the field)
# rather than by the model, so that "1e3", "2.500,00" or ``true`` are refused with the
# amount's own code, never read as some other number.
AmountIn = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}, {"type": "number"}],
            "description": 'A plain decimal in major units, e.g. "120.50": no exponent, no '
            "thousands separators.",
        }
    ),
]


class MoneyIn(_Body):
    amount: AmountIn = Field(
        description='A plain decimal string in major units, e.g. "120.50" (no exponent, no '
        "thousands separators); no more decimals than the currency has, more than zero.",
        examples=["120.50"],
    )
    currency: str = Field(
        min_length=3, max_length=3, description="ISO 4217 code, e.g. USD.", examples=["USD"]
    )


class OpenDispute(_Body):
    """Open a dispute. ``opened_by`` names which of the two accounts opens it; the other is
    the respondent."""

    subject_type: SubjectType
    subject_ref: str = Field(
        min_length=1,
        max_length=200,
        description="The marketplace's id of the contract, job or payment.",
    )
    buyer_external_id: str = Field(
        min_length=1, max_length=200, description="The client, customer or student."
    )
    seller_external_id: str = Field(
        min_length=1, max_length=200, description="The freelancer, pro or instructor."
    )
    opened_by: Party
    reason_code: ReasonCode
    amount: MoneyIn
    statement: str = Field(
        default="",
        max_length=MAX_STATEMENT_CHARS,
        description="The opener's side, in their words (it becomes their first submission).",
    )
    idempotency_key: str | None = Field(
        default=None,
        max_length=200,
        description="Also accepted as the Idempotency-Key header. The same key returns the "
        "dispute it first opened.",
    )


class Excerpt(_Body):
    sent_at: AwareDatetime
    author: Party
    text: str = Field(min_length=1, max_length=MAX_EXCERPT_CHARS)


class SubmissionIn(_Body):
    """A party's statement and/or message excerpts (files are uploaded separately)."""

    party_external_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The account (buyer or seller of this dispute) whose side this is.",
    )
    statement: str | None = Field(default=None, max_length=MAX_STATEMENT_CHARS)
    excerpts: list[Excerpt] = Field(default_factory=list, max_length=MAX_EXCERPTS)


class ProposalIn(_Body):
    outcome: Outcome
    amount: AmountIn = Field(
        default=None,
        description="The refund for partial_refund, in major units of the dispute's currency.",
    )
    note: str = Field(
        default="", max_length=MAX_NOTE_CHARS, description="What the parties are told."
    )


class RulingIn(_Body):
    outcome: Outcome
    amount: AmountIn = Field(default=None, description="The refund for partial_refund.")
    reason: str = Field(max_length=MAX_NOTE_CHARS, description="Why; told to both parties.")


class AnswerIn(_Body):
    party_external_id: str = Field(min_length=1, max_length=200)
    accept: bool
    comment: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)


class WithdrawIn(_Body):
    party_external_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=MAX_NOTE_CHARS)


class ReviewIn(_Body):
    party: Party
    policy_code: str | None = Field(default=None, max_length=100)
    summary: str = Field(
        max_length=20_000, description="What in the dispute points to a violation. Required."
    )


class ReleaseIn(_Body):
    note: str = Field(max_length=MAX_NOTE_CHARS, description="Why the held payment is released.")


# --- responses --------------------------------------------------------------------------------


class MoneyOut(BaseModel):
    amount: str
    amount_minor: int
    currency: str
    display: str

    @classmethod
    def of(cls, minor: int, currency: str) -> MoneyOut:
        return cls(
            amount=money.to_decimal_str(minor, currency),
            amount_minor=minor,
            currency=currency,
            display=money.display(minor, currency),
        )


class SubmissionOut(BaseModel):
    id: int
    party: Party
    kind: SubmissionKind
    statement: str | None
    excerpts: list[dict[str, Any]]
    filename: str | None
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    created_at: datetime

    @classmethod
    def of(cls, s: DisputeSubmission) -> SubmissionOut:
        return cls(
            id=s.id,
            party=s.party,
            kind=s.kind,
            statement=s.statement,
            excerpts=list(s.excerpts or []),
            filename=s.filename,
            content_type=s.content_type,
            size_bytes=s.size_bytes,
            sha256=s.sha256,
            created_at=s.created_at,
        )


class ProposalOut(BaseModel):
    id: int
    status: ProposalStatus
    outcome: Outcome
    refund: MoneyOut | None
    release: MoneyOut | None
    note: str
    proposed_at: datetime
    due_at: datetime
    buyer_answer: Answer | None
    buyer_answered_at: datetime | None
    buyer_comment: str | None
    seller_answer: Answer | None
    seller_answered_at: datetime | None
    seller_comment: str | None
    closed_at: datetime | None

    @classmethod
    def of(cls, p: DisputeProposal, d: Dispute) -> ProposalOut:
        refund, release = money.split_for(p.outcome, d.amount_minor, p.refund_minor)
        return cls(
            id=p.id,
            status=p.status,
            outcome=p.outcome,
            refund=MoneyOut.of(refund, d.currency) if refund else None,
            release=MoneyOut.of(release, d.currency) if release else None,
            note=p.note,
            proposed_at=p.proposed_at,
            due_at=p.due_at,
            buyer_answer=p.buyer_answer,
            buyer_answered_at=p.buyer_answered_at,
            buyer_comment=p.buyer_comment,
            seller_answer=p.seller_answer,
            seller_answered_at=p.seller_answered_at,
            seller_comment=p.seller_comment,
            closed_at=p.closed_at,
        )


class EventOut(BaseModel):
    id: int
    at: datetime
    kind: str
    party: Party | None
    actor: str
    from_status: str | None
    to_status: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, e: DisputeEvent, *, staff: bool) -> EventOut:
        # The marketplace sees who acted as "mediator"/"system", never a staff member's name.
        actor = e.actor_label if staff else ("mediator" if e.actor_id else "system")
        if e.party is not None and not staff:
            actor = e.party.value
        return cls(
            id=e.id,
            at=e.at,
            kind=e.kind.value,
            party=e.party,
            actor=actor,
            from_status=e.from_status,
            to_status=e.to_status,
            data=dict(e.data or {}) if staff else _public_data(e.data or {}),
        )


_PUBLIC_EVENT_KEYS = frozenset(
    {"outcome", "proposal_id", "accept", "instruction", "kind", "submission_id", "due_at"}
)


def _public_data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in _PUBLIC_EVENT_KEYS}


class DisputeOut(BaseModel):
    """The parties' view (what an API key reads)."""

    id: int
    status: DisputeStatus
    subject_type: SubjectType
    subject_ref: str
    buyer_external_id: str
    seller_external_id: str
    opened_by: Party
    respondent: Party
    reason_code: ReasonCode
    amount: MoneyOut
    respondent_defaulted: bool
    outcome: Outcome | None
    resolved_by: ResolvedBy | None
    resolution_note: str | None
    refund: MoneyOut | None
    release: MoneyOut | None
    payment_status: PaymentStatus
    opened_at: datetime
    response_due_at: datetime
    responded_at: datetime | None
    defaulted_at: datetime | None
    first_proposed_at: datetime | None
    resolved_at: datetime | None
    open_proposal: ProposalOut | None = None

    @classmethod
    def fields_of(
        cls, d: Dispute, buyer_ext: str, seller_ext: str, open_proposal: DisputeProposal | None
    ) -> dict[str, Any]:
        return {
            "id": d.id,
            "status": d.status,
            "subject_type": d.subject_type,
            "subject_ref": d.subject_ref,
            "buyer_external_id": buyer_ext,
            "seller_external_id": seller_ext,
            "opened_by": d.opened_by,
            "respondent": d.respondent,
            "reason_code": d.reason_code,
            "amount": MoneyOut.of(d.amount_minor, d.currency),
            "respondent_defaulted": d.respondent_defaulted,
            "outcome": d.outcome,
            "resolved_by": d.resolved_by,
            "resolution_note": d.resolution_note,
            "refund": MoneyOut.of(d.refund_minor, d.currency) if d.refund_minor else None,
            "release": MoneyOut.of(d.release_minor, d.currency) if d.release_minor else None,
            "payment_status": d.payment_status,
            "opened_at": d.opened_at,
            "response_due_at": d.response_due_at,
            "responded_at": d.responded_at,
            "defaulted_at": d.defaulted_at,
            "first_proposed_at": d.first_proposed_at,
            "resolved_at": d.resolved_at,
            "open_proposal": ProposalOut.of(open_proposal, d) if open_proposal else None,
        }


class LinkedReviewOut(BaseModel):
    case_id: int
    party: Party
    status: str
    created_at: datetime


class DisputeStaffOut(DisputeOut):
    """Staff's view: adds the case and the linked account reviews."""

    case_id: int
    linked_reviews: list[LinkedReviewOut] = Field(default_factory=list)


class DisputeDetailOut(BaseModel):
    """One dispute with both sides, the proposals and the timeline."""

    dispute: DisputeStaffOut | DisputeOut
    submissions: list[SubmissionOut]
    proposals: list[ProposalOut]
    timeline: list[EventOut]


class DisputePage(BaseModel):
    items: list[DisputeStaffOut | DisputeOut]
    next_cursor: str | None = None


class DurationStats(BaseModel):
    count: int
    median_seconds: float | None
    p90_seconds: float | None


class MetricsOut(BaseModel):
    since: datetime | None
    until: datetime | None
    opened: int
    resolved: int
    resolved_by_outcome: dict[str, int]
    resolved_by: dict[str, int]
    respondent_default_rate: float | None
    time_to_first_response: DurationStats
    time_to_first_proposal: DurationStats
    time_to_resolution: DurationStats
