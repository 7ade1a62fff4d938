"""Keyset pagination: an opaque cursor holds the sort key of the last row returned.

A page is fetched with ``WHERE (sort_key, id) > (:last_key, :last_id) ORDER BY sort_key, id
LIMIT n+1``; the extra row tells whether there is a next page. No OFFSET, so page 1,000 costs
what page 1 costs.

Invariant: a cursor that does not decode to the expected shape (tampered, truncated, from
another list) is 422 ``invalid_cursor`` on field ``cursor``, never a 500 and never a silently
different page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from vigil.kit import clock
from vigil.kit.errors import InvalidInput

T = TypeVar("T")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps(list(values), default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
    return values


def _invalid() -> InvalidInput:
    return InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")


def _row_id(value: Any) -> int:
    # JSON has no bool/int distinction problem, but Python does: ``True`` is an int.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid()
    return value


def decode_id_cursor(cursor: str) -> int:
    """The row id of a cursor made by ``encode_cursor([row.id])``."""
    (value,) = decode_cursor(cursor, 1)
    return _row_id(value)


def encode_time_id_cursor(at: datetime, row_id: int) -> str:
    """A cursor for a list ordered by ``(timestamp, id)``."""
    return encode_cursor([clock.as_utc(at).isoformat(), row_id])


def decode_time_id_cursor(cursor: str) -> tuple[datetime, int]:
    """The ``(timestamp, id)`` of a cursor made by :func:`encode_time_id_cursor`; the time is
    timezone-aware UTC (a cursor holding a naive time is refused, not guessed)."""
    at, row_id = decode_cursor(cursor, 2)
    if not isinstance(at, str):
        raise _invalid()
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        raise _invalid() from None
    if parsed.tzinfo is None:
        raise _invalid()
    return clock.as_utc(parsed), _row_id(row_id)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
