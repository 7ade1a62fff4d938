"""API models for the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str
    target_id: str | None
    reason: str | None
    data: dict[str, Any]
    request_id: str | None
    prev_hash: str
    hash: str


class ChainBreakOut(BaseModel):
    record_id: int
    problem: str


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    breaks: list[ChainBreakOut]
    last_id: int | None
    last_hash: str
