"""An SMTP server that refuses: temporary answers (421, 451) and refused connections are
retried with backoff and each message arrives once when the server recovers; permanent
answers (550) fail the message at once, visibly (status, error, the case's timeline)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.communications.conftest import SYSTEM, event_kinds, make_account, make_case
from tests.servers import SmtpServer
from vigil.app import load_task_modules
from vigil.communications import service
from vigil.communications.models import Message, MessageStatus
from vigil.config import Settings
from vigil.jobs.models import Job, JobStatus
from vigil.jobs.worker import Worker
from vigil.kit import clock
from vigil.kit.clock import FrozenClock


@pytest.fixture(autouse=True)
def _handlers() -> None:
    load_task_modules()


@pytest.fixture
def mailer(mail_settings: Settings, session_factory: sessionmaker[Session]) -> Worker:
    return Worker(mail_settings, session_factory, name="mailer")


def _send(db: Session, n: int, *, with_case: bool = False) -> list[int]:
    ids = []
    for i in range(n):
        account = make_account(db, email=f"user{i}@example.com")
        case = make_case(db, account) if with_case else None
        (message,) = service.send(
            db,
            SYSTEM,
            account_id=account.id,
            case_id=case.id if case else None,
            decision_id=None,
            locale="en",
            subject=f"About your account ({i})",
            body="We had a look at your account.",
            channels=["email"],
        )
        ids.append(message.id)
    db.commit()
    return ids


def _messages(factory: sessionmaker[Session], ids: list[int]) -> list[Message]:
    with factory() as session:
        rows = list(
            session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id))
        )
        for row in rows:
            session.expunge(row)
        return rows


@pytest.mark.parametrize(("code", "at"), [(421, "DATA"), (451, "RCPT"), (451, "DATA")])
def test_temporary_refusals_are_retried_with_backoff_and_each_message_arrives_once(
    db: Session,
    mailer: Worker,
    smtp_server: SmtpServer,
    session_factory: sessionmaker[Session],
    frozen: FrozenClock,
    code: int,
    at: str,
) -> None:
    ids = _send(db, 3)
    smtp_server.refuse(5, code, at=at)  # first attempts of all three, second of two

    start = clock.now()
    mailer.drain()
    first = _messages(session_factory, ids)
    assert [m.status for m in first] == [MessageStatus.queued] * 3
    assert all(
        m.last_error == f"the SMTP server answered {code}" or f"SMTP {code}" in (m.last_error or "")
        for m in first
    ), [m.last_error for m in first]
    assert {m.next_attempt_at for m in first} == {start + timedelta(seconds=30)}

    frozen.advance(timedelta(seconds=29))
    assert mailer.drain() == 0  # nothing before the backoff is over
    frozen.advance(timedelta(seconds=1))
    mailer.drain()
    second = _messages(session_factory, ids)
    assert [m.status for m in second] == [MessageStatus.queued] * 2 + [MessageStatus.sent]
    # The wait doubles: 30 s after the first failure, 60 s after the second.
    assert {m.next_attempt_at for m in second[:2]} == {clock.now() + timedelta(seconds=60)}

    frozen.advance(timedelta(seconds=60))
    mailer.drain()
    done = _messages(session_factory, ids)
    assert [m.status for m in done] == [MessageStatus.sent] * 3
    assert [m.attempts for m in done] == [3, 3, 2]
    assert all(m.last_error is None and m.next_attempt_at is None for m in done)
    assert smtp_server.refused == 5
    # One copy of each message, and retries kept the Message-ID.
    assert list(smtp_server.by_message_id().values()) == [1, 1, 1]
    assert len(smtp_server.messages) == 3
    with session_factory() as session:
        statuses = set(
            session.scalars(select(Job.status).where(Job.kind == "communications.send_email"))
        )
    assert statuses == {JobStatus.done}


def test_a_mail_server_that_is_down_gets_each_message_once_when_it_comes_back(
    db: Session,
    mailer: Worker,
    smtp_server: SmtpServer,
    session_factory: sessionmaker[Session],
    frozen: FrozenClock,
) -> None:
    ids = _send(db, 4)
    smtp_server.go_down()
    mailer.drain()
    frozen.advance(timedelta(seconds=30))
    mailer.drain()
    waiting = _messages(session_factory, ids)
    assert [m.attempts for m in waiting] == [2] * 4
    assert all("could not deliver" in (m.last_error or "") for m in waiting)
    assert all(m.status is MessageStatus.queued for m in waiting)

    smtp_server.come_back()
    frozen.advance(timedelta(seconds=60))
    mailer.drain()
    assert [m.status for m in _messages(session_factory, ids)] == [MessageStatus.sent] * 4
    assert sorted(smtp_server.by_message_id().values()) == [1, 1, 1, 1]


@pytest.mark.parametrize("at", ["RCPT", "DATA"])
def test_a_permanent_refusal_fails_the_message_at_once_and_shows_on_the_case(
    db: Session,
    mailer: Worker,
    smtp_server: SmtpServer,
    session_factory: sessionmaker[Session],
    at: str,
) -> None:
    (failing, fine) = _send(db, 2, with_case=True)
    smtp_server.refuse(1, 550, at=at)
    mailer.drain()
    failed, sent = _messages(session_factory, [failing, fine])
    assert failed.status is MessageStatus.failed
    assert failed.attempts == 1  # not retried: sending it again would fail the same way
    assert failed.failed_at is not None and failed.next_attempt_at is None
    assert "550" in (failed.last_error or "")
    assert "@" not in (failed.last_error or "")  # the error names no address
    assert sent.status is MessageStatus.sent
    assert failed.case_id is not None
    db.rollback()
    assert event_kinds(db, failed.case_id)[-1] == "message_failed"
    assert len(smtp_server.messages) == 1
