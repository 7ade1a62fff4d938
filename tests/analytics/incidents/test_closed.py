"""A closed incident is a finished record: it takes no new cases and loses none until it is
reopened, but notes (the post-mortem) are still written. The moves the state machine allows
are the ones the contract and the console offer."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.analytics.incidents.conftest import actor, new_case
from vigil.analytics.incidents import service, states
from vigil.analytics.incidents.models import EntryKind, IncidentCase, IncidentStatus
from vigil.auth.permissions import Role
from vigil.kit.errors import IllegalTransition, NotFound

pytestmark = pytest.mark.usefixtures("queues", "frozen")

S = IncidentStatus


def _links(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(IncidentCase)) or 0)


def test_a_closed_incident_takes_notes_but_no_case_changes(db: Session) -> None:
    specialist = actor(db, Role.specialist)
    a, b = new_case(db), new_case(db)
    incident = service.create(db, specialist, title="Fake reviews ring", case_ids=[a.id])
    service.transition(db, specialist, incident.id, S.closed)
    version = incident.version

    for change in (
        lambda: service.link_cases(db, specialist, incident.id, [b.id]),
        lambda: service.unlink_case(db, specialist, incident.id, a.id),
    ):
        with pytest.raises(IllegalTransition) as err:
            change()
        assert err.value.code == "incident_closed" and err.value.status_code == 409
    assert _links(db) == 1 and incident.version == version

    note = service.add_note(db, specialist, incident.id, "Post-mortem: rule R12 added.")
    assert note.kind == EntryKind.note

    service.transition(db, specialist, incident.id, S.investigating)
    assert len(service.link_cases(db, specialist, incident.id, [b.id])) == 1


def test_a_missing_case_names_the_field_at_fault(db: Session) -> None:
    agent = actor(db, Role.agent)
    incident = service.create(db, agent, title="t")
    with pytest.raises(NotFound) as one:
        service.for_case(db, agent, 987_654_321)
    assert (one.value.code, one.value.field) == ("case_not_found", "case_id")
    with pytest.raises(NotFound) as many:
        service.link_cases(db, agent, incident.id, [987_654_321])
    assert (many.value.code, many.value.field) == ("case_not_found", "case_ids")


def test_the_state_machine_is_the_documented_one() -> None:
    expected = {
        S.open: {S.investigating, S.mitigated, S.closed},
        S.investigating: {S.mitigated, S.closed},
        S.mitigated: {S.investigating, S.closed},
        S.closed: {S.investigating},
    }
    assert expected == states.ALLOWED
