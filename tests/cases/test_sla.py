"""SLA breaches found by the sweep, holds that run out, and the queue figures."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.cases.conftest import SYSTEM, event_kinds, new_case, staff
from vigil.cases import queues as queue_service
from vigil.cases import service, sla, tasks
from vigil.cases.models import CaseEvent, CaseStatus, CaseType, Queue, Resolution
from vigil.config import Settings
from vigil.jobs import registry
from vigil.jobs.registry import JobContext
from vigil.kit import clock
from vigil.kit.clock import FrozenClock


def test_sweep_flags_each_breach_once(
    db: Session, queues: dict[str, Queue], frozen: FrozenClock
) -> None:
    identity = new_case(db, type=CaseType.identity_review)  # 8 h
    report = new_case(db, type=CaseType.user_report)  # 24 h
    closed = new_case(db, type=CaseType.identity_review)
    service.close(db, SYSTEM, closed.id, resolution=Resolution.duplicate, note="dup")
    version = identity.version

    frozen.advance(timedelta(hours=8) - timedelta(seconds=1))
    assert sla.sweep_sla_breaches(db) == []
    assert sla.sla_state(identity) == "warning"  # 99.99% of the SLA used
    frozen.advance(timedelta(seconds=1))
    assert sla.sweep_sla_breaches(db) == [identity.id]
    assert sla.sweep_sla_breaches(db) == []  # idempotent
    db.expire_all()
    identity = service.get_case(db, SYSTEM, identity.id)
    assert identity.sla_breached_at == clock.now()
    assert identity.version == version  # the flag does not make agents' saves conflict
    assert sla.sla_state(identity) == "breached"
    assert event_kinds(db, identity.id) == ["created", "sla_breached"]
    assert service.get_case(db, SYSTEM, report.id).sla_breached_at is None
    assert service.get_case(db, SYSTEM, closed.id).sla_breached_at is None

    frozen.advance(timedelta(hours=20))
    assert sla.sweep_sla_breaches(db) == [report.id]


def test_sweep_works_in_batches(db: Session, queues: dict[str, Queue], frozen: FrozenClock) -> None:
    made = [new_case(db, type=CaseType.detection) for _ in range(7)]
    frozen.advance(timedelta(hours=13))
    assert sorted(sla.sweep_sla_breaches(db, batch=3)) == [c.id for c in made]
    breaches = db.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "sla_breached")
    )
    assert breaches == 7


def test_escalation_starts_a_new_sla(
    db: Session, queues: dict[str, Queue], frozen: FrozenClock
) -> None:
    case = new_case(db, type=CaseType.identity_review)
    frozen.advance(timedelta(hours=9))
    sla.sweep_sla_breaches(db)
    service.escalate(db, SYSTEM, case.id, reason="needs a specialist")
    assert case.sla_breached_at is None
    assert sla.sla_state(case) == "ok"
    assert event_kinds(db, case.id) == ["created", "sla_breached", "escalated"]


def test_expired_holds_go_back_to_the_queue(
    db: Session, queues: dict[str, Queue], frozen: FrozenClock
) -> None:
    short = new_case(db)
    long = new_case(db)
    _, agent = staff(db)
    for case in (short, long):
        service.assign(db, agent, case.id)
    service.hold(db, agent, short.id, until=clock.now() + timedelta(hours=1), reason="wait")
    service.hold(db, agent, long.id, until=clock.now() + timedelta(days=2), reason="wait")
    frozen.advance(timedelta(hours=1))
    assert sla.resume_expired_holds(db) == [short.id]
    assert sla.resume_expired_holds(db) == []
    assert (short.status, short.assignee_id, short.hold_until) == (CaseStatus.open, None, None)
    assert long.status == CaseStatus.on_hold
    assert service.pull_next(db, agent).id == short.id  # type: ignore[union-attr]


def test_tasks_are_registered_and_run(
    db: Session, settings: Settings, queues: dict[str, Queue], frozen: FrozenClock
) -> None:
    periodic = {t.name: t for t in registry.periodic_tasks()}
    assert periodic[tasks.SLA_SWEEP].every == timedelta(seconds=settings.sla_sweep_seconds)
    assert tasks.RESUME_HOLDS in periodic
    case = new_case(db, type=CaseType.identity_review)
    frozen.advance(timedelta(hours=9))
    ctx = JobContext(session=db, settings=settings, job_id=1, attempt=1)
    handler = registry.get_handler(tasks.SLA_SWEEP)
    assert handler is not None
    handler(ctx, {})
    handler(ctx, {})
    assert event_kinds(db, case.id) == ["created", "sla_breached"]


def test_queue_figures(db: Session, queues: dict[str, Queue], frozen: FrozenClock) -> None:
    first = new_case(db, type=CaseType.identity_review)
    frozen.advance(timedelta(hours=2))
    new_case(db, type=CaseType.identity_review)
    held = new_case(db, type=CaseType.identity_review)
    closed = new_case(db, type=CaseType.identity_review)
    _, agent = staff(db)
    service.assign(db, agent, held.id)
    service.hold(db, agent, held.id, until=clock.now() + timedelta(hours=1), reason="wait")
    service.close(db, SYSTEM, closed.id, resolution=Resolution.withdrawn, note="withdrawn")
    service.assign(db, agent, first.id)
    new_case(db, type=CaseType.identity_review)  # the one that stays open longest is #2

    def figures() -> queue_service.QueueStats:
        (s,) = queue_service.queue_stats(db, [queues["identity"]])
        return s

    s = figures()
    assert (s.open, s.assigned, s.on_hold, s.breached) == (2, 1, 1, 0)
    assert s.oldest_open_age_seconds == 0
    assert s.sla_state == "ok"
    frozen.advance(timedelta(hours=5))  # first case: 7 of 8 hours used
    s = figures()
    assert s.oldest_open_age_seconds == 5 * 3600
    assert s.sla_state == "warning"
    frozen.advance(timedelta(hours=1))  # first case is past due, before any sweep
    s = figures()
    assert (s.breached, s.sla_state) == (1, "breached")
    (empty,) = queue_service.queue_stats(db, [queues["appeals"]])
    assert (empty.open, empty.sla_state, empty.oldest_open_age_seconds) == (0, "ok", None)
