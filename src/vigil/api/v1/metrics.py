"""HTTP API: the metric catalog and any metric as a time series (``metrics:read``).

``GET /v1/metrics/{name}`` takes a window (``start`` inclusive, ``end`` exclusive, days or
times with a zone; by default the last 28 days by day), an ``interval``, filters and a
``group_by``; ``format=csv|xlsx`` returns the same view as a download. Refusals change nothing
and say which parameter is at fault: 404 ``unknown_metric``; 422 ``invalid_window``,
``window_too_long``, ``invalid_interval``, ``invalid_datetime``, ``naive_datetime``,
``filter_not_supported``, ``group_by_not_supported``, ``invalid_filter``, ``invalid_format``;
403 ``reviewer_metrics_forbidden`` (another reviewer's figures without ``metrics:reviewers``),
``metric_forbidden`` (a metric whose domain's read permission the caller lacks, e.g.
``qa:read`` for QA figures). A download is audited (``metrics.series.export``), as every
export of staff or case data is. docs/metrics.md defines every metric.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from vigil.analytics import export
from vigil.analytics.metrics import catalog, service
from vigil.api.deps import DB, require
from vigil.audit.service import record
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal

router = APIRouter(tags=["metrics"])

MetricsRead = Annotated[Principal, Depends(require(Permission.metrics_read))]


class MetricOut(BaseModel):
    name: str = Field(examples=["sla_attainment"])
    label: str = Field(examples=["SLA attainment"])
    description: str
    unit: str = Field(description="count, ratio (0..1), seconds, per_hour or score")
    better: str | None = Field(description="higher, lower, or null when neither")
    family: str = Field(examples=["cases"])
    filters: list[str] = Field(examples=[["queue", "policy", "locale", "side"]])
    group_by: list[str] = Field(examples=[["queue", "policy", "locale", "side", "type"]])
    requires: str | None = Field(
        default=None,
        examples=["qa:read"],
        description="The permission needed besides metrics:read, if any.",
    )

    @classmethod
    def of(cls, m: catalog.MetricDef) -> MetricOut:
        return cls(
            name=m.name,
            label=m.label,
            description=m.description,
            unit=m.unit,
            better=m.better,
            family=m.family,
            filters=sorted(m.filters),
            group_by=sorted(m.group_by),
            requires=m.requires.value if m.requires is not None else None,
        )


class CatalogOut(BaseModel):
    items: list[MetricOut]


class PointOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"start": "2026-11-16", "value": 0.94, "numerator": 47, "denominator": 50}
        }
    )

    start: date = Field(description="The bucket's first day (a Monday for weeks), UTC.")
    value: float | None = Field(description="Null where a rate or quantile has no data.")
    numerator: float | None
    denominator: float | None = Field(description="For quantiles: the number of items.")


class GroupOut(BaseModel):
    key: str = Field(examples=["reports"])
    label: str = Field(examples=["User reports"])
    buckets: list[PointOut]
    total: PointOut


class SeriesOut(BaseModel):
    metric: MetricOut
    start: datetime
    end: datetime
    interval: str = Field(examples=["day"])
    filters: dict[str, str | int] = Field(examples=[{"queue": "reports"}])
    group_by: str | None = None
    buckets: list[PointOut]
    total: PointOut = Field(description="The whole window (the last bucket for a backlog).")
    groups: list[GroupOut]


def _point(p: service.Point) -> PointOut:
    return PointOut(start=p.start, value=p.value, numerator=p.numerator, denominator=p.denominator)


def as_out(s: service.Series) -> SeriesOut:
    return SeriesOut(
        metric=MetricOut.of(s.metric),
        start=s.query.start,
        end=s.query.end,
        interval=s.interval,
        filters=dict(s.query.filters),
        group_by=s.query.group_by,
        buckets=[_point(p) for p in s.buckets],
        total=_point(s.total),
        groups=[
            GroupOut(
                key=g.key,
                label=g.label,
                buckets=[_point(p) for p in g.buckets],
                total=_point(g.total),
            )
            for g in s.groups
        ],
    )


@router.get("/metrics", response_model=CatalogOut, summary="The metrics the caller may read")
def list_metrics(actor: MetricsRead) -> CatalogOut:
    return CatalogOut(
        items=[MetricOut.of(m) for m in catalog.METRICS.values() if service.readable(actor, m)]
    )


Text = Annotated[str | None, Query(max_length=200)]


@router.get(
    "/metrics/{name}",
    response_model=SeriesOut,
    summary="A metric as a time series by day or week (JSON, CSV or XLSX)",
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
def get_metric(
    db: DB,
    actor: MetricsRead,
    name: Annotated[str, Path(max_length=100, description="A name from GET /v1/metrics.")],
    start: Annotated[
        str | None, Query(max_length=40, description="Day (UTC) or time with a zone; inclusive.")
    ] = None,
    end: Annotated[
        str | None, Query(max_length=40, description="Day (UTC) or time with a zone; exclusive.")
    ] = None,
    interval: Annotated[str | None, Query(max_length=10, description="day or week")] = None,
    queue: Text = None,
    policy: Text = None,
    rule: Text = None,
    reviewer: Annotated[str | None, Query(max_length=20, description="A staff id.")] = None,
    locale: Text = None,
    side: Text = None,
    group_by: Text = None,
    format: Annotated[str | None, Query(max_length=10, description="csv or xlsx")] = None,
) -> Any:
    fmt = export.check_format(format) if format is not None else None
    filters: dict[str, str | int | None] = {
        "queue": queue,
        "policy": policy,
        "rule": rule,
        "reviewer": reviewer,
        "locale": locale,
        "side": side,
    }
    query = service.parse_query(name, start, end, interval, filters, group_by)
    result = service.series(db, actor, query)
    if fmt is None:
        return as_out(result)
    columns, rows = service.table(result)
    record(
        db,
        actor,
        "metrics.series.export",
        "metric",
        name,
        data={
            "format": fmt,
            "rows": len(rows),
            "start": query.start.isoformat(),
            "end": query.end.isoformat(),
            "interval": query.interval,
            "filters": dict(query.filters),
            "group_by": query.group_by,
        },
    )
    # The last day included (the window's end is exclusive) and the split, so two downloads
    # of different views never share a name.
    last = (query.end - timedelta(microseconds=1)).date()
    stem = f"{name}-{query.start.date().isoformat()}-to-{last.isoformat()}-by-{query.interval}"
    if query.group_by:
        stem += f"-split-{query.group_by}"
    return export.response(fmt, stem, columns, rows, sheet=result.metric.label)
