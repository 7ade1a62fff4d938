"""SQL expressions that differ between SQLite and PostgreSQL, for aggregates computed by the
database.

Every helper takes the dialect name (``session.get_bind().dialect.name``) and returns a
SQLAlchemy expression, so one query builder serves both databases.

Invariants:
- Timestamps are UTC. On SQLite a ``UTCDateTime`` is stored as naive ISO text
  (``2026-11-21 22:34:47.123456``), so a bucket is a prefix of that text; on PostgreSQL it is
  ``timestamptz`` and is read ``AT TIME ZONE 'UTC'`` whatever the session's time zone.
- A bucket key is text that sorts in time order and means the same on both databases:
  hour ``2026-11-21T22``, day ``2026-11-21``, ISO week start (Monday) ``2026-11-16``.
- ``seconds_between`` is a float number of seconds (``b - a``), null when either is null.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Float, String, cast, func, literal_column
from sqlalchemy.sql.elements import ColumnElement

Interval = Literal["hour", "day", "week"]


def bucket(dialect: str, column: Any, interval: Interval) -> ColumnElement[str]:
    """The bucket key (text) of a timestamp column for ``interval``."""
    if dialect == "postgresql":
        utc = func.timezone("UTC", column)
        if interval == "hour":
            return func.to_char(utc, 'YYYY-MM-DD"T"HH24')
        if interval == "day":
            return func.to_char(utc, "YYYY-MM-DD")
        return func.to_char(func.date_trunc("week", utc), "YYYY-MM-DD")
    if interval == "hour":
        return (
            func.substr(column, 1, 10)
            .op("||")(literal_column("'T'"))
            .op("||")(func.substr(column, 12, 2))
        )
    if interval == "day":
        return cast(func.substr(column, 1, 10), String)
    # SQLite: 'weekday 0' moves forward to the next Sunday (or stays on one), so step back
    # six days from there to reach the Monday that starts the ISO week.
    return func.date(column, "weekday 0", "-6 days")


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in seconds, as a float."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    # julianday() is a float of days: rounding to the millisecond removes the binary noise
    # (7230.0000116 s for an exact 7230 s) that would make equal durations compare unequal.
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)


def json_text(dialect: str, column: Any, *path: str) -> ColumnElement[str]:
    """The text at ``path`` inside a JSON column (null when absent)."""
    if dialect == "postgresql":
        return column.op("#>>")(literal_column("'{" + ",".join(path) + "}'"))
    return func.json_extract(column, "$." + ".".join(path))


def json_elements(dialect: str, column: Any, name: str = "elem") -> Any:
    """A table-valued expression of the elements of a JSON array column; join it with
    ``.join(elements, true())`` and read ``json_member(dialect, elements, key)``."""
    if dialect == "postgresql":
        return func.jsonb_array_elements(column).table_valued("value").alias(name)
    return func.json_each(column).table_valued("value").alias(name)


def json_member(dialect: str, elements: Any, key: str) -> ColumnElement[str]:
    """The text of ``key`` in each element of a :func:`json_elements` expression."""
    if dialect == "postgresql":
        return elements.c.value.op("->>")(key)
    return func.json_extract(elements.c.value, "$." + key)


def dialect_of(session: Any) -> str:
    return str(session.get_bind().dialect.name)
