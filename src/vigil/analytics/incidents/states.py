"""The incident state machine.

``open`` (reported, nobody on it yet) -> ``investigating`` (someone owns it and is finding
out what is going on) -> ``mitigated`` (the harm has stopped: accounts actioned, a rule in
place) -> ``closed``. An open incident that turns out to be nothing may be closed directly;
a mitigated one that flares up goes back to investigating; a closed one is reopened into
investigating. :func:`transition` is the only code that changes ``Incident.status``.
"""

from __future__ import annotations

from vigil.analytics.incidents.models import Incident, IncidentStatus
from vigil.kit import clock
from vigil.kit.errors import IllegalTransition

S = IncidentStatus

ALLOWED: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.open: frozenset({S.investigating, S.mitigated, S.closed}),
    S.investigating: frozenset({S.mitigated, S.closed}),
    S.mitigated: frozenset({S.investigating, S.closed}),
    S.closed: frozenset({S.investigating}),
}


def is_allowed(current: IncidentStatus, to: IncidentStatus) -> bool:
    return to in ALLOWED[current]


def check(incident: Incident, to: IncidentStatus) -> None:
    """Raise 409 ``illegal_transition`` unless ``incident`` may move to ``to``."""
    current = IncidentStatus(incident.status)
    if not is_allowed(current, to):
        raise IllegalTransition(
            f"an incident cannot go from {current.value} to {to.value}",
            field="to",
            code="illegal_transition",
        )


def transition(incident: Incident, to: IncidentStatus) -> IncidentStatus:
    """Move ``incident`` to ``to`` and stamp the step; returns the status it left."""
    check(incident, to)
    previous = IncidentStatus(incident.status)
    now = clock.now()
    incident.status = to
    incident.updated_at = now
    if to is S.investigating:
        incident.investigating_at = now
        incident.closed_at = None
    elif to is S.mitigated:
        incident.mitigated_at = now
    elif to is S.closed:
        incident.closed_at = now
    return previous
