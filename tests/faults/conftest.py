"""Fixtures for the fault tests: fast retry settings, and a worker that runs them."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings
from vigil.jobs.worker import Worker


@pytest.fixture
def fault_settings(mail_settings: Settings) -> Settings:
    """Webhook retries tens of milliseconds apart, a short delivery timeout (so a slow
    receiver times out quickly), and room for many attempts."""
    return mail_settings.model_copy(
        update={
            "webhook_timeout_seconds": 0.5,
            "webhook_max_attempts": 20,
            "webhook_backoff_base_seconds": 0.02,
            "webhook_backoff_max_seconds": 0.1,
        }
    )


@pytest.fixture
def fault_worker(fault_settings: Settings, session_factory: sessionmaker[Session]) -> Worker:
    return Worker(fault_settings, session_factory, name="faults")


def pytest_configure(config: pytest.Config) -> None:
    # Registered by pytest-xdist when it runs; registered here too so that a run without
    # xdist (-p no:xdist) accepts the marker under --strict-markers.
    config.addinivalue_line(
        "markers", "xdist_group(name): keep tests of one group on one xdist worker"
    )


@pytest.fixture
def one_at_a_time() -> Iterator[None]:
    """Tests that start ``vigil`` processes take turns, across xdist workers too: two such
    tests at once on a small CI machine slow each other's process start-ups to a crawl.
    (The ``processes`` xdist group asks for the same with ``--dist loadgroup``; the lock
    holds whatever the scheduler does.)"""
    with open(os.path.join(tempfile.gettempdir(), "vigil-faults-processes.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
