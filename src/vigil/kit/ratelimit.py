"""Rate limits shared by every process that serves: in this process for the embedded mode,
in Redis when ``VIGIL_REDIS_URL`` is set (then N ``vigil serve`` processes enforce one limit).

The algorithm is a sliding-window counter: a count per fixed window, and an estimate over the
last ``window`` seconds made of the current window's count plus the previous window's count
weighted by the share of it still inside the sliding window. It needs two integers per key,
bursts at a window boundary cannot double the rate as a plain fixed window allows, and on
Redis it is one ``EVALSHA`` per hit (atomic: two processes cannot both take the last slot).

A denied hit is not counted: a client that keeps knocking while limited gets in again as soon
as its rate falls under the limit. Time comes from ``vigil.kit.clock`` (frozen in tests), so the
window a hit falls in is decided by the caller's clock, not Redis's.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from vigil.kit import clock

if TYPE_CHECKING:
    from vigil.config import Settings

log = logging.getLogger("vigil.ratelimit")

DEFAULT_PREFIX = "vigil:rl:"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int  # hits left in the sliding window (>= 0)
    reset_after: float  # seconds until the current fixed window ends
    retry_after: float  # seconds until a hit can succeed; 0.0 when allowed

    @property
    def retry_after_seconds(self) -> int:
        """``Retry-After`` as whole seconds (at least 1 when denied)."""
        return max(1, math.ceil(self.retry_after)) if not self.allowed else 0

    def headers(self) -> dict[str, str]:
        """``RateLimit-*`` (IETF draft) and, when denied, ``Retry-After``."""
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(max(0, math.ceil(self.reset_after))),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_seconds)
        return out


UNLIMITED = Decision(True, 0, 0, 0.0, 0.0)


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, window_seconds: int, cost: int = 1) -> Decision:
        """Count ``cost`` hits on ``key`` if that keeps it within ``limit`` per
        ``window_seconds``; ``limit <= 0`` means no limit."""
        ...

    def reset(self, key: str, window_seconds: int) -> None:
        """Forget ``key`` as counted per ``window_seconds`` (a successful login clears its
        failures). The window is needed so Redis can delete the two keys directly."""
        ...

    def close(self) -> None: ...


def _window(window_seconds: int) -> tuple[int, float]:
    """The current fixed window's index and how far into it we are (0..1)."""
    now = clock.now().timestamp()
    index = int(now // window_seconds)
    return index, (now - index * window_seconds) / window_seconds


def _decide(
    allowed: bool, current: int, previous: int, limit: int, cost: int, window: int, into: float
) -> Decision:
    """The decision from the two counts as they are after the hit (or its refusal)."""
    weight = 1.0 - into
    estimate = previous * weight + current
    remaining = max(0, math.floor(limit - estimate))
    reset_after = (1.0 - into) * window
    if allowed:
        return Decision(True, limit, remaining, reset_after, 0.0)
    # When may ``cost`` more fit? The previous window's share falls linearly to 0 at the
    # end of this window; if the current count alone is too many, only the next window
    # (where it becomes the weighted "previous") can help.
    room = limit - cost - current
    if room >= 0 and previous > 0:
        # previous * (1 - (into*W + t)/W) <= room  ->  t >= W * (1 - room/previous) - into*W
        wait = window * (1.0 - room / previous) - into * window
    else:
        # Next window: current * (1 - t'/W) + cost <= limit
        wait = reset_after + (
            window * (1.0 - (limit - cost) / current) if current > 0 and limit > cost else window
        )
    return Decision(False, limit, remaining, reset_after, max(wait, 0.001))


class MemoryLimiter:
    """In this process only (the embedded mode); thread-safe. Counts of windows that ended
    are dropped every few thousand hits."""

    def __init__(self) -> None:
        # (key, window length, window index) -> count
        self._counts: dict[tuple[str, int, int], int] = {}
        self._lock = threading.Lock()
        self._hits = 0

    def hit(self, key: str, limit: int, window_seconds: int, cost: int = 1) -> Decision:
        if limit <= 0:
            return UNLIMITED
        index, into = _window(window_seconds)
        with self._lock:
            self._hits += 1
            if self._hits % 4096 == 0:
                self._sweep()
            current = self._counts.get((key, window_seconds, index), 0)
            previous = self._counts.get((key, window_seconds, index - 1), 0)
            allowed = previous * (1.0 - into) + current + cost <= limit
            if allowed:
                current += cost
                self._counts[(key, window_seconds, index)] = current
        return _decide(allowed, current, previous, limit, cost, window_seconds, into)

    def _sweep(self) -> None:
        now = clock.now().timestamp()
        for entry in list(self._counts):
            _key, window, index = entry
            if (index + 2) * window <= now:  # no longer the current or the previous window
                del self._counts[entry]

    def reset(self, key: str, window_seconds: int) -> None:
        with self._lock:
            for entry in [e for e in self._counts if e[0] == key and e[1] == window_seconds]:
                del self._counts[entry]

    def close(self) -> None:
        with self._lock:
            self._counts.clear()


# KEYS[1] current window, KEYS[2] previous window; ARGV: limit, cost, weight, ttl_ms.
# Returns {allowed (0/1), current count, previous count}.
_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
if previous * tonumber(ARGV[3]) + current + cost > limit then
  return {0, current, previous}
end
current = redis.call('INCRBY', KEYS[1], cost)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, current, previous}
"""


class RedisLimiter:
    """Counts in Redis, one script call per hit. When Redis does not answer the limiter
    fails open (the hit is allowed and a warning logged at most once a minute): a rate limit
    is a guard against abuse, not a reason to stop serving the marketplace.

    Both keys of a hit share a hash tag (``{key}``), so the script also runs on Redis
    Cluster."""

    def __init__(self, client: Any, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(_LUA)
        self._warned_at = 0.0

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisLimiter:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(client, prefix=prefix)

    def _key(self, key: str, index: int) -> str:
        return f"{self.prefix}{{{key}}}:{index}"

    def hit(self, key: str, limit: int, window_seconds: int, cost: int = 1) -> Decision:
        import redis

        if limit <= 0:
            return UNLIMITED
        index, into = _window(window_seconds)
        keys = [self._key(key, index), self._key(key, index - 1)]
        args = [limit, cost, repr(1.0 - into), window_seconds * 2000]
        try:
            allowed, current, previous = (int(v) for v in self._script(keys=keys, args=args))
        except redis.RedisError as exc:
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("rate limiter: Redis did not answer (%s); allowing", exc)
            return Decision(True, limit, limit, (1.0 - into) * window_seconds, 0.0)
        return _decide(bool(allowed), current, previous, limit, cost, window_seconds, into)

    def reset(self, key: str, window_seconds: int) -> None:
        import redis

        # The keys are known from the window: delete them directly (a SCAN would walk the
        # whole keyspace on every login).
        index, _into = _window(window_seconds)
        try:
            self.client.delete(self._key(key, index), self._key(key, index - 1))
        except redis.RedisError as exc:
            log.warning("rate limiter: could not reset %s (%s)", key, exc)

    def delete_all(self) -> int:
        """Remove every key under this limiter's prefix (tests)."""
        keys = list(self.client.scan_iter(match=self.prefix + "*", count=1000))
        return int(self.client.delete(*keys)) if keys else 0

    def close(self) -> None:
        self.client.close()


def make_limiter(settings: Settings) -> RateLimiter:
    """A new limiter: Redis when ``redis_url`` is set, else in this process. Keep one per
    process (see :func:`limiter_for`): a MemoryLimiter made per request remembers nothing."""
    if settings.redis_url:
        return RedisLimiter.from_url(settings.redis_url, prefix=settings.rate_limit_prefix)
    return MemoryLimiter()


_limiters: dict[int, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(settings: Settings) -> RateLimiter:
    """The process's limiter for these settings (tests make a Settings per test, so they never
    share counts)."""
    key = id(settings)
    found = _limiters.get(key)
    if found is None:
        with _limiters_lock:
            found = _limiters.get(key)
            if found is None:
                found = _limiters[key] = make_limiter(settings)
                weakref.finalize(settings, _drop, key)
    return found


def _drop(key: int) -> None:
    limiter = _limiters.pop(key, None)
    if limiter is not None:
        limiter.close()
