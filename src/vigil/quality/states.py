"""The QA sample's state machine: the allowed moves and the timestamp each step stamps.

``queued -> assigned -> answered -> revealed -> scored``, and ``assigned -> queued`` when the
holder (or a QA manager) gives an unanswered sample back. Any other move is refused with 409
``invalid_transition``; the services check the friendlier specific refusals first.
"""

from __future__ import annotations

from vigil.kit import clock
from vigil.kit.errors import Conflict
from vigil.quality.models import QASample, SampleStatus

S = SampleStatus

ALLOWED: dict[SampleStatus, frozenset[SampleStatus]] = {
    S.queued: frozenset({S.assigned}),
    S.assigned: frozenset({S.answered, S.queued}),
    S.answered: frozenset({S.revealed}),
    S.revealed: frozenset({S.scored}),
    S.scored: frozenset(),
}


def can_move(current: SampleStatus, to: SampleStatus) -> bool:
    return to in ALLOWED[current]


def transition(sample: QASample, to: SampleStatus, *, reviewer_id: int | None = None) -> None:
    """Move ``sample`` to ``to`` and stamp (or, going back to the queue, clear) the step's
    timestamp. ``reviewer_id`` is the holder when the sample is assigned."""
    if not can_move(sample.status, to):
        raise Conflict(
            f"a {sample.status.value} sample cannot become {to.value}",
            code="invalid_transition",
        )
    now = clock.now()
    if to is S.assigned:
        if reviewer_id is None:
            raise ValueError("an assigned sample needs its reviewer")
        sample.reviewer_id = reviewer_id
        sample.assigned_at = now
    elif to is S.queued:
        sample.reviewer_id = None
        sample.assigned_at = None
    elif to is S.answered:
        sample.answered_at = now
    elif to is S.revealed:
        sample.revealed_at = now
    elif to is S.scored:
        sample.scored_at = now
    sample.status = to
