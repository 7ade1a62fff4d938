"""Request-scoped dependencies: the database session, the settings, and who is calling.

Authorization is declared on each route with ``Depends(require(Permission.X))`` (or one of
the ``Annotated`` aliases below) and checked here, in one place.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from vigil.auth import guard
from vigil.auth import service as auth_service
from vigil.auth.models import StaffSession, StaffUser
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import transaction
from vigil.kit.errors import NotAuthenticated, PermissionDenied


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the endpoint returns, before the response
    is sent (``scope="function"``), so a failed commit is reported to the caller."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with transaction(factory) as session:
        yield session


DB = Annotated[Session, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


# Declared for the OpenAPI document only (clients see "Bearer" auth); the header is read below.
_bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key made with `vigil api-keys create`, sent as `Bearer vgl_...`.",
)


def get_principal(
    request: Request,
    db: DB,
    settings: AppSettings,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)] = None,
) -> Principal:
    """An API key (``Authorization: Bearer vgl_...``) or a console session cookie."""
    token = _bearer(request)
    if token is not None:
        principal = auth_service.authenticate_api_key(db, token)
        if principal is None:
            raise NotAuthenticated("API key is unknown, revoked or expired", code="invalid_api_key")
        request.state.principal = principal
        guard.after_authentication(request, settings, principal)  # the /v1 rate limit
        return principal
    cookie = request.cookies.get(settings.session_cookie)
    if cookie:
        resolved = auth_service.resolve_session(db, cookie)
        if resolved is not None:
            user, staff_session = resolved
            _check_csrf(request, staff_session)
            request.state.staff = user
            request.state.staff_session = staff_session
            principal = auth_service.principal_for(user)
            request.state.principal = principal
            guard.after_authentication(request, settings, principal)
            return principal
    raise NotAuthenticated("log in or send an API key", code="not_authenticated")


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _check_csrf(request: Request, staff_session: StaffSession) -> None:
    """A browser sends the session cookie with any request to us; a change made with it must
    also carry the session's CSRF token in ``X-CSRF-Token``, which another site cannot read.
    (API keys are sent explicitly, so they need no such proof.)"""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token", "")
    if not sent or not hmac.compare_digest(sent, staff_session.csrf_token):
        raise PermissionDenied(
            "send the session's CSRF token in the X-CSRF-Token header", code="csrf_failed"
        )


def require(permission: Permission) -> Callable[[Principal], Principal]:
    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied(
                f"this needs the '{permission.value}' permission", code="permission_denied"
            )
        return principal

    check.__name__ = f"require_{permission.name}"
    return check


def current_staff(request: Request, principal: CurrentPrincipal) -> StaffUser:
    user: StaffUser | None = getattr(request.state, "staff", None)
    if user is None:
        raise PermissionDenied("this needs a staff login, not an API key", code="staff_only")
    return user


def current_staff_session(
    request: Request, _user: StaffUser = Depends(current_staff)
) -> StaffSession:
    return request.state.staff_session


CurrentStaff = Annotated[StaffUser, Depends(current_staff)]

# Typed aliases used by the routers.
AccountsRead = Annotated[Principal, Depends(require(Permission.accounts_read))]
AccountsWrite = Annotated[Principal, Depends(require(Permission.accounts_write))]
RestrictionsWrite = Annotated[Principal, Depends(require(Permission.restrictions_write))]
PiiReveal = Annotated[Principal, Depends(require(Permission.pii_reveal))]
CasesRead = Annotated[Principal, Depends(require(Permission.cases_read))]
CasesCreate = Annotated[Principal, Depends(require(Permission.cases_create))]
CasesWork = Annotated[Principal, Depends(require(Permission.cases_work))]
CasesAssign = Annotated[Principal, Depends(require(Permission.cases_assign))]
QueuesRead = Annotated[Principal, Depends(require(Permission.queues_read))]
QueuesWrite = Annotated[Principal, Depends(require(Permission.queues_write))]
StaffRead = Annotated[Principal, Depends(require(Permission.staff_read))]
StaffWrite = Annotated[Principal, Depends(require(Permission.staff_write))]
ApiKeysWrite = Annotated[Principal, Depends(require(Permission.api_keys_write))]
AuditRead = Annotated[Principal, Depends(require(Permission.audit_read))]
JobsRead = Annotated[Principal, Depends(require(Permission.jobs_read))]
JobsWrite = Annotated[Principal, Depends(require(Permission.jobs_write))]
PoliciesRead = Annotated[Principal, Depends(require(Permission.policies_read))]
PoliciesWrite = Annotated[Principal, Depends(require(Permission.policies_write))]
DecisionsWrite = Annotated[Principal, Depends(require(Permission.decisions_write))]
DecisionsApprove = Annotated[Principal, Depends(require(Permission.decisions_approve))]
DecisionsReverse = Annotated[Principal, Depends(require(Permission.decisions_reverse))]
MessagesSend = Annotated[Principal, Depends(require(Permission.messages_send))]
IntegrationsRead = Annotated[Principal, Depends(require(Permission.integrations_read))]
IntegrationsWrite = Annotated[Principal, Depends(require(Permission.integrations_write))]
StatementsRead = Annotated[Principal, Depends(require(Permission.statements_read))]
EventsWrite = Annotated[Principal, Depends(require(Permission.events_write))]
EventsRead = Annotated[Principal, Depends(require(Permission.events_read))]
RulesRead = Annotated[Principal, Depends(require(Permission.rules_read))]
RulesWrite = Annotated[Principal, Depends(require(Permission.rules_write))]
