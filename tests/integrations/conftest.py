"""Helpers for the integrations tests: integrations, a real worker run until deliveries settle.

Every helper opens and closes its own short transaction: on SQLite any open transaction holds
the database's write lock, and the worker under test needs it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import transaction
from vigil.integrations import service
from vigil.integrations import tasks as _tasks  # registers the delivery job's handler
from vigil.integrations.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from vigil.jobs.models import Job, JobStatus
from vigil.jobs.worker import Worker

ADMIN = Principal.system("tests")


@dataclass(frozen=True)
class Made:
    id: int
    secret: str


def add_integration(
    factory: sessionmaker[Session],
    url: str,
    *,
    name: str = "marketplace",
    event_types: list[str] | None = None,
    active: bool = True,
) -> Made:
    with transaction(factory) as session:
        issued = service.create_integration(
            session, ADMIN, name=name, url=url, event_types=event_types or [], active=active
        )
        return Made(issued.integration.id, issued.secret)


def emit(
    factory: sessionmaker[Session],
    key: str,
    *,
    event_type: str = "action.applied",
    data: dict[str, Any] | None = None,
    subject_id: int = 1,
) -> list[int]:
    with transaction(factory) as session:
        made = service.emit(
            session,
            event_type,
            data if data is not None else {"action_id": subject_id, "action": "suspend"},
            idempotency_key=key,
            subject_type="decision_action",
            subject_id=subject_id,
        )
        return [d.id for d in made]


def delivery(factory: sessionmaker[Session], delivery_id: int) -> WebhookDelivery:
    with factory() as session:
        found = session.get(WebhookDelivery, delivery_id)
        assert found is not None
        session.expunge(found)
        return found


def attempts(factory: sessionmaker[Session], delivery_id: int) -> list[DeliveryAttempt]:
    with factory() as session:
        rows = service.attempts_of(session, delivery_id)
        for row in rows:
            session.expunge(row)
        return rows


def count(factory: sessionmaker[Session], model: type[Any]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def jobs_count(factory: sessionmaker[Session]) -> int:
    return count(factory, Job)


def settle(worker: Worker, factory: sessionmaker[Session], timeout: float = 20.0) -> None:
    """Run the worker (claim and run until idle) until no delivery is pending: retries are
    due a backoff later, so idle is not the same as done."""
    deadline = time.monotonic() + timeout
    while True:
        worker.drain()
        with factory() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status == DeliveryStatus.pending)
            )
            dead = session.scalars(
                select(Job.last_error).where(
                    Job.kind == _tasks.DELIVER, Job.status == JobStatus.dead
                )
            ).first()
        if dead is not None:
            raise AssertionError(f"a delivery job died: {dead}")
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} deliveries still pending after {timeout}s")
        time.sleep(0.02)


@pytest.fixture
def hook_settings(mail_settings: Settings) -> Settings:
    """Webhook backoffs of tens of milliseconds (from ``mail_settings``), eight attempts."""
    return mail_settings.model_copy(update={"webhook_max_attempts": 8})


@pytest.fixture
def worker(hook_settings: Settings, session_factory: sessionmaker[Session]) -> Worker:
    return Worker(hook_settings, session_factory, name="hooks")
