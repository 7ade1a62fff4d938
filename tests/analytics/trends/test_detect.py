"""Detection over weeks of events: seasonal series stay quiet, real rises alert once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.analytics.trends.conftest import (
    MONDAY,
    RISE_AT,
    Scenario,
    add,
    hours,
    make_account,
    report,
)
from vigil.analytics.trends import detect, rollup, service, wording
from vigil.analytics.trends.models import AlertStatus, TrendAlert
from vigil.audit.models import AuditRecord
from vigil.auth.principal import Principal
from vigil.jobs.models import Job
from vigil.kit.clock import FrozenClock

LEAD = Principal.system("tests")


def judge(db: Session, frozen: FrozenClock, at: timedelta) -> detect.DetectResult:
    frozen.set(MONDAY + at)
    rollup.run(db)
    return detect.run(db)


def alerts(db: Session) -> list[TrendAlert]:
    return list(db.scalars(select(TrendAlert).order_by(TrendAlert.id)))


def scam(db: Session) -> TrendAlert:
    (alert,) = [a for a in alerts(db) if a.value == "scam"]
    return alert


def test_busy_mondays_raise_no_alert(db: Session, frozen: FrozenClock) -> None:
    """Spam is 12x busier on Monday mornings every week: expected, not a trend."""
    Scenario(db)
    result = judge(db, frozen, timedelta(hours=12, minutes=5))
    assert result.opened == []
    assert alerts(db) == []


def test_a_rise_opens_an_alert_with_its_start_size_and_contributors(
    db: Session, frozen: FrozenClock
) -> None:
    scenario = Scenario(db, wave_end=RISE_AT + timedelta(hours=3))
    result = judge(db, frozen, timedelta(hours=12, minutes=5))
    # The wave is also a rise of reports about BR accounts and about accounts 1-7 days old:
    # three series. The reporters (long-standing US users) raise nothing.
    assert {(a.dimension, a.value) for a in alerts(db)} == {
        ("report_reason", "scam"),
        ("country", "BR"),
        ("signup_cohort", "1-7d"),
    }
    assert len(result.opened) == 3
    alert = scam(db)
    assert (alert.dimension, alert.value, alert.granularity) == ("report_reason", "scam", "hour")
    assert alert.status is AlertStatus.open
    # 11:00-11:59 held 20 scam reports against 2 in each of the previous four Mondays.
    assert (alert.observed, alert.expected) == (20, 2.0)
    assert alert.ratio == 10.0 and alert.excess == 18.0
    assert alert.start_bucket == "2026-11-23T09" and alert.started_at == RISE_AT
    top = alert.contributors[0]
    assert (top["dimension"], top["value"]) in {("country", "BR"), ("signup_cohort", "1-7d")}
    countries = [c for c in alert.contributors if c["dimension"] == "country"]
    br = countries[0]  # the reported accounts' country, not the (US) reporters'
    assert br["value"] == "BR" and br["observed"] == 48 and br["share"] > 0.85
    # The newest BR reports' cases, at most ten.
    assert len(alert.sample_case_ids) == 10
    assert set(alert.sample_case_ids) <= set(scenario.case_ids)
    assert alert.sample_case_ids[0] == scenario.case_ids[-1]
    # Recorded, and the policy leads' email is waiting for the commit.
    opened = db.scalars(select(AuditRecord.target_id).where(
        AuditRecord.action == "trends.alert.open"))  # fmt: skip
    assert set(opened) == {str(i) for i in result.opened}
    assert db.scalar(select(func.count()).where(Job.kind == detect.NOTIFY)) == 3


def test_a_continuing_rise_extends_the_alert(db: Session, frozen: FrozenClock) -> None:
    Scenario(db, wave_end=RISE_AT + timedelta(hours=4), until=MONDAY + timedelta(hours=14))
    first = judge(db, frozen, timedelta(hours=12, minutes=5))
    again = judge(db, frozen, timedelta(hours=12, minutes=30))
    later = judge(db, frozen, timedelta(hours=13, minutes=5))
    assert again.opened == [] and again.updated == []
    assert later.opened == [] and sorted(later.updated) == sorted(first.opened)
    assert len(alerts(db)) == 3
    alert = scam(db)
    assert alert.last_bucket == "2026-11-23T12" and alert.start_bucket == "2026-11-23T09"
    assert alert.observed == 20
    assert db.scalar(select(func.count()).where(Job.kind == detect.NOTIFY)) == 3


def test_an_alert_resolves_after_a_day_back_within_baseline(
    db: Session, frozen: FrozenClock
) -> None:
    Scenario(db, wave_end=RISE_AT + timedelta(hours=3), until=MONDAY + timedelta(days=2, hours=7))
    first = judge(db, frozen, timedelta(hours=12, minutes=5))
    # Still within the day after: the 24 hours to Tuesday 06:00 hold the wave and stand out
    # as a day, so the alerts are extended to 06:00 and nothing resolves.
    assert judge(db, frozen, timedelta(days=1, hours=6, minutes=5)).resolved == []
    # The scam series (48 a day usually) never stood out as a day: it resolves a day after
    # its last loud hour. Country and age (no reports about new BR accounts usually) resolve
    # a day after the last 24 hours that stood out.
    early = judge(db, frozen, timedelta(days=2, hours=5, minutes=5)).resolved
    assert early == [scam(db).id]
    result = judge(db, frozen, timedelta(days=2, hours=6, minutes=5))
    assert sorted(early + result.resolved) == sorted(first.opened)
    alert = scam(db)
    assert alert.status is AlertStatus.resolved and alert.resolved_at is not None
    assert alert.resolve_note and "back within baseline" in alert.resolve_note
    assert db.scalar(select(func.count()).where(AuditRecord.action == "trends.alert.resolve")) == 3


def test_a_dismissed_series_does_not_alert_again_at_once(db: Session, frozen: FrozenClock) -> None:
    Scenario(db, wave_end=RISE_AT + timedelta(hours=4), until=MONDAY + timedelta(hours=14))
    judge(db, frozen, timedelta(hours=12, minutes=5))
    alert_id = scam(db).id
    from tests.factories import make_staff
    from vigil.auth.permissions import Role

    lead = make_staff(db, Role.policy_lead)
    service.dismiss(db, Principal.staff(lead.id, lead.email, lead.role), alert_id, "known campaign")
    result = judge(db, frozen, timedelta(hours=13, minutes=5))
    assert result.opened == [] and alert_id not in result.updated
    assert [a.status for a in alerts(db) if a.value == "scam"] == [AlertStatus.dismissed]


def test_a_value_never_seen_before_alerts(db: Session, frozen: FrozenClock) -> None:
    scenario = Scenario(db, until=MONDAY + timedelta(hours=12))
    someone = make_account(db, "PT")  # an old account: its age band is a common one
    at = MONDAY + timedelta(hours=11)
    add(db, [report(at + timedelta(minutes=i), scenario.victims[0], "crypto_giveaway",
                    about=someone) for i in range(15)])  # fmt: skip
    result = judge(db, frozen, timedelta(hours=12, minutes=5))
    # The reason, and the reported account's country: neither seen before.
    assert len(result.opened) == 2
    assert {(a.dimension, a.value) for a in alerts(db)} == {
        ("report_reason", "crypto_giveaway"),
        ("country", "PT"),
    }
    alert = next(a for a in alerts(db) if a.value == "crypto_giveaway")
    # Judged against the new-value floor, and the ratio and excess use that same number.
    assert (alert.observed, alert.baseline_median, alert.baseline_history) == (15, 0.0, 0)
    assert alert.expected == pytest.approx(0.1)
    assert alert.ratio == pytest.approx(15 / alert.expected)
    assert alert.excess == pytest.approx(15 - alert.expected)
    assert wording.is_new(alert) and wording.size(alert) == "new"
    assert alert.start_bucket == "2026-11-23T11"


def test_a_value_with_history_but_a_zero_median_is_not_called_new(
    db: Session, frozen: FrozenClock
) -> None:
    """A reason reported now and then in the baseline weeks (never at 11:00 on a Monday):
    its median is 0, but it has history, so the alert names the floor instead of "new"."""
    scenario = Scenario(db, until=MONDAY + timedelta(hours=12))
    someone = make_account(db, "PT")
    past = [MONDAY - timedelta(days=d, hours=5) for d in (3, 10, 17)]
    add(db, [report(t, scenario.victims[0], "crypto_giveaway", about=someone) for t in past])
    at = MONDAY + timedelta(hours=11)
    add(db, [report(at + timedelta(minutes=i), scenario.victims[0], "crypto_giveaway",
                    about=someone) for i in range(15)])  # fmt: skip
    judge(db, frozen, timedelta(hours=12, minutes=5))
    alert = next(a for a in alerts(db) if a.value == "crypto_giveaway")
    assert alert.baseline_median == 0.0 and (alert.baseline_history or 0) >= 1
    assert not wording.is_new(alert)
    text = wording.sentence(alert)
    assert " is new" not in text and "none" not in text
    assert f"vs at least {alert.expected:.1f} expected (baseline median 0.0)" in text


def test_a_rise_too_thin_for_any_hour_is_found_by_the_rolling_day_the_same_day(
    db: Session, frozen: FrozenClock
) -> None:
    """Four reports an hour about new BR accounts from Monday 09:00: no hour reaches the
    hourly minimum of 10, but the 24 hours ending at a whole hour are judged every hour, so the
    rise is found on Monday itself, not once the calendar day is over."""
    scenario = Scenario(db, until=MONDAY + timedelta(hours=23))
    add(db, [report(at + timedelta(minutes=5 + i), scenario.victims[i % 3], "scam",
                    about=scenario.br[i]) for at in hours(RISE_AT, MONDAY + timedelta(hours=23))
             for i in range(4)])  # fmt: skip
    opened_at = None
    for h in range(10, 24):
        result = judge(db, frozen, timedelta(hours=h, minutes=5))
        assert all(a.granularity.value == "day" for a in alerts(db))
        if result.opened and opened_at is None:
            opened_at = h
    assert opened_at is not None and opened_at < 24
    br = next(a for a in alerts(db) if (a.dimension, a.value) == ("country", "BR"))
    # Its start is the hour the rise began; its bucket the 24 hours it was last judged on.
    assert br.start_bucket == "2026-11-23T09" and br.started_at == RISE_AT
    assert br.last_bucket == "2026-11-22T23" and br.last_seen_at == MONDAY + timedelta(hours=23)
    assert br.observed == 4 * 14 and br.baseline_median == 0.0  # judged against the floor
    assert {(c["dimension"], c["value"]) for c in br.contributors} >= {
        ("report_reason", "scam"),
        ("signup_cohort", "1-7d"),
    }
    # Seen every hour: extended, never opened twice.
    assert len([a for a in alerts(db) if a.dimension == "country"]) == 1


def test_a_rolling_day_alert_charts_24_hour_windows_ending_at_its_last_hour(
    db: Session, frozen: FrozenClock
) -> None:
    scenario = Scenario(db, until=MONDAY + timedelta(hours=20))
    add(db, [report(at + timedelta(minutes=5 + i), scenario.victims[i % 3], "scam",
                    about=scenario.br[i]) for at in hours(RISE_AT, MONDAY + timedelta(hours=20))
             for i in range(4)])  # fmt: skip
    judge(db, frozen, timedelta(hours=20, minutes=5))
    br = next(a for a in alerts(db) if (a.dimension, a.value) == ("country", "BR"))
    series = service.alert_series(db, LEAD, br.id, hours=24 * 3)
    assert [k for k, _o, _e in series] == ["2026-11-20T20", "2026-11-21T20", "2026-11-22T20"]
    assert series[-1][1] == 4 * 11 and series[-1][2] == 0.0
