"""HTTP API for trend alerts and the counts behind them.

Reading needs ``trends:read``; acknowledging and dismissing ``trends:triage``. Refusals change
nothing: 404 ``alert_not_found``, 409 ``illegal_transition`` (e.g. acknowledging a dismissed
alert), 422 naming the field (``reason_required``, ``invalid_dimension``, ``range_too_large``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from vigil.analytics.trends import service
from vigil.analytics.trends.models import AlertStatus
from vigil.analytics.trends.schemas import (
    AcknowledgeIn,
    AlertDetailOut,
    AlertOut,
    AlertPage,
    CountsOut,
    DismissIn,
    PointOut,
)
from vigil.api.deps import DB, AppSettings, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.kit.errors import InvalidInput

router = APIRouter(tags=["trends"])

TrendsRead = Annotated[Principal, Depends(require(Permission.trends_read))]
TrendsTriage = Annotated[Principal, Depends(require(Permission.trends_triage))]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _detail(db: DB, actor: Principal, alert_id: int) -> AlertDetailOut:
    alert = service.get_alert(db, actor, alert_id)
    series = service.alert_series(db, actor, alert_id)
    return AlertDetailOut(
        **AlertOut.of(alert).model_dump(),
        series=[PointOut(bucket=b, observed=o, expected=e) for b, o, e in series],
        sample_case_ids=service.sample_cases(db, actor, alert),
    )


@router.get("/trends/alerts", response_model=AlertPage, summary="Trend alerts, newest first")
def list_alerts(
    db: DB,
    settings: AppSettings,
    actor: TrendsRead,
    status: Annotated[list[AlertStatus] | None, Query()] = None,
    dimension: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> AlertPage:
    page = service.list_alerts(
        db,
        actor,
        status=status,
        dimension=dimension,
        cursor=cursor,
        limit=min(limit or settings.page_size_default, settings.page_size_max),
    )
    return AlertPage(items=[AlertOut.of(a) for a in page.items], next_cursor=page.next_cursor)


@router.get(
    "/trends/alerts/{alert_id}",
    response_model=AlertDetailOut,
    summary="One alert with its series (two weeks), contributors and sample cases",
)
def get_alert(alert_id: Id, db: DB, actor: TrendsRead) -> AlertDetailOut:
    return _detail(db, actor, alert_id)


@router.post(
    "/trends/alerts/{alert_id}/acknowledge",
    response_model=AlertDetailOut,
    summary="Acknowledge an alert (someone is looking into it)",
)
def acknowledge(
    alert_id: Id, db: DB, actor: TrendsTriage, body: AcknowledgeIn | None = None
) -> AlertDetailOut:
    service.acknowledge(db, actor, alert_id, body.note if body else None)
    return _detail(db, actor, alert_id)


@router.post(
    "/trends/alerts/{alert_id}/dismiss",
    response_model=AlertDetailOut,
    summary="Dismiss an alert, with the reason",
)
def dismiss(alert_id: Id, body: DismissIn, db: DB, actor: TrendsTriage) -> AlertDetailOut:
    service.dismiss(db, actor, alert_id, body.reason)
    return _detail(db, actor, alert_id)


@router.get(
    "/trends/counts",
    response_model=CountsOut,
    summary="Counts of one dimension per hour or day, with their baseline",
)
def counts(
    db: DB,
    actor: TrendsRead,
    dimension: Annotated[str, Query(max_length=32)],
    start: datetime,
    end: datetime,
    value: Annotated[str | None, Query(max_length=200)] = None,
    interval: Literal["hour", "day", "24h"] = "hour",
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> CountsOut:
    for name, at in (("start", start), ("end", end)):
        if at.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. Z)", field=name,
                               code="naive_datetime")  # fmt: skip
    found = service.counts(
        db, actor, dimension=dimension, value=value, interval=interval, start=start, end=end,
        limit=limit,
    )  # fmt: skip
    return CountsOut.of(found)
