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
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vigil.audit.models import AuditRecord
from vigil.auth.principal import Principal
from vigil.kit import clock
from vigil.kit.context import current_request_id
from vigil.kit.errors import InvalidInput
from vigil.kit.pagination import decode_cursor, encode_cursor

GENESIS = "0" * 64
# Any fixed 64-bit number; it names the audit chain's lock among PostgreSQL advisory locks.
_AUDIT_LOCK_KEY = 0x5649_4749_4C41_5544 & 0x7FFF_FFFF_FFFF_FFFF


def _canonical(record: Any) -> bytes:
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


def _digest(prev_hash: str, record: Any) -> str:
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


@dataclass(frozen=True)
class Head:
    """The newest record's id and hash. Stored outside the database, it lets ``verify``
    notice that the newest records were deleted (which the chain alone cannot show)."""

    id: int
    hash: str

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"

    @classmethod
    def parse(cls, value: str) -> Head:
        ident, sep, digest = value.strip().partition(":")
        if not sep or not ident.isdigit() or len(digest) != 64:
            raise InvalidInput(
                "a head is written ID:HASH (as printed by `vigil audit head`)",
                field="expect_head",
                code="invalid_head",
            )
        return cls(int(ident), digest.lower())


def head(session: Session) -> Head | None:
    row = session.execute(
        select(AuditRecord.id, AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1)
    ).first()
    return Head(row.id, row.hash) if row else None


_COLUMNS = tuple(AuditRecord.__table__.c)


def verify(session: Session, *, expect_head: Head | None = None, batch: int = 5000) -> VerifyResult:
    """Walk the whole chain in id order; report every record whose link or hash is wrong.

    Detects edited records (hash mismatch), deleted records (gap in ids or link mismatch)
    and inserted ones (link mismatch). With ``expect_head`` (a head saved earlier) it also
    detects that records up to and including that head were deleted from the end. Reads plain
    rows in batches, so memory stays flat and the caller's session is left untouched.
    """
    breaks: list[ChainBreak] = []
    prev_hash, expected_id, checked = GENESIS, 1, 0
    last_id: int | None = None
    head_seen = False
    for rec in _iter_rows(session, batch):
        if rec.id != expected_id:
            breaks.append(ChainBreak(rec.id, f"records {expected_id}..{rec.id - 1} are missing"))
        if rec.prev_hash != prev_hash:
            breaks.append(ChainBreak(rec.id, "link to the previous record does not match"))
        if _digest(rec.prev_hash, rec) != rec.hash:
            breaks.append(ChainBreak(rec.id, "record content does not match its hash"))
        if expect_head is not None and rec.id == expect_head.id:
            head_seen = True
            if rec.hash != expect_head.hash:
                breaks.append(ChainBreak(rec.id, "hash differs from the saved head"))
        prev_hash, expected_id, last_id = rec.hash, rec.id + 1, rec.id
        checked += 1
    if expect_head is not None and not head_seen:
        first_missing = (last_id or 0) + 1
        breaks.append(
            ChainBreak(
                expect_head.id,
                f"records {first_missing}..{expect_head.id} are missing "
                "(the saved head is past the end of the chain)",
            )
        )
    return VerifyResult(checked, breaks, last_id, prev_hash)


def _iter_rows(session: Session, batch: int) -> Iterator[Any]:
    after = 0
    while True:
        rows = session.execute(
            select(*_COLUMNS).where(AuditRecord.id > after).order_by(AuditRecord.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id


def list_records(
    session: Session,
    *,
    actor_type: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[AuditRecord], str | None]:
    """Records newest first. ``action`` ending in ``.`` or ``*`` matches a prefix
    (``auth.`` or ``auth.api_key.*``); ``since`` is inclusive, ``until`` exclusive."""
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit + 1)
    if actor_type is not None:
        query = query.where(AuditRecord.actor_type == actor_type)
    if actor_id is not None:
        query = query.where(AuditRecord.actor_id == actor_id)
    if action:
        if action.endswith(("*", ".")):
            prefix = action.rstrip("*")
            query = query.where(AuditRecord.action.startswith(prefix, autoescape=True))
        else:
            query = query.where(AuditRecord.action == action)
    if target_type is not None:
        query = query.where(AuditRecord.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditRecord.target_id == target_id)
    if since is not None:
        query = query.where(AuditRecord.at >= clock.as_utc(since))
    if until is not None:
        query = query.where(AuditRecord.at < clock.as_utc(until))
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(AuditRecord.id < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None
