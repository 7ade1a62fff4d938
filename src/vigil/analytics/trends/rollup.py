"""The roll-up: events added, incrementally, to hourly counts per (dimension, value).

What each dimension counts (``members``), by the hour of the event's ``occurred_at``:

- ``report_reason``: ``report_filed`` events, by ``payload.data.reason``.
- ``rule``: each live hit of an event, by rule name (shadow hits excluded: they change
  nothing, and a rule in shadow mode being tried out is not a trend).
- ``policy``: events with a live hit, by the hits' ``policy_code`` (an event counts once per
  policy). Hits rather than cases: every case a rule opens has its hit here, and counting
  from events keeps one mark for the whole roll-up.
- ``country``: flagged events (outcome review or block) and reports, by the country of the
  event's *subject*: the account the event is about. For a report that is the reported
  account (the envelope's ``counterparty_id``), not the reporter: a scam wave by new accounts
  in one country shows up as that country whatever the victims' country. For every other
  event it is the account that acted (the sender of a flagged message, the payer...).
- ``signup_cohort``: the same events, by the subject's account age at the event (``occurred_at``
  minus ``registered_at``), in bands: ``<1d``, ``1-7d``, ``8-30d``, ``31-90d``, ``>90d``, and
  ``unknown`` when the marketplace never told Vigil when the account registered. A relative
  age rather than the registration week: a calendar week would be a new value every week,
  with no baseline, and alert on every marketplace that has new accounts.
- ``payment_method``: ``payment`` and ``payout_request`` events that were flagged or whose
  ``data.status`` is ``failed`` or ``disputed``, by ``data.method`` (``unknown`` when absent).

Events whose value is missing (no account known yet, a report without a reported account,
no reason) are not counted for that dimension.

The walk: events are taken by id from a high-water mark, in id ranges of ``batch`` events,
each range counted by one ``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE`` per
dimension, so no event is read into Python. The mark only ever moves onto a *settled* event
(received more than ``settle`` ago) and never past an unsettled one it can see. An event
still being written is invisible, so the mark can only pass it by moving onto a settled event
with a higher id, which was received after it (ids come from a sequence): that needs the
invisible event's transaction to have lasted longer than ``settle``. The state row is locked
for the run: a second worker waits and then continues from the new mark, so a rerun adds
nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, func, literal, or_, select, true, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from vigil.accounts.models import Account
from vigil.analytics.sql import (
    bucket,
    dialect_of,
    json_elements,
    json_member,
    json_text,
    seconds_between,
)
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


# Account age bands of ``signup_cohort``: (upper bound in days, label), youngest first.
AGE_BANDS: tuple[tuple[int, str], ...] = ((1, "<1d"), (8, "1-7d"), (31, "8-30d"), (91, "31-90d"))
AGE_OLDEST = ">90d"
AGE_UNKNOWN = "unknown"
AGE_VALUES: tuple[str, ...] = (*(label for _d, label in AGE_BANDS), AGE_OLDEST, AGE_UNKNOWN)


def _age_band(dialect: str) -> ColumnElement[str]:
    """The subject's account age at the event, as a band (a negative age, from clocks a few
    seconds apart at signup, counts as the youngest band)."""
    age = seconds_between(dialect, Account.registered_at, Event.occurred_at)
    whens: list[Any] = [(Account.registered_at.is_(None), AGE_UNKNOWN)]
    whens += [(age < days * 86400, label) for days, label in AGE_BANDS]
    return case(*whens, else_=AGE_OLDEST)


def _subject_members(
    dialect: str, dimension: str, cols: tuple[Any, ...], counted_only: bool, where: tuple[Any, ...]
) -> Any:
    """Rows for ``country`` / ``signup_cohort``, described by the event's subject: the
    reported account for a report (joined on its unique ``external_id``), the acting account
    for anything else. Two branches so each join uses its own index."""
    if dimension == Dimension.country:
        value: ColumnElement[str] = _text(Account.country)
    else:
        value = _age_band(dialect)
    actor = (
        select(*cols, value.label("value"))
        .select_from(Event)
        .join(Account, Account.id == Event.account_id)
        .where(Event.type != "report_filed", value.is_not(None), *where)
    )
    if counted_only:
        actor = actor.where(Event.outcome.in_(FLAGGED))
    reported = (
        select(*cols, value.label("value"))
        .select_from(Event)
        .join(Account, Account.external_id == Event.counterparty_external_id)
        .where(Event.type == "report_filed", value.is_not(None), *where)
    )
    return union_all(actor, reported)


def members(dialect: str, dimension: str, *where: Any, counted_only: bool = True) -> Any:
    """One row per (event, value) an event is counted under for ``dimension``, with the
    columns ``event_id``, ``occurred_at``, ``case_id`` and ``value``; ``where`` narrows the
    events (an id range for the roll-up, a time window or ids for drill-downs).

    ``counted_only=False`` drops the "which events count" filters (flagged, failed or
    disputed) and only describes events: the drill-down uses it to give, say, the country of
    every event of a payment-method wave, flagged or not."""
    cols = (
        Event.id.label("event_id"),
        Event.occurred_at.label("occurred_at"),
        Event.case_id.label("case_id"),
    )
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
        return _subject_members(dialect, dimension, cols, counted_only, where)
    if dimension == Dimension.payment_method:
        status = json_text(dialect, Event.payload, "data", "status")
        value = _text(func.coalesce(json_text(dialect, Event.payload, "data", "method"), "unknown"))
        query = select(*cols, value.label("value")).where(Event.type.in_(PAYMENT_TYPES), *where)
        if counted_only:
            query = query.where(or_(Event.outcome.in_(FLAGGED), status.in_(PAYMENT_PROBLEMS)))
        return query
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


def _execute(session: Session, dialect: str, stmt: Any) -> int:
    """Run one upsert; the number of count rows it inserted or added to. PostgreSQL reports
    no rowcount for this ``INSERT ... SELECT ... ON CONFLICT`` (-1), so there the rows come
    back as ``RETURNING 1`` (one per (value, hour) of the batch: bounded)."""
    if dialect == "postgresql":
        return len(session.execute(stmt.returning(literal(1))).all())
    result: Any = session.execute(stmt)
    return max(result.rowcount or 0, 0)


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
    """``(upper, n)``: the next id range ``(mark, upper]`` of at most ``batch`` events, where
    ``upper`` is a settled event (received at or before ``cutoff``) below every unsettled one
    visible; ``n == 0`` when there is nothing settled to count.

    ``upper`` must itself be settled: "just below the first unsettled id" could be the id of
    an event still being written (invisible), which would then never be counted."""
    window = select(Event.id).where(Event.id > mark).order_by(Event.id).limit(batch).subquery()
    top = session.scalar(select(func.max(window.c.id)))
    if top is None:
        return mark, 0
    unsettled = session.scalar(
        select(func.min(Event.id)).where(
            Event.id > mark, Event.id <= top, Event.received_at > cutoff
        )
    )
    settled = [Event.id > mark, Event.id <= top, Event.received_at <= cutoff]
    if unsettled is not None:
        settled.append(Event.id < unsettled)
    upper = session.scalar(select(func.max(Event.id)).where(*settled))
    if upper is None or upper <= mark:
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
            rows += _execute(
                session, dialect, _upsert(dialect, dimension, state.last_event_id, upper)
            )
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
