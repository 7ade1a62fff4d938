"""The roll-up counts what the events say, once, on both databases."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.analytics.trends.conftest import add, event, hit, make_account, report
from vigil.analytics.trends import rollup
from vigil.analytics.trends.models import TrendCount
from vigil.kit.clock import FrozenClock

T0 = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


def counts(db: Session) -> dict[tuple[str, str, str], int]:
    return {(r.dimension, r.value, r.bucket): r.count for r in db.scalars(select(TrendCount))}


def arrange(db: Session) -> Counter[tuple[str, str, str]]:
    """A mix of events; returns the counts a person would tally from them by hand."""
    br = make_account(db, "BR", datetime(2026, 11, 18, tzinfo=UTC))  # week of Mon 11-16
    us = make_account(db, "US", datetime(2026, 1, 7, tzinfo=UTC))  # week of Mon 01-05
    late = T0 + timedelta(hours=1)
    add(
        db,
        [
            report(T0, br, "scam"),
            report(T0 + timedelta(minutes=5), br, "scam"),
            report(T0, us, "spam"),
            report(late, us, "scam"),
            # Flagged message: live rule + shadow rule; two hits of one policy count once.
            event(
                T0,
                br,
                "message_sent",
                outcome="review",
                hits=[
                    hit("payment link", "off_platform"),
                    hit("bank words", "off_platform"),
                    hit("new idea", "scams", shadow=True),
                ],
            ),
            # Allowed message with a live hit: counted by rule and policy, not by country.
            event(T0, us, "message_sent", hits=[hit("payment link", "off_platform")]),
            # Payments: failed and disputed count; a plain success does not; no method: unknown.
            event(T0, us, "payment", data={"method": "card", "status": "failed"}),
            event(T0, us, "payment", data={"method": "card", "status": "disputed"}),
            event(T0, us, "payment", data={"method": "card", "status": "succeeded"}),
            event(late, br, "payout_request", data={}, outcome="block"),
            # No account known yet: only what needs no account is counted.
            report(T0, None, "spam"),  # type: ignore[arg-type]
        ],
    )
    h0, h1 = "2026-11-20T10", "2026-11-20T11"
    return Counter(
        {
            ("report_reason", "scam", h0): 2,
            ("report_reason", "spam", h0): 2,
            ("report_reason", "scam", h1): 1,
            ("rule", "payment link", h0): 2,
            ("rule", "bank words", h0): 1,
            ("policy", "off_platform", h0): 2,
            ("country", "BR", h0): 3,
            ("country", "US", h0): 1,
            ("country", "US", h1): 1,
            ("country", "BR", h1): 1,
            ("signup_cohort", "2026-11-16", h0): 3,
            ("signup_cohort", "2026-01-05", h0): 1,
            ("signup_cohort", "2026-01-05", h1): 1,
            ("signup_cohort", "2026-11-16", h1): 1,
            ("payment_method", "card", h0): 2,
            ("payment_method", "unknown", h1): 1,
        }
    )


def test_counts_match_the_events(db: Session, frozen: FrozenClock) -> None:
    frozen.set(T0 + timedelta(hours=3))
    expected = arrange(db)
    result = rollup.run(db)
    assert result.events == 11
    assert counts(db) == dict(expected)
    assert result.watermark == rollup.watermark(db)


def test_a_second_run_adds_nothing(db: Session, frozen: FrozenClock) -> None:
    frozen.set(T0 + timedelta(hours=3))
    expected = arrange(db)
    rollup.run(db)
    db.commit()
    again = rollup.run(db)
    assert again.events == 0
    assert counts(db) == dict(expected)


def test_small_batches_count_the_same(db: Session, frozen: FrozenClock) -> None:
    frozen.set(T0 + timedelta(hours=3))
    expected = arrange(db)
    result = rollup.run(db, batch=3)
    assert result.events == 11
    assert counts(db) == dict(expected)


def test_new_events_are_added_to_existing_counts(db: Session, frozen: FrozenClock) -> None:
    frozen.set(T0 + timedelta(hours=3))
    expected = arrange(db)
    rollup.run(db)
    account = make_account(db, "BR", datetime(2026, 11, 18, tzinfo=UTC))
    add(db, [report(T0, account, "scam")])
    assert rollup.run(db).events == 1
    assert counts(db)[("report_reason", "scam", "2026-11-20T10")] == 3
    assert counts(db)[("country", "BR", "2026-11-20T10")] == expected[
        ("country", "BR", "2026-11-20T10")] + 1  # fmt: skip


def test_an_event_committed_late_is_counted_later(db: Session, frozen: FrozenClock) -> None:
    """Event 2 commits while event 1 (received at the same moment, lower id) is still being
    written: the mark must not pass event 1."""
    account = make_account(db, "BR")
    received = T0
    first = report(T0, account, "scam", received_at=received)
    second = report(T0, account, "scam", received_at=received)
    second["id"] = 1000
    add(db, [second])
    # One minute later event 1 is still in flight: the settle lag keeps the mark behind.
    frozen.set(received + timedelta(minutes=1))
    assert rollup.run(db).events == 0
    # Event 1 commits now, with the lower id it took when it was received.
    first["id"] = 999
    add(db, [first])
    frozen.set(received + timedelta(minutes=3))
    assert rollup.run(db).events == 2
    assert counts(db)[("report_reason", "scam", "2026-11-20T10")] == 2
