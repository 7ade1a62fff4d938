"""Console: the metrics dashboard and one metric in detail.

Every figure comes from the metrics service (``vigil.analytics.metrics``): one
``service.series`` call per panel, never a query of our own, so the dashboard, the API and
its CSV/XLSX downloads always show the same numbers.

The filter bar lives in the URL (``?period=28&interval=day&queue=...``), so a view can be
shared by copying the address. A panel whose metric cannot be cut by a filter that is set
leaves that filter out and says so on the panel ("not broken down by rule"): a figure is
never silently shown for a wider population than the one asked for without a word.

Charts are canvases (uPlot, ``static/js/metrics.js``) drawn from JSON embedded in a
``<script type="application/json">`` block (the console's CSP forbids inline script). Every
chart has the same numbers as an HTML table next to it: the accessible equivalent, and what
a browser without scripts shows.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts.models import Side
from vigil.api.deps import DB
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Queue
from vigil.communications.templating import LOCALES
from vigil.detection.rules.models import Rule
from vigil.kit import clock
from vigil.kit.errors import NotFound, VigilError
from vigil.policies.models import Policy
from vigil.web.auth import Console
from vigil.web.common import page
from vigil.web.render import human_delta

log = logging.getLogger("vigil.web.metrics")


def _engine() -> tuple[ModuleType, ModuleType]:
    """The metrics catalog and service, imported when a page is drawn rather than when the
    app is built: the console's other screens never depend on the analytics package
    importing cleanly."""
    from vigil.analytics.metrics import catalog, service

    return catalog, service


router = APIRouter(include_in_schema=False)

Errors = dict[str, list[str]]

# Fixed periods end with today (UTC) included; "custom" takes a first and a last day.
PERIODS: dict[str, int] = {"7": 7, "28": 28, "90": 90}
DEFAULT_PERIOD = "28"
INTERVALS = ("day", "week")
FILTERS = ("queue", "policy", "rule", "reviewer", "locale", "side")
FILTER_LABELS = {
    "queue": "queue",
    "policy": "policy",
    "rule": "rule",
    "reviewer": "reviewer",
    "locale": "language",
    "side": "side",
}
# "Split by" choices, worded as the filter bar words the same things.
GROUP_LABELS = {
    "queue": "Queue",
    "policy": "Policy",
    "rule": "Rule",
    "reviewer": "Reviewer",
    "locale": "Language",
    "side": "Side",
    "type": "Case type",
    "resolution": "Resolution",
    "age_band": "Age band",
    "action": "Action",
    "outcome": "Outcome",
    "reason": "Reason",
}


def group_label(key: str) -> str:
    return GROUP_LABELS.get(key, key.replace("_", " ").capitalize())


# The dashboard's panels by theme, in reading order: the headline figure of each question
# (medians; the p90s, maxima and breakdowns are one click away, under "More metrics").
THEMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("workload", "Workload", ("cases_opened", "cases_closed", "backlog", "backlog_age_median")),
    (
        "speed",
        "Speed",
        (
            "sla_attainment",
            "backlog_past_sla",
            "time_to_first_action_median",
            "time_to_decision_median",
            "handle_time_median",
        ),
    ),
    (
        "people",
        "People",
        ("decisions_per_hour", "qa_agreement_rate", "qa_kappa", "qa_message_quality"),
    ),
    (
        "outcomes",
        "Outcomes",
        (
            "appeal_rate",
            "overturn_rate",
            "automation_rate",
            "rule_precision",
            "enforcement_actions",
        ),
    ),
    (
        "identity",
        "Identity",
        (
            "identity_verifications",
            "identity_pass_rate",
            "identity_reject_rate",
            "identity_review_rate",
        ),
    ),
    ("disputes", "Disputes", ("disputes_opened", "disputes_resolved", "dispute_resolution_median")),
)
DASHBOARD = frozenset(name for _, _, names in THEMES for name in names)
# A breakdown worth opening a metric's detail page with (a metric that means little unsplit).
DETAIL_GROUP_BY = {"identity_reasons": "reason", "enforcement_actions": "action"}
# The detail page charts the largest groups only (one line each); the table has them all.
TOP_GROUPS = 8
OPTION_LIMIT = 500


# --- the filter bar -------------------------------------------------------------------------


@dataclass
class View:
    """What the URL asks for, read and checked: the window is ``[start, end)`` in UTC."""

    period: str
    start: datetime
    end: datetime
    interval: str
    filters: dict[str, str | int]
    form: dict[str, str]
    errors: Errors = field(default_factory=dict)

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def query(self, **extra: str | None) -> str:
        """This view's query string (only what is set), with ``extra`` changes."""
        params = {k: v for k, v in self.form.items() if v}
        if self.period != "custom":
            params.pop("start", None)
            params.pop("end", None)
        for key, value in extra.items():
            if value:
                params[key] = value
            else:
                params.pop(key, None)
        return urlencode(params)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def read_view(request: Request, p: Principal) -> View:
    """The filter bar's values from the query string. A bad value is a field error shown on
    the bar (and the page answers 422); the figures then show the default window, never a
    half-applied filter."""
    q = request.query_params
    errors: Errors = {}
    form = {
        name: (q.get(name) or "").strip()
        for name in ("period", "start", "end", "interval", *FILTERS)
    }
    today = clock.now().astimezone(UTC).date()
    period = form["period"] or DEFAULT_PERIOD
    if period not in PERIODS and period != "custom":
        errors["period"] = ["Choose 7, 28 or 90 days, or your own dates."]
        period = DEFAULT_PERIOD
    form["period"] = period
    end = _midnight(today + timedelta(days=1))
    start = end - timedelta(days=PERIODS.get(period, 28))
    if period == "custom":
        first, last = _day(form["start"]), _day(form["end"])
        if first is None:
            errors["start"] = ["Give the first day as YYYY-MM-DD."]
        if last is None:
            errors["end"] = ["Give the last day as YYYY-MM-DD."]
        if first is not None and last is not None:
            if last < first:
                errors["end"] = ["The last day is before the first day."]
            else:
                start, end = _midnight(first), _midnight(last + timedelta(days=1))
    interval = form["interval"] or "day"
    if interval not in INTERVALS:
        errors["interval"] = ["Choose by day or by week."]
        interval = "day"
    # The service refuses a longer window; said once on the bar rather than on every panel.
    service = _engine()[1]
    longest = service.MAX_DAYS_BY_DAY if interval == "day" else service.MAX_DAYS_BY_WEEK
    if (end - start).days > longest:
        errors["end"] = [f"At most {longest} days by {interval}: choose a shorter period."]
        end = _midnight(today + timedelta(days=1))
        start = end - timedelta(days=PERIODS[DEFAULT_PERIOD])
    form["interval"] = interval
    filters: dict[str, str | int] = {}
    for name in FILTERS:
        value = form[name]
        if not value:
            continue
        if name == "reviewer":
            if not value.isdigit() or not 0 < int(value) < 2**63:
                errors["reviewer"] = ["Choose a reviewer from the list."]
                continue
            if int(value) != p.staff_id and not p.can(Permission.metrics_reviewers):
                errors["reviewer"] = ["You can see your own figures only."]
                continue
            filters[name] = int(value)
        else:
            filters[name] = value[:200]
    return View(period, start, end, interval, filters, form, errors)


@dataclass
class Option:
    value: str
    label: str


def filter_options(db: Session, p: Principal) -> dict[str, list[Option]]:
    """The filter bar's choices, from the database. Someone who may not see other reviewers'
    figures is offered only themselves; someone who may not see legal-tier cases is not
    offered the legal queues."""
    visible = select(Queue.slug, Queue.name)
    if not p.can(Permission.legal_cases):
        # Legal-tier cases never count for them: a legal queue would always show nothing.
        visible = visible.where(Queue.tier != Tier.legal)
    queues = db.execute(visible.order_by(Queue.name).limit(OPTION_LIMIT))
    policies = db.scalars(select(Policy.code).order_by(Policy.code).limit(OPTION_LIMIT))
    rules = db.scalars(select(Rule.name).order_by(Rule.name).limit(OPTION_LIMIT))
    if p.can(Permission.metrics_reviewers):
        staff = db.execute(
            select(StaffUser.id, StaffUser.name)
            .where(StaffUser.active.is_(True))
            .order_by(StaffUser.name)
            .limit(OPTION_LIMIT)
        )
    else:
        staff = db.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id == p.staff_id))
    return {
        "queue": [Option(slug, name) for slug, name in queues],
        "policy": [Option(code, code.replace("_", " ")) for code in policies],
        "rule": [Option(name, name) for name in rules],
        "reviewer": [Option(str(i), name) for i, name in staff],
        "locale": [Option(code, code) for code in LOCALES],
        "side": [Option(s.value, s.value) for s in Side],
    }


# --- figures --------------------------------------------------------------------------------


def fmt_value(value: float | None, unit: str) -> str:
    """A figure as a person reads it: 96.4%, 2h 05m, 1,204, 3.2 / h."""
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return human_delta(timedelta(seconds=float(value)))
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if unit == "per_hour":
        return f"{value:.1f} / h"
    return f"{value:.2f}"


def _n(point: Any) -> str:
    """The denominator of a rate, as "n=120" (empty when the figure has none)."""
    denominator = getattr(point, "denominator", None)
    if denominator is None:
        return ""
    return f"n={denominator:,.0f}"


def epoch(day: date) -> int:
    return int(_midnight(day).timestamp())


def _label(day: date, interval: str) -> str:
    return f"week of {day:%d %b %Y}" if interval == "week" else f"{day:%a %d %b %Y}"


def chart_data(
    series: Any, unit: str, *, groups: list[Any] | None = None, target: float | None = None
) -> dict[str, Any]:
    """What ``metrics.js`` draws: x (bucket starts, Unix seconds), one or more lines, an
    optional target line. Counts are bars when there is a single line."""
    lines: list[dict[str, Any]]
    if groups:
        x = [epoch(b.start) for b in groups[0].buckets]
        lines = [{"label": str(g.label), "values": [b.value for b in g.buckets]} for g in groups]
    else:
        x = [epoch(b.start) for b in series.buckets]
        lines = [{"label": str(series.metric.label), "values": [b.value for b in series.buckets]}]
    kind = "bars" if unit == "count" and len(lines) == 1 else "line"
    return {"x": x, "lines": lines, "unit": unit, "kind": kind, "target": target}


def chart_json(data: dict[str, Any]) -> str:
    """JSON safe inside a <script> block: no "<" at all, so nothing can end the block."""
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def _count(point: Any) -> str:
    denominator = getattr(point, "denominator", None)
    return "" if denominator is None else f"{denominator:,.0f}"


def _table(
    series: Any, unit: str, interval: str, groups: list[Any] | None, group_by: str | None = None
) -> dict[str, Any]:
    """The chart's numbers in long form: one row per bucket (and group), the value and the
    count it is taken of; with groups, each group's whole-period figure too."""
    if groups:
        rows = [
            {
                "bucket": _label(b.start, interval),
                "group": str(g.label),
                "value": fmt_value(b.value, unit),
                "n": _count(b),
            }
            for i in range(len(groups[0].buckets))
            for g in groups
            for b in (g.buckets[i],)
        ]
        total = [
            {"group": str(g.label), "value": fmt_value(g.total.value, unit), "n": _count(g.total)}
            for g in groups
        ]
        label = group_label(group_by or "group")
        return {"grouped": True, "group_label": label, "rows": rows, "total": total}
    rows = [
        {"bucket": _label(b.start, interval), "value": fmt_value(b.value, unit), "n": _count(b)}
        for b in series.buckets
    ]
    return {"grouped": False, "rows": rows, "total": []}


def _unsupported(definition: Any, view: View) -> list[str]:
    return [FILTER_LABELS[k] for k in view.filters if k not in definition.filters]


def _supported(definition: Any, view: View) -> dict[str, str | int]:
    return {k: v for k, v in view.filters.items() if k in definition.filters}


def more_metrics() -> list[dict[str, str]]:
    """Catalog metrics that have no dashboard panel, with a link to their detail page."""
    return [
        {
            "name": d.name,
            "label": str(d.label),
            "group_by": DETAIL_GROUP_BY.get(d.name, ""),
        }
        for d in sorted(_engine()[0].METRICS.values(), key=lambda d: str(d.label))
        if d.name not in DASHBOARD
    ]


def panel(db: Session, p: Principal, definition: Any, view: View) -> dict[str, Any]:
    """One dashboard panel: one call to the service, the headline, chart data and table.
    A refusal by the service (a permission, a window) is shown on the panel, not as a 500."""
    unit = str(definition.unit)
    out: dict[str, Any] = {
        "name": definition.name,
        "label": definition.label,
        "description": definition.description,
        "unit": unit,
        "better": definition.better,
        "unsupported": _unsupported(definition, view),
        "error": None,
    }
    _, metrics = _engine()
    try:
        query = metrics.parse_query(
            definition.name, view.start, view.end, view.interval, _supported(definition, view), None
        )
        series = metrics.series(db, p, query)
    except VigilError as exc:
        out["error"] = exc.message
        return out
    out["headline"] = fmt_value(series.total.value, unit)
    out["n"] = _n(series.total)
    out["chart"] = chart_json(chart_data(series, unit))
    out["table"] = _table(series, unit, view.interval, None)
    return out


def api_query(view: View, definition: Any, group_by: str | None) -> str:
    """The metrics API's query string for this view (its downloads accept the console's
    session): the window as UTC timestamps, the filters, the split."""
    params: dict[str, str] = {
        "start": view.start.isoformat(),
        "end": view.end.isoformat(),
        "interval": view.interval,
    }
    params.update({k: str(v) for k, v in _supported(definition, view).items()})
    if group_by:
        params["group_by"] = group_by
    return urlencode(params)


def _definition(name: str) -> Any:
    definition = _engine()[0].METRICS.get(name)
    if definition is None:
        raise NotFound("no such metric", code="unknown_metric", field="name")
    return definition


def _goals_section(db: Session, p: Principal) -> list[dict[str, Any]]:
    """The goals at the top of the dashboard (see ``vigil.web.goals``)."""
    from vigil.web.goals import dashboard_goals

    return dashboard_goals(db, p)


# --- pages ----------------------------------------------------------------------------------


@router.get("/metrics")
def dashboard(request: Request, db: DB, who: Console) -> HTMLResponse:
    p = who.principal
    p.require(Permission.metrics_read)
    started = time.perf_counter()
    view = read_view(request, p)
    catalog, _ = _engine()
    themes = [
        {
            "key": key,
            "title": title,
            "panels": [
                panel(db, p, catalog.METRICS[name], view)
                for name in names
                if name in catalog.METRICS
            ],
        }
        for key, title, names in THEMES
    ]
    goals = _goals_section(db, p)
    response = page(
        request,
        who,
        "metrics/dashboard.html",
        status_code=422 if view.errors else 200,
        view=view,
        errors=view.errors,
        options=filter_options(db, p),
        periods=PERIODS,
        themes=[t for t in themes if t["panels"]],
        more=more_metrics(),
        goals=goals,
        can_goals=p.can(Permission.goals_write),
    )
    log.info("metrics dashboard rendered in %.0f ms", (time.perf_counter() - started) * 1000)
    return response


@router.get("/metrics/{name}")
def detail(request: Request, db: DB, who: Console, name: str) -> HTMLResponse:
    p = who.principal
    p.require(Permission.metrics_read)
    definition = _definition(name)
    view = read_view(request, p)
    unit = str(definition.unit)
    group_by = (request.query_params.get("group_by") or "").strip() or None
    errors = dict(view.errors)
    if group_by is not None and group_by not in definition.group_by:
        errors["group_by"] = [f"{definition.label} is not broken down by {group_by}."]
        group_by = None
    if group_by == "reviewer" and not p.can(Permission.metrics_reviewers):
        errors["group_by"] = ["You can see your own figures only."]
        group_by = None
    _, metrics = _engine()
    context: dict[str, Any] = {
        "error": None, "chart": None, "table": None, "headline": "—", "legend": [],
    }  # fmt: skip
    try:
        query = metrics.parse_query(
            definition.name, view.start, view.end, view.interval,
            _supported(definition, view), group_by,
        )  # fmt: skip
        series = metrics.series(db, p, query)
    except VigilError as exc:
        context["error"] = exc.message
        if exc.field:
            errors.setdefault(exc.field, [exc.message])
    else:
        groups = list(series.groups or []) if group_by else []
        top = sorted(groups, key=lambda g: -(g.total.value or 0))[:TOP_GROUPS]
        context.update(
            headline=fmt_value(series.total.value, unit),
            n=_n(series.total),
            chart=chart_json(chart_data(series, unit, groups=top or None)),
            table=_table(series, unit, view.interval, groups or None, group_by),
            legend=[str(g.label) for g in top],
            charted=len(top),
            grouped=len(groups),
        )
    download = api_query(view, definition, group_by)
    return page(
        request,
        who,
        "metrics/detail.html",
        status_code=422 if errors else 200,
        view=view,
        errors=errors,
        options=filter_options(db, p),
        periods=PERIODS,
        metric=definition,
        unit=unit,
        group_by=group_by,
        group_choices=sorted(
            ((g, group_label(g)) for g in definition.group_by), key=lambda c: c[1]
        ),
        group_by_label=group_label(group_by).lower() if group_by else "",
        unsupported=_unsupported(definition, view),
        csv_url=f"/v1/metrics/{definition.name}?{download}&format=csv",
        xlsx_url=f"/v1/metrics/{definition.name}?{download}&format=xlsx",
        filter_labels=FILTER_LABELS,
        **context,
    )
