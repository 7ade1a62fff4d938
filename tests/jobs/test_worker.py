"""The worker: outbox enqueue, claim, run, retry with backoff, dead letters, leases."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.jobs.conftest import Effects, reload
from vigil.config import Settings
from vigil.jobs.models import Job, JobStatus
from vigil.jobs.service import enqueue
from vigil.jobs.worker import LEASE_LOST, Worker, backoff_delay
from vigil.kit import clock
from vigil.kit.clock import FrozenClock


def _enqueue(factory: sessionmaker[Session], kind: str, **kwargs: object) -> int:
    with factory.begin() as session:
        return enqueue(session, kind, **kwargs).id  # type: ignore[arg-type]


def test_a_job_exists_only_if_the_callers_transaction_commits(
    session_factory: sessionmaker[Session], worker: Worker, effects: Effects, frozen: FrozenClock
) -> None:
    with session_factory() as session:
        enqueue(session, "test.effect", {"n": 1})
        session.rollback()
    assert worker.run_once() == 0

    with session_factory() as session:
        job = enqueue(session, "test.effect", {"n": 2})
        session.commit()
    assert worker.run_once() == 1
    done = reload(session_factory, job.id)
    assert done.status == JobStatus.done
    assert done.payload == {"n": 2}
    assert effects.rows() == [(job.id, 1)]


def test_a_claimed_job_runs_once_and_is_done(
    session_factory: sessionmaker[Session], worker: Worker, effects: Effects, frozen: FrozenClock
) -> None:
    job_id = _enqueue(session_factory, "test.effect")
    assert worker.run_once() == 1
    job = reload(session_factory, job_id)
    assert job.status == JobStatus.done
    assert job.attempts == 1
    assert job.started_at == clock.now()
    assert job.finished_at == clock.now()
    assert job.locked_by == "worker-a"
    assert job.locked_until is None
    assert worker.run_once() == 0
    assert effects.rows() == [(job_id, 1)]


def test_a_job_waits_for_its_run_at(
    session_factory: sessionmaker[Session], worker: Worker, effects: Effects, frozen: FrozenClock
) -> None:
    job_id = _enqueue(session_factory, "test.effect", run_at=clock.now() + timedelta(minutes=10))
    assert worker.run_once() == 0
    frozen.advance(timedelta(minutes=10))
    assert worker.run_once() == 1
    assert effects.rows() == [(job_id, 1)]


def test_a_failing_job_backs_off_exponentially_then_goes_dead(
    settings: Settings,
    session_factory: sessionmaker[Session],
    worker: Worker,
    effects: Effects,
    frozen: FrozenClock,
) -> None:
    job_id = _enqueue(
        session_factory, "test.fail", payload={"message": "upstream 503"}, max_attempts=3
    )
    base = settings.job_backoff_base_seconds

    for attempt in (1, 2):
        failed_at = clock.now()
        assert worker.run_once() == 1
        job = reload(session_factory, job_id)
        assert job.status == JobStatus.queued
        assert job.attempts == attempt
        assert job.locked_by is None
        assert "RuntimeError: upstream 503" in (job.last_error or "")
        delay = (job.run_at - failed_at).total_seconds()
        full = base * 2 ** (attempt - 1)
        assert 0.8 * full <= delay <= full
        # Not before its time.
        frozen.set(job.run_at - timedelta(milliseconds=1))
        assert worker.run_once() == 0
        frozen.set(job.run_at)

    assert worker.run_once() == 1
    job = reload(session_factory, job_id)
    assert job.status == JobStatus.dead
    assert job.attempts == 3
    assert job.finished_at == clock.now()
    assert "upstream 503" in (job.last_error or "")
    frozen.advance(timedelta(days=1))
    assert worker.run_once() == 0
    # Every attempt's writes were rolled back with its failure.
    assert effects.rows() == []


def test_backoff_is_capped_and_jittered_downwards(settings: Settings) -> None:
    capped = settings.model_copy(
        update={"job_backoff_base_seconds": 2.0, "job_backoff_max_seconds": 3600.0}
    )
    assert backoff_delay(capped, 1, 1.0) == timedelta(seconds=2)
    assert backoff_delay(capped, 1, 0.0) == timedelta(seconds=1.6)
    assert backoff_delay(capped, 4, 1.0) == timedelta(seconds=16)
    assert backoff_delay(capped, 40, 1.0) == timedelta(seconds=3600)
    assert backoff_delay(capped, 10_000, 0.0) == timedelta(seconds=2880)


def test_a_permanent_failure_goes_dead_at_once(
    session_factory: sessionmaker[Session], worker: Worker, effects: Effects, frozen: FrozenClock
) -> None:
    job_id = _enqueue(session_factory, "test.permanent")
    assert worker.run_once() == 1
    job = reload(session_factory, job_id)
    assert job.status == JobStatus.dead
    assert job.attempts == 1
    assert "PermanentFailure" in (job.last_error or "")
    assert effects.rows() == []


def test_a_job_of_unknown_kind_goes_dead(
    session_factory: sessionmaker[Session], worker: Worker, frozen: FrozenClock
) -> None:
    job_id = _enqueue(session_factory, "test.no_such_kind")
    assert worker.run_once() == 1
    job = reload(session_factory, job_id)
    assert job.status == JobStatus.dead
    assert job.last_error == "no handler for job kind 'test.no_such_kind'"


def test_dedup_key_enqueues_one_job(
    session_factory: sessionmaker[Session], worker: Worker, effects: Effects, frozen: FrozenClock
) -> None:
    first = _enqueue(session_factory, "test.effect", dedup_key="report:2026-11-21")
    second = _enqueue(session_factory, "test.effect", dedup_key="report:2026-11-21")
    assert first == second
    assert worker.run_once() == 1
    # The key names the work forever: enqueueing it after it ran adds nothing.
    assert _enqueue(session_factory, "test.effect", dedup_key="report:2026-11-21") == first
    assert worker.run_once() == 0
    assert effects.rows() == [(first, 1)]


def test_dedup_key_holds_between_concurrent_transactions(
    session_factory: sessionmaker[Session], backend: str, frozen: FrozenClock
) -> None:
    first = session_factory()
    winner = enqueue(first, "test.effect", dedup_key="one-off")
    result: dict[str, int] = {}
    errors: list[BaseException] = []

    def second_enqueue() -> None:
        try:
            with session_factory.begin() as second:
                # Blocks on the unique key (PostgreSQL) or the write lock (SQLite) until the
                # first transaction commits, then finds its job.
                result["id"] = enqueue(second, "test.effect", dedup_key="one-off").id
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=second_enqueue)
    thread.start()
    thread.join(0.3)
    first.commit()
    first.close()
    thread.join(10)
    assert not errors
    assert result["id"] == winner.id
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_an_expired_lease_is_reclaimed_and_the_old_owner_cannot_finish(
    settings: Settings,
    session_factory: sessionmaker[Session],
    effects: Effects,
    frozen: FrozenClock,
) -> None:
    a = Worker(settings, session_factory, name="worker-a")
    b = Worker(settings, session_factory, name="worker-b")
    job_id = _enqueue(session_factory, "test.effect")
    [claimed_by_a] = a.claim(1)  # a claims, then stalls
    assert b.run_once() == 0  # the lease protects a's claim

    frozen.advance(timedelta(seconds=settings.job_lease_seconds + 1))
    [claimed_by_b] = b.claim(1)
    assert claimed_by_b.attempt == 2
    a.run_job(claimed_by_a)  # a wakes up: the job is not a's any more
    job = reload(session_factory, job_id)
    assert job.status == JobStatus.running
    assert job.locked_by == "worker-b"
    assert job.last_error == LEASE_LOST

    b.run_job(claimed_by_b)
    job = reload(session_factory, job_id)
    assert job.status == JobStatus.done
    assert job.attempts == 2
    assert effects.rows() == [(job_id, 2)]


def test_a_job_whose_workers_keep_dying_goes_dead(
    settings: Settings,
    session_factory: sessionmaker[Session],
    effects: Effects,
    frozen: FrozenClock,
) -> None:
    a = Worker(settings, session_factory, name="worker-a")
    b = Worker(settings, session_factory, name="worker-b")
    job_id = _enqueue(session_factory, "test.effect", max_attempts=1)
    a.claim(1)
    frozen.advance(timedelta(seconds=settings.job_lease_seconds + 1))
    assert b.claim(1) == []
    job = reload(session_factory, job_id)
    assert job.status == JobStatus.dead
    assert job.attempts == 1
    assert job.last_error is not None and "no attempts left" in job.last_error
    assert effects.rows() == []


def test_stopping_mid_batch_releases_the_jobs_not_started(
    session_factory: sessionmaker[Session], worker: Worker, effects: Effects, frozen: FrozenClock
) -> None:
    ids = [_enqueue(session_factory, "test.effect") for _ in range(3)]
    stop = threading.Event()
    stop.set()
    assert worker.run_once(3, stop) == 3
    for job_id in ids:
        job = reload(session_factory, job_id)
        assert job.status == JobStatus.queued
        assert job.attempts == 0
        assert job.locked_by is None
    assert worker.drain() == 3
    assert [job_id for job_id, _ in effects.rows()] == ids


@pytest.mark.only_backend("postgresql")  # SQLite has one writer: one worker per database
def test_four_workers_never_run_the_same_job(
    backend: str, settings: Settings, session_factory: sessionmaker[Session], effects: Effects
) -> None:
    total = 200
    with session_factory.begin() as session:
        for n in range(total):
            enqueue(session, "test.effect", {"n": n})
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            Worker(settings, session_factory, name=name).drain(batch=2)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    rows = effects.rows()
    assert len(rows) == total
    assert len({job_id for job_id, _ in rows}) == total
    with session_factory() as session:
        jobs = list(session.scalars(select(Job)))
    assert {job.status for job in jobs} == {JobStatus.done}
    assert {job.attempts for job in jobs} == {1}
    assert len({job.locked_by for job in jobs}) > 1  # the work was actually shared
