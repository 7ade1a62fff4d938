"""The dialect helpers give the same bucket keys, durations and JSON reads on both databases,
whatever the PostgreSQL session's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Integer, MetaData, Table, select, true
from sqlalchemy.orm import Session

from vigil.analytics import sql
from vigil.kit.models import JSONType, UTCDateTime

_META = MetaData()
_T = Table(
    "tmp_analytics_sql",
    _META,
    Column("id", Integer, primary_key=True),
    Column("a", UTCDateTime()),
    Column("b", UTCDateTime()),
    Column("j", JSONType),
)


def test_buckets_durations_and_json(db: Session) -> None:
    conn = db.connection()
    _META.create_all(conn)
    try:
        dialect = sql.dialect_of(db)
        if dialect == "postgresql":
            # A local time zone where 23:05 UTC is another day: keys must still be UTC.
            conn.exec_driver_sql("SET LOCAL TIME ZONE 'Pacific/Auckland'")
        conn.execute(
            _T.insert(),
            [
                {
                    "id": 1,
                    "a": datetime(2026, 11, 22, 23, 5, 7, 250000, tzinfo=UTC),  # a Sunday
                    "b": datetime(2026, 11, 23, 1, 5, 37, 750000, tzinfo=UTC),
                    "j": {"data": {"reason": "scam"}, "hits": [{"name": "r1"}, {"name": "r2"}]},
                },
                {
                    "id": 2,
                    "a": datetime(2026, 11, 23, 0, 0, tzinfo=UTC),  # the Monday after
                    "b": None,
                    "j": {"data": {}, "hits": []},
                },
            ],
        )
        rows = conn.execute(
            select(
                sql.bucket(dialect, _T.c.a, "hour"),
                sql.bucket(dialect, _T.c.a, "day"),
                sql.bucket(dialect, _T.c.a, "week"),
                sql.seconds_between(dialect, _T.c.a, _T.c.b),
                sql.json_text(dialect, _T.c.j, "data", "reason"),
            ).order_by(_T.c.id)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("2026-11-22T23", "2026-11-22", "2026-11-16", 7230.5, "scam"),
            ("2026-11-23T00", "2026-11-23", "2026-11-23", None, None),
        ]

        hits = sql.json_elements(dialect, _T.c.j["hits"])
        names = conn.execute(
            select(_T.c.id, sql.json_member(dialect, hits, "name"))
            .select_from(_T)
            .join(hits, true())
            .order_by(_T.c.id, sql.json_member(dialect, hits, "name"))
        ).all()
        assert [tuple(r) for r in names] == [(1, "r1"), (1, "r2")]
    finally:
        _META.drop_all(conn)
