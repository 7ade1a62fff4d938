"""Export statements as batch files for the DSA Transparency Database.

Each file is one request body for the database's multiple-statement endpoint
(``POST /api/v1/statements``): ``{"statements": [...]}`` with at most 100 statements, each
exactly as stored. Every statement is validated again before anything is written, because the
database refuses a whole batch for one bad statement: if any fails, no file is written and
nothing is marked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.dsa.models import Statement
from vigil.dsa.rules import BATCH_MAX, FieldError, validate_fields
from vigil.dsa.service import window
from vigil.kit import clock
from vigil.kit.errors import InvalidInput


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    count: int


@dataclass(frozen=True)
class ExportResult:
    files: list[ExportedFile]

    @property
    def total(self) -> int:
        return sum(f.count for f in self.files)


class ExportRefused(InvalidInput):
    """Stored statements that the database would refuse; ``invalid`` maps each statement's
    reference to its violations."""

    code = "invalid_statement"

    def __init__(self, invalid: dict[str, list[FieldError]]) -> None:
        first_ref, first_errors = next(iter(invalid.items()))
        super().__init__(
            f"{len(invalid)} statement(s) would be refused, first {first_ref}: "
            f"{first_errors[0].message}",
            field=f"statement.{first_errors[0].field}",
            details=[
                {"statement": ref, **e.as_dict()} for ref, errors in invalid.items() for e in errors
            ],
        )
        self.invalid = invalid


def _rows(
    session: Session, since: date, until: date, only_pending: bool, chunk: int = 500
) -> Iterator[Statement]:
    """Statements created in the window, oldest first, read in chunks by keyset."""
    start, end = window(since, until)
    last: tuple[object, int] | None = None
    while True:
        query = (
            select(Statement)
            .where(Statement.created_at >= start, Statement.created_at < end)
            .order_by(Statement.created_at, Statement.id)
            .limit(chunk)
        )
        if only_pending:
            query = query.where(Statement.exported_at.is_(None))
        if last is not None:
            query = query.where(tuple_(Statement.created_at, Statement.id) > last)
        rows = list(session.scalars(query))
        yield from rows
        if len(rows) < chunk:
            return
        last = (rows[-1].created_at, rows[-1].id)


def _write(path: Path, statements: list[dict[str, object]]) -> None:
    """Write then rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump({"statements": statements}, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    os.replace(tmp, path)


def export_statements(
    session: Session,
    actor: Principal,
    *,
    since: date,
    until: date,
    out_dir: Path,
    only_pending: bool = False,
    batch_size: int = BATCH_MAX,
) -> ExportResult:
    """Write the statements created from ``since`` to ``until`` (both days included, UTC) into
    ``out_dir/sor-<since>-<until>-<n>.json`` files of at most ``batch_size`` statements, and
    mark them exported. An empty window writes nothing and returns no files."""
    if until < since:
        raise InvalidInput("until is before since", field="until", code="invalid_window")
    if not 1 <= batch_size <= BATCH_MAX:
        raise InvalidInput(
            f"a batch holds 1 to {BATCH_MAX} statements", field="batch_size", code="out_of_range"
        )
    rows = list(_rows(session, since, until, only_pending))
    invalid = {s.reference: errors for s in rows if (errors := validate_fields(s.fields))}
    if invalid:
        raise ExportRefused(invalid)
    if not rows:
        return ExportResult([])

    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[ExportedFile] = []
    written: list[Path] = []
    try:
        for n, start in enumerate(range(0, len(rows), batch_size), start=1):
            batch = rows[start : start + batch_size]
            path = out_dir / f"sor-{since.isoformat()}-{until.isoformat()}-{n:03d}.json"
            _write(path, [dict(s.fields) for s in batch])
            written.append(path)
            files.append(ExportedFile(path, len(batch)))
    except OSError:
        for path in written:
            path.unlink(missing_ok=True)
        raise

    now = clock.now()
    ids = [s.id for s in rows]
    for start in range(0, len(ids), 1000):
        session.execute(
            update(Statement)
            .where(Statement.id.in_(ids[start : start + 1000]))
            .values(exported_at=now)
        )
    audit.record(
        session,
        actor,
        "dsa.statement.export",
        "statement",
        None,
        data={
            "since": since.isoformat(),
            "until": until.isoformat(),
            "count": len(rows),
            "files": [f.path.name for f in files],
            "first_id": min(ids),
            "last_id": max(ids),
        },
    )
    return ExportResult(files)
