"""Liveness and readiness for load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from vigil import __version__
from vigil.api.deps import DB

router = APIRouter(tags=["health"])


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
