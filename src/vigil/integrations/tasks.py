"""The delivery job: one HTTP attempt of one webhook delivery, logged whatever happens.

A failed attempt does not raise. A raising handler's transaction is rolled back, which would
lose the attempt's log row; instead the handler records the attempt and enqueues the next one
as a new job (``run_at`` = now + backoff) in the same transaction, or marks the delivery
``failed`` when its budget is spent. The job system's own retries are left for the unexpected
(a database error, a bug), where the attempt could not be recorded anyway.

Each job carries ``{"delivery_id", "attempt"}`` and runs only if the delivery is still
``pending`` and that attempt is the next one, so a duplicate or stale job does nothing.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil import __version__
from vigil.audit import service as audit
from vigil.config import Settings
from vigil.integrations import service, signing
from vigil.integrations.models import (
    DeliveryAttempt,
    DeliveryStatus,
    Integration,
    WebhookDelivery,
)
from vigil.jobs.registry import JobContext, PermanentFailure, handler
from vigil.kit import clock

log = logging.getLogger("vigil.integrations")

DELIVER = service.DELIVER_JOB
EXCERPT_CHARS = 500
# Read no more of an answer than this: a receiver could answer with gigabytes.
_READ_LIMIT = 4 * EXCERPT_CHARS
_USER_AGENT = f"Vigil-Webhooks/{__version__}"


def backoff_delay(settings: Settings, failed: int, jitter: float) -> timedelta:
    """Delay before the next attempt after ``failed`` failed attempts of the current round:
    ``webhook_backoff_base_seconds * 2**(failed-1)``, capped at
    ``webhook_backoff_max_seconds``, then scaled by a factor in [0.8, 1.0] (``jitter`` in
    [0, 1)) so deliveries that failed together do not all come back together."""
    exponent = max(failed - 1, 0)
    raw = settings.webhook_backoff_base_seconds * 2 ** min(exponent, 62)
    capped = min(raw, settings.webhook_backoff_max_seconds)
    return timedelta(seconds=capped * (0.8 + 0.2 * jitter))


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    excerpt: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """POST once; never raises for anything the network or the receiver does.

    ``timeout`` bounds each network step (httpx restarts it on every read), and the reading
    of the answer's body as a whole: a receiver that drips its answer a byte at a time must
    not hold the worker (and the job's lease) for minutes. The status code decides."""
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            read = bytearray()
            deadline = time.monotonic() + timeout
            for chunk in response.iter_bytes():
                read.extend(chunk)
                if len(read) >= _READ_LIMIT or time.monotonic() > deadline:
                    break
            excerpt = read.decode("utf-8", errors="replace")[:EXCERPT_CHARS] or None
            code = response.status_code
            error: str | None = None
            if 300 <= code < 400:
                location = response.headers.get("location", "")
                error = f"answered {code}; redirects are not followed (Location: {location})"
            elif not 200 <= code < 300:
                error = f"answered {code}"
            return Outcome(code, error, excerpt)
    except httpx.TimeoutException as exc:
        return Outcome(None, f"timed out after {timeout:g}s ({type(exc).__name__})", None)
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:2000], None)
    except (OSError, ValueError) as exc:
        # A URL httpx cannot use, a resolver failure outside httpx's own wrapping.
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:2000], None)


def _lock(session: Session, delivery_id: int) -> WebhookDelivery | None:
    return session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()


def _finish(session: Session, delivery: WebhookDelivery, status: DeliveryStatus) -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    if status is DeliveryStatus.delivered:
        delivery.delivered_at = clock.now()
    session.flush()
    audit.record(
        session,
        service.SYSTEM,
        f"integrations.delivery.{status.value}",
        "webhook_delivery",
        delivery.id,
        data={
            "integration_id": delivery.integration_id,
            "event_type": delivery.event_type,
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": (delivery.last_error or "")[:500] or None,
        },
    )


def attempt_delivery(
    session: Session,
    settings: Settings,
    delivery_id: int,
    attempt: int,
    *,
    rng: random.Random | None = None,
    end_transaction: Callable[[], None] | None = None,
) -> DeliveryAttempt | None:
    """Make attempt number ``attempt`` of a delivery and record it. Returns the attempt row, or
    None when there was nothing to do (delivered, failed, or a stale job).

    With ``end_transaction`` (the job's), the POST happens outside any transaction: a slow
    receiver then holds no lock (on SQLite, the database's write lock) for up to the timeout.
    The delivery is locked again afterwards to record the attempt."""
    delivery = _lock(session, delivery_id)
    if delivery is None or delivery.status != DeliveryStatus.pending:
        return None
    if attempt != delivery.attempts + 1:
        log.info("delivery #%d: attempt %d is stale; skipped", delivery_id, attempt)
        return None
    integration = session.get(Integration, delivery.integration_id)
    assert integration is not None  # a foreign key, and integrations are never deleted
    if not integration.active:
        delivery.last_error = (
            f"not sent: the integration '{integration.name}' was deactivated; "
            "activate it and redeliver"
        )
        _finish(session, delivery, DeliveryStatus.failed)
        return None

    started_at = clock.now()
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": _USER_AGENT,
        "Vigil-Event": delivery.event_type,
        "Vigil-Delivery": str(delivery.id),
        "Vigil-Attempt": str(attempt),
        "Idempotency-Key": delivery.idempotency_key,
        signing.HEADER: signing.sign(
            service.signing_secrets(integration, started_at),
            body,
            int(started_at.timestamp()),
        ),
    }
    url, integration_name = integration.url, integration.name
    if end_transaction is not None:
        end_transaction()
    t0 = time.monotonic()
    outcome = post(url, body, headers, settings.webhook_timeout_seconds)
    duration_ms = int((time.monotonic() - t0) * 1000)
    if end_transaction is not None:
        relocked = _lock(session, delivery_id)
        # Nothing else moves a pending delivery's attempt count (each attempt is one job,
        # deduplicated by number), so a change means this job ran twice: keep the first.
        if relocked is None or relocked.attempts != attempt - 1:
            log.info("delivery #%d: attempt %d was recorded meanwhile", delivery_id, attempt)
            return None
        delivery = relocked

    row = DeliveryAttempt(
        delivery_id=delivery.id,
        number=attempt,
        started_at=started_at,
        duration_ms=duration_ms,
        status_code=outcome.status_code,
        error=outcome.error,
        response_excerpt=outcome.excerpt,
    )
    session.add(row)
    delivery.attempts = attempt
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.ok:
        _finish(session, delivery, DeliveryStatus.delivered)
        log.info(
            "delivery #%d %s to %s: delivered on attempt %d (%d)",
            delivery.id,
            delivery.event_type,
            integration_name,
            attempt,
            outcome.status_code,
        )
        return row
    used = attempt - delivery.redelivered_at_attempt
    if used >= settings.webhook_max_attempts:
        _finish(session, delivery, DeliveryStatus.failed)
        log.error(
            "delivery #%d %s to %s: failed after %d attempts: %s",
            delivery.id,
            delivery.event_type,
            integration_name,
            used,
            outcome.error,
        )
        return row
    delay = backoff_delay(settings, used, rng.random() if rng else random.random())
    service.schedule(session, delivery, clock.now() + delay)
    session.flush()
    log.warning(
        "delivery #%d %s to %s: attempt %d failed (%s); next in %.1fs",
        delivery.id,
        delivery.event_type,
        integration_name,
        attempt,
        outcome.error,
        delay.total_seconds(),
    )
    return row


@handler(DELIVER)
def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    try:
        delivery_id = int(payload["delivery_id"])
        attempt = int(payload["attempt"])
    except (KeyError, TypeError, ValueError):
        raise PermanentFailure(f"bad payload for {DELIVER}: {payload!r}") from None
    attempt_delivery(
        ctx.session, ctx.settings, delivery_id, attempt, end_transaction=ctx.end_transaction
    )
