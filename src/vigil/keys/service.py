"""Key rotation: re-seal every sealed field and every blob under the current key, and say how
many each key still seals.

Invariants:
- A field value is re-sealed with a compare-and-swap ``UPDATE ... SET col = :new WHERE pk =
  :id AND col = :old``: a value changed meanwhile (a new read of a document, another worker
  re-sealing it first) is left alone, so two workers (or a worker and the app) running at
  once never lose a write and never re-seal twice in effect. The job is idempotent: what is
  left to do is whatever the database still holds under an old key, so a killed run resumes
  by running again.
- A blob is re-sealed by writing a new file and renaming it over the old one (atomic): two
  workers re-sealing one blob both write a valid file under the current key.
- Batches walk the primary key (keyset); each batch is one transaction, committed by the
  caller (the CLI or the job runner), so a long rotation holds no lock for long.
- A value or blob sealed with a key that is not configured any more is counted as
  ``failed``, never deleted.
- Services never commit; :func:`rotate` takes a callback that ends each batch's transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, func, select, update
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.kit import sealed
from vigil.kit.blobs import BlobError, BlobStore

__all__ = [
    "BLOB_SOURCES",
    "KeyStatus",
    "RotationResult",
    "rotate",
    "rotate_blobs_batch",
    "rotate_column_batch",
    "status",
]

TARGET = "keys"
# Tables whose rows name a blob in the blob store: (table, column holding the storage key).
BLOB_SOURCES = (("identity_images", "blob_key"), ("dispute_submissions", "blob_key"))
_ID_WIDTH = len(sealed.PREFIX)


def _table(name: str, *columns: str, pk: str = "id") -> Table:
    # Lightweight Core tables: rotation reads raw tokens, never through the ORM (which would
    # open them), and must not depend on every model being imported.
    return Table(
        name, MetaData(), Column(pk, primary_key=True), *(Column(c, Text) for c in columns)
    )


def _blob_store(settings: Settings) -> BlobStore:
    from vigil.identity.service import blob_store

    return blob_store(settings)


def _all_columns() -> list[sealed.SealedColumn]:
    import vigil.models  # noqa: F401  (every models module registers its sealed columns)

    return sealed.sealed_columns()


# --- status ----------------------------------------------------------------------------------


@dataclass
class KeyCount:
    key_id: str
    # "current" (seals new values), "old" (configured, opens only), "missing" (not configured:
    # what it sealed cannot be read until the key is put back).
    state: str
    fields: int = 0
    blobs: int = 0


@dataclass
class KeyStatus:
    field_keys: list[KeyCount] = field(default_factory=list)
    blob_keys: list[KeyCount] = field(default_factory=list)
    # Per sealed column: key id -> values.
    columns: dict[str, dict[str, int]] = field(default_factory=dict)
    unreadable_blobs: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "field_keys": [vars(k) for k in self.field_keys],
            "blob_keys": [vars(k) for k in self.blob_keys],
            "columns": self.columns,
            "unreadable_blobs": self.unreadable_blobs,
        }

    @property
    def pending(self) -> int:
        """Values and blobs not sealed with the current key."""
        return sum(k.fields for k in self.field_keys if k.state != "current") + sum(
            k.blobs for k in self.blob_keys if k.state != "current"
        )


def _states(configured: list[str], counts: Counter[str], attr: str) -> list[KeyCount]:
    out = [
        KeyCount(kid, "current" if i == 0 else "old", **{attr: counts.get(kid, 0)})
        for i, kid in enumerate(configured)
    ]
    out += [
        KeyCount(kid, "missing", **{attr: n})
        for kid, n in sorted(counts.items())
        if kid not in configured
    ]
    return out


def _blob_keys(session: Session) -> list[str]:
    keys: list[str] = []
    for table_name, column in BLOB_SOURCES:
        table = _table(table_name, column)
        keys += session.scalars(select(table.c[column]).where(table.c[column].is_not(None))).all()
    return keys


def status(session: Session, settings: Settings) -> KeyStatus:
    """How many sealed values and blobs each key seals (a key with none left can be dropped)."""
    ring = sealed.keyring(settings)
    result = KeyStatus()
    field_counts: Counter[str] = Counter()
    for col in _all_columns():
        table = _table(col.table, col.column, pk=col.pk)
        kid = func.substr(table.c[col.column], _ID_WIDTH + 1, sealed.KEY_ID_HEX)
        rows = session.execute(
            select(kid, func.count()).where(table.c[col.column].is_not(None)).group_by(kid)
        ).all()
        per = {str(k): int(n) for k, n in rows}
        result.columns[f"{col.table}.{col.column}"] = per
        field_counts.update(per)
    result.field_keys = _states(ring.key_ids, field_counts, "fields")

    store = _blob_store(settings)
    blob_counts: Counter[str] = Counter()
    for key in _blob_keys(session):
        try:
            blob_counts[store.key_id_of(key)] += 1
        except (OSError, BlobError):
            result.unreadable_blobs += 1
    result.blob_keys = _states(store.key_ids, blob_counts, "blobs")
    return result


# --- rotation --------------------------------------------------------------------------------


@dataclass
class RotationResult:
    resealed_fields: int = 0
    resealed_blobs: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: RotationResult) -> None:
        self.resealed_fields += other.resealed_fields
        self.resealed_blobs += other.resealed_blobs
        self.failed += other.failed
        self.errors += other.errors[: max(0, 20 - len(self.errors))]

    def to_json(self) -> dict[str, Any]:
        return {
            "resealed_fields": self.resealed_fields,
            "resealed_blobs": self.resealed_blobs,
            "failed": self.failed,
        }


def rotate_column_batch(
    session: Session, ring: sealed.Keyring, col: sealed.SealedColumn, *, after: Any, limit: int
) -> tuple[RotationResult, Any]:
    """Re-seal up to ``limit`` values of ``col`` not sealed with the current key, with a
    primary key above ``after``. Returns what changed and the last primary key seen (None
    when the column is done)."""
    table = _table(col.table, col.column, pk=col.pk)
    pk, value = table.c[col.pk], table.c[col.column]
    kid = func.substr(value, _ID_WIDTH + 1, sealed.KEY_ID_HEX)
    query = select(pk, value).where(value.is_not(None), kid != ring.current_id)
    if after is not None:
        query = query.where(pk > after)
    rows = session.execute(query.order_by(pk).limit(limit)).all()
    result = RotationResult()
    for row_id, token in rows:
        try:
            new = ring.reseal(token, table=col.table, column=col.column, row=row_id)
        except sealed.SealedError as exc:
            result.failed += 1
            result.errors.append(f"{col.table}.{col.column} #{row_id}: {exc}")
            continue
        if new is None:
            continue
        done = session.execute(
            update(table).where(pk == row_id, value == token).values({col.column: new})
        )
        result.resealed_fields += done.rowcount or 0  # type: ignore[attr-defined]
    return result, (rows[-1][0] if len(rows) == limit else None)


def rotate_blobs_batch(
    session: Session, store: BlobStore, source: tuple[str, str], *, after: int | None, limit: int
) -> tuple[RotationResult, int | None]:
    """Re-seal up to ``limit`` blobs named by ``source`` (table, column) after row ``after``."""
    table_name, column = source
    table = _table(table_name, column)
    query = select(table.c.id, table.c[column]).where(table.c[column].is_not(None))
    if after is not None:
        query = query.where(table.c.id > after)
    rows = session.execute(query.order_by(table.c.id).limit(limit)).all()
    result = RotationResult()
    for row_id, key in rows:
        try:
            result.resealed_blobs += store.reseal(key)
        except FileNotFoundError:
            continue  # deleted meanwhile (retention, erasure): nothing to re-seal
        except (OSError, BlobError) as exc:
            result.failed += 1
            result.errors.append(f"{table_name} #{row_id}: {exc}")
    return result, (rows[-1][0] if len(rows) == limit else None)


def rotate(
    session: Session,
    settings: Settings,
    actor: Principal,
    *,
    end_batch: Callable[[], None],
    batch: int | None = None,
) -> RotationResult:
    """Re-seal every sealed field value and every blob not sealed with the current keys, one
    transaction per batch (``end_batch`` commits it), and audit the run when anything moved
    or failed. Safe to run on several workers at once (see the invariants)."""
    limit = batch or settings.keys_rotate_batch
    ring = sealed.keyring(settings)
    total = RotationResult()
    for col in _all_columns():
        after: Any = None
        while True:
            part, after = rotate_column_batch(session, ring, col, after=after, limit=limit)
            total.add(part)
            end_batch()
            if after is None:
                break
    store = _blob_store(settings)
    for source in BLOB_SOURCES:
        blob_after: int | None = None
        while True:
            part, blob_after = rotate_blobs_batch(
                session, store, source, after=blob_after, limit=limit
            )
            total.add(part)
            end_batch()
            if blob_after is None:
                break
    if total.resealed_fields or total.resealed_blobs or total.failed:
        audit.record(
            session,
            actor,
            "keys.rotation.run",
            TARGET,
            None,
            data={
                **total.to_json(),
                "field_key": ring.current_id,
                "blob_key": store.key_ids[0],
                "errors": total.errors[:5],
            },
        )
    return total
