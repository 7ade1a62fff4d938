"""The default ruleset against the simulator's ground truth.

Simulates a marketplace (``vigil.simulate``: accounts with labelled bad actors, and their
events), builds a fresh database for it (SQLite in a temporary folder, or a scratch
PostgreSQL database with ``--pg-url``), loads the policy pack, the default queues and the
default ruleset (what ``vigil policies load``, ``vigil queues bootstrap`` and ``vigil rules
load`` do), then decides every event through the real pipeline
(``vigil.detection.service.ingest``, on the clock of the event) and scores what fired.

Printed tables:

1. **Rules**: per rule, the events and accounts it fired on, and at account level its
   precision against "is a bad actor" (any kind), its precision and recall for its own policy
   (the account's ground truth lists that policy), and at event level how many of its hits were
   events the simulator marked as evidence for that policy. Shadow rules are listed too
   (marked): they are evaluated and recorded, and decide nothing.
2. **Policies**: per policy, the union of its live rules, and the cases the pipeline opened.
3. **Actors**: per kind of account, how many were flagged by any live rule, and how many were
   put in front of a person (review) or acted on (block).
4. **Ingestion**: events/s and per-event latency of the pipeline.

Ground truth: each account's kind (benign, fraud_ring, scammer, off_platform,
duplicate_identity, fake_reviewer, harasser) and the policies that kind breaks
(``vigil.simulate.events.ACCOUNT_POLICIES``); each event's own evidence. See
``docs/simulator.md``.

    .venv/bin/python eval/simulator_rules.py                       # 1,000 accounts, 14 days, mixed
    .venv/bin/python eval/simulator_rules.py --accounts 400 --days 7 --seed 3
    .venv/bin/python eval/simulator_rules.py --pg-url postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import create_engine, text

from vigil.auth.principal import Principal
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.detection.rules import engine as rules_engine
from vigil.detection.rules import pack as rules_pack
from vigil.kit import clock
from vigil.migrate import upgrade
from vigil.policies import pack as policy_pack
from vigil.simulate.events import ACTORS, EventStream, SimEvent, generate
from vigil.simulate.feed import ingest_stream
from vigil.simulate.generator import MARKETPLACE_CHOICES, make_plan

SETUP = Principal.system("eval")


@dataclass
class RuleTally:
    name: str
    policy: str | None
    shadow: bool
    events: int = 0
    evidence: int = 0  # hit events the simulator marked as evidence of this rule's policy
    accounts: set[str] = field(default_factory=set)


@dataclass
class Tally:
    rules: dict[str, RuleTally] = field(default_factory=dict)
    # account -> policies of the cases the pipeline opened (review or block) about it
    cased: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    reviewed: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    errors: Counter[str] = field(default_factory=Counter)
    # what the evidence is ("off-platform request in an early message (spelled_phone)") ->
    # [events, caught by a live rule of its policy, caught by any live rule]
    evidence: dict[str, list[int]] = field(default_factory=dict)
    # benign events with text that a live rule fired on: rule -> count
    benign_text_hits: Counter[str] = field(default_factory=Counter)

    def __call__(self, e: SimEvent, result: Any) -> None:
        account = e.envelope["account_id"]
        for hit in result.hits:
            rule = self.rules.get(hit["name"])
            if rule is None:  # a rule the setup did not list (added while running)
                rule = self.rules[hit["name"]] = RuleTally(
                    hit["name"], hit.get("policy_code"), bool(hit.get("shadow"))
                )
            rule.events += 1
            rule.accounts.add(account)
            if rule.policy and e.label.policy_code == rule.policy:
                rule.evidence += 1
            if not hit.get("shadow") and result.outcome in ("review", "block"):
                self.cased[account].add(hit.get("policy_code") or "-")
        live = [h for h in result.hits if not h.get("shadow")]
        if e.label.policy_code:
            row = self.evidence.setdefault(e.label.what or e.label.policy_code, [0, 0, 0])
            row[0] += 1
            row[1] += any(h.get("policy_code") == e.label.policy_code for h in live)
            row[2] += bool(live)
        elif e.label.actor == "benign" and e.envelope["data"].get("text"):
            for h in live:
                self.benign_text_hits[h["name"]] += 1
        if result.outcome == "review":
            self.reviewed.add(account)
        elif result.outcome == "block":
            self.blocked.add(account)
        for error in result.errors:
            # A rule that failed (its name), or a decision step that did not go through (its
            # code, and what refused it).
            key = str(error.get("name") or error.get("code"))
            if error.get("refused"):
                message = re.sub(r"\d+", "N", str(error.get("message", "")))
                key += f" ({error['refused']}: {message[:90]})"
            self.errors[key] += 1


def ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "-"


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    """Text columns left, numbers right."""
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [
        all(re.fullmatch(r"[-\d.() ]*", r[i]) for r in cells[1:]) for i in range(len(header))
    ]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if numeric[i] else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


# --- the database ----------------------------------------------------------------------------


@contextmanager
def scratch_database(pg_url: str | None, folder: Path) -> Iterator[str]:
    if not pg_url:
        yield f"sqlite:///{folder / 'vigil.db'}"
        return
    name = f"vigil_eval_{os.getpid()}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(settings: Settings, start: Any) -> dict[str, RuleTally]:
    """Schema, policies, queues and the default ruleset, as an operator would load them."""
    engine = make_engine(settings)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as session, clock.frozen(start):
        policy_pack.load_pack(session, SETUP, None)
        ensure_default_queues(session, SETUP)
        rules_pack.load_pack(session, SETUP, None)
    with transaction(factory) as session:
        live = rules_engine.live_rules(session)
    engine.dispose()
    return {r.name: RuleTally(r.name, r.policy_code, r.shadow) for r in live}


# --- scoring ---------------------------------------------------------------------------------


def report(stream: EventStream, tally: Tally) -> None:
    truth = stream.accounts
    bad = {a for a, t in truth.items() if t.bad}
    holders: dict[str, set[str]] = defaultdict(set)  # policy -> accounts that break it
    for a, t in truth.items():
        for p in t.policies:
            holders[p].add(a)

    rows = []
    for rule in sorted(tally.rules.values(), key=lambda r: (r.policy or "~", r.shadow, r.name)):
        flagged = rule.accounts
        right = {a for a in flagged if rule.policy in truth[a].policies}
        rows.append(
            [
                rule.name + (" (shadow)" if rule.shadow else ""),
                rule.policy or "-",
                rule.events,
                len(flagged),
                ratio(len(flagged & bad), len(flagged)),
                ratio(len(right), len(flagged)),
                ratio(len(right), len(holders.get(rule.policy or "", ()))),
                ratio(rule.evidence, rule.events),
            ]
        )
    table(
        "Rules (account level unless said; 'policy' = the account's ground truth lists the "
        "rule's policy)",
        [
            "rule",
            "policy",
            "events",
            "accounts",
            "prec(bad)",
            "prec(policy)",
            "recall(policy)",
            "evidence/event",
        ],
        rows,
    )

    live = [r for r in tally.rules.values() if not r.shadow]
    rows = []
    for policy in sorted(holders | {r.policy: set() for r in live if r.policy}):
        flagged = set().union(*(r.accounts for r in live if r.policy == policy))
        cased = {a for a, ps in tally.cased.items() if policy in ps}
        want = holders.get(policy, set())
        rows.append(
            [
                policy,
                len(want),
                len(flagged),
                ratio(len(flagged & want), len(flagged)),
                ratio(len(flagged & want), len(want)),
                len(cased),
                ratio(len(cased & want), len(cased)),
                ratio(len(cased & want), len(want)),
            ]
        )
    table(
        "Policies (live rules only; 'cased' = an event about the account ended in review or "
        "block with a hit of this policy)",
        [
            "policy",
            "accounts",
            "flagged",
            "precision",
            "recall",
            "cased",
            "case prec",
            "case recall",
        ],
        rows,
    )

    flagged_any = set().union(*(r.accounts for r in live)) if live else set()
    acted = tally.reviewed | tally.blocked
    rows = []
    for actor in ACTORS:
        group = {a for a, t in truth.items() if t.actor == actor}
        if not group:
            continue
        top = Counter(r.name for r in live for a in r.accounts if a in group).most_common(3)
        rows.append(
            [
                actor,
                len(group),
                f"{len(group & flagged_any)} ({ratio(len(group & flagged_any), len(group))})",
                f"{len(group & acted)} ({ratio(len(group & acted), len(group))})",
                len(group & tally.blocked),
                ", ".join(f"{n} {c}" for n, c in top) or "-",
            ]
        )
    table(
        "Actors (flagged: any live rule fired on one of its events; acted: review or block)",
        ["kind", "accounts", "flagged", "acted", "blocked", "top rules (accounts)"],
        rows,
    )
    rows = [
        [what, n, f"{right} ({ratio(right, n)})", f"{anyone} ({ratio(anyone, n)})"]
        for what, (n, right, anyone) in sorted(tally.evidence.items(), key=lambda kv: -kv[1][0])
    ]
    table(
        "Evidence events, by what they are (caught: a live rule fired on that very event)",
        ["evidence", "events", "by its policy", "by any rule"],
        rows,
    )
    if tally.benign_text_hits:
        print(
            "live rules firing on benign accounts' texts (hard negatives): "
            + ", ".join(f"{k} {v}" for k, v in tally.benign_text_hits.most_common())
        )
    good = set(truth) - bad
    print(
        f"\nOverall, accounts acted on (review or block): precision "
        f"{ratio(len(acted & bad), len(acted))}, recall {ratio(len(acted & bad), len(bad))}, "
        f"benign accounts acted on {len(acted & good)} of {len(good)} "
        f"({ratio(len(acted & good), len(good))})"
    )
    if tally.errors:
        print("errors while deciding:")
        for key, n in tally.errors.most_common(5):
            print(f"  {n} x {key}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    # Mixed: freelance, local services (where pros share a phone number for a paid visit, an
    # allowed case a rule must not act on) and courses.
    parser.add_argument("--marketplace", choices=MARKETPLACE_CHOICES, default="mixed")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("VIGIL_EVAL_PG_URL"),
        help="Run on a scratch PostgreSQL database created through this URL (default SQLite).",
    )
    parser.add_argument("--redis-url", default=None, help="Velocity counters in Redis.")
    args = parser.parse_args(argv)

    plan = make_plan(
        args.seed, args.accounts, args.days, clock.now(), args.marketplace, with_cases=False
    )
    stream = generate(plan)
    print("\n".join(stream.lines()))
    with tempfile.TemporaryDirectory(prefix="vigil-eval-") as tmp:
        folder = Path(tmp)
        with scratch_database(args.pg_url, folder) as url:
            settings = Settings(
                database_url=url,
                data_dir=folder / "data",
                redis_url=args.redis_url,
                serve_worker=False,
                secret_key=SecretStr("eval-secret-key-not-for-production"),
            )
            rules = prepare(settings, plan.start)
            print(
                f"ruleset: {sum(not r.shadow for r in rules.values())} live rules, "
                f"{sum(r.shadow for r in rules.values())} in shadow"
            )
            tally = Tally(rules=rules)
            engine = make_engine(settings)
            started = time.perf_counter()

            def progress(done: int, total: int) -> None:
                if done == total or done % 5000 < 500:
                    rate = done / (time.perf_counter() - started)
                    print(f"  {done}/{total} events ({rate:.0f}/s)", file=sys.stderr)

            summary = ingest_stream(
                make_sessionmaker(engine),
                settings,
                stream,
                plan,
                progress=progress,
                on_result=tally,
            )
            engine.dispose()
    report(stream, tally)
    lat = sorted(summary.latencies)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0
    table(
        "Ingestion (direct, one transaction per 500 events; latency = one ingest() call)",
        ["backend", "events", "events/s", "p50 ms", "p99 ms", "cases", "decisions"],
        [
            [
                "postgresql" if args.pg_url else "sqlite",
                summary.events,
                f"{summary.per_second:.0f}",
                f"{statistics.median(lat) * 1000:.1f}" if lat else "-",
                f"{p99 * 1000:.1f}",
                len(summary.cases),
                summary.decisions,
            ]
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
