"""Tables of the appeals domain.

An ``Appeal`` is the user's request that a decision be looked at again. Invariants:

- One appeal per decision (``uq_appeals_decision``): a second one is refused
  (``appeal_exists``); a repeat of the public form while the appeal is open is added to it
  as a note on the appeal case instead.
- The appeal is heard on its own case (``case_id``, type ``appeal``) whose
  ``attributes["appeal"]`` names the decision too, so the case page and
  ``enforcement.appeal_state`` read it without this table.
- ``status`` moves ``open -> upheld | overturned | modified | withdrawn`` and never back
  (the transitions are in ``vigil.appeals.hearing``: ``decide_appeal``, ``withdraw_appeal``);
  ``decided_at`` is set exactly when it left ``open``
  (a withdrawal included), and ``reason`` with it.
- ``new_decision_id`` is set only for ``modified``: the decision taken on the appeal case in
  place of the one appealed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONList, enum_check, str_enum

_FK_STAFF = "staff_users.id"


class AppealStatus(StrEnum):
    open = "open"
    upheld = "upheld"
    overturned = "overturned"
    modified = "modified"
    withdrawn = "withdrawn"


class AppealChannel(StrEnum):
    form = "form"  # the public appeal page (``/appeals``)
    api = "api"  # the marketplace, on behalf of its user (``POST /v1/appeals``)


class ContactPreference(StrEnum):
    email = "email"
    in_app = "in_app"


class Appeal(IdMixin, Base):
    __tablename__ = "appeals"
    __table_args__ = (
        UniqueConstraint("decision_id", name="uq_appeals_decision"),
        CheckConstraint(enum_check("status", AppealStatus), name="status"),
        CheckConstraint(enum_check("channel", AppealChannel), name="channel"),
        CheckConstraint(enum_check("contact", ContactPreference), name="contact"),
        CheckConstraint(
            "(decided_at IS NOT NULL) = (status <> 'open') "
            "AND (reason IS NOT NULL) = (status <> 'open')",
            name="decided_at",
        ),
        CheckConstraint(
            "(new_decision_id IS NULL) OR (status = 'modified')", name="new_decision_modified"
        ),
        # The list (newest first, by status) and an account's appeals.
        Index("ix_appeals_status", "status", "id"),
        Index("ix_appeals_account", "account_id", "id"),
        Index("ix_appeals_case", "case_id"),
        # Appeals submitted in a period: the transparency report and the analytics views.
        Index("ix_appeals_submitted_at", "submitted_at", "id"),
    )

    decision_id: Mapped[int] = mapped_column(BigId, ForeignKey("decisions.id"))
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    # The case the decision was taken on (the evidence the appeal is heard against).
    original_case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    # The statement of reasons the user was given, if the decision has one.
    statement_id: Mapped[int | None] = mapped_column(BigId)
    # What the user quoted ("SOR-42", "C-17") or, through the API, the decision's id.
    reference: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="en")
    contact: Mapped[ContactPreference] = mapped_column(
        str_enum(ContactPreference, 16), default=ContactPreference.email
    )
    channel: Mapped[AppealChannel] = mapped_column(str_enum(AppealChannel, 16))
    submitted_by_label: Mapped[str] = mapped_column(String(200), default="system")
    submitted_at: Mapped[datetime] = mapped_column(default=clock.now)
    window_ends_at: Mapped[datetime]

    status: Mapped[AppealStatus] = mapped_column(
        str_enum(AppealStatus, 16), default=AppealStatus.open
    )
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    decided_by_label: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    new_decision_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("decisions.id"))
    # Statements of reasons whose revision this appeal wrote (the appealed decision's; for a
    # modification also the new decision's statement is listed, last).
    statement_ids: Mapped[list[Any]] = mapped_column(JSONList, default=list)

    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def ref(self) -> str:
        """How staff and the marketplace name an appeal."""
        return f"A-{self.id}"
