"""Staff accounts, console sessions and API keys. Never commits: the caller owns the
transaction."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth import passwords
from vigil.auth.models import ApiKey, StaffSession, StaffUser
from vigil.auth.permissions import API_KEY_SCOPES, Permission, Role
from vigil.auth.principal import Principal
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotAuthenticated, NotFound

API_KEY_PREFIX = "vgl_"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def principal_for(user: StaffUser) -> Principal:
    return Principal.staff(user.id, user.name, user.role, tuple(user.languages or ()))


# --- staff -----------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise InvalidInput("not an email address", field="email", code="invalid_email")
    return value


def create_staff(
    session: Session,
    actor: Principal,
    *,
    email: str,
    name: str,
    role: Role,
    password: str,
    languages: list[str] | None = None,
) -> StaffUser:
    email = normalize_email(email)
    if len(password) < passwords.MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {passwords.MIN_PASSWORD_LENGTH} characters",
            field="password",
            code="password_too_short",
        )
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise Conflict("a staff member with this email exists", field="email", code="email_taken")
    user = StaffUser(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=passwords.hash_password(password),
        languages=languages or ["en"],
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor, "auth.staff.create", "staff", user.id, data={"role": role, "email": email}
    )
    return user


def get_staff(session: Session, staff_id: int) -> StaffUser:
    user = session.get(StaffUser, staff_id)
    if user is None:
        raise NotFound("no such staff member", code="staff_not_found")
    return user


# --- console sessions --------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedSession:
    token: str  # goes into the cookie; never stored
    csrf_token: str
    user: StaffUser


def login(
    session: Session, email: str, password: str, *, ttl: timedelta, user_agent: str | None = None
) -> IssuedSession:
    """Check a password and open a console session. Unknown email and wrong password give the
    same error and cost the same time."""
    try:
        email = normalize_email(email)
    except InvalidInput:
        email = ""
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        if user is not None:
            audit.record(
                session, Principal.system("login"), "auth.session.login_failed", "staff", user.id
            )
        raise NotAuthenticated("email or password is wrong", code="invalid_credentials")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        StaffSession(
            token_hash=_sha256(token),
            staff_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + ttl,
            last_seen_at=now,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    user.last_login_at = now
    session.flush()
    audit.record(session, principal_for(user), "auth.session.login", "staff", user.id)
    return IssuedSession(token, csrf, user)


def resolve_session(session: Session, token: str) -> tuple[StaffUser, StaffSession] | None:
    row = session.get(StaffSession, _sha256(token))
    if row is None or row.expires_at <= clock.now():
        return None
    user = session.get(StaffUser, row.staff_id)
    if user is None or not user.active:
        return None
    return user, row


def logout(session: Session, token: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.token_hash == _sha256(token)))


def purge_expired_sessions(session: Session) -> int:
    result = session.execute(delete(StaffSession).where(StaffSession.expires_at <= clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- API keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once


def _check_scopes(scopes: list[str]) -> list[str]:
    out: list[str] = []
    for scope in scopes:
        try:
            permission = Permission(scope)
        except ValueError:
            raise InvalidInput(
                f"unknown scope {scope!r}", field="scopes", code="unknown_scope"
            ) from None
        if permission not in API_KEY_SCOPES:
            raise InvalidInput(
                f"scope {scope!r} cannot be given to an API key",
                field="scopes",
                code="scope_not_allowed",
            )
        out.append(permission.value)
    if not out:
        raise InvalidInput("an API key needs at least one scope", field="scopes")
    return sorted(set(out))


def create_api_key(
    session: Session,
    actor: Principal,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    rotated_from: ApiKey | None = None,
) -> IssuedKey:
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip(),
        prefix=secret[: len(API_KEY_PREFIX) + 6],
        key_hash=_sha256(secret),
        scopes=_check_scopes(scopes),
        created_by_id=actor.staff_id,
        created_at=clock.now(),
        expires_at=expires_at,
        rotated_from_id=rotated_from.id if rotated_from else None,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor,
        "auth.api_key.create",
        "api_key",
        key.id,
        data={"name": key.name, "scopes": key.scopes, "prefix": key.prefix},
    )
    return IssuedKey(key, secret)


def authenticate_api_key(session: Session, secret: str) -> Principal | None:
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _sha256(secret)))
    now = clock.now()
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= now:
        return None
    # Written at most once a minute per key, so a busy integration does not turn every read
    # into a write.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now
    scopes = frozenset(Permission(s) for s in key.scopes)
    return Principal.api_key(key.id, key.name, scopes)


def revoke_api_key(session: Session, actor: Principal, key_id: int, reason: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("no such API key", code="api_key_not_found")
    if key.revoked_at is not None:
        raise Conflict("this API key is already revoked", code="api_key_revoked")
    key.revoked_at = clock.now()
    audit.record(session, actor, "auth.api_key.revoke", "api_key", key.id, reason=reason)
    return key


def rotate_api_key(
    session: Session, actor: Principal, key_id: int, *, grace: timedelta = timedelta(0)
) -> IssuedKey:
    """Issue a new key with the same name and scopes; the old one stops working after
    ``grace`` (so the marketplace can deploy the new secret first)."""
    old = session.get(ApiKey, key_id)
    if old is None:
        raise NotFound("no such API key", code="api_key_not_found")
    if old.revoked_at is not None:
        raise Conflict("a revoked API key cannot be rotated", code="api_key_revoked")
    issued = create_api_key(
        session, actor, name=old.name, scopes=list(old.scopes), rotated_from=old
    )
    cutoff = clock.now() + grace
    if grace:
        old.expires_at = min(old.expires_at, cutoff) if old.expires_at else cutoff
    else:
        old.revoked_at = cutoff
    audit.record(
        session,
        actor,
        "auth.api_key.rotate",
        "api_key",
        old.id,
        data={"new_key_id": issued.key.id, "grace_seconds": int(grace.total_seconds())},
    )
    return issued
