"""HTTP API for the audit log: read it, and check that nobody edited or deleted a record."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from vigil.api.deps import DB, AppSettings, AuditRead
from vigil.api.v1.staff import page_limit
from vigil.audit import service
from vigil.audit.schemas import AuditRecordOut, ChainBreakOut, VerifyOut
from vigil.kit.pagination import Page

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=Page[AuditRecordOut], summary="Audit records, newest first")
def list_audit(
    db: DB,
    settings: AppSettings,
    _actor: AuditRead,
    actor_type: str | None = Query(default=None, description="staff, api_key or system"),
    actor_id: str | None = None,
    action: str | None = Query(
        default=None,
        description="exact action, or a prefix ending in '.' or '*' (auth.api_key.*)",
    ),
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = Query(default=None, description="inclusive"),
    until: datetime | None = Query(default=None, description="exclusive"),
    cursor: str | None = None,
    limit: int | None = Query(default=None, ge=1),
) -> Page[AuditRecordOut]:
    rows, next_cursor = service.list_records(
        db,
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
        cursor=cursor,
        limit=page_limit(settings, limit),
    )
    return Page(items=[AuditRecordOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/audit/verify", response_model=VerifyOut, summary="Check the audit hash chain")
def verify_audit(
    db: DB,
    _actor: AuditRead,
    expect_head: str | None = Query(
        default=None, description="ID:HASH saved earlier with `vigil audit head`"
    ),
) -> VerifyOut:
    head = service.Head.parse(expect_head) if expect_head else None
    result = service.verify(db, expect_head=head)
    return VerifyOut(
        ok=result.ok,
        checked=result.checked,
        breaks=[ChainBreakOut(record_id=b.record_id, problem=b.problem) for b in result.breaks],
        last_id=result.last_id,
        last_hash=result.last_hash,
    )
