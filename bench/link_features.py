"""Benchmark linked accounts: the per-event cost of ``link_features`` and a reviewer's
``cluster_for``, on a database that already holds a marketplace.

Fill a database with the simulator first (about 2.5 minutes for 10,000 accounts), then
point the script at it:

    VIGIL_DATABASE_URL=sqlite:///var/links.db .venv/bin/vigil db upgrade
    VIGIL_DATABASE_URL=sqlite:///var/links.db .venv/bin/vigil simulate --accounts 10000 --no-cases
    .venv/bin/python bench/link_features.py --database-url sqlite:///var/links.db

Each function is called once per sampled account (after a warm-up), in one read-only
session, the way the event pipeline calls ``link_features`` inside its transaction. Rows:

- ``link_features, any account``: a uniform sample, what an average event costs;
- ``link_features, linked account``: accounts in a cluster of two or more (more index reads,
  and the banned lookup);
- ``accounts.linked_accounts (page of 50)``: the accounts service's direct-neighbour query
  that the API's ``/linked`` answers with (no crowd rule), for reference;
- ``cluster_for (max 200)``: what the API and the case page cost for a linked account.

Prints p50 and p99 in microseconds and calls per second of one thread.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.detection.links import service


def _measure(session: Session, ids: list[int], call: Callable[[Session, int], object]) -> list[int]:
    for account_id in ids[:100]:  # warm-up: statement caches, page cache
        call(session, account_id)
    out = []
    for account_id in ids:
        start = time.perf_counter_ns()
        call(session, account_id)
        out.append(time.perf_counter_ns() - start)
    return out


def _row(name: str, samples: list[int]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    per_s = 1e9 / (sum(ordered) / len(ordered))
    return f"{name:<40}{len(ordered):>7}{p50:>10.0f}{p99:>10.0f}{per_s:>10.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("VIGIL_DATABASE_URL"))
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.database_url:
        print(
            "give --database-url (or VIGIL_DATABASE_URL) of a simulated database", file=sys.stderr
        )
        return 2
    engine = make_engine(Settings(database_url=args.database_url))
    session = make_sessionmaker(engine)()
    try:
        total = session.scalar(select(func.count()).select_from(Account)) or 0
        if total < 1000:
            print(
                f"{total} accounts: fill the database first, e.g. "
                "`vigil simulate --accounts 10000 --no-cases`",
                file=sys.stderr,
            )
            return 2
        rng = random.Random(args.seed)
        all_ids = list(session.scalars(select(Account.id).order_by(Account.id)))
        anyone = rng.sample(all_ids, min(args.samples, len(all_ids)))
        stats = service.graph_stats(session, top=0)
        linked = [
            i
            for i in rng.sample(all_ids, len(all_ids))
            if service.link_features(session, i).linked_accounts
        ][: args.samples]
        # Each sampled account once; the session is read-only, so nothing accumulates.
        results = [
            ("link_features, any account", _measure(session, anyone, service.link_features)),
            ("link_features, linked account", _measure(session, linked, service.link_features)),
            (
                "accounts.linked_accounts (page of 50)",
                _measure(
                    session,
                    linked,
                    lambda s, i: accounts.linked_accounts(s, s.get(Account, i)),  # type: ignore[arg-type]
                ),
            ),
            (
                "cluster_for (max 200), linked account",
                _measure(session, linked[:500], lambda s, i: service.cluster_for(s, i)),
            ),
        ]
    finally:
        session.close()
        engine.dispose()
    print(
        f"{engine.dialect.name}: {total} accounts, {stats.linked_accounts} in clusters of two "
        f"or more"
    )
    print(f"{'call':<40}{'calls':>7}{'p50 µs':>10}{'p99 µs':>10}{'calls/s':>10}")
    for name, samples in results:
        print(_row(name, samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
