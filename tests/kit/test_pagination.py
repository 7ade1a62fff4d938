"""Keyset cursors: what a list hands out decodes back to the same key, and anything else
(tampered, truncated, another list's cursor) is 422 ``invalid_cursor`` on ``cursor``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from vigil.kit.errors import InvalidInput
from vigil.kit.pagination import (
    decode_id_cursor,
    decode_time_id_cursor,
    encode_cursor,
    encode_time_id_cursor,
)


def test_id_cursor_round_trips() -> None:
    assert decode_id_cursor(encode_cursor([42])) == 42
    assert decode_id_cursor(encode_cursor([2**62])) == 2**62


def test_time_id_cursor_round_trips_in_utc() -> None:
    at = datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=UTC)
    assert decode_time_id_cursor(encode_time_id_cursor(at, 7)) == (at, 7)
    # A naive time (SQLite hands them back so) is UTC; another offset comes back as UTC.
    assert decode_time_id_cursor(encode_time_id_cursor(at.replace(tzinfo=None), 7)) == (at, 7)
    madrid = at.astimezone(timezone(timedelta(hours=1)))
    decoded, _ = decode_time_id_cursor(encode_time_id_cursor(madrid, 7))
    assert decoded == at and decoded.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "",
        encode_cursor(["7"]),
        encode_cursor([True]),
        encode_cursor([1.5]),
        encode_cursor([None]),
        encode_cursor([1, 2]),
        encode_cursor({"id": 1}),  # type: ignore[arg-type]
    ],
)
def test_a_bad_id_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_id_cursor(cursor)
    assert (info.value.code, info.value.field) == ("invalid_cursor", "cursor")


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor([7]),
        encode_cursor(["2026-11-21T09:00:00+00:00"]),
        encode_cursor(["yesterday", 7]),
        encode_cursor(["2026-11-21T09:00:00", 7]),  # naive: which zone? refused, not guessed
        encode_cursor([20261121, 7]),
        encode_cursor(["2026-11-21T09:00:00+00:00", "7"]),
        encode_cursor(["2026-11-21T09:00:00+00:00", False]),
    ],
)
def test_a_bad_time_id_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_time_id_cursor(cursor)
    assert (info.value.code, info.value.field) == ("invalid_cursor", "cursor")
