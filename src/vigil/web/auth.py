"""Console sessions: who is logged in, CSRF on every form, redirect to the login page."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from vigil.api.deps import DB, AppSettings
from vigil.auth import guard
from vigil.auth import service as auth_service
from vigil.auth.models import StaffSession, StaffUser
from vigil.auth.principal import Principal
from vigil.kit.errors import PermissionDenied


class LoginRequired(Exception):
    """Not logged in (to the login page), or (``enrol``) logged in with a role that must
    enrol a second factor first (to the security page)."""

    def __init__(self, next_url: str, *, enrol: bool = False) -> None:
        self.next_url = next_url
        self.enrol = enrol


# Open to a staff member who must still enrol a second factor.
ENROL_PATHS = ("/account/security", "/logout")


@dataclass
class ConsoleUser:
    user: StaffUser
    session: StaffSession
    principal: Principal

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


def console_user(request: Request, db: DB, settings: AppSettings) -> ConsoleUser:
    token = request.cookies.get(settings.session_cookie)
    resolved = auth_service.resolve_session(db, token) if token else None
    if resolved is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/")
    user, staff_session = resolved
    if guard.needs_enrolment(settings, user) and not request.url.path.startswith(ENROL_PATHS):
        # VIGIL_REQUIRE_TOTP_FOR_ROLES: nothing else opens until the second factor is on.
        raise LoginRequired("/account/security", enrol=True)
    return ConsoleUser(user, staff_session, auth_service.principal_for(user))


async def _submitted_token(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    form = await request.form()
    value = form.get("csrf_token")
    return value if isinstance(value, str) else ""


async def csrf_checked(
    request: Request, who: Annotated[ConsoleUser, Depends(console_user)]
) -> ConsoleUser:
    """Every console POST carries the session's CSRF token (form field or htmx header)."""
    submitted = await _submitted_token(request)
    if not submitted or not hmac.compare_digest(submitted, who.csrf_token):
        raise PermissionDenied(
            "the form has expired; reload the page and try again", code="csrf_failed"
        )
    return who


Console = Annotated[ConsoleUser, Depends(console_user)]
ConsolePost = Annotated[ConsoleUser, Depends(csrf_checked)]


def safe_next(value: str | None) -> str:
    """Only same-site paths: never redirect a fresh login to another host."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def install(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    def _login_required(request: Request, exc: LoginRequired) -> Response:
        target = exc.next_url if exc.enrol else f"/login?next={quote(exc.next_url)}"
        if request.headers.get("hx-request") == "true":
            # An htmx request would swap the login page into a fragment of the old page:
            # ask htmx for a full navigation instead.
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
