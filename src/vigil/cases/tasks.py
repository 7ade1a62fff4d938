"""Case jobs and periodic tasks: the SLA breach sweep and the end of holds.

Both handlers take no payload, re-read what is due under row locks and are safe to run twice
(see ``vigil.cases.sla``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from vigil.cases import sla
from vigil.config import Settings
from vigil.jobs.registry import JobContext, handler, periodic

log = logging.getLogger("vigil.cases")

SLA_SWEEP = "cases.sla_sweep"
RESUME_HOLDS = "cases.resume_holds"


@handler(SLA_SWEEP)
def sla_sweep(ctx: JobContext, _payload: dict[str, Any]) -> None:
    flagged = sla.sweep_sla_breaches(ctx.session)
    if flagged:
        log.info("%d cases breached their SLA", len(flagged))


@handler(RESUME_HOLDS)
def resume_holds(ctx: JobContext, _payload: dict[str, Any]) -> None:
    resumed = sla.resume_expired_holds(ctx.session)
    if resumed:
        log.info("%d held cases are back in their queues", len(resumed))


# Periodic tasks are declared at import, before any Settings exists; the scheduler reads
# ``VIGIL_SLA_SWEEP_SECONDS`` when it runs (``_EVERY`` is only the fallback).
_EVERY = timedelta(seconds=Settings.model_fields["sla_sweep_seconds"].default)
periodic(SLA_SWEEP, _EVERY, SLA_SWEEP, setting="sla_sweep_seconds")
periodic(RESUME_HOLDS, _EVERY, RESUME_HOLDS, setting="sla_sweep_seconds")
