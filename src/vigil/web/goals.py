"""Console: goals on metrics: the list with each goal's trajectory, and for ``goals:write``
the form to set, change and archive a goal.

Everything about a goal (validation, status, progress) belongs to the goals service
(``vigil.analytics.goals``); this module turns form fields into its input and its refusals
into inline field errors, and draws progress the same way the metrics dashboard does.

A share (a ``ratio`` metric) is typed as a percentage on the form ("95" or "95%" means
0.95), the way people say targets; the service stores and checks the fraction.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.api.deps import DB
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.kit.errors import VigilError
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.common import page, redirect
from vigil.web.metrics import FILTER_LABELS, chart_json, epoch, filter_options, fmt_value

router = APIRouter(include_in_schema=False)


def _goals() -> tuple[ModuleType, ModuleType]:
    """The goals service and its schemas, imported when a page is drawn (see
    ``vigil.web.metrics._engine``)."""
    from vigil.analytics.goals import schemas, service

    return service, schemas


def _metric_defs() -> dict[str, Any]:
    from vigil.analytics.metrics import catalog

    return dict(catalog.METRICS)


GoalId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Errors = dict[str, list[str]]

# A goal cannot be set on one reviewer's figures (the service refuses it too).
GOAL_FILTERS = ("queue", "policy", "rule", "locale", "side")
PERIODS = (("week", "Week"), ("month", "Month"), ("quarter", "Quarter"))
COMPARATORS = (("gte", "at least (≥)"), ("lte", "at most (≤)"))
SYMBOL = {"gte": "≥", "lte": "≤"}
STATUS = {
    "met": ("met", "ok"),
    "on_track": ("on track", "ok"),
    "at_risk": ("at risk", "warning"),
    "missed": ("missed", "bad"),
    "no_data": ("no data", ""),
}
WARNINGS = {
    "comparator_against_better_direction": (
        "This goal asks for the opposite of the metric's better direction: check the comparator."
    ),
}
NOTICES = {
    "created": ("ok", "Goal set."),
    "updated": ("ok", "Goal changed."),
    "archived": ("ok", "Goal archived: it no longer shows on the dashboard."),
}
FORM_FIELDS = ("metric", "comparator", "target", "period", "starts_on", "owner_id", "notes")


def goal_label(goal: Any) -> str:
    """ "SLA attainment ≥ 95%": the goals service's wording of a goal."""
    label = getattr(goal, "label", None)
    if isinstance(label, str):
        return label
    goals, _ = _goals()
    return str(goals.label(goal))


def _value(v: Any) -> str:
    return str(getattr(v, "value", v))


def status_chip(status: Any) -> dict[str, str]:
    label, kind = STATUS.get(_value(status), (_value(status).replace("_", " "), ""))
    return {"label": label, "kind": kind, "key": _value(status)}


def _unit(metric: str) -> str:
    definition = _metric_defs().get(metric)
    return str(definition.unit) if definition is not None else "count"


def _metric_label(metric: str) -> str:
    definition = _metric_defs().get(metric)
    return str(definition.label) if definition is not None else metric


def _filters_text(filters: dict[str, Any]) -> str:
    return ", ".join(f"{FILTER_LABELS.get(k, k)} {v}" for k, v in sorted(filters.items()))


def progress_view(progress: Any) -> dict[str, Any]:
    """A goal's progress for the templates: current value vs target, chip, chart data with
    the target line, and the same points as a table."""
    goal = progress.goal
    metric = _value(goal.metric)
    unit = _unit(metric)
    points = list(progress.points)
    chart = {
        "x": [epoch(p.day) for p in points],
        "lines": [{"label": _metric_label(metric), "values": [p.value for p in points]}],
        "unit": unit,
        "kind": "line",
        "target": float(progress.target),
    }
    denominator = getattr(progress, "denominator", None)
    return {
        "id": goal.id,
        "label": goal_label(goal),
        "metric": metric,
        "metric_label": _metric_label(metric),
        "filters": _filters_text(dict(goal.filters or {})),
        "period": _value(goal.period),
        "recurring": bool(goal.recurring),
        "period_start": progress.period_start,
        "period_last": progress.period_end - timedelta(days=1),
        "current": fmt_value(progress.current, unit),
        # A time target as the goal's title words it ("4h", not "4h 00m").
        "target": (
            _goals()[0].duration_text(float(progress.target))
            if unit == "seconds"
            else fmt_value(progress.target, unit)
        ),
        "comparator": SYMBOL.get(_value(goal.comparator), _value(goal.comparator)),
        "n": f"n={denominator:,.0f}" if unit == "ratio" and denominator is not None else "",
        "status": status_chip(progress.status),
        "chart": chart_json(chart),
        "points": [{"day": p.day, "value": fmt_value(p.value, unit)} for p in points],
        "previous": [
            {
                "start": r.period_start,
                "last": r.period_end - timedelta(days=1),
                "value": fmt_value(r.value, unit),
                "status": status_chip(r.status),
            }
            for r in getattr(progress, "previous", []) or []
        ],
        "warnings": [WARNINGS.get(w, w) for w in getattr(progress, "warnings", []) or []],
        "notes": goal.notes,
        "version": goal.version,
    }


def dashboard_goals(db: Session, p: Principal) -> list[dict[str, Any]]:
    """Every active goal with its progress, for the top of the metrics dashboard (without the
    previous periods, which the dashboard does not show). A goal the service cannot compute
    (e.g. its metric was removed) is left out rather than failing the whole dashboard."""
    goals, _ = _goals()
    views = []
    for goal in goals.list_goals(db, p):
        try:
            progress = goals.progress(db, p, goal, goals.default_day(goal), history=False)
        except VigilError:
            continue
        views.append(progress_view(progress))
    return views


# --- the form -------------------------------------------------------------------------------


def blank_form() -> dict[str, str]:
    form = {name: "" for name in FORM_FIELDS}
    form.update(comparator="gte", period="month", recurring="1")
    for name in GOAL_FILTERS:
        form[f"f_{name}"] = ""
    return form


def form_of(goal: Any) -> dict[str, str]:
    """The edit form prefilled from a goal (a share shown as a percentage)."""
    metric = _value(goal.metric)
    target = float(goal.target)
    unit = _unit(metric)
    if unit == "seconds":
        shown = _goals()[0].duration_text(target)
    else:
        shown = f"{target * 100 if unit == 'ratio' else target:g}"
    form = blank_form()
    form.update(
        metric=metric,
        comparator=_value(goal.comparator),
        target=shown,
        period=_value(goal.period),
        starts_on=goal.starts_on.isoformat() if goal.starts_on else "",
        recurring="1" if goal.recurring else "",
        owner_id=str(goal.owner_id or ""),
        notes=goal.notes or "",
        version=str(goal.version),
    )
    for key, value in dict(goal.filters or {}).items():
        form[f"f_{key}"] = str(value)
    return form


def read_form(form: dict[str, str]) -> tuple[dict[str, Any], Errors]:
    """The service's input from the form's text, or field errors for what cannot be read."""
    errors: Errors = {}
    data: dict[str, Any] = {
        "metric": form["metric"],
        "comparator": form["comparator"],
        "period": form["period"],
        "recurring": bool(form.get("recurring")),
        "notes": form["notes"],
        "filters": {k: form[f"f_{k}"] for k in GOAL_FILTERS if form.get(f"f_{k}")},
    }
    if not form["metric"]:
        errors["metric"] = ["Choose the metric the goal is about."]
    unit = _unit(form["metric"])
    target = read_target(form["target"], unit)
    if target is None:
        errors["target"] = [
            "Give the time as 4h, 90m or 1h30m (or a number of seconds)."
            if unit == "seconds"
            else "Give the target as a number, e.g. 95 (for 95%)."
        ]
    else:
        data["target"] = target
    if form["starts_on"]:
        try:
            data["starts_on"] = date.fromisoformat(form["starts_on"])
        except ValueError:
            errors["starts_on"] = ["Give the first day as YYYY-MM-DD."]
    if form["owner_id"]:
        if form["owner_id"].isdigit() and 0 < int(form["owner_id"]) < 2**63:
            data["owner_id"] = int(form["owner_id"])
        else:
            errors["owner_id"] = ["Choose the owner from the list."]
    return data, errors


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def read_duration(text: str) -> float | None:
    """``4h``, ``90m``, ``1h30m``, ``1h 30m``, ``2d``, ``45s`` or a plain number of seconds;
    None for anything else (``4x``, ``h``, ``1h 30``)."""
    raw = text.strip().lower().replace(",", ".")
    if not raw:
        return None
    try:
        return _finite(float(raw))
    except ValueError:
        pass
    compact = raw.replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        return None
    return float(sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def _finite(value: float) -> float | None:
    return None if value != value or value in (float("inf"), float("-inf")) else value


def read_target(text: str, unit: str) -> float | None:
    """The form's target in the service's unit: a percentage for shares (95 or 95% -> 0.95),
    a duration for times, a plain number otherwise; None when it cannot be read."""
    if unit == "seconds":
        return read_duration(text)
    raw = text.strip().rstrip("%").strip().replace(",", ".")
    try:
        value = _finite(float(raw))
    except ValueError:
        return None
    if value is None:
        return None
    return value / 100 if unit == "ratio" else value


def _error_key(field: str | None) -> str:
    """Where a service refusal is shown: ``filters.queue`` on the queue select, an unknown
    field on the form as a whole."""
    if not field:
        return "general"
    if field.startswith("filters."):
        return "f_" + field.split(".", 1)[1]
    return field if field in FORM_FIELDS else "general"


def _validation_errors(exc: ValidationError) -> Errors:
    errors: Errors = {}
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ())]
        key = _error_key(".".join(loc[:2]) if loc[:1] == ["filters"] else (loc[0] if loc else None))
        errors.setdefault(key, []).append(str(e.get("msg", "not valid")))
    return errors


def _owners(db: Session) -> list[tuple[int, str]]:
    rows = db.execute(
        select(StaffUser.id, StaffUser.name)
        .where(StaffUser.active.is_(True))
        .order_by(StaffUser.name)
        .limit(500)
    )
    return [(int(i), str(n)) for i, n in rows]


def _metric_choices() -> list[dict[str, str]]:
    return [
        {"name": name, "label": str(d.label), "unit": str(d.unit)}
        for name, d in sorted(_metric_defs().items(), key=lambda kv: str(kv[1].label))
    ]


# --- pages ----------------------------------------------------------------------------------


def _notice(request: Request) -> dict[str, str] | None:
    key = request.query_params.get("notice")
    if key in NOTICES:
        kind, text = NOTICES[key]
        return {"kind": kind, "text": text}
    return None


def _render_list(
    request: Request,
    db: Session,
    who: ConsoleUser,
    *,
    form: dict[str, str] | None = None,
    errors: Errors | None = None,
    editing: Any = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    p.require(Permission.metrics_read)
    goals, _ = _goals()
    active = [progress_view(g) for g in goals.overview(db, p)]
    archived = [
        g for g in goals.list_goals(db, p, include_archived=True) if _value(g.status) == "archived"
    ]
    can_write = p.can(Permission.goals_write)
    return page(
        request,
        who,
        "goals/list.html",
        status_code=status_code,
        notice=_notice(request),
        goals=active,
        archived=archived,
        can_write=can_write,
        form=form or blank_form(),
        errors=errors or {},
        editing={"id": editing.id, "label": goal_label(editing)} if editing else None,
        metrics=_metric_choices() if can_write else [],
        owners=_owners(db) if can_write else [],
        options=filter_options(db, p) if can_write else {},
        goal_filters=GOAL_FILTERS,
        filter_labels=FILTER_LABELS,
        periods=PERIODS,
        comparators=COMPARATORS,
    )


@router.get("/goals")
def goals_page(request: Request, db: DB, who: Console) -> HTMLResponse:
    return _render_list(request, db, who)


@router.get("/goals/{goal_id}/edit")
def edit_page(request: Request, db: DB, who: Console, goal_id: GoalId) -> HTMLResponse:
    who.principal.require(Permission.goals_write)
    goals, _ = _goals()
    goal = goals.get_goal(db, who.principal, goal_id)
    return _render_list(request, db, who, form=form_of(goal), editing=goal)


def _form_fields(
    metric: str, comparator: str, target: str, period: str, starts_on: str, recurring: str,
    owner_id: str, notes: str, f_queue: str, f_policy: str, f_rule: str, f_locale: str,
    f_side: str,
) -> dict[str, str]:  # fmt: skip
    return {
        "metric": metric.strip(), "comparator": comparator.strip(), "target": target.strip(),
        "period": period.strip(), "starts_on": starts_on.strip(), "recurring": recurring,
        "owner_id": owner_id.strip(), "notes": notes, "f_queue": f_queue, "f_policy": f_policy,
        "f_rule": f_rule, "f_locale": f_locale, "f_side": f_side,
    }  # fmt: skip


F = Annotated[str, Form()]


@router.post("/goals")
def create(
    request: Request, db: DB, who: ConsolePost,
    metric: F = "", comparator: F = "gte", target: F = "", period: F = "month",
    starts_on: F = "", recurring: F = "", owner_id: F = "", notes: F = "",
    f_queue: F = "", f_policy: F = "", f_rule: F = "", f_locale: F = "", f_side: F = "",
) -> Response:  # fmt: skip
    who.principal.require(Permission.goals_write)
    goals, schemas = _goals()
    form = _form_fields(
        metric, comparator, target, period, starts_on, recurring, owner_id, notes,
        f_queue, f_policy, f_rule, f_locale, f_side,
    )  # fmt: skip
    data, errors = read_form(form)
    if not errors:
        try:
            goals.create_goal(db, who.principal, schemas.GoalIn.model_validate(data))
        except ValidationError as exc:
            errors = _validation_errors(exc)
        except VigilError as exc:
            db.rollback()
            if exc.status_code == 403:
                raise
            errors = {_error_key(exc.field): [exc.message]}
    if errors:
        return _render_list(request, db, who, form=form, errors=errors, status_code=422)
    return redirect("/goals?notice=created")


@router.post("/goals/{goal_id}")
def update(
    request: Request, db: DB, who: ConsolePost, goal_id: GoalId,
    metric: F = "", comparator: F = "gte", target: F = "", period: F = "month",
    starts_on: F = "", recurring: F = "", owner_id: F = "", notes: F = "",
    f_queue: F = "", f_policy: F = "", f_rule: F = "", f_locale: F = "", f_side: F = "",
    version: F = "",
) -> Response:  # fmt: skip
    who.principal.require(Permission.goals_write)
    goals, schemas = _goals()
    goal = goals.get_goal(db, who.principal, goal_id)
    form = _form_fields(
        metric, comparator, target, period, starts_on, recurring, owner_id, notes,
        f_queue, f_policy, f_rule, f_locale, f_side,
    )  # fmt: skip
    form["version"] = version
    data, errors = read_form(form)
    if version.isdigit():
        data["version"] = int(version)
    status_code = 422
    if not errors:
        try:
            goals.update_goal(db, who.principal, goal_id, schemas.GoalUpdate.model_validate(data))
        except ValidationError as exc:
            errors = _validation_errors(exc)
        except VigilError as exc:
            db.rollback()
            if exc.status_code in (403, 404):
                raise
            status_code = exc.status_code
            errors = {_error_key(exc.field): [exc.message]}
    if errors:
        return _render_list(
            request, db, who, form=form, errors=errors, editing=goal, status_code=status_code
        )
    return redirect("/goals?notice=updated")


@router.post("/goals/{goal_id}/archive")
def archive(
    request: Request, db: DB, who: ConsolePost, goal_id: GoalId, reason: F = ""
) -> Response:
    who.principal.require(Permission.goals_write)
    goals, _ = _goals()
    try:
        goals.archive_goal(db, who.principal, goal_id, reason=reason.strip() or None)
    except VigilError as exc:
        db.rollback()
        if exc.status_code != 409:
            raise
        return _render_list(request, db, who, errors={"general": [exc.message]}, status_code=409)
    return redirect("/goals?notice=archived")
