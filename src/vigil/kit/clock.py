"""The one clock. Every timestamp in Vigil is timezone-aware UTC and comes from here.

Tests freeze or move it with :func:`frozen`; production reads the system clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen if _frozen is not None else datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (SQLite hands them back naive)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@contextlib.contextmanager
def frozen(at: datetime) -> Iterator[FrozenClock]:
    global _frozen
    previous = _frozen
    _frozen = as_utc(at)
    try:
        yield FrozenClock()
    finally:
        _frozen = previous


class FrozenClock:
    """Handle returned by :func:`frozen`; ``advance`` moves the frozen time forward."""

    def advance(self, delta: timedelta) -> datetime:
        global _frozen
        assert _frozen is not None, "the clock is not frozen"
        _frozen = _frozen + delta
        return _frozen

    def set(self, at: datetime) -> datetime:
        global _frozen
        _frozen = as_utc(at)
        return _frozen
