"""The state machine: every status pair, every named step from every status, on both
databases (the check constraints must accept every legal result)."""

from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest
from sqlalchemy.orm import Session

from tests.cases.conftest import SYSTEM, new_case, staff
from vigil.cases import states
from vigil.cases.models import Case, CaseEventKind, CaseStatus, Queue, Resolution
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import IllegalTransition

S = CaseStatus
K = CaseEventKind

# Written out by hand, apart from the code, so a change to the machine shows up here.
LEGAL_PAIRS = {
    (S.open, S.open),
    (S.open, S.assigned),
    (S.open, S.on_hold),
    (S.open, S.closed),
    (S.assigned, S.open),
    (S.assigned, S.assigned),
    (S.assigned, S.on_hold),
    (S.assigned, S.closed),
    (S.on_hold, S.open),
    (S.on_hold, S.assigned),
    (S.on_hold, S.closed),
    (S.closed, S.open),
}

# step -> (target status, the statuses it may start from)
STEPS = {
    K.assigned: (S.assigned, {S.open, S.assigned, S.on_hold}),
    K.released: (S.open, {S.assigned}),
    K.held: (S.on_hold, {S.open, S.assigned}),
    K.resumed: (S.open, {S.on_hold}),
    K.escalated: (S.open, {S.open, S.assigned, S.on_hold}),
    K.closed: (S.closed, {S.open, S.assigned, S.on_hold}),
    K.reopened: (S.open, {S.closed}),
}


@pytest.mark.parametrize(("src", "dst"), list(product(CaseStatus, CaseStatus)))
def test_status_table(src: CaseStatus, dst: CaseStatus) -> None:
    assert states.is_allowed(src, dst) is ((src, dst) in LEGAL_PAIRS)


def _put_in(db: Session, case: Case, status: CaseStatus, assignee_id: int) -> None:
    if status is S.open:
        return
    if status is S.closed:
        states.transition(
            db,
            case,
            S.closed,
            actor=SYSTEM,
            kind=K.closed,
            resolution=Resolution.no_violation,
            resolution_note="fine",
        )
    elif status is S.on_hold:
        until = clock.now() + timedelta(days=1)
        states.transition(db, case, S.on_hold, actor=SYSTEM, kind=K.held, hold_until=until)
    else:
        states.transition(
            db, case, S.assigned, actor=SYSTEM, kind=K.assigned, assignee_id=assignee_id
        )
    db.flush()


def _step(db: Session, case: Case, kind: CaseEventKind, assignee_id: int) -> None:
    target, _ = STEPS[kind]
    states.transition(
        db,
        case,
        target,
        actor=SYSTEM,
        kind=kind,
        assignee_id=assignee_id if target is S.assigned else None,
        hold_until=clock.now() + timedelta(hours=2) if target is S.on_hold else None,
        resolution=Resolution.actioned if target is S.closed else None,
        resolution_note="done" if target is S.closed else None,
    )


@pytest.mark.parametrize("src", list(CaseStatus))
def test_every_step_from_every_status(
    db: Session, queues: dict[str, Queue], frozen: FrozenClock, src: CaseStatus
) -> None:
    agent, _ = staff(db)
    for kind, (target, starts) in STEPS.items():
        case = new_case(db)
        _put_in(db, case, src, agent.id)
        version = case.version
        if src in starts:
            frozen.advance(timedelta(minutes=1))
            _step(db, case, kind, agent.id)
            db.flush()  # the database's check constraints accept the result
            assert case.status == target
            assert (case.assignee_id is not None) == (target is S.assigned)
            assert (case.resolution is not None) == (target is S.closed)
            stamp = {
                S.assigned: case.assigned_at,
                S.on_hold: case.held_at,
                S.closed: case.closed_at,
            }.get(target)
            if kind is K.escalated:
                stamp = case.escalated_at
            elif kind is K.reopened:
                stamp = case.reopened_at
                assert case.closed_at is None
            if stamp is not None or target is not S.open:
                assert stamp == clock.now(), f"{kind} from {src} did not stamp its step"
            assert case.version == version + 1
        else:
            with pytest.raises(IllegalTransition) as info:
                _step(db, case, kind, agent.id)
            assert info.value.status_code == 409
            assert info.value.code == "illegal_transition"
            assert case.status == src  # untouched
            db.flush()
            assert case.version == version


def test_first_assignment_is_kept(
    db: Session, queues: dict[str, Queue], frozen: FrozenClock
) -> None:
    a, _ = staff(db)
    b, _ = staff(db)
    case = new_case(db)
    states.transition(db, case, S.assigned, actor=SYSTEM, kind=K.assigned, assignee_id=a.id)
    first = case.first_assigned_at
    frozen.advance(timedelta(hours=1))
    states.transition(db, case, S.assigned, actor=SYSTEM, kind=K.assigned, assignee_id=b.id)
    db.flush()
    assert case.first_assigned_at == first
    assert case.assigned_at == first + timedelta(hours=1)
    assert case.assignee_id == b.id


def test_transition_appends_to_timeline(db: Session, queues: dict[str, Queue]) -> None:
    a, _ = staff(db)
    case = new_case(db)
    event = states.transition(
        db, case, S.assigned, actor=SYSTEM, kind=K.assigned, assignee_id=a.id, reason="mine"
    )
    db.flush()
    assert (event.case_id, event.kind, event.from_status, event.to_status, event.reason) == (
        case.id,
        "assigned",
        "open",
        "assigned",
        "mine",
    )
