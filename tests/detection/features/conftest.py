"""Velocity stores for the shared suites, and events built without the ingestion pipeline.

``store`` runs a test twice: on a MemoryStore and on a RedisStore (real Redis at
127.0.0.1:6379, or ``VIGIL_TEST_REDIS_URL``) under a key prefix of its own, removed after
the test. Outside CI the Redis half skips with a reason when no server answers; under
``CI=true`` that is a failure, as for PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import FROZEN_AT
from tests.redis_server import redis_client
from vigil.detection.features.store import MemoryStore, RedisStore, VelocityStore


@pytest.fixture
def redis_store() -> Iterator[RedisStore]:
    client = redis_client()
    store = RedisStore(client, prefix=f"vigil-test:{uuid.uuid4().hex}:")
    yield store
    store.delete_all()
    store.close()


@pytest.fixture
def memory_store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> VelocityStore:
    name = "memory_store" if request.param == "memory" else "redis_store"
    found: VelocityStore = request.getfixturevalue(name)
    return found


@dataclass(frozen=True)
class Ev:
    """An event as features read it (the fields of ``vigil.detection.events.EventIn``)."""

    event_id: str
    type: str
    account_id: str
    occurred_at: datetime | None = FROZEN_AT
    ip: str | None = None
    device_id: str | None = None
    payment_fingerprint: str | None = None
    counterparty_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


_ids = iter(range(1, 10**9))


def ev(type: str = "login", account_id: str = "acct-1", **fields: Any) -> Ev:
    """An event with a fresh event id unless one is given."""
    fields.setdefault("event_id", f"ev-{next(_ids)}")
    return Ev(type=type, account_id=account_id, **fields)
