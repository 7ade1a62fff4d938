"""API models for staff and API keys. Request bodies refuse unknown fields."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vigil.auth.permissions import Role


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: int
    email: str
    name: str
    role: Role
    languages: list[str]
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    # Consecutive failed logins, and the end of a lockout (past or ``null``: not locked).
    failed_logins: int = 0
    locked_until: datetime | None = None
    second_factor: bool = Field(
        default=False, validation_alias="totp_enabled", description="A TOTP second factor is on."
    )


class StaffMe(StaffOut):
    """The caller, with what the caller may do (the console hides what it cannot)."""

    permissions: list[str]
    tier: str | None
    csrf_token: str = Field(
        description="Send as `X-CSRF-Token` with every change made under this session cookie."
    )


class StaffCreate(_Request):
    email: str = Field(max_length=320, examples=["ana@trust.example"])
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(max_length=1024)
    languages: list[str] = Field(default_factory=lambda: ["en"], max_length=20)


class StaffUpdate(_Request):
    """Fields left out stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    languages: list[str] | None = Field(default=None, max_length=20)
    active: bool | None = None
    reason: str | None = Field(default=None, max_length=2000)


class PasswordChange(_Request):
    """Changing one's own password needs the current one; an admin setting another
    person's password does not."""

    new_password: str = Field(max_length=1024)
    current_password: str | None = Field(default=None, max_length=1024)


class ApiKeyOut(BaseModel):
    """An API key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_by_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from_id: int | None


class ApiKeyCreated(ApiKeyOut):
    """Returned once, when a key is made or rotated: store ``secret`` now, it cannot be
    shown again."""

    secret: str


class ApiKeyCreate(_Request):
    name: str = Field(min_length=1, max_length=200, examples=["marketplace production"])
    scopes: list[str] = Field(
        min_length=1, max_length=100, examples=[["accounts:write", "cases:create"]]
    )
    expires_at: datetime | None = None


class ApiKeyRevoke(_Request):
    reason: str = Field(min_length=1, max_length=2000)


class ApiKeyRotate(_Request):
    # The old key keeps working this long, so the new secret can be deployed first.
    grace_seconds: int = Field(default=0, ge=0, le=30 * 24 * 3600)
    reason: str | None = Field(default=None, max_length=2000)


class StaffUnlock(_Request):
    reason: str | None = Field(default=None, max_length=2000)


class SecondFactorReset(_Request):
    reason: str = Field(min_length=1, max_length=2000)
