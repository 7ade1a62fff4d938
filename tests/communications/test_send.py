"""Sending: email through a real SMTP server on loopback, in the user's language, with the
statement of reasons; retries when SMTP is down; in-app through the webhook outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.communications.conftest import (
    SYSTEM,
    event_kinds,
    full_context,
    make_account,
    make_case,
)
from tests.servers import SmtpServer, WebhookReceiver, free_port
from vigil.audit.models import AuditRecord
from vigil.cases.models import CaseEvent
from vigil.communications import service, tasks
from vigil.communications.models import Message, MessageStatus
from vigil.config import Settings
from vigil.integrations import service as integrations
from vigil.integrations.models import WebhookDelivery
from vigil.jobs.models import Job
from vigil.jobs.worker import Worker
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import InvalidInput


def _count(db: Session, model: type[Any]) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _message(db: Session, message_id: int) -> Message:
    db.rollback()  # no transaction left open for the worker
    db.expire_all()  # and a fresh read of what it wrote
    found = db.get(Message, message_id)
    assert found is not None
    return found


def _send_decision(db: Session, account_id: int, case_id: int | None, locale: str, **kw: Any):
    rendered = service.render(
        db,
        policy_code="off_platform_payment",
        action=kw.pop("action", "suspend"),
        locale=locale,
        context=full_context(service.normalize_locale(locale)[0]),
    )
    sent = service.send(
        db,
        SYSTEM,
        account_id=account_id,
        case_id=case_id,
        decision_id=kw.pop("decision_id", 5),
        locale=rendered.locale,
        subject=rendered.subject,
        body=rendered.body,
        statement_section=rendered.statement_section,
        channels=kw.pop("channels", ["email"]),
        template_id=rendered.template_id,
        template_key=rendered.template_key,
    )
    return rendered, sent


def test_email_reaches_the_user_in_spanish_with_the_statement(
    db: Session, worker: Worker, smtp_server: SmtpServer, frozen: FrozenClock
) -> None:
    account = make_account(db, locale="es-MX", email="maria@example.com")
    case = make_case(db, account)
    rendered, (message,) = _send_decision(db, account.id, case.id, account.locale)
    db.commit()
    assert rendered.locale == "es" and not rendered.fell_back
    assert rendered.template_key == "shipped:es/suspend"

    worker.drain()
    (mail,) = smtp_server.wait_for(1)
    assert mail.recipients == ["maria@example.com"]
    assert mail.subject == "Tu cuenta de Feira está suspendida hasta el 28 de noviembre de 2026"
    assert mail.message["Content-Language"] == "es"
    assert mail.message["From"] == Settings().mail_from
    assert mail.message["Message-ID"].startswith(f"<vigil.message.{message.id}.")
    assert mail.text.startswith("Hola, Maria Souza:")
    assert 'no cumple con nuestra política "Pagos fuera de la plataforma"' in mail.text
    assert "DECLARACIÓN DE MOTIVOS" in mail.text
    assert "Referencia: SOR-9" in mail.text
    assert "https://feira.example/appeals" in mail.text

    sent = _message(db, message.id)
    assert sent.status == MessageStatus.sent
    assert sent.attempts == 1
    assert sent.sent_at is not None
    assert sent.locale == "es"
    assert "DECLARACIÓN DE MOTIVOS" in sent.body
    event = db.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "message_sent")
    )
    assert event is not None
    assert event.data["message_id"] == message.id
    assert event.data["channel"] == "email"
    assert db.scalar(
        select(AuditRecord).where(
            AuditRecord.action == "communications.message.send",
            AuditRecord.target_id == str(message.id),
        )
    )


def test_the_sending_job_is_safe_to_run_twice(
    db: Session, worker: Worker, smtp_server: SmtpServer, mail_settings: Settings
) -> None:
    account = make_account(db, locale="en")
    _rendered, (message,) = _send_decision(db, account.id, None, "en")
    db.commit()
    worker.drain()
    smtp_server.wait_for(1)
    again = tasks.deliver_email(db, mail_settings, message.id)
    db.commit()
    assert again is not None and again.status == MessageStatus.sent
    assert len(smtp_server.messages) == 1
    assert _message(db, message.id).attempts == 1


@pytest.mark.parametrize(("locale", "fell_back", "word"), [
    ("pt-BR", False, "EXPOSIÇÃO DE MOTIVOS"),
    ("de-DE", True, "STATEMENT OF REASONS"),
])  # fmt: skip
def test_locale_is_matched_on_its_language_and_falls_back_to_english(
    db: Session,
    worker: Worker,
    smtp_server: SmtpServer,
    locale: str,
    fell_back: bool,
    word: str,
) -> None:
    account = make_account(db, locale=locale)
    rendered, _sent = _send_decision(db, account.id, None, locale)
    db.commit()
    assert rendered.fell_back is fell_back
    worker.drain()
    (mail,) = smtp_server.wait_for(1)
    assert word in mail.text
    assert mail.message["Content-Language"] == rendered.locale


def test_smtp_down_records_each_attempt_then_fails_on_the_case_timeline(
    db: Session,
    mail_settings: Settings,
    session_factory: sessionmaker[Session],
    frozen: FrozenClock,
) -> None:
    down = mail_settings.model_copy(update={"smtp_port": free_port()})
    worker = Worker(down, session_factory, name="smtp-down")
    account = make_account(db)
    case = make_case(db, account)
    _rendered, (message,) = _send_decision(db, account.id, case.id, "en")
    db.commit()

    worker.drain()
    first = _message(db, message.id)
    assert first.status == MessageStatus.queued
    assert first.attempts == 1
    assert "could not deliver" in (first.last_error or "")
    assert first.next_attempt_at == clock.now() + timedelta(seconds=30)
    db.rollback()

    for _ in range(tasks.EMAIL_MAX_ATTEMPTS):
        frozen.advance(timedelta(hours=2))
        worker.drain()
    failed = _message(db, message.id)
    assert failed.status == MessageStatus.failed
    assert failed.attempts == tasks.EMAIL_MAX_ATTEMPTS
    assert failed.failed_at is not None
    assert event_kinds(db, case.id)[-2:] == ["message_sent", "message_failed"]
    event = db.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "message_failed")
    )
    assert event is not None and event.data["message_id"] == message.id
    assert "could not deliver" in (event.reason or "")
    # Every job finished cleanly: failures were recorded, not raised.
    assert db.scalar(select(func.count()).select_from(Job).where(Job.status != "done")) == 0


def test_smtp_back_up_delivers_the_waiting_message(
    db: Session,
    mail_settings: Settings,
    session_factory: sessionmaker[Session],
    smtp_server: SmtpServer,
    frozen: FrozenClock,
) -> None:
    down = Worker(mail_settings.model_copy(update={"smtp_port": free_port()}), session_factory)
    up = Worker(mail_settings, session_factory)
    account = make_account(db)
    _rendered, (message,) = _send_decision(db, account.id, None, "en")
    db.commit()
    down.drain()
    frozen.advance(timedelta(minutes=5))
    down.drain()
    assert _message(db, message.id).attempts == 2
    db.rollback()
    frozen.advance(timedelta(minutes=5))
    up.drain()
    smtp_server.wait_for(1)
    done = _message(db, message.id)
    assert done.status == MessageStatus.sent
    assert done.attempts == 3
    assert done.last_error is None


def test_without_smtp_an_email_fails_visibly(
    db: Session, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    account = make_account(db)
    case = make_case(db, account)
    _rendered, (message,) = _send_decision(db, account.id, case.id, "en")
    db.commit()
    Worker(settings, session_factory).drain()
    failed = _message(db, message.id)
    assert failed.status == MessageStatus.failed
    assert "SMTP is not configured" in (failed.last_error or "")
    assert event_kinds(db, case.id)[-1] == "message_failed"


def _nothing_written(db: Session, before: dict[str, int]) -> None:
    db.rollback()
    after = {m.__name__: _count(db, m) for m in (Message, CaseEvent, Job, AuditRecord)}
    assert after == before


def _counts(db: Session) -> dict[str, int]:
    return {m.__name__: _count(db, m) for m in (Message, CaseEvent, Job, AuditRecord)}


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"body": "Hello {{ user_name }}, your account is suspended."}, "body", "unrendered_template"),
    ({"body": "Hello {% if x %}x{% endif %}"}, "body", "unrendered_template"),
    ({"subject": "Your {{ marketplace }} account"}, "subject", "unrendered_template"),
    ({"subject": "two\nlines"}, "subject", "subject_multiline"),
    ({"body": "   "}, "body", "body_required"),
    ({"channels": []}, "channels", "no_channel"),
    ({"channels": ["sms"]}, "channels", "unknown_channel"),
    ({"statement_section": "{{ statement.reference }}"}, "statement_section",
     "unrendered_template"),
])  # fmt: skip
def test_bad_sends_are_refused_and_write_nothing(
    db: Session, change: dict[str, Any], field: str, code: str
) -> None:
    account = make_account(db)
    case = make_case(db, account)
    db.commit()
    before = _counts(db)
    db.rollback()
    values: dict[str, Any] = {
        "subject": "Your account is suspended",
        "body": "Hello Maria, we suspended your account.",
        "statement_section": "",
        "channels": ["email"],
        **change,
    }
    with pytest.raises(InvalidInput) as caught:
        service.send(
            db, SYSTEM, account_id=account.id, case_id=case.id, decision_id=None, locale="en",
            **values,
        )  # fmt: skip
    assert (caught.value.field, caught.value.code) == (field, code)
    _nothing_written(db, before)


def test_an_account_without_email_is_refused(db: Session) -> None:
    account = make_account(db, email=None)
    db.commit()
    before = _counts(db)
    db.rollback()
    with pytest.raises(InvalidInput) as caught:
        _send_decision(db, account.id, None, "en")
    assert (caught.value.field, caught.value.code) == ("channels", "no_email_address")
    _nothing_written(db, before)


def test_rendering_with_a_missing_variable_is_refused_and_nothing_is_sent(db: Session) -> None:
    make_case(db, make_account(db))
    db.commit()
    before = _counts(db)
    db.rollback()
    context = full_context("en")
    del context["ends_at"]
    with pytest.raises(InvalidInput) as caught:
        service.render(db, policy_code=None, action="suspend", locale="en", context=context)
    assert (caught.value.field, caught.value.code) == ("message", "template_variable_missing")
    assert "ends_at" in caught.value.message
    _nothing_written(db, before)


def test_in_app_goes_out_through_the_marketplace_webhook(
    db: Session,
    mail_settings: Settings,
    session_factory: sessionmaker[Session],
    webhook_receiver: WebhookReceiver,
) -> None:
    integrations.create_integration(
        db, SYSTEM, name="market", url=webhook_receiver.url, event_types=["message.in_app"]
    )
    account = make_account(db, locale="pt-BR", external_id="mkt-88")
    case = make_case(db, account)
    rendered, (message,) = _send_decision(db, account.id, case.id, "pt-BR", channels=["in_app"])
    db.commit()
    assert message.status == MessageStatus.sent  # handed to the outbox
    (delivery,) = db.scalars(select(WebhookDelivery)).all()
    assert delivery.idempotency_key == f"message-{message.id}"
    assert (delivery.subject_type, delivery.subject_id) == ("message", message.id)
    assert delivery.event_type == "message.in_app"
    db.rollback()

    Worker(mail_settings, session_factory).drain()
    (request,) = webhook_receiver.wait_for(1)
    data = request.json()["data"]
    assert data["account_external_id"] == "mkt-88"
    assert data["message_id"] == message.id
    assert data["locale"] == "pt"
    assert data["subject"] == rendered.subject
    assert "EXPOSIÇÃO DE MOTIVOS" in data["body"]
    assert data["case_ref"] == f"C-{case.id}"


def test_in_app_without_an_integration_fails_visibly(db: Session) -> None:
    account = make_account(db)
    case = make_case(db, account)
    _rendered, sent = _send_decision(db, account.id, case.id, "en", channels=["email", "in_app"])
    db.commit()
    email, in_app = sent
    assert email.status == MessageStatus.queued
    assert in_app.status == MessageStatus.failed
    assert "message.in_app" in (in_app.last_error or "")
    assert event_kinds(db, case.id)[-3:] == ["message_sent", "message_sent", "message_failed"]


def test_messages_for_a_case_and_a_decision(db: Session) -> None:
    account = make_account(db)
    case = make_case(db, account)
    _send_decision(db, account.id, case.id, "en", decision_id=41)
    _send_decision(db, account.id, case.id, "en", decision_id=42)
    assert [m.decision_id for m in service.messages_for(db, case_id=case.id)] == [41, 42]
    assert len(service.messages_for(db, decision_id=42)) == 1
