"""The shared rate limiter: the same behaviour in this process and in Redis, and in Redis one
limit across several limiters (as several ``vigil serve`` processes hold)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.redis_server import REDIS_URL, redis_client
from vigil.config import Settings
from vigil.kit import clock, ratelimit
from vigil.kit.ratelimit import MemoryLimiter, RateLimiter, RedisLimiter


@pytest.fixture
def prefix() -> str:
    return f"vigil-test-rl:{uuid.uuid4().hex}:"


@pytest.fixture
def redis_limiter(prefix: str) -> Iterator[RedisLimiter]:
    limiter = RedisLimiter(redis_client(), prefix=prefix)
    yield limiter
    limiter.delete_all()
    limiter.close()


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return MemoryLimiter()
    found: RateLimiter = request.getfixturevalue("redis_limiter")
    return found


@pytest.fixture
def at_window_start(frozen: clock.FrozenClock) -> clock.FrozenClock:
    """The frozen clock moved to the start of a minute."""
    now = clock.now()
    frozen.advance(timedelta(seconds=60 - now.timestamp() % 60))
    return frozen


def test_allows_up_to_the_limit_then_refuses(
    limiter: RateLimiter, at_window_start: clock.FrozenClock
) -> None:
    decisions = [limiter.hit("k", 3, 60) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    # This window is full: room comes 20 s into the next one, when its 3 hits weigh
    # 3 * (1 - 20/60) = 2.
    assert refused.retry_after == pytest.approx(80, abs=0.01)
    assert refused.headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "Retry-After": "80",
    }
    # Another key has its own count.
    assert limiter.hit("other", 3, 60).allowed


def test_a_refused_hit_is_not_counted(
    limiter: RateLimiter, at_window_start: clock.FrozenClock
) -> None:
    for _ in range(2):
        assert limiter.hit("k", 2, 60).allowed
    for _ in range(5):
        assert not limiter.hit("k", 2, 60).allowed
    # One window later the previous window's 2 hits weigh 2 * (1 - 0.5) = 1 at half-time:
    # exactly one more fits. Had the refusals counted, the weight would be 3.5.
    at_window_start.advance(timedelta(seconds=90))
    assert limiter.hit("k", 2, 60).allowed
    assert not limiter.hit("k", 2, 60).allowed


def test_the_window_slides(limiter: RateLimiter, at_window_start: clock.FrozenClock) -> None:
    for _ in range(10):
        assert limiter.hit("k", 10, 60).allowed
    # A fixed window would allow 10 more right after the boundary; the sliding estimate
    # still counts most of the previous minute.
    at_window_start.advance(timedelta(seconds=61))
    refused = limiter.hit("k", 10, 60)
    assert not refused.allowed
    # 10 * (1 - t/60) + 1 <= 10 from t = 6 s into the window: 5 s from now.
    assert refused.retry_after == pytest.approx(5, abs=0.01)
    at_window_start.advance(timedelta(seconds=5))
    assert limiter.hit("k", 10, 60).allowed
    # Two windows on, the old hits no longer count at all.
    at_window_start.advance(timedelta(seconds=120))
    assert all(limiter.hit("k", 10, 60).allowed for _ in range(10))


def test_reset_forgets_a_key(limiter: RateLimiter, at_window_start: clock.FrozenClock) -> None:
    for _ in range(2):
        limiter.hit("k", 2, 60)
    limiter.hit("keep", 1, 60)
    assert not limiter.hit("k", 2, 60).allowed
    limiter.reset("k", 60)
    assert limiter.hit("k", 2, 60).allowed
    assert not limiter.hit("keep", 1, 60).allowed


def test_reset_forgets_the_previous_window_too(
    limiter: RateLimiter, at_window_start: clock.FrozenClock
) -> None:
    """R1 #6: reset deletes the keys it can name from the window (no SCAN), and that must
    include the previous window, which still counts in the sliding estimate."""
    for _ in range(2):
        limiter.hit("k", 2, 60)
    at_window_start.advance(timedelta(seconds=61))
    assert not limiter.hit("k", 2, 60).allowed
    limiter.reset("k", 60)
    assert limiter.hit("k", 2, 60).allowed and limiter.hit("k", 2, 60).allowed


def test_zero_means_no_limit(limiter: RateLimiter) -> None:
    assert all(limiter.hit("k", 0, 60).allowed for _ in range(50))


def test_redis_limiters_share_one_limit(
    redis_limiter: RedisLimiter, prefix: str, at_window_start: clock.FrozenClock
) -> None:
    """Two limiters on one Redis (two processes) hand out the limit once between them,
    under concurrent hits."""
    other = RedisLimiter(redis_client(), prefix=prefix)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker(limiter: RedisLimiter) -> None:
        for _ in range(25):
            ok = limiter.hit("shared", 30, 60).allowed
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=worker, args=(lim,)) for lim in (redis_limiter, other) * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert len(allowed) == 100
    assert allowed.count(True) == 30


def test_memory_limiter_is_thread_safe(at_window_start: clock.FrozenClock) -> None:
    limiter = MemoryLimiter()
    allowed: list[bool] = []

    def worker() -> None:
        for _ in range(50):
            allowed.append(limiter.hit("k", 70, 60).allowed)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 70


def test_redis_down_fails_open(at_window_start: clock.FrozenClock) -> None:
    # Nothing listens on port 1.
    limiter = RedisLimiter.from_url("redis://127.0.0.1:1/0")
    decisions = [limiter.hit("k", 1, 60) for _ in range(3)]
    assert all(d.allowed for d in decisions)
    limiter.close()


def test_one_limiter_per_settings_redis_when_configured(tmp_path: Any) -> None:
    redis_client().close()  # skips without a Redis
    plain = Settings(database_url=f"sqlite:///{tmp_path}/a.db")
    shared = Settings(
        database_url=f"sqlite:///{tmp_path}/a.db", redis_url=REDIS_URL, rate_limit_prefix="t:"
    )
    assert isinstance(ratelimit.limiter_for(plain), MemoryLimiter)
    assert ratelimit.limiter_for(plain) is ratelimit.limiter_for(plain)
    found = ratelimit.limiter_for(shared)
    assert isinstance(found, RedisLimiter) and found.prefix == "t:"
