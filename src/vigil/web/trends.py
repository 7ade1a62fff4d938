"""Console: trend alerts and emerging clusters, the policy lead's inbox of what is changing.

- ``/trends``: open alerts first (each a sentence: "report reason = scam up 4.2x since Tue
  14:00 (observed 63 vs 15 expected)", its top contributor, its status), then the triaged
  ones, newest first, filtered by status and dimension; the emerging clusters of similar
  texts; and a small explorer of the counts per category against their weekly baseline.
- ``/trends/alerts/{id}``: the alert's chart (observed against the expected band over two
  weeks, the start marked), its size, the values of the other dimensions that make up the
  rise, sample cases, its history, and the actions: acknowledge, dismiss (with a reason),
  escalate into an incident.
- ``/trends/clusters/{id}``: a cluster's representative examples, counts, history, actions.
- ``/trends/count``: the header's badge of open alerts.

Views are thin: every change goes through ``vigil.analytics.trends.service``,
``vigil.analytics.clusters.service`` or ``vigil.analytics.incidents.service`` under the
logged-in staff member's principal, in the request's transaction; the services audit. A refused
form is rolled back and the page shown again with the problem under its field.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.analytics.clusters import service as clusters
from vigil.analytics.clusters.models import ClusterStatus, TextCluster
from vigil.analytics.incidents import service as incidents
from vigil.analytics.trends import service as trends
from vigil.analytics.trends import wording
from vigil.analytics.trends.models import DIMENSIONS, AlertStatus, Granularity, TrendAlert
from vigil.api.deps import DB
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.cases import service as case_service
from vigil.cases.models import Case
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, VigilError
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.common import notice_of, page, redirect

router = APIRouter(include_in_schema=False)

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ClusterId = Annotated[int, Path(ge=1, le=2**63 - 1)]
OPEN_PAGE = 50
TRIAGED_PAGE = 20
CLUSTERS_SHOWN = 10
# The explorer's windows: two weeks of hours, eight weeks of days (both within what
# ``trends.service.counts`` accepts, and a readable number of points).
EXPLORER_WINDOW = {
    "hour": timedelta(days=14),
    "day": timedelta(days=56),
    "24h": timedelta(days=14),  # rolling 24 hours to the latest whole hour (as day alerts)
}

ALERT_STATUS = {
    AlertStatus.open: ("open", "warning"),
    AlertStatus.acknowledged: ("acknowledged", ""),
    AlertStatus.escalated: ("escalated", "tr-escalated"),
    AlertStatus.dismissed: ("dismissed", ""),
    AlertStatus.resolved: ("resolved", "ok"),
}
CLUSTER_STATUS = {
    ClusterStatus.new: ("new", "warning"),
    ClusterStatus.acknowledged: ("acknowledged", ""),
    ClusterStatus.escalated: ("escalated", "tr-escalated"),
    ClusterStatus.dismissed: ("dismissed", ""),
}
# The inbox's status filter: "inbox" is open ones first, then the rest.
STATUS_OPTIONS = [("inbox", "Open first, then the rest")] + [
    (s.value, label) for s, (label, _) in ALERT_STATUS.items()
]
NOTICES = {
    "acknowledged": ("ok", "Alert acknowledged."),
    "dismissed": ("ok", "Alert dismissed; the reason is recorded."),
    "cluster_acknowledged": ("ok", "Cluster acknowledged."),
    "cluster_dismissed": ("ok", "Cluster dismissed; the reason is recorded."),
}
TYPE_LABELS = {"report_filed": "report", "message_sent": "message"}
# A triage move the state machine refuses: someone else triaged it first, or it resolved.
ILLEGAL_WORDS = (
    "This can no longer be done: it has changed since the page was loaded "
    "(see its status and history)"
)


# --- words and chart data -----------------------------------------------------------------------

DIMENSION_LABELS = {
    "report_reason": "report reason",
    "rule": "rule",
    "policy": "policy",
    "country": "country",
    "signup_cohort": "signup cohort",
    "payment_method": "payment method",
}


def dimension_label(dimension: str) -> str:
    return DIMENSION_LABELS.get(dimension, dimension.replace("_", " "))


def bucket_time(key: str) -> datetime | None:
    """The UTC start of a bucket key: hour ``2026-11-21T22``, day ``2026-11-21``."""
    try:
        if "T" in key:
            return datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        return datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def since_label(at: datetime, granularity: Granularity) -> str:
    """'Tue 14:00' within the last week, 'Tue 10 Nov 14:00' before; days: 'Tue 17 Nov'."""
    at = clock.as_utc(at)
    if granularity == Granularity.day:
        return f"{at:%a %d %b}"
    if clock.now() - at < timedelta(days=6):
        return f"{at:%a %H:%M}"
    return f"{at:%a %d %b %H:%M}"


def _bucket_label(key: str) -> str:
    at = bucket_time(key)
    if at is None:
        return key
    return f"{at:%a %d %b %H:00}" if "T" in key else f"{at:%a %d %b}"


def _epoch(key: str) -> int | None:
    at = bucket_time(key)
    return int(at.timestamp()) if at else None


def alert_chart(a: TrendAlert, points: list[tuple[str, int, float]]) -> dict[str, Any]:
    """Observed against expected, with the usual range shaded: the expected count up to three
    Poisson standard deviations above it (what a quiet series stays under), and the start of
    the rise marked. The table lists the same buckets, newest first."""
    keys = [k for k, _, _ in points if _epoch(k) is not None]
    by_key = {k: (o, e) for k, o, e in points}
    observed = [by_key[k][0] for k in keys]
    expected = [round(float(by_key[k][1]), 2) for k in keys]
    upper = [round(e + 3 * math.sqrt(max(e, 0.0)), 2) for e in expected]
    daily = Granularity(a.granularity) is Granularity.day
    # A day alert's buckets are rolling 24 hours ending at the hour its last one ended
    # (keyed by their first hour): labelled by their end, "24 h to 22:00, 21 Nov".
    if daily:
        title = "Count per 24 hours (rolling, UTC), observed and expected"
        first = "24 h to (UTC)"
    else:
        title = "Count per hour (UTC), observed and expected"
        first = "Hour (UTC)"

    def row_label(k: str) -> str:
        at = bucket_time(k)
        if not daily or at is None:
            return _bucket_label(k)
        end = at + timedelta(days=1)
        return f"{end:%H:%M}, {end:%a} {end.day} {end:%b}"

    return {
        "id": f"alert-{a.id}-chart",
        "title": title,
        "labels": [first, "Observed", "Expected"],
        "rows": [
            [row_label(k), o, f"{e:.1f}"]
            for k, o, e in reversed(list(zip(keys, observed, expected, strict=True)))
        ],
        "json": {
            # Points at the end of their bucket for a day alert (the 24 h to that hour).
            "x": [(_epoch(k) or 0) + (86400 if daily else 0) for k in keys],
            "series": [
                {"label": "Usual range", "values": upper, "role": "upper"},
                {"label": "Expected", "values": expected, "role": "expected"},
                {"label": "Observed", "values": observed, "role": "observed"},
            ],
            "start": _epoch(a.start_bucket),
        },
        "legend": [
            ("", "observed"),
            (
                "tr-expected",
                "expected (median of the same hour of the week, previous weeks)"
                if not daily
                else "expected (median of the same 24 hours, previous weeks)",
            ),
            ("tr-band", "usual range"),
            ("tr-start", "start of the rise"),
        ],
        "height": 240,
    }


def explorer_chart(series: Any, dimension: str, interval: str, value: str) -> dict[str, Any]:
    """One value: observed against its expected count. Top values: one line each."""
    keys = [k for k in series.buckets if _epoch(k) is not None]
    index = {k: i for i, k in enumerate(series.buckets)}
    lines: list[dict[str, Any]] = []
    legend: list[tuple[str, str]] = []
    rolling = interval == "24h"
    labels = [{"hour": "Hour (UTC)", "24h": "24 h to (UTC)"}.get(interval, "Day (UTC)")]
    columns: list[list[Any]] = []
    if value and series.series:
        s = series.series[0]
        obs = [s.counts[index[k]] for k in keys]
        exp = [round(float(s.expected[index[k]]), 2) for k in keys]
        lines = [
            {"label": "Expected", "values": exp, "role": "expected"},
            {"label": s.value, "values": obs, "role": "observed"},
        ]
        legend = [("", f"{s.value}: observed"), ("tr-expected", "expected")]
        labels += ["Observed", "Expected"]
        columns = [obs, [f"{e:.1f}" for e in exp]]
    else:
        for n, s in enumerate(series.series):
            obs = [s.counts[index[k]] for k in keys]
            lines.append({"label": s.value, "values": obs, "role": "value"})
            legend.append((f"tr-c{n}" if n else "", s.value))
            labels.append(s.value)
            columns.append(obs)

    def row_label(k: str) -> str:
        at = bucket_time(k)
        if not rolling or at is None:
            return _bucket_label(k)
        end = at + timedelta(days=1)  # a rolling 24 h is named by its end
        return f"{end:%H:%M}, {end:%a} {end.day} {end:%b}"

    rows = [
        [row_label(k), *(col[i] for col in columns)] for i, k in reversed(list(enumerate(keys)))
    ]
    subject = f"{dimension_label(dimension)} = {value}" if value else dimension_label(dimension)
    per = "24 hours (rolling, as day alerts count)" if rolling else interval
    shift = 86400 if rolling else 0
    return {
        "id": "explorer-chart",
        "title": f"Count per {per} by {subject}",
        "labels": labels,
        "rows": rows,
        "json": {"x": [(_epoch(k) or 0) + shift for k in keys], "series": lines, "start": None},
        "legend": legend,
        "height": 220,
    }


def _notice(request: Request) -> dict[str, str] | None:
    key = request.query_params.get("notice")
    if key in NOTICES:
        kind, text = NOTICES[key]
        return {"kind": kind, "text": text}
    return notice_of(request)


def _nav(who: ConsoleUser, current: str) -> dict[str, Any]:
    return {"current": current, "can_reports": who.principal.can(Permission.reports_read)}


def _names(db: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = db.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(wanted)))
    return {staff_id: name for staff_id, name in rows}


def _pct(share: Any) -> int:
    try:
        value = float(share)
    except (TypeError, ValueError):
        return 0
    return 0 if not math.isfinite(value) else max(0, min(100, round(value * 100)))


# --- an alert in words ------------------------------------------------------------------------


def size_label(a: TrendAlert) -> str:
    """'4.2x', or 'new' for a value with no history in its baseline weeks."""
    return wording.size(a)


def headline(a: TrendAlert) -> str:
    """The alert's sentence, as in its email and incident (``wording.sentence``)."""
    return wording.sentence(a)


def alert_headline(db: Session, who: ConsoleUser, alert_id: int) -> str:
    """The headline of an alert the reader may see (for links from incidents)."""
    return headline(trends.get_alert(db, who.principal, alert_id))


def _contributors(a: TrendAlert) -> list[dict[str, Any]]:
    out = []
    for c in a.contributors or []:
        if not isinstance(c, dict):
            continue
        out.append(
            {
                "dimension": dimension_label(str(c.get("dimension", ""))),
                "value": str(c.get("value", "")),
                "observed": c.get("observed"),
                "expected": c.get("expected"),
                "pct": _pct(c.get("share")),
            }
        )
    return out


def _top(a: TrendAlert) -> str | None:
    top = _contributors(a)[:1]
    if not top:
        return None
    c = top[0]
    return f"{c['dimension']} = {c['value']} ({c['pct']}%)"


def _alert_row(a: TrendAlert) -> dict[str, Any]:
    status = AlertStatus(a.status)
    label, kind = ALERT_STATUS[status]
    return {
        "id": a.id,
        "headline": headline(a),
        "size": size_label(a),
        "granularity": Granularity(a.granularity).value,
        "top": _top(a),
        "status": status.value,
        "status_label": label,
        "status_kind": kind,
        "closed": status in (AlertStatus.dismissed, AlertStatus.resolved),
        "last_seen_at": a.last_seen_at,
    }


def _cluster_row(c: TextCluster) -> dict[str, Any]:
    status = ClusterStatus(c.status)
    label, kind = CLUSTER_STATUS[status]
    example = next((e for e in c.examples or [] if isinstance(e, dict) and e.get("text")), None)
    return {
        "id": c.id,
        "label": c.label,
        "size": c.size,
        "accounts": c.accounts,
        "first_seen_at": c.first_seen_at,
        "last_seen_at": c.last_seen_at,
        "example": str(example["text"]) if example else None,
        "status_label": label,
        "status_kind": kind,
        "closed": status == ClusterStatus.dismissed,
    }


# --- the inbox --------------------------------------------------------------------------------


@router.get("/trends/count")
def open_count(db: DB, who: Console) -> HTMLResponse:
    """The badge next to "Trends" in the header: alerts nobody has triaged yet."""
    who.principal.require(Permission.trends_read)
    n = trends.open_alert_count(db, who.principal)
    if not n:
        return HTMLResponse('<span class="count-none">(no open alert)</span>')
    label = "99+" if n > 99 else str(n)
    return HTMLResponse(
        f'<span class="chip warning" id="trends-badge">{label}'
        f'<span class="skip"> open {"alert" if n == 1 else "alerts"}</span></span>'
    )


@router.get("/trends")
def inbox(
    request: Request, db: DB, who: Console, status: str = "inbox", dimension: str = "",
    cursor: str | None = None, more: str | None = None, clusters_cursor: str | None = None,
    explore: str = "report_reason", interval: str = "hour", value: str = "",
) -> Response:  # fmt: skip
    """``cursor`` pages the open alerts (or the one status chosen), ``more`` the triaged ones
    under them; ``explore``/``interval``/``value`` drive the counts explorer."""
    p = who.principal
    p.require(Permission.trends_read)
    errors: dict[str, str] = {}
    if status not in {v for v, _ in STATUS_OPTIONS}:
        errors["status"], status = "Choose a status from the list.", "inbox"
    if dimension and dimension not in DIMENSIONS:
        errors["dimension"], dimension = "Choose a dimension from the list.", ""
    first: list[TrendAlert] = []
    rest: list[TrendAlert] = []
    first_next = rest_next = None
    try:
        chosen: Any = AlertStatus.open if status == "inbox" else AlertStatus(status)
        if more is None:
            found = trends.list_alerts(
                db, p, status=chosen, dimension=dimension or None, cursor=cursor, limit=OPEN_PAGE
            )
            first, first_next = list(found.items), found.next_cursor
        if status == "inbox" and (more is not None or not first_next):
            triaged = [s for s in AlertStatus if s != AlertStatus.open]
            found = trends.list_alerts(
                db, p, status=triaged, dimension=dimension or None, cursor=more or None,
                limit=TRIAGED_PAGE,
            )  # fmt: skip
            rest, rest_next = list(found.items), found.next_cursor
    except InvalidInput as exc:
        db.rollback()
        errors["cursor"] = exc.message[:1].upper() + exc.message[1:] + "."
    keep = {"status": status, "dimension": dimension}
    cluster_rows, cluster_next = _clusters(db, who, clusters_cursor, errors)
    chart = _explorer(db, who, explore, interval, value, errors)
    return page(
        request, who, "trends/inbox.html", status_code=422 if errors else 200,
        first=[_alert_row(a) for a in first], rest=[_alert_row(a) for a in rest],
        first_url=_url({**keep, "cursor": first_next}) if first_next else None,
        rest_url=_url({**keep, "more": rest_next}) if rest_next else None,
        status=status, dimension=dimension, status_options=STATUS_OPTIONS,
        dimension_options=[("", "Every dimension")]
        + [(d, dimension_label(d)) for d in DIMENSIONS],
        errors=errors,
        clusters=cluster_rows,
        clusters_url=_url({**keep, "clusters_cursor": cluster_next}) if cluster_next else None,
        explorer=chart, nav=_nav(who, "trends"), notice=_notice(request),
        more_page=more is not None,
        can_write=p.can(Permission.incidents_write),
    )  # fmt: skip


def _url(params: dict[str, Any]) -> str:
    return "/trends?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _clusters(
    db: Session, who: ConsoleUser, cursor: str | None, errors: dict[str, str]
) -> tuple[list[dict[str, Any]], str | None]:
    try:
        items, next_cursor = clusters.list_clusters(
            db, who.principal, cursor=cursor, limit=CLUSTERS_SHOWN
        )
    except InvalidInput as exc:
        db.rollback()
        errors["clusters"] = exc.message[:1].upper() + exc.message[1:] + "."
        return [], None
    return [_cluster_row(c) for c in items], next_cursor


def _explorer(
    db: Session,
    who: ConsoleUser,
    dimension: str,
    interval: str,
    value: str,
    errors: dict[str, str],
) -> dict[str, Any]:
    """The counts explorer: the top values of a dimension (or one value) against their
    weekly-seasonal baseline, over the last two weeks of hours or eight weeks of days."""
    if dimension not in DIMENSIONS:
        errors["explore"], dimension = "Choose a dimension from the list.", "report_reason"
    if interval not in EXPLORER_WINDOW:
        errors["interval"], interval = "Choose hours, days or rolling 24 hours.", "hour"
    value = value.strip()[:200]
    # Up to the end of the bucket now filling (its count is still growing), so today's
    # reports show today.
    now = clock.now()
    if interval == "hour":
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    elif interval == "24h":
        end = now.replace(minute=0, second=0, microsecond=0)  # whole hours only
    else:
        end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    start = end - EXPLORER_WINDOW[interval]
    try:
        series = trends.counts(
            db, who.principal, dimension=dimension, value=value or None, interval=interval,
            start=start, end=end, limit=5,
        )  # fmt: skip
    except InvalidInput as exc:
        db.rollback()
        errors["explore"] = exc.message[:1].upper() + exc.message[1:] + "."
        series = None
    return {
        "dimension": dimension,
        "dimension_label": dimension_label(dimension),
        "interval": interval,
        "value": value,
        "options": [(d, DIMENSION_LABELS[d]) for d in DIMENSIONS],
        "chart": explorer_chart(series, dimension, interval, value) if series else None,
        "totals": _totals(series) if series else [],
        "start": start,
        "end": end,
    }


def _totals(series: Any) -> list[dict[str, Any]]:
    out = []
    for s in series.series:
        observed = sum(s.counts)
        expected = sum(s.expected)
        ratio = f"{observed / expected:.1f}x" if expected >= 0.5 else "—"
        out.append(
            {"value": s.value, "observed": observed, "expected": f"{expected:.0f}", "ratio": ratio}
        )
    return out


# --- one alert --------------------------------------------------------------------------------


def _history(db: Session, a: TrendAlert) -> list[dict[str, Any]]:
    names = _names(db, {a.acknowledged_by_id, a.dismissed_by_id, a.escalated_by_id})

    def who(staff_id: int | None) -> str:
        return names.get(staff_id or 0, "someone no longer on staff") if staff_id else "Vigil"

    steps: list[dict[str, Any]] = [
        {"at": a.opened_at, "who": "Vigil", "what": "raised the alert", "note": None}
    ]
    if a.acknowledged_at:
        steps.append(
            {"at": a.acknowledged_at, "who": who(a.acknowledged_by_id), "what": "acknowledged",
             "note": a.ack_note}
        )  # fmt: skip
    if a.dismissed_at:
        steps.append(
            {"at": a.dismissed_at, "who": who(a.dismissed_by_id), "what": "dismissed",
             "note": a.dismiss_reason}
        )  # fmt: skip
    if a.escalated_at:
        steps.append(
            {"at": a.escalated_at, "who": who(a.escalated_by_id),
             "what": "escalated into an incident", "note": None, "incident_id": a.incident_id}
        )  # fmt: skip
    if a.resolved_at:
        steps.append(
            {"at": a.resolved_at, "who": "Vigil", "what": "resolved: back within the baseline",
             "note": a.resolve_note}
        )  # fmt: skip
    steps.sort(key=lambda s: s["at"])
    return steps


def _cases(db: Session, who: ConsoleUser, ids: list[int]) -> list[dict[str, Any]]:
    """Case links for ids the reader may see, in the order given (bounded lists only)."""
    if not ids:
        return []
    rows = {c.id: c for c in db.scalars(select(Case).where(Case.id.in_(ids[:50])))}
    out = []
    for case_id in ids[:50]:
        c = rows.get(case_id)
        if c is None or not case_service.visible(who.principal, c):
            continue
        out.append(
            {
                "id": c.id,
                "ref": f"C-{c.id}",
                "title": c.title,
                "status": str(getattr(c.status, "value", c.status)).replace("_", " "),
                "opened_at": c.opened_at,
            }
        )
    return out


def _reconcile_url(a: TrendAlert) -> str:
    """The explorer showing the hours that make up the alert's latest bucket, so its figure
    can be checked against the counts (a day alert is the sum of 24 hourly counts)."""
    interval = "24h" if Granularity(a.granularity) is Granularity.day else "hour"
    return _url({"explore": a.dimension, "interval": interval, "value": a.value}) + "#explorer"


def _alert_page(
    request: Request,
    db: Session,
    who: ConsoleUser,
    alert_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    a = trends.get_alert(db, p, alert_id)
    status = AlertStatus(a.status)
    granularity = Granularity(a.granularity)
    hours = 24 * 14 if granularity == Granularity.hour else 24 * 56
    points = trends.alert_series(db, p, alert_id, hours=hours)
    row = _alert_row(a)
    live = status in (AlertStatus.open, AlertStatus.acknowledged)
    can_triage = p.can(Permission.trends_triage)
    title = f"{dimension_label(a.dimension)[:1].upper()}{dimension_label(a.dimension)[1:]}"
    title += f" = {a.value} up {size_label(a)} since {wording.when(a.started_at)}"
    if size_label(a) == "new":
        title = f"New: {dimension_label(a.dimension)} = {a.value}"
    form_values = {"escalate-title": title[:200]}
    form_values.update(values or {})
    return page(
        request, who, "trends/alert.html", status_code=status_code,
        a=row, alert=a, chart=alert_chart(a, points),
        facts={
            "size": size_label(a),
            "excess": f"+{a.excess:.0f}",
            "observed": a.observed,
            "window": wording.window(a),
            "expected": wording.expected_text(a),
            "reconcile": _reconcile_url(a),
            "peak": f"{a.peak_ratio:.1f}x" if math.isfinite(a.peak_ratio) else "—",
            "started_at": a.started_at,
            "last_seen_at": a.last_seen_at,
            "granularity": "hour" if granularity == Granularity.hour else "day",
            "dimension": dimension_label(a.dimension),
            "value": a.value,
            "start_label": since_label(a.started_at, granularity),
            "start_bucket": bucket_time(a.start_bucket),
        },
        contributors=_contributors(a),
        cases=_cases(db, who, trends.sample_cases(db, p, a)),
        history=_history(db, a),
        can_ack=can_triage and status == AlertStatus.open,
        can_dismiss=can_triage and live,
        can_escalate=p.can(Permission.incidents_write) and live,
        errors=errors or {}, values=form_values,
        first_error=next(iter(errors or {}), None),
        nav=_nav(who, "trends"), notice=_notice(request),
    )  # fmt: skip


def _act(
    request: Request,
    db: Session,
    who: ConsoleUser,
    form: str,
    values: dict[str, str],
    run: Any,
    render: Any,
) -> Response:
    """Run one action; on a refusal roll back and show the page again with the problem under
    the form's field (403 and 404 stay what they are)."""
    try:
        target: str = run()
    except VigilError as exc:
        if exc.status_code in (403, 404):
            raise
        db.rollback()
        key = f"{form}-{exc.field}" if exc.field in ("reason", "note", "title") else form
        text = exc.message[:1].upper() + exc.message[1:]
        if exc.code == "reason_required":
            text = "Give the reason for dismissing it"
        elif exc.code == "illegal_transition":
            text = ILLEGAL_WORDS
        return render(errors={key: text}, values=values, status_code=exc.status_code)
    return redirect(target)


@router.get("/trends/alerts/{alert_id}")
def alert_page(request: Request, db: DB, who: Console, alert_id: AlertId) -> HTMLResponse:
    who.principal.require(Permission.trends_read)
    return _alert_page(request, db, who, alert_id)


@router.post("/trends/alerts/{alert_id}/acknowledge")
def acknowledge_alert(
    request: Request, db: DB, who: ConsolePost, alert_id: AlertId,
    note: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    def run() -> str:
        trends.acknowledge(db, who.principal, alert_id, note=note.strip() or None)
        return f"/trends/alerts/{alert_id}?notice=acknowledged"

    return _act(request, db, who, "ack", {"ack-note": note}, run,
                partial(_alert_page, request, db, who, alert_id))  # fmt: skip


@router.post("/trends/alerts/{alert_id}/dismiss")
def dismiss_alert(
    request: Request, db: DB, who: ConsolePost, alert_id: AlertId,
    reason: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    def run() -> str:
        who.principal.require(Permission.trends_triage)
        if not reason.strip():
            raise InvalidInput(
                "Give the reason for dismissing it", field="reason", code="reason_required"
            )
        trends.dismiss(db, who.principal, alert_id, reason)
        return f"/trends/alerts/{alert_id}?notice=dismissed"

    return _act(request, db, who, "dismiss", {"dismiss-reason": reason}, run,
                partial(_alert_page, request, db, who, alert_id))  # fmt: skip


@router.post("/trends/alerts/{alert_id}/escalate")
def escalate_alert(
    request: Request, db: DB, who: ConsolePost, alert_id: AlertId,
    title: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    def run() -> str:
        who.principal.require(Permission.incidents_write)
        if not title.strip():
            raise InvalidInput("Give the incident a title", field="title", code="title_required")
        incident = incidents.open_from_alert(db, who.principal, alert_id, title=title.strip())
        return f"/incidents/{incident.id}?notice=escalated"

    return _act(request, db, who, "escalate", {"escalate-title": title}, run,
                partial(_alert_page, request, db, who, alert_id))  # fmt: skip


# --- one cluster ------------------------------------------------------------------------------


def _cluster_page(
    request: Request,
    db: Session,
    who: ConsoleUser,
    cluster_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    c = clusters.get_cluster(db, p, cluster_id)
    status = ClusterStatus(c.status)
    row = _cluster_row(c)
    live = status in (ClusterStatus.new, ClusterStatus.acknowledged)
    can_triage = p.can(Permission.trends_triage)
    examples = [
        {
            "text": str(e.get("text", "")),
            "type": TYPE_LABELS.get(str(e.get("type", "")), str(e.get("type", "")) or "text"),
            "at": _parse_time(e.get("occurred_at")),
        }
        for e in c.examples or []
        if isinstance(e, dict)
    ]
    history: list[dict[str, Any]] = [
        {"at": c.detected_at, "who": "Vigil", "what": "found the cluster", "note": None}
    ]
    if c.acknowledged_at:
        history.append(
            {"at": c.acknowledged_at, "who": c.acknowledged_by_label or "someone",
             "what": "acknowledged", "note": c.note}
        )  # fmt: skip
    if c.dismissed_at:
        history.append(
            {"at": c.dismissed_at, "who": c.dismissed_by_label or "someone",
             "what": "dismissed", "note": c.dismiss_reason}
        )  # fmt: skip
    if c.escalated_at:
        history.append(
            {"at": c.escalated_at, "who": "", "what": "escalated into an incident",
             "note": None, "incident_id": c.incident_id}
        )  # fmt: skip
    history.sort(key=lambda s: s["at"])
    form_values = {"escalate-title": f"Emerging cluster: {c.label}"[:200]}
    form_values.update(values or {})
    case_ids = clusters.case_ids(db, c)
    return page(
        request, who, "trends/cluster.html", status_code=status_code,
        c=row, cluster=c, examples=examples, novelty=_novelty(request, c),
        any_case=bool(case_ids),
        terms=[str(t) for t in (c.terms or [])][:12],
        event_types=[TYPE_LABELS.get(str(t), str(t)) for t in (c.event_types or [])],
        cases=_cases(db, who, case_ids),
        history=history,
        can_ack=can_triage and status == ClusterStatus.new,
        can_dismiss=can_triage and live,
        can_escalate=p.can(Permission.incidents_write) and live,
        errors=errors or {}, values=form_values,
        first_error=next(iter(errors or {}), None),
        nav=_nav(who, "trends"), notice=_notice(request),
    )  # fmt: skip


def _novelty(request: Request, c: TextCluster) -> str:
    """Why the group counts as new, in plain words: how many look-alikes the days before held,
    scaled to the recent window, against its size."""
    settings = getattr(request.app.state, "settings", None)
    window = int(getattr(settings, "cluster_window_hours", 24))
    days = int(getattr(settings, "cluster_baseline_days", 7))
    ratio = float(getattr(settings, "cluster_novelty_ratio", 4.0))
    before = int(c.baseline_matches or 0)
    expected = before * window / (days * 24)
    if before == 0:
        return (
            f"None of the texts in the {days} days before the last {window} hours looked like "
            f"these: the group is new."
        )
    return (
        f"In the {days} days before, {before} texts looked like these: about {expected:.1f} "
        f"per {window} hours, against {c.size} now. A group counts as new when it is at least "
        f"{ratio:g} times what those days would predict."
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return clock.as_utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


@router.get("/trends/clusters/{cluster_id}")
def cluster_page(request: Request, db: DB, who: Console, cluster_id: ClusterId) -> HTMLResponse:
    who.principal.require(Permission.trends_read)
    return _cluster_page(request, db, who, cluster_id)


@router.post("/trends/clusters/{cluster_id}/acknowledge")
def acknowledge_cluster(
    request: Request, db: DB, who: ConsolePost, cluster_id: ClusterId,
    note: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    def run() -> str:
        clusters.acknowledge(db, who.principal, cluster_id, note=note.strip() or None)
        return f"/trends/clusters/{cluster_id}?notice=cluster_acknowledged"

    return _act(request, db, who, "ack", {"ack-note": note}, run,
                partial(_cluster_page, request, db, who, cluster_id))  # fmt: skip


@router.post("/trends/clusters/{cluster_id}/dismiss")
def dismiss_cluster(
    request: Request, db: DB, who: ConsolePost, cluster_id: ClusterId,
    reason: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    def run() -> str:
        who.principal.require(Permission.trends_triage)
        if not reason.strip():
            raise InvalidInput(
                "Give the reason for dismissing it", field="reason", code="reason_required"
            )
        clusters.dismiss(db, who.principal, cluster_id, reason)
        return f"/trends/clusters/{cluster_id}?notice=cluster_dismissed"

    return _act(request, db, who, "dismiss", {"dismiss-reason": reason}, run,
                partial(_cluster_page, request, db, who, cluster_id))  # fmt: skip


@router.post("/trends/clusters/{cluster_id}/escalate")
def escalate_cluster(
    request: Request, db: DB, who: ConsolePost, cluster_id: ClusterId,
    title: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    def run() -> str:
        who.principal.require(Permission.incidents_write)
        if not title.strip():
            raise InvalidInput("Give the incident a title", field="title", code="title_required")
        incident = incidents.open_from_cluster(db, who.principal, cluster_id, title=title.strip())
        return f"/incidents/{incident.id}?notice=escalated_cluster"

    return _act(request, db, who, "escalate", {"escalate-title": title}, run,
                partial(_cluster_page, request, db, who, cluster_id))  # fmt: skip
