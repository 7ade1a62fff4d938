"""Real worker processes: killed mid-job, the job is retried and takes effect once; stopped
with SIGTERM, the job in hand finishes and no new one starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.jobs.conftest import Effects, reload
from vigil.config import Settings
from vigil.jobs.models import JobStatus
from vigil.jobs.service import enqueue
from vigil.jobs.worker import LEASE_LOST, Worker
from vigil.kit import clock

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2
WORKER_SCRIPT = (
    "import tests.jobs.handlers\n"
    "from vigil.jobs.worker import main\n"
    "raise SystemExit(main(scheduler=False))\n"
)


@pytest.fixture
def start_worker(
    settings: Settings, tmp_path: Path
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "worker.log"

    def start() -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "VIGIL_DATABASE_URL": settings.database_url,
            "VIGIL_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "VIGIL_WORKER_POLL_SECONDS": "0.1",
            "VIGIL_SCHEDULER_ENABLED": "false",
        }
        log = log_path.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        log.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _wait_for(check: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        if proc.poll() is not None:
            pytest.fail(f"the worker exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_job_whose_worker_is_killed_is_retried_and_takes_effect_once(
    settings: Settings,
    session_factory: sessionmaker[Session],
    effects: Effects,
    start_worker: Callable[[], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "started"
    with session_factory.begin() as session:
        job_id = enqueue(
            session, "test.slow", {"marker": str(marker), "sleep_on": [1], "seconds": 120}
        ).id

    proc = start_worker()
    _wait_for(marker.exists, proc, "the job started")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    job = reload(session_factory, job_id)
    assert job.status == JobStatus.running  # abandoned, not lost
    assert job.attempts == 1
    assert job.locked_until is not None
    # The killed attempt's write was never committed.
    assert effects.rows() == []

    second = Worker(settings, session_factory, name="second")
    while clock.now() <= job.locked_until:
        assert second.run_once() == 0  # the dead worker's lease still protects the job
        time.sleep(0.1)
    assert second.run_once() == 1

    job = reload(session_factory, job_id)
    assert job.status == JobStatus.done
    assert job.attempts == 2
    assert job.locked_by == "second"
    assert job.last_error == LEASE_LOST
    assert effects.rows() == [(job_id, 2)]


def test_sigterm_lets_the_job_in_hand_finish_and_starts_no_other(
    session_factory: sessionmaker[Session],
    effects: Effects,
    start_worker: Callable[[], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "started"
    with session_factory.begin() as session:
        slow_id = enqueue(
            session, "test.slow", {"marker": str(marker), "sleep_on": [1], "seconds": 1.5}
        ).id
        next_id = enqueue(session, "test.effect").id

    proc = start_worker()
    _wait_for(marker.exists, proc, "the job started")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0

    slow = reload(session_factory, slow_id)
    assert slow.status == JobStatus.done
    assert slow.attempts == 1
    assert reload(session_factory, next_id).status == JobStatus.queued
    assert effects.rows() == [(slow_id, 1)]
