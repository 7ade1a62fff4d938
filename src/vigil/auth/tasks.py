"""Auth jobs and periodic tasks."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from vigil.auth import service
from vigil.jobs.registry import JobContext, handler, periodic

log = logging.getLogger("vigil.auth")

PURGE_SESSIONS = "auth.purge_expired_sessions"


@handler(PURGE_SESSIONS)
def purge_expired_sessions(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """Delete console sessions past their expiry. Expired sessions are already refused at
    every request; this only keeps the table small. Safe to run twice."""
    removed = service.purge_expired_sessions(ctx.session)
    service.prune_unknown_failures(ctx.session)
    if removed:
        log.info("purged %d expired console sessions", removed)


periodic("auth.purge_expired_sessions", timedelta(hours=1), PURGE_SESSIONS)
