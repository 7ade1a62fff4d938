"""A webhook receiver that fails, refuses, resets and answers late: every action reaches the
marketplace, every retry carries the same idempotency key and bytes, and with the receiver
deduplicating by that key (as docs/reliability.md asks marketplaces to), each action is
applied exactly once."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.integrations.conftest import add_integration, attempts, delivery, emit, settle
from tests.servers import RESET, RESET_AFTER_PROCESSING, WebhookReceiver, drip, slow
from vigil.config import Settings
from vigil.integrations import tasks
from vigil.integrations.models import DeliveryStatus
from vigil.jobs.models import Job, JobStatus
from vigil.jobs.worker import Worker
from vigil.kit import clock
from vigil.kit.clock import FrozenClock


def _emit_actions(factory: sessionmaker[Session], n: int, start: int = 1) -> dict[str, int]:
    """``n`` enforcement actions, each one webhook: idempotency key -> delivery id."""
    made: dict[str, int] = {}
    for i in range(start, start + n):
        key = f"action:{i}:applied"
        (made[key],) = emit(factory, key, subject_id=i)
    return made


def _assert_each_applied_once(receiver: WebhookReceiver, keys: list[str]) -> None:
    # No action lost, none applied twice.
    assert receiver.effects == {key: 1 for key in keys}
    # Every request for a key (first try and retries) sent identical bytes.
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in receiver.requests:
        bodies[request.headers["idempotency-key"]].add(request.body)
    assert set(bodies) == set(keys)
    assert all(len(b) == 1 for b in bodies.values())


def test_errors_resets_and_late_answers_end_with_each_action_applied_once(
    session_factory: sessionmaker[Session],
    fault_worker: Worker,
    webhook_receiver: WebhookReceiver,
) -> None:
    add_integration(session_factory, webhook_receiver.url)
    webhook_receiver.script(
        500, 502, RESET, RESET_AFTER_PROCESSING, slow(1.0), 503, RESET, slow(1.0), 429, 500
    )
    made = _emit_actions(session_factory, 8)
    settle(fault_worker, session_factory, timeout=60)

    _assert_each_applied_once(webhook_receiver, list(made))
    per_key = Counter(r.headers["idempotency-key"] for r in webhook_receiver.requests)
    assert sum(per_key.values()) == 8 + 10  # every scripted failure cost one retry
    for key, delivery_id in made.items():
        done = delivery(session_factory, delivery_id)
        assert done.status == DeliveryStatus.delivered
        log = attempts(session_factory, delivery_id)
        # The attempt log and the receiver agree, attempt numbers count up from 1.
        assert [a.number for a in log] == list(range(1, per_key[key] + 1))
        assert done.attempts == per_key[key]
        assert log[-1].status_code == 200
    errors = {a.error for d in made.values() for a in attempts(session_factory, d) if a.error}
    assert "answered 500" in errors and "answered 429" in errors
    assert any(e.startswith("timed out after 0.5s") for e in errors)
    assert any("RemoteProtocolError" in e or "ReadError" in e for e in errors), errors
    # Failures were recorded as attempts, never raised: no delivery job died or retried.
    with session_factory() as session:
        jobs = list(session.scalars(select(Job).where(Job.kind == tasks.DELIVER)))
        assert {j.status for j in jobs} == {JobStatus.done}
        assert {j.attempts for j in jobs} == {1}


def test_a_receiver_that_refuses_connections_gets_everything_once_when_it_comes_back(
    session_factory: sessionmaker[Session],
    fault_worker: Worker,
    webhook_receiver: WebhookReceiver,
) -> None:
    add_integration(session_factory, webhook_receiver.url)
    webhook_receiver.go_down()
    made = _emit_actions(session_factory, 5)
    fault_worker.run_once(10)  # every first attempt: connection refused
    for delivery_id in made.values():
        waiting = delivery(session_factory, delivery_id)
        assert waiting.status == DeliveryStatus.pending
        assert waiting.attempts >= 1
        assert "ConnectError" in (waiting.last_error or "")
        assert waiting.next_attempt_at is not None
    webhook_receiver.come_back()
    settle(fault_worker, session_factory)
    _assert_each_applied_once(webhook_receiver, list(made))
    assert all(r.answered == 200 for r in webhook_receiver.requests)


def test_a_slow_receiver_that_processed_the_action_sees_the_retry_as_a_duplicate(
    session_factory: sessionmaker[Session],
    fault_worker: Worker,
    webhook_receiver: WebhookReceiver,
) -> None:
    add_integration(session_factory, webhook_receiver.url)
    webhook_receiver.script(slow(1.0), slow(1.0))
    made = _emit_actions(session_factory, 2)
    settle(fault_worker, session_factory, timeout=30)

    requests = webhook_receiver.requests
    assert Counter(r.headers["idempotency-key"] for r in requests) == {k: 2 for k in made}
    # Applied on the slow first request; the retry (same key) changed nothing.
    _assert_each_applied_once(webhook_receiver, list(made))
    for delivery_id in made.values():
        log = attempts(session_factory, delivery_id)
        assert [(a.number, a.status_code) for a in log] == [(1, None), (2, 200)]
        assert (log[0].error or "").startswith("timed out after 0.5s")


def test_retries_back_off_exponentially_with_the_same_key(
    fault_settings: Settings,
    session_factory: sessionmaker[Session],
    webhook_receiver: WebhookReceiver,
    frozen: FrozenClock,
) -> None:
    settings = fault_settings.model_copy(
        update={"webhook_backoff_base_seconds": 30.0, "webhook_backoff_max_seconds": 600.0}
    )
    worker = Worker(settings, session_factory, name="backoff")
    add_integration(session_factory, webhook_receiver.url)
    webhook_receiver.fail(6, status=503)
    ((key, delivery_id),) = _emit_actions(session_factory, 1).items()

    waits: list[float] = []
    for _ in range(6):
        before = clock.now()
        assert worker.drain() == 1
        pending = delivery(session_factory, delivery_id)
        assert pending.status == DeliveryStatus.pending
        assert pending.next_attempt_at is not None
        waits.append((pending.next_attempt_at - before).total_seconds())
        # Nothing runs before the backoff is over.
        frozen.advance(pending.next_attempt_at - before - timedelta(seconds=1))
        assert worker.drain() == 0
        frozen.advance(timedelta(seconds=1))
    assert worker.drain() == 1

    # 30 s doubling each time, capped at 600 s, each scaled by a jitter in [0.8, 1.0].
    for n, wait in enumerate(waits, start=1):
        nominal = min(30.0 * 2 ** (n - 1), 600.0)
        assert 0.8 * nominal <= wait <= nominal, (n, wait)
    done = delivery(session_factory, delivery_id)
    assert (done.status, done.attempts) == (DeliveryStatus.delivered, 7)
    requests = webhook_receiver.requests
    assert [r.answered for r in requests] == [503] * 6 + [200]
    assert {r.headers["idempotency-key"] for r in requests} == {key}
    assert [r.headers["vigil-attempt"] for r in requests] == [str(n) for n in range(1, 8)]
    assert webhook_receiver.effects == {key: 1}


def test_an_answer_dripped_byte_by_byte_does_not_hold_the_worker(
    session_factory: sessionmaker[Session],
    fault_worker: Worker,
    webhook_receiver: WebhookReceiver,
) -> None:
    # Each read gets a byte before the 0.5 s timeout, so only a deadline on the whole
    # body stops the worker from reading for the full 6 s (and outliving a short lease).
    add_integration(session_factory, webhook_receiver.url)
    webhook_receiver.script(drip(6.0))
    ((key, delivery_id),) = _emit_actions(session_factory, 1).items()
    settle(fault_worker, session_factory, timeout=30)
    done = delivery(session_factory, delivery_id)
    assert (done.status, done.attempts, done.last_status_code) == (
        DeliveryStatus.delivered, 1, 200,
    )  # fmt: skip
    # Vigil hung up while the receiver was still dripping.
    wait_for_hang_up = 0
    while webhook_receiver.hung_up_early == 0 and wait_for_hang_up < 200:
        time.sleep(0.05)
        wait_for_hang_up += 1
    assert webhook_receiver.hung_up_early == 1
    assert webhook_receiver.effects == {key: 1}
