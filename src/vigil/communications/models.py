"""Tables of the communications domain: template overrides (with history), messages, macros."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
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
from vigil.kit.models import Base, BigId, IdMixin, TimestampMixin, enum_check, str_enum


class MessageStatus(StrEnum):
    queued = "queued"  # written; email waits for its sending job
    sent = "sent"  # email accepted by the SMTP server; in-app handed to the webhook outbox
    failed = "failed"  # gave up; a ``message_failed`` case event says why


class MessageChannel(StrEnum):
    email = "email"
    in_app = "in_app"


class MessageTemplate(IdMixin, TimestampMixin, Base):
    """A policy lead's override of a shipped template, for one ``(policy, action, locale)``
    key (``policy_code`` null: every policy). The row holds the current text; every version,
    the first included, is kept in :class:`MessageTemplateVersion`. An inactive override
    lets the shipped template apply again.

    ``key`` is the three parts joined (``"*/suspend/es"``), because a unique index over a
    nullable column would let two "every policy" overrides of one key coexist.
    """

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("key"),)

    key: Mapped[str] = mapped_column(String(160))
    policy_code: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    change_reason: Mapped[str] = mapped_column(Text, default="")

    __mapper_args__ = {"version_id_col": version}


class MessageTemplateVersion(IdMixin, Base):
    """One version of an override as it was saved. Written once, never changed."""

    __tablename__ = "message_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    template_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("message_templates.id", ondelete="CASCADE")
    )
    version: Mapped[int]
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    change_reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Message(IdMixin, Base):
    """One message to one account over one channel, as it was sent (``body`` includes the
    statement of reasons). ``recipient`` is the email address at the time of sending, so a
    retry goes where the first attempt went."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(enum_check("status", MessageStatus), name="status"),
        CheckConstraint(enum_check("channel", MessageChannel), name="channel"),
        Index("ix_messages_case", "case_id", "id"),
        Index("ix_messages_decision", "decision_id", "id"),
        Index("ix_messages_account", "account_id", "id"),
        # The operator's "what is stuck" view: messages not yet sent, oldest first.
        Index(
            "ix_messages_queued",
            "created_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id", ondelete="SET NULL"))
    # The enforcement decision the message tells about; no foreign key, so that messages do
    # not depend on the enforcement tables (ad-hoc messages have none).
    decision_id: Mapped[int | None] = mapped_column(BigId)
    channel: Mapped[MessageChannel] = mapped_column(str_enum(MessageChannel, 16))
    locale: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[MessageStatus] = mapped_column(
        str_enum(MessageStatus, 16), default=MessageStatus.queued
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    template_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("message_templates.id", ondelete="SET NULL")
    )
    template_key: Mapped[str | None] = mapped_column(String(200))
    macro_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("macros.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Macro(IdMixin, TimestampMixin, Base):
    """A saved reply for a common situation ("we need more information", "appeal received"),
    in one locale, optionally tied to a policy. Uses the same context keys as templates.
    Edits are audited (no version table)."""

    __tablename__ = "macros"
    __table_args__ = (
        UniqueConstraint("name", "locale"),
        Index("ix_macros_locale_active", "locale", "active", "id"),
    )

    name: Mapped[str] = mapped_column(String(120))
    locale: Mapped[str] = mapped_column(String(8))
    policy_code: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
