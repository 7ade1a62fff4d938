"""Detection on marketplaces that look like real ones: noisy counts, steady signups, a past
wave in the baseline, daylight saving, waves of events that are not flagged."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tests.analytics.trends.conftest import (
    MONDAY,
    RISE_AT,
    Scenario,
    add,
    event,
    hours,
    make_account,
    report,
)
from vigil.analytics.trends import detect, rollup
from vigil.analytics.trends.models import TrendAlert, TrendCount
from vigil.config import Settings
from vigil.kit.clock import FrozenClock


def alerts(db: Session) -> list[TrendAlert]:
    return list(db.scalars(select(TrendAlert).order_by(TrendAlert.id)))


def judge_hourly(db: Session, frozen: FrozenClock, start: datetime, end: datetime,
                 settings: Settings | None = None) -> None:  # fmt: skip
    for at in hours(start, end):
        frozen.set(at + timedelta(minutes=5))
        detect.run(db, settings=settings)


def test_noisy_stationary_series_raise_no_alert(db: Session, frozen: FrozenClock) -> None:
    """Eight series, daily and weekly seasonal, over-dispersed like real counts (each hour's
    rate is its seasonal mean times a Gamma(10, 1/10) factor), with no change at all: a week
    judged hourly opens nothing (a plain Poisson test against the mean opened ~4 a week)."""
    rng = np.random.default_rng(3)
    rows = []
    for at in hours(MONDAY - timedelta(weeks=5), MONDAY + timedelta(weeks=1)):
        daily = 0.35 + 0.65 * math.sin(math.pi * at.hour / 24) ** 2
        weekly = 1.4 if at.weekday() == 0 else (0.8 if at.weekday() >= 5 else 1.0)
        for i, peak in enumerate((3, 5, 8, 12, 20, 30, 50, 80)):
            c = int(rng.poisson(peak * daily * weekly * rng.gamma(10, 1 / 10)))
            if c:
                rows.append({"dimension": "report_reason", "value": f"r{i}", "count": c,
                             "bucket": at.strftime("%Y-%m-%dT%H")})  # fmt: skip
    db.execute(insert(TrendCount), rows)
    judge_hourly(db, frozen, MONDAY, MONDAY + timedelta(weeks=1))
    assert [(a.value, a.granularity.value, a.last_bucket) for a in alerts(db)] == []


def test_steady_signups_raise_no_account_age_alert(db: Session, frozen: FrozenClock) -> None:
    """Accounts sign up at a steady rate; each hour ~12 flagged events come from accounts
    under a week old and ~8 from older ones. Nothing changes, so nothing alerts, whatever the
    week the accounts signed up in (a signup-week value was new every Monday and alerted)."""
    rnd = random.Random(7)
    start = MONDAY - timedelta(weeks=5)
    accounts = [make_account(db, "US", start - timedelta(weeks=3) + i * timedelta(hours=2))
                for i in range(12 * 8 * 7 + 12 * 3)]  # fmt: skip
    rows = []
    for at in hours(start, MONDAY + timedelta(days=1, hours=2)):
        born = [a for a in accounts if a.registered_at is not None]
        young = [a for a in born if at - timedelta(days=7) <= _utc(a.registered_at) <= at]
        old = [a for a in born if _utc(a.registered_at) < at - timedelta(days=7)]
        for pool, n in ((young, 12), (old, 8)):
            for _ in range(n):
                who = pool[rnd.randrange(len(pool))]
                rows.append(event(at + timedelta(minutes=rnd.randrange(60)), who,
                                  "message_sent", outcome="review"))  # fmt: skip
    rows.sort(key=lambda r: r["occurred_at"])
    add(db, rows)
    frozen.set(MONDAY + timedelta(days=1, hours=2))
    rollup.run(db)
    judge_hourly(db, frozen, MONDAY, MONDAY + timedelta(days=1, hours=2))
    assert [(a.dimension, a.value, a.granularity.value) for a in alerts(db)] == []


def _utc(at: datetime | None) -> datetime:
    assert at is not None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def test_a_past_wave_in_the_baseline_does_not_hide_a_new_one(
    db: Session, frozen: FrozenClock
) -> None:
    """The same scam wave played last Monday: the baseline's median ignores that one week,
    so this Monday's wave still alerts at its full size."""
    Scenario(db, wave_end=RISE_AT + timedelta(hours=3), past_wave=True)
    frozen.set(MONDAY + timedelta(hours=12, minutes=5))
    rollup.run(db)
    result = detect.run(db)
    (scam,) = [a for a in alerts(db) if a.value == "scam"]
    assert scam.id in result.opened
    assert (scam.observed, scam.expected, scam.start_bucket) == (20, 2.0, "2026-11-23T09")


def _berlin_mondays(db: Session) -> datetime:
    """Busy Monday mornings in Berlin local time (25 spam reports an hour 09:00-17:59, 2
    otherwise), the same every week; the clocks went back on Sunday 2026-10-25."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    monday = datetime(2026, 10, 26, tzinfo=UTC)
    rows = []
    for at in hours(monday - timedelta(weeks=5), monday + timedelta(days=1)):
        local = at.astimezone(berlin)
        busy = local.weekday() == 0 and 9 <= local.hour <= 17
        rows.append({"dimension": "report_reason", "value": "spam", "count": 25 if busy else 2,
                     "bucket": at.strftime("%Y-%m-%dT%H")})  # fmt: skip
    db.execute(insert(TrendCount), rows)
    return monday


def test_busy_local_hours_stay_expected_across_a_daylight_saving_change(
    db: Session, frozen: FrozenClock, settings: Settings
) -> None:
    monday = _berlin_mondays(db)
    berlin = settings.model_copy(update={"trend_timezone": "Europe/Berlin"})
    judge_hourly(db, frozen, monday, monday + timedelta(days=1), berlin)
    assert alerts(db) == []


def test_in_utc_the_same_mondays_alert_after_the_change(
    db: Session, frozen: FrozenClock, settings: Settings
) -> None:
    """Why the setting exists: compared by UTC hour, the last busy hour moved into a quiet
    one."""
    monday = _berlin_mondays(db)
    judge_hourly(db, frozen, monday, monday + timedelta(days=1), settings)
    assert [(a.value, a.last_bucket) for a in alerts(db)] == [("spam", "2026-10-26T16")]


def test_a_wave_of_disputed_payments_names_the_payers_country(
    db: Session, frozen: FrozenClock
) -> None:
    """Disputed card payments are counted by method whether or not a rule flagged them; the
    drill-down still describes each one by its payer's country and account age."""
    us = make_account(db, "US")
    br = make_account(db, "BR", MONDAY - timedelta(days=3))
    rows = []
    for at in hours(MONDAY - timedelta(weeks=2), MONDAY + timedelta(hours=12)):
        for i in range(2):
            rows.append(event(at + timedelta(minutes=i), us, "payment",
                              data={"method": "card", "status": "disputed"}))  # fmt: skip
        if at >= RISE_AT:
            for i in range(16):
                rows.append(event(at + timedelta(minutes=10 + i), br, "payment",
                                  data={"method": "card", "status": "disputed"}))  # fmt: skip
    add(db, rows)
    frozen.set(MONDAY + timedelta(hours=12, minutes=5))
    rollup.run(db)
    detect.run(db)
    (card,) = alerts(db)
    assert (card.dimension, card.value) == ("payment_method", "card")
    found = {(c["dimension"], c["value"]): c["share"] for c in card.contributors}
    assert found[("country", "BR")] > 0.9
    assert found[("signup_cohort", "1-7d")] > 0.9


def test_detect_stamps_the_time_it_is_given(db: Session) -> None:
    """A simulation passes ``now`` without freezing the clock: the alert is opened then."""
    reporter = make_account(db, "US")
    target = make_account(db, "AR")
    at = MONDAY + timedelta(hours=11)
    add(db, [report(at - timedelta(days=7), reporter, "spam", about=target)])
    add(db, [report(at + timedelta(minutes=i), reporter, "crypto_giveaway", about=target)
             for i in range(15)])  # fmt: skip
    now = at + timedelta(hours=1, minutes=5)
    rollup.run(db, now=now)
    result = detect.run(db, now=now)
    (alert,) = [a for a in alerts(db) if a.id in result.opened and a.value == "crypto_giveaway"]
    assert alert.opened_at == now and alert.updated_at == now
