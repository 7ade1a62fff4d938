"""Declarative base, column types and mixins used by every table.

Invariants:
- Every timestamp column is ``UTCDateTime``: stored as ``timestamptz`` on PostgreSQL and as
  ISO text on SQLite, always returned timezone-aware in UTC.
- Primary keys are 64-bit integers (an ``INTEGER PRIMARY KEY`` rowid alias on SQLite), so
  keyset pagination is a single indexed comparison.
- Constraint names follow one convention, so Alembic migrations are stable across databases.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Enum, Integer, MetaData, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vigil.kit import clock

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON().with_variant(JSONB(), "postgresql")
JSONList = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime that is always timezone-aware UTC on the Python side."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = clock.as_utc(value)
        if dialect.name == "sqlite":
            # SQLite has no time zones: store naive UTC so text comparison orders correctly.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else clock.as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class IdMixin:
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )


def str_enum(enum: type[StrEnum], length: int = 32) -> Enum:
    """A ``StrEnum`` column stored as plain text; Python sees enum members.

    The allowed values are enforced by an explicit, named CHECK constraint (``enum_check``)
    rather than a native enum type, so adding a value is a constraint change, not a type
    migration, and SQLite and PostgreSQL hold the same schema.
    """
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def enum_check(column: str, values: type) -> str:
    """SQL for a CHECK constraint that keeps a string column inside a ``StrEnum``."""
    allowed = ", ".join(f"'{v.value}'" for v in values)  # type: ignore[attr-defined]
    return f"{column} IN ({allowed})"
