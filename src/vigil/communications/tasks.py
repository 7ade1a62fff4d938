"""The email sending job: one job per email message, one SMTP attempt per run.

The job takes a message id, reloads and locks the message, and does nothing when it is no
longer ``queued`` (sent by an earlier run, or given up), so running it twice is harmless. An
SMTP failure never raises out of the handler: the attempt is recorded on the message and the
next one scheduled as a new job, because a raising handler's transaction is rolled back and
the record of the attempt would go with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.communications import channels as ch
from vigil.communications import service
from vigil.communications.models import Message, MessageChannel, MessageStatus
from vigil.config import Settings
from vigil.jobs import service as jobs
from vigil.jobs.registry import JobContext, PermanentFailure, handler
from vigil.kit import clock

log = logging.getLogger("vigil.communications")

# Attempt n+1 waits base * 2**(n-1) seconds, capped; after the last attempt the message is
# ``failed``. Eight attempts ride out about an hour of SMTP outage.
EMAIL_MAX_ATTEMPTS = 8
EMAIL_BACKOFF_BASE_SECONDS = 30.0
EMAIL_BACKOFF_MAX_SECONDS = 3600.0


def email_backoff(attempts: int) -> timedelta:
    seconds = EMAIL_BACKOFF_BASE_SECONDS * 2 ** min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(seconds, EMAIL_BACKOFF_MAX_SECONDS))


def deliver_email(
    session: Session,
    settings: Settings,
    message_id: int,
    *,
    end_transaction: Callable[[], None] | None = None,
) -> Message | None:
    """One delivery attempt of an email message; safe to run twice.

    Never raises for an SMTP failure: the attempt is recorded on the message and the next one
    enqueued as a new job (a raising handler's transaction would be rolled back, and the
    record of the attempt with it). After :data:`EMAIL_MAX_ATTEMPTS`, or on a permanent
    failure (a 5xx answer, no SMTP configured, an email that cannot be built), the message
    is ``failed`` and its case gets a ``message_failed`` event.

    With ``end_transaction`` (the job's), the SMTP conversation happens outside any
    transaction, so a slow mail server holds no lock (on SQLite, the database's write lock);
    the message is locked again afterwards to record the attempt.
    """
    message = _lock(session, message_id)
    if message is None or message.status is not MessageStatus.queued:
        return message
    if message.channel is not MessageChannel.email:
        return message
    attempts = message.attempts
    try:
        email = ch.build_email(settings, message)
    except ch.ChannelError as exc:
        # A message that cannot become an email (a malformed address or header) never will:
        # recorded as failed now, not retried until the job gives up.
        return _record_attempt(session, message, exc)
    if end_transaction is not None:
        end_transaction()
    failure: ch.ChannelError | None = None
    try:
        ch.smtp_send(settings, email)
    except ch.ChannelError as exc:
        failure = exc
    if end_transaction is not None:
        message = _lock(session, message_id)
        # Each attempt is one job (deduplicated by number): a change means it ran twice.
        if message is None or message.status is not MessageStatus.queued:
            return message
        if message.attempts != attempts:
            return message
    return _record_attempt(session, message, failure)


def _record_attempt(session: Session, message: Message, failure: ch.ChannelError | None) -> Message:
    """Count the attempt; on failure record why and schedule the next attempt, or give up
    (a permanent failure, or the last attempt) with a ``message_failed`` case event."""
    now = clock.now()
    message.attempts += 1
    if failure is not None:
        message.last_error = str(failure)
        if failure.permanent or message.attempts >= EMAIL_MAX_ATTEMPTS:
            message.status = MessageStatus.failed
            message.failed_at = now
            message.next_attempt_at = None
            session.flush()
            service.record_failure(session, message, None)
        else:
            message.next_attempt_at = now + email_backoff(message.attempts)
            jobs.enqueue(
                session,
                ch.SEND_EMAIL,
                {"message_id": message.id},
                run_at=message.next_attempt_at,
                dedup_key=f"message-send:{message.id}:{message.attempts + 1}",
            )
        session.flush()
        return message
    message.status = MessageStatus.sent
    message.sent_at = now
    message.next_attempt_at = None
    message.last_error = None
    session.flush()
    return message


def _lock(session: Session, message_id: int) -> Message | None:
    return session.scalar(
        select(Message)
        .where(Message.id == message_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@handler(ch.SEND_EMAIL)
def send_email(ctx: JobContext, payload: dict[str, Any]) -> None:
    message_id = payload.get("message_id")
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        raise PermanentFailure(f"payload has no message id: {payload!r}")
    message = deliver_email(
        ctx.session, ctx.settings, message_id, end_transaction=ctx.end_transaction
    )
    if message is None:
        log.warning("email job for message #%d: no such message", message_id)
    elif message.status is MessageStatus.failed:
        log.error(
            "message #%d failed after %d attempts: %s",
            message.id,
            message.attempts,
            message.last_error,
        )
    elif message.status is MessageStatus.queued:
        log.warning(
            "message #%d attempt %d failed, next at %s: %s",
            message.id,
            message.attempts,
            message.next_attempt_at,
            message.last_error,
        )
