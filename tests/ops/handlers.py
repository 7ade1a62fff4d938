"""Job kinds for the metrics tests: one that succeeds, one that always fails."""

from __future__ import annotations

from typing import Any

from vigil.jobs.registry import JobContext, handler

OK = "test.ops.ok"
FAIL = "test.ops.fail"


@handler(OK)
def ok(ctx: JobContext, payload: dict[str, Any]) -> None:
    return None


@handler(FAIL)
def fail(ctx: JobContext, payload: dict[str, Any]) -> None:
    raise RuntimeError("this job always fails")
