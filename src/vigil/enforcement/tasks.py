"""Jobs of the enforcement domain: the sweep that ends actions whose time is up.

The handler takes no payload, re-reads what is due under row locks and is safe to run twice
(see ``vigil.enforcement.apply.expire_due``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from vigil.config import Settings
from vigil.enforcement.apply import expire_due
from vigil.jobs.registry import JobContext, handler, periodic

log = logging.getLogger("vigil.enforcement")

EXPIRE_DUE = "enforcement.expire_due"


@handler(EXPIRE_DUE)
def expire_due_actions(ctx: JobContext, _payload: dict[str, Any]) -> None:
    expired = expire_due(ctx.session)
    if expired:
        log.info("%d enforcement actions reached their end", len(expired))


# Declared at import, before any Settings exists; the scheduler reads
# ``VIGIL_ENFORCEMENT_SWEEP_SECONDS`` when it runs (``_EVERY`` is only the fallback).
_EVERY = timedelta(seconds=Settings.model_fields["enforcement_sweep_seconds"].default)
periodic(EXPIRE_DUE, _EVERY, EXPIRE_DUE, setting="enforcement_sweep_seconds")
