"""Benchmark feature computation: the time ``features.compute`` adds to every event.

A scratch SQLite database (migrated) holds accounts that share devices and cards, some of
them banned, so linked-account queries find links. A seeded stream of events (messages
with text, logins, payments, reviews...) over a few simulated days is then computed once
per store, each event timed alone:

- ``compute`` end to end, per store (MemoryStore, RedisStore);
- its parts on the same events: velocity alone (one store call), linked accounts (one
  query group), text (contact scan + two classifiers, on events with text);
- the baseline for the Lua script: the same velocity writes and reads sent to Redis one
  command per round trip, as a client without the script would.

    .venv/bin/python bench/features.py                     # 5,000 events
    .venv/bin/python bench/features.py --events 20000 --redis-url redis://127.0.0.1:6379/0

Columns: wall-clock p50 and p99 per event, this process's CPU per event (steadier than
wall time on a shared machine; for Redis it leaves out the server's share) and events/s
one after another. Redis rows are left out, with the reason, when no Redis answers.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from vigil.accounts.models import Account, AccountStatus, Identifier, IdentifierKind, Side
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.detection.events import TEXT_TYPES, EventIn
from vigil.detection.features import compute, velocity
from vigil.detection.features.inputs import gather_links, gather_text
from vigil.detection.features.store import (
    Count,
    MemoryStore,
    RedisStore,
    Score,
    VelocityStore,
)
from vigil.migrate import upgrade

T0 = datetime(2026, 11, 1, tzinfo=UTC)
BASELINE = "  velocity, redis one command per call (baseline)"
TEXTS = [
    "Hi! I can start on Monday, the budget works for me.",
    "Thanks, the logo looks great. Could you send the source files?",
    "Can we talk on whatsapp? my number is 415 555 0134",
    "Pay me directly via venmo and I'll give you a discount",
    "email me at jane dot doe at gmail dot com to skip the fees",
    "Great work, fast delivery, would hire again.",
    "You are an idiot and I will find you",
    "Congratulations! You won a $500 gift card, click http://bit.ly/xyz to claim",
]
TYPES = (
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
        "job_posted",
    ]
)


def seed(session: Session, n_accounts: int, rng: random.Random) -> list[Account]:
    accounts = [
        Account(
            external_id=f"bench-{i}",
            side=Side.freelancer if i % 2 else Side.client,
            status=AccountStatus.suspended if rng.random() < 0.03 else AccountStatus.active,
            registered_at=T0 - timedelta(days=rng.randint(0, 400)),
        )
        for i in range(n_accounts)
    ]
    session.add_all(accounts)
    session.flush()
    # Rings: groups of 2-6 accounts sharing a device and a card.
    for ring in range(n_accounts // 20):
        members = rng.sample(accounts, rng.randint(2, 6))
        for account in members:
            session.add(
                Identifier(
                    account_id=account.id, kind=IdentifierKind.device, value=f"ring-device-{ring}"
                )
            )
            session.add(
                Identifier(
                    account_id=account.id, kind=IdentifierKind.payment, value=f"ring-card-{ring}"
                )
            )
    for account in accounts:
        session.add(
            Identifier(
                account_id=account.id, kind=IdentifierKind.device, value=f"own-device-{account.id}"
            )
        )
    session.flush()
    return accounts


def stream(n: int, accounts: list[Account], rng: random.Random) -> list[tuple[EventIn, Account]]:
    out = []
    at = T0
    for i in range(n):
        at += timedelta(seconds=rng.expovariate(1 / 30))
        kind = rng.choice(TYPES)
        account = rng.choice(accounts)
        other = rng.choice(accounts)
        event = EventIn(
            event_id=f"bench-{i}",
            type=kind,
            account_id=account.external_id,
            occurred_at=at,
            ip=f"198.51.{rng.randint(0, 3)}.{rng.randint(1, 60)}",
            device_id=f"own-device-{account.id}"
            if rng.random() < 0.8
            else f"d-{rng.randint(1, 50)}",
            payment_fingerprint=f"card-{rng.randint(1, 200)}"
            if kind in ("payment", "payout_request")
            else None,
            counterparty_id=other.external_id
            if kind in ("message_sent", "review_posted", "report_filed", "payment")
            else None,
            data={"text": rng.choice(TEXTS)} if kind in TEXT_TYPES else {},
        )
        out.append((event, account))
    return out


class OneCommandPerCall:
    """The baseline: the velocity plan sent to Redis one command per round trip."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def apply(self, writes: Any, reads: Any) -> list[int | None]:
        c, p = self.client, self.prefix
        for w in writes:
            key = p + w.key
            c.zadd(
                key,
                {w.member: w.score},
                nx=w.mode.value == "NX",
                gt=w.mode.value == "GT",
                lt=w.mode.value == "LT",
            )
            if w.trim_before is not None:
                c.zremrangebyscore(key, "-inf", f"({w.trim_before}")
            c.pexpire(key, w.ttl_ms)
        out: list[int | None] = []
        for r in reads:
            if isinstance(r, Count):
                out.append(c.zcount(p + r.key, f"({r.low}", "+inf" if r.high is None else r.high))
            elif isinstance(r, Score):
                s = c.zscore(p + r.key, r.member)
                out.append(None if s is None else int(s))
        return out

    def close(self) -> None:
        pass


class Samples(list[float]):
    cpu_seconds: float = 0.0


def each(fn: Callable[..., Any], items: list[tuple[Any, ...]]) -> Samples:
    """Wall seconds ``fn(*item)`` took, item by item, and this process's CPU time for all
    (steadier than wall time on a loaded machine; for Redis it leaves out the server)."""
    out = Samples()
    cpu = time.process_time()
    for item in items:
        began = time.perf_counter()
        fn(*item)
        out.append(time.perf_counter() - began)
    out.cpu_seconds = time.process_time() - cpu
    return out


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return 1e6 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def row(what: str, samples: Samples) -> tuple[str, ...]:
    total = sum(samples)
    return (
        what,
        str(len(samples)),
        f"{pct(samples, 0.5):.0f}",
        f"{pct(samples, 0.99):.0f}",
        f"{1e6 * samples.cpu_seconds / len(samples):.0f}" if samples else "-",
        f"{len(samples) / total:.0f}" if total else "-",
    )


def table(rows: list[tuple[str, ...]]) -> str:
    head = ("measure", "events", "p50 µs", "p99 µs", "client CPU µs", "events/s")
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)

    rng = random.Random(7)
    redis_client: Any = None
    redis_reason = ""
    try:
        import redis

        redis_client = redis.Redis.from_url(args.redis_url, socket_connect_timeout=2)
        redis_client.ping()
    except Exception as exc:  # reported, and the Redis rows are left out
        redis_reason = f"{exc.__class__.__name__}: {exc}"
        redis_client = None

    rows: list[tuple[str, ...]] = []
    cleanups: list[Callable[[], Any]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}")
        engine = make_engine(settings)
        upgrade(engine)
        session = make_sessionmaker(engine)()
        try:
            accounts = seed(session, args.accounts, rng)
            events = stream(args.events, accounts, rng)
            print(f"  {len(accounts)} accounts, {len(events)} events; timing…", file=sys.stderr)

            stores: list[tuple[str, Callable[[], VelocityStore]]] = [("memory", MemoryStore)]
            if redis_client is not None:

                def redis_store() -> VelocityStore:
                    store = RedisStore(redis_client, prefix=f"vigil-bench:{uuid.uuid4().hex}:")
                    cleanups.append(store.delete_all)
                    return store

                stores.append(("redis", redis_store))

            for name, make in stores:
                store = make()
                items: list[tuple[Any, ...]] = [(session, settings, store, e, a) for e, a in events]
                rows.append(row(f"compute, {name} store", each(compute, items)))
            for name, make in stores:
                store = make()
                items = [(store, e, e.occurred_at) for e, _ in events]
                rows.append(row(f"  velocity alone, {name}", each(velocity.measure, items)))
            if redis_client is not None:
                prefix = f"vigil-bench:{uuid.uuid4().hex}:"
                baseline = OneCommandPerCall(redis_client, prefix)
                cleanups.append(RedisStore(redis_client, prefix=prefix).delete_all)
                items = [(baseline, e, e.occurred_at) for e, _ in events]
                rows.append(row(BASELINE, each(velocity.measure, items)))
            links = [(session, a) for _, a in events]
            rows.append(row("  linked accounts alone", each(gather_links, links)))
            texts = [(e,) for e, _ in events if e.data.get("text")]
            rows.append(row("  text alone (events with text)", each(gather_text, texts)))
        finally:
            session.close()
            engine.dispose()
            for cleanup in cleanups:
                cleanup()
    print(table(rows))
    by = {r[0]: r for r in rows}
    base, lua = by.get(BASELINE), by.get("  velocity alone, redis")
    if base and lua:
        p50, p99 = float(base[2]) / float(lua[2]), float(base[3]) / float(lua[3])
        print(
            f"\nRedis velocity, one Lua call against one command per call: {p50:.1f}x "
            f"faster at p50, {p99:.1f}x at p99"
        )
    if redis_reason:
        print(f"\nRedis rows left out: {redis_reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
