"""Rules jobs: backtests over ranges too large to run inside a request."""

from __future__ import annotations

import logging
from typing import Any

from vigil.detection.rules import backtest
from vigil.jobs.registry import JobContext, PermanentFailure, handler

log = logging.getLogger("vigil.detection.rules")


@handler(backtest.JOB_KIND)
def run_backtest(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Run a queued backtest. Idempotent: a finished run is left as it is, an interrupted one
    is run again from the start (the figures do not depend on the earlier attempt)."""
    backtest_id = payload.get("backtest_id")
    if not isinstance(backtest_id, int):
        raise PermanentFailure("payload has no backtest_id")
    done = backtest.run_queued(ctx.session, ctx.settings, backtest_id)
    if done is None:
        raise PermanentFailure(f"backtest {backtest_id} does not exist")
    log.info("backtest %s: %s over %d events", done.id, done.status.value, done.events_scanned)
