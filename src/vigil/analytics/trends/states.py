"""The trend alert's state machine: the allowed moves and what each step stamps.

``open -> acknowledged | dismissed | escalated | resolved``; ``acknowledged -> dismissed |
escalated | resolved``; ``escalated -> resolved``. ``dismissed`` and ``resolved`` are final: a
later rise of the same series opens a new alert. Any other move is 409 ``illegal_transition``.
"""

from __future__ import annotations

from datetime import datetime

from vigil.analytics.trends.models import AlertStatus, TrendAlert
from vigil.kit import clock
from vigil.kit.errors import IllegalTransition

S = AlertStatus

ALLOWED: dict[AlertStatus, frozenset[AlertStatus]] = {
    S.open: frozenset({S.acknowledged, S.dismissed, S.escalated, S.resolved}),
    S.acknowledged: frozenset({S.dismissed, S.escalated, S.resolved}),
    S.escalated: frozenset({S.resolved}),
    S.dismissed: frozenset(),
    S.resolved: frozenset(),
}


def can_move(current: AlertStatus, to: AlertStatus) -> bool:
    return to in ALLOWED[current]


def transition(
    alert: TrendAlert,
    to: AlertStatus,
    *,
    staff_id: int | None = None,
    text: str | None = None,
    incident_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Move ``alert`` to ``to``, stamping the step's time (``at``, default the clock), who
    did it and their note."""
    if not can_move(alert.status, to):
        article = "an" if alert.status.value[0] in "aeiou" else "a"
        raise IllegalTransition(
            f"{article} {alert.status.value} alert cannot become {to.value}", field="status"
        )
    now = at or clock.now()
    if to is S.acknowledged:
        alert.acknowledged_at, alert.acknowledged_by_id, alert.ack_note = now, staff_id, text
    elif to is S.dismissed:
        alert.dismissed_at, alert.dismissed_by_id, alert.dismiss_reason = now, staff_id, text
    elif to is S.escalated:
        alert.escalated_at, alert.escalated_by_id = now, staff_id
        alert.incident_id = incident_id
    elif to is S.resolved:
        alert.resolved_at, alert.resolve_note = now, text
    alert.status = to
    alert.updated_at = now
