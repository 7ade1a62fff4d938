"""Webhooks reaching a real HTTP receiver on loopback through a real worker: signatures,
at-least-once delivery with retries, the attempt log, failure and redelivery."""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.integrations.conftest import (
    ADMIN,
    add_integration,
    attempts,
    count,
    delivery,
    emit,
    jobs_count,
    settle,
)
from tests.servers import WebhookReceiver, free_port
from vigil.audit.models import AuditRecord
from vigil.config import Settings
from vigil.db import transaction
from vigil.integrations import service, signing, tasks
from vigil.integrations.models import DeliveryStatus, WebhookDelivery
from vigil.jobs.worker import Worker
from vigil.kit.errors import Conflict


def test_an_event_arrives_signed_with_its_headers_and_envelope(
    session_factory: sessionmaker[Session], worker: Worker, webhook_receiver: WebhookReceiver
) -> None:
    hook = add_integration(session_factory, webhook_receiver.url)
    (delivery_id,) = emit(
        session_factory, "action:41:applied", data={"action_id": 41, "action": "suspend"}
    )
    settle(worker, session_factory)

    (request,) = webhook_receiver.wait_for(1)
    signing.verify(hook.secret, request.headers["vigil-signature"], request.body)
    with pytest.raises(signing.SignatureError):
        signing.verify("whsec_not_the_secret", request.headers["vigil-signature"], request.body)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["vigil-event"] == "action.applied"
    assert request.headers["vigil-delivery"] == str(delivery_id)
    assert request.headers["idempotency-key"] == "action:41:applied"
    envelope = request.json()
    assert set(envelope) == {"id", "type", "created_at", "idempotency_key", "data"}
    assert envelope["type"] == "action.applied"
    assert envelope["idempotency_key"] == "action:41:applied"
    assert envelope["id"].startswith("evt_")
    assert envelope["data"] == {"action_id": 41, "action": "suspend"}

    done = delivery(session_factory, delivery_id)
    assert done.status == DeliveryStatus.delivered
    assert done.attempts == 1
    assert done.last_status_code == 200
    assert done.delivered_at is not None
    assert done.next_attempt_at is None
    (logged,) = attempts(session_factory, delivery_id)
    assert (logged.number, logged.status_code, logged.error) == (1, 200, None)
    assert logged.response_excerpt == '{"ok":true}'
    assert logged.duration_ms >= 0


def test_a_receiver_that_fails_five_times_gets_each_event_once_and_the_log_shows_six_attempts(
    session_factory: sessionmaker[Session], worker: Worker, webhook_receiver: WebhookReceiver
) -> None:
    hook = add_integration(session_factory, webhook_receiver.url)
    webhook_receiver.fail(5)
    (first,) = emit(session_factory, "action:1:applied", subject_id=1)
    settle(worker, session_factory)
    (second,) = emit(session_factory, "action:2:applied", subject_id=2)
    settle(worker, session_factory)

    requests = webhook_receiver.requests
    assert [r.answered for r in requests] == [503] * 5 + [200, 200]
    accepted = Counter(r.headers["idempotency-key"] for r in webhook_receiver.accepted)
    assert accepted == {"action:1:applied": 1, "action:2:applied": 1}
    # Every retry sent the same bytes under the same key, each validly signed.
    retries = requests[:6]
    assert len({r.body for r in retries}) == 1
    assert {r.headers["idempotency-key"] for r in retries} == {"action:1:applied"}
    assert [r.headers["vigil-attempt"] for r in retries] == ["1", "2", "3", "4", "5", "6"]
    for r in retries:
        signing.verify(hook.secret, r.headers["vigil-signature"], r.body)

    log = attempts(session_factory, first)
    assert [(a.number, a.status_code) for a in log] == [(n, 503) for n in range(1, 6)] + [(6, 200)]
    assert all(a.error == "answered 503" for a in log[:5])
    assert log[0].response_excerpt == '{"error":"unavailable"}'
    assert [a.started_at for a in log] == sorted(a.started_at for a in log)
    done = delivery(session_factory, first)
    assert (done.status, done.attempts, done.last_status_code) == (
        DeliveryStatus.delivered,
        6,
        200,
    )
    assert done.last_error is None
    assert delivery(session_factory, second).attempts == 1


def test_a_receiver_that_never_recovers_leaves_a_failed_delivery_that_redelivery_brings_back(
    hook_settings: Settings,
    session_factory: sessionmaker[Session],
    webhook_receiver: WebhookReceiver,
) -> None:
    settings = hook_settings.model_copy(update={"webhook_max_attempts": 3})
    worker = Worker(settings, session_factory, name="hooks")
    add_integration(session_factory, webhook_receiver.url)
    webhook_receiver.fail(1000, status=500)
    (delivery_id,) = emit(session_factory, "action:7:applied")
    settle(worker, session_factory)

    failed = delivery(session_factory, delivery_id)
    assert failed.status == DeliveryStatus.failed
    assert failed.attempts == 3
    assert failed.last_status_code == 500
    assert failed.next_attempt_at is None
    assert len(webhook_receiver.requests) == 3
    worker.drain()
    assert len(webhook_receiver.requests) == 3, "a failed delivery is not tried again by itself"

    # The receiver is fixed, but fails twice more: the redelivery has a fresh budget of three.
    webhook_receiver.fail(2, status=502)
    with transaction(session_factory) as session:
        service.redeliver(session, ADMIN, delivery_id, reason="receiver fixed")
    settle(worker, session_factory)

    done = delivery(session_factory, delivery_id)
    assert done.status == DeliveryStatus.delivered
    assert (done.attempts, done.redeliveries) == (6, 1)
    assert [a.status_code for a in attempts(session_factory, delivery_id)] == [
        500,
        500,
        500,
        502,
        502,
        200,
    ]
    keys = {r.headers["idempotency-key"] for r in webhook_receiver.requests}
    assert keys == {"action:7:applied"}
    assert len({r.body for r in webhook_receiver.requests}) == 1

    with transaction(session_factory) as session, pytest.raises(Conflict) as caught:
        service.redeliver(session, ADMIN, delivery_id)
    assert caught.value.code == "delivery_not_failed"

    with session_factory() as session:
        trail = session.execute(
            select(AuditRecord.action, AuditRecord.reason)
            .where(AuditRecord.target_type == "webhook_delivery")
            .order_by(AuditRecord.id)
        ).all()
    assert [tuple(r) for r in trail] == [
        ("integrations.delivery.create", None),
        ("integrations.delivery.failed", None),
        ("integrations.delivery.redeliver", "receiver fixed"),
        ("integrations.delivery.delivered", None),
    ]


def test_a_refused_connection_is_logged_as_an_attempt_error(
    hook_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    worker = Worker(hook_settings.model_copy(update={"webhook_max_attempts": 2}), session_factory)
    add_integration(session_factory, f"http://127.0.0.1:{free_port()}/hooks")
    (delivery_id,) = emit(session_factory, "action:9:applied")
    settle(worker, session_factory)

    failed = delivery(session_factory, delivery_id)
    assert failed.status == DeliveryStatus.failed
    assert failed.last_status_code is None
    log = attempts(session_factory, delivery_id)
    assert [a.number for a in log] == [1, 2]
    for a in log:
        assert a.status_code is None
        assert a.error is not None and "ConnectError" in a.error
    assert failed.last_error == log[-1].error


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel completes the handshake) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hooks"


def test_a_receiver_that_does_not_answer_in_time_is_logged_as_a_timeout(
    hook_settings: Settings, session_factory: sessionmaker[Session], silent_server: str
) -> None:
    settings = hook_settings.model_copy(
        update={"webhook_max_attempts": 1, "webhook_timeout_seconds": 0.3}
    )
    add_integration(session_factory, silent_server)
    (delivery_id,) = emit(session_factory, "action:10:applied")
    settle(Worker(settings, session_factory), session_factory)

    assert delivery(session_factory, delivery_id).status == DeliveryStatus.failed
    (logged,) = attempts(session_factory, delivery_id)
    assert logged.status_code is None
    assert logged.error is not None and logged.error.startswith("timed out after 0.3s")
    assert logged.duration_ms >= 250


def test_emitting_the_same_key_twice_makes_one_delivery_and_one_request(
    session_factory: sessionmaker[Session], worker: Worker, webhook_receiver: WebhookReceiver
) -> None:
    add_integration(session_factory, webhook_receiver.url)
    first = emit(session_factory, "action:3:applied")
    again = emit(session_factory, "action:3:applied")
    assert first == again
    settle(worker, session_factory)
    assert emit(session_factory, "action:3:applied") == first
    worker.drain()
    assert count(session_factory, WebhookDelivery) == 1
    assert len(webhook_receiver.requests) == 1


def test_with_no_integrations_an_event_makes_no_delivery_and_no_job(
    session_factory: sessionmaker[Session],
) -> None:
    assert emit(session_factory, "action:4:applied") == []
    assert count(session_factory, WebhookDelivery) == 0
    assert jobs_count(session_factory) == 0


def test_inactive_and_unsubscribed_integrations_get_nothing(
    session_factory: sessionmaker[Session], worker: Worker, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url
    add_integration(session_factory, url + "?to=all", name="all")
    add_integration(
        session_factory, url + "?to=actions", name="actions", event_types=["action.applied"]
    )
    add_integration(
        session_factory, url + "?to=messages", name="messages", event_types=["message.in_app"]
    )
    add_integration(session_factory, url + "?to=off", name="off", active=False)

    emit(session_factory, "action:5:applied")
    emit(session_factory, "message:8", event_type="message.in_app", data={"message_id": 8})
    settle(worker, session_factory)

    got = sorted(
        (r.path.split("?to=")[1], r.headers["vigil-event"]) for r in webhook_receiver.requests
    )
    assert got == [
        ("actions", "action.applied"),
        ("all", "action.applied"),
        ("all", "message.in_app"),
        ("messages", "message.in_app"),
    ]


def test_a_delivery_to_an_integration_deactivated_meanwhile_fails_with_a_reason(
    session_factory: sessionmaker[Session], worker: Worker, webhook_receiver: WebhookReceiver
) -> None:
    hook = add_integration(session_factory, webhook_receiver.url)
    (delivery_id,) = emit(session_factory, "action:6:applied")
    with transaction(session_factory) as session:
        service.update_integration(session, ADMIN, hook.id, active=False)
    settle(worker, session_factory)

    failed = delivery(session_factory, delivery_id)
    assert failed.status == DeliveryStatus.failed
    assert failed.last_error is not None and "deactivated" in failed.last_error
    assert failed.attempts == 0
    assert webhook_receiver.requests == []
    with transaction(session_factory) as session, pytest.raises(Conflict) as caught:
        service.redeliver(session, ADMIN, delivery_id)
    assert caught.value.code == "integration_inactive"

    with transaction(session_factory) as session:
        service.update_integration(session, ADMIN, hook.id, active=True)
        service.redeliver(session, ADMIN, delivery_id)
    settle(worker, session_factory)
    assert delivery(session_factory, delivery_id).status == DeliveryStatus.delivered
    assert len(webhook_receiver.accepted) == 1


def test_during_a_rotation_grace_period_both_secrets_sign(
    session_factory: sessionmaker[Session], worker: Worker, webhook_receiver: WebhookReceiver
) -> None:
    hook = add_integration(session_factory, webhook_receiver.url)
    with transaction(session_factory) as session:
        rotated = service.rotate_secret(session, ADMIN, hook.id, grace_seconds=3600).secret
    assert rotated != hook.secret and rotated.startswith("whsec_")
    emit(session_factory, "action:11:applied")
    settle(worker, session_factory)
    (request,) = webhook_receiver.wait_for(1)
    header = request.headers["vigil-signature"]
    assert header.count("v1=") == 2
    signing.verify(rotated, header, request.body)
    signing.verify(hook.secret, header, request.body)

    # Rotating without grace drops the old secrets at once.
    with transaction(session_factory) as session:
        latest = service.rotate_secret(session, ADMIN, hook.id, grace_seconds=0).secret
    emit(session_factory, "action:12:applied")
    settle(worker, session_factory)
    request = webhook_receiver.wait_for(2)[1]
    header = request.headers["vigil-signature"]
    assert header.count("v1=") == 1
    signing.verify(latest, header, request.body)
    for old in (rotated, hook.secret):
        with pytest.raises(signing.SignatureError):
            signing.verify(old, header, request.body)


def test_a_stale_or_repeated_job_sends_nothing(
    hook_settings: Settings,
    session_factory: sessionmaker[Session],
    worker: Worker,
    webhook_receiver: WebhookReceiver,
) -> None:
    add_integration(session_factory, webhook_receiver.url)
    (delivery_id,) = emit(session_factory, "action:13:applied")
    settle(worker, session_factory)
    with transaction(session_factory) as session:
        assert tasks.attempt_delivery(session, hook_settings, delivery_id, 1) is None
        assert tasks.attempt_delivery(session, hook_settings, delivery_id, 2) is None
        assert tasks.attempt_delivery(session, hook_settings, 10**9, 1) is None
    assert len(webhook_receiver.requests) == 1


def test_a_ping_goes_to_the_tested_integration_whatever_it_subscribes_to(
    session_factory: sessionmaker[Session], worker: Worker, webhook_receiver: WebhookReceiver
) -> None:
    hook = add_integration(session_factory, webhook_receiver.url, event_types=["message.in_app"])
    with transaction(session_factory) as session:
        ping = service.send_test(session, ADMIN, hook.id)
        ping_id = ping.id
    settle(worker, session_factory)
    (request,) = webhook_receiver.wait_for(1)
    assert request.headers["vigil-event"] == "ping"
    body = json.loads(request.body)
    assert body["type"] == "ping" and body["data"]["integration_id"] == hook.id
    signing.verify(hook.secret, request.headers["vigil-signature"], request.body)
    assert delivery(session_factory, ping_id).status == DeliveryStatus.delivered


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter() -> None:
    s = Settings(webhook_backoff_base_seconds=30.0, webhook_backoff_max_seconds=3600.0)
    top = [tasks.backoff_delay(s, n, 0.999999).total_seconds() for n in range(1, 10)]
    assert [round(t) for t in top] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert tasks.backoff_delay(s, 1, 0.0).total_seconds() == pytest.approx(24.0)
    assert tasks.backoff_delay(s, 500, 0.5).total_seconds() <= 3600
