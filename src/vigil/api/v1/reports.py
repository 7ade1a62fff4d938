"""HTTP API: the transparency report (DSA Art. 15 / 24 figures) for a period.

``GET /v1/reports/transparency?start=&end=`` returns JSON, or with ``format=csv|xlsx`` a
download with one row per figure (section, figure, breakdown, value, note). Needs
``reports:read``. Refusals: 422 ``missing_window`` / ``invalid_datetime`` / ``naive_datetime``
/ ``invalid_window`` / ``window_too_long`` / ``invalid_format`` with the field at fault.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from vigil.analytics import export
from vigil.analytics.transparency import service
from vigil.analytics.transparency.schemas import TransparencyOut
from vigil.api.deps import DB, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal

router = APIRouter(tags=["reports"])

ReportsRead = Annotated[Principal, Depends(require(Permission.reports_read))]


@router.get(
    "/reports/transparency",
    response_model=TransparencyOut,
    summary="Transparency report figures for a period (JSON, CSV or XLSX)",
    responses={200: {"content": {"text/csv": {}}}},
)
def transparency(
    db: DB,
    actor: ReportsRead,
    start: Annotated[str, Query(max_length=40, description="First day or time (inclusive).")],
    end: Annotated[str, Query(max_length=40, description="Last day or time (exclusive).")],
    format: Annotated[str | None, Query(max_length=8, description="csv or xlsx")] = None,
) -> Any:
    fmt = export.check_format(format) if format is not None else None
    report = service.report(
        db, actor, service.parse_when(start, "start"), service.parse_when(end, "end")
    )
    if fmt is not None:
        return service.download(report, fmt)
    return TransparencyOut.of(report)
