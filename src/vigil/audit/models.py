from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, IdMixin


class AuditRecord(IdMixin, Base):
    """One thing that happened, never updated and never deleted.

    ``action`` is tagged ``domain.subject.verb`` (``cases.case.assign``). ``hash`` is
    SHA-256 over ``prev_hash`` and the record's canonical JSON, and records are appended
    under a lock in id order, so editing or deleting any record breaks the chain after it;
    ``vigil audit verify`` walks the chain.
    """

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_target", "target_type", "target_id", "id"),
        Index("ix_audit_records_actor", "actor_type", "actor_id", "id"),
    )

    at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    actor_type: Mapped[str] = mapped_column(String(20))  # staff, api_key, system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
