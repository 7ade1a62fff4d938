"""Console: the case page, everything about one case on one screen.

The page is assembled from the services under the logged-in staff member's principal; slow
or optional panels (the decision panel, the linked-accounts picture) are fetched by htmx
after the page has rendered.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from vigil.accounts import masking
from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.api.deps import DB
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseStatus, Queue, Resolution
from vigil.cases.sla import sla_state
from vigil.cases.timeline import timeline
from vigil.enforcement import service as decisions
from vigil.kit import clock
from vigil.kit.errors import VigilError
from vigil.web import appeal_case
from vigil.web import casepanels as panels
from vigil.web import disputes as dispute_view
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.common import CaseId, page
from vigil.web.render import human_delta

router = APIRouter(include_in_schema=False)


def _years(born: date) -> int:
    today = clock.now().date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _age(account: Account) -> str | None:
    if account.registered_at is None:
        return None
    return human_delta(clock.now() - account.registered_at)


def _account_view(
    db: Session, principal: Principal, account_id: int, *, reveal: bool, reason: str | None
) -> tuple[Account, dict[str, Any], list[dict[str, Any]], list[Any]]:
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
    shared = panels.shared_counts(db, account.id, idents)
    identifiers = []
    for i in idents:
        n = shared.get(i.id, 0)
        identifiers.append(
            {
                "kind": i.kind.value,
                "value": i.value if unmasked else masking.mask_identifier(i.kind, i.value),
                "first_seen_at": i.first_seen_at,
                "last_seen_at": i.last_seen_at,
                "shared": n,
                "shared_label": f"{panels.SHARED_CAP}+" if n > panels.SHARED_CAP else str(n),
            }
        )
    restrictions = accounts.restrictions_in_force(db, account)
    return account, view, identifiers, restrictions


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


def timeline_items(db: Session, principal: Principal, case_id: int) -> list[dict[str, Any]]:
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


def render_case(
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
    row: Account | None = None
    account = identifiers = restrictions = None
    if case.account_id is not None:
        row, account, identifiers, restrictions = _account_view(
            db, p, case.account_id, reveal=reveal, reason=reason
        )
    unmasked = bool(account and account["revealed"])
    assignee = db.get(StaffUser, case.assignee_id) if case.assignee_id else None
    mine = case.status == CaseStatus.assigned and case.assignee_id == who.user.id
    next_tier = case.tier.next()
    live = case.status != CaseStatus.closed
    events = panels.case_events(db, case.id)
    mark = panels.text_marker(unmasked=unmasked)
    why = panels.signals(case, events, mark)
    docs = panels.documents(db, p, row) if row is not None else None
    prior_cases, prior_decisions = panels.prior(db, p, case, row) if row else ([], [])
    strikes = panels.strikes(db, p, row.id) if row is not None else panels.Strikes(rows=[])
    return page(
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
        strikes=strikes.rows,
        strikes_not_listed=strikes.not_listed,
        why=why,
        reports=panels.reports(db, p, case, row, events),
        events=panels.account_timeline(db, p, case),
        events_limit=panels.TIMELINE_LIMIT,
        documents=docs,
        verification=panels.case_verification(db, docs, case),
        identity_decide=p.can(Permission.identity_decide),
        prior_cases=prior_cases,
        prior_decisions=prior_decisions,
        prior_limit=panels.PRIOR_LIMIT,
        policy=panels.policy_guidance(db, case.policy_code),
        user_messages=panels.messages(db, case.id, unmasked=unmasked),
        timeline=timeline_items(db, p, case.id),
        mine=mine,
        can_reveal=p.can(Permission.pii_reveal),
        can_note=p.can(Permission.cases_work),
        can_escalate=live and next_tier is not None and (mine or p.can(Permission.cases_assign)),
        next_tier=next_tier.value if next_tier else None,
        resolutions=list(Resolution),
        sla_state=sla_state(case),
        error=error,
        # Case types with their own panel at the top of the page (None for the others).
        appeal=appeal_case.case_panel(db, p, case),
        dispute=dispute_view.case_panel(db, p, case),
    )


@router.get("/cases/{case_id}")
def case_page(request: Request, db: DB, who: Console, case_id: CaseId) -> HTMLResponse:
    return render_case(request, db, who, case_id)


@router.post("/cases/{case_id}/reveal")
def reveal(
    request: Request, db: DB, who: ConsolePost, case_id: CaseId,
    reason: Annotated[str, Form()] = "",
) -> HTMLResponse:  # fmt: skip
    """Show the case with personal data unmasked. A POST with the CSRF token, so no link on
    another site can make someone reveal data (and write an audit record in their name);
    the page is rendered, not redirected to, so the reveal lasts for this view only."""
    try:
        return render_case(request, db, who, case_id, reveal=True, reason=reason)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return render_case(
            request, db, who, case_id, error=exc.message, status_code=exc.status_code
        )
