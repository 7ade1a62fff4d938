"""Console: the transparency report as a printable page (``/reports/transparency``).

The same figures as ``GET /v1/reports/transparency`` (one service call), laid out for people:
each section with a plain-language explanation, the period and the time it was generated.
Printing hides the console's chrome (``static/css/reports.css``), so the page itself is the
document. Needs ``reports:read``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape

from vigil.analytics import export
from vigil.analytics.transparency import service
from vigil.api.deps import DB
from vigil.auth.permissions import Permission
from vigil.kit import clock
from vigil.kit.errors import InvalidInput
from vigil.web.auth import Console
from vigil.web.common import page

router = APIRouter(include_in_schema=False)

SECONDS_FIGURES = ("median_seconds",)
RATE_FIGURES = ("automation_rate", "automated_overturn_rate", "rule_precision")


def default_period(today: date) -> tuple[date, date]:
    """The last complete half-year (January-June or July-December), the usual DSA period."""
    if today.month > 6:
        return date(today.year, 1, 1), date(today.year, 7, 1)
    return date(today.year - 1, 7, 1), date(today.year, 1, 1)


def shown(figure: str, value: Any) -> str:
    """A value as a reader wants it: counts with separators, rates in %, durations in hours."""
    if value is None:
        return "not recorded"
    if figure.startswith(SECONDS_FIGURES):
        hours = float(value) / 3600
        return f"{hours:,.1f} h" if hours >= 1 else f"{float(value) / 60:,.0f} min"
    if figure in RATE_FIGURES:
        return f"{float(value) * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def figure_label(figure: str) -> str:
    """A figure's name for readers. Durations are stored in seconds (the CSV and the API keep
    ``median_seconds_to_...``) but shown in hours or minutes, so the page says "time"."""
    return figure.replace("median_seconds_", "median_time_").replace("_", " ")


def breakable(text: str) -> Markup:
    """A breakdown such as ``category=STATEMENT_CATEGORY_SCAMS_AND_FRAUD`` with line-break
    opportunities after each "_" and "=" (and at spaces): printed columns are narrow, and a
    code must never be cut in the middle of a word."""
    pieces = re.split(r"(?<=[_=])", text)
    return Markup("<wbr>").join(escape(piece) for piece in pieces if piece)


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("give a day as YYYY-MM-DD", field=field, code="invalid_date") from None


@router.get("/reports/transparency", response_model=None)
def transparency(
    request: Request,
    db: DB,
    who: Console,
    start: str | None = None,
    end: str | None = None,
    format: str | None = None,
) -> HTMLResponse | Response:
    """``start``/``end`` are days; ``end`` is the last day included (the form's wording), so
    the period is [start, end + 1 day)."""
    who.principal.require(Permission.reports_read)
    first, last = default_period(clock.now().date())
    last -= timedelta(days=1)
    errors: dict[str, str] = {}
    try:
        first = _day(start, "start") or first
    except InvalidInput as exc:
        errors["start"] = exc.message
    try:
        last = _day(end, "end") or last
    except InvalidInput as exc:
        errors["end"] = exc.message
    report = None
    if not errors:
        try:
            report = service.report(
                db,
                who.principal,
                datetime.combine(first, time(), tzinfo=UTC),
                datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
            )
        except InvalidInput as exc:
            errors["end" if exc.field == "end" else "start"] = exc.message
    if report is not None and format is not None:
        return service.download(report, export.check_format(format))
    query = urlencode({"start": first.isoformat(), "end": last.isoformat()})
    return page(
        request,
        who,
        "reports/transparency.html",
        status_code=422 if errors else 200,
        report=report,
        first=first,
        last=last,
        errors=errors,
        shown=shown,
        figure_label=figure_label,
        breakable=breakable,
        csv_url=f"/reports/transparency?{query}&format=csv",
        xlsx_url=f"/reports/transparency?{query}&format=xlsx",
    )
