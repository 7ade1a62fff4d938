"""The roll-up's mark with real concurrent ingestion transactions (PostgreSQL: SQLite takes
the write lock at BEGIN, so a second event cannot commit while one is being written)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from tests.analytics.trends.conftest import make_account, report
from vigil.analytics.trends import rollup
from vigil.analytics.trends.models import TrendCount
from vigil.detection.models import Event

T = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


@pytest.mark.only_backend("postgresql")
def test_an_event_whose_transaction_is_open_is_not_skipped(
    backend: str, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as setup:
        account = make_account(setup, "BR")
        reporter = make_account(setup, "DE")
        setup.execute(insert(Event), [report(T - timedelta(minutes=10), reporter, "scam",
                                             about=account)])  # fmt: skip
        setup.commit()
    with session_factory() as a, session_factory() as b, session_factory() as r:
        # Worker A is writing E2 (its id taken, not committed); B writes E3 and commits.
        a.execute(insert(Event), [report(T - timedelta(seconds=1), reporter, "scam",
                                         about=account)])  # fmt: skip
        a.flush()
        b.execute(insert(Event), [report(T - timedelta(milliseconds=500), reporter, "scam",
                                         about=account)])  # fmt: skip
        b.commit()
        first = rollup.run(r, now=T)
        r.commit()
        assert first.events == 1
        a.commit()  # E2 commits 1.5 s after it was received
        second = rollup.run(r, now=T + timedelta(minutes=10))
        r.commit()
        assert second.events == 2
        counted = r.scalar(
            select(func.sum(TrendCount.count)).where(TrendCount.dimension == "report_reason")
        )
        stored = r.scalar(select(func.count()).select_from(Event))
        assert (stored, counted) == (3, 3)
        # Country and age band of the reported account, all three.
        assert r.scalar(select(func.sum(TrendCount.count)).where(
            TrendCount.dimension == "country", TrendCount.value == "BR")) == 3  # fmt: skip
