"""Job kinds used only by the job system's tests. Imported by the tests and by the worker
subprocesses they start, so both sides know the same kinds.

Each handler leaves a visible effect: a row in ``test_job_effects`` (created by the
``effects`` fixture), written in the job's own transaction.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from vigil.jobs.registry import JobContext, PermanentFailure, handler

EFFECTS_TABLE = "test_job_effects"


def record_effect(ctx: JobContext) -> None:
    ctx.session.execute(
        text(f"INSERT INTO {EFFECTS_TABLE} (job_id, attempt) VALUES (:job_id, :attempt)"),
        {"job_id": ctx.job_id, "attempt": ctx.attempt},
    )


@handler("test.effect")
def effect(ctx: JobContext, payload: dict[str, Any]) -> None:
    record_effect(ctx)


@handler("test.fail")
def fail(ctx: JobContext, payload: dict[str, Any]) -> None:
    record_effect(ctx)  # rolled back with the failure
    raise RuntimeError(payload.get("message", "boom"))


@handler("test.permanent")
def permanent(ctx: JobContext, payload: dict[str, Any]) -> None:
    record_effect(ctx)
    raise PermanentFailure("the payload names nothing that exists")


@handler("test.slow")
def slow(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Writes its effect, tells the test it is mid-job through a marker file, then sleeps
    on the attempts listed in ``sleep_on`` (so a test can kill or stop the worker)."""
    record_effect(ctx)
    if ctx.attempt in payload.get("sleep_on", [1]):
        Path(payload["marker"]).write_text(str(ctx.attempt))
        time.sleep(float(payload.get("seconds", 60)))


# Set by tests of ``JobContext.end_transaction``: the handler waits on ``io_started`` ->
# ``io_may_finish`` between ending its transaction and writing its effect, like a slow POST.
IO_STARTED = threading.Event()
IO_MAY_FINISH = threading.Event()


@handler("test.slow_io")
def slow_io(ctx: JobContext, payload: dict[str, Any]) -> None:
    ctx.end_transaction()
    IO_STARTED.set()
    if not IO_MAY_FINISH.wait(timeout=20):
        raise RuntimeError("the test never let the I/O finish")
    record_effect(ctx)
