"""The roll-up: events added, incrementally, to hourly counts per (dimension, value).

What each dimension counts (``members``), by the hour of the event's ``occurred_at``:

- ``report_reason``: ``report_filed`` events, by ``payload.data.reason``.
- ``rule``: each live hit of an event, by rule name (shadow hits excluded: they change
  nothing, and a rule in shadow mode being tried out is not a trend).
- ``policy``: events with a live hit, by the hits' ``policy_code`` (an event counts once per
  policy). Hits rather than cases: every case a rule opens has its hit here, and counting
  from events keeps one mark for the whole roll-up.
- ``country``: flagged events (outcome review or block) and reports, by the country of the
  event's account.
- ``signup_cohort``: the same events, by the Monday of the ISO week the account registered
  (``registered_at``, else when Vigil first saw it), e.g. ``2026-11-16``.
- ``payment_method``: ``payment`` and ``payout_request`` events that were flagged or whose
  ``data.status`` is ``failed`` or ``disputed``, by ``data.method`` (``unknown`` when absent).

Events whose value is missing (no account yet, no reason) are not counted for that dimension.

The walk: events are taken by id from a high-water mark, in id ranges of ``batch`` events,
each range counted by one ``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE`` per
dimension, so no event is read into Python. The mark only passes events received more than
``settle`` ago, and never passes an event received after that, so an event whose transaction
commits after one with a higher id is still ahead of the mark. The state row is locked for
the run: a second worker waits and then continues from the new mark, so a rerun adds nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, func, literal, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vigil.accounts.models import Account
from vigil.analytics.sql import bucket, dialect_of, json_elements, json_member, json_text
from vigil.analytics.trends.models import DIMENSIONS, Dimension, TrendCount, TrendRollupState
from vigil.detection.models import Event
from vigil.kit import clock

STATE_NAME = "events"
# Far longer than any ingestion transaction: an event still being written when the walk
# passes has a ``received_at`` after the cutoff, so the mark stops below it.
SETTLE_LAG = timedelta(minutes=2)
VALUE_MAX = 200
FLAGGED = ("review", "block")
PAYMENT_TYPES = ("payment", "payout_request")
PAYMENT_PROBLEMS = ("failed", "disputed")


@dataclass
class RollupResult:
    events: int  # events the mark moved past in this run
    rows: int  # count rows inserted or added to
    watermark: int  # the mark after the run


def _text(value: Any) -> ColumnElement[str]:
    return func.substr(cast(value, String), 1, VALUE_MAX)


def members(dialect: str, dimension: str, *where: Any) -> Any:
    """One row per (event, value) an event is counted under for ``dimension``, with the
    columns ``event_id``, ``occurred_at``, ``case_id`` and ``value``; ``where`` narrows the
    events (an id range for the roll-up, a time window for drill-downs)."""
    cols = (
        Event.id.label("event_id"),
        Event.occurred_at.label("occurred_at"),
        Event.case_id.label("case_id"),
    )
    flagged_or_report = or_(Event.outcome.in_(FLAGGED), Event.type == "report_filed")
    if dimension == Dimension.report_reason:
        value = _text(json_text(dialect, Event.payload, "data", "reason"))
        return select(*cols, value.label("value")).where(
            Event.type == "report_filed", value.is_not(None), *where
        )
    if dimension in (Dimension.rule, Dimension.policy):
        hit = json_elements(dialect, Event.hits, "hit")
        key = "name" if dimension == Dimension.rule else "policy_code"
        value = _text(json_member(dialect, hit, key))
        shadow = func.coalesce(cast(json_member(dialect, hit, "shadow"), String), "false")
        return (
            select(*cols, value.label("value"))
            .select_from(Event)
            .join(hit, true())
            .where(shadow.not_in(["true", "1"]), value.is_not(None), *where)
            .distinct()
        )
    if dimension in (Dimension.country, Dimension.signup_cohort):
        if dimension == Dimension.country:
            value = _text(Account.country)
        else:
            registered = func.coalesce(Account.registered_at, Account.created_at)
            value = _text(bucket(dialect, registered, "week"))
        return (
            select(*cols, value.label("value"))
            .select_from(Event)
            .join(Account, Account.id == Event.account_id)
            .where(flagged_or_report, value.is_not(None), *where)
        )
    if dimension == Dimension.payment_method:
        status = json_text(dialect, Event.payload, "data", "status")
        value = _text(func.coalesce(json_text(dialect, Event.payload, "data", "method"), "unknown"))
        return select(*cols, value.label("value")).where(
            Event.type.in_(PAYMENT_TYPES),
            or_(Event.outcome.in_(FLAGGED), status.in_(PAYMENT_PROBLEMS)),
            *where,
        )
    raise ValueError(f"unknown dimension {dimension!r}")


def _upsert(dialect: str, dimension: str, lo: int, hi: int) -> Any:
    m = members(dialect, dimension, Event.id > lo, Event.id <= hi).subquery("m")
    key = bucket(dialect, m.c.occurred_at, "hour")
    counted = (
        select(literal(dimension), m.c.value, key, func.count())
        # SQLite parses ``INSERT ... SELECT ... ON CONFLICT`` only with a WHERE clause.
        .where(true())
        .group_by(m.c.value, key)
    )
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(TrendCount).from_select(["dimension", "value", "bucket", "count"], counted)
    return stmt.on_conflict_do_update(
        index_elements=["dimension", "value", "bucket"],
        set_={"count": TrendCount.count + stmt.excluded["count"]},
    )


def _state(session: Session) -> TrendRollupState:
    query = (
        select(TrendRollupState)
        .where(TrendRollupState.name == STATE_NAME)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    state = session.scalar(query)
    if state is None:
        try:
            with session.begin_nested():
                session.add(TrendRollupState(name=STATE_NAME, last_event_id=0))
                session.flush()
        except IntegrityError:
            pass  # another run made it first: take it under its lock like any later run
        state = session.scalar(query)
        assert state is not None
    return state


def _next_range(session: Session, mark: int, batch: int, cutoff: datetime) -> tuple[int, int]:
    """``(upper, n)``: the next id range ``(mark, upper]`` of at most ``batch`` events, all
    received at or before ``cutoff``; ``n == 0`` when there is nothing settled to count."""
    window = select(Event.id).where(Event.id > mark).order_by(Event.id).limit(batch).subquery()
    upper = session.scalar(select(func.max(window.c.id)))
    if upper is None:
        return mark, 0
    # The first event in the range not yet settled stops the range below it.
    unsettled = session.scalar(
        select(func.min(Event.id)).where(
            Event.id > mark, Event.id <= upper, Event.received_at > cutoff
        )
    )
    if unsettled is not None:
        upper = unsettled - 1
    if upper <= mark:
        return mark, 0
    n = session.scalar(select(func.count()).where(Event.id > mark, Event.id <= upper)) or 0
    return upper, n


def run(
    session: Session,
    *,
    now: datetime | None = None,
    batch: int = 50_000,
    settle: timedelta = SETTLE_LAG,
    budget_seconds: float | None = None,
) -> RollupResult:
    """Count the events received since the last run. Walks id ranges until caught up (or,
    with ``budget_seconds``, until that much time is spent: the next run carries on). Never
    commits: the job (or the caller) does, which makes the counts and the mark one change."""
    if batch < 1:
        raise ValueError("batch must be positive")
    dialect = dialect_of(session)
    state = _state(session)
    cutoff = (now or clock.now()) - settle
    started = time.monotonic()
    events = rows = 0
    while True:
        upper, n = _next_range(session, state.last_event_id, batch, cutoff)
        if n == 0:
            break
        for dimension in DIMENSIONS:
            result: Any = session.execute(_upsert(dialect, dimension, state.last_event_id, upper))
            rows += max(result.rowcount or 0, 0)
        state.last_event_id = upper
        events += n
        if budget_seconds is not None and time.monotonic() - started >= budget_seconds:
            break
    state.updated_at = clock.now()
    session.flush()
    return RollupResult(events=events, rows=rows, watermark=state.last_event_id)


def watermark(session: Session) -> int:
    """The id of the last event counted (0 before the first run)."""
    value = session.scalar(
        select(TrendRollupState.last_event_id).where(TrendRollupState.name == STATE_NAME)
    )
    return int(value or 0)


def in_window(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Events that occurred in ``[start, end)`` (uses the ``occurred_at`` indexes)."""
    return and_(Event.occurred_at >= start, Event.occurred_at < end)
