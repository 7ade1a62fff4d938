"""Keyset pagination: an opaque cursor holds the sort key of the last row returned.

A page is fetched with ``WHERE (sort_key, id) > (:last_key, :last_id) ORDER BY sort_key, id
LIMIT n+1``; the extra row tells whether there is a next page. No OFFSET, so page 1,000 costs
what page 1 costs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

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


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
