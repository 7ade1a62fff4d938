"""Appending to and verifying the audit chain.

Each record's hash covers the previous record's hash and the record's own canonical JSON.
Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock taken before the
last hash is read (held until commit, so the next writer sees this record); on SQLite every
write transaction already holds the database's single write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vigil.audit.models import AuditRecord
from vigil.auth.principal import Principal
from vigil.kit import clock
from vigil.kit.context import current_request_id

GENESIS = "0" * 64
# Any fixed 64-bit number; it names the audit chain's lock among PostgreSQL advisory locks.
_AUDIT_LOCK_KEY = 0x5649_4749_4C41_5544 & 0x7FFF_FFFF_FFFF_FFFF


def _canonical(record: AuditRecord) -> bytes:
    body = {
        "id": record.id,
        "at": record.at.isoformat(timespec="microseconds"),
        "actor_type": record.actor_type,
        "actor_id": record.actor_id,
        "action": record.action,
        "target_type": record.target_type,
        "target_id": record.target_id,
        "reason": record.reason,
        "data": record.data,
        "request_id": record.request_id,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def _digest(prev_hash: str, record: AuditRecord) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(record)).hexdigest()


def record(
    session: Session,
    actor: Principal,
    action: str,
    target_type: str,
    target_id: int | str | None = None,
    *,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record in the caller's transaction. ``action`` is ``domain.subject.verb``."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
    prev = session.execute(
        select(AuditRecord.id, AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1)
    ).first()
    entry = AuditRecord(
        id=(prev.id + 1) if prev else 1,
        at=clock.now(),
        actor_type=actor.type.value,
        actor_id=None if actor.id is None else str(actor.id),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        reason=reason,
        data=json.loads(json.dumps(data or {}, default=str)),
        request_id=current_request_id(),
        prev_hash=prev.hash if prev else GENESIS,
        hash="",
    )
    entry.hash = _digest(entry.prev_hash, entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainBreak:
    record_id: int
    problem: str


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    breaks: list[ChainBreak]
    last_id: int | None
    last_hash: str

    @property
    def ok(self) -> bool:
        return not self.breaks


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the whole chain in id order; report every record whose link or hash is wrong.

    Detects edited records (hash mismatch), deleted records (gap in ids or link mismatch)
    and inserted ones (link mismatch). Streams in batches, so memory stays flat.
    """
    breaks: list[ChainBreak] = []
    prev_hash, expected_id, checked = GENESIS, 1, 0
    last_id: int | None = None
    for rec in _iter_records(session, batch):
        if rec.id != expected_id:
            breaks.append(ChainBreak(rec.id, f"records {expected_id}..{rec.id - 1} are missing"))
        if rec.prev_hash != prev_hash:
            breaks.append(ChainBreak(rec.id, "link to the previous record does not match"))
        if _digest(rec.prev_hash, rec) != rec.hash:
            breaks.append(ChainBreak(rec.id, "record content does not match its hash"))
        prev_hash, expected_id, last_id = rec.hash, rec.id + 1, rec.id
        checked += 1
    return VerifyResult(checked, breaks, last_id, prev_hash)


def _iter_records(session: Session, batch: int) -> Iterator[AuditRecord]:
    after = 0
    while True:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.id > after).order_by(AuditRecord.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id
        session.expunge_all()
