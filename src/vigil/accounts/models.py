from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock, sealed
from vigil.kit.models import Base, BigId, IdMixin, TimestampMixin, enum_check, str_enum
from vigil.kit.sealed_orm import SealedJSON, install

_DATE_OF_BIRTH = sealed.register_column("accounts", "date_of_birth")


class Side(StrEnum):
    """Which side of the marketplace an account is on; pairs are buyer/seller."""

    client = "client"
    freelancer = "freelancer"
    customer = "customer"
    pro = "pro"
    student = "student"
    instructor = "instructor"


class AccountStatus(StrEnum):
    active = "active"
    restricted = "restricted"
    suspended = "suspended"
    removed = "removed"
    closed = "closed"  # closed by the user


class IdentifierKind(StrEnum):
    email = "email"
    phone = "phone"
    device = "device"
    ip = "ip"
    payment = "payment"  # payment instrument fingerprint
    # An identity document's number with its issuing country, ``ES:X1234567L`` (see
    # ``normalize.normalize_document``): one document on two accounts is a strong link.
    document = "document"


class RestrictionKind(StrEnum):
    """What a restriction takes away. ``suspension`` takes the whole account."""

    messaging = "messaging"
    listing = "listing"
    payouts = "payouts"
    payments = "payments"
    profile = "profile"
    suspension = "suspension"


class Account(IdMixin, TimestampMixin, Base):
    """An account on the marketplace. ``external_id`` is the marketplace's own id and the key
    of the upsert; ``version`` increases on every change (optimistic concurrency)."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(enum_check("side", Side), name="side"),
        CheckConstraint(enum_check("status", AccountStatus), name="status"),
        Index("ix_accounts_email", "email"),
        Index("ix_accounts_phone", "phone"),
        # The date of birth is sealed (nothing looks it up in SQL): the name alone.
        Index("ix_accounts_legal_name", "legal_name"),
        # Status-filtered lists (and the sweep over restricted accounts) page by id.
        Index("ix_accounts_status_id", "status", "id"),
    )

    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    side: Mapped[Side] = mapped_column(str_enum(Side))
    display_name: Mapped[str | None] = mapped_column(String(200))
    legal_name: Mapped[str | None] = mapped_column(String(300))
    # Sealed (``vigil.kit.sealed``): the column holds a token bound to the row,
    # ``date_of_birth`` the ``date`` (docs/encryption.md).
    date_of_birth_sealed: Mapped[str | None] = mapped_column("date_of_birth", Text)
    date_of_birth = SealedJSON(
        "date_of_birth_sealed", _DATE_OF_BIRTH, default=lambda: None,
        dump=date.isoformat, load=date.fromisoformat,
    )  # fmt: skip
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    locale: Mapped[str] = mapped_column(String(16), default="en")
    email: Mapped[str | None] = mapped_column(String(320))  # lower-cased
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    status: Mapped[AccountStatus] = mapped_column(
        str_enum(AccountStatus), default=AccountStatus.active
    )
    # When the account was created on the marketplace (not in Vigil).
    registered_at: Mapped[datetime | None]
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


install(Account)


class Identifier(IdMixin, Base):
    """A value an account was seen with. The (kind, value) index answers "which other
    accounts share this device / card / phone", the question behind linked accounts."""

    __tablename__ = "identifiers"
    __table_args__ = (
        CheckConstraint(enum_check("kind", IdentifierKind), name="kind"),
        UniqueConstraint("account_id", "kind", "value"),
        # account_id is included so the linked-accounts join is answered from the index.
        Index("ix_identifiers_kind_value", "kind", "value", "account_id"),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[IdentifierKind] = mapped_column(str_enum(IdentifierKind, 16))
    value: Mapped[str] = mapped_column(String(300))  # normalized
    first_seen_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(default=clock.now)
    seen_count: Mapped[int] = mapped_column(default=1)


class Restriction(IdMixin, Base):
    """A restriction placed on an account. In force while ``lifted_at`` is null and
    ``ends_at`` is null or in the future."""

    __tablename__ = "restrictions"
    __table_args__ = (
        CheckConstraint(enum_check("kind", RestrictionKind), name="kind"),
        Index(
            "ix_restrictions_in_force",
            "account_id",
            "ends_at",
            postgresql_where=text("lifted_at IS NULL"),
            sqlite_where=text("lifted_at IS NULL"),
        ),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[RestrictionKind] = mapped_column(str_enum(RestrictionKind, 16))
    reason: Mapped[str] = mapped_column(Text)
    policy_code: Mapped[str | None] = mapped_column(String(100))
    case_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(default=clock.now)
    ends_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    lift_reason: Mapped[str | None] = mapped_column(Text)
