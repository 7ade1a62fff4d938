"""HTTP API for the marketplace's API keys. A secret appears in a response exactly once: when
its key is created or rotated."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query, Response, status

from vigil.api.deps import DB, ApiKeysWrite, AppSettings
from vigil.api.v1.staff import page_limit
from vigil.auth import service
from vigil.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyRevoke, ApiKeyRotate
from vigil.kit.pagination import Page

router = APIRouter(tags=["api-keys"])


def _created(issued: service.IssuedKey, response: Response) -> ApiKeyCreated:
    # Keep the one copy of the secret out of every cache between here and the caller.
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreated(**ApiKeyOut.model_validate(issued.key).model_dump(), secret=issued.secret)


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (the secret is shown only in this response)",
)
def create_api_key(
    body: ApiKeyCreate, response: Response, db: DB, actor: ApiKeysWrite
) -> ApiKeyCreated:
    issued = service.create_api_key(
        db, actor, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    return _created(issued, response)


@router.get("/api-keys", response_model=Page[ApiKeyOut], summary="List API keys (no secrets)")
def list_api_keys(
    db: DB,
    settings: AppSettings,
    _actor: ApiKeysWrite,
    include_revoked: bool = False,
    cursor: str | None = None,
    limit: int | None = Query(default=None, ge=1),
) -> Page[ApiKeyOut]:
    rows, next_cursor = service.list_api_keys(
        db,
        include_revoked=include_revoked,
        cursor=cursor,
        limit=page_limit(settings, limit),
    )
    return Page(items=[ApiKeyOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyOut, summary="Revoke an API key")
def revoke_api_key(key_id: int, body: ApiKeyRevoke, db: DB, actor: ApiKeysWrite) -> ApiKeyOut:
    return ApiKeyOut.model_validate(service.revoke_api_key(db, actor, key_id, body.reason))


@router.post(
    "/api-keys/{key_id}/rotate",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Replace an API key; the old one works for grace_seconds more",
)
def rotate_api_key(
    key_id: int, body: ApiKeyRotate, response: Response, db: DB, actor: ApiKeysWrite
) -> ApiKeyCreated:
    issued = service.rotate_api_key(
        db, actor, key_id, grace=timedelta(seconds=body.grace_seconds), reason=body.reason
    )
    return _created(issued, response)
