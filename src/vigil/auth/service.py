"""Staff accounts, console sessions and API keys. Never commits: the caller owns the
transaction.

Invariants:
- There is always at least one active admin: the last one cannot be demoted or deactivated.
- Deactivating a staff member or changing their password ends their console sessions (a
  password change keeps the session that made it).
- API key secrets and session tokens are never stored, only their SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.accounts import normalize as accounts_normalize
from vigil.audit import service as audit
from vigil.auth import passwords
from vigil.auth.models import ApiKey, StaffSession, StaffUser, UnknownLoginFailures
from vigil.auth.permissions import API_KEY_SCOPES, Permission, Role
from vigil.auth.principal import Principal
from vigil.kit import clock
from vigil.kit.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from vigil.kit.pagination import decode_cursor, encode_cursor

API_KEY_PREFIX = "vgl_"
# How long a rotated key may keep working while the marketplace deploys the new secret.
MAX_ROTATION_GRACE = timedelta(days=30)


def digest(value: str) -> str:
    """SHA-256 of a session token or API key secret, as stored."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_api_key_secret() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def key_prefix(secret: str) -> str:
    """The first characters of a secret, kept so people can tell their keys apart."""
    return secret[: len(API_KEY_PREFIX) + 6]


def principal_for(user: StaffUser) -> Principal:
    return Principal.staff(user.id, user.name, user.role, tuple(user.languages or ()))


# --- staff -----------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    """Staff emails follow the same rule as the marketplace's accounts (one normaliser, so a
    person's address is the same value wherever Vigil stores it)."""
    try:
        return accounts_normalize.normalize_email(email)
    except ValueError:
        raise InvalidInput("not an email address", field="email", code="invalid_email") from None


def _check_password(password: str, field: str = "password") -> None:
    if len(password) < passwords.MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {passwords.MIN_PASSWORD_LENGTH} characters",
            field=field,
            code="password_too_short",
        )


def _clean_name(name: str) -> str:
    value = name.strip()
    if not value:
        raise InvalidInput("name must not be empty", field="name", code="name_required")
    return value


def _clean_languages(languages: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for tag in languages or ["en"]:
        value = tag.strip()
        if not value or len(value) > 35 or not all(c.isalnum() or c == "-" for c in value):
            raise InvalidInput(
                f"{tag!r} is not a language tag", field="languages", code="invalid_language"
            )
        if value.lower() not in {v.lower() for v in out}:
            out.append(value)
    return out


def create_staff(
    session: Session,
    actor: Principal,
    *,
    email: str,
    name: str,
    role: Role,
    password: str,
    languages: Sequence[str] | None = None,
) -> StaffUser:
    email = normalize_email(email)
    _check_password(password)
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise Conflict("a staff member with this email exists", field="email", code="email_taken")
    user = StaffUser(
        email=email,
        name=_clean_name(name),
        role=Role(role),
        password_hash=passwords.hash_password(password),
        languages=_clean_languages(languages),
        active=True,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "auth.staff.create",
        "staff",
        user.id,
        data={"role": user.role.value, "email": email, "languages": user.languages},
    )
    return user


def get_staff(session: Session, staff_id: int) -> StaffUser:
    user = session.get(StaffUser, staff_id)
    if user is None:
        raise NotFound("no such staff member", code="staff_not_found")
    return user


def get_staff_by_email(session: Session, email: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None:
        raise NotFound("no staff member with this email", field="email", code="staff_not_found")
    return user


def list_staff(
    session: Session,
    *,
    role: Role | None = None,
    active: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[StaffUser], str | None]:
    """Staff ordered by id; returns a page and the cursor of the next one."""
    query = select(StaffUser).order_by(StaffUser.id).limit(limit + 1)
    if role is not None:
        query = query.where(StaffUser.role == role)
    if active is not None:
        query = query.where(StaffUser.active == active)
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(StaffUser.id > int(after))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


def _active_admins(session: Session) -> int:
    """Counted under row locks: two admins demoting each other at once would otherwise both
    see two admins and leave none. On PostgreSQL the second waits, then re-reads the rows and
    no longer counts the one the first demoted; SQLite writers are serialised already."""
    ids = session.scalars(
        select(StaffUser.id)
        .where(StaffUser.role == Role.admin, StaffUser.active.is_(True))
        .with_for_update()
    ).all()
    return len(ids)


def _end_sessions(session: Session, staff_id: int, keep_token_hash: str | None = None) -> None:
    stmt = delete(StaffSession).where(StaffSession.staff_id == staff_id)
    if keep_token_hash is not None:
        stmt = stmt.where(StaffSession.token_hash != keep_token_hash)
    session.execute(stmt)


def update_staff(
    session: Session,
    actor: Principal,
    staff_id: int,
    *,
    name: str | None = None,
    role: Role | None = None,
    languages: Sequence[str] | None = None,
    active: bool | None = None,
    reason: str | None = None,
) -> StaffUser:
    """Change a staff member's name, role, languages or active flag. Only fields given
    (not ``None``) change; the audit record lists each change as ``[old, new]``."""
    user = get_staff(session, staff_id)
    changes: dict[str, list[Any]] = {}
    if name is not None and _clean_name(name) != user.name:
        changes["name"] = [user.name, _clean_name(name)]
        user.name = _clean_name(name)
    if languages is not None:
        cleaned = _clean_languages(languages)
        if cleaned != list(user.languages or []):
            changes["languages"] = [list(user.languages or []), cleaned]
            user.languages = cleaned
    losing_admin = (
        user.role is Role.admin
        and user.active
        and ((role is not None and Role(role) is not Role.admin) or active is False)
    )
    if losing_admin and _active_admins(session) <= 1:
        raise Conflict(
            "this is the last active admin; make another admin first",
            field="active" if active is False else "role",
            code="last_admin",
        )
    if role is not None and Role(role) is not user.role:
        changes["role"] = [user.role.value, Role(role).value]
        user.role = Role(role)
    if active is not None and active != user.active:
        if not active and actor.staff_id == user.id:
            raise Conflict("you cannot deactivate yourself", field="active", code="self_deactivate")
        changes["active"] = [user.active, active]
        user.active = active
        if not active:
            _end_sessions(session, user.id)
    if not changes:
        return user
    session.flush()
    audit.record(session, actor, "auth.staff.update", "staff", user.id, reason=reason, data=changes)
    return user


def set_password(
    session: Session,
    actor: Principal,
    staff_id: int,
    new_password: str,
    *,
    current_password: str | None = None,
    keep_session_token_hash: str | None = None,
) -> StaffUser:
    """Change a password. Staff change their own (giving the current one); holders of
    ``staff:write`` and the system may set anyone's. Other console sessions of the user end."""
    user = get_staff(session, staff_id)
    is_self = actor.staff_id == user.id
    if not is_self and not actor.can(Permission.staff_write):
        raise PermissionDenied(
            "only an admin can set another person's password", code="permission_denied"
        )
    if is_self and not passwords.verify_password(user.password_hash, current_password or ""):
        raise InvalidInput(
            "the current password is wrong",
            field="current_password",
            code="wrong_current_password",
        )
    _check_password(new_password, field="new_password")
    user.password_hash = passwords.hash_password(new_password)
    _end_sessions(session, user.id, keep_session_token_hash if is_self else None)
    session.flush()
    audit.record(
        session, actor, "auth.staff.set_password", "staff", user.id, data={"self": is_self}
    )
    return user


# --- console sessions --------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedSession:
    token: str  # goes into the cookie; never stored
    csrf_token: str
    user: StaffUser
    expires_at: datetime


@dataclass(frozen=True)
class LoginPolicy:
    """Lockout: after ``threshold`` consecutive failures (password or second factor) the
    account is locked for ``lock_for``; ``threshold`` 0 never locks."""

    threshold: int = 0
    lock_for: timedelta = timedelta(minutes=15)


class LoginLocked(RateLimited):
    """The same message whether or not the email belongs to anyone (see docs/security.md)."""

    code = "login_locked"


LOCKED_MESSAGE = (
    "too many failed attempts for this email: wait {minutes} minutes and try again, "
    "or ask an admin to unlock the account"
)


def locked_error(minutes: int) -> LoginLocked:
    return LoginLocked(LOCKED_MESSAGE.format(minutes=max(1, minutes)), field="email")


def _unknown_counter(session: Session, email: str) -> UnknownLoginFailures:
    key = hashlib.sha256(email.encode()).hexdigest() if email else ""
    found = session.get(UnknownLoginFailures, key) if key else None
    return found or UnknownLoginFailures(email_hash=key, failed_logins=0, locked_until=None)


def _count_unknown(session: Session, row: UnknownLoginFailures, policy: LoginPolicy) -> None:
    """``record_failure`` for an email that belongs to no one (not audited: no account)."""
    if row not in session:
        session.add(row)
    row.failed_logins = (row.failed_logins or 0) + 1
    row.last_failed_at = clock.now()
    if policy.threshold > 0 and row.failed_logins >= policy.threshold:
        row.locked_until = clock.now() + policy.lock_for
    session.flush()


def prune_unknown_failures(session: Session, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Drop counters for unknown emails whose lock ran out and that failed nothing lately."""
    cutoff = clock.now() - older_than
    result = session.execute(
        delete(UnknownLoginFailures).where(
            UnknownLoginFailures.last_failed_at < cutoff,
            (UnknownLoginFailures.locked_until.is_(None))
            | (UnknownLoginFailures.locked_until < clock.now()),
        )
    )
    return int(getattr(result, "rowcount", 0))


def is_locked(user: StaffUser | UnknownLoginFailures, at: datetime | None = None) -> bool:
    return user.locked_until is not None and clock.as_utc(user.locked_until) > (at or clock.now())


def record_failure(
    session: Session, user: StaffUser, policy: LoginPolicy, *, step: str = "password"
) -> None:
    """Count one failed attempt on a known account (audited) and lock it at the threshold.
    The caller must still commit when it then raises, for the count to be kept."""
    user.failed_logins = (user.failed_logins or 0) + 1
    data: dict[str, Any] = {"failures": user.failed_logins, "step": step}
    if not user.active:
        data["inactive"] = True
    locked = policy.threshold > 0 and user.failed_logins >= policy.threshold
    if locked:
        user.locked_until = clock.now() + policy.lock_for
    session.flush()
    system = Principal.system("login")
    audit.record(session, system, "auth.session.login_failed", "staff", user.id, data=data)
    if locked:
        audit.record(
            session,
            system,
            "auth.staff.locked",
            "staff",
            user.id,
            data={"until": user.locked_until, "failures": user.failed_logins},
        )


def verify_credentials(
    session: Session, email: str, password: str, *, policy: LoginPolicy | None = None
) -> StaffUser:
    """Check an email and password. Unknown email, wrong password and an inactive account
    give the same error and cost the same time; a locked account is refused before its
    password is checked (so a lock also stops guessing). A failure on a known account is
    counted and audited: the caller must still commit when this raises."""
    policy = policy or LoginPolicy()
    try:
        email = normalize_email(email)
    except InvalidInput:
        email = ""
    user = session.scalar(select(StaffUser).where(StaffUser.email == email)) if email else None
    # An email that belongs to no one is counted and locked exactly like an account, so
    # the answers (and the time they take) do not tell whether it exists.
    counter: StaffUser | UnknownLoginFailures = user or _unknown_counter(session, email)
    if is_locked(counter):
        passwords.verify_password(None, password)  # the same cost as any other attempt
        remaining = clock.as_utc(counter.locked_until) - clock.now()  # type: ignore[arg-type]
        raise locked_error(int(remaining.total_seconds() // 60) + 1)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        if user is not None:
            record_failure(session, user, policy)
        elif isinstance(counter, UnknownLoginFailures) and counter.email_hash:
            _count_unknown(session, counter, policy)
        raise NotAuthenticated("email or password is wrong", code="invalid_credentials")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user


def open_session(
    session: Session, user: StaffUser, *, ttl: timedelta, user_agent: str | None = None
) -> IssuedSession:
    """Open a console session for a person whose every factor has been checked; clears the
    failure count."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = clock.now()
    row = StaffSession(
        token_hash=digest(token),
        staff_id=user.id,
        csrf_token=csrf,
        created_at=now,
        expires_at=now + ttl,
        last_seen_at=now,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(row)
    user.last_login_at = now
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    audit.record(session, principal_for(user), "auth.session.login", "staff", user.id)
    return IssuedSession(token, csrf, user, row.expires_at)


def login(
    session: Session,
    email: str,
    password: str,
    *,
    ttl: timedelta,
    user_agent: str | None = None,
    policy: LoginPolicy | None = None,
) -> IssuedSession:
    """Check a password and open a console session (one step: for accounts without a
    second factor; the console's two-step login is in ``vigil.web.security``).

    A failed attempt on a known account is audited; the caller must still commit when this
    raises for that record to be kept."""
    user = verify_credentials(session, email, password, policy=policy)
    if user.totp_enabled_at is not None:
        raise PermissionDenied(
            "this account needs its second factor: log in from the console",
            code="second_factor_required",
        )
    return open_session(session, user, ttl=ttl, user_agent=user_agent)


def unlock_staff(
    session: Session, actor: Principal, staff_id: int, *, reason: str | None = None
) -> StaffUser:
    """End a lockout (and clear the failure count) before its time."""
    user = get_staff(session, staff_id)
    was_locked = is_locked(user)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    audit.record(
        session,
        actor,
        "auth.staff.unlock",
        "staff",
        user.id,
        reason=reason,
        data={"was_locked": was_locked},
    )
    return user


# Writing last_seen_at on every request would turn each read into a write.
_SEEN_EVERY = timedelta(minutes=1)


def resolve_session(session: Session, token: str) -> tuple[StaffUser, StaffSession] | None:
    """The active user and session behind a cookie, or ``None`` when the token is unknown,
    expired or its user is deactivated."""
    if not token:
        return None
    row = session.get(StaffSession, digest(token))
    now = clock.now()
    if row is None or row.expires_at <= now:
        return None
    user = session.get(StaffUser, row.staff_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at > _SEEN_EVERY:
        row.last_seen_at = now
    return user, row


def logout(session: Session, token: str) -> None:
    row = session.get(StaffSession, digest(token)) if token else None
    if row is None:
        return
    staff_id = row.staff_id
    session.delete(row)
    session.flush()
    user = session.get(StaffUser, staff_id)
    if user is not None:
        audit.record(session, principal_for(user), "auth.session.logout", "staff", staff_id)


def purge_expired_sessions(session: Session) -> int:
    result = session.execute(delete(StaffSession).where(StaffSession.expires_at <= clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- API keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once


def _check_scopes(scopes: Sequence[str]) -> list[str]:
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
        raise InvalidInput(
            "an API key needs at least one scope", field="scopes", code="scopes_required"
        )
    return sorted(set(out))


def create_api_key(
    session: Session,
    actor: Principal,
    *,
    name: str,
    scopes: Sequence[str],
    expires_at: datetime | None = None,
    rotated_from: ApiKey | None = None,
) -> IssuedKey:
    clean_name = _clean_name(name)
    checked = _check_scopes(scopes)
    if expires_at is not None and clock.as_utc(expires_at) <= clock.now():
        raise InvalidInput(
            "expires_at must be in the future", field="expires_at", code="expiry_in_past"
        )
    secret = new_api_key_secret()
    key = ApiKey(
        name=clean_name,
        prefix=key_prefix(secret),
        key_hash=digest(secret),
        scopes=checked,
        created_by_id=actor.staff_id,
        created_at=clock.now(),
        expires_at=clock.as_utc(expires_at) if expires_at else None,
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


def get_api_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("no such API key", code="api_key_not_found")
    return key


def list_api_keys(
    session: Session,
    *,
    include_revoked: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[ApiKey], str | None]:
    """Keys ordered by id. A key past its expiry counts as revoked here."""
    query = select(ApiKey).order_by(ApiKey.id).limit(limit + 1)
    if not include_revoked:
        query = query.where(
            ApiKey.revoked_at.is_(None),
            (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > clock.now()),
        )
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(ApiKey.id > int(after))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


def is_key_active(key: ApiKey, at: datetime | None = None) -> bool:
    at = at or clock.now()
    if key.revoked_at is not None and key.revoked_at <= at:
        return False
    return key.expires_at is None or key.expires_at > at


def authenticate_api_key(session: Session, secret: str) -> Principal | None:
    if not secret.startswith(API_KEY_PREFIX):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(secret)))
    if key is None or not is_key_active(key):
        return None
    now = clock.now()
    # Written at most once a minute per key, so a busy integration does not turn every read
    # into a write.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now
    # A scope later withdrawn from API_KEY_SCOPES stops working on existing keys too.
    scopes = frozenset(
        p
        for p in (Permission(s) for s in key.scopes if s in _PERMISSION_VALUES)
        if p in API_KEY_SCOPES
    )
    return Principal.api_key(key.id, key.name, scopes)


_PERMISSION_VALUES = frozenset(p.value for p in Permission)


def revoke_api_key(session: Session, actor: Principal, key_id: int, reason: str) -> ApiKey:
    key = get_api_key(session, key_id)
    if not reason.strip():
        raise InvalidInput("say why the key is revoked", field="reason", code="reason_required")
    if key.revoked_at is not None:
        raise Conflict("this API key is already revoked", code="api_key_revoked")
    key.revoked_at = clock.now()
    session.flush()
    audit.record(session, actor, "auth.api_key.revoke", "api_key", key.id, reason=reason.strip())
    return key


def rotate_api_key(
    session: Session,
    actor: Principal,
    key_id: int,
    *,
    grace: timedelta = timedelta(0),
    reason: str | None = None,
) -> IssuedKey:
    """Issue a new key with the same name and scopes; the old one stops working after
    ``grace`` (so the marketplace can deploy the new secret first)."""
    if grace < timedelta(0) or grace > MAX_ROTATION_GRACE:
        raise InvalidInput(
            f"grace must be between 0 and {MAX_ROTATION_GRACE.days} days",
            field="grace_seconds",
            code="invalid_grace",
        )
    old = get_api_key(session, key_id)
    if not is_key_active(old):
        raise Conflict("a revoked or expired API key cannot be rotated", code="api_key_revoked")
    if session.scalar(select(ApiKey.id).where(ApiKey.rotated_from_id == old.id)) is not None:
        raise Conflict("this API key was already rotated", code="api_key_rotated")
    issued = create_api_key(
        session,
        actor,
        name=old.name,
        scopes=[s for s in old.scopes if s in _PERMISSION_VALUES],
        expires_at=old.expires_at,
        rotated_from=old,
    )
    cutoff = clock.now() + grace
    if grace:
        old.expires_at = min(old.expires_at, cutoff) if old.expires_at else cutoff
    else:
        old.revoked_at = cutoff
    session.flush()
    audit.record(
        session,
        actor,
        "auth.api_key.rotate",
        "api_key",
        old.id,
        reason=reason,
        data={"new_key_id": issued.key.id, "grace_seconds": int(grace.total_seconds())},
    )
    return issued
