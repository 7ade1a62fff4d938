"""Console pages: login, queues, my cases, and the actions on a case (the page itself is in
``vigil.web.casepage``).

Views are thin: they call the same services as the API, under the logged-in staff member's
principal, inside the request's transaction. Domain errors are shown on the page they came
from, never as a bare JSON body.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from sqlalchemy.orm import Session

from vigil.api.deps import DB, AppSettings
from vigil.auth import guard, totp
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.cases import queues as queue_service
from vigil.cases import service as cases
from vigil.cases.models import CaseStatus, Resolution
from vigil.cases.timeline import add_note
from vigil.config import Settings
from vigil.enforcement import service as decisions
from vigil.kit.errors import NotAuthenticated, RateLimited, VigilError
from vigil.web import home as home_data
from vigil.web.auth import Console, ConsolePost, ConsoleUser, safe_next
from vigil.web.casepage import render_case, timeline_items
from vigil.web.common import CaseId, next_after, page, redirect
from vigil.web.render import minutes_label, templates

router = APIRouter(include_in_schema=False)

# --- login -----------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return page(request, None, "login.html", next=safe_next(next))


def _client_ip(request: Request) -> str | None:
    # Behind a proxy this is the proxy unless uvicorn is told to trust its X-Forwarded-For
    # (``--proxy-headers --forwarded-allow-ips``), see docs/security.md.
    return request.client.host if request.client else None


def _login_error(
    request: Request, db: Session, exc: VigilError, *, email: str, next: str
) -> HTMLResponse:
    # A failed attempt's count and audit record must survive the error page.
    db.commit()
    return page(
        request, None, "login.html", status_code=exc.status_code, error=exc.message,
        email=email, next=safe_next(next),
    )  # fmt: skip


def start_session(
    request: Request, db: Session, settings: Settings, user: StaffUser, next: str
) -> Response:
    """Every factor checked: open the session, set its cookie, go on (to the security page
    first when the role needs a second factor not enrolled yet)."""
    guard.login_succeeded(settings, user.email)
    issued = auth_service.open_session(
        db,
        user,
        ttl=timedelta(hours=settings.session_ttl_hours),
        user_agent=request.headers.get("user-agent"),
    )
    target = "/account/security" if guard.needs_enrolment(settings, user) else safe_next(next)
    response = redirect(target)
    response.set_cookie(
        settings.session_cookie,
        issued.token,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


@router.post("/login", response_model=None)
def login_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """The password step. Throttled per client address and per email (429), refused while
    the account is locked; with a second factor on, the code step follows (``/login/code``)
    and no session exists until it passes."""
    try:
        guard.throttle_login(settings, ip=_client_ip(request), email=email)
        user = auth_service.verify_credentials(
            db, email, password, policy=guard.login_policy(settings)
        )
    except (NotAuthenticated, RateLimited) as exc:
        return _login_error(request, db, exc, email=email, next=next)
    if user.totp_enabled_at is not None:
        return page(
            request, None, "login_code.html", ticket=guard.issue_ticket(settings, user),
            next=safe_next(next),
        )  # fmt: skip
    return start_session(request, db, settings, user, next)


@router.post("/login/code", response_model=None)
def login_code(
    request: Request,
    db: DB,
    settings: AppSettings,
    ticket: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """The second-factor step: a current TOTP code or a recovery code. Wrong codes count
    towards the account's lockout like wrong passwords, and are rate-limited."""
    try:
        user = guard.read_ticket(settings, ticket, lambda staff_id: db.get(StaffUser, staff_id))
    except NotAuthenticated as exc:
        return _login_error(request, db, exc, email="", next=next)
    try:
        if auth_service.is_locked(user):
            raise auth_service.locked_error(settings.lockout_minutes)
        guard.throttle_second_factor(settings, user.id)
        if totp.check_code(settings, db, user, code) is None:
            auth_service.record_failure(
                db, user, guard.login_policy(settings), step="second_factor"
            )
            raise NotAuthenticated(
                "the code is wrong or was already used", field="code", code="invalid_code"
            )
    except (NotAuthenticated, RateLimited) as exc:
        db.commit()
        if auth_service.is_locked(user):
            return _login_error(request, db, exc, email="", next=next)
        return page(
            request, None, "login_code.html", status_code=exc.status_code, error=exc.message,
            ticket=ticket, next=safe_next(next),
        )  # fmt: skip
    return start_session(request, db, settings, user, next)


@router.post("/logout")
def logout(request: Request, db: DB, settings: AppSettings, who: ConsolePost) -> Response:
    token = request.cookies.get(settings.session_cookie, "")
    auth_service.logout(db, token)
    response = redirect("/login?notice=logged_out")
    response.delete_cookie(settings.session_cookie, path="/")
    return response


# --- queues and lists ------------------------------------------------------------------------


def _waiting(db: Session, rows: list[Any]) -> set[int]:
    """The listed cases whose decision waits for a second approver (a chip in the list)."""
    return decisions.cases_waiting_approval(db, [c.id for c in rows])


@router.get("/")
def home(request: Request, db: DB, who: Console) -> HTMLResponse:
    """Home, per role (see ``vigil.web.home``): queues, my cases and escalations for those
    who work cases; approvals for second approvers; rules and backtests for policy leads."""
    p = who.principal
    mine = home_data.my_cases(db, p)
    held = mine.rows if mine else []
    show_queues = p.can(Permission.queues_read)
    return page(
        request, who, "home.html",
        queues=home_data.queue_rows(db, p) if show_queues else [],
        show_queues=show_queues, mine=mine, cases=held, waiting=_waiting(db, held),
        queue_names=home_data.queue_names(db),
        escalations=home_data.escalations(db, p),
        approvals=home_data.approvals(db, p),
        rules=home_data.rules_overview(db) if p.can(Permission.rules_write) else None,
        empty_text=(
            "You hold no cases. Press n for the next one." if p.tier is not None
            else "You hold no cases."
        ),
    )  # fmt: skip


@router.get("/my-cases")
def my_cases(request: Request, db: DB, who: Console, cursor: str | None = None) -> HTMLResponse:
    rows, next_cursor = cases.list_cases(
        db, who.principal, cases.CaseFilter(assignee_id=who.user.id), cursor=cursor, limit=50
    )
    return page(
        request, who, "my_cases.html", cases=rows, next_cursor=next_cursor,
        queue_names=home_data.queue_names(db), waiting=_waiting(db, rows),
        empty_text="No cases yet.",
    )  # fmt: skip


@router.get("/queues/{queue_id}")
def queue_page(
    request: Request,
    db: DB,
    who: Console,
    queue_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    cursor: str | None = None,
) -> HTMLResponse:
    queue = queue_service.get_queue(db, who.principal, queue_id)
    rows, next_cursor = cases.list_cases(
        db,
        who.principal,
        cases.CaseFilter(
            queue_id=queue.id,
            status=[CaseStatus.open, CaseStatus.assigned, CaseStatus.on_hold],
        ),
        cursor=cursor,
        limit=50,
    )
    return page(
        request, who, "queue.html", queue=queue, sla=minutes_label(queue.sla_minutes),
        cases=rows, next_cursor=next_cursor, queue_names=home_data.queue_names(db),
        waiting=_waiting(db, rows), empty_text="No live cases in this queue.",
    )  # fmt: skip


# --- next case -------------------------------------------------------------------------------


@router.post("/cases/next")
def next_case(db: DB, who: ConsolePost) -> RedirectResponse:
    case = cases.pull_next(db, who.principal)
    if case is None:
        return redirect("/?notice=empty")
    return redirect(f"/cases/{case.id}")


def _act(request: Request, db: Session, who: ConsoleUser, case_id: int, fn: Any) -> Response:
    """Run one case action; on a domain error roll it back and show the case with the
    message."""
    try:
        target = fn()
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return render_case(
            request, db, who, case_id, error=exc.message, status_code=exc.status_code
        )
    return redirect(target)


def _version(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@router.post("/cases/{case_id}/take")
def take(
    request: Request, db: DB, who: ConsolePost, case_id: CaseId,
    version: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    def run() -> str:
        cases.assign(db, who.principal, case_id, expected_version=_version(version))
        return f"/cases/{case_id}"

    return _act(request, db, who, case_id, run)


@router.post("/cases/{case_id}/release")
def release(
    request: Request, db: DB, who: ConsolePost, case_id: CaseId,
    version: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    def run() -> str:
        cases.release(db, who.principal, case_id, expected_version=_version(version))
        return "/?notice=released"

    return _act(request, db, who, case_id, run)


@router.post("/cases/{case_id}/escalate")
def escalate(
    request: Request, db: DB, who: ConsolePost, case_id: CaseId,
    reason: Annotated[str, Form()] = "", version: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    def run() -> str:
        cases.escalate(
            db, who.principal, case_id, reason=reason, expected_version=_version(version)
        )
        return next_after(db, who, "escalated")

    return _act(request, db, who, case_id, run)


@router.post("/cases/{case_id}/close")
def close(
    request: Request, db: DB, who: ConsolePost, case_id: CaseId,
    resolution: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
    version: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    def run() -> str:
        try:
            chosen = Resolution(resolution)
        except ValueError:
            raise VigilError(
                "choose a resolution", field="resolution", code="invalid_input"
            ) from None
        cases.close(
            db, who.principal, case_id, resolution=chosen, note=note,
            expected_version=_version(version),
        )  # fmt: skip
        return next_after(db, who, "closed")

    return _act(request, db, who, case_id, run)


@router.post("/cases/{case_id}/notes")
def note(
    request: Request, db: DB, who: ConsolePost, case_id: CaseId, body: Annotated[str, Form()] = ""
) -> Response:
    htmx = request.headers.get("hx-request") == "true"
    if not htmx:

        def run() -> str:
            add_note(db, who.principal, case_id, body=body)
            return f"/cases/{case_id}"

        return _act(request, db, who, case_id, run)
    try:
        add_note(db, who.principal, case_id, body=body)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        # Shown inside the note form itself (``HX-Retarget: this``), at its top, replacing
        # an earlier refusal (console.js): the history is not overwritten and the text
        # typed stays in the field.
        return HTMLResponse(
            f'<p class="notice error" role="alert" data-form-error>{escape(exc.message)}</p>',
            exc.status_code,
            headers={"HX-Retarget": "this", "HX-Reswap": "afterbegin"},
        )
    return templates.TemplateResponse(
        request, "partials/timeline.html", {"timeline": timeline_items(db, who.principal, case_id)}
    )
