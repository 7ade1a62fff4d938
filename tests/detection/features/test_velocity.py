"""Velocity features over event sequences, on both stores (time is the event's time)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import FROZEN_AT
from tests.detection.features.conftest import Ev, ev
from vigil.detection.features import velocity
from vigil.detection.features.store import DEFAULT_CAP, MemoryStore, RedisStore, VelocityStore

T0 = FROZEN_AT
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def measure(store: VelocityStore, event: Ev) -> dict[str, Any]:
    assert event.occurred_at is not None
    return velocity.measure(store, event, event.occurred_at)


def test_an_event_counts_itself(store: VelocityStore) -> None:
    got = measure(store, ev("message_sent", counterparty_id="b", occurred_at=T0))
    assert got["messages_1h"] == got["account_events_1h"] == got["account_type_events_7d"] == 1
    assert got["distinct_counterparties_24h"] == 1


def test_windows_slide_with_event_time(store: VelocityStore) -> None:
    for minutes in (0, 10, 50):
        measure(store, ev("message_sent", counterparty_id="b", occurred_at=T0 + minutes * MIN))
    at_59 = measure(store, ev("login", occurred_at=T0 + 59 * MIN))
    assert (at_59["messages_1h"], at_59["messages_24h"]) == (3, 3)
    # An hour after the first message it has left the 1h window (windows are (t - 1h, t]).
    at_60 = measure(store, ev("login", occurred_at=T0 + 60 * MIN))
    assert (at_60["messages_1h"], at_60["messages_24h"]) == (2, 3)
    at_day = measure(store, ev("login", occurred_at=T0 + DAY + 5 * MIN))
    assert (at_day["messages_1h"], at_day["messages_24h"]) == (0, 2)
    assert at_day["logins_24h"] == 3
    assert at_day["account_type_events_24h"] == 3  # this event's type: login


def test_a_backfilled_event_counts_in_its_own_window(store: VelocityStore) -> None:
    for hours in (0, 1, 2, 3):
        measure(store, ev("payment", occurred_at=T0 + hours * HOUR))
    # Arrives last, happened between the first and the second payment.
    late = measure(store, ev("payment", occurred_at=T0 + 30 * MIN))
    assert late["payments_1h"] == 2  # T0 and itself, not the later ones
    assert late["payments_24h"] == 2


def test_a_replayed_event_is_not_counted_twice(store: VelocityStore) -> None:
    first = ev("message_sent", counterparty_id="b", occurred_at=T0, ip="10.0.0.1")
    measure(store, first)
    measure(store, ev("message_sent", counterparty_id="c", occurred_at=T0 + MIN))
    again = measure(store, first)
    later = measure(store, ev("login", occurred_at=T0 + 2 * MIN))
    assert again["messages_1h"] == 1  # only events at or before its own time, itself once
    assert later["messages_1h"] == 2
    assert later["account_events_1h"] == 3
    assert again["ip_events_1h"] == 1


def test_distinct_counts(store: VelocityStore) -> None:
    for i, (who, device) in enumerate([("a", "d1"), ("b", "d1"), ("a", "d1"), ("c", "d1")]):
        got = measure(
            store, ev("login", account_id=who, device_id=device, occurred_at=T0 + i * MIN)
        )
    assert got["accounts_on_device_24h"] == 3
    assert got["accounts_on_device_7d"] == 3
    # A week and a minute later only the newcomer is in either window.
    got = measure(
        store, ev("login", account_id="d", device_id="d1", occurred_at=T0 + 7 * DAY + 2 * MIN)
    )
    assert (got["accounts_on_device_24h"], got["accounts_on_device_7d"]) == (1, 2)


def test_distinct_counterparties_messaged(store: VelocityStore) -> None:
    for i, cp in enumerate(["b", "c", "b", "d", "c"]):
        got = measure(store, ev("message_sent", counterparty_id=cp, occurred_at=T0 + i * 20 * MIN))
    assert got["distinct_counterparties_24h"] == 3
    assert got["distinct_counterparties_1h"] == 3  # b at 40 min, d at 60, c at 80
    assert got["messages_1h"] == 3
    # Messages received by someone else do not count for this account.
    other = measure(
        store, ev("message_sent", account_id="x", counterparty_id="b", occurred_at=T0 + 90 * MIN)
    )
    assert other["distinct_counterparties_24h"] == 1


def test_shared_identifiers_across_accounts(store: VelocityStore) -> None:
    for i in range(4):
        got = measure(
            store,
            ev(
                "signup",
                account_id=f"new-{i}",
                ip="203.0.113.9",
                payment_fingerprint="card-1",
                occurred_at=T0 + i * MIN,
            ),
        )
    assert got["ip_accounts_1h"] == got["ip_signups_1h"] == got["ip_events_1h"] == 4
    assert got["accounts_on_payment_7d"] == 4
    assert got["payment_uses_24h"] == 4
    assert got["distinct_payments_7d"] == 1  # this account used one card


def test_reviews_and_reports_aimed_at_a_counterparty(store: VelocityStore) -> None:
    for i in range(3):
        got = measure(
            store,
            ev(
                "review_posted",
                account_id=f"r{i}",
                counterparty_id="pro",
                occurred_at=T0 + i * 10 * MIN,
            ),
        )
    assert got["reviews_1h_for_counterparty"] == 3
    assert got["reviewers_24h_for_counterparty"] == 3
    measure(
        store, ev("report_filed", account_id="r0", counterparty_id="pro", occurred_at=T0 + 40 * MIN)
    )
    measure(
        store, ev("report_filed", account_id="r0", counterparty_id="pro", occurred_at=T0 + 41 * MIN)
    )
    # The reported account's own next event sees the reports against it.
    own = measure(store, ev("login", account_id="pro", occurred_at=T0 + 50 * MIN))
    assert own["reports_7d_against_account"] == 2
    assert own["reporters_7d_against_account"] == 1
    assert own["reviews_1h_for_counterparty"] == 0  # a login has no counterparty


def test_first_message_per_counterparty(store: VelocityStore) -> None:
    first = ev("message_sent", counterparty_id="b", occurred_at=T0 + HOUR)
    assert measure(store, first)["is_first_message"] is True
    assert (
        measure(store, ev("message_sent", counterparty_id="b", occurred_at=T0 + 2 * HOUR))[
            "is_first_message"
        ]
        is False
    )
    assert (
        measure(store, ev("message_sent", counterparty_id="c", occurred_at=T0 + 3 * HOUR))[
            "is_first_message"
        ]
        is True
    )
    # A replay of the first message is still the first message.
    assert measure(store, first)["is_first_message"] is True
    # A message that happened earlier but arrives late is the real first one.
    assert (
        measure(store, ev("message_sent", counterparty_id="b", occurred_at=T0))["is_first_message"]
        is True
    )
    # Other event types are never first messages.
    assert measure(store, ev("login", occurred_at=T0 + 4 * HOUR))["is_first_message"] is False


def test_new_device_and_ip(store: VelocityStore) -> None:
    got = measure(store, ev("login", device_id="d1", ip="10.0.0.1", occurred_at=T0))
    assert (got["is_new_device"], got["is_new_ip"]) == (True, True)
    got = measure(store, ev("login", device_id="d1", ip="10.0.0.2", occurred_at=T0 + MIN))
    assert (got["is_new_device"], got["is_new_ip"]) == (False, True)
    got = measure(store, ev("login", occurred_at=T0 + 2 * MIN))
    assert (got["is_new_device"], got["is_new_ip"]) == (False, False)
    assert got["distinct_ips_24h"] == 2


def test_every_velocity_feature_has_a_value_even_without_identifiers(store: VelocityStore) -> None:
    got = measure(store, ev("document_uploaded"))
    expected = {w.feature for w in velocity.WINDOWS} | {f.feature for f in velocity.FIRSTS}
    assert set(got) == expected
    assert got["accounts_on_device_7d"] == got["ip_accounts_24h"] == 0


# --- the two stores agree ------------------------------------------------------------------


def generated_events(n: int, seed: int) -> list[Ev]:
    """A marketplace in miniature: a few busy accounts sharing devices, IPs and cards,
    messaging and reviewing each other over ten days, some events late, some replayed."""
    rng = random.Random(seed)
    accounts = [f"acct-{i}" for i in range(40)]
    devices = [f"dev-{i}" for i in range(12)]
    ips = [f"198.51.100.{i}" for i in range(15)]
    cards = [f"card-{i}" for i in range(8)]
    types = (
        ["message_sent"] * 6
        + ["login"] * 3
        + [
            "signup",
            "payment",
            "payout_request",
            "review_posted",
            "report_filed",
            "proposal_sent",
            "listing_created",
            "profile_update",
            "job_posted",
            "contract_started",
            "document_uploaded",
        ]
    )
    out: list[Ev] = []
    at = T0
    for i in range(n):
        at += timedelta(seconds=rng.expovariate(1 / 290))  # ~3,000 events over ~10 days
        if out and rng.random() < 0.03:
            out.append(rng.choice(out))  # a replay
            continue
        when = at - timedelta(minutes=rng.randint(1, 180)) if rng.random() < 0.05 else at
        kind = rng.choice(types)
        who = rng.choice(accounts)
        out.append(
            Ev(
                event_id=f"g-{i}",
                type=kind,
                account_id=who,
                occurred_at=when,
                ip=rng.choice(ips) if rng.random() < 0.8 else None,
                device_id=rng.choice(devices) if rng.random() < 0.7 else None,
                payment_fingerprint=rng.choice(cards)
                if kind in ("payment", "payout_request", "signup")
                else None,
                counterparty_id=rng.choice([a for a in accounts if a != who])
                if kind in ("message_sent", "review_posted", "report_filed", "payment")
                else None,
            )
        )
    return out


@pytest.mark.parametrize("cap", [DEFAULT_CAP, 12])
def test_memory_and_redis_give_the_same_answers(
    memory_store: MemoryStore, redis_store: RedisStore, cap: int
) -> None:
    """A seeded sequence of 3,000 events (late ones and replays among them) gets the same
    answers, feature by feature, from both stores; a tiny cap also exercises eviction."""
    memory_store.cap = redis_store.cap = cap
    events = generated_events(3000, seed=4)
    mismatches = []
    nonzero: set[str] = set()
    for event in events:
        a = measure(memory_store, event)
        b = measure(redis_store, event)
        if a != b:
            mismatches.append((event.event_id, {k: (a[k], b[k]) for k in a if a[k] != b[k]}))
        nonzero |= {k for k, v in a.items() if v}
    assert mismatches[:5] == []
    # The sequence exercises every feature (none is trivially 0 on both sides).
    assert nonzero == set(a)
