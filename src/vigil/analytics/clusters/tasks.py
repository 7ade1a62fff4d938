"""The periodic job that finds emerging clusters.

The handler takes no payload and is safe to run twice: a rerun over the same data matches
the clusters the first run stored and updates them (see ``vigil.analytics.clusters.service``);
on PostgreSQL concurrent runs store one after the other (an advisory lock). It reads in one
transaction, groups the texts outside any, and stores in a second one.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from vigil.analytics.clusters.service import analyse, snapshot, store
from vigil.config import Settings
from vigil.jobs.registry import JobContext, handler, periodic

log = logging.getLogger("vigil.analytics")

DETECT = "analytics.detect_clusters"


@handler(DETECT)
def detect_clusters(ctx: JobContext, _payload: dict[str, Any]) -> None:
    snap = snapshot(ctx.session, ctx.settings)
    # The grouping takes seconds: hold no transaction (on SQLite, no write lock) meanwhile.
    ctx.end_transaction()
    result = store(ctx.session, ctx.settings, snap, analyse(snap, ctx.settings))
    if result.created or result.updated:
        log.info(
            "clusters: %d new, %d updated (%d texts, %d in the baseline)",
            len(result.created),
            len(result.updated),
            result.texts,
            result.baseline,
        )


# Declared at import, before any Settings exists; the scheduler reads
# ``VIGIL_CLUSTER_SECONDS`` when it runs (``_EVERY`` is only the fallback).
_EVERY = timedelta(seconds=Settings.model_fields["cluster_seconds"].default)
periodic(DETECT, _EVERY, DETECT, setting="cluster_seconds")
