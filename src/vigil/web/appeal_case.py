"""Console: hearing an appeal: the original decision and its evidence next to the appeal.

The case page of an appeal case shows, at its top, what the user said; the decision they
contest side by side with it (policies and versions, actions, who decided and approved and
when, the reasoning, the statement of reasons and the message the user was sent); the key
evidence of the original case, read with the case page's own panel functions; the days left
in the appeal window; who is recused; and, for whoever holds the case and may decide
appeals, the outcome form. The form posts to :func:`decide` here, which calls
``appeals.hearing.decide_appeal`` exactly as the API does. A refusal re-renders the case page
with the problem next to its field (422) and writes nothing.

Modify takes the new decision in the same form: policy, action and the facts for its
statement of reasons, as the decision panel takes them (``web.decision_form``).

Overturn and modify change what the user lives with, so they take two presses: the first
runs the whole hearing (every refusal shows at its field), rolls it back and restates what
will happen; only ``confirm=1`` records it. Upholding changes nothing and is recorded at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from vigil.accounts.models import Account
from vigil.api.deps import DB, AppSettings
from vigil.appeals import hearing
from vigil.appeals import service as appeals
from vigil.appeals.models import Appeal, AppealStatus
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus, CaseType
from vigil.communications.models import Message
from vigil.detection.models import Event
from vigil.dsa.models import Statement
from vigil.enforcement import apply
from vigil.enforcement.models import ActionStatus, Decision
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, VigilError
from vigil.policies import service as policies
from vigil.policies.actions import ALLOWED_SCOPES, TAKES_END_DATE, ActionType, Scope
from vigil.web import casepanels as panels
from vigil.web.auth import ConsolePost
from vigil.web.common import CaseId, redirect
from vigil.web.decision_form import (
    ACTION_LABELS,
    SCOPE_LABELS,
    DecisionForm,
    decision_in,
)

router = APIRouter(include_in_schema=False)

OUTCOMES = (
    ("uphold", "Uphold: the decision stands"),
    ("overturn", "Overturn: the decision was wrong, lift it"),
    ("modify", "Modify: replace it with a different decision"),
)
# The submit button before an outcome is chosen (and without scripts, until the page comes back).
SUBMIT_FALLBACK = "Record the outcome"
# Outcomes recorded only after the confirming step (see ``decide``).
CONFIRMED = frozenset({"overturn", "modify"})
STATUS_KIND = {
    AppealStatus.open: "warning",
    AppealStatus.upheld: "",
    AppealStatus.overturned: "ok",
    AppealStatus.modified: "ok",
    AppealStatus.withdrawn: "",
}
ADDITIONS_LIMIT = 20
MESSAGES_LIMIT = 5
# Form keys of the modify part (the decision form's names, so ``DecisionForm.parse`` reads them).
MODIFY_KEYS = ("policy", "action_type", "action_scope", "duration_days", "facts")


@dataclass
class FormState:
    """What the reviewer sent, when the outcome form comes back refused."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Everything passed: the outcome waits for the reviewer's confirmation.
    confirm: bool = False


# The refused form, for the case page rendered in the same request (``case_panel`` has the
# case page's fixed signature).
_refused: ContextVar[FormState | None] = ContextVar("appeal_form_state", default=None)


@contextlib.contextmanager
def _showing(state: FormState) -> Iterator[None]:
    token = _refused.set(state)
    try:
        yield
    finally:
        _refused.reset(token)


# --- the panel --------------------------------------------------------------------------------


def _names(db: Session, ids: list[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(wanted)))
    return {i: name for i, name in rows}


def _days_left(ends: datetime, now: datetime) -> int:
    """Whole days from today until the window closes (0 on its last day)."""
    last_day = (clock.as_utc(ends) - timedelta(days=1)).date()
    return max(0, last_day.toordinal() - now.date().toordinal())


def _additions(db: Session, case_id: int) -> list[dict[str, Any]]:
    rows = db.execute(
        select(CaseEvent.at, CaseEvent.reason, CaseEvent.data)
        .where(CaseEvent.case_id == case_id, CaseEvent.kind == CaseEventKind.updated.value)
        .order_by(CaseEvent.id)
        .limit(ADDITIONS_LIMIT)
    )
    return [
        {"at": at, "text": reason}
        for at, reason, data in rows
        if reason and isinstance(data, dict) and "appeal_addition" in data
    ]


def _original(db: Session, decision: Decision, statement: Statement | None) -> dict[str, Any]:
    names = _names(db, [decision.decided_by_id, decision.approved_by_id, decision.reversed_by_id])
    sent = db.execute(
        select(Message.subject, Message.body, Message.channel, Message.locale, Message.created_at)
        .where(Message.decision_id == decision.id)
        .order_by(Message.id)
        .limit(MESSAGES_LIMIT)
    ).all()
    statement_ctx = None
    if statement is not None:
        f = statement.fields
        statement_ctx = {
            "reference": statement.reference,
            "id": statement.id,
            "category": statement.category.removeprefix("STATEMENT_CATEGORY_").replace("_", " "),
            "ground": f.get("incompatible_content_ground") or f.get("illegal_content_legal_ground"),
            "facts": f.get("decision_facts", ""),
            "revision": statement.revision,
        }
    return {
        "id": decision.id,
        "status": decision.status.value,
        "policies": [
            {"code": p.code, "version": p.version, "title": p.title}
            for p in apply.policies_of(db, decision.id)
        ],
        "actions": [
            {
                "kind": ActionType(a.type),
                "type": ACTION_LABELS.get(ActionType(a.type), str(a.type)),
                "scope": SCOPE_LABELS.get(Scope(a.scope), str(a.scope)),
                "days": a.duration_days,
                "ends_at": a.ends_at,
                "status": str(a.status),
            }
            for a in apply.actions_of(db, decision.id)
        ],
        "decided_by": names.get(decision.decided_by_id or 0, decision.decided_by_label),
        "approved_by": names.get(decision.approved_by_id) if decision.approved_by_id else None,
        "decided_at": decision.created_at,
        "applied_at": decision.applied_at,
        "reversed_at": decision.reversed_at,
        "internal_reasoning": decision.internal_reasoning,
        "departure_reason": decision.departure_reason,
        "statement": statement_ctx,
        "messages": [
            {"subject": s, "body": b, "channel": str(c).replace("_", "-"), "locale": lo, "at": at}
            for s, b, c, lo, at in sent
        ],
    }


def _arrived(db: Session, ids: set[int]) -> dict[int, datetime]:
    """When each event happened or reached Vigil, whichever is later: the original reviewer
    could only have had an event that was both before the decision."""
    if not ids:
        return {}
    rows = db.execute(
        select(Event.id, Event.occurred_at, Event.received_at).where(Event.id.in_(ids))
    )
    return {i: max(clock.as_utc(o), clock.as_utc(r)) for i, o, r in rows}


def _evidence(db: Session, p: Principal, original: Case, decided_at: datetime) -> dict[str, Any]:
    """The original case's rule hits, flagged texts and reports, as its own page shows them
    (masked: the appeal view reveals nothing), split at the decision: what the original
    reviewer had, and what arrived after it (``later``), which must not be read as the
    grounds the decision was taken on."""
    account = db.get(Account, original.account_id) if original.account_id else None
    events = panels.case_events(db, original.id)
    reports = panels.reports(db, p, original, account, events)
    arrived = _arrived(db, {e.id for e in events} | {int(r["id"]) for r in reports})
    cut = clock.as_utc(decided_at)

    def later(event_id: int) -> bool:
        at = arrived.get(event_id)
        return at is not None and at > cut

    mark = panels.text_marker(unmasked=False)
    before = panels.signals(original, [e for e in events if not later(e.id)], mark)
    after = panels.signals(original, [e for e in events if later(e.id)], mark)
    return {
        "decided_at": decided_at,
        "rules": before.rules,
        "opening_rules": before.opening_rules,
        "flagged": before.flagged,
        "flagged_total": before.flagged_total,
        "reports": [r for r in reports if not later(int(r["id"]))],
        "later": {
            "rules": after.rules,
            "flagged": after.flagged,
            "flagged_total": after.flagged_total,
            "reports": [r for r in reports if later(int(r["id"]))],
        },
    }


def _modify_options(db: Session) -> dict[str, Any]:
    return {
        "catalog": [{"code": v.code, "title": v.title} for v in policies.list_policies(db)],
        "actions": [(a.value, ACTION_LABELS.get(a, a.value)) for a in ActionType],
        "scopes": sorted(
            {(s.value, SCOPE_LABELS.get(s, s.value)) for a in ActionType for s in ALLOWED_SCOPES[a]}
        ),
        "takes_end": sorted(a.value for a in TAKES_END_DATE),
    }


def _undo(action: dict[str, Any]) -> str:
    """What overturning does to one action in force, in words: 'lift the 7-day suspension'."""
    kind = action["kind"]
    days = f"{action['days']}-day " if action["days"] else ""
    scope = str(action["scope"]).lower()
    if kind == ActionType.warn:
        return "withdraw the warning"
    if kind == ActionType.restrict:
        return f"lift the {days}restriction on {scope}"
    if kind == ActionType.suspend:
        return f"lift the {days}suspension"
    if kind == ActionType.remove:
        return f"put the {scope} back"
    return "lift the ban"


def _labels(original: dict[str, Any]) -> dict[str, str]:
    """The submit button's label per outcome (``appeals.js`` follows the chosen one)."""
    undo = [_undo(a) for a in original["actions"] if a["status"] == ActionStatus.active]
    overturn = f"Overturn: {' and '.join(undo)}…" if undo else "Overturn the decision…"
    return {"uphold": "Uphold the decision", "overturn": overturn, "modify": "Modify the decision…"}


def _confirmation(
    db: Session, appeal: Appeal, original: dict[str, Any], values: dict[str, str]
) -> dict[str, Any]:
    """The confirming step's restatement of an overturn or a modification."""
    account = db.get(Account, appeal.account_id)
    who = account.external_id if account is not None else f"account #{appeal.account_id}"
    if account is not None and account.display_name:
        who = f"{who} ({account.display_name})"
    undo = [_undo(a) for a in original["actions"] if a["status"] == ActionStatus.active]
    outcome = values.get("outcome", "")
    out: dict[str, Any] = {
        "outcome": outcome,
        "account": who,
        "undo": " and ".join(undo),
        "values": values,
    }
    if outcome == "modify":
        titles = {v.code: v.title for v in policies.list_policies(db)}
        action = values.get("action_type", "")
        scope = values.get("action_scope", "")
        with contextlib.suppress(ValueError):
            action = ACTION_LABELS.get(ActionType(action), action)
        with contextlib.suppress(ValueError):
            scope = SCOPE_LABELS.get(Scope(scope), scope)
        days = values.get("duration_days", "").strip()
        parts = [action, scope.lower(), f"{days} days" if days else ""]
        out["new"] = " · ".join(p for p in parts if p)
        out["policy"] = titles.get(values.get("policy", ""), values.get("policy", ""))
        out["title"] = "Confirm the new decision"
        out["button"] = "Confirm: replace the decision"
    else:
        out["title"] = "Confirm the overturn"
        out["button"] = f"Confirm: {out['undo']}" if undo else "Confirm: overturn the decision"
    return out


def case_panel(db: Session, principal: Principal, case: Case) -> dict[str, Any] | None:
    """What the case page shows of an appeal case (``partials/case_appeal.html``); None for
    any other case."""
    if case.type != CaseType.appeal:
        return None
    appeal = appeals.appeal_for_case(db, case.id)
    link = (case.attributes or {}).get("appeal") or {}
    decision_id = appeal.decision_id if appeal is not None else link.get("decision_id")
    decision = db.get(Decision, decision_id) if isinstance(decision_id, int) else None
    if decision is None:
        return None
    original = db.get(Case, decision.case_id)
    if original is None:
        return None
    statement_id = appeal.statement_id if appeal is not None else link.get("statement_id")
    statement = db.get(Statement, statement_id) if isinstance(statement_id, int) else None
    now = clock.now()
    recused_ids = cases.recused_staff(db, case.id)
    names = _names(db, [*recused_ids, appeal.decided_by_id if appeal else None])
    holds = case.status == CaseStatus.assigned and case.assignee_id == principal.staff_id
    recused = principal.staff_id in recused_ids
    is_open = appeal is not None and appeal.status == AppealStatus.open
    state = _refused.get() or FormState()
    ends = appeal.window_ends_at if appeal is not None else appeals_window(link)
    told = _original(db, decision, statement)
    labels = _labels(told)
    out: dict[str, Any] = {
        "appeal": appeal,
        "ref": appeal.ref if appeal is not None else f"C-{case.id}",
        "status": appeal.status.value if appeal is not None else "open",
        "status_kind": STATUS_KIND.get(appeal.status, "") if appeal is not None else "warning",
        "text": appeal.text if appeal is not None else case.summary,
        "additions": _additions(db, case.id),
        "channel": appeal.channel.value if appeal is not None else "form",
        "language": appeal.language if appeal is not None else case.language,
        "contact": (appeal.contact.value if appeal is not None else "email").replace("_", "-"),
        "submitted_at": appeal.submitted_at if appeal is not None else case.opened_at,
        "window_ends_at": ends,
        "days_left": _days_left(ends, now) if ends is not None else None,
        "last_day": (
            f"{clock.as_utc(ends) - timedelta(days=1):%d %b %Y}" if ends is not None else ""
        ),
        "original_case": {"id": original.id, "title": original.title},
        "original": told,
        "evidence": _evidence(db, principal, original, decision.created_at),
        "recused": [names.get(i, f"staff #{i}") for i in recused_ids],
        "you_are_recused": recused,
        "decided_by": (
            names.get(appeal.decided_by_id or 0, appeal.decided_by_label) if appeal else None
        ),
        "can_decide": bool(
            is_open
            and holds
            and not recused
            and principal.can(Permission.appeals_decide)
            and principal.can(Permission.decisions_reverse)
        ),
        "must_take": bool(is_open and not holds and principal.can(Permission.appeals_decide)),
        "outcomes": [{"value": v, "label": label, "button": labels[v]} for v, label in OUTCOMES],
        "submit_label": labels.get(state.values.get("outcome", ""), SUBMIT_FALLBACK),
        "submit_fallback": SUBMIT_FALLBACK,
        "form": state.values,
        "errors": state.errors,
        "confirm": None,
    }
    if out["can_decide"]:
        out.update(_modify_options(db))
        if state.confirm and appeal is not None:
            out["confirm"] = _confirmation(db, appeal, told, state.values)
    return out


def appeals_window(link: dict[str, Any]) -> datetime | None:
    raw = link.get("window_ends_at")
    if not isinstance(raw, str):
        return None
    with contextlib.suppress(ValueError):
        return clock.as_utc(datetime.fromisoformat(raw))
    return None


# --- deciding ---------------------------------------------------------------------------------


async def _form_data(request: Request) -> FormData:
    return await request.form()


Submitted = Annotated[FormData, Depends(_form_data)]


def _text(form: FormData, name: str, limit: int = 20_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _field_key(name: str | None) -> str:
    """The service's field, as the form's key: ``decision.actions.0.scope`` -> ``action_scope``."""
    if not name:
        return "general"
    name = name.removeprefix("decision.")
    if name == "actions":  # the whole action (one that would wait for a second approver)
        return "action_type"
    if name.startswith("actions.0."):
        rest = name.removeprefix("actions.0.")
        return {"type": "action_type", "scope": "action_scope"}.get(rest, rest)
    if name.startswith(("violations", "policy")):
        return "policy"
    if name.startswith("statement"):
        return "facts"
    return name


@router.post("/cases/{case_id}/appeal/decide", response_model=None)
def decide(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    case_id: CaseId,
    submitted: Submitted,
) -> Response:
    """Uphold, overturn or modify the appeal heard on this case. Refused: the case page again,
    with the problem next to its field, and nothing written. An overturn or a modification
    without ``confirm=1`` is checked in full, rolled back, and restated for confirmation."""
    p = who.principal
    confirmed = _text(submitted, "confirm") == "1"
    values = {
        name: _text(submitted, name)
        for name in ("outcome", "reason", *MODIFY_KEYS, "departure_reason")
    }
    appeal: Appeal | None = None
    try:
        case = cases.get_case(db, p, case_id)
        appeal = appeals.appeal_for_case(db, case.id)
        if appeal is None:
            raise InvalidInput("this case hears no appeal", field="outcome", code="not_an_appeal")
        try:
            outcome = hearing.Outcome(values["outcome"])
        except ValueError:
            raise InvalidInput(
                "choose uphold, overturn or modify", field="outcome", code="outcome_required"
            ) from None
        new_decision = None
        if outcome is hearing.Outcome.modify:
            form = DecisionForm.parse(submitted)
            form.channels = []
            form.internal_reasoning = form.internal_reasoning or values["reason"]
            # The content is the appealed decision's: the hearing states the original
            # statement's content date; without one, the day the original case opened.
            original = db.get(Case, appeal.original_case_id)
            opened = original.opened_at if original is not None else case.opened_at
            form.content_date = form.content_date or opened.date().isoformat()
            new_decision = decision_in(form)
        hearing.decide_appeal(
            db, p, appeal.id, outcome=outcome, reason=values["reason"],
            new_decision=new_decision, settings=settings,
        )  # fmt: skip
        if outcome.value in CONFIRMED and not confirmed:
            # Nothing left the database meanwhile: messages and webhooks are jobs in the
            # same transaction, rolled back with it.
            raise _Unconfirmed
    except _Unconfirmed:
        db.rollback()
        from vigil.web import casepage

        with _showing(FormState(values, {}, confirm=True)):
            return casepage.render_case(request, db, who, case_id)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        errors: dict[str, list[str]] = {}
        for detail in [{"field": exc.field, "message": exc.message}, *exc.details]:
            message = detail.get("message")
            if message:
                errors.setdefault(_field_key(detail.get("field")), []).append(str(message))
        from vigil.web import casepage  # the case page imports this module for its panel

        with _showing(FormState(values, errors)):
            return casepage.render_case(
                request, db, who, case_id, error=exc.message, status_code=exc.status_code
            )
    return redirect(f"/cases/{case_id}#case-appeal")


class _Unconfirmed(Exception):
    """An overturn or a modification that passed every check but is not confirmed yet."""
