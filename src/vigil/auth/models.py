from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.auth.permissions import Role
from vigil.kit import clock, sealed
from vigil.kit.models import (
    Base,
    BigId,
    IdMixin,
    JSONList,
    TimestampMixin,
    enum_check,
    str_enum,
)


class StaffUser(IdMixin, TimestampMixin, Base):
    """A member of the T&S team. Passwords are argon2id hashes; emails are stored lower-case."""

    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint(enum_check("role", Role), name="role"),)

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(200))
    # Locales the person can work in (BCP 47 language tags: "en", "es", "pt").
    languages: Mapped[list[str]] = mapped_column(JSONList, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None]
    # Login lockout (docs/security.md): consecutive failed attempts since the last success;
    # at the threshold the account is locked until ``locked_until``. In the database, so it
    # holds across processes and restarts.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    # TOTP second factor: the secret sealed (vigil.kit.sealed, bound to this row), set at
    # enrolment and active once ``totp_enabled_at`` is set (a first code confirmed it). The
    # last time step accepted, so a code cannot be used twice inside its window. Recovery
    # codes are SHA-256 hashes of random 50-bit codes, removed as they are used.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    recovery_codes: Mapped[list[str]] = mapped_column(JSONList, default=list)

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None


class UnknownLoginFailures(Base):
    """Failed logins for emails that belong to no staff member, counted exactly like
    ``StaffUser.failed_logins`` / ``locked_until`` so that the lockout answers the same
    whether or not an email exists (docs/security.md). Keyed by SHA-256 of the normalised
    email, never the email itself. A row is dropped once its lock has run out and nothing
    failed for a day (``auth.service.prune_unknown_failures``)."""

    __tablename__ = "unknown_login_failures"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    last_failed_at: Mapped[datetime | None]


# Re-sealed by ``vigil keys rotate`` (vigil.kit.sealed).
sealed.register_column("staff_users", "totp_secret")


class StaffSession(Base):
    """A console session. The cookie holds a random token; only its SHA-256 is stored, so a
    leaked database does not hand out live sessions."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=clock.now)
    user_agent: Mapped[str | None] = mapped_column(String(300))


class ApiKey(IdMixin, Base):
    """A key for the marketplace's servers. The secret is shown once at creation; we keep its
    SHA-256 (the secret is 256 random bits, so a slow hash adds nothing) and a short prefix
    for people to recognise it by."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONList, default=list)
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Set when this key was made by rotating another one.
    rotated_from_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
