"""Where velocity lives: sorted sets of (member, score = event time in epoch milliseconds).

One store call per event records everything the event adds and reads every window at once
(:meth:`VelocityStore.apply`). Two implementations give the same answers on the same
sequence of calls (a shared test suite runs against both):

- :class:`MemoryStore`: in the process, for the embedded mode (one ``vigil serve``).
- :class:`RedisStore`: Redis sorted sets, one Lua script per event, when more than one
  process serves (``VIGIL_REDIS_URL``).

Invariants both keep:

- A member already present is kept, replaced or left according to the write's
  :class:`Mode` (so an event recorded twice changes nothing).
- After a write, entries with a score below ``trim_before`` are removed, then the oldest
  entries beyond ``cap`` (lowest score first, ties broken by member in byte order, as Redis
  ranks them).
- A key nobody wrote to for ``ttl_ms`` of wall-clock time disappears (Redis: ``PEXPIRE``;
  memory: the same, on the process's monotonic clock). Expiry is in wall-clock time, not
  event time, in both, so that a replay of old events gets the same answers from either.
"""

from __future__ import annotations

import heapq
import threading
import time
from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from vigil.config import Settings
from vigil.kit.errors import VigilError

# The most entries a key keeps. Counts saturate there, far above any rule's threshold; it
# bounds memory and the work one event can cost on a hot key (a carrier-grade NAT's IP).
DEFAULT_CAP = 20_000
DEFAULT_PREFIX = "vigil:v:"


class VelocityUnavailable(VigilError):
    """The velocity store cannot be reached: the event cannot be scored honestly, so the
    caller refuses it (503) rather than deciding with counts of zero."""

    status_code = 503
    code = "velocity_unavailable"


class Mode(StrEnum):
    """What a write does when its member is already in the set."""

    first = "NX"  # keep the first score: event ids, so a replay is not counted twice
    latest = "GT"  # keep the highest score: the last time a value was seen
    earliest = "LT"  # keep the lowest score: the first time a value was seen


# Plain tuples: an event builds dozens of these, and a tuple costs a fraction of a frozen
# dataclass to create.
class Write(NamedTuple):
    key: str
    member: str
    score: int  # epoch milliseconds, >= 0
    mode: Mode
    trim_before: int | None  # drop entries scored below this; None keeps them (TTL only)
    ttl_ms: int


class Count(NamedTuple):
    """How many entries score in ``(low, high]``; ``high=None`` has no upper bound."""

    key: str
    low: int
    high: int | None


class Score(NamedTuple):
    """The member's score, or None when absent."""

    key: str
    member: str


Read = Count | Score


class VelocityStore(Protocol):
    def apply(self, writes: Sequence[Write], reads: Sequence[Read]) -> list[int | None]:
        """Apply ``writes`` in order, then answer ``reads`` in order, atomically."""
        ...

    def close(self) -> None: ...


# --- in the process -----------------------------------------------------------------------


class _ZSet:
    __slots__ = ("entries", "expires", "scores")

    def __init__(self) -> None:
        self.entries: list[tuple[int, str]] = []  # sorted by (score, member)
        self.scores: dict[str, int] = {}
        self.expires = 0

    def add(self, member: str, score: int, mode: Mode) -> None:
        old = self.scores.get(member)
        if old is None:
            insort(self.entries, (score, member))
            self.scores[member] = score
            return
        if (mode is Mode.latest and score > old) or (mode is Mode.earliest and score < old):
            del self.entries[bisect_left(self.entries, (old, member))]
            insort(self.entries, (score, member))
            self.scores[member] = score

    def drop_first(self, n: int) -> None:
        for _, member in self.entries[:n]:
            del self.scores[member]
        del self.entries[:n]

    def trim(self, before: int, cap: int) -> None:
        # Scores are integers, so (before,) sorts ahead of every entry scored ``before``.
        self.drop_first(bisect_left(self.entries, (before,)))
        if len(self.entries) > cap:
            self.drop_first(len(self.entries) - cap)

    def count(self, low: int, high: int | None) -> int:
        start = bisect_left(self.entries, (low + 1,))
        end = len(self.entries) if high is None else bisect_left(self.entries, (high + 1,))
        return max(0, end - start)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class MemoryStore:
    """Velocity in this process. Thread-safe (one lock: an apply takes tens of µs).

    Memory stays bounded: every write trims its key to its window and its cap, and a key
    expires ``ttl_ms`` after its last write, swept incrementally from a heap (one entry per
    key, so the sweep costs O(log n) per expired key and never stalls an event to walk
    every key). ``now_ms`` is the clock expiry runs on (tests pass their own)."""

    def __init__(self, *, cap: int = DEFAULT_CAP, now_ms: Callable[[], int] = _monotonic_ms):
        self.cap = cap
        self._now_ms = now_ms
        self._sets: dict[str, _ZSet] = {}
        self._expiry: list[tuple[int, str]] = []  # heap of (expires, key)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sets)

    def apply(self, writes: Sequence[Write], reads: Sequence[Read]) -> list[int | None]:
        with self._lock:
            now = self._now_ms()
            self._sweep(now)
            for w in writes:
                zset = self._sets.get(w.key)
                if zset is None:
                    zset = self._sets[w.key] = _ZSet()
                    heapq.heappush(self._expiry, (now + w.ttl_ms, w.key))
                # The heap keeps the first expiry; _sweep re-files a key rewritten since.
                zset.expires = now + w.ttl_ms
                zset.add(w.member, w.score, w.mode)
                zset.trim(w.trim_before if w.trim_before is not None else -1, self.cap)
            out: list[int | None] = []
            for r in reads:
                found = self._sets.get(r.key)
                if isinstance(r, Count):
                    out.append(found.count(r.low, r.high) if found is not None else 0)
                else:
                    out.append(found.scores.get(r.member) if found is not None else None)
            return out

    def _sweep(self, now: int) -> None:
        heap = self._expiry
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            zset = self._sets.get(key)
            if zset is None:
                continue
            if zset.expires <= now:
                del self._sets[key]
            else:
                heapq.heappush(heap, (zset.expires, key))

    def close(self) -> None:
        with self._lock:
            self._sets.clear()
            self._expiry.clear()


# --- Redis ---------------------------------------------------------------------------------

# KEYS: every key the event touches, once each. ARGV[1] = cap, ARGV[2] = number of writes;
# then 6 arguments per write: key index, member, score, ZADD flag (NX/GT/LT), trim bound
# ('' = none), ttl in ms; then 4 per read: 'c', key index, low, high ('' = +inf) for a count
# of scores in (low, high], or 's', key index, member, '' for a member's score (-1 absent:
# scores are never negative, and a nil would cut the reply's array short).
_LUA = """
local cap = tonumber(ARGV[1])
local i = 3
for _ = 1, tonumber(ARGV[2]) do
  local key = KEYS[tonumber(ARGV[i])]
  redis.call('ZADD', key, ARGV[i + 3], ARGV[i + 2], ARGV[i + 1])
  if ARGV[i + 4] ~= '' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[i + 4])
  end
  local n = redis.call('ZCARD', key)
  if n > cap then
    redis.call('ZREMRANGEBYRANK', key, 0, n - cap - 1)
  end
  redis.call('PEXPIRE', key, ARGV[i + 5])
  i = i + 6
end
local out = {}
while i <= #ARGV do
  local key = KEYS[tonumber(ARGV[i + 1])]
  if ARGV[i] == 'c' then
    local high = ARGV[i + 3]
    if high == '' then high = '+inf' end
    out[#out + 1] = redis.call('ZCOUNT', key, '(' .. ARGV[i + 2], high)
  else
    local s = redis.call('ZSCORE', key, ARGV[i + 2])
    if s then out[#out + 1] = tonumber(s) else out[#out + 1] = -1 end
  end
  i = i + 4
end
return out
"""


class RedisStore:
    """Velocity in Redis sorted sets: one ``EVALSHA`` per event, atomic, so concurrent
    processes never see half an event. Members are event ids (or the values counted
    distinct), so a replayed event rewrites the same member and counts nothing twice.

    All of an event's keys go to one script; on Redis Cluster they must share a slot, which
    a hash-tagged prefix such as ``{vigil}:v:`` gives (at the price of one node holding all
    velocity)."""

    def __init__(self, client: Any, *, prefix: str = DEFAULT_PREFIX, cap: int = DEFAULT_CAP):
        self.client = client
        self.prefix = prefix
        self.cap = cap
        self._script = client.register_script(_LUA)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX, cap: int = DEFAULT_CAP) -> Any:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return cls(client, prefix=prefix, cap=cap)

    def apply(self, writes: Sequence[Write], reads: Sequence[Read]) -> list[int | None]:
        import redis

        index: dict[str, int] = {}
        keys: list[str] = []

        def key_index(key: str) -> int:
            found = index.get(key)
            if found is None:
                keys.append(self.prefix + key)
                found = index[key] = len(keys)
            return found

        args: list[Any] = [self.cap, len(writes)]
        for w in writes:
            trim = "" if w.trim_before is None else w.trim_before
            args += [key_index(w.key), w.member, w.score, w.mode.value, trim, w.ttl_ms]
        for r in reads:
            if isinstance(r, Count):
                high = "" if r.high is None else r.high
                args += ["c", key_index(r.key), r.low, high]
            else:
                args += ["s", key_index(r.key), r.member, ""]
        if not keys:
            return []
        try:
            raw = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise VelocityUnavailable(
                f"the velocity store (Redis) did not answer: {exc.__class__.__name__}"
            ) from exc
        out: list[int | None] = []
        for r, value in zip(reads, raw, strict=True):
            value = int(value)
            out.append(None if isinstance(r, Score) and value < 0 else value)
        return out

    def delete_all(self) -> int:
        """Remove every key under this store's prefix (tests, and a reset of velocity)."""
        removed = 0
        batch: list[Any] = []
        for key in self.client.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                removed += self.client.delete(*batch)
                batch = []
        if batch:
            removed += self.client.delete(*batch)
        return removed

    def close(self) -> None:
        self.client.close()


def make_store(settings: Settings) -> VelocityStore:
    """A new store: Redis when ``redis_url`` is set, else in this process.

    The caller keeps one per process (the app at start-up, a worker, a CLI command): a
    MemoryStore made per request would remember nothing."""
    if settings.redis_url:
        store: VelocityStore = RedisStore.from_url(settings.redis_url)
        return store
    return MemoryStore()
