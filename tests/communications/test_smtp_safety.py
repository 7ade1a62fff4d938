"""SMTP without leaks: no password in clear over the network, no recipient address in what is
stored or logged about a failure, and a message that cannot become an email fails at once
instead of being retried until the job gives up."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.communications.conftest import SYSTEM, event_kinds, make_account, make_case
from tests.servers import free_port
from vigil.cases.models import CaseEvent
from vigil.communications import channels, service, tasks
from vigil.communications.models import Message, MessageStatus
from vigil.config import Settings
from vigil.jobs.models import Job
from vigil.jobs.worker import Worker

ADDRESS = "maria.souza@example.com"


class _Refusing:
    """Answers RCPT or DATA with ``answer``, which quotes the recipient's address as real
    servers do; logins succeed and are counted."""

    def __init__(self, *, rcpt: str | None = None, data: str | None = None) -> None:
        self.rcpt, self.data = rcpt, data
        self.logins: list[str] = []
        self.accepted: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt is not None:
            return self.rcpt.format(address=address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        if self.data is not None:
            return self.data.format(address=envelope.rcpt_tos[0])
        self.accepted.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: SmtpSession, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.logins.append(mechanism)
        return AuthResult(success=True)


@pytest.fixture
def refusing() -> Iterator[tuple[_Refusing, int]]:
    handler = _Refusing()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=handler.authenticate,
        auth_require_tls=False,  # a loopback test server: the case the rule allows
    )
    controller.start()
    yield handler, port
    controller.stop()


def _queue_email(db: Session, *, email: str = ADDRESS) -> tuple[int, int]:
    account = make_account(db, email=email)
    case = make_case(db, account)
    (message,) = service.send(
        db,
        SYSTEM,
        account_id=account.id,
        case_id=case.id,
        decision_id=None,
        locale="en",
        subject="Your account is suspended",
        body="Your account is suspended for 7 days.",
        channels=["email"],
    )
    db.commit()
    return message.id, case.id


def _message(db: Session, message_id: int) -> Message:
    db.rollback()
    db.expire_all()
    found = db.get(Message, message_id)
    assert found is not None
    return found


# --- no login in clear --------------------------------------------------------------------------


def _smtp(settings: Settings, **changes: Any) -> Settings:
    base = {
        "smtp_port": free_port(),
        "smtp_username": "vigil",
        "smtp_password": SecretStr("hunter2"),
    }
    return settings.model_copy(update={**base, **changes})


@pytest.mark.parametrize("host", ["smtp.example.com", "10.0.0.5", "mail.internal"])
def test_a_login_over_plaintext_to_another_host_is_refused_before_connecting(
    settings: Settings, host: str
) -> None:
    with pytest.raises(channels.ChannelError) as refused:
        channels.smtp_send(_smtp(settings, smtp_host=host), EmailMessage())
    # Refused by configuration (permanent, naming the setting), not by a failed connection.
    assert refused.value.permanent
    assert "VIGIL_SMTP_STARTTLS" in str(refused.value) and "hunter2" not in str(refused.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.53"])
def test_loopback_hosts_are_loopback(host: str) -> None:
    assert channels.is_loopback(host)


@pytest.mark.parametrize("host", ["smtp.example.com", "10.0.0.5", "localhost.example.com", ""])
def test_other_hosts_are_not(host: str) -> None:
    assert not channels.is_loopback(host)


def test_a_login_over_plaintext_fails_the_message_visibly(
    db: Session, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    message_id, case_id = _queue_email(db)
    Worker(_smtp(settings, smtp_host="smtp.example.com"), session_factory).drain()
    failed = _message(db, message_id)
    assert (failed.status, failed.attempts) == (MessageStatus.failed, 1)
    assert "refusing to log in to SMTP without encryption" in (failed.last_error or "")
    assert event_kinds(db, case_id)[-1] == "message_failed"


def test_a_login_on_loopback_without_tls_is_allowed(
    db: Session,
    settings: Settings,
    session_factory: sessionmaker[Session],
    refusing: tuple[_Refusing, int],
) -> None:
    handler, port = refusing
    message_id, _ = _queue_email(db)
    Worker(_smtp(settings, smtp_host="127.0.0.1", smtp_port=port), session_factory).drain()
    assert _message(db, message_id).status == MessageStatus.sent
    assert handler.logins and len(handler.accepted) == 1


# --- no address in errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rcpt", "data", "status", "code"),
    [
        ("550 5.1.1 <{address}>: Recipient address rejected", None, MessageStatus.failed, "550"),
        ("450 4.2.0 <{address}>: Mailbox busy, try later", None, MessageStatus.queued, "450"),
        (None, "554 5.7.1 <{address}>: Message refused as spam", MessageStatus.failed, "554"),
    ],
    ids=["rcpt-550", "rcpt-450", "data-554"],
)
def test_a_refusal_is_recorded_by_its_code_without_the_address(
    db: Session,
    settings: Settings,
    session_factory: sessionmaker[Session],
    refusing: tuple[_Refusing, int],
    caplog: pytest.LogCaptureFixture,
    rcpt: str | None,
    data: str | None,
    status: MessageStatus,
    code: str,
) -> None:
    handler, port = refusing
    handler.rcpt, handler.data = rcpt, data
    message_id, case_id = _queue_email(db)
    worker_settings = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    with caplog.at_level(logging.DEBUG):
        Worker(worker_settings, session_factory).drain()
    message = _message(db, message_id)
    assert (message.status, message.attempts) == (status, 1)
    assert code in (message.last_error or "")
    assert ADDRESS not in (message.last_error or "") and "@" not in (message.last_error or "")
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("vigil")]
    assert ours and not [line for line in ours if ADDRESS in line]
    if status is MessageStatus.failed:
        reasons = [e.reason for e in _events(db, case_id) if e.kind == "message_failed"]
        assert reasons and all(ADDRESS not in (r or "") for r in reasons)


def _events(db: Session, case_id: int) -> list[CaseEvent]:
    return list(db.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)))


# --- an email that cannot be built --------------------------------------------------------------


@pytest.mark.parametrize("email", ["maria souza@example.com", "maria@@example.com", "a@b@c"])
def test_an_address_the_email_library_refuses_fails_at_once(
    db: Session,
    settings: Settings,
    session_factory: sessionmaker[Session],
    refusing: tuple[_Refusing, int],
    email: str,
) -> None:
    """Imported accounts can carry addresses the accounts API would refuse today: the
    message fails on its first attempt, with no retry and no dead job."""
    handler, port = refusing
    message_id, case_id = _queue_email(db, email=email)
    worker_settings = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    Worker(worker_settings, session_factory).drain()
    failed = _message(db, message_id)
    assert (failed.status, failed.attempts) == (MessageStatus.failed, 1)
    assert failed.last_error == "the recipient address is not a valid email address"
    assert failed.next_attempt_at is None
    assert event_kinds(db, case_id)[-1] == "message_failed"
    assert handler.accepted == []
    # The job finished cleanly (no retry queued, nothing dead-lettered).
    assert db.scalar(select(func.count()).select_from(Job).where(Job.status != "done")) == 0
    assert tasks.EMAIL_MAX_ATTEMPTS > 1
