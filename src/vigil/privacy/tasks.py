"""Periodic retention (one run = one transaction, one audit record; see ``retention``)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from vigil.jobs.registry import JobContext, handler, periodic
from vigil.privacy.retention import run_retention

log = logging.getLogger("vigil.privacy")

RETENTION = "privacy.retention"


@handler(RETENTION)
def retention(ctx: JobContext, _payload: dict[str, Any]) -> None:
    report = run_retention(ctx.session, ctx.settings)
    total = sum(report.counts().values())
    if total:
        log.info("retention removed or anonymized %d rows/files: %s", total, report.counts())


periodic(RETENTION, timedelta(hours=6), RETENTION, setting="retention_interval_seconds")
