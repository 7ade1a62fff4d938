"""Tables of the disputes domain.

A dispute is between the *buyer* (client, customer, student) and the *seller* (freelancer,
pro, instructor) of one contract, job or payment. Its status changes only through
``disputes.states.transition``, which stamps the step's timestamp and appends a
``DisputeEvent``; the event table is the dispute's timeline and what the metrics read.

Invariants:
- ``status = 'resolved'`` exactly when ``resolved_at``, ``resolved_by`` and ``outcome`` are
  set (a withdrawal has the outcome ``withdrawn``).
- At most one live (not resolved) dispute per subject and pair of accounts (a partial unique
  index), so a repeated open returns the live one instead of a second.
- Durations used by the metrics (``*_seconds``) are written once, when their step happens,
  so percentiles are computed by SQL without date arithmetic that differs per database.
- Amounts are integer minor units of ``currency`` (ISO 4217).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONList, enum_check, str_enum


class SubjectType(StrEnum):
    contract = "contract"
    job = "job"
    payment = "payment"


class Party(StrEnum):
    buyer = "buyer"  # client, customer, student: the one who pays
    seller = "seller"  # freelancer, pro, instructor: the one who is paid

    @property
    def other(self) -> Party:
        return Party.seller if self is Party.buyer else Party.buyer


class ReasonCode(StrEnum):
    not_delivered = "not_delivered"
    not_as_described = "not_as_described"
    quality = "quality"
    payment_not_received = "payment_not_received"
    cancellation = "cancellation"
    other = "other"


class DisputeStatus(StrEnum):
    awaiting_response = "awaiting_response"  # the respondent has until response_due_at
    in_mediation = "in_mediation"  # both sides in (or the respondent defaulted)
    proposed = "proposed"  # a proposal waits for both parties' answers
    resolved = "resolved"  # by agreement, ruling or withdrawal


class Outcome(StrEnum):
    full_refund = "full_refund"
    partial_refund = "partial_refund"
    release = "release"  # payment to the seller
    redo = "redo"  # the seller redoes the work; payment stays held until released
    no_action = "no_action"  # nothing changes hands beyond the normal release
    withdrawn = "withdrawn"  # the opener withdrew (only as a dispute's outcome)


PROPOSABLE = (
    Outcome.full_refund,
    Outcome.partial_refund,
    Outcome.release,
    Outcome.redo,
    Outcome.no_action,
)


class ResolvedBy(StrEnum):
    agreement = "agreement"
    ruling = "ruling"
    withdrawn = "withdrawn"


class PaymentStatus(StrEnum):
    """Where the disputed money stands, as told to the marketplace by instructions."""

    held = "held"
    refunded = "refunded"  # all of it to the buyer
    released = "released"  # all of it to the seller
    partially_refunded = "partially_refunded"  # part refunded, the rest released


class SubmissionKind(StrEnum):
    statement = "statement"
    excerpts = "excerpts"
    file = "file"


class ProposalStatus(StrEnum):
    open = "open"  # waiting for answers until due_at
    accepted = "accepted"  # both parties accepted: the dispute resolved by agreement
    rejected = "rejected"  # a party rejected it
    lapsed = "lapsed"  # a party did not answer by due_at (counts as a rejection)
    superseded = "superseded"  # a newer proposal or a ruling replaced it
    withdrawn = "withdrawn"  # the dispute was withdrawn while it was open


class Answer(StrEnum):
    accepted = "accepted"
    rejected = "rejected"


class DisputeEventKind(StrEnum):
    opened = "opened"
    submission = "submission"
    reminder = "reminder"
    responded = "responded"
    defaulted = "defaulted"
    proposed = "proposed"
    answered = "answered"
    rejected = "rejected"
    lapsed = "lapsed"
    agreed = "agreed"
    ruled = "ruled"
    withdrawn = "withdrawn"
    payment_instruction = "payment_instruction"
    review_opened = "review_opened"
    file_viewed = "file_viewed"


# What the parties (through the marketplace) may see of the timeline. Anything else (a linked
# account review, a staff member viewing a file) is internal to Trust & Safety.
PUBLIC_EVENT_KINDS = frozenset(
    {
        DisputeEventKind.opened,
        DisputeEventKind.submission,
        DisputeEventKind.reminder,
        DisputeEventKind.responded,
        DisputeEventKind.defaulted,
        DisputeEventKind.proposed,
        DisputeEventKind.answered,
        DisputeEventKind.rejected,
        DisputeEventKind.lapsed,
        DisputeEventKind.agreed,
        DisputeEventKind.ruled,
        DisputeEventKind.withdrawn,
        DisputeEventKind.payment_instruction,
    }
)


class Dispute(IdMixin, Base):
    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint(enum_check("status", DisputeStatus), name="status"),
        CheckConstraint(enum_check("subject_type", SubjectType), name="subject_type"),
        CheckConstraint(enum_check("opened_by", Party), name="opened_by"),
        CheckConstraint(enum_check("reason_code", ReasonCode), name="reason_code"),
        CheckConstraint(enum_check("payment_status", PaymentStatus), name="payment_status"),
        CheckConstraint("outcome IS NULL OR " + enum_check("outcome", Outcome), name="outcome"),
        CheckConstraint(
            "resolved_by IS NULL OR " + enum_check("resolved_by", ResolvedBy), name="resolved_by"
        ),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("buyer_account_id <> seller_account_id", name="two_parties"),
        CheckConstraint(
            "(status = 'resolved') = (resolved_at IS NOT NULL AND resolved_by IS NOT NULL "
            "AND outcome IS NOT NULL)",
            name="resolved_iff_outcome",
        ),
        # One live dispute per subject and pair of accounts (the open idempotency).
        Index(
            "uq_disputes_live_subject",
            "subject_type",
            "subject_ref",
            "buyer_account_id",
            "seller_account_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
            sqlite_where=text("status <> 'resolved'"),
        ),
        # The deadline sweep: disputes waiting for the respondent, by due time.
        Index(
            "ix_disputes_response_due",
            "response_due_at",
            postgresql_where=text("status = 'awaiting_response'"),
            sqlite_where=text("status = 'awaiting_response'"),
        ),
        # Lists (newest first, keyset by id) by status, and metrics by time window.
        Index("ix_disputes_status_id", "status", "id"),
        Index("ix_disputes_opened_at", "opened_at"),
        Index("ix_disputes_resolved_at", "resolved_at"),
        Index("ix_disputes_buyer", "buyer_account_id", "id"),
        Index("ix_disputes_seller", "seller_account_id", "id"),
        # The marketplace's natural lookup (``?subject_ref=``), resolved disputes included.
        Index("ix_disputes_subject", "subject_ref", "id"),
    )

    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), unique=True)
    status: Mapped[DisputeStatus] = mapped_column(
        str_enum(DisputeStatus), default=DisputeStatus.awaiting_response
    )
    subject_type: Mapped[SubjectType] = mapped_column(str_enum(SubjectType, 16))
    subject_ref: Mapped[str] = mapped_column(String(200))
    buyer_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"))
    seller_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"))
    opened_by: Mapped[Party] = mapped_column(str_enum(Party, 8))
    reason_code: Mapped[ReasonCode] = mapped_column(str_enum(ReasonCode))
    summary: Mapped[str] = mapped_column(Text, default="")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    opened_via: Mapped[str] = mapped_column(String(200), default="api")  # the actor's label

    respondent_defaulted: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[Outcome | None] = mapped_column(str_enum(Outcome))
    resolved_by: Mapped[ResolvedBy | None] = mapped_column(str_enum(ResolvedBy, 16))
    resolution_note: Mapped[str | None] = mapped_column(Text)  # the ruling's reason, etc.
    refund_minor: Mapped[int | None] = mapped_column(BigInteger)
    release_minor: Mapped[int | None] = mapped_column(BigInteger)
    payment_status: Mapped[PaymentStatus] = mapped_column(
        str_enum(PaymentStatus, 32), default=PaymentStatus.held
    )
    ruled_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )

    # A timestamp per step.
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    response_due_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]  # the respondent's first submission
    defaulted_at: Mapped[datetime | None]
    mediation_at: Mapped[datetime | None]  # first entered in_mediation
    first_proposed_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    payment_settled_at: Mapped[datetime | None]  # refund / release instruction sent

    # Durations for the metrics, in seconds from opened_at (set once, when the step happens).
    response_seconds: Mapped[int | None] = mapped_column(BigInteger)
    first_proposal_seconds: Mapped[int | None] = mapped_column(BigInteger)
    resolution_seconds: Mapped[int | None] = mapped_column(BigInteger)

    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def respondent(self) -> Party:
        return Party(self.opened_by).other

    def account_id_of(self, party: Party) -> int:
        return self.buyer_account_id if party is Party.buyer else self.seller_account_id


class DisputeSubmission(IdMixin, Base):
    """One piece of a party's side: a statement, message excerpts, or a file (sealed in the
    blob store; only its metadata is here). Append-only."""

    __tablename__ = "dispute_submissions"
    __table_args__ = (
        CheckConstraint(enum_check("party", Party), name="party"),
        CheckConstraint(enum_check("kind", SubmissionKind), name="kind"),
        Index("ix_dispute_submissions_dispute", "dispute_id", "id"),
    )

    dispute_id: Mapped[int] = mapped_column(BigId, ForeignKey("disputes.id", ondelete="CASCADE"))
    party: Mapped[Party] = mapped_column(str_enum(Party, 8))
    kind: Mapped[SubmissionKind] = mapped_column(str_enum(SubmissionKind, 16))
    statement: Mapped[str | None] = mapped_column(Text)
    excerpts: Mapped[list[dict[str, Any]]] = mapped_column(JSONList, default=list)
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    blob_key: Mapped[str | None] = mapped_column(String(32))
    submitted_via: Mapped[str] = mapped_column(String(200), default="api")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class DisputeProposal(IdMixin, Base):
    """A resolution the mediator put to both parties. Open until both accept (the dispute
    resolves by agreement), one rejects, ``due_at`` passes (lapsed), or it is superseded."""

    __tablename__ = "dispute_proposals"
    __table_args__ = (
        CheckConstraint(enum_check("status", ProposalStatus), name="status"),
        CheckConstraint(enum_check("outcome", Outcome), name="outcome"),
        CheckConstraint(
            "buyer_answer IS NULL OR " + enum_check("buyer_answer", Answer), name="buyer_answer"
        ),
        CheckConstraint(
            "seller_answer IS NULL OR " + enum_check("seller_answer", Answer),
            name="seller_answer",
        ),
        Index("ix_dispute_proposals_dispute", "dispute_id", "id"),
        # The lapse sweep: open proposals by due time.
        Index(
            "ix_dispute_proposals_due",
            "due_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        # At most one open proposal per dispute.
        Index(
            "uq_dispute_proposals_open",
            "dispute_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    dispute_id: Mapped[int] = mapped_column(BigId, ForeignKey("disputes.id", ondelete="CASCADE"))
    status: Mapped[ProposalStatus] = mapped_column(
        str_enum(ProposalStatus, 16), default=ProposalStatus.open
    )
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome))
    refund_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str] = mapped_column(Text, default="")
    proposed_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    proposed_by_label: Mapped[str] = mapped_column(String(200), default="")
    proposed_at: Mapped[datetime] = mapped_column(default=clock.now)
    due_at: Mapped[datetime]
    buyer_answer: Mapped[Answer | None] = mapped_column(str_enum(Answer, 16))
    buyer_answered_at: Mapped[datetime | None]
    buyer_comment: Mapped[str | None] = mapped_column(Text)
    seller_answer: Mapped[Answer | None] = mapped_column(str_enum(Answer, 16))
    seller_answered_at: Mapped[datetime | None]
    seller_comment: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    def answer_of(self, party: Party) -> Answer | None:
        return self.buyer_answer if party is Party.buyer else self.seller_answer


class DisputeEvent(IdMixin, Base):
    """The dispute timeline, in order. Append-only. ``party`` is whose act it was (None for
    the mediator or the system)."""

    __tablename__ = "dispute_events"
    __table_args__ = (
        CheckConstraint(enum_check("kind", DisputeEventKind), name="kind"),
        CheckConstraint("party IS NULL OR " + enum_check("party", Party), name="party"),
        Index("ix_dispute_events_dispute", "dispute_id", "id"),
    )

    dispute_id: Mapped[int] = mapped_column(BigId, ForeignKey("disputes.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    kind: Mapped[DisputeEventKind] = mapped_column(str_enum(DisputeEventKind))
    party: Mapped[Party | None] = mapped_column(str_enum(Party, 8))
    actor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    actor_label: Mapped[str] = mapped_column(String(200), default="system")
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DisputeReview(Base):
    """An account review case opened from a dispute about one of its parties."""

    __tablename__ = "dispute_reviews"
    __table_args__ = (
        CheckConstraint(enum_check("party", Party), name="party"),
        UniqueConstraint("case_id"),
    )

    dispute_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("disputes.id", ondelete="CASCADE"), primary_key=True
    )
    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    party: Mapped[Party] = mapped_column(str_enum(Party, 8))
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
