"""Account jobs and periodic tasks."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from vigil.accounts import service
from vigil.auth.principal import Principal
from vigil.jobs.registry import JobContext, handler, periodic

log = logging.getLogger("vigil.accounts")

REFRESH_STATUSES = "accounts.refresh_statuses"


@handler(REFRESH_STATUSES)
def refresh_statuses(ctx: JobContext, _payload: dict[str, Any]) -> None:
    """A restriction that reaches its ``ends_at`` stops being in force without any write, so
    the account's status is moved back here. Reads of restrictions are always exact; only
    ``Account.status`` lags, by at most one period. Safe to run twice."""
    changed = service.refresh_statuses(ctx.session, Principal.system("restriction expiry"))
    if changed:
        log.info("moved %d account statuses after restrictions ended", changed)


periodic("accounts.refresh_statuses", timedelta(minutes=5), REFRESH_STATUSES)
