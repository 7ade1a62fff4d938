"""Liveness, readiness and metrics for load balancers and Prometheus (docs/observability.md).

``GET /v1/health`` (kept for existing monitors) and ``GET /readyz`` are public and say nothing
secret; ``GET /livez`` is answered by the metrics middleware (vigil.ops.metrics.Observe)
before any request slot or database is needed. ``GET /ops/metrics`` needs
``VIGIL_METRICS_TOKEN`` as a bearer token when set, else a client on loopback.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from vigil import __version__
from vigil.api.deps import DB
from vigil.config import Settings
from vigil.kit.errors import NotAuthenticated, PermissionDenied
from vigil.ops import health as checks
from vigil.ops import metrics

router = APIRouter(tags=["health"])
# Served at the root (not under /v1): what balancers and scrapers are pointed at.
root_router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    database: str
    schema_revision: str | None


@router.get(
    "/health", response_model=Health, summary="Is the service up and its database reachable"
)
def health(db: DB) -> Health:
    db.execute(text("SELECT 1"))
    revision = db.scalar(text("SELECT version_num FROM alembic_version"))
    return Health(
        status="ok",
        version=__version__,
        database=db.get_bind().dialect.name,
        schema_revision=revision,
    )


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: str  # ready | not_ready
    version: str
    checks: dict[str, Check]
    failed: list[str]


@root_router.get(
    "/readyz",
    response_model=Readiness,
    summary="May this process take traffic: database, schema, Redis, blob folder",
    responses={503: {"model": Readiness, "description": "A check failed (listed in failed)"}},
)
async def readyz(request: Request) -> Any:
    settings: Settings = request.app.state.settings
    results = await checks.readiness(settings, request.app.state.engine)
    failed = [r.name for r in results if not r.ok]
    body = Readiness(
        status="not_ready" if failed else "ready",
        version=__version__,
        checks={r.name: Check(ok=r.ok, detail=r.detail) for r in results},
        failed=failed,
    )
    return JSONResponse(
        body.model_dump(),
        status_code=503 if failed else 200,
        headers={"Cache-Control": "no-store"},
    )


@root_router.get(
    "/ops/metrics",
    summary="Prometheus metrics of this process (text exposition format)",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}},
        401: {"description": "VIGIL_METRICS_TOKEN is set and was not sent (metrics_token)"},
        403: {"description": "No token is set and the client is not on loopback"},
    },
)
def ops_metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    token = settings.metrics_token.get_secret_value()
    client = request.client.host if request.client else None
    if not metrics.scrape_allowed(token, request.headers.get("authorization"), client):
        if token:
            raise NotAuthenticated(
                "send VIGIL_METRICS_TOKEN as a bearer token", code="metrics_token_required"
            )
        raise PermissionDenied(
            "metrics are served to loopback only unless VIGIL_METRICS_TOKEN is set",
            code="metrics_loopback_only",
        )
    from prometheus_client import CONTENT_TYPE_LATEST

    body = metrics.exposition(request.app.state.sessionmaker, request.app.state.engine)
    return Response(
        body,
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
