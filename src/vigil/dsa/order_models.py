"""Orders from Member States' authorities (DSA Art. 9 and 10), as the legal team records them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONList, enum_check, str_enum


class OrderKind(StrEnum):
    act_against_content = "act_against_content"  # Art. 9: act against illegal content
    provide_information = "provide_information"  # Art. 10: information about recipients


class OrderStatus(StrEnum):
    received = "received"  # recorded and acknowledged to the authority, not yet acted on
    effected = "effected"  # given effect: the content acted on / the information provided


class AuthorityOrder(IdMixin, Base):
    """One order received from an authority, with the legal-tier case that handles it.

    ``received_at`` is when the order reached the platform, ``acknowledged_at`` when its
    receipt was confirmed to the authority (null until the legal team records it),
    ``effected_at`` when it was given effect: the transparency report's medians are
    ``acknowledged_at - received_at`` (to inform the authority of receipt) and
    ``effected_at - received_at`` (to give effect). ``category`` is the type of illegal content
    concerned, as a DSA statement category (``vocabulary.Category``).
    ``content_refs`` are the marketplace's own references (listing ids, message ids, URLs).
    """

    __tablename__ = "authority_orders"
    __table_args__ = (
        CheckConstraint(enum_check("kind", OrderKind), name="kind"),
        CheckConstraint(enum_check("status", OrderStatus), name="status"),
        # The transparency report counts orders received in a period.
        Index("ix_authority_orders_received_at", "received_at", "id"),
    )

    kind: Mapped[OrderKind] = mapped_column(str_enum(OrderKind, 32))
    category: Mapped[str] = mapped_column(String(100))
    authority: Mapped[str] = mapped_column(String(300))
    member_state: Mapped[str] = mapped_column(String(2))
    legal_reference: Mapped[str] = mapped_column(String(300))
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="SET NULL")
    )
    content_refs: Mapped[list[Any]] = mapped_column(JSONList, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[OrderStatus] = mapped_column(
        str_enum(OrderStatus, 16), default=OrderStatus.received
    )
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"))
    received_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    effected_at: Mapped[datetime | None]
    effect_note: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
