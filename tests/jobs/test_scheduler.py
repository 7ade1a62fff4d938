"""The periodic scheduler: one slot, one job; one leader at a time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings
from vigil.jobs.models import Job, PeriodicRun
from vigil.jobs.registry import PeriodicTask
from vigil.jobs.scheduler import Scheduler, slot_start
from vigil.kit.clock import FrozenClock

SWEEP = PeriodicTask("test.sweep", timedelta(minutes=5), "test.effect", {"scope": "all"})
HOURLY = PeriodicTask("test.hourly", timedelta(hours=1), "test.effect", {})


def _scheduler(settings: Settings, factory: sessionmaker[Session], name: str) -> Scheduler:
    return Scheduler(settings, factory, name=name, tasks=[SWEEP, HOURLY])


def _jobs(factory: sessionmaker[Session]) -> list[tuple[str | None, str, dict[str, object]]]:
    with factory() as session:
        return [
            (job.dedup_key, job.kind, job.payload)
            for job in session.scalars(select(Job).order_by(Job.id))
        ]


def test_slots_are_aligned_to_the_epoch() -> None:
    at = datetime(2026, 11, 21, 9, 7, 31, tzinfo=UTC)
    assert slot_start(at, timedelta(minutes=5)) == datetime(2026, 11, 21, 9, 5, tzinfo=UTC)
    assert slot_start(at, timedelta(hours=1)) == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert slot_start(at, timedelta(days=1)) == datetime(2026, 11, 21, tzinfo=UTC)


def test_each_slot_is_enqueued_once_even_with_two_schedulers(
    settings: Settings, session_factory: sessionmaker[Session], frozen: FrozenClock
) -> None:
    a = _scheduler(settings, session_factory, "sched-a")
    b = _scheduler(settings, session_factory, "sched-b")
    try:
        assert a.tick() == 2  # 09:00 opens a slot of both tasks
        assert b.tick() == 0
        # Two schedulers that both think they lead still add nothing twice.
        assert a.enqueue_due() == 0
        assert b.enqueue_due() == 0

        frozen.advance(timedelta(minutes=4, seconds=59))
        assert a.tick() + b.tick() == 0
        frozen.advance(timedelta(seconds=1))  # 09:05
        assert a.tick() + b.tick() == 1
        assert b.enqueue_due() == 0

        assert _jobs(session_factory) == [
            ("test.sweep:2026-11-21T09:00:00+00:00", "test.effect", {"scope": "all"}),
            ("test.hourly:2026-11-21T09:00:00+00:00", "test.effect", {}),
            ("test.sweep:2026-11-21T09:05:00+00:00", "test.effect", {"scope": "all"}),
        ]
        with session_factory() as session:
            runs = {r.name: r.last_run_at for r in session.scalars(select(PeriodicRun))}
        assert runs == {
            "test.sweep": datetime(2026, 11, 21, 9, 5, tzinfo=UTC),
            "test.hourly": datetime(2026, 11, 21, 9, 0, tzinfo=UTC),
        }
    finally:
        a.close()
        b.close()


def test_missed_slots_are_not_back_filled(
    settings: Settings, session_factory: sessionmaker[Session], frozen: FrozenClock
) -> None:
    s = Scheduler(settings, session_factory, name="sched-a", tasks=[SWEEP])
    try:
        assert s.tick() == 1
        frozen.advance(timedelta(hours=2))  # the scheduler was down for 24 slots
        assert s.tick() == 1
        assert [key for key, _, _ in _jobs(session_factory)] == [
            "test.sweep:2026-11-21T09:00:00+00:00",
            "test.sweep:2026-11-21T11:00:00+00:00",
        ]
    finally:
        s.close()


@pytest.mark.only_backend("postgresql")
def test_one_postgresql_scheduler_leads_and_another_takes_over(
    backend: str,
    settings: Settings,
    engine: Engine,
    session_factory: sessionmaker[Session],
    frozen: FrozenClock,
) -> None:
    a = _scheduler(settings, session_factory, "sched-a")
    b = _scheduler(settings, session_factory, "sched-b")
    c = _scheduler(settings, session_factory, "sched-c")
    try:
        assert a.lead() is True
        assert b.lead() is False
        assert a.lead() is True  # holding, not re-acquiring

        a.close()  # a clean shutdown hands over at once
        assert b.lead() is True
        assert c.lead() is False

        # b's connection is cut (its machine vanished): PostgreSQL frees the lock.
        assert b._conn is not None
        pid = b._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # pg_terminate_backend only signals: the lock is free once the backend is gone.
            # (pg_stat_activity is a per-transaction snapshot: clear it before each look.)
            alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                admin.execute(text("SELECT pg_stat_clear_snapshot()"))
                if not admin.execute(alive, {"pid": pid}).scalar():
                    break
                time.sleep(0.05)
        assert c.lead() is True
        assert b.lead() is False  # b notices and stops leading
        assert b.tick() == 0
        assert c.tick() == 2
    finally:
        for s in (a, b, c):
            s.close()


@pytest.mark.only_backend("sqlite")
def test_sqlite_leadership_is_a_lease_taken_over_when_it_expires(
    backend: str, settings: Settings, session_factory: sessionmaker[Session], frozen: FrozenClock
) -> None:
    a = _scheduler(settings, session_factory, "sched-a")
    b = _scheduler(settings, session_factory, "sched-b")
    try:
        assert a.lead() is True
        assert b.lead() is False
        frozen.advance(timedelta(seconds=Scheduler.lease_seconds * 0.6))
        assert a.lead() is True  # renewed
        frozen.advance(timedelta(seconds=Scheduler.lease_seconds * 0.6))
        assert b.lead() is False  # a's renewal still holds

        frozen.advance(timedelta(seconds=Scheduler.lease_seconds + 1))  # a stalled
        assert b.lead() is True
        assert a.lead() is False
        b.close()
        assert a.lead() is True
    finally:
        a.close()
        b.close()
