"""The store contract, run on the in-process store and on Redis alike."""

from __future__ import annotations

import pytest

from vigil.config import Settings
from vigil.detection.features.store import (
    Count,
    MemoryStore,
    Mode,
    RedisStore,
    Score,
    VelocityStore,
    VelocityUnavailable,
    Write,
    make_store,
)

TTL = 10_000_000


def w(key: str, member: str, score: int, mode: Mode = Mode.first, trim: int | None = None) -> Write:
    return Write(key, member, score, mode, trim, TTL)


def test_count_is_over_a_half_open_window(store: VelocityStore) -> None:
    store.apply([w("k", "a", 100), w("k", "b", 200), w("k", "c", 300)], [])
    assert store.apply(
        [], [Count("k", 100, 300), Count("k", 99, 300), Count("k", 100, 299), Count("k", 0, None)]
    ) == [2, 3, 1, 3]


def test_a_member_recorded_twice_counts_once(store: VelocityStore) -> None:
    first = store.apply([w("k", "e1", 100)], [Count("k", 0, 1000)])
    again = store.apply([w("k", "e1", 100)], [Count("k", 0, 1000)])
    assert first == again == [1]


def test_first_mode_keeps_the_first_score(store: VelocityStore) -> None:
    store.apply([w("k", "e1", 100), w("k", "e1", 500)], [])
    assert store.apply([], [Score("k", "e1")]) == [100]


def test_latest_and_earliest_modes(store: VelocityStore) -> None:
    store.apply(
        [
            w("late", "x", 200, Mode.latest),
            w("late", "x", 100, Mode.latest),
            w("late", "x", 300, Mode.latest),
            w("early", "x", 200, Mode.earliest),
            w("early", "x", 300, Mode.earliest),
            w("early", "x", 100, Mode.earliest),
        ],
        [],
    )
    assert store.apply([], [Score("late", "x"), Score("early", "x")]) == [300, 100]


def test_missing_keys_and_members_read_as_nothing(store: VelocityStore) -> None:
    store.apply([w("k", "a", 1)], [])
    assert store.apply([], [Count("nokey", 0, None), Score("nokey", "a"), Score("k", "b")]) == [
        0,
        None,
        None,
    ]


def test_writes_trim_entries_below_their_bound(store: VelocityStore) -> None:
    store.apply([w("k", "a", 100), w("k", "b", 200)], [])
    store.apply([w("k", "c", 300, trim=200)], [])
    assert store.apply([], [Count("k", -1, None), Score("k", "a"), Score("k", "b")]) == [
        2,
        None,
        200,
    ]


def test_a_key_keeps_at_most_cap_entries_dropping_the_oldest(store: VelocityStore) -> None:
    cap = 5
    store.cap = cap  # type: ignore[attr-defined]
    # Ties at one score drop in member order, as Redis ranks them.
    store.apply([w("k", m, 10) for m in "edcba"] + [w("k", "z", 5), w("k", "y", 20)], [])
    answers = store.apply([], [Score("k", m) for m in "zabcdey"])
    assert answers == [None, None, 10, 10, 10, 10, 20]


def test_reads_see_the_writes_of_the_same_call(store: VelocityStore) -> None:
    assert store.apply([w("k", "a", 100)], [Count("k", 0, 100), Score("k", "a")]) == [1, 100]


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000

    def __call__(self) -> int:
        return self.ms


def test_memory_store_forgets_idle_keys() -> None:
    clock = Clock()
    store = MemoryStore(now_ms=clock)
    store.apply([Write("old", "a", 1, Mode.first, None, 5_000)], [])
    clock.ms += 4_000
    store.apply([Write("new", "a", 2, Mode.first, None, 5_000)], [])
    assert len(store) == 2
    clock.ms += 1_000  # "old" was written 5 s ago
    store.apply([Write("new", "b", 3, Mode.first, None, 5_000)], [])
    assert len(store) == 1
    assert store.apply([], [Count("old", -1, None), Count("new", -1, None)]) == [0, 2]


def test_memory_store_keeps_a_key_rewritten_before_it_expires() -> None:
    clock = Clock()
    store = MemoryStore(now_ms=clock)
    store.apply([Write("k", "a", 1, Mode.first, None, 5_000)], [])
    clock.ms += 4_000
    store.apply([Write("k", "b", 2, Mode.first, None, 5_000)], [])
    clock.ms += 4_000
    store.apply([Write("other", "a", 3, Mode.first, None, 5_000)], [])
    assert store.apply([], [Count("k", -1, None)]) == [2]
    clock.ms += 1_000
    assert store.apply([], [Count("k", -1, None)]) == [0]


def test_redis_keys_expire(redis_store: RedisStore) -> None:
    redis_store.apply([Write("k", "a", 1, Mode.first, None, 60_000)], [])
    ttl = redis_store.client.pttl(redis_store.prefix + "k")
    assert 0 < ttl <= 60_000


def test_an_unreachable_redis_is_a_503_not_zero_counts() -> None:
    store = RedisStore.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(VelocityUnavailable) as caught:
        store.apply([w("k", "a", 1)], [Count("k", 0, None)])
    assert caught.value.status_code == 503
    store.close()


def test_make_store_picks_redis_only_when_configured() -> None:
    assert isinstance(make_store(Settings(redis_url=None)), MemoryStore)
    store = make_store(Settings(redis_url="redis://127.0.0.1:6379/0"))
    assert isinstance(store, RedisStore)
    store.close()
