"""Incidents: opened by hand, from a cluster or from a trend alert, linking the right cases;
the lifecycle; legal-tier cases kept from those who may not see them; refusals change
nothing; everything audited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.analytics.clusters.conftest import make_cluster
from tests.analytics.incidents.conftest import (
    actor,
    event_on,
    legal_case,
    make_alert,
    new_case,
)
from vigil.analytics.clusters.models import ClusterStatus
from vigil.analytics.incidents import service
from vigil.analytics.incidents.models import (
    EntryKind,
    Incident,
    IncidentOrigin,
    IncidentSeverity,
    IncidentStatus,
)
from vigil.analytics.trends.models import TrendAlert
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import Conflict, IllegalTransition, InvalidInput, NotFound, PermissionDenied

pytestmark = pytest.mark.usefixtures("queues", "frozen")


def _incidents(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(Incident)) or 0)


def _actions(db: Session) -> list[str]:
    return list(
        db.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.action.like("analytics.%"))
            .order_by(AuditRecord.id)
        )
    )


def _case_ids(db: Session, who, incident_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    rows, _ = service.linked_cases(db, who, incident_id)
    return sorted(case.id for _, case in rows)


def test_an_agent_documents_a_trend_by_hand(db: Session) -> None:
    agent = actor(db, Role.agent)
    a, b = new_case(db), new_case(db)

    incident = service.create(
        db,
        agent,
        title="  Fake  invoices from   'Acme Billing' ",
        summary="Three reports today of the same fake invoice.",
        severity=IncidentSeverity.high,
        case_ids=[a.id, b.id, a.id],
    )

    assert incident.title == "Fake invoices from 'Acme Billing'"
    assert incident.status == IncidentStatus.open and incident.origin == IncidentOrigin.manual
    assert incident.opened_by_id == agent.staff_id and incident.ref == f"INC-{incident.id}"
    rows, _ = service.linked_cases(db, agent, incident.id)
    assert sorted(c.id for _, c in rows) == sorted([a.id, b.id])
    assert {link.linked_by_label for link, _ in rows} == {agent.label}
    entries, _ = service.timeline(db, agent, incident.id)
    assert [e.kind for e in entries][::-1] == [
        EntryKind.opened,
        EntryKind.case_linked,
        EntryKind.case_linked,
    ]
    assert _actions(db) == ["analytics.incident.create", "analytics.incident.link_cases"]
    assert [i.id for i in service.for_case(db, agent, a.id)] == [incident.id]


def test_refusals_change_nothing(db: Session) -> None:
    agent, qa = actor(db, Role.agent), actor(db, Role.qa)
    hidden = legal_case(db)

    with pytest.raises(NotFound) as err:
        service.create(db, agent, title="Court order wave", case_ids=[hidden.id])
    assert err.value.code == "case_not_found"
    with pytest.raises(InvalidInput) as bad:
        service.create(db, agent, title="   ")
    assert bad.value.field == "title"
    with pytest.raises(PermissionDenied):
        service.create(db, qa, title="QA may read incidents, not open them")
    with pytest.raises(NotFound):
        service.get_incident(db, agent, 424242)
    assert _incidents(db) == 0 and _actions(db) == []


def test_legal_cases_are_linked_but_shown_only_to_legal(db: Session) -> None:
    legal, agent = actor(db, Role.legal), actor(db, Role.agent)
    open_case, hidden = new_case(db), legal_case(db)
    incident = service.create(db, legal, title="Brand abuse", case_ids=[open_case.id, hidden.id])

    assert _case_ids(db, legal, incident.id) == sorted([open_case.id, hidden.id])
    assert _case_ids(db, agent, incident.id) == [open_case.id]
    entries, _ = service.timeline(db, agent, incident.id)
    assert all(e.data.get("case_id") != hidden.id for e in entries)
    with pytest.raises(NotFound):
        service.for_case(db, agent, hidden.id)
    with pytest.raises(NotFound):
        service.unlink_case(db, agent, incident.id, hidden.id)
    assert [i.id for i in service.for_case(db, legal, hidden.id)] == [incident.id]


def test_open_from_a_cluster_links_the_cases_of_its_events(db: Session) -> None:
    lead = actor(db, Role.policy_lead)
    a, b, unrelated = new_case(db), new_case(db), new_case(db)
    members = [event_on(db, a), event_on(db, b), event_on(db, a), event_on(db, None)]
    event_on(db, unrelated)
    cluster = make_cluster(db, members)

    incident = service.open_from_cluster(db, lead, cluster.id, severity=IncidentSeverity.high)

    assert incident.origin == IncidentOrigin.cluster
    assert incident.title == f"Cluster: {cluster.label}"
    assert "[email]" in incident.summary
    assert _case_ids(db, lead, incident.id) == sorted([a.id, b.id])
    assert cluster.status == ClusterStatus.escalated and cluster.incident_id == incident.id
    assert [(s.kind, s.ref_id) for s in service.sources(db, lead, incident.id)] == [
        ("cluster", cluster.id)
    ]
    assert "analytics.cluster.escalate" in _actions(db)

    with pytest.raises(IllegalTransition):
        service.open_from_cluster(db, lead, cluster.id)
    assert _incidents(db) == 1


def test_open_from_an_alert_links_its_sample_cases_and_marks_it_escalated(db: Session) -> None:
    lead = actor(db, Role.policy_lead)
    a, b = new_case(db), new_case(db)
    alert = make_alert(db, [a.id, b.id])

    incident = service.open_from_alert(db, lead, alert.id)

    assert incident.origin == IncidentOrigin.alert
    assert incident.title == "Rise in report reason = scam"
    assert "42 in the hour to 09:00, 21 Nov vs 6.0 expected" in incident.summary
    assert "T0" not in incident.summary  # no raw bucket key
    assert _case_ids(db, lead, incident.id) == sorted([a.id, b.id])
    db.refresh(alert)
    assert alert.status == "escalated" and alert.incident_id == incident.id
    assert "trends.alert.escalate" in list(db.scalars(select(AuditRecord.action)))

    dismissed = make_alert(
        db, [a.id], value="fraud", status="dismissed", dismissed_at=clock.now(), dismiss_reason="x"
    )
    with pytest.raises(IllegalTransition):
        service.open_from_alert(db, lead, dismissed.id)
    with pytest.raises(IllegalTransition):
        service.open_from_alert(db, lead, alert.id)
    assert _incidents(db) == 1


def test_an_alert_can_join_an_existing_incident(db: Session) -> None:
    lead = actor(db, Role.leadership)
    a, b = new_case(db), new_case(db)
    incident = service.create(db, lead, title="Scam wave in BR", case_ids=[a.id])
    alert = make_alert(db, [a.id, b.id])

    joined = service.open_from_alert(db, lead, alert.id, incident_id=incident.id)

    assert joined.id == incident.id and _incidents(db) == 1
    assert _case_ids(db, lead, incident.id) == sorted([a.id, b.id])
    assert db.get(TrendAlert, alert.id).incident_id == incident.id  # type: ignore[union-attr]


def test_lifecycle_stamps_each_step_and_refuses_illegal_moves(
    db: Session, frozen: FrozenClock
) -> None:
    agent = actor(db, Role.agent)
    incident = service.create(db, agent, title="Spike of chargebacks")
    opened = clock.now()

    frozen.advance(__import__("datetime").timedelta(minutes=5))
    service.transition(db, agent, incident.id, IncidentStatus.investigating, note="on it")
    assert incident.investigating_at == clock.now() and incident.opened_at == opened
    service.transition(db, agent, incident.id, IncidentStatus.mitigated)
    service.transition(db, agent, incident.id, IncidentStatus.closed)
    assert incident.status == IncidentStatus.closed and incident.closed_at == clock.now()
    version = incident.version

    with pytest.raises(IllegalTransition) as err:
        service.transition(db, agent, incident.id, IncidentStatus.mitigated)
    assert err.value.code == "illegal_transition" and err.value.status_code == 409
    assert incident.status == IncidentStatus.closed and incident.version == version

    service.transition(db, agent, incident.id, IncidentStatus.investigating, note="it is back")
    assert incident.status == IncidentStatus.investigating and incident.closed_at is None
    moves = [
        (e.data["from"], e.data["to"])
        for e in service.timeline(db, agent, incident.id)[0][::-1]
        if e.kind == EntryKind.status
    ]
    assert moves == [
        ("open", "investigating"),
        ("investigating", "mitigated"),
        ("mitigated", "closed"),
        ("closed", "investigating"),
    ]
    assert _actions(db).count("analytics.incident.transition") == 4


def test_links_notes_and_edits(db: Session) -> None:
    specialist = actor(db, Role.specialist)
    owner = actor(db, Role.policy_lead)
    a, b = new_case(db), new_case(db)
    incident = service.create(db, specialist, title="Fake reviews ring")

    made = service.link_cases(db, specialist, incident.id, [a.id, b.id])
    again = service.link_cases(db, specialist, incident.id, [a.id])
    assert len(made) == 2 and again == []
    service.unlink_case(db, specialist, incident.id, a.id)
    assert _case_ids(db, specialist, incident.id) == [b.id]
    with pytest.raises(NotFound) as err:
        service.unlink_case(db, specialist, incident.id, a.id)
    assert err.value.code == "case_link_not_found"
    assert service.for_case(db, specialist, a.id) == []

    note = service.add_note(db, specialist, incident.id, "Sellers share one device.")
    assert note.kind == EntryKind.note and note.actor_label == specialist.label
    with pytest.raises(InvalidInput):
        service.add_note(db, specialist, incident.id, "  ")

    service.update(
        db, specialist, incident.id, severity=IncidentSeverity.critical, owner_id=owner.staff_id
    )
    assert incident.severity == IncidentSeverity.critical and incident.owner_id == owner.staff_id
    with pytest.raises(InvalidInput) as bad:
        service.update(db, specialist, incident.id, owner_id=999_999)
    assert bad.value.field == "owner_id"
    with pytest.raises(Conflict):
        service.update(db, specialist, incident.id, title="x", expected_version=1)
    assert _actions(db) == [
        "analytics.incident.create",
        "analytics.incident.link_cases",
        "analytics.incident.unlink_case",
        "analytics.incident.note",
        "analytics.incident.update",
    ]
