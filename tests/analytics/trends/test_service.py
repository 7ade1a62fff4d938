"""Triage of alerts by staff: recorded on the alert and in the audit log; refusals change
nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.analytics.trends.conftest import MONDAY, quick_alert
from tests.factories import make_staff
from vigil.analytics.trends import service
from vigil.analytics.trends.models import AlertStatus, TrendAlert
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import IllegalTransition, InvalidInput, NotFound, PermissionDenied


def staff(db: Session, role: Role) -> Principal:
    user = make_staff(db, role)
    return Principal.staff(user.id, user.email, user.role)


def audit_actions(db: Session, alert_id: int) -> list[tuple[str, str | None, str | None]]:
    rows = db.scalars(
        select(AuditRecord)
        .where(AuditRecord.target_type == "trend_alert", AuditRecord.target_id == str(alert_id))
        .order_by(AuditRecord.id)
    )
    return [(r.action, r.actor_id, r.reason) for r in rows]


def test_acknowledge_then_dismiss_is_recorded(db: Session, frozen: FrozenClock) -> None:
    alert_id = quick_alert(db)
    lead = staff(db, Role.policy_lead)
    assert service.open_alert_count(db, lead) == 1
    alert = service.acknowledge(db, lead, alert_id, "looking at the sample cases")
    assert alert.status is AlertStatus.acknowledged
    assert alert.acknowledged_by_id == lead.staff_id and alert.acknowledged_at is not None
    assert service.open_alert_count(db, lead) == 0
    frozen.advance(timedelta(minutes=10))
    alert = service.dismiss(db, lead, alert_id, "  a partner's test campaign  ")
    assert alert.status is AlertStatus.dismissed
    assert alert.dismiss_reason == "a partner's test campaign"
    assert alert.dismissed_by_id == lead.staff_id
    assert audit_actions(db, alert_id) == [
        ("trends.alert.open", None, None),
        ("trends.alert.acknowledge", str(lead.staff_id), "looking at the sample cases"),
        ("trends.alert.dismiss", str(lead.staff_id), "a partner's test campaign"),
    ]


def test_refusals_change_nothing(db: Session, frozen: FrozenClock) -> None:
    alert_id = quick_alert(db)
    agent = staff(db, Role.agent)
    lead = staff(db, Role.policy_lead)
    with pytest.raises(PermissionDenied):
        service.acknowledge(db, agent, alert_id)
    with pytest.raises(InvalidInput) as missing:
        service.dismiss(db, lead, alert_id, "   ")
    assert (missing.value.code, missing.value.field) == ("reason_required", "reason")
    with pytest.raises(NotFound):
        service.acknowledge(db, lead, alert_id + 1000)
    assert db.get(TrendAlert, alert_id).status is AlertStatus.open  # type: ignore[union-attr]
    service.dismiss(db, lead, alert_id, "noise")
    with pytest.raises(IllegalTransition):
        service.acknowledge(db, lead, alert_id)
    with pytest.raises(IllegalTransition):
        service.mark_escalated(db, lead, alert_id, 7)
    alert = db.get(TrendAlert, alert_id)
    assert alert is not None and alert.status is AlertStatus.dismissed
    assert [a for a, _who, _why in audit_actions(db, alert_id)] == [
        "trends.alert.open",
        "trends.alert.dismiss",
    ]


def test_mark_escalated_links_the_incident_once(db: Session, frozen: FrozenClock) -> None:
    alert_id = quick_alert(db)
    agent = staff(db, Role.agent)  # agents may open incidents from what they notice
    qa = staff(db, Role.qa)
    with pytest.raises(PermissionDenied):
        service.mark_escalated(db, qa, alert_id, 41)
    alert = service.mark_escalated(db, agent, alert_id, 41)
    assert (alert.status, alert.incident_id, alert.escalated_by_id) == (
        AlertStatus.escalated,
        41,
        agent.staff_id,
    )
    service.mark_escalated(db, agent, alert_id, 41)  # the same incident again: nothing new
    with pytest.raises(IllegalTransition):
        service.mark_escalated(db, agent, alert_id, 42)
    assert [a for a, _w, _r in audit_actions(db, alert_id)].count("trends.alert.escalate") == 1


def test_inbox_counts_and_series(db: Session, frozen: FrozenClock) -> None:
    alert_id = quick_alert(db)
    reader = staff(db, Role.qa)
    page = service.list_alerts(db, reader, status=[AlertStatus.open])
    assert [a.id for a in page.items] == [alert_id] and page.next_cursor is None
    assert service.list_alerts(db, reader, status="dismissed").items == []
    assert service.list_alerts(db, reader, dimension="country").items == []
    with pytest.raises(InvalidInput):
        service.list_alerts(db, reader, dimension="colour")
    series = service.alert_series(db, reader, alert_id, hours=24 * 8)
    by_bucket = {b: (o, e) for b, o, e in series}
    assert by_bucket["2026-11-23T11"] == (15, 0.0)
    assert series[-1][0] == "2026-11-23T11" and len(series) == 24 * 8
    found = service.counts(
        db,
        reader,
        dimension="report_reason",
        interval="day",
        start=MONDAY - timedelta(days=7),
        end=MONDAY + timedelta(days=1),
    )
    assert found.buckets[0] == "2026-11-16" and found.buckets[-1] == "2026-11-23"
    assert {s.value: sum(s.counts) for s in found.series} == {"crypto_giveaway": 15, "spam": 8}
    crypto = next(s for s in found.series if s.value == "crypto_giveaway")
    assert crypto.counts[-1] == 15
    with pytest.raises(InvalidInput) as wide:
        service.counts(db, reader, dimension="rule", interval="hour",
                       start=MONDAY - timedelta(days=60), end=MONDAY)  # fmt: skip
    assert wide.value.code == "range_too_large"


def test_the_refusal_says_what_the_alert_is(db: Session, frozen: FrozenClock) -> None:
    alert_id = quick_alert(db)
    lead = staff(db, Role.policy_lead)
    service.acknowledge(db, lead, alert_id)
    with pytest.raises(IllegalTransition) as twice:
        service.acknowledge(db, lead, alert_id)
    assert str(twice.value.args[0]) == "an acknowledged alert cannot become acknowledged"
