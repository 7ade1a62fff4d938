"""Guards in front of authentication: request rate limits on /v1, login throttling per client
address and per email, and the signed ticket that carries a login from its password step to
its second-factor step.

Limits are counted with the process's limiter (``vigil.kit.ratelimit``), shared through Redis
when ``VIGIL_REDIS_URL`` is set. Lockout itself (consecutive failures of one account) is in the
database: see ``vigil.auth.service.verify_credentials``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from vigil.auth.permissions import Role
from vigil.auth.principal import ActorType, Principal
from vigil.kit import clock, ratelimit
from vigil.kit.errors import NotAuthenticated, PermissionDenied, RateLimited

if TYPE_CHECKING:
    from vigil.auth.models import StaffUser
    from vigil.auth.service import LoginPolicy
    from vigil.config import Settings

API_WINDOW_SECONDS = 60


def api_limit_key(principal: Principal) -> str | None:
    if principal.type is ActorType.api_key:
        return f"api:key:{principal.id}"
    if principal.type is ActorType.staff:
        return f"api:staff:{principal.id}"
    return None


def check_api_rate(settings: Settings, principal: Principal) -> ratelimit.Decision | None:
    """Count one /v1 request against its caller's per-minute limit: one limiter call (one
    Redis round trip). ``None`` when no limit applies."""
    key = api_limit_key(principal)
    if key is None or settings.api_rate_limit <= 0:
        return None
    return ratelimit.limiter_for(settings).hit(key, settings.api_rate_limit, API_WINDOW_SECONDS)


def after_authentication(request: Any, settings: Settings, principal: Principal) -> None:
    """Called by ``vigil.api.deps.get_principal`` once the caller is known. A staff member
    whose role needs a second factor they have not enrolled is sent to enrol it first; then
    the rate limit: the decision goes to ``request.state.rate_limit`` (the response's
    ``RateLimit-*`` headers, see ``vigil.kit.asgi.RequestContext``), and over the limit this
    raises 429 ``rate_limited``."""
    if principal.is_staff:
        user = getattr(request.state, "staff", None)
        if user is not None and needs_enrolment(settings, user):
            raise PermissionDenied(
                "your role needs a second factor: enrol one on the console's security page",
                code="second_factor_enrolment_required",
            )
    decision = check_api_rate(settings, principal)
    if decision is None:
        return
    request.state.rate_limit = decision
    if not decision.allowed:
        raise RateLimited(
            f"more than {settings.api_rate_limit} requests a minute: "
            f"retry in {decision.retry_after_seconds} s",
            code="rate_limited",
        )


def login_policy(settings: Settings) -> LoginPolicy:
    from vigil.auth.service import LoginPolicy

    return LoginPolicy(settings.lockout_threshold, timedelta(minutes=settings.lockout_minutes))


def required_roles(settings: Settings) -> frozenset[Role]:
    out: set[Role] = set()
    for name in settings.require_totp_for_roles.split(","):
        if name.strip():
            out.add(Role(name.strip()))
    return frozenset(out)


def needs_enrolment(settings: Settings, user: StaffUser) -> bool:
    return user.totp_enabled_at is None and user.role in required_roles(settings)


# --- login throttling ---------------------------------------------------------------------


def _email_key(email: str) -> str:
    # The address is not kept in Redis in clear.
    return "login:email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def throttle_login(settings: Settings, *, ip: str | None, email: str) -> ratelimit.Decision | None:
    """Count one login attempt against the client address and the email. Over the address
    limit: 429 ``rate_limited``; over the email limit: 429 ``login_locked``, the same answer
    a locked account gets, so the answer does not tell whether the email exists."""
    from vigil.auth.service import locked_error

    limiter = ratelimit.limiter_for(settings)
    window = settings.login_window_seconds
    if ip:
        by_ip = limiter.hit(f"login:ip:{ip}", settings.login_ip_limit, window)
        if not by_ip.allowed:
            raise RateLimited(
                "too many login attempts from your network: wait "
                f"{by_ip.retry_after_seconds} s and try again",
                code="rate_limited",
            )
    by_email = limiter.hit(_email_key(email), settings.login_email_limit, window)
    if not by_email.allowed:
        raise locked_error(int(by_email.retry_after // 60) + 1)
    return by_email


def login_succeeded(settings: Settings, email: str) -> None:
    """A person who got in is not held back by their own earlier typos."""
    ratelimit.limiter_for(settings).reset(_email_key(email), settings.login_window_seconds)


def throttle_second_factor(settings: Settings, staff_id: int) -> None:
    decision = ratelimit.limiter_for(settings).hit(
        f"login:totp:{staff_id}", settings.totp_attempt_limit, settings.login_window_seconds
    )
    if not decision.allowed:
        raise RateLimited(
            f"too many codes tried: wait {decision.retry_after_seconds} s and try again",
            field="code",
            code="rate_limited",
        )


# --- the ticket between the password step and the second-factor step ----------------------

TICKET_SECONDS = 300


def _ticket_mac(settings: Settings, body: str, user: StaffUser) -> str:
    # Bound to the password hash: changing the password voids tickets already handed out.
    key = hashlib.sha256(
        b"vigil.auth.ticket\x00" + settings.secret_key.get_secret_value().encode()
    ).digest()
    msg = f"{body}|{user.password_hash}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()[:43]


def issue_ticket(settings: Settings, user: StaffUser) -> str:
    """Proof that ``user`` passed the password step in the last few minutes. It opens
    nothing by itself: the second-factor step still needs a valid code."""
    expires = int(clock.now().timestamp()) + TICKET_SECONDS
    body = f"{user.id}.{expires}"
    return f"{body}.{_ticket_mac(settings, body, user)}"


def read_ticket(settings: Settings, ticket: str, load: Any) -> StaffUser:
    """The user a ticket was issued to; ``load(staff_id)`` fetches the row. Expired, forged
    or stale tickets: 401 ``login_expired``."""
    expired = NotAuthenticated(
        "the login has expired: enter your email and password again", code="login_expired"
    )
    parts = ticket.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise expired
    staff_id, expires = int(parts[0]), int(parts[1])
    if expires < clock.now().timestamp() or staff_id > 2**63 - 1:
        raise expired
    user = load(staff_id)
    if user is None or not user.active:
        raise expired
    if not hmac.compare_digest(parts[2], _ticket_mac(settings, f"{parts[0]}.{parts[1]}", user)):
        raise expired
    return user
