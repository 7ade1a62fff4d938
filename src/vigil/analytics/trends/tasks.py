"""Periodic trend jobs and the alert email job.

- ``trends.rollup`` (every ``trend_rollup_seconds``): counts new events.
- ``trends.detect`` (every ``trend_detect_seconds``): counts new events first, so the hour it
  judges is as complete as it can be, then judges it (``detect.run``).
- ``trends.notify_alert`` ``{"alert_id"}``: emails the policy leads about an opened alert.

All are safe to run twice: the roll-up's mark and the detector are locked rows, and an
opened alert is never opened again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from vigil.analytics.trends import detect, notify, rollup
from vigil.analytics.trends.models import TrendAlert
from vigil.communications.channels import ChannelError, smtp_send
from vigil.config import Settings
from vigil.jobs.registry import JobContext, PermanentFailure, handler, periodic

log = logging.getLogger("vigil.trends")

ROLLUP = "trends.rollup"
DETECT = "trends.detect"
NOTIFY = detect.NOTIFY
# A run of the roll-up stops after this long; the next one carries on from its mark.
ROLLUP_BUDGET_SECONDS = 120.0


@handler(ROLLUP)
def run_rollup(ctx: JobContext, _payload: dict[str, Any]) -> None:
    done = rollup.run(ctx.session, budget_seconds=ROLLUP_BUDGET_SECONDS)
    if done.events:
        log.info("trend roll-up: %d events, mark %d", done.events, done.watermark)


@handler(DETECT)
def run_detect(ctx: JobContext, _payload: dict[str, Any]) -> None:
    rollup.run(ctx.session, budget_seconds=ROLLUP_BUDGET_SECONDS)
    result = detect.run(ctx.session, settings=ctx.settings)
    if result.opened or result.resolved:
        log.info(
            "trend alerts: opened %s, updated %s, resolved %s",
            result.opened,
            result.updated,
            result.resolved,
        )


@handler(NOTIFY)
def send_alert_email(ctx: JobContext, payload: dict[str, Any]) -> None:
    alert_id = payload.get("alert_id")
    if not isinstance(alert_id, int) or isinstance(alert_id, bool):
        raise PermanentFailure(f"payload has no alert id: {payload!r}")
    alert = ctx.session.get(TrendAlert, alert_id)
    if alert is None:
        log.warning("trend alert #%d: no such alert, no email", alert_id)
        return
    to = notify.recipients(ctx.session)
    if not to:
        log.info("trend alert #%d: no active policy lead to email", alert_id)
        return
    email = notify.build(ctx.settings, alert, to)
    # The SMTP conversation holds no row locks (nothing was written here).
    ctx.end_transaction()
    try:
        smtp_send(ctx.settings, email)
    except ChannelError as exc:
        if exc.permanent:
            raise PermanentFailure(str(exc)) from None
        raise


# Declared at import, before any Settings exists; the scheduler reads the settings named.
periodic(
    ROLLUP,
    timedelta(seconds=Settings.model_fields["trend_rollup_seconds"].default),
    ROLLUP,
    setting="trend_rollup_seconds",
)
periodic(
    DETECT,
    timedelta(seconds=Settings.model_fields["trend_detect_seconds"].default),
    DETECT,
    setting="trend_detect_seconds",
)
