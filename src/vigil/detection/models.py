"""Tables of detection: the marketplace's events and the decision each one got.

Invariants:
- ``event_id`` (the marketplace's idempotency key) is unique: an event is decided once; a
  repeat reads the stored decision back (``payload_sha256`` tells a true repeat from a
  reused id).
- ``features`` holds the feature values as computed at ingestion: a backtest replays rules
  over them, so it sees what the live rules saw (velocity cannot be recomputed later).
- ``hits`` keeps every rule that fired, shadow rules included (flagged), with its reason.
- ``account_id`` is null for an event about an account Vigil does not know yet; it is
  filled in when a ``signup`` event creates that account (``account_external_id`` says whose).
- ``counterparty_external_id`` is the envelope's ``counterparty_id`` as ingested (the same
  value as in ``payload``), kept in a column of its own for the index that finds what others
  did to an account (reports filed against it).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONList, enum_check, str_enum


class Outcome(StrEnum):
    allow = "allow"
    review = "review"
    block = "block"

    @property
    def rank(self) -> int:
        return list(Outcome).index(self)


class Event(IdMixin, Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(enum_check("outcome", Outcome), name="outcome"),
        # Lists and backtests: by type over a time range, and an account's history.
        Index("ix_events_type_occurred", "type", "occurred_at", "id"),
        # Flagged messages of a time range, newest first (emerging clusters read the few
        # review/block messages among millions allowed, one outcome at a time).
        Index("ix_events_type_outcome_occurred", "type", "outcome", "occurred_at", "id"),
        Index("ix_events_account_occurred", "account_id", "occurred_at", "id"),
        # The unfiltered list (newest first) and backtests over every type.
        Index("ix_events_occurred", "occurred_at", "id"),
        # The signals behind a case, newest first (its page lists the last 200; precedent
        # reads the newest few texts of each candidate case).
        Index(
            "ix_events_case",
            "case_id",
            "id",
            postgresql_where=text("case_id IS NOT NULL"),
            sqlite_where=text("case_id IS NOT NULL"),
        ),
        # Rule precision (metrics): events that opened or joined a case, by time.
        Index(
            "ix_events_cased_occurred",
            "occurred_at",
            "case_id",
            postgresql_where=text("case_id IS NOT NULL"),
            sqlite_where=text("case_id IS NOT NULL"),
        ),
        # What was done to an account by others (reports against it, on the case page):
        # by the envelope's counterparty, for each type, newest first.
        Index(
            "ix_events_counterparty",
            "counterparty_external_id",
            "type",
            "occurred_at",
            "id",
            postgresql_where=text("counterparty_external_id IS NOT NULL"),
            sqlite_where=text("counterparty_external_id IS NOT NULL"),
        ),
        # Events that arrived before their account; linked when a signup creates it.
        Index(
            "ix_events_unlinked",
            "account_external_id",
            postgresql_where=text("account_id IS NULL"),
            sqlite_where=text("account_id IS NULL"),
        ),
    )

    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="SET NULL")
    )
    account_external_id: Mapped[str] = mapped_column(String(200))
    # The envelope's ``counterparty_id`` (the other account: who was messaged, reviewed,
    # reported), copied out of the payload at ingestion so it can be indexed.
    counterparty_external_id: Mapped[str | None] = mapped_column(String(200))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Who sent it (the API key's or the CLI's label).
    source: Mapped[str] = mapped_column(String(200), default="api")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome, 8), default=Outcome.allow)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    hits: Mapped[list[dict[str, Any]]] = mapped_column(JSONList, default=list)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONList, default=list)
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id", ondelete="SET NULL"))
    decision_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("decisions.id", ondelete="SET NULL")
    )
    # A review signal held back because the account's last case for the policy closed
    # without a violation recently: that case's id.
    snoozed_by_case_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="SET NULL")
    )
