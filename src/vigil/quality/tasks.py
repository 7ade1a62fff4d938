"""Jobs and periodic tasks of the quality domain: the QA sampler.

The handler takes no payload and is safe to run twice: the sampler's state row is locked and
a decision is sampled at most once. One run walks until it is caught up or its time budget
is spent (see ``vigil.quality.sampling``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from vigil.config import Settings
from vigil.jobs.registry import JobContext, handler, periodic
from vigil.quality.sampling import sample_decisions

log = logging.getLogger("vigil.quality")

SAMPLE = "quality.sample_decisions"


@handler(SAMPLE)
def sample(ctx: JobContext, _payload: dict[str, Any]) -> None:
    made = sample_decisions(ctx.session, ctx.settings)
    if made:
        log.info("%d decisions sampled for QA", made)


# Declared at import, before any Settings exists; the scheduler reads
# ``VIGIL_QA_SAMPLE_SECONDS`` when it runs (``_EVERY`` is only the fallback).
_EVERY = timedelta(seconds=Settings.model_fields["qa_sample_seconds"].default)
periodic(SAMPLE, _EVERY, SAMPLE, setting="qa_sample_seconds")
