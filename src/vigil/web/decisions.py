"""Console: the decision panel on the case page and the four-eyes approvals screen.

The panel is fetched into the case page by htmx and calls the enforcement service exactly as
the API does (``suggestion_for``, ``preview``, ``decide``, ``approve``, ``reject``), under the
logged-in staff member's principal and inside the request's transaction. A refused decision
is shown with each problem next to the control it names (the service's ``field``, such as
``actions.0.scope`` or ``statement.facts``) and writes nothing.

The form holds one action: the API takes several, the console covers the common case.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from vigil.accounts.models import Account
from vigil.api.deps import DB, AppSettings
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType
from vigil.communications.service import normalize_locale
from vigil.config import Settings
from vigil.enforcement import service
from vigil.enforcement.models import Approval, DecisionStatus
from vigil.enforcement.plan import may_decide
from vigil.enforcement.suggest import Suggestion
from vigil.kit.errors import InvalidInput, PermissionDenied, VigilError
from vigil.policies import service as policies
from vigil.policies.actions import ALLOWED_SCOPES, TAKES_END_DATE, ActionType, Scope
from vigil.policies.models import PolicyVersion
from vigil.web import home
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.common import CaseId, next_after, page, redirect
from vigil.web.decision_form import (
    ACTION_LABELS,
    CHANNELS,
    CONTENT_TYPES,
    FIELD_LABELS,
    LANGUAGES,
    NO_VIOLATION,
    SCOPE_LABELS,
    STATUS_LABELS,
    TEXT_FIELDS,
    DecisionForm,
    Errors,
    collect,
    decision_in,
    default_channels,
    form_key,
    problems_of,
    takes_end_date,
    text_of,
)
from vigil.web.render import templates

router = APIRouter(include_in_schema=False)

DecisionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


# --- what the panel shows -----------------------------------------------------------------


def _action_options(policy: PolicyVersion | None, settings: Settings) -> list[dict[str, Any]]:
    allowed = set(policy.allowed_actions) if policy is not None else {a.value for a in ActionType}
    return [
        {
            "value": a.value,
            "label": ACTION_LABELS[a],
            "scopes": " ".join(s.value for s in Scope if s in ALLOWED_SCOPES[a]),
            "end_date": TAKES_END_DATE[a],
            "four_eyes": a.value in settings.four_eyes,
        }
        for a in ActionType
        if a.value in allowed
    ]


def _outcome_context(
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    case: Case,
    form: DecisionForm,
    errors: Errors,
    *,
    prefill: bool,
) -> dict[str, Any]:
    """The chosen policy (its guidance and grey areas), the ladder's suggestion and the
    action fields. ``prefill`` puts the suggestion in the action fields."""
    policy: PolicyVersion | None = None
    suggestion: Suggestion | None = None
    if form.policy and not form.no_violation:
        try:
            policy = policies.resolve(db, form.policy)
            if case.account_id is not None:
                suggestion = service.suggestion_for(db, who.principal, case.id, [policy.code])
        except InvalidInput as exc:
            collect(problems_of(exc), errors)
    if prefill:
        form.prefill(suggestion, policy)
    return {
        "policy": policy,
        "suggestion": suggestion,
        "suggested_label": _suggested_label(suggestion),
        "action_options": _action_options(policy, settings),
        "scopes": [(s.value, SCOPE_LABELS[s]) for s in Scope],
        "departs": bool(
            suggestion is not None
            and form.action_type
            and (
                form.action_type != suggestion.action.value
                or form.action_scope != suggestion.scope.value
                or (
                    takes_end_date(form.action_type)
                    and (form.duration_days != str(suggestion.duration_days or "") or form.ends_at)
                )
            )
        ),
    }


def _suggested_label(s: Suggestion | None) -> str:
    if s is None:
        return ""
    text = f"{ACTION_LABELS[s.action]} · {SCOPE_LABELS[s.scope].lower()}"
    if s.duration_days:
        text += f" · {s.duration_days} day{'s' if s.duration_days != 1 else ''}"
    return text


def _language(locale: str) -> str:
    code = normalize_locale(locale)[0]
    return f"{LANGUAGES.get(code, code)} ({code})"


def _checked(
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    case_id: int,
    form: DecisionForm,
    problems: Errors,
) -> service.Preview | None:
    """``service.preview`` of the form, with every problem collected into ``problems``. A
    value that is not even of the right shape (days that are not a number, a date that is
    not a date) is reported, and the rest of the form is still checked without it, so one
    round trip shows everything."""
    try:
        body = decision_in(form)
        unreadable: set[str] = set()
    except InvalidInput as exc:
        collect(problems_of(exc), problems)
        unreadable = {form_key(name) for name, _ in problems_of(exc)}
        cleared = dataclasses.replace(form)
        for key in unreadable & TEXT_FIELDS:
            setattr(cleared, key, "")
        try:
            body = decision_in(cleared)
        except InvalidInput:
            return None
    result = service.preview(db, who.principal, case_id, body, settings=settings)
    for problem in result.problems:
        if form_key(problem.field) not in unreadable:
            collect(problems_of(problem), problems)
    return result


def _preview_context(
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    case: Case,
    account: Account | None,
    form: DecisionForm,
) -> dict[str, Any]:
    """What ``decide`` would send, from ``service.preview`` (writes nothing), with every
    problem that would make it refuse. Case-level refusals (403, 409) raise."""
    problems: Errors = {}
    result = _checked(db, who, settings, case.id, form, problems)
    message = result.message if result is not None else None
    if message is not None and not form.edited:
        form.template_subject, form.template_body = message.subject, message.body
    account_locale = account.locale if account is not None else case.language
    return {
        "preview": result,
        "message": message,
        "problems": problems,
        "edited": form.edited,
        "language": _language(message.locale if message is not None else account_locale),
        "account_locale": account_locale,
        "fell_back": bool(
            message is not None and (message.fell_back or normalize_locale(account_locale)[1])
        ),
        "write_own": form.no_violation and bool(form.channels) and message is None,
    }


def _staff_names(db: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(wanted)))
    return {staff_id: name for staff_id, name in rows}


def _common(settings: Settings) -> dict[str, Any]:
    return {
        "action_labels": {a.value: label for a, label in ACTION_LABELS.items()},
        "scope_labels": {s.value: label for s, label in SCOPE_LABELS.items()},
        "status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
        "field_labels": FIELD_LABELS,
        "content_types": [(c.value, label) for c, label in CONTENT_TYPES],
        "channel_options": CHANNELS,
        "four_eyes": sorted(settings.four_eyes),
        "four_eyes_over_days": settings.four_eyes_over_days,
        "no_violation_value": NO_VIOLATION,
    }


def _can_decide(principal: Principal, case: Case) -> bool:
    if not principal.can(Permission.decisions_write) or case.status == CaseStatus.closed:
        return False
    try:
        may_decide(principal, case)
    except PermissionDenied:
        return False
    return True


def _panel_context(
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    case_id: int,
    *,
    form: DecisionForm | None = None,
    errors: Errors | None = None,
    with_preview: bool = False,
) -> dict[str, Any]:
    p = who.principal
    case = cases.get_case(db, p, case_id)  # the case page's own view is the audited one
    account = db.get(Account, case.account_id) if case.account_id is not None else None
    history = [
        service.decision_detail(db, p, v.decision.id, audit_view=False)
        for v in service.decisions_for_case(db, p, case.id)
    ]
    pending = next(
        (d for d in history if d.decision.status == DecisionStatus.pending_approval), None
    )
    names = _staff_names(
        db,
        [a.decided_by_id for d in history for a in d.approvals]
        + [d.decision.reversed_by_id for d in history],
    )
    # An appeal case is decided through the appeal's outcome form (``partials/case_appeal``),
    # a dispute through the two-sided view (a proposal, a ruling or a linked account review).
    hearing_elsewhere = case.type in (CaseType.appeal, CaseType.dispute)
    can_decide = pending is None and not hearing_elsewhere and _can_decide(p, case)
    context: dict[str, Any] = {
        **_common(settings),
        "case": case,
        "account": account,
        "history": history,
        "pending": pending,
        "staff_names": names,
        "can_decide": can_decide,
        "can_approve_pending": bool(
            pending is not None
            and p.can(Permission.decisions_approve)
            and pending.decision.decided_by_id != who.user.id
        ),
        "must_take": (
            pending is None
            and not can_decide
            and not hearing_elsewhere
            and case.status != CaseStatus.closed
            and p.can(Permission.decisions_write)
        ),
        "errors": errors if errors is not None else {},
        "csrf_token": who.csrf_token,
    }
    if not can_decide:
        return context
    catalog = policies.list_policies(db)
    fresh = form is None
    rejected = history[-1] if history else None
    if rejected is not None and rejected.decision.status != DecisionStatus.rejected:
        rejected = None
    if form is None and rejected is not None:
        # Decide again from what was rejected: the approver's reason says what to change.
        form = DecisionForm.from_decision(rejected, case, account)
        context["prefilled_from"] = rejected.decision
        fresh = False
        with_preview = with_preview or form.edited
    if form is None:
        known = {v.code for v in catalog}
        form = DecisionForm.defaults(
            case, account, case.policy_code if case.policy_code in known else ""
        )
    errors = context["errors"]
    context.update(
        form=form,
        catalog=catalog,
        **_outcome_context(db, who, settings, case, form, errors, prefill=fresh),
    )
    if with_preview:
        context.update(_preview_context(db, who, settings, case, account, form))
    return context


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _panel_response(
    request: Request, who: ConsoleUser, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    if _is_htmx(request):
        return templates.TemplateResponse(
            request, "partials/decision_panel.html", context, status_code=status_code
        )
    return page(request, who, "decision_page.html", status_code=status_code, **context)


async def _form_data(request: Request) -> FormData:
    return await request.form()


Submitted = Annotated[FormData, Depends(_form_data)]


# --- the panel ----------------------------------------------------------------------------


@router.get("/cases/{case_id}/decision")
def decision_panel(
    request: Request, db: DB, settings: AppSettings, who: Console, case_id: CaseId
) -> HTMLResponse:
    """The decisions made on the case and, for whoever may decide it, the form."""
    return _panel_response(request, who, _panel_context(db, who, settings, case_id))


@router.post("/cases/{case_id}/decision/outcome")
def decision_outcome(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    case_id: CaseId,
    submitted: Submitted,
) -> HTMLResponse:
    """The part of the form that follows the policy picker: the policy's guidance, the
    ladder's suggestion put in the action fields, the statement and the channels (or what
    "no violation" means). What the reviewer wrote stays; the preview is dropped, since it
    described another decision. A POST (writing nothing) so the facts stay out of URLs."""
    who.principal.require(Permission.decisions_write)
    case = cases.get_case(db, who.principal, case_id)
    account = db.get(Account, case.account_id) if case.account_id is not None else None
    form = DecisionForm.parse(submitted)
    shown = NO_VIOLATION if form.no_violation else "violation"
    if submitted.get("shown_outcome") != shown:
        form.channels = default_channels(account, no_violation=form.no_violation)
    if not form.content_date:
        form.content_date = case.opened_at.date().isoformat()
    errors: Errors = {}
    context = {
        **_common(settings),
        "case": case,
        "account": account,
        "form": form,
        "errors": errors,
        "oob": True,
        **_outcome_context(db, who, settings, case, form, errors, prefill=True),
    }
    return templates.TemplateResponse(request, "partials/decision_outcome.html", context)


@router.post("/cases/{case_id}/decision/preview")
def decision_preview(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    case_id: CaseId,
    submitted: Submitted,
) -> HTMLResponse:
    """The message as the user will read it, in their language, and every problem that
    would stop the decision. ``message_reset`` drops the reviewer's edits."""
    form = DecisionForm.parse(submitted)
    if submitted.get("message_reset") == "1":
        form.previewed = False
    case = cases.get_case(db, who.principal, case_id)
    account = db.get(Account, case.account_id) if case.account_id is not None else None
    try:
        context = _preview_context(db, who, settings, case, account, form)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return HTMLResponse(
            f'<p class="notice error" role="alert">{escape(exc.message)}</p>',
            status_code=exc.status_code,
        )
    context.update(_common(settings), form=form, case=case, account=account)
    return templates.TemplateResponse(request, "partials/decision_preview.html", context)


@router.post("/cases/{case_id}/decision", response_model=None)
def decide(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    case_id: CaseId,
    submitted: Submitted,
) -> Response:
    """Record the decision. Applied at once (the case closes), or waiting for a second
    approver when an action is under four-eyes; then the reviewer's next case opens.
    Refused: the form comes back with each problem next to its control, and nothing is
    written."""
    form = DecisionForm.parse(submitted)
    try:
        decision = service.decide(db, who.principal, case_id, decision_in(form), settings=settings)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        errors = collect(problems_of(exc))
        if isinstance(exc, InvalidInput):
            # Everything else the service would refuse, so one round trip shows it all.
            with contextlib.suppress(VigilError):
                _checked(db, who, settings, case_id, form, errors)
            db.rollback()
        context = _panel_context(
            db, who, settings, case_id, form=form, errors=errors, with_preview=form.previewed
        )
        return _panel_response(request, who, context, status_code=exc.status_code)
    notice = "decision_pending" if decision.status == DecisionStatus.pending_approval else "decided"
    # The work loop: the reviewer's next case opens (taken for them in this transaction), or
    # home with the notice when nothing is left.
    target = next_after(db, who, notice)
    if _is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return redirect(target)


# --- four-eyes approvals ------------------------------------------------------------------


def _approval_items(
    db: Session, who: ConsoleUser, settings: Settings, views: list[service.DecisionView]
) -> list[dict[str, Any]]:
    ids = [v.decision.id for v in views]
    waiting: dict[int, Approval] = {}
    if ids:
        for approval in db.scalars(
            select(Approval).where(Approval.decision_id.in_(ids), Approval.outcome.is_(None))
        ):
            waiting[approval.decision_id] = approval
    items = []
    for view in views:
        d = view.decision
        case = db.get(Case, d.case_id)
        account = db.get(Account, d.account_id) if d.account_id is not None else None
        pending = d.status == DecisionStatus.pending_approval
        draft = (
            service.pending_draft(db, who.principal, d.id, settings=settings) if pending else None
        )
        outgoing = draft.outgoing if draft is not None else None
        items.append(
            {
                "view": view,
                "decision": d,
                "case": case,
                "account": account,
                "approval": waiting.get(d.id),
                "own": d.decided_by_id == who.user.id,
                "pending": pending,
                "draft": draft,
                "message": outgoing,
                "language": _language(outgoing.locale) if outgoing is not None else "",
                "channels": list((d.message_spec or {}).get("channels") or []),
            }
        )
    return items


def _approver(who: ConsoleUser) -> None:
    who.principal.require(Permission.decisions_approve)


@router.get("/approvals")
def approvals(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: Console,
    cursor: str | None = None,
) -> HTMLResponse:
    """Decisions waiting for a second approver, the longest waiting first."""
    _approver(who)
    views, next_cursor = service.list_decisions(
        db,
        who.principal,
        service.DecisionFilter(status=[DecisionStatus.pending_approval]),
        cursor=cursor,
        limit=20,
    )
    return page(
        request, who, "approvals.html", items=_approval_items(db, who, settings, views),
        next_cursor=next_cursor, errors={}, **_common(settings),
    )  # fmt: skip


@router.get("/approvals/count")
def approvals_count(db: DB, who: Console) -> HTMLResponse:
    """The badge next to "Approvals" in the header: what waits for *this* approver (not
    their own decisions, not cases they may not see), as on the home page."""
    _approver(who)
    waiting = home.approvals_count(db, who.principal)
    if waiting is None or not waiting.count:
        return HTMLResponse('<span class="count-none">(none waiting)</span>')
    return HTMLResponse(
        f'<span class="chip warning">{waiting.label}<span class="skip"> waiting</span></span>'
    )


def _approval_page(
    request: Request,
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    decision_id: int,
    *,
    errors: Errors | None = None,
    error: str | None = None,
    status_code: int = 200,
    viewed: bool = False,
) -> HTMLResponse:
    detail = service.decision_detail(db, who.principal, decision_id, audit_view=viewed)
    (item,) = _approval_items(db, who, settings, [detail])
    names = _staff_names(db, [a.decided_by_id for a in detail.approvals])
    return page(
        request, who, "approval.html", status_code=status_code, item=item, detail=detail,
        staff_names=names, errors=errors or {}, error=error, **_common(settings),
    )  # fmt: skip


@router.get("/approvals/{decision_id}")
def approval(
    request: Request, db: DB, settings: AppSettings, who: Console, decision_id: DecisionId
) -> HTMLResponse:
    _approver(who)
    return _approval_page(request, db, who, settings, decision_id, viewed=True)


def _answer(
    request: Request,
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    decision_id: int,
    run: Any,
    notice: str,
) -> Response:
    _approver(who)
    try:
        run()
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        errors = {f"reason_{decision_id}": [exc.message]} if exc.field == "reason" else {}
        return _approval_page(
            request, db, who, settings, decision_id, errors=errors,
            error=None if errors else exc.message, status_code=exc.status_code,
        )  # fmt: skip
    return redirect(f"/approvals?notice={notice}")


@router.post("/approvals/{decision_id}/approve", response_model=None)
def approve(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    decision_id: DecisionId,
    submitted: Submitted,
) -> Response:
    note = text_of(submitted, "note").strip() or None
    return _answer(
        request, db, who, settings, decision_id,
        lambda: service.approve(db, who.principal, decision_id, reason=note, settings=settings),
        "approved",
    )  # fmt: skip


@router.post("/approvals/{decision_id}/reject", response_model=None)
def reject(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    decision_id: DecisionId,
    submitted: Submitted,
) -> Response:
    reason = text_of(submitted, "reason")
    return _answer(
        request, db, who, settings, decision_id,
        lambda: service.reject(db, who.principal, decision_id, reason=reason),
        "rejected",
    )  # fmt: skip
