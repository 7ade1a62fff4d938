"""Jobs and periodic tasks of the disputes domain: the deadline sweep.

``disputes.sweep`` takes no payload; it re-reads what is due under row locks (``SKIP LOCKED`` on
PostgreSQL) and is safe to run twice or on several workers at once (see
:func:`vigil.disputes.service.sweep`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from vigil.config import Settings
from vigil.disputes import service
from vigil.jobs.registry import JobContext, handler, periodic

log = logging.getLogger("vigil.disputes")

SWEEP = "disputes.sweep"


@handler(SWEEP)
def sweep(ctx: JobContext, _payload: dict[str, Any]) -> None:
    done = service.sweep(ctx.session, ctx.settings)
    if done:
        log.info("dispute deadlines: %d reminders, defaults or lapses", done)


# Declared at import, before any Settings exists; the scheduler reads
# ``VIGIL_DISPUTE_SWEEP_SECONDS`` when it runs (``_EVERY`` is only the fallback).
_EVERY = timedelta(seconds=Settings.model_fields["dispute_sweep_seconds"].default)
periodic(SWEEP, _EVERY, SWEEP, setting="dispute_sweep_seconds")
