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
    br = make_account(db, "BR", datetime(2026, 11, 18, tzinfo=UTC))  # 2 days old at T0
    us = make_account(db, "US", datetime(2026, 1, 7, tzinfo=UTC))  # over 90 days
    newcomer = make_account(db, "NG", T0 - timedelta(hours=3))  # under a day
    undated = make_account(db, "FR", None)  # signup date never sent
    reporter = make_account(db, "DE", datetime(2025, 2, 3, tzinfo=UTC))  # an ordinary user
    late = T0 + timedelta(hours=1)
    add(
        db,
        [
            # Reports describe the reported account, never the reporter (DE appears nowhere).
            report(T0, reporter, "scam", about=br),
            report(T0 + timedelta(minutes=5), reporter, "scam", about=br),
            report(T0, reporter, "spam", about=us),
            report(late, br, "scam", about=us),  # filed by a BR account: still a US report
            # About an account Vigil does not know, or about nobody: the reason only.
            report(T0, reporter, "spam", about="not-known-here"),
            report(T0, None, "spam"),
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
                counterparty=us,  # a message's subject is its sender
            ),
            event(T0, newcomer, "message_sent", outcome="block"),
            event(T0, undated, "listing_created", outcome="review"),
            # Allowed message with a live hit: counted by rule and policy, not by country.
            event(T0, us, "message_sent", hits=[hit("payment link", "off_platform")]),
            # Payments: failed and disputed count; a plain success does not; no method: unknown.
            event(T0, us, "payment", data={"method": "card", "status": "failed"}),
            event(T0, us, "payment", data={"method": "card", "status": "disputed"}),
            event(T0, us, "payment", data={"method": "card", "status": "succeeded"}),
            event(late, br, "payout_request", data={}, outcome="block"),
        ],
    )
    h0, h1 = "2026-11-20T10", "2026-11-20T11"
    return Counter(
        {
            ("report_reason", "scam", h0): 2,
            ("report_reason", "spam", h0): 3,
            ("report_reason", "scam", h1): 1,
            ("rule", "payment link", h0): 2,
            ("rule", "bank words", h0): 1,
            ("policy", "off_platform", h0): 2,
            ("country", "BR", h0): 3,
            ("country", "US", h0): 1,
            ("country", "NG", h0): 1,
            ("country", "FR", h0): 1,
            ("country", "US", h1): 1,
            ("country", "BR", h1): 1,
            ("signup_cohort", "1-7d", h0): 3,
            ("signup_cohort", ">90d", h0): 1,
            ("signup_cohort", "<1d", h0): 1,
            ("signup_cohort", "unknown", h0): 1,
            ("signup_cohort", ">90d", h1): 1,
            ("signup_cohort", "1-7d", h1): 1,
            ("payment_method", "card", h0): 2,
            ("payment_method", "unknown", h1): 1,
        }
    )


EVENTS = 14


def test_counts_match_the_events(db: Session, frozen: FrozenClock) -> None:
    frozen.set(T0 + timedelta(hours=3))
    expected = arrange(db)
    result = rollup.run(db)
    assert result.events == EVENTS
    assert counts(db) == dict(expected)
    # One row written per (dimension, value, hour), on both databases.
    assert result.rows == len(expected)
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
    assert result.events == EVENTS
    assert counts(db) == dict(expected)


def test_new_events_are_added_to_existing_counts(db: Session, frozen: FrozenClock) -> None:
    frozen.set(T0 + timedelta(hours=3))
    expected = arrange(db)
    rollup.run(db)
    account = make_account(db, "BR", datetime(2026, 11, 18, tzinfo=UTC))
    add(db, [report(T0, make_account(db, "DE"), "scam", about=account)])
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


def test_account_age_bands_do_not_change_with_the_calendar(
    db: Session, frozen: FrozenClock
) -> None:
    """Accounts signing up in different weeks, each flagged two days after signup, all count
    under one value: a new signup week is not a new series."""
    frozen.set(T0 + timedelta(days=40))
    rows = []
    for weeks_ago in range(5):
        signup = T0 - timedelta(weeks=weeks_ago)
        account = make_account(db, "BR", signup)
        rows.append(event(signup + timedelta(days=2), account, "message_sent", outcome="review"))
    add(db, rows)
    rollup.run(db)
    values = {v for (d, v, _b) in counts(db) if d == "signup_cohort"}
    assert values == {"1-7d"}
    assert values <= set(rollup.AGE_VALUES)


def test_the_mark_never_moves_onto_an_event_still_being_written(
    db: Session, frozen: FrozenClock
) -> None:
    """Three events taken in id order: E1 settled long ago, E2 still being written
    (invisible: not inserted yet, its id reserved), E3 received just after E2 and committed.
    The mark must stop at E1; once E2 commits it is counted (ids given explicitly so the
    visibility order is the same on both databases)."""
    account = make_account(db, "BR")
    reporter = make_account(db, "DE")
    frozen.set(T0)
    e1 = report(T0 - timedelta(minutes=10), reporter, "scam", about=account)
    e2 = report(T0 - timedelta(seconds=1), reporter, "scam", about=account)
    e3 = report(T0 - timedelta(milliseconds=500), reporter, "scam", about=account)
    e1["id"], e2["id"], e3["id"] = 5001, 5002, 5003
    add(db, [e1, e3])
    first = rollup.run(db, now=T0)
    assert (first.events, first.watermark) == (1, 5001)
    add(db, [e2])  # E2 commits
    second = rollup.run(db, now=T0 + timedelta(minutes=10))
    assert (second.events, second.watermark) == (2, 5003)
    assert counts(db)[("report_reason", "scam", "2026-11-20T10")] == 3
