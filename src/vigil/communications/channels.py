"""How a message reaches a user: a small ``Channel`` protocol and a registry keyed by name.

A channel's ``dispatch`` runs inside the transaction that writes the message (the caller's),
so it may only add work that commits with it: the email channel enqueues its sending job,
the in-app channel emits a ``message.in_app`` webhook through the integrations outbox. The
SMTP conversation itself happens later, in the job (:func:`smtp_send`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Protocol

from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.communications.models import Message, MessageChannel, MessageStatus
from vigil.config import Settings
from vigil.integrations import service as integrations
from vigil.jobs import service as jobs
from vigil.kit import clock

SEND_EMAIL = "communications.send_email"
IN_APP_EVENT = "message.in_app"

log = logging.getLogger("vigil.communications")


class ChannelError(Exception):
    """A delivery attempt failed. ``permanent`` failures are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def needs_email(self) -> bool:
        """Whether the account must have an email address for this channel."""
        ...

    def dispatch(self, session: Session, message: Message, account: Account) -> None:
        """Start delivery of a just-written message, in the caller's transaction."""
        ...


_registry: dict[str, Channel] = {}


def register(channel: Channel) -> Channel:
    if channel.name in _registry and _registry[channel.name] is not channel:
        raise RuntimeError(f"channel {channel.name!r} registered twice")
    if channel.name not in MessageChannel.__members__:
        # The messages table's check constraint lists the channels it can hold.
        raise RuntimeError(f"channel {channel.name!r} is not a MessageChannel value")
    _registry[channel.name] = channel
    return channel


def get(name: str) -> Channel | None:
    return _registry.get(name)


def names() -> list[str]:
    return sorted(_registry)


# --- email -------------------------------------------------------------------------------------


def first_job_key(message_id: int) -> str:
    return f"message-send:{message_id}:1"


@dataclass(frozen=True)
class EmailChannel:
    name: str = MessageChannel.email.value
    needs_email: bool = True

    def dispatch(self, session: Session, message: Message, account: Account) -> None:
        jobs.enqueue(
            session, SEND_EMAIL, {"message_id": message.id}, dedup_key=first_job_key(message.id)
        )


def _sender_domain(settings: Settings) -> str:
    address = parseaddr(settings.mail_from)[1]
    return address.rpartition("@")[2] or "vigil.localhost"


def message_id_header(settings: Settings, message: Message) -> str:
    """Stable across retries, so a receiving server or client can tell a resend from a new
    message; the digest keeps ids of different Vigil installs apart."""
    digest = hashlib.sha256(
        f"{settings.secret_key.get_secret_value()}:{message.id}".encode()
    ).hexdigest()[:16]
    return f"<vigil.message.{message.id}.{digest}@{_sender_domain(settings)}>"


def build_email(settings: Settings, message: Message) -> EmailMessage:
    """The email for ``message``. Raises a permanent :class:`ChannelError` when it cannot be
    built (an address or a header the email library refuses): sending it again would fail
    the same way. The error names no address: it is stored on the message and logged."""
    if not message.recipient:
        raise ChannelError("the message has no recipient address", permanent=True)
    try:
        to = str(Address(addr_spec=message.recipient))
    except (ValueError, IndexError, TypeError, MessageError):
        # The parser's text quotes the address; ours does not.
        raise ChannelError(
            "the recipient address is not a valid email address", permanent=True
        ) from None
    try:
        email = EmailMessage()
        email["From"] = settings.mail_from
        email["To"] = to
        email["Subject"] = message.subject
        email["Date"] = format_datetime(clock.now())
        email["Message-ID"] = message_id_header(settings, message)
        # Tells mail servers and clients not to answer with out-of-office replies.
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.body, subtype="plain", charset="utf-8")
        # After set_content, which drops every Content-* header set before it.
        email["Content-Language"] = message.locale
    except (ValueError, IndexError, TypeError, MessageError) as exc:
        raise ChannelError(
            f"the email could not be built: {type(exc).__name__} in a header or the body "
            "(check the subject, the locale and VIGIL_MAIL_FROM)",
            permanent=True,
        ) from None
    return email


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: a name that resolves nowhere else, or a loopback
    address. Names are not resolved (``localhost.`` tricks aside, DNS could say anything)."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _codes(refused: dict[str, tuple[int, bytes]]) -> str:
    # Only the SMTP codes: the server's text repeats the recipient's address, and what is
    # kept here ends up in ``Message.last_error`` and the logs.
    return ", ".join(str(code) for code in sorted({code for code, _text in refused.values()}))


def smtp_send(settings: Settings, email: EmailMessage) -> None:
    """One SMTP conversation. Raises :class:`ChannelError`; a 5xx answer is permanent."""
    if not settings.smtp_host:
        raise ChannelError("SMTP is not configured (VIGIL_SMTP_HOST is empty)", permanent=True)
    encrypted = settings.smtp_ssl or settings.smtp_starttls
    if settings.smtp_username and not encrypted and not is_loopback(settings.smtp_host):
        # The password would cross the network in clear (AUTH PLAIN/LOGIN are base64).
        raise ChannelError(
            "refusing to log in to SMTP without encryption: set VIGIL_SMTP_STARTTLS=true or "
            "VIGIL_SMTP_SSL=true (only a server on loopback may take a login in clear)",
            permanent=True,
        )
    client_class: Any = smtplib.SMTP_SSL if settings.smtp_ssl else smtplib.SMTP
    kwargs: dict[str, Any] = {"timeout": settings.smtp_timeout_seconds}
    if settings.smtp_ssl:
        kwargs["context"] = ssl.create_default_context()
    try:
        with client_class(settings.smtp_host, settings.smtp_port, **kwargs) as smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            refused = smtp.send_message(email)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        raise ChannelError(
            f"the SMTP server refused the recipient (SMTP {_codes(exc.recipients)})",
            permanent=all(code >= 500 for code in codes),
        ) from None
    except smtplib.SMTPResponseException as exc:
        # The server's text may quote an address (the sender's or the recipient's): the code
        # alone says what happened, and it is what decides whether to retry.
        log.info("SMTP %s answered %d", settings.smtp_host, exc.smtp_code)
        raise ChannelError(
            f"the SMTP server answered {exc.smtp_code}", permanent=exc.smtp_code >= 500
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        # Connection refused, timeouts, TLS failures, a server that hung up: worth a retry.
        where = f"{settings.smtp_host}:{settings.smtp_port}"
        raise ChannelError(f"could not deliver through {where}: {exc!r}") from None
    if refused:
        raise ChannelError(
            f"the SMTP server refused the recipient (SMTP {_codes(refused)})", permanent=True
        )


# --- in-app ------------------------------------------------------------------------------------


def in_app_payload(message: Message, account: Account) -> dict[str, Any]:
    """What the marketplace receives to show the message in its own inbox."""
    return {
        "message_id": message.id,
        "account_id": account.id,
        "account_external_id": account.external_id,
        "case_id": message.case_id,
        "case_ref": f"C-{message.case_id}" if message.case_id else None,
        "decision_id": message.decision_id,
        "locale": message.locale,
        "subject": message.subject,
        "body": message.body,
        "created_at": message.created_at.isoformat(),
    }


NO_IN_APP_INTEGRATION = (
    "no active integration is subscribed to message.in_app, so the marketplace cannot show it"
)


@dataclass(frozen=True)
class InAppChannel:
    name: str = MessageChannel.in_app.value
    needs_email: bool = False

    def dispatch(self, session: Session, message: Message, account: Account) -> None:
        deliveries = integrations.emit(
            session,
            IN_APP_EVENT,
            in_app_payload(message, account),
            idempotency_key=f"message-{message.id}",
            subject_type="message",
            subject_id=message.id,
            case_id=message.case_id,
        )
        # From here on the webhook outbox owns delivery (and its retries); the message is
        # "sent" as far as Vigil's side goes. Without a subscriber it cannot go anywhere.
        if deliveries:
            message.status = MessageStatus.sent
            message.sent_at = clock.now()
        else:
            message.status = MessageStatus.failed
            message.failed_at = clock.now()
            message.last_error = NO_IN_APP_INTEGRATION


register(EmailChannel())
register(InAppChannel())
