"""Console: erasure requests for legal, and the legal-hold panel on case and account pages.

The panel is fetched by htmx after the page renders (``/privacy/holds-panel``), so the case
and account pages only carry one line each. Placing, lifting and carrying out are form posts
(CSRF-checked) that call the privacy service, which audits them; a refused form comes back
with the error's message, nothing written.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from vigil.accounts.models import Account
from vigil.api.deps import DB, AppSettings
from vigil.auth.permissions import Permission
from vigil.cases.models import Case
from vigil.kit.errors import NotFound, VigilError
from vigil.privacy import service
from vigil.privacy.models import ErasureStatus
from vigil.web import privacy_view as view
from vigil.web.auth import Console, ConsolePost
from vigil.web.common import page, redirect
from vigil.web.render import templates

router = APIRouter(include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
MESSAGES = {
    "placed": "Legal hold placed.",
    "lifted": "Legal hold lifted.",
    "completed": "Erasure carried out: what was erased and what was kept is listed below.",
    "refused": "Erasure request refused.",
    "received": "Erasure request filed. Check it, then carry it out or refuse it.",
    "already_open": "This account already has an open erasure request; here it is.",
}
HOLD_MESSAGES = {"placed": "Legal hold placed.", "lifted": "Legal hold lifted."}


def _back(url: str, **params: str) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return redirect(url + sep + urlencode(params))


def _panel_params(request: Request) -> dict[str, str]:
    """What the last hold form left in the page's address (``hold``, ``hold_error``,
    ``hold_id``): the panel is fetched by htmx, which names the page in ``HX-Current-URL``;
    the panel's own query wins (a direct fetch)."""
    found: dict[str, str] = {}
    page_url = request.headers.get("HX-Current-URL", "")[:2000]
    for key, values in parse_qs(urlsplit(page_url).query).items():
        found[key] = values[0]
    for key in ("hold", "hold_error", "hold_id"):
        if key in request.query_params:
            found[key] = request.query_params[key]
    return found


def _safe_back(value: str) -> str:
    # Only our own pages: a path, never another host.
    return value if value.startswith("/") and not value.startswith("//") else "/privacy"


@router.get("/privacy")
def privacy_home(
    request: Request,
    db: DB,
    who: Console,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """Erasure requests (received first) and the legal holds in force."""
    p = who.principal
    p.require(Permission.privacy_requests)
    wanted = ErasureStatus(status) if status and status in ErasureStatus.__members__ else None
    requests, _ = service.list_erasure_requests(db, status=wanted, limit=200)
    holds, _ = service.list_holds(db, active=True, limit=200)
    open_ids = {r.account_id for r in requests if r.status is ErasureStatus.received}
    return page(
        request,
        who,
        "privacy/index.html",
        requests=requests,
        outcomes={r.id: view.outcome(r) for r in requests},
        held_accounts=view.held_accounts(db, open_ids),
        holds=holds,
        hold_accounts=view.external_ids(db, {h.account_id for h in holds if h.account_id}),
        status=wanted.value if wanted else "",
        statuses=[s.value for s in ErasureStatus],
        can_hold=p.can(Permission.legal_holds_write),
        message=MESSAGES.get(request.query_params.get("done", "")),
        error=view.error_text(request.query_params.get("error")),
        account=request.query_params.get("account", "")[:200],
    )


@router.post("/privacy/erasure-requests")
def erasure_file(
    db: DB,
    who: ConsolePost,
    account: Annotated[str, Form(max_length=200)] = "",
    reference: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    """File a request that came in outside the API (an email to the DPO, a letter)."""
    who.principal.require(Permission.privacy_requests)
    external_id = account.strip()
    if not external_id:
        return _back("/privacy", error="account_required")
    try:
        found, new = service.receive_erasure_request(
            db, who.principal, account_external_id=external_id, reference=reference, note=note
        )
    except VigilError as exc:
        db.rollback()
        return _back("/privacy", error=exc.code, account=external_id)
    url = f"/privacy/erasure-requests/{found.id}"
    return _back(url, done="received" if new else "already_open")


@router.get("/privacy/erasure-requests/{request_id}")
def erasure_page(request: Request, db: DB, who: Console, request_id: Id) -> HTMLResponse:
    who.principal.require(Permission.privacy_requests)
    found = service.get_erasure_request(db, request_id)
    result = found.result or {}
    done = request.query_params.get("done", "")
    outcome = view.outcome(found)
    return page(
        request,
        who,
        "privacy/request.html",
        req=found,
        outcome=outcome,
        # Carried out under a hold: the outcome says so, never a plain "carried out".
        message=None if done == "completed" and outcome.held else MESSAGES.get(done),
        error=view.error_text(request.query_params.get("error")),
        holds=view.holds_on_account(db, found.account_id)
        if found.status is ErasureStatus.received
        else [],
        erased=view.erased_rows(result),
        kept=view.kept_rows(result),
        can_erase=who.principal.can(Permission.privacy_erase),
    )


@router.post("/privacy/erasure-requests/{request_id}/complete")
def erasure_complete(
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    request_id: Id,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> RedirectResponse:
    """Carry out: irreversible, so only with the "I understand" box ticked."""
    url = f"/privacy/erasure-requests/{request_id}"
    who.principal.require(Permission.privacy_erase)
    if confirm != "yes":
        service.get_erasure_request(db, request_id)  # 404 for an unknown request
        return _back(url, error="confirm_required")
    try:
        service.complete_erasure_request(db, who.principal, request_id, settings=settings)
    except NotFound:
        raise
    except VigilError as exc:
        db.rollback()
        return _back(url, error=exc.code)
    return _back(url, done="completed")


@router.post("/privacy/erasure-requests/{request_id}/refuse")
def erasure_refuse(
    db: DB, who: ConsolePost, request_id: Id, reason: Annotated[str, Form(max_length=2000)] = ""
) -> RedirectResponse:
    url = f"/privacy/erasure-requests/{request_id}"
    try:
        service.refuse_erasure_request(db, who.principal, request_id, reason=reason)
    except NotFound:
        raise
    except VigilError as exc:
        db.rollback()
        return _back(url, error=exc.code)
    return _back(url, done="refused")


@router.get("/privacy/holds-panel")
def holds_panel(
    request: Request,
    db: DB,
    who: Console,
    case_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    account: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> HTMLResponse:
    """The holds in force on a case (and its account) or an account. Empty for staff who
    may not manage holds: the panel is for legal and admins."""
    p = who.principal
    context: dict[str, object] = {"holds": [], "visible": False}
    if p.can(Permission.legal_holds_write):
        account_id = None
        if account is not None:
            account_id = db.scalar(select(Account.id).where(Account.external_id == account))
        elif case_id is not None:
            account_id = db.scalar(select(Case.account_id).where(Case.id == case_id))
        holds = []
        if case_id is not None:
            holds += service.holds_for(db, case_id=case_id)
        if account_id is not None:
            holds += service.holds_for(db, account_id=account_id)
        shown = _panel_params(request)
        context.update(
            visible=True,
            holds=holds,
            hold_error=view.error_text(shown.get("hold_error")),
            hold_error_for=shown.get("hold_id"),
            hold_message=HOLD_MESSAGES.get(shown.get("hold", "")),
            case_id=case_id,
            account=account,
            back=f"/cases/{case_id}" if case_id else f"/identity/accounts/{account}",
            csrf_token=who.csrf_token,
        )
    return templates.TemplateResponse(request, "privacy/_holds.html", context)


@router.post("/privacy/holds")
def place_hold(
    db: DB,
    who: ConsolePost,
    reason: Annotated[str, Form(max_length=2000)] = "",
    case_id: Annotated[int | None, Form(ge=1, le=2**63 - 1)] = None,
    account: Annotated[str | None, Form(max_length=200)] = None,
    back: Annotated[str, Form(max_length=300)] = "/privacy",
) -> RedirectResponse:
    url = _safe_back(back)
    try:
        service.place_hold(
            db, who.principal, account_external_id=account or None, case_id=case_id, reason=reason
        )
    except VigilError as exc:
        db.rollback()
        return _back(url, hold_error=exc.code)
    return _back(url, hold="placed")


@router.post("/privacy/holds/{hold_id}/lift")
def lift_hold(
    db: DB,
    who: ConsolePost,
    hold_id: Id,
    reason: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form(max_length=300)] = "/privacy",
) -> RedirectResponse:
    url = _safe_back(back)
    try:
        service.lift_hold(db, who.principal, hold_id, reason=reason)
    except VigilError as exc:
        db.rollback()
        return _back(url, hold_error=exc.code, hold_id=str(hold_id))
    return _back(url, hold="lifted", hold_id=str(hold_id))
