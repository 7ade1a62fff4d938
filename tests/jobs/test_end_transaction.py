"""A handler that ends its transaction before slow I/O holds no lock while the I/O runs."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from tests.jobs import handlers
from tests.jobs.conftest import Effects, reload
from vigil.db import transaction
from vigil.jobs import service
from vigil.jobs.models import JobStatus
from vigil.jobs.worker import Worker


def test_other_writers_proceed_while_a_handler_does_io(
    session_factory: sessionmaker[Session], worker: Worker, effects: Effects
) -> None:
    handlers.IO_STARTED.clear()
    handlers.IO_MAY_FINISH.clear()
    with transaction(session_factory) as session:
        job_id = service.enqueue(session, "test.slow_io").id
    runner = threading.Thread(target=worker.drain)
    runner.start()
    try:
        assert handlers.IO_STARTED.wait(timeout=20)
        # On SQLite every transaction takes the write lock: this would wait for the whole
        # I/O (and time out) if the handler still held its transaction.
        with transaction(session_factory) as session:
            other = service.enqueue(session, "test.effect").id
        assert reload(session_factory, job_id).status is JobStatus.running
    finally:
        handlers.IO_MAY_FINISH.set()
        runner.join(timeout=30)
    assert reload(session_factory, job_id).status is JobStatus.done
    assert (job_id, 1) in effects.rows()
    assert reload(session_factory, other).status is JobStatus.done
