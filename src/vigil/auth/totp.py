"""Optional TOTP second factor (RFC 6238: 6 digits, 30 s steps, SHA-1, what every
authenticator app reads) for staff logins.

Invariants:
- The secret is stored sealed (``vigil.kit.sealed``, bound to the staff row and column); it is
  shown to its owner once, at enrolment, as a QR code and as text.
- Enrolment is two steps: ``begin_enrolment`` stores a new secret, ``confirm_enrolment`` turns
  it on only after a code made from it is typed back (the app really holds it).
- A code is accepted for the step before, the current and the step after (clock drift), and
  never twice: the last accepted step is stored and only later steps are accepted.
- Recovery codes (10, shown once at enrolment) are stored as SHA-256 hashes and each works
  once. They are 10 characters from a 32-letter alphabet (50 bits): too many to guess within
  the attempt limits, so a fast hash is enough.
- Never commits; every change is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyotp
import segno
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth import passwords
from vigil.auth.models import StaffUser
from vigil.auth.principal import Principal
from vigil.kit import clock, sealed
from vigil.kit.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from vigil.config import Settings

ISSUER = "Vigil"
STEP_SECONDS = 30
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, to type into an app by hand
    uri: str  # otpauth:// URI, what the QR code holds
    qr_svg: str  # inline SVG (the console's CSP allows no external images)


def _seal(settings: Settings, user: StaffUser, secret: str) -> str:
    return sealed.keyring(settings).seal(
        secret, table="staff_users", column="totp_secret", row=user.id
    )


def _open(settings: Settings, user: StaffUser) -> str:
    if not user.totp_secret:
        raise Conflict("no second factor is set up", code="totp_not_enrolled")
    return sealed.keyring(settings).open(
        user.totp_secret, table="staff_users", column="totp_secret", row=user.id
    )


def qr_svg(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_inline(scale=4, title="TOTP QR code"))


def begin_enrolment(settings: Settings, session: Session, user: StaffUser) -> Enrolment:
    """A new secret for ``user`` (replacing an unconfirmed one); not active until confirmed."""
    if user.totp_enabled_at is not None:
        raise Conflict(
            "a second factor is already on: turn it off first", code="totp_already_enrolled"
        )
    secret = pyotp.random_base32()
    user.totp_secret = _seal(settings, user, secret)
    user.totp_last_step = None
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(secret, uri, qr_svg(uri))


def pending_enrolment(settings: Settings, user: StaffUser) -> Enrolment | None:
    """The unconfirmed enrolment, to show its QR code again after a mistyped code."""
    if user.totp_enabled_at is not None or not user.totp_secret:
        return None
    try:
        secret = _open(settings, user)
    except sealed.SealedError:
        return None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(secret, uri, qr_svg(uri))


def _clean(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace() and ch != "-").upper()


def _matching_step(secret: str, code: str, after: int | None) -> int | None:
    """The step (-1, 0, +1 around now) whose code is ``code`` and is later than ``after``."""
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(clock.now().timestamp()) // STEP_SECONDS
    for step in (now_step - 1, now_step, now_step + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(b"vigil-recovery\x00" + code.encode()).hexdigest()


def new_recovery_codes() -> list[str]:
    out = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        out.append(f"{raw[:5]}-{raw[5:]}")
    return out


def confirm_enrolment(
    settings: Settings, session: Session, user: StaffUser, code: str
) -> list[str]:
    """Turn the second factor on once a code from the new secret checks out; returns the
    recovery codes, which are shown now and never again."""
    if user.totp_enabled_at is not None:
        raise Conflict("a second factor is already on", code="totp_already_enrolled")
    secret = _open(settings, user)
    step = _matching_step(secret, _clean(code), None)
    if step is None:
        raise InvalidInput(
            "that code does not match: check the time on your phone and type the current code",
            field="code",
            code="invalid_code",
        )
    codes = new_recovery_codes()
    user.totp_enabled_at = clock.now()
    user.totp_last_step = step
    user.recovery_codes = [_recovery_hash(_clean(c)) for c in codes]
    session.flush()
    audit.record(
        session,
        Principal.staff(user.id, user.name, user.role),
        "auth.totp.enable",
        "staff",
        user.id,
    )
    return codes


def check_code(settings: Settings, session: Session, user: StaffUser, code: str) -> str | None:
    """Check a login's second factor: a current TOTP code, or an unused recovery code.
    Returns how it passed (``"totp"`` / ``"recovery"``) or ``None``. A code passes once:
    the step or the recovery code is spent here (the caller commits)."""
    if user.totp_enabled_at is None:
        return None
    cleaned = _clean(code)
    session.flush()  # the refreshes below must not drop pending changes
    try:
        secret = _open(settings, user)
    except sealed.SealedError:
        secret = ""
    step = _matching_step(secret, cleaned, user.totp_last_step) if secret else None
    if step is not None:
        # Spend the step with a guarded UPDATE: of two logins racing with the same code
        # only one changes the row (the other sees rowcount 0), whatever each has read.
        spent = session.execute(
            update(StaffUser)
            .where(
                StaffUser.id == user.id,
                or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        session.refresh(user)
        return "totp" if _rowcount(spent) == 1 else None
    digest = _recovery_hash(cleaned)
    # Read the codes under a row lock (PostgreSQL; SQLite writers are serialised by
    # BEGIN IMMEDIATE), so a recovery code spent by a concurrent login is seen as spent.
    session.refresh(user, with_for_update=True)
    stored = list(user.recovery_codes or [])
    for i, known in enumerate(stored):
        if hmac.compare_digest(known, digest):
            user.recovery_codes = stored[:i] + stored[i + 1 :]
            session.flush()
            audit.record(
                session,
                Principal.staff(user.id, user.name, user.role),
                "auth.totp.recovery_used",
                "staff",
                user.id,
                data={"left": len(user.recovery_codes)},
            )
            return "recovery"
    return None


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))


def _clear(user: StaffUser) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.recovery_codes = []


def disable(
    settings: Settings,
    session: Session,
    user: StaffUser,
    *,
    code: str = "",
    password: str = "",
) -> None:
    """The owner turns the second factor off, proving it with a current code or their
    password (someone at an unlocked screen has neither)."""
    if user.totp_enabled_at is None:
        raise Conflict("no second factor is set up", code="totp_not_enrolled")
    ok = bool(password) and passwords.verify_password(user.password_hash, password)
    if not ok and code:
        ok = check_code(settings, session, user, code) is not None
    if not ok:
        raise InvalidInput(
            "give a current code or your password to turn the second factor off",
            field="code" if code else "password",
            code="invalid_code" if code else "wrong_current_password",
        )
    _clear(user)
    session.flush()
    audit.record(
        session,
        Principal.staff(user.id, user.name, user.role),
        "auth.totp.disable",
        "staff",
        user.id,
    )


def reset(session: Session, actor: Principal, user: StaffUser, *, reason: str) -> None:
    """An admin removes a member's second factor (a lost phone); they enrol again. Ends the
    member's sessions: whoever holds them proved a factor that no longer exists."""
    from vigil.auth.service import _end_sessions

    if not reason.strip():
        raise InvalidInput(
            "say why the second factor is reset", field="reason", code="reason_required"
        )
    had = user.totp_enabled_at is not None or bool(user.totp_secret)
    _clear(user)
    _end_sessions(session, user.id)
    session.flush()
    audit.record(
        session,
        actor,
        "auth.totp.reset",
        "staff",
        user.id,
        reason=reason.strip(),
        data={"had_second_factor": had},
    )
