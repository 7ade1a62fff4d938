"""Tables of privacy work: legal holds and erasure requests.

Invariants:
- A legal hold names exactly one subject: an account or a case (CHECK ``one_subject``). It is
  in force while ``lifted_at`` is null; lifting stamps who, when and why, and the row stays
  (a hold's history is evidence too).
- An erasure request moves ``received -> completed | refused`` only (CHECK on the status, a
  timestamp per step). ``result`` is written once, when the request is carried out: what was
  erased per data class and what was kept, each kept item with its reason.
- At most one ``received`` request per account (partial unique index): a repeated request
  from the marketplace returns the open one instead of queueing a second.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONType, enum_check, str_enum


class ErasureStatus(StrEnum):
    received = "received"
    completed = "completed"
    refused = "refused"


class LegalHold(IdMixin, Base):
    """Keeps an account (and everything about it) or a case (and what it covers) out of
    retention and erasure until lifted."""

    __tablename__ = "legal_holds"
    __table_args__ = (
        CheckConstraint("(account_id IS NULL) <> (case_id IS NULL)", name="one_subject"),
        # "Is this account / case held?": only holds in force are in these indexes.
        Index(
            "ix_legal_holds_account_active",
            "account_id",
            postgresql_where=text("lifted_at IS NULL"),
            sqlite_where=text("lifted_at IS NULL"),
        ),
        Index(
            "ix_legal_holds_case_active",
            "case_id",
            postgresql_where=text("lifted_at IS NULL"),
            sqlite_where=text("lifted_at IS NULL"),
        ),
    )

    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id"))
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"))
    reason: Mapped[str] = mapped_column(Text)
    placed_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    placed_by_label: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[datetime] = mapped_column(default=clock.now)
    # When legal means to look at the hold again; nothing happens by itself on that date.
    review_at: Mapped[datetime | None]
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    lifted_by_label: Mapped[str | None] = mapped_column(String(200))
    lift_reason: Mapped[str | None] = mapped_column(Text)


class ErasureRequest(IdMixin, Base):
    """A person's request to erase their data (GDPR Art. 17), forwarded by the marketplace or
    entered by staff, and its outcome."""

    __tablename__ = "erasure_requests"
    __table_args__ = (
        CheckConstraint(enum_check("status", ErasureStatus), name="status"),
        Index("ix_erasure_requests_account", "account_id", "id"),
        Index("ix_erasure_requests_status", "status", "id"),
        Index(
            "uq_erasure_requests_open_account",
            "account_id",
            unique=True,
            postgresql_where=text("status = 'received'"),
            sqlite_where=text("status = 'received'"),
        ),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"))
    # Kept as given: the account's own row keeps it too, but the request must say whose it was.
    account_external_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[ErasureStatus] = mapped_column(
        str_enum(ErasureStatus, 16), default=ErasureStatus.received
    )
    # The marketplace's reference for the request (its ticket), if any.
    reference: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    requested_by_label: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    completed_at: Mapped[datetime | None]
    refused_at: Mapped[datetime | None]
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    handled_by_label: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
