"""The pieces every metric is built from: the query, its result cells, and the few query
shapes that turn a source ``SELECT`` into per-bucket figures.

A metric's compute function receives a :class:`Ctx` and returns a :class:`Result`: cells keyed
by ``(bucket key, group key)`` plus one total per group key. The service fills the buckets
that have no cell (0 for counts, None otherwise), so the compute functions only report what
the database found.

Invariants:
- One statement per metric per request: a source select yields ``k`` (bucket key text from
  :func:`vigil.analytics.sql.bucket`), ``g`` (group key text, or null) and the figures; the
  shapes below group it in the database. Only grouped rows reach Python.
- Percentiles are interpolated between the two nearest ranks (as PostgreSQL's
  ``percentile_cont``): ``ROW_NUMBER()``/``COUNT()`` over ``PARTITION BY k, g`` keep at most two
  rows per partition, so a bucket of a million rows costs the database a sort, not Python.
- The total of a whole window is computed from the same rows (``k = '*'``), never by averaging
  bucket figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, literal, literal_column, select, union_all
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from vigil.analytics import sql
from vigil.auth.principal import Principal
from vigil.kit import clock

Interval = Literal["day", "week"]
Unit = Literal["count", "ratio", "seconds", "per_hour", "score"]
Better = Literal["higher", "lower"] | None

TOTAL = "*"  # the bucket key of a whole-window row
MAX_GROUPS = 50


@dataclass(frozen=True)
class Query:
    metric: str
    start: datetime
    end: datetime
    interval: Interval
    filters: dict[str, str | int] = field(default_factory=dict)
    group_by: str | None = None


@dataclass(frozen=True)
class Cell:
    value: float | None
    numerator: float | None = None
    denominator: float | None = None


@dataclass
class Result:
    """What a compute function found: ``cells[(bucket, group)]`` and ``totals[group]``
    (``group`` is None when the query has no group_by)."""

    cells: dict[tuple[str, str | None], Cell] = field(default_factory=dict)
    totals: dict[str | None, Cell] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    session: Session
    actor: Principal
    query: Query
    dialect: str = ""

    def __post_init__(self) -> None:
        self.dialect = sql.dialect_of(self.session)

    @property
    def start(self) -> datetime:
        return self.query.start

    @property
    def end(self) -> datetime:
        return self.query.end

    def f(self, name: str) -> Any:
        """A filter's value, or None when the query does not set it."""
        return self.query.filters.get(name)

    def grouped(self, name: str) -> bool:
        return self.query.group_by == name

    def bucket(self, column: Any) -> ColumnElement[str]:
        return sql.bucket(self.dialect, column, self.query.interval)

    def within(self, column: Any) -> list[ColumnElement[bool]]:
        return [column >= self.start, column < self.end]

    def seconds(self, start: Any, end: Any) -> ColumnElement[float]:
        return sql.seconds_between(self.dialect, start, end)


Compute = Callable[[Ctx], Result]


def no_group() -> ColumnElement[Any]:
    return literal(None).label("g")


# Bucket keys -----------------------------------------------------------------------------


def bucket_starts(start: datetime, end: datetime, interval: Interval) -> list[date]:
    """The first day of every bucket that ``[start, end)`` touches, in order."""
    first = clock.as_utc(start).date()
    last = (clock.as_utc(end) - timedelta(microseconds=1)).date()
    if interval == "week":
        first -= timedelta(days=first.weekday())
    step = timedelta(days=7 if interval == "week" else 1)
    out: list[date] = []
    day = first
    while day <= last:
        out.append(day)
        day += step
    return out


def bucket_end(day: date, interval: Interval) -> datetime:
    """The instant a bucket ends (exclusive), midnight UTC."""
    step = timedelta(days=7 if interval == "week" else 1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + step


# Query shapes ----------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def counts(ctx: Ctx, source: Select[Any]) -> Result:
    """``source`` yields ``k``, ``g`` and ``n`` (a count or a sum) per row; grouped here."""
    sub = source.subquery()
    rows = ctx.session.execute(
        select(sub.c.k, sub.c.g, func.sum(sub.c.n)).group_by(sub.c.k, sub.c.g)
    )
    result = Result()
    sums: dict[str | None, float] = {}
    for k, g, n in rows:
        g = _text(g)
        value = float(n or 0)
        result.cells[(str(k), g)] = Cell(value)
        sums[g] = sums.get(g, 0.0) + value
    result.totals = {g: Cell(v) for g, v in sums.items()}
    return result


def ratios(ctx: Ctx, source: Select[Any]) -> Result:
    """``source`` yields ``k``, ``g``, ``num`` and ``den`` per row; the value of a cell is
    ``sum(num) / sum(den)`` (None when the denominator is 0)."""
    sub = source.subquery()
    rows = ctx.session.execute(
        select(sub.c.k, sub.c.g, func.sum(sub.c.num), func.sum(sub.c.den)).group_by(
            sub.c.k, sub.c.g
        )
    )
    result = Result()
    sums: dict[str | None, tuple[float, float]] = {}
    for k, g, num, den in rows:
        g = _text(g)
        n, d = float(num or 0), float(den or 0)
        result.cells[(str(k), g)] = ratio_cell(n, d)
        before = sums.get(g, (0.0, 0.0))
        sums[g] = (before[0] + n, before[1] + d)
    result.totals = {g: ratio_cell(n, d) for g, (n, d) in sums.items()}
    return result


def ratio_cell(num: float, den: float) -> Cell:
    return Cell(num / den if den else None, num, den)


def with_total(source: Select[Any], total: bool = True) -> Any:
    """``source`` (``k``, ``g``, ...) and, with ``total``, the same rows again under
    ``k = '*'``."""
    sub = source.subquery()
    if not total:
        return sub
    others = [c for c in sub.c if c.key not in ("k", "g")]
    again = select(literal(TOTAL).label("k"), sub.c.g, *others)
    return union_all(select(sub.c.k, sub.c.g, *others), again).subquery()


def percentile(ctx: Ctx, source: Select[Any], q: Fraction, *, total: bool = True) -> Result:
    """``source`` yields ``k``, ``g`` and ``v`` (non-null values); the cell's value is the
    ``q`` quantile of ``v`` in its bucket, its denominator the number of values. Without
    ``total`` the whole window's figure is not computed (snapshots take their last bucket)."""
    rows_in = with_total(source, total)
    ranked = select(
        rows_in.c.k,
        rows_in.c.g,
        rows_in.c.v,
        func.row_number()
        .over(partition_by=(rows_in.c.k, rows_in.c.g), order_by=rows_in.c.v)
        .label("rn"),
        func.count().over(partition_by=(rows_in.c.k, rows_in.c.g)).label("n"),
    ).subquery()
    # Integer arithmetic on both databases: low = floor(q * (n - 1)).
    low = (ranked.c.n - 1) * q.numerator // q.denominator
    stmt = select(ranked.c.k, ranked.c.g, ranked.c.n, ranked.c.rn, ranked.c.v).where(
        ranked.c.rn - 1 >= low, ranked.c.rn - 1 <= low + 1
    )
    found: dict[tuple[str, str | None], tuple[int, dict[int, float]]] = {}
    for k, g, n, rn, v in ctx.session.execute(stmt):
        entry = found.setdefault((str(k), _text(g)), (int(n), {}))
        entry[1][int(rn) - 1] = float(v)
    result = Result()
    for (k, g), (n, values) in found.items():
        position = q * (n - 1)
        lo = int(position)  # floor: position is never negative
        value = values[lo]
        if position != lo and lo + 1 in values:
            value += (values[lo + 1] - value) * float(position - lo)
        cell = Cell(value, None, float(n))
        if k == TOTAL:
            result.totals[g] = cell
        else:
            result.cells[(k, g)] = cell
    return result


def maximum(ctx: Ctx, source: Select[Any], *, total: bool = True) -> Result:
    """``source`` yields ``k``, ``g`` and ``v``; the cell is the largest ``v`` (n in the
    denominator)."""
    sub = with_total(source, total)
    result = Result()
    for k, g, top, n in ctx.session.execute(
        select(sub.c.k, sub.c.g, func.max(sub.c.v), func.count()).group_by(sub.c.k, sub.c.g)
    ):
        cell = Cell(float(top) if top is not None else None, None, float(n))
        if k == TOTAL:
            result.totals[_text(g)] = cell
        else:
            result.cells[(str(k), _text(g))] = cell
    return result


def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where ``condition`` holds, else 0 (for ``num``/``den`` columns)."""
    return sql_case((condition, 1), else_=0)


def bucket_ends(ctx: Ctx, reach: timedelta | None) -> Any:
    """A derived table ``(k, e, lo)``: every bucket's key, the instant its state is read at
    (the bucket's end or now, whichever is earlier: the current bucket shows the present),
    and ``lo = e - reach`` (``e`` itself when ``reach`` is None)."""
    from vigil.kit.models import UTCDateTime

    parts = []
    for day, at in read_instants(ctx):
        lo = at - reach if reach is not None else at
        parts.append(
            select(
                literal(day.isoformat()).label("k"),
                literal(at, UTCDateTime()).label("e"),
                literal(lo, UTCDateTime()).label("lo"),
            )
        )
    return union_all(*parts).subquery("ends") if len(parts) > 1 else parts[0].subquery("ends")


def read_instants(ctx: Ctx) -> list[tuple[date, datetime]]:
    """Each bucket's first day and the instant a state (the backlog) is read at for it."""
    now = clock.now()
    out = []
    for day in bucket_starts(ctx.start, ctx.end, ctx.query.interval):
        begins = datetime(day.year, day.month, day.day, tzinfo=UTC)
        out.append((day, min(bucket_end(day, ctx.query.interval), ctx.end, max(now, begins))))
    return out


def text_of(ctx: Ctx, element: Any) -> ColumnElement[str]:
    """The text of a JSON array element that is a plain string."""
    if ctx.dialect == "postgresql":
        return element.op("#>>")(literal_column("'{}'"))
    return element
