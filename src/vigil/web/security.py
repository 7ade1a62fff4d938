"""Console: one's own account security (the TOTP second factor) and, for admins, the staff
list with lockouts and second factors (unlock, reset).

The rules live in ``vigil.auth.service`` and ``vigil.auth.totp``; this module turns form
fields into their input and their refusals into messages on the page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from vigil.api.deps import DB, AppSettings
from vigil.auth import guard, totp
from vigil.auth import service as auth_service
from vigil.auth.permissions import Permission
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, VigilError
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.common import page, redirect

router = APIRouter(include_in_schema=False)

StaffId = Annotated[int, Path(ge=1, le=2**63 - 1)]

_DONE = {
    "enabled": "Second factor on. Keep your recovery codes somewhere safe.",
    "disabled": "Second factor off.",
    "unlocked": "Account unlocked.",
    "reset": "Second factor reset: they enrol again at their next login.",
}


def _security_page(
    request: Request,
    who: ConsoleUser,
    settings: Any,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    user = who.user
    return page(
        request, who, "security/account.html", status_code=status_code,
        enabled=user.totp_enabled_at is not None,
        recovery_left=len(user.recovery_codes or []),
        required=user.role in guard.required_roles(settings),
        done=_DONE.get(request.query_params.get("done", "")),
        **context,
    )  # fmt: skip


@router.get("/account/security")
def account_security(request: Request, settings: AppSettings, who: Console) -> HTMLResponse:
    return _security_page(request, who, settings)


@router.post("/account/security/totp/begin")
def totp_begin(request: Request, db: DB, settings: AppSettings, who: ConsolePost) -> Response:
    try:
        enrolment = totp.begin_enrolment(settings, db, who.user)
    except VigilError as exc:
        db.rollback()
        return _security_page(request, who, settings, status_code=exc.status_code,
                              error=exc.message)  # fmt: skip
    return _security_page(request, who, settings, enrolment=enrolment)


@router.post("/account/security/totp/confirm")
def totp_confirm(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    code: Annotated[str, Form()] = "",
) -> Response:
    try:
        guard.throttle_second_factor(settings, who.user.id)
        codes = totp.confirm_enrolment(settings, db, who.user, code)
    except VigilError as exc:
        db.rollback()
        return _security_page(
            request, who, settings, status_code=exc.status_code, error=exc.message,
            enrolment=totp.pending_enrolment(settings, who.user),
        )  # fmt: skip
    # Shown here once: only their hashes are kept.
    return page(request, who, "security/recovery_codes.html", codes=codes)


@router.post("/account/security/totp/disable")
def totp_disable(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    code: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    try:
        guard.throttle_second_factor(settings, who.user.id)
        if who.user.role in guard.required_roles(settings):
            raise VigilError(
                "your role must keep a second factor", code="second_factor_required", field="code"
            )
        totp.disable(settings, db, who.user, code=code, password=password)
    except VigilError as exc:
        db.rollback()
        return _security_page(request, who, settings, status_code=exc.status_code,
                              error=exc.message)  # fmt: skip
    return redirect("/account/security?done=disabled")


# --- admins: the staff list ---------------------------------------------------------------


@router.get("/staff")
def staff_list(request: Request, db: DB, who: Console, cursor: str | None = None) -> HTMLResponse:
    who.principal.require(Permission.staff_read)
    rows, next_cursor = auth_service.list_staff(db, cursor=cursor, limit=100)
    now = clock.now()
    return page(
        request, who, "security/staff.html", staff=rows, next_cursor=next_cursor,
        locked={u.id for u in rows if auth_service.is_locked(u, now)},
        can_write=who.principal.can(Permission.staff_write),
        done=_DONE.get(request.query_params.get("done", "")),
    )  # fmt: skip


@router.post("/staff/{staff_id}/unlock")
def staff_unlock(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    staff_id: StaffId,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """End a lockout early; like the API and the CLI, it needs a reason (audited)."""
    who.principal.require(Permission.staff_write)
    if not reason.strip():
        raise InvalidInput("Unlocking needs a reason.", field="reason", code="reason_required")
    user = auth_service.unlock_staff(db, who.principal, staff_id, reason=reason.strip())
    guard.login_succeeded(settings, user.email)  # the email's attempt limit starts again
    return redirect("/staff?done=unlocked")


@router.post("/staff/{staff_id}/reset-second-factor")
def staff_reset_second_factor(
    request: Request,
    db: DB,
    who: ConsolePost,
    staff_id: StaffId,
    reason: Annotated[str, Form()] = "",
) -> Response:
    who.principal.require(Permission.staff_write)
    try:
        totp.reset(db, who.principal, auth_service.get_staff(db, staff_id), reason=reason)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        rows, next_cursor = auth_service.list_staff(db, limit=100)
        return page(
            request, who, "security/staff.html", status_code=exc.status_code,
            error=exc.message, staff=rows, next_cursor=next_cursor,
            locked={u.id for u in rows if auth_service.is_locked(u)}, can_write=True, done=None,
        )  # fmt: skip
    return redirect("/staff?done=reset")
