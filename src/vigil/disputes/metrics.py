"""Dispute figures for a time window, computed by the database.

- ``opened``: disputes opened in ``[since, until)``; ``resolved`` and its breakdowns (by
  outcome, by ``resolved_by``): disputes resolved in the window.
- ``respondent_default_rate``: of the disputes opened in the window whose respondent either
  answered or let the deadline pass, the share that defaulted (a dispute withdrawn before
  either is left out; None when there is none).
- Durations (seconds from opening): to the respondent's first response and to the first
  proposal, over disputes opened in the window; to resolution, over disputes resolved in it.
  Median and 90th percentile are interpolated between the two nearest ranks, as PostgreSQL's
  ``percentile_cont`` does.

Each duration is a column written once when its step happens, so a percentile is a ``COUNT``
and one ``ORDER BY ... LIMIT 2 OFFSET k`` read: the window's rows are found by the
``opened_at`` / ``resolved_at`` index and sorted by the database (no index orders durations
within a window); only the two rows that bracket the rank reach Python, on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.disputes.models import Dispute
from vigil.kit.errors import InvalidInput


@dataclass(frozen=True)
class Durations:
    count: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class DisputeMetrics:
    since: datetime | None
    until: datetime | None
    opened: int
    resolved: int
    resolved_by_outcome: dict[str, int]
    resolved_by: dict[str, int]
    respondent_default_rate: float | None
    time_to_first_response: Durations
    time_to_first_proposal: Durations
    time_to_resolution: Durations


def _window(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    conditions = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def _percentile(
    session: Session, column: InstrumentedAttribute[Any], where: list[Any], n: int, q: float
) -> float | None:
    if n == 0:
        return None
    position = q * (n - 1)
    low = math.floor(position)
    high = math.ceil(position)
    values = list(
        session.scalars(
            select(column)
            .where(*where, column.is_not(None))
            .order_by(column)
            .offset(low)
            .limit(high - low + 1)
        )
    )
    if not values:
        return None
    if len(values) == 1 or high == low:
        return float(values[0])
    return float(values[0]) + (float(values[1]) - float(values[0])) * (position - low)


def _durations(session: Session, column: InstrumentedAttribute[Any], where: list[Any]) -> Durations:
    n = session.scalar(select(func.count()).select_from(Dispute).where(*where, column.is_not(None)))
    count = int(n or 0)
    return Durations(
        count=count,
        median_seconds=_percentile(session, column, where, count, 0.5),
        p90_seconds=_percentile(session, column, where, count, 0.9),
    )


def compute(
    session: Session,
    actor: Principal,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DisputeMetrics:
    actor.require(Permission.disputes_read)
    if since is not None and until is not None and since >= until:
        raise InvalidInput("since must be before until", field="since", code="invalid_window")
    opened_in = _window(Dispute.opened_at, since, until)
    resolved_in = _window(Dispute.resolved_at, since, until)
    resolved_in = [Dispute.resolved_at.is_not(None), *resolved_in]
    opened = session.scalar(select(func.count()).select_from(Dispute).where(*opened_in)) or 0
    by_outcome = {
        str(getattr(outcome, "value", outcome)): int(count)
        for outcome, count in session.execute(
            select(Dispute.outcome, func.count()).where(*resolved_in).group_by(Dispute.outcome)
        )
    }
    by_whom = {
        str(getattr(who, "value", who)): int(count)
        for who, count in session.execute(
            select(Dispute.resolved_by, func.count())
            .where(*resolved_in)
            .group_by(Dispute.resolved_by)
        )
    }
    defaulted = (
        session.scalar(
            select(func.count())
            .select_from(Dispute)
            .where(*opened_in, Dispute.respondent_defaulted.is_(True))
        )
        or 0
    )
    responded = (
        session.scalar(
            select(func.count())
            .select_from(Dispute)
            .where(*opened_in, Dispute.responded_at.is_not(None))
        )
        or 0
    )
    decided = defaulted + responded
    return DisputeMetrics(
        since=since,
        until=until,
        opened=int(opened),
        resolved=sum(by_outcome.values()),
        resolved_by_outcome=dict(sorted(by_outcome.items())),
        resolved_by=dict(sorted(by_whom.items())),
        respondent_default_rate=(defaulted / decided) if decided else None,
        time_to_first_response=_durations(session, Dispute.response_seconds, opened_in),
        time_to_first_proposal=_durations(session, Dispute.first_proposal_seconds, opened_in),
        time_to_resolution=_durations(session, Dispute.resolution_seconds, resolved_in),
    )
