"""What every console page shares: the page renderer, redirects, notices, path ids and the
work loop's "what opens next"."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.auth.permissions import Permission
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseType
from vigil.disputes.models import Dispute
from vigil.identity.models import IdentityVerification
from vigil.identity.types import VerificationStatus
from vigil.web.auth import ConsoleUser
from vigil.web.render import templates

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
# Added to the notice when the work loop opened the next case after the action.
NEXT_OPENED = " This is your next case."
NOTHING_LEFT = " Nothing else is waiting in your queues."
SLA_LABELS = {"ok": "on track", "warning": "at risk", "breached": "breached"}


def notice_of(request: Request) -> dict[str, str] | None:
    key = request.query_params.get("notice")
    if key in NOTICES:
        kind, text = NOTICES[key]
        loop = request.query_params.get("loop")
        if loop == "next":
            text += NEXT_OPENED
        elif loop == "done":
            text += NOTHING_LEFT
        return {"kind": kind, "text": text}
    return None


def page(
    request: Request, who: ConsoleUser | None, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    base = {
        "user": who.user if who else None,
        "csrf_token": who.csrf_token if who else None,
        "can_work": bool(who and who.principal.can(Permission.cases_work) and who.principal.tier),
        "can_approve": bool(who and who.principal.can(Permission.decisions_approve)),
        "can_policies": bool(who and who.principal.can(Permission.policies_read)),
        "notice": notice_of(request),
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- the work loop --------------------------------------------------------------------------


def working_url(db: Session, who: ConsoleUser, case: Case) -> str:
    """Where a case is worked: an identity review with a verification still waiting for a
    person opens on the identity review screen (its documents and checks are there); a dispute
    on its two-sided view (both parties' sides and the mediation forms are there); every other
    case on its case page."""
    p = who.principal
    if case.type == CaseType.dispute and p.can(Permission.disputes_read):
        dispute_id = db.scalar(select(Dispute.id).where(Dispute.case_id == case.id).limit(1))
        if dispute_id is not None:
            return f"/disputes/{dispute_id}"
    if case.type == CaseType.identity_review and p.can(Permission.identity_decide):
        verification_id = db.scalar(
            select(IdentityVerification.id)
            .where(
                IdentityVerification.case_id == case.id,
                IdentityVerification.status == VerificationStatus.review,
            )
            .order_by(IdentityVerification.id.desc())
            .limit(1)
        )
        if verification_id is not None:
            return f"/identity/verifications/{verification_id}"
    return f"/cases/{case.id}"


def next_after(db: Session, who: ConsoleUser, notice: str) -> str:
    """After a case is done with (decided, escalated, closed): take the next case for the
    reviewer, in the same transaction as the action, and say where it opens, with the
    notice of what was just done. Nothing left, or a role that pulls no cases: home.

    The pull is the same ``cases.pull_next`` as the "Next case" button (most urgent first,
    never the same case to two people)."""
    p = who.principal
    case = None
    if p.staff_id is not None and p.can(Permission.cases_work) and p.tier is not None:
        case = cases.pull_next(db, p)
    if case is None:
        return "/?" + urlencode({"notice": notice, "loop": "done"})
    return working_url(db, who, case) + "?" + urlencode({"notice": notice, "loop": "next"})
