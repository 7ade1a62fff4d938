"""HTTP API for emerging clusters: new groups of similar reports and flagged messages.

Reading needs ``trends:read``; acknowledging and dismissing ``trends:triage``; escalating
into an incident ``incidents:write``. Refusals change nothing: 404 ``cluster_not_found``,
409 ``illegal_transition`` / ``already_escalated``, 422 naming the ``field`` at fault.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from vigil.analytics.clusters import service
from vigil.analytics.clusters.models import ClusterStatus
from vigil.analytics.clusters.schemas import (
    AcknowledgeIn,
    ClusterOut,
    ClusterPage,
    DismissIn,
    EscalateIn,
)
from vigil.analytics.incidents import service as incidents
from vigil.analytics.incidents.schemas import IncidentOut
from vigil.api.deps import DB, AppSettings, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal

router = APIRouter(tags=["trends"])

TrendsRead = Annotated[Principal, Depends(require(Permission.trends_read))]
TrendsTriage = Annotated[Principal, Depends(require(Permission.trends_triage))]
IncidentsWrite = Annotated[Principal, Depends(require(Permission.incidents_write))]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/clusters", response_model=ClusterPage, summary="Emerging clusters, newest first")
def list_clusters(
    db: DB,
    settings: AppSettings,
    actor: TrendsRead,
    status_: Annotated[ClusterStatus | None, Query(alias="status")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> ClusterPage:
    size = min(limit or settings.page_size_default, settings.page_size_max)
    rows, next_cursor = service.list_clusters(db, actor, status=status_, cursor=cursor, limit=size)
    return ClusterPage(items=[ClusterOut.of(c) for c in rows], next_cursor=next_cursor)


@router.get("/clusters/{cluster_id}", response_model=ClusterOut, summary="One cluster")
def get_cluster(cluster_id: Id, db: DB, actor: TrendsRead) -> ClusterOut:
    return ClusterOut.of(service.get_cluster(db, actor, cluster_id))


@router.post(
    "/clusters/{cluster_id}/acknowledge",
    response_model=ClusterOut,
    summary="Acknowledge a cluster (someone is on it)",
)
def acknowledge(
    cluster_id: Id, db: DB, actor: TrendsTriage, body: AcknowledgeIn | None = None
) -> ClusterOut:
    note = body.note if body is not None else None
    return ClusterOut.of(service.acknowledge(db, actor, cluster_id, note))


@router.post(
    "/clusters/{cluster_id}/dismiss",
    response_model=ClusterOut,
    summary="Dismiss a cluster (not a problem), with the reason",
)
def dismiss(cluster_id: Id, body: DismissIn, db: DB, actor: TrendsTriage) -> ClusterOut:
    return ClusterOut.of(service.dismiss(db, actor, cluster_id, body.reason))


@router.post(
    "/clusters/{cluster_id}/escalate",
    response_model=IncidentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Escalate a cluster into an incident linking its cases",
)
def escalate(
    cluster_id: Id, db: DB, actor: IncidentsWrite, body: EscalateIn | None = None
) -> IncidentOut:
    body = body or EscalateIn()
    incident = incidents.open_from_cluster(
        db,
        actor,
        cluster_id,
        title=body.title,
        summary=body.summary,
        severity=body.severity,
        owner_id=body.owner_id,
        incident_id=body.incident_id,
    )
    return IncidentOut.of(incident)
