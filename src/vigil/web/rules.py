"""Console: detection rules and backtests, for policy leads.

The pages call the same services as the API (``vigil.detection.rules``) under the logged-in
staff member's principal: reading needs ``rules:read``, writing and backtesting
``rules:write``. A refused save is shown on the form with each problem next to its field; an
expression's problems carry their line and column and a caret under the spot. While the
expression is typed, htmx asks ``/rules/check`` whether it type-checks; ``/rules/try`` runs it
on a stored event or on sample values without saving anything.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.api.deps import DB, AppSettings
from vigil.auth.models import StaffUser
from vigil.auth.permissions import ROLE_PERMISSIONS, Permission
from vigil.cases.models import Queue
from vigil.detection.models import Event
from vigil.detection.rules import backtest, compiler, engine, schemas, service, states
from vigil.detection.rules.models import BacktestStatus, RuleOutcome, RuleState
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, NotFound, VigilError
from vigil.policies import service as policies
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.common import page, redirect
from vigil.web.render import templates

router = APIRouter(include_in_schema=False)
_DAY = timedelta(days=1)

RuleName = Annotated[str, Path(max_length=200)]
BacktestId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def staff_can(user: StaffUser | None, permission: str) -> bool:
    """For templates (the nav link): whether a logged-in staff member holds a permission."""
    return user is not None and Permission(permission) in ROLE_PERMISSIONS.get(user.role, ())


templates.env.globals["staff_can"] = staff_can

FLASH = {
    "created": "Rule created.",
    "saved": "Saved as a new version.",
    "unchanged": "Nothing changed: no new version was written.",
    "state": "State changed.",
}


def _need(who: ConsoleUser, permission: Permission) -> None:
    who.principal.require(permission)


# --- the rule form ------------------------------------------------------------------------


@dataclass
class RuleForm:
    """What the form holds, as typed (so a refused save comes back as it was written)."""

    name: str = ""
    description: str = ""
    expression: str = ""
    score: str = "50"
    outcome: str = "review"
    policy_code: str = ""
    queue: str = "detection"
    event_types: list[str] = field(default_factory=list)
    tags: str = ""
    state: str = "draft"
    change_reason: str = ""

    @classmethod
    def of_version(cls, v: Any) -> RuleForm:
        return cls(
            name=v.name,
            description=v.description,
            expression=v.expression,
            score=f"{v.score:g}",
            outcome=RuleOutcome(v.outcome).value,
            policy_code=v.policy_code or "",
            queue=v.queue or "",
            event_types=list(v.event_types),
            tags=", ".join(v.tags),
        )

    def data(self) -> dict[str, Any]:
        score: Any = self.score.strip()
        with contextlib.suppress(ValueError):  # else validate_rule names it
            score = float(score)
        return {
            "name": self.name.strip(),
            "description": self.description,
            "expression": self.expression,
            "score": score,
            "outcome": self.outcome,
            "policy_code": self.policy_code or None,
            "queue": self.queue or None,
            "event_types": self.event_types,
            "tags": [t for t in self.tags.replace(",", " ").split() if t],
        }


def _errors(exc: VigilError) -> dict[str, list[dict[str, Any]]]:
    """Problems by form field (``event_types[1]`` belongs to ``event_types``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    items = exc.details or [{"field": exc.field, "message": exc.message}]
    for item in items:
        key = str(item.get("field") or "form").split("[")[0]
        out.setdefault(key, []).append(item)
    return out


def _form_page(
    request: Request,
    db: Session,
    who: ConsoleUser,
    form: RuleForm,
    *,
    editing: bool,
    errors: dict[str, list[dict[str, Any]]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        who,
        "rules_form.html",
        status_code=status_code,
        form=form,
        editing=editing,
        errors=errors or {},
        event_types=schemas.known_event_types(),
        outcomes=[o.value for o in RuleOutcome],
        policies=[v.code for v in policies.list_policies(db)],
        queues=[
            q.slug
            for q in db.scalars(select(Queue).where(Queue.active.is_(True)).order_by(Queue.slug))
        ],
        features=_features(),
    )


def _features() -> list[tuple[str, str, str]]:
    from vigil.detection.features.registry import described

    return described()


# --- pages --------------------------------------------------------------------------------


@router.get("/rules")
def rules_page(
    request: Request, db: DB, who: Console, state: str | None = None, cursor: str | None = None
) -> HTMLResponse:
    _need(who, Permission.rules_read)
    rows, next_cursor = service.list_page(db, state=state or None, cursor=cursor, limit=100)
    return page(
        request,
        who,
        "rules.html",
        rows=rows,
        state=state or "",
        next_cursor=next_cursor,
        states=[s.value for s in RuleState],
        revision=engine.current_revision(db)[0],
        revisions=service.recent_revisions(db, 10),
        can_write=who.principal.can(Permission.rules_write),
    )


@router.get("/rules/new")
def new_rule_page(request: Request, db: DB, who: Console) -> HTMLResponse:
    _need(who, Permission.rules_write)
    return _form_page(request, db, who, RuleForm(event_types=["message_sent"]), editing=False)


FormText = Annotated[str, Form()]
FormList = Annotated[list[str] | None, Form()]


@router.post("/rules/new")
def create_rule(
    request: Request,
    db: DB,
    who: ConsolePost,
    name: FormText = "",
    description: FormText = "",
    expression: FormText = "",
    score: FormText = "",
    outcome: FormText = "review",
    policy_code: FormText = "",
    queue: FormText = "",
    event_types: FormList = None,
    tags: FormText = "",
    state: FormText = "draft",
    change_reason: FormText = "",
) -> Response:
    _need(who, Permission.rules_write)
    form = RuleForm(
        name=name,
        description=description,
        expression=expression,
        score=score,
        outcome=outcome,
        policy_code=policy_code,
        queue=queue,
        event_types=event_types or [],
        tags=tags,
        state=state,
        change_reason=change_reason,
    )
    try:
        rule, _ = service.create_rule(
            db,
            who.principal,
            form.data(),
            state=form.state,
            change_reason=form.change_reason or None,
        )
    except InvalidInput as exc:
        db.rollback()
        return _form_page(
            request, db, who, form, editing=False, errors=_errors(exc), status_code=422
        )
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _form_page(
            request, db, who, form, editing=False, errors=_errors(exc), status_code=exc.status_code
        )
    return redirect(f"/rules/{rule.name}?flash=created")


def _rule_page(
    request: Request,
    db: Session,
    who: ConsoleUser,
    name: str,
    *,
    version: int | None = None,
    error: str | None = None,
    error_state: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    rule, current = service.get_current(db, name)
    shown = current if version is None else service.get_version(db, name, version)
    history, _ = service.history_page(db, name, limit=200)
    runs = [
        b
        for b in backtest.list_page(db, limit=200)[0]
        if (b.target.get("name") == name) or (b.compare or {}).get("name") == name
    ][:10]
    return page(
        request,
        who,
        "rules_detail.html",
        status_code=status_code,
        rule=rule,
        version=shown,
        current=current,
        history=history,
        runs=runs,
        describe=backtest.describe,
        moves=sorted(s.value for s in states.ALLOWED[RuleState(rule.state)]),
        can_write=who.principal.can(Permission.rules_write),
        error=error,
        error_state=error_state,
        flash=FLASH.get(request.query_params.get("flash", "")),
    )


@router.get("/rules/backtests")
def backtests_page(
    request: Request, db: DB, who: Console, cursor: str | None = None
) -> HTMLResponse:
    _need(who, Permission.rules_read)
    rows, next_cursor = backtest.list_page(db, cursor=cursor, limit=50)
    now = clock.now()
    return page(
        request,
        who,
        "rules_backtests.html",
        rows=rows,
        next_cursor=next_cursor,
        describe=backtest.describe,
        can_write=who.principal.can(Permission.rules_write),
        since=(now - backtest.DEFAULT_DAYS * _DAY).strftime("%Y-%m-%dT%H:%M"),
        until=now.strftime("%Y-%m-%dT%H:%M"),
        target=request.query_params.get("target", ""),
        error=None,
        revision=engine.current_revision(db)[0],
    )


def _local(value: str, label: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        return clock.as_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise InvalidInput(
            f"{label} is not a date and time", field=label, code="invalid_input"
        ) from None


@router.post("/rules/backtests")
def start_backtest(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    since: FormText = "",
    until: FormText = "",
    target: FormText = "",
    compare: FormText = "",
) -> Response:
    _need(who, Permission.rules_write)
    try:
        run = backtest.create(
            db,
            who.principal,
            settings,
            since=_local(since, "since"),
            until=_local(until, "until"),
            target=backtest.parse_target_text(db, target or None, field="target"),
            compare=(
                backtest.parse_target_text(db, compare, field="compare")
                if compare.strip()
                else None
            ),
        )
    except InvalidInput as exc:
        db.rollback()
        rows, next_cursor = backtest.list_page(db, limit=50)
        return page(
            request,
            who,
            "rules_backtests.html",
            status_code=422,
            rows=rows,
            next_cursor=next_cursor,
            describe=backtest.describe,
            can_write=True,
            since=since,
            until=until,
            target=target,
            compare=compare,
            error=exc.message,
            revision=engine.current_revision(db)[0],
        )
    return redirect(f"/rules/backtests/{run.id}")


def _run_context(db: Session, backtest_id: int) -> dict[str, Any]:
    run = backtest.get(db, backtest_id)
    return {
        "run": run,
        "describe": backtest.describe,
        "pending": run.status in (BacktestStatus.queued, BacktestStatus.running),
    }


@router.get("/rules/backtests/{backtest_id}")
def backtest_page(request: Request, db: DB, who: Console, backtest_id: BacktestId) -> HTMLResponse:
    _need(who, Permission.rules_read)
    return page(request, who, "rules_backtest.html", **_run_context(db, backtest_id))


# Sample events: a run stores, per rule, the ids of the newest events the rule hit
# (``sample_event_ids``, at most ``backtest.SAMPLES_PER_RULE``); the page loads those by id.
SAMPLES_PER_RULE = backtest.SAMPLES_PER_RULE


@dataclass
class Sample:
    event_id: int
    type: str
    occurred_at: datetime
    account: str
    case_id: int | None


def backtest_samples(db: Session, run: Any) -> dict[str, list[Sample] | None]:
    """The stored sample events of each rule the run saw hit, newest first: one query by
    primary key, at most ``SAMPLES_PER_RULE`` per rule. A rule maps to ``None`` when the run
    was stored before samples were kept (the page says so); events removed since (retention)
    are left out."""
    if run.status != BacktestStatus.done:
        return {}
    kept: dict[str, list[int] | None] = {}
    for result in run.results or []:
        if not result.get("hits"):
            continue
        ids = result.get("sample_event_ids")
        kept[str(result["name"])] = (
            [int(i) for i in ids[:SAMPLES_PER_RULE]] if isinstance(ids, list) else None
        )
    wanted = sorted({i for ids in kept.values() if ids for i in ids})
    found: dict[int, Sample] = {}
    if wanted:
        rows = db.execute(
            select(
                Event.id,
                Event.type,
                Event.occurred_at,
                Event.account_external_id,
                Event.case_id,
            ).where(Event.id.in_(wanted))
        )
        found = {
            row.id: Sample(row.id, row.type, row.occurred_at, row.account_external_id, row.case_id)
            for row in rows
        }
    return {
        name: None if ids is None else [found[i] for i in ids if i in found]
        for name, ids in sorted(kept.items())
    }


@router.get("/rules/backtests/{backtest_id}/samples")
def backtest_samples_fragment(
    request: Request, db: DB, who: Console, backtest_id: BacktestId
) -> HTMLResponse:
    """Sample events of a finished run (htmx, loaded after the results)."""
    _need(who, Permission.rules_read)
    run = backtest.get(db, backtest_id)
    samples = backtest_samples(db, run)
    return templates.TemplateResponse(
        request,
        "partials/rule_backtest_samples.html",
        {"run": run, "samples": samples, "per_rule": SAMPLES_PER_RULE},
    )


@router.get("/rules/backtests/{backtest_id}/results")
def backtest_results(
    request: Request, db: DB, who: Console, backtest_id: BacktestId
) -> HTMLResponse:
    """The results fragment; the page polls it while the run waits for a worker."""
    _need(who, Permission.rules_read)
    return templates.TemplateResponse(
        request, "partials/rule_backtest_results.html", _run_context(db, backtest_id)
    )


@router.post("/rules/check")
def check_expression(request: Request, who: ConsolePost, expression: FormText = "") -> HTMLResponse:
    """Whether the expression type-checks, for the form (htmx, as it is typed)."""
    _need(who, Permission.rules_read)
    compiled, problems = compiler.check(expression)
    lines = expression.splitlines() or [""]
    shown = [
        {
            "line": p.line,
            "column": p.column,
            "message": p.message,
            "source": lines[p.line - 1] if p.line <= len(lines) else "",
            "caret": " " * (p.column - 1) + "^",
        }
        for p in problems
    ]
    return templates.TemplateResponse(
        request,
        "partials/rule_check.html",
        {
            "ok": compiled is not None,
            "problems": shown,
            "variables": list(compiled.referenced) if compiled else [],
        },
    )


@router.post("/rules/try")
def try_expression(
    request: Request,
    db: DB,
    who: ConsolePost,
    expression: FormText = "",
    event_id: FormText = "",
    sample: FormText = "",
) -> HTMLResponse:
    """Evaluate on a stored event or on sample values (JSON); nothing is saved."""
    _need(who, Permission.rules_read)
    context: dict[str, Any] = {"trial": None, "error": None}
    try:
        parsed: Any = json.loads(sample) if sample.strip() else {}
        if not isinstance(parsed, dict):
            raise ValueError("a JSON object")
        trial = service.try_expression(
            db,
            expression,
            event_id=event_id.strip() or None,
            event=parsed.get("event"),
            account=parsed.get("account"),
            features=parsed.get("features"),
            reveal=who.principal.can(Permission.pii_reveal),
        )
        context["trial"] = trial
    except ValueError:
        context["error"] = 'Sample values must be a JSON object: {"features": {...}, ...}'
    except InvalidInput as exc:
        context["error"] = exc.message
    db.rollback()
    return templates.TemplateResponse(request, "partials/rule_trial.html", context)


@router.get("/rules/{name}")
def rule_page(
    request: Request, db: DB, who: Console, name: RuleName, version: int | None = None
) -> HTMLResponse:
    _need(who, Permission.rules_read)
    if version is not None and not 1 <= version <= 2**31 - 1:
        raise NotFound("no such version", code="rule_version_not_found")
    return _rule_page(request, db, who, name, version=version)


@router.get("/rules/{name}/edit")
def edit_rule_page(request: Request, db: DB, who: Console, name: RuleName) -> HTMLResponse:
    _need(who, Permission.rules_write)
    _rule, current = service.get_current(db, name)
    return _form_page(request, db, who, RuleForm.of_version(current), editing=True)


@router.post("/rules/{name}/edit")
def save_rule(
    request: Request,
    db: DB,
    who: ConsolePost,
    name: RuleName,
    description: FormText = "",
    expression: FormText = "",
    score: FormText = "",
    outcome: FormText = "",
    policy_code: FormText = "",
    queue: FormText = "",
    event_types: FormList = None,
    tags: FormText = "",
    change_reason: FormText = "",
) -> Response:
    _need(who, Permission.rules_write)
    form = RuleForm(
        name=name,
        description=description,
        expression=expression,
        score=score,
        outcome=outcome,
        policy_code=policy_code,
        queue=queue,
        event_types=event_types or [],
        tags=tags,
        state="",
        change_reason=change_reason,
    )
    changes = form.data()
    changes.pop("name")
    try:
        result = service.update_rule(
            db, who.principal, name, changes, change_reason=change_reason or None
        )
    except InvalidInput as exc:
        db.rollback()
        return _form_page(
            request, db, who, form, editing=True, errors=_errors(exc), status_code=422
        )
    return redirect(f"/rules/{name}?flash={'saved' if result.changed else 'unchanged'}")


@router.post("/rules/{name}/state")
def change_state(
    request: Request,
    db: DB,
    who: ConsolePost,
    name: RuleName,
    state: FormText = "",
    reason: FormText = "",
) -> Response:
    _need(who, Permission.rules_write)
    rule = service.get_rule(db, name)
    target = RuleState(state) if state in {s.value for s in RuleState} else None
    if (
        target is not None
        and states.is_allowed(RuleState(rule.state), target)
        and not reason.strip()
    ):
        # The service takes a move without a reason (the CLI's bulk loads); in the console
        # every move is someone's decision, and the audit log should say why.
        return _rule_page(
            request,
            db,
            who,
            name,
            error=f"Write why the rule moves to {target.value}.",
            error_state=target.value,
            status_code=422,
        )
    try:
        service.change_state(db, who.principal, name, state, reason=reason or None)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _rule_page(request, db, who, name, error=exc.message, status_code=exc.status_code)
    return redirect(f"/rules/{name}?flash=state")
