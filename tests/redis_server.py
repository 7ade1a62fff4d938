"""The real Redis the tests use (127.0.0.1:6379, or ``VIGIL_TEST_REDIS_URL``): a client, or a
skip with the reason outside CI and a failure under ``CI=true``."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import IN_CI

REDIS_URL = os.environ.get("VIGIL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_client() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        reason = f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return client
