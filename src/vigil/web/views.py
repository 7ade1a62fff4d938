"""Console pages: login, queues, my cases, the case page and its actions.

Views are thin: they call the same services as the API, under the logged-in staff member's
principal, inside the request's transaction. Domain errors are shown on the page they came
from, never as a bare JSON body.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts import masking
from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.api.deps import DB, AppSettings
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import queues as queue_service
from vigil.cases import service as cases
from vigil.cases.models import CaseStatus, Queue, Resolution
from vigil.cases.sla import sla_state
from vigil.cases.timeline import add_note, timeline
from vigil.enforcement import service as decisions
from vigil.kit import clock
from vigil.kit.errors import NotAuthenticated, VigilError
from vigil.web.auth import Console, ConsolePost, ConsoleUser, safe_next
from vigil.web.render import human_delta, minutes_label, templates

router = APIRouter(include_in_schema=False)

# Ids in console paths: anything past 64 bits is not one of ours (404, never a 500).
CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]

NOTICES = {
    "empty": ("info", "Nothing is waiting in your queues. Well done."),
    "closed": ("ok", "Case closed."),
    "released": ("ok", "Case released to its queue."),
    "escalated": ("ok", "Case escalated."),
    "logged_out": ("info", "You are logged out."),
    "decided": ("ok", "Decision recorded and applied; the case is closed."),
    "decision_pending": ("info", "Decision recorded; it waits for a specialist's approval."),
    "approved": ("ok", "Decision approved and applied."),
    "rejected": ("ok", "Decision rejected; the case went back to its reviewer."),
}
SLA_LABELS = {"ok": "on track", "warning": "at risk", "breached": "breached"}


def _notice(request: Request) -> dict[str, str] | None:
    key = request.query_params.get("notice")
    if key in NOTICES:
        kind, text = NOTICES[key]
        return {"kind": kind, "text": text}
    return None


def _page(
    request: Request, who: ConsoleUser | None, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    base = {
        "user": who.user if who else None,
        "csrf_token": who.csrf_token if who else None,
        "can_work": bool(who and who.principal.can(Permission.cases_work) and who.principal.tier),
        "can_approve": bool(who and who.principal.can(Permission.decisions_approve)),
        "notice": _notice(request),
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- login -----------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, None, "login.html", next=safe_next(next))


@router.post("/login", response_model=None)
def login_submit(
    request: Request,
    db: DB,
    settings: AppSettings,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        issued = auth_service.login(
            db,
            email,
            password,
            ttl=timedelta(hours=settings.session_ttl_hours),
            user_agent=request.headers.get("user-agent"),
        )
    except NotAuthenticated as exc:
        # The failed attempt's audit record must survive the error page.
        db.commit()
        return _page(
            request, None, "login.html", status_code=401, error=exc.message, email=email,
            next=safe_next(next),
        )  # fmt: skip
    response = _redirect(safe_next(next))
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


@router.post("/logout")
def logout(request: Request, db: DB, settings: AppSettings, who: ConsolePost) -> Response:
    token = request.cookies.get(settings.session_cookie, "")
    auth_service.logout(db, token)
    response = _redirect("/login?notice=logged_out")
    response.delete_cookie(settings.session_cookie, path="/")
    return response


# --- queues and lists ------------------------------------------------------------------------


def _queue_names(db: Session) -> dict[int, str]:
    return {q.id: q.name for q in db.scalars(select(Queue))}


def _waiting(db: Session, rows: list[Any]) -> set[int]:
    """The listed cases whose decision waits for a second approver (a chip in the list)."""
    return decisions.cases_waiting_approval(db, [c.id for c in rows])


@router.get("/")
def home(request: Request, db: DB, who: Console) -> HTMLResponse:
    visible, _ = queue_service.list_queues(db, who.principal, limit=500)
    stats = queue_service.queue_stats(db, [q for q in visible if q.active])
    stats.sort(key=lambda s: ({"breached": 0, "warning": 1}.get(s.sla_state, 2), s.queue.name))
    rows = [
        {
            "id": s.queue.id,
            "name": s.queue.name,
            "tier": s.queue.tier.value,
            "open": s.open,
            "assigned": s.assigned,
            "on_hold": s.on_hold,
            "breached": s.breached,
            "oldest_open_age": (
                human_delta(timedelta(seconds=s.oldest_open_age_seconds))
                if s.oldest_open_age_seconds is not None
                else None
            ),
            "sla": minutes_label(s.queue.sla_minutes),
            "sla_state": s.sla_state,
            "sla_state_label": SLA_LABELS.get(s.sla_state, s.sla_state),
        }
        for s in stats
    ]
    mine, _ = cases.list_cases(
        db,
        who.principal,
        cases.CaseFilter(assignee_id=who.user.id, status=[CaseStatus.assigned, CaseStatus.on_hold]),
        limit=100,
    )
    return _page(
        request, who, "home.html", queues=rows, cases=mine, queue_names=_queue_names(db),
        waiting=_waiting(db, mine),
        empty_text=(
            "You hold no cases. Press n for the next one."
            if who.principal.tier is not None
            else "You hold no cases."
        ),
    )  # fmt: skip


@router.get("/my-cases")
def my_cases(request: Request, db: DB, who: Console, cursor: str | None = None) -> HTMLResponse:
    rows, next_cursor = cases.list_cases(
        db, who.principal, cases.CaseFilter(assignee_id=who.user.id), cursor=cursor, limit=50
    )
    return _page(
        request, who, "my_cases.html", cases=rows, next_cursor=next_cursor,
        queue_names=_queue_names(db), waiting=_waiting(db, rows), empty_text="No cases yet.",
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
    return _page(
        request, who, "queue.html", queue=queue, sla=minutes_label(queue.sla_minutes),
        cases=rows, next_cursor=next_cursor, queue_names=_queue_names(db),
        waiting=_waiting(db, rows), empty_text="No live cases in this queue.",
    )  # fmt: skip


# --- next case -------------------------------------------------------------------------------


@router.post("/cases/next")
def next_case(db: DB, who: ConsolePost) -> RedirectResponse:
    case = cases.pull_next(db, who.principal)
    if case is None:
        return _redirect("/?notice=empty")
    return _redirect(f"/cases/{case.id}")


# --- the case page ---------------------------------------------------------------------------


def _years(born: date) -> int:
    today = clock.now().date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _age(account: Account) -> str | None:
    if account.registered_at is None:
        return None
    return human_delta(clock.now() - account.registered_at)


def _account_view(
    db: Session, principal: Principal, account_id: int, *, reveal: bool, reason: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    account, unmasked = accounts.get_account(
        db, principal, account_id=account_id, reveal=reveal, reason=reason, view="case"
    )

    def show(value: str | None, masker: Any) -> str:
        if value is None:
            return "—"
        return value if unmasked else (masker(value) or "—")

    dob = account.date_of_birth
    view = {
        "external_id": account.external_id,
        "display_name": account.display_name,
        "legal_name_masked": show(account.legal_name, masking.mask_name),
        "side": account.side.value,
        "status": account.status.value,
        "country": account.country,
        "locale": account.locale,
        "age": _age(account),
        "email_masked": show(account.email, masking.mask_email),
        "phone_masked": show(account.phone, masking.mask_phone),
        "dob_masked": (dob.isoformat() if unmasked else f"age {_years(dob)}") if dob else "—",
        "revealed": unmasked,
    }
    idents, _ = accounts.list_identifiers(db, account, limit=50)
    shared = {(k, v): n for k, v, n in accounts.linked_accounts(db, account, limit=1).shared_values}
    identifiers = [
        {
            "kind": i.kind.value,
            "value": i.value if unmasked else masking.mask_identifier(i.kind, i.value),
            "first_seen_at": i.first_seen_at,
            "last_seen_at": i.last_seen_at,
            "shared": shared.get((i.kind, i.value), 0),
        }
        for i in idents
    ]
    restrictions = accounts.restrictions_in_force(db, account)
    return view, identifiers, restrictions


_EVENT_LABELS = {
    "created": "opened the case",
    "assigned": "took the case",
    "released": "released the case to its queue",
    "escalated": "escalated the case",
    "rerouted": "moved the case to another queue",
    "held": "put the case on hold",
    "resumed": "resumed the case",
    "closed": "closed the case",
    "reopened": "reopened the case",
    "note": "wrote a note",
    "sla_breached": "SLA breached",
    "duplicate": "reported the same thing again",
    "updated": "updated the case",
    "decided": "recorded a decision",
    "decision_pending": "recorded a decision that waits for a second approver",
    "decision_approved": "approved the decision",
    "decision_rejected": "rejected the decision",
    "decision_reversed": "reversed the decision",
    "action_expired": "an action reached its end date",
    "message_sent": "sent a message to the user",
    "message_failed": "a message to the user could not be sent",
}


def _timeline_items(db: Session, principal: Principal, case_id: int) -> list[dict[str, Any]]:
    entries, _ = timeline(db, principal, case_id, limit=500)
    items = []
    for e in entries:
        label = _EVENT_LABELS.get(e.kind, e.kind.replace("_", " "))
        if e.kind == "escalated" and e.data.get("to_tier"):
            label += f" to {e.data['to_tier']}"
        if e.kind == "closed" and e.data.get("resolution"):
            label += f" ({str(e.data['resolution']).replace('_', ' ')})"
        reason = e.reason
        if e.kind in ("message_sent", "message_failed") and e.data.get("channel"):
            label += f" by {str(e.data['channel']).replace('_', '-')}"
            if e.data.get("locale"):
                label += f" ({e.data['locale']})"
            reason = reason or e.data.get("subject")
        items.append(
            {"at": e.at, "actor": e.actor_label, "label": label, "reason": reason, "body": e.note}
        )
    return items


def _render_case(
    request: Request,
    db: Session,
    who: ConsoleUser,
    case_id: int,
    *,
    reveal: bool = False,
    reason: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    case = cases.view_case(db, p, case_id)
    account = identifiers = restrictions = None
    if case.account_id is not None:
        account, identifiers, restrictions = _account_view(
            db, p, case.account_id, reveal=reveal, reason=reason
        )
    assignee = db.get(StaffUser, case.assignee_id) if case.assignee_id else None
    mine = case.status == CaseStatus.assigned and case.assignee_id == who.user.id
    next_tier = case.tier.next()
    live = case.status != CaseStatus.closed
    return _page(
        request,
        who,
        "case.html",
        # Closing waits for the approver's answer (the service refuses it too).
        decision_pending=live and decisions.pending_decision_id(db, case.id) is not None,
        status_code=status_code,
        case=case,
        queue=db.get(Queue, case.queue_id),
        assignee=assignee,
        account=account,
        identifiers=identifiers,
        restrictions=restrictions,
        timeline=_timeline_items(db, p, case.id),
        mine=mine,
        can_reveal=p.can(Permission.pii_reveal),
        can_note=p.can(Permission.cases_work),
        can_escalate=live and next_tier is not None and (mine or p.can(Permission.cases_assign)),
        next_tier=next_tier.value if next_tier else None,
        resolutions=list(Resolution),
        sla_state=sla_state(case),
        error=error,
    )


@router.get("/cases/{case_id}")
def case_page(request: Request, db: DB, who: Console, case_id: CaseId) -> HTMLResponse:
    return _render_case(request, db, who, case_id)


@router.post("/cases/{case_id}/reveal")
def reveal(
    request: Request, db: DB, who: ConsolePost, case_id: CaseId,
    reason: Annotated[str, Form()] = "",
) -> HTMLResponse:  # fmt: skip
    """Show the case with personal data unmasked. A POST with the CSRF token, so no link on
    another site can make someone reveal data (and write an audit record in their name);
    the page is rendered, not redirected to, so the reveal lasts for this view only."""
    try:
        return _render_case(request, db, who, case_id, reveal=True, reason=reason)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _render_case(
            request, db, who, case_id, error=exc.message, status_code=exc.status_code
        )


def _act(request: Request, db: Session, who: ConsoleUser, case_id: int, fn: Any) -> Response:
    """Run one case action; on a domain error roll it back and show the case with the
    message."""
    try:
        target = fn()
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _render_case(
            request, db, who, case_id, error=exc.message, status_code=exc.status_code
        )
    return _redirect(target)


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
        return "/?notice=escalated"

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
        return "/?notice=closed"

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
        return HTMLResponse(f'<p class="notice error" role="alert">{escape(exc.message)}</p>', 422)
    return templates.TemplateResponse(
        request, "partials/timeline.html", {"timeline": _timeline_items(db, who.principal, case_id)}
    )
