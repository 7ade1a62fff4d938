"""Console: quality assurance: blind review of sampled decisions, scorecards, calibration.

A QA reviewer's screen is *blind* first: the case's evidence as the original reviewer had
it, never the decision under review. :func:`blind_evidence` is the one place that decides
what a blind screen shows, and it leaves out everything that would give a decision away:

- the decisions on the case, their actions, messages and statements (the case page's
  decision panel and messages panel are not rendered at all);
- the case's status and resolution, and the account's current status;
- the strikes the case's decisions gave and the restrictions the case put in force;
- the case history from the first decision on, and every history entry's actor, reason and
  note (a note or an escalation reason can say what the reviewer meant to do);
- reports, events, other cases and decisions that came after the case's first decision (an
  appeal's outcome, a later strike): the blind screen shows the account as it stood when
  the case was decided.

Only once the blind answer is recorded does the page show the reveal: the QA answer and the
original side by side, the differences marked, and the scoring form. Calibration items (gold
cases) use the same blind evidence and the same two-field decision form.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.api.deps import DB
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission, Role, Tier, role_has
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, Queue
from vigil.cases.timeline import timeline
from vigil.communications.models import Message
from vigil.enforcement.models import Decision, DecisionAction, DecisionPolicy, Strike
from vigil.kit import clock
from vigil.kit.errors import PermissionDenied, VigilError
from vigil.policies import service as policies
from vigil.quality import service as qa
from vigil.quality.models import (
    CalibrationAnswer,
    CalibrationAssignment,
    CalibrationItem,
    CalibrationSet,
    Label,
    QASample,
    SampleStatus,
)
from vigil.quality.schemas import ScoreIn
from vigil.web import casepanels as panels
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.casepage import _EVENT_LABELS, _account_view
from vigil.web.common import page, redirect
from vigil.web.render import templates

router = APIRouter(include_in_schema=False)

RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

NO_VIOLATION = Label.no_violation.value
ACTION_CHOICES: list[tuple[str, str]] = [
    (Label.no_violation.value, "No violation"),
    (Label.warn.value, "Warn"),
    (Label.restrict.value, "Restrict"),
    (Label.suspend.value, "Suspend"),
    (Label.remove.value, "Remove content"),
    (Label.ban.value, "Ban"),
]
ACTION_LABELS = dict(ACTION_CHOICES)
QUALITY_CHOICES = [
    ("5", "5 · clear, kind, complete"),
    ("4", "4 · good"),
    ("3", "3 · adequate"),
    ("2", "2 · weak"),
    ("1", "1 · wrong or harmful"),
]
PERIODS = {"7": 7, "30": 30, "90": 90}
# Below this many scored samples a row's rates and kappa are shown with a caution: with a
# handful of samples one answer moves agreement by tens of points.
FEW_SAMPLES = 20
# Bars turn amber below this share (the scorecard's hint says so).
LOW_SHARE = 0.8
GROUPS = {"reviewer": "Per reviewer", "queue": "Per queue", "policy": "Per policy"}
COUNT_CAP = 100

NOTICES = {
    "answered": ("ok", "Your answer is recorded. Below: the original decision, side by side."),
    "scored": ("ok", "Score recorded."),
    "qa_empty": ("info", "No sample is waiting for review. Well done."),
    "rate_saved": ("ok", "Sampling rate saved."),
    "set_created": ("ok", "Calibration set created. Add its gold cases."),
    "item_added": ("ok", "Gold case added."),
    "item_removed": ("ok", "Gold case removed."),
    "assigned": ("ok", "Set assigned."),
    "item_answered": ("ok", "Answer recorded. Here is the next case."),
    "set_done": ("ok", "You have answered every case of this set. Here are your results."),
}
# History entries a blind screen may show (what happened before the decision; never the
# decision's own steps, and never an entry's actor, reason or note).
BLIND_HISTORY = frozenset(
    {
        "created",
        "assigned",
        "released",
        "escalated",
        "rerouted",
        "held",
        "resumed",
        "sla_breached",
        "duplicate",
        "updated",
        "reopened",
    }
)


def _notice(request: Request) -> dict[str, str] | None:
    key = request.query_params.get("notice")
    if key in NOTICES:
        kind, text = NOTICES[key]
        return {"kind": kind, "text": text}
    return None


def _page(
    request: Request, who: ConsoleUser, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    context.setdefault("notice", _notice(request))
    return page(request, who, name, status_code=status_code, **context)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def action_label(value: str | None) -> str:
    if value is None:
        return "—"
    return ACTION_LABELS.get(str(value), str(value).replace("_", " "))


def _staff_names(db: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(wanted)))
    return {int(i): str(name) for i, name in rows}


FORMER_STAFF = "a former staff member"


def _person(names: dict[int, str], staff_id: int | None) -> str:
    """A staff member's name; never a bare id (an account removed since is said so)."""
    if staff_id is None:
        return "—"
    return names.get(staff_id) or FORMER_STAFF


def _pairs(rows: Any) -> dict[Any, Any]:
    """``{first column: second column}`` of a two-column result."""
    return {key: value for key, value in rows}


def _policy_titles(db: Session) -> dict[str, str]:
    return {v.code: v.title for v in policies.list_policies(db, include_retired=True)}


def _decision_text(titles: dict[str, str], code: str | None, action: str) -> str:
    """ "Fee circumvention · Warn", or just "No violation"."""
    if action == NO_VIOLATION:
        return "No violation"
    return f"{_policy_title(titles, code)} · {action_label(action)}"


def _policy_title(titles: dict[str, str], code: str | None) -> str:
    """The policy's title alone (the reveal prints the version next to it)."""
    if code is None:
        return "No violation"
    return titles.get(code, code)


# --- blind evidence --------------------------------------------------------------------------


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _before(value: datetime | None, cutoff: datetime | None) -> bool:
    """Whether something at ``value`` happened before the decision at ``cutoff``."""
    if cutoff is None or value is None:
        return True
    return _as_utc(value) < _as_utc(cutoff)


def _strikes_before(
    db: Session, p: Principal, account_id: int, hidden: set[int], cutoff: datetime | None
) -> list[dict[str, Any]]:
    """Strikes in force on the account, without those the hidden decisions gave or any given
    from ``cutoff`` on (bounded like the case page's list, legal-tier ones only for legal)."""
    now = clock.now()
    stmt = select(Strike).where(
        Strike.account_id == account_id, Strike.voided_at.is_(None), Strike.expires_at > now
    )
    if hidden:
        stmt = stmt.where(Strike.decision_id.not_in(hidden))
    if cutoff is not None:
        stmt = stmt.where(Strike.created_at < cutoff)
    if not p.can(Permission.legal_cases):
        legal = (
            select(Decision.id)
            .join(Case, Case.id == Decision.case_id)
            .where(Decision.id == Strike.decision_id, Case.tier == Tier.legal)
            .exists()
        )
        stmt = stmt.where(~legal)
    rows = db.scalars(stmt.order_by(Strike.id.desc()).limit(panels.STRIKES_LIMIT))
    return [
        {
            "policy_code": s.policy_code,
            "policy_version": s.policy_version,
            "weight": s.weight,
            "created_at": s.created_at,
            "expires_at": s.expires_at,
        }
        for s in rows
    ]


def blind_evidence(db: Session, p: Principal, case_id: int) -> dict[str, Any]:
    """The context of ``partials/qa_evidence.html``: the case page's evidence panels, cut at
    the case's first decision, without anything a decision on the case did (see the module's
    docstring)."""
    case = cases.view_case(db, p, case_id)
    decided = list(
        db.execute(
            select(Decision.id, Decision.created_at)
            .where(Decision.case_id == case.id)
            .order_by(Decision.id)
        )
    )
    hidden = {int(d.id) for d in decided}
    cutoff = min((d.created_at for d in decided), default=None)
    row = account = identifiers = None
    restrictions: list[Any] = []
    strikes: list[dict[str, Any]] = []
    if case.account_id is not None:
        row, account, identifiers, in_force = _account_view(
            db, p, case.account_id, reveal=False, reason=None
        )
        restrictions = [
            r for r in in_force if r.case_id != case.id and _before(r.created_at, cutoff)
        ]
        strikes = _strikes_before(db, p, case.account_id, hidden, cutoff)
    events = [e for e in panels.case_events(db, case.id) if _before(e.occurred_at, cutoff)]
    why = panels.signals(case, events, panels.text_marker(unmasked=False))
    prior_cases: list[dict[str, Any]] = []
    prior_decisions: list[dict[str, Any]] = []
    if row is not None:
        found_cases, found_decisions = panels.prior(db, p, case, row)
        for c in found_cases:
            if not _before(c["opened_at"], cutoff):
                continue
            if c["decision"] is not None and not _before(c["decision"]["at"], cutoff):
                c["decision"] = None
            if not _before(c["closed_at"], cutoff):
                c["resolution"] = None
                c["status"] = "open then"
            prior_cases.append(c)
        for d in found_decisions:
            if _before(d["at"], cutoff):
                # Whether it was appealed is later news.
                prior_decisions.append({**d, "appeal": None, "appeal_case_id": None})
    entries, _ = timeline(db, p, case.id, limit=500)
    history = [
        {"at": e.at, "label": _EVENT_LABELS.get(e.kind, e.kind.replace("_", " "))}
        for e in entries
        if e.kind in BLIND_HISTORY and _before(e.at, cutoff)
    ]
    return {
        "case": case,
        "queue": db.get(Queue, case.queue_id),
        "account": account,
        "identifiers": identifiers,
        "restrictions": restrictions,
        "strikes": strikes,
        "strikes_not_listed": 0,
        "why": why,
        "reports": [
            r for r in panels.reports(db, p, case, row, events) if _before(r["at"], cutoff)
        ],
        "events": [e for e in panels.account_timeline(db, p, case) if _before(e["at"], cutoff)],
        "events_limit": panels.TIMELINE_LIMIT,
        "documents": panels.documents(db, p, row) if row is not None else None,
        "prior_cases": prior_cases,
        "prior_decisions": prior_decisions,
        "prior_limit": panels.PRIOR_LIMIT,
        "policy": panels.policy_guidance(db, case.policy_code),
        "history": history,
        # The case page's account panel offers a reveal of personal data that renders the
        # whole case page (with its decision): never on a blind screen.
        "can_reveal": False,
    }


# --- the two-field decision form -------------------------------------------------------------

Errors = dict[str, list[str]]


def _form_context(
    db: Session, form: dict[str, str] | None = None, errors: Errors | None = None
) -> dict[str, Any]:
    return {
        "catalog": policies.list_policies(db),
        "actions": ACTION_CHOICES,
        "no_violation_value": NO_VIOLATION,
        "form": form or {"policy": "", "action": ""},
        "errors": errors or {},
    }


def read_answer(policy: str, action: str) -> tuple[str | None, str, Errors]:
    """The form's policy and action, checked before anything is written: a policy code or
    "no violation", and an action that goes with it."""
    errors: Errors = {}
    if not policy:
        errors["policy"] = ["Choose the policy violated, or “No violation”."]
    if action not in ACTION_LABELS:
        errors["action"] = ["Choose an action."]
    elif policy == NO_VIOLATION and action != NO_VIOLATION:
        errors["action"] = ["“No violation” takes no action: choose “No violation” here too."]
    elif policy and policy != NO_VIOLATION and action == NO_VIOLATION:
        errors["action"] = ["A violation needs an action (or choose “No violation” as the policy)."]
    code = None if policy in ("", NO_VIOLATION) else policy
    return code, action, errors


# A service's field name -> the form control that shows it.
_FIELD_KEYS = {
    "policy_code": "policy",
    "expected_policy_code": "policy",
    "policy": "policy",
    "action": "action",
    "expected_action": "action",
    "label": "action",
    "right_policy": "right_policy",
    "right_action": "right_action",
    "message_quality": "message_quality",
    "comment": "comment",
    "rationale": "rationale",
    "case_id": "case_id",
    "rate": "rate",
    "staff_ids": "staff_ids",
    "name": "name",
    "description": "description",
}


def _errors_of(exc: VigilError) -> Errors:
    field = (exc.field or "").split(".")[0]
    return {_FIELD_KEYS.get(field, "general"): [exc.message]}


@router.get("/qa/guidance")
def guidance(request: Request, db: DB, who: Console, policy: str = "") -> HTMLResponse:
    """The guidance panel of the policy picked in a blind decision form (htmx): the same
    panel as the case page's. Nothing for "no violation" or an unknown code."""
    who.principal.require(Permission.policies_read)
    code = policy if policy and policy != NO_VIOLATION and len(policy) <= 100 else None
    found = panels.policy_guidance(db, code)
    if found is not None and found.get("missing"):
        found = None
    return templates.TemplateResponse(request, "partials/case_policy.html", {"policy": found})


# --- home -----------------------------------------------------------------------------------


def waiting_samples(db: Session, p: Principal) -> dict[str, Any] | None:
    """Samples waiting for a QA reviewer: how many (counted up to ``COUNT_CAP``, over the
    ``ix_qa_samples_queued`` index) and when the oldest was sampled. ``None`` for those who
    do not review samples. Legal-tier cases count only for those who may see them."""
    if not p.can(Permission.qa_review):
        return None
    base = select(QASample.id, QASample.sampled_at).where(QASample.status == SampleStatus.queued)
    if not p.can(Permission.legal_cases):
        base = base.join(Case, Case.id == QASample.case_id).where(Case.tier != Tier.legal)
    capped = base.order_by(QASample.id).limit(COUNT_CAP).subquery()
    count = int(db.scalar(select(func.count()).select_from(capped)) or 0)
    oldest = db.scalar(select(func.min(capped.c.sampled_at)))
    held = db.scalar(
        select(QASample.id)
        .where(
            QASample.reviewer_id == p.staff_id,
            QASample.status.in_(
                [SampleStatus.assigned, SampleStatus.answered, SampleStatus.revealed]
            ),
        )
        .order_by(QASample.id)
        .limit(1)
    )
    return {
        "count": count,
        "label": f"{count}+" if count >= COUNT_CAP else str(count),
        "oldest": oldest,
        "held": held,
    }


def my_calibration(db: Session, p: Principal) -> list[dict[str, Any]] | None:
    """The calibration sets assigned to ``p``, with how many items they answered. ``None``
    for those who answer none."""
    if not p.can(Permission.calibration_answer) or p.staff_id is None:
        return None
    assigned = qa.my_assignments(db, p)
    if not assigned:
        return []
    set_ids = [a.set_id for a in assigned]
    names = _pairs(
        db.execute(
            select(CalibrationSet.id, CalibrationSet.name).where(CalibrationSet.id.in_(set_ids))
        )
    )
    items = _pairs(
        db.execute(
            select(CalibrationItem.set_id, func.count())
            .where(CalibrationItem.set_id.in_(set_ids))
            .group_by(CalibrationItem.set_id)
        )
    )
    answered = _pairs(
        db.execute(
            select(CalibrationAnswer.set_id, func.count())
            .where(CalibrationAnswer.set_id.in_(set_ids), CalibrationAnswer.staff_id == p.staff_id)
            .group_by(CalibrationAnswer.set_id)
        )
    )
    return [
        {
            "set_id": a.set_id,
            "name": names.get(a.set_id, f"Set #{a.set_id}"),
            "assigned_at": a.assigned_at,
            "completed_at": a.completed_at,
            "items": int(items.get(a.set_id, 0)),
            "answered": int(answered.get(a.set_id, 0)),
        }
        for a in assigned
    ]


def _rates_view(db: Session, p: Principal) -> dict[str, Any] | None:
    if not p.can(Permission.qa_manage):
        return None
    rows = qa.list_rates(db, p)
    queues = list(db.scalars(select(Queue).order_by(Queue.name)))
    names = _staff_names(db, {r.staff_id for r in rows})
    queue_names = {q.id: q.name for q in queues}
    default = next((r for r in rows if r.queue_id is None and r.staff_id is None), None)
    listed = []
    for r in rows:
        if r.queue_id is not None:
            scope = f"Queue: {queue_names.get(r.queue_id, r.queue_id)}"
        elif r.staff_id is not None:
            scope = f"Reviewer: {_person(names, r.staff_id)}"
        else:
            scope = "Default"
        listed.append({"scope": scope, "rate": r.rate, "updated_at": r.updated_at})
    reviewers = _reviewers(db)
    return {
        "rows": listed,
        "default": default.rate if default is not None else None,
        "queues": queues,
        "reviewers": reviewers,
    }


def _render_home(
    request: Request,
    db: Session,
    who: ConsoleUser,
    *,
    rate_form: dict[str, str] | None = None,
    rate_errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    if not any(
        p.can(x)
        for x in (
            Permission.qa_read,
            Permission.qa_review,
            Permission.qa_manage,
            Permission.calibration_answer,
        )
    ):
        raise PermissionDenied(
            "this needs a quality assurance permission", code="permission_denied"
        )
    from vigil.config import Settings

    settings: Settings = request.app.state.settings
    return _page(
        request,
        who,
        "qa.html",
        status_code=status_code,
        waiting=waiting_samples(db, p),
        calibration=my_calibration(db, p),
        rates=_rates_view(db, p),
        fallback_rate=settings.qa_default_sample_rate,
        rate_form=rate_form or {"scope": "default", "rate": ""},
        rate_errors=rate_errors or {},
        can_read=p.can(Permission.qa_read),
        can_review=p.can(Permission.qa_review),
        can_manage=p.can(Permission.qa_manage),
        can_see_sets=_sees_sets(p),
    )


@router.get("/qa/home-panel")
def home_panel(request: Request, db: DB, who: Console) -> HTMLResponse:
    """The QA block of the console's home page, fetched by htmx: samples waiting (QA
    reviewers) and unfinished calibration sets (those who answer them). Empty for others."""
    p = who.principal
    calibration = my_calibration(db, p)
    return templates.TemplateResponse(
        request,
        "partials/qa_home_panel.html",
        {
            "waiting": waiting_samples(db, p),
            "calibration": calibration,
            "open_sets": [a for a in calibration or [] if a["completed_at"] is None],
            "csrf_token": who.csrf_token,
        },
    )


@router.get("/qa")
def qa_home(request: Request, db: DB, who: Console) -> HTMLResponse:
    return _render_home(request, db, who)


def _parse_rate(scope: str, rate: str) -> tuple[int | None, int | None, float | None, Errors]:
    """The rate form: what it applies to (``default``, ``queue:<id>``, ``staff:<id>``) and
    the rate, as a share (0.05) or a percentage (5%). The range is the service's rule."""
    errors: Errors = {}
    queue_id = staff_id = None
    kind, _, target = scope.partition(":")
    if scope != "default" and (kind not in ("queue", "staff") or not target.isdigit()):
        errors["scope"] = ["Choose what the rate applies to."]
    elif kind == "queue":
        queue_id = int(target)
    elif kind == "staff":
        staff_id = int(target)
    text = rate.strip()
    value: float | None = None
    try:
        value = float(text.rstrip("%").strip())
    except ValueError:
        errors["rate"] = ["The rate is a share from 0 to 1 (0.05), or a percentage (5%)."]
    else:
        if text.endswith("%"):
            value /= 100
    return queue_id, staff_id, value, errors


_RATE_FIELDS = {"rate": "rate", "queue_id": "scope", "staff_id": "scope"}


@router.post("/qa/rates")
def set_rate(
    request: Request, db: DB, who: ConsolePost,
    scope: Annotated[str, Form()] = "default", rate: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    who.principal.require(Permission.qa_manage)
    form = {"scope": scope, "rate": rate}
    queue_id, staff_id, value, errors = _parse_rate(scope, rate)
    if not errors and value is not None:
        try:
            qa.set_rate(db, who.principal, queue_id=queue_id, staff_id=staff_id, rate=value)
        except VigilError as exc:
            if exc.status_code == 404:
                raise
            db.rollback()
            key = _RATE_FIELDS.get(exc.field or "", "general")
            return _render_home(
                request, db, who, rate_form=form, rate_errors={key: [exc.message]},
                status_code=exc.status_code,
            )  # fmt: skip
    if errors:
        return _render_home(request, db, who, rate_form=form, rate_errors=errors, status_code=422)
    return redirect("/qa?notice=rate_saved")


# --- samples: next, blind, reveal, score ------------------------------------------------------


@router.post("/qa/next")
def next_sample(db: DB, who: ConsolePost) -> Response:
    sample = qa.next_sample(db, who.principal)
    if sample is None:
        return redirect("/qa?notice=qa_empty")
    return redirect(f"/qa/samples/{sample.id}")


def _action_text(a: DecisionAction) -> str:
    """ "Suspend · account · 7 days": the kind, what it applies to, how long."""
    parts = [action_label(a.type.value), a.scope.value.replace("_", " ")]
    if a.duration_days:
        parts.append(f"{a.duration_days} day{'s' if a.duration_days != 1 else ''}")
    return " · ".join(parts)


def _original(db: Session, sample: QASample, titles: dict[str, str]) -> dict[str, Any]:
    """The decision under review, for the reveal: policies, actions, the message the user
    got, who decided and when. Read only once the blind answer is in."""
    decision = db.get(Decision, sample.decision_id)
    policies_cited = list(
        db.scalars(
            select(DecisionPolicy)
            .where(DecisionPolicy.decision_id == sample.decision_id)
            .order_by(DecisionPolicy.position)
        )
    )
    actions = list(
        db.scalars(
            select(DecisionAction)
            .where(DecisionAction.decision_id == sample.decision_id)
            .order_by(DecisionAction.position)
        )
    )
    messages = list(
        db.scalars(
            select(Message)
            .where(Message.decision_id == sample.decision_id)
            .order_by(Message.id)
            .limit(panels.MESSAGES_LIMIT)
        )
    )
    reviewer = "—"
    if decision is not None:
        # The name as it is now; the label kept on the decision if the account is gone.
        names = _staff_names(db, {decision.decided_by_id})
        reviewer = names.get(decision.decided_by_id or 0) or decision.decided_by_label
    return {
        "decision": decision,
        # One line per policy cited: its title and the version applied.
        "policies": [
            f"{titles.get(p.policy_code, p.policy_code)} v{p.policy_version}"
            for p in policies_cited
        ],
        "actions": [{"text": _action_text(a), "status": a.status.value} for a in actions],
        "messages": [
            {
                "channel": m.channel.value.replace("_", "-"),
                "locale": m.locale,
                "subject": m.subject,
                "body": m.body,
                "status": m.status.value,
            }
            for m in messages
        ],
        "reviewer": reviewer,
        "reasoning": decision.internal_reasoning if decision is not None else "",
        "at": (decision.applied_at or decision.created_at) if decision is not None else None,
    }


def verdict(same_policy: bool, same_action: bool) -> str:
    """The reveal's finding, in neutral words: a difference is something to look at, not a
    fault of either reviewer."""
    if same_policy and same_action:
        return "you agree"
    if same_policy:
        return "you differ on the action"
    if same_action:
        return "you differ on the policy"
    return "you differ on the policy and the action"


def _sample_view(db: Session, sample: QASample) -> dict[str, Any]:
    names = _staff_names(db, {sample.reviewer_id, sample.decided_by_id})
    return {
        "id": sample.id,
        "status": sample.status.value,
        "source": sample.source.value,
        "sampled_at": sample.sampled_at,
        "reviewer": _person(names, sample.reviewer_id) if sample.reviewer_id else None,
        "queue": db.get(Queue, sample.queue_id) if sample.queue_id else None,
    }


def _render_sample(
    request: Request,
    db: Session,
    who: ConsoleUser,
    sample_id: int,
    *,
    form: dict[str, str] | None = None,
    errors: Errors | None = None,
    score_form: dict[str, str] | None = None,
    score_errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    sample = qa.get_sample(db, p, sample_id)
    blind = sample.status in (SampleStatus.queued, SampleStatus.assigned)
    context: dict[str, Any] = {
        "sample": _sample_view(db, sample),
        "blind": blind,
        "mine": sample.reviewer_id is not None and sample.reviewer_id == p.staff_id,
        "can_review": p.can(Permission.qa_review),
        # Refusals that name no field of the form on show (409s: answered or scored twice).
        "problems": [*(errors or {}).get("general", []), *(score_errors or {}).get("general", [])],
        **blind_evidence(db, p, sample.case_id),
        **_form_context(db, form, errors),
    }
    if not blind:
        titles = _policy_titles(db)
        original = _original(db, sample, titles)
        mine_label = sample.blind_label.value if sample.blind_label else None
        same_policy = sample.blind_policy_code == sample.original_policy_code
        same_action = mine_label == sample.original_label.value
        context.update(
            answer={
                "policy": _policy_title(titles, sample.blind_policy_code),
                "action": action_label(mine_label),
                "by": context["sample"]["reviewer"],
                "at": sample.answered_at,
            },
            original=original,
            original_label={
                "policy": _policy_title(titles, sample.original_policy_code),
                "action": action_label(sample.original_label.value),
            },
            same_policy=same_policy,
            same_action=same_action,
            verdict=verdict(same_policy, same_action),
            agreed=sample.agreed,
            revealed=sample.status in (SampleStatus.revealed, SampleStatus.scored),
            scored=sample.status == SampleStatus.scored,
            score={
                "right_policy": sample.right_policy,
                "right_action": sample.right_action,
                "message_quality": sample.message_quality,
                "comment": sample.comment,
                "at": sample.scored_at,
            },
            score_form=score_form
            or {
                "right_policy": "",
                "right_action": "",
                "message_quality": "" if original["messages"] else "na",
                "comment": "",
            },
            score_errors=score_errors or {},
            quality_choices=QUALITY_CHOICES,
        )
    return _page(request, who, "qa_sample.html", status_code=status_code, **context)


@router.get("/qa/samples/{sample_id}")
def sample_page(request: Request, db: DB, who: Console, sample_id: RowId) -> HTMLResponse:
    who.principal.require(Permission.qa_review)
    return _render_sample(request, db, who, sample_id)


@router.post("/qa/samples/{sample_id}/answer")
def answer_sample(
    request: Request, db: DB, who: ConsolePost, sample_id: RowId,
    policy: Annotated[str, Form()] = "", action: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """The blind answer, then at once the reveal: the reviewer sees the original the moment
    their own answer is recorded (one transaction: both or neither)."""
    who.principal.require(Permission.qa_review)
    form = {"policy": policy, "action": action}
    code, label, errors = read_answer(policy, action)
    if not errors:
        try:
            qa.blind_answer(db, who.principal, sample_id, policy_code=code, action=label)
            qa.reveal(db, who.principal, sample_id)
        except VigilError as exc:
            if exc.status_code == 404:
                raise
            db.rollback()
            errors = _errors_of(exc)
            return _render_sample(
                request, db, who, sample_id, form=form, errors=errors,
                status_code=exc.status_code,
            )  # fmt: skip
    if errors:
        return _render_sample(
            request, db, who, sample_id, form=form, errors=errors, status_code=422
        )
    return redirect(f"/qa/samples/{sample_id}?notice=answered#reveal")


@router.post("/qa/samples/{sample_id}/reveal")
def reveal_sample(request: Request, db: DB, who: ConsolePost, sample_id: RowId) -> Response:
    """For a sample answered elsewhere (the API) and not yet revealed."""
    who.principal.require(Permission.qa_review)
    try:
        qa.reveal(db, who.principal, sample_id)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _render_sample(
            request, db, who, sample_id, errors=_errors_of(exc), status_code=exc.status_code
        )
    return redirect(f"/qa/samples/{sample_id}#reveal")


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


@router.post("/qa/samples/{sample_id}/score")
def score_sample(
    request: Request, db: DB, who: ConsolePost, sample_id: RowId,
    right_policy: Annotated[str, Form()] = "", right_action: Annotated[str, Form()] = "",
    message_quality: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    who.principal.require(Permission.qa_review)
    form = {
        "right_policy": right_policy,
        "right_action": right_action,
        "message_quality": message_quality,
        "comment": comment,
    }
    errors: Errors = {}
    policy_ok = _yes_no(right_policy)
    action_ok = _yes_no(right_action)
    if policy_ok is None:
        errors["right_policy"] = ["Say whether the original applied the right policy."]
    if action_ok is None:
        errors["right_action"] = ["Say whether the original took the right action."]
    quality: int | None = None
    if message_quality not in ("na", *(v for v, _ in QUALITY_CHOICES)):
        errors["message_quality"] = ["Rate the message from 1 to 5, or choose “No message”."]
    elif message_quality != "na":
        quality = int(message_quality)
    if (policy_ok is False or action_ok is False) and not comment.strip():
        errors["comment"] = [
            "Say what was wrong: a comment is required when you mark something wrong."
        ]
    if not errors:
        try:
            qa.score(
                db,
                who.principal,
                sample_id,
                ScoreIn(
                    right_policy=bool(policy_ok),
                    right_action=bool(action_ok),
                    message_quality=quality,
                    comment=comment.strip() or None,
                ),
            )
        except VigilError as exc:
            if exc.status_code == 404:
                raise
            db.rollback()
            return _render_sample(
                request, db, who, sample_id, score_form=form, score_errors=_errors_of(exc),
                status_code=exc.status_code,
            )  # fmt: skip
    if errors:
        return _render_sample(
            request, db, who, sample_id, score_form=form, score_errors=errors, status_code=422
        )
    return redirect(f"/qa/samples/{sample_id}?notice=scored")


# --- scorecards --------------------------------------------------------------------------------


def parse_day(text: str) -> date:
    """A day as the console writes it ("21 Nov 2026"), or ISO ("2026-11-21")."""
    value = " ".join(text.split())
    for fmt in ("%d %b %Y", "%d %B %Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def _day_text(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def _period(
    period: str, since: str, until: str
) -> tuple[datetime | None, datetime | None, dict[str, str], Errors]:
    """The period filter: last 7/30/90 days, or from/to days (inclusive, UTC days)."""
    errors: Errors = {}
    form = {"period": period, "since": since, "until": until}
    now = clock.now()
    if period in PERIODS:
        return now - timedelta(days=PERIODS[period]), None, form, errors
    start = end = None
    if since.strip():
        try:
            day = parse_day(since)
        except ValueError:
            errors["since"] = ["A day, like 1 Nov 2026."]
        else:
            start = datetime.combine(day, time.min, tzinfo=UTC)
            form["since"] = _day_text(day)
    if until.strip():
        try:
            day = parse_day(until)
        except ValueError:
            errors["until"] = ["A day, like 30 Nov 2026."]
        else:
            end = datetime.combine(day, time.min, tzinfo=UTC) + timedelta(days=1)
            form["until"] = _day_text(day)
    if start is not None and end is not None and end <= start:
        errors["until"] = ["The end day is before the start day."]
    if period not in ("dates", ""):
        errors["period"] = ["Choose a period."]
    form["period"] = "dates"
    return start, end, form, errors


def _score_row(row: Any, group: str, titles: dict[str, str]) -> dict[str, Any]:
    rate = row.agreement_rate
    label = row.label
    if group == "policy":
        label = "No violation" if row.key == "none" else titles.get(row.key, row.key)
    elif row.key == "none" or label.startswith("#"):
        label = FORMER_STAFF.capitalize() if group == "reviewer" else "No queue"
    few = row.samples < FEW_SAMPLES
    return {
        "key": row.key,
        "label": label,
        "samples": row.samples,
        "agreed": row.agreed,
        "few": few,
        "agreement": _pct(rate),
        "agreement_value": rate,
        "kappa": "—" if row.kappa is None else f"{row.kappa:.2f}",
        "kappa_value": row.kappa,
        # Why kappa is undefined, or else the caution a small sample needs.
        "kappa_note": row.kappa_note or ("few samples" if few else None),
        "right_policy": _pct(row.right_policy_rate),
        "right_policy_value": row.right_policy_rate,
        "right_action": _pct(row.right_action_rate),
        "right_action_value": row.right_action_rate,
        "message_quality": "—"
        if row.message_quality_mean is None
        else f"{row.message_quality_mean:.1f} / 5",
    }


@router.get("/qa/scorecards")
def scorecards(
    request: Request, db: DB, who: Console,
    period: str = "30", since: str = "", until: str = "",
) -> HTMLResponse:  # fmt: skip
    p = who.principal
    p.require(Permission.qa_read)
    start, end, form, errors = _period(period, since, until)
    tables = []
    if not errors:
        titles = _policy_titles(db)
        for key, title in GROUPS.items():
            rows = qa.scorecards(db, p, group_by=key, since=start, until=end)
            tables.append(
                {"key": key, "title": title, "rows": [_score_row(r, key, titles) for r in rows]}
            )
    return _page(
        request,
        who,
        "qa_scorecards.html",
        status_code=422 if errors else 200,
        tables=tables,
        form=form,
        errors=errors,
        periods=PERIODS,
        since=start,
        until=end,
        few_samples=FEW_SAMPLES,
        low_share=LOW_SHARE,
    )


# --- calibration -------------------------------------------------------------------------------


def _sees_sets(p: Principal) -> bool:
    """Who sees every set with its expected decisions and everyone's results: ``qa:manage``,
    and ``qa:read`` holders who never answer sets (the QA team). Specialists and legal staff
    read QA figures but answer sets: they see a set only when it is assigned to them (the
    service's rule)."""
    return p.can(Permission.qa_manage) or (
        p.can(Permission.qa_read) and not p.can(Permission.calibration_answer)
    )


def _sets_overview(db: Session, p: Principal) -> list[dict[str, Any]]:
    """Every set (a handful per team) with its item, assignment and completion counts: three
    grouped counts, whatever the number of sets."""
    sets = qa.list_sets(db, p)
    ids = [s.id for s in sets]
    items: dict[int, int] = {}
    assigned: dict[int, int] = {}
    done: dict[int, int] = {}
    if ids:
        items = _pairs(
            db.execute(
                select(CalibrationItem.set_id, func.count())
                .where(CalibrationItem.set_id.in_(ids))
                .group_by(CalibrationItem.set_id)
            )
        )
        assigned = _pairs(
            db.execute(
                select(CalibrationAssignment.set_id, func.count())
                .where(CalibrationAssignment.set_id.in_(ids))
                .group_by(CalibrationAssignment.set_id)
            )
        )
        done = _pairs(
            db.execute(
                select(CalibrationAssignment.set_id, func.count())
                .where(
                    CalibrationAssignment.set_id.in_(ids),
                    CalibrationAssignment.completed_at.is_not(None),
                )
                .group_by(CalibrationAssignment.set_id)
            )
        )
    return [
        {
            "id": s.id,
            "name": s.name,
            "description": s.description,
            "created_at": s.created_at,
            "items": int(items.get(s.id, 0)),
            "assigned": int(assigned.get(s.id, 0)),
            "completed": int(done.get(s.id, 0)),
        }
        for s in sets
    ]


def _render_calibration(
    request: Request,
    db: Session,
    who: ConsoleUser,
    *,
    form: dict[str, str] | None = None,
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    if not _sees_sets(p) and not p.can(Permission.calibration_answer):
        raise PermissionDenied(
            "this needs the 'qa:manage' or 'calibration:answer' permission",
            code="permission_denied",
        )
    return _page(
        request,
        who,
        "qa_calibration.html",
        status_code=status_code,
        can_manage=p.can(Permission.qa_manage),
        sets=_sets_overview(db, p) if _sees_sets(p) else None,
        calibration=my_calibration(db, p),
        form=form or {"name": "", "description": ""},
        errors=errors or {},
    )


@router.get("/qa/calibration")
def calibration_home(request: Request, db: DB, who: Console) -> HTMLResponse:
    return _render_calibration(request, db, who)


@router.post("/qa/calibration")
def create_set(
    request: Request, db: DB, who: ConsolePost,
    name: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    who.principal.require(Permission.qa_manage)
    form = {"name": name, "description": description}
    try:
        created = qa.create_set(db, who.principal, name, description)
    except VigilError as exc:
        db.rollback()
        key = exc.field if exc.field in ("name", "description") else "name"
        return _render_calibration(
            request, db, who, form=form, errors={key: [exc.message]},
            status_code=exc.status_code,
        )  # fmt: skip
    return redirect(f"/qa/calibration/{created.id}?notice=set_created")


def _item_row(item: CalibrationItem, titles: dict[str, str]) -> dict[str, Any]:
    return {
        "id": item.id,
        "case_id": item.case_id,
        "policy_code": item.expected_policy_code,
        "decision": _decision_text(titles, item.expected_policy_code, item.expected_action.value),
        "rationale": item.rationale,
    }


def _grey(areas: list[Any]) -> list[dict[str, str]]:
    return [
        {"title": str(g.get("title", "")), "guidance": str(g.get("guidance", ""))}
        for g in areas
        if isinstance(g, dict)
    ]


def _results_context(db: Session, p: Principal, set_id: int, titles: dict[str, str]) -> Any:
    """Set results for the templates: per reviewer and per item, every miss and every
    disagreement with the grey-area guidance of the policy that settles it."""
    found = qa.set_results(db, p, set_id)
    # The service names a removed account by its id; the console never shows a bare id.
    gone = {f"#{r.staff_id}" for r in found.reviewers}
    reviewers = [
        {
            "staff_id": r.staff_id,
            "name": FORMER_STAFF.capitalize() if r.name in gone else r.name,
            "answered": r.answered,
            "items": r.items,
            "completed_at": r.completed_at,
            "policy": _pct(r.policy_accuracy),
            "action": _pct(r.action_accuracy),
            "both": _pct(r.accuracy),
            "both_value": r.accuracy,
            "missed": [
                {
                    "item_id": m.item_id,
                    "case_id": m.case_id,
                    "expected": _decision_text(titles, m.expected_policy_code, m.expected_action),
                    "answer": _decision_text(titles, m.policy_code, m.action),
                    "right_policy": m.right_policy,
                    "right_action": m.right_action,
                    "rationale": m.rationale,
                    "guidance_code": m.guidance_policy_code,
                    "guidance_title": titles.get(m.guidance_policy_code or "", ""),
                    "grey_areas": _grey(m.grey_areas),
                }
                for m in r.missed
            ],
        }
        for r in found.reviewers
    ]
    items = []
    for i in found.items:
        # The guidance that settles a disagreement: the expected policy's; for an expected
        # "no violation", that of the policy the reviewers wrongly applied.
        code = i.item.expected_policy_code
        areas = _grey(i.grey_areas)
        if code is None:
            code = next((d.policy_code for d in i.disagreements if d.policy_code), None)
            guidance = panels.policy_guidance(db, code)
            areas = guidance["grey_areas"] if guidance and not guidance.get("missing") else []
        items.append(
            {
                **_item_row(i.item, titles),
                "answers": i.answers,
                "agreed": i.agreed,
                "disagreements": [
                    {
                        "name": FORMER_STAFF.capitalize() if d.name.startswith("#") else d.name,
                        "answer": _decision_text(titles, d.policy_code, d.action),
                        "right_policy": d.right_policy,
                        "right_action": d.right_action,
                    }
                    for d in i.disagreements
                ],
                "guidance_code": code,
                "guidance_title": titles.get(code or "", ""),
                "grey_areas": areas,
            }
        )
    return {"reviewers": reviewers, "items": items}


def _reviewers(db: Session) -> list[StaffUser]:
    """Who may be assigned a set: active staff whose role answers calibration sets."""
    roles = [r for r in Role if role_has(r, Permission.calibration_answer)]
    return list(
        db.scalars(
            select(StaffUser)
            .where(StaffUser.active.is_(True), StaffUser.role.in_(roles))
            .order_by(StaffUser.name)
            .limit(500)
        )
    )


def _render_set(
    request: Request,
    db: Session,
    who: ConsoleUser,
    set_id: int,
    *,
    item_form: dict[str, str] | None = None,
    item_errors: Errors | None = None,
    assign_errors: Errors | None = None,
    form: dict[str, str] | None = None,
    errors: Errors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    manager = _sees_sets(p)
    mine = db.get(CalibrationAssignment, (set_id, p.staff_id)) if p.staff_id is not None else None
    # A set stays blind to whoever is answering it, whatever else they may read; someone who
    # both manages sets and finished answering this one (an admin) sees the manager's screen
    # unless they ask for their own (``?as=reviewer``).
    answering_mode = mine is not None and (
        not manager or mine.completed_at is None or request.query_params.get("as") == "reviewer"
    )
    view = qa.get_set(db, p, set_id, mine=answering_mode)
    titles = _policy_titles(db)
    context: dict[str, Any] = {
        "set": view.set,
        "manager": manager and not answering_mode,
        "can_manage": p.can(Permission.qa_manage) and not answering_mode,
        "assigned_to_me": mine is not None,
        "answering_mode": answering_mode,
        # Refusals that name no field on show (409: answered twice, set in use).
        "page_errors": (errors or {}).get("general", []),
    }
    if not answering_mode:
        names = _staff_names(db, {a.staff_id for a in view.assignments})
        results = _results_context(db, p, set_id, titles)
        # One table per reviewer: how far they are and how they did.
        scored = {r["staff_id"]: r for r in results["reviewers"]}
        context.update(
            items=[_item_row(i, titles) for i in view.items],
            assignments=[
                {
                    "staff_id": a.staff_id,
                    "name": _person(names, a.staff_id),
                    "assigned_at": a.assigned_at,
                    "completed_at": a.completed_at,
                    "answered": view.answered.get(a.staff_id, 0),
                    "result": scored.get(a.staff_id),
                }
                for a in view.assignments
            ],
            started=any(view.answered.values()),
            titles=titles,
            results=results,
            item_form=item_form or {"case_id": "", "policy": "", "action": "", "rationale": ""},
            item_errors=item_errors or {},
            assign_errors=assign_errors or {},
            **(
                {
                    "reviewers": _reviewers(db),
                    "assigned_ids": {a.staff_id for a in view.assignments},
                }
                if p.can(Permission.qa_manage)
                else {}
            ),
            **_form_context(db, item_form, item_errors),
        )
        return _page(request, who, "qa_calibration_set.html", status_code=status_code, **context)
    assert mine is not None
    own = view.my_answers
    pending = [i for i in view.items if i.id not in own]
    context.update(answered=len(own), total=len(view.items))
    if mine.completed_at is None and pending:
        current = pending[0]
        context.update(
            answering={"id": current.id, "position": len(own) + 1},
            **blind_evidence(db, p, current.case_id),
            **_form_context(db, form, errors),
        )
    else:
        results = _results_context(db, p, set_id, titles)
        me = next((r for r in results["reviewers"] if r["staff_id"] == p.staff_id), None)
        answers = []
        for i in view.items:
            a = own.get(i.id)
            answers.append(
                {
                    **_item_row(i, titles),
                    "answer": "—"
                    if a is None
                    else _decision_text(titles, a.policy_code, a.action.value),
                    "right": a is not None and a.right_policy and a.right_action,
                }
            )
        context.update(me=me, answers=answers)
    return _page(request, who, "qa_calibration_set.html", status_code=status_code, **context)


@router.get("/qa/calibration/{set_id}")
def set_page(request: Request, db: DB, who: Console, set_id: RowId) -> HTMLResponse:
    return _render_set(request, db, who, set_id)


_ITEM_FIELDS = {
    "case_id": "case_id",
    "expected_policy_code": "policy",
    "expected_action": "action",
    "rationale": "rationale",
}


@router.post("/qa/calibration/{set_id}/items")
def add_item(
    request: Request, db: DB, who: ConsolePost, set_id: RowId,
    case_id: Annotated[str, Form()] = "", policy: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "", rationale: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    who.principal.require(Permission.qa_manage)
    form = {"case_id": case_id, "policy": policy, "action": action, "rationale": rationale}
    code, label, errors = read_answer(policy, action)
    number = case_id.strip().lstrip("#")
    if not number.isdigit() or not 1 <= int(number) < 2**63:
        errors["case_id"] = ["The case number, like 1042."]
    if not errors:
        try:
            qa.add_item(
                db, who.principal, set_id, case_id=int(number),
                expected_policy_code=code, expected_action=label, rationale=rationale,
            )  # fmt: skip
        except VigilError as exc:
            if exc.code == "set_not_found":
                raise
            db.rollback()
            about_case = "case" in exc.code or exc.code == "item_exists"
            key = _ITEM_FIELDS.get(exc.field or "", "case_id" if about_case else "general")
            errors = {key: [exc.message]}
            return _render_set(
                request, db, who, set_id, item_form=form, item_errors=errors,
                status_code=exc.status_code,
            )  # fmt: skip
    if errors:
        return _render_set(
            request, db, who, set_id, item_form=form, item_errors=errors, status_code=422
        )
    return redirect(f"/qa/calibration/{set_id}?notice=item_added")


@router.post("/qa/calibration/{set_id}/items/{item_id}/remove")
def remove_item(
    request: Request, db: DB, who: ConsolePost, set_id: RowId, item_id: RowId
) -> Response:
    who.principal.require(Permission.qa_manage)
    try:
        qa.remove_item(db, who.principal, set_id, item_id)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _render_set(
            request, db, who, set_id, item_errors={"general": [exc.message]},
            status_code=exc.status_code,
        )  # fmt: skip
    return redirect(f"/qa/calibration/{set_id}?notice=item_removed")


@router.post("/qa/calibration/{set_id}/assign")
def assign_set(
    request: Request, db: DB, who: ConsolePost, set_id: RowId,
    staff_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:  # fmt: skip
    who.principal.require(Permission.qa_manage)
    raw = staff_ids or []
    chosen = [int(v) for v in raw if v.isdigit() and int(v) < 2**63]
    try:
        qa.assign_set(db, who.principal, set_id, chosen)
    except VigilError as exc:
        if exc.code == "set_not_found":
            raise
        db.rollback()
        return _render_set(
            request, db, who, set_id, assign_errors={"staff_ids": [exc.message]},
            status_code=exc.status_code,
        )  # fmt: skip
    return redirect(f"/qa/calibration/{set_id}?notice=assigned")


@router.post("/qa/calibration/{set_id}/items/{item_id}/answer")
def answer_item(
    request: Request, db: DB, who: ConsolePost, set_id: RowId, item_id: RowId,
    policy: Annotated[str, Form()] = "", action: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    who.principal.require(Permission.calibration_answer)
    form = {"policy": policy, "action": action}
    code, label, errors = read_answer(policy, action)
    as_reviewer = "?as=reviewer" if _sees_sets(who.principal) else ""
    if not errors:
        try:
            qa.answer_item(db, who.principal, set_id, item_id, policy_code=code, action=label)
        except VigilError as exc:
            if exc.status_code == 404:
                raise
            db.rollback()
            return _render_set(
                request, db, who, set_id, form=form, errors=_errors_of(exc),
                status_code=exc.status_code,
            )  # fmt: skip
    if errors:
        return _render_set(request, db, who, set_id, form=form, errors=errors, status_code=422)
    mine = db.get(CalibrationAssignment, (set_id, who.principal.staff_id))
    notice = "set_done" if mine is not None and mine.completed_at is not None else "item_answered"
    query = {"notice": notice, **({"as": "reviewer"} if as_reviewer else {})}
    return redirect(f"/qa/calibration/{set_id}?" + urlencode(query))
