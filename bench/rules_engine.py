"""Benchmark the rules engine alone: 200 rules over 100,000 events, one native call per event
against one CEL call per rule.

Rules and events are generated in-process from a seed, over the real feature registry (every
declared feature, with its type): each rule is one to three clauses over features, the
account and the event's text, like the shipped ruleset. All 200 rules apply to one event
type, so every event runs all of them. No database is involved.

Rows of the table:

- ``engine.run``: what ingestion pays per event — flatten the nested activation into CEL's
  typed variables, then one native call evaluating the list of 200 rules.
- ``list call only``: the native call alone, on an activation flattened beforehand.
- ``one call per rule``: the baseline — the same 200 rules compiled one by one, evaluated with
  one call each on an ``Activation`` built once per event (the cheapest way to do it rule by
  rule with cel-expr-python).
- ``one call per rule, data=``: the naive baseline, where each call converts the activation
  again; run on a sample of events only (it is slow).

Latency is measured per event (``perf_counter_ns`` around the evaluation only; generating
and flattening the event is not timed for the last three rows). Each event is evaluated every
way in turn, so a busy machine slows every row alike. events/s is events divided by the
summed evaluation time; the ratio column is the baseline's p50 over the row's p50. The first
2,000 events also check that the list and the per-rule evaluation fire the same rules.

    .venv/bin/python bench/rules_engine.py                      # 200 rules, 100,000 events
    .venv/bin/python bench/rules_engine.py --rules 50 --events 20000 --seed 7
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from vigil.detection.rules import compiler
from vigil.detection.rules.engine import Engine, LiveRule

WORDS = [
    "hello",
    "thanks",
    "project",
    "deadline",
    "invoice",
    "design",
    "logo",
    "website",
    "paypal",
    "whatsapp",
    "telegram",
    "zelle",
    "venmo",
    "deposit",
    "urgent",
    "bank",
    "transfer",
    "gift",
    "card",
    "crypto",
    "wallet",
    "review",
    "stars",
    "refund",
    "meeting",
    "call",
    "email",
    "phone",
    "number",
    "contract",
    "milestone",
    "budget",
    "quote",
]
SIDES = ("client", "freelancer", "customer", "pro")
COUNTRIES = ("US", "GB", "BR", "ES", "MX", "IN", "NG", "DE")


@dataclass
class Row:
    name: str
    events: int
    total_ns: int
    p50_us: float
    p99_us: float

    @property
    def per_second(self) -> float:
        return self.events / (self.total_ns / 1e9) if self.total_ns else 0.0


def make_rules(n: int, schema: compiler.Schema, rng: random.Random) -> list[LiveRule]:
    """``n`` rules of one to three clauses over the declared variables, each type-checked."""
    kinds = schema.kinds
    ints = [k for k, v in kinds.items() if v == "int" and k.startswith("features.")]
    doubles = [k for k, v in kinds.items() if v == "double" and k.startswith("features.")]
    bools = [k for k, v in kinds.items() if v == "bool" and k.startswith("features.")]
    lists = [k for k, v in kinds.items() if v == "list_string" and k.startswith("features.")]

    def clause() -> str:
        pick = rng.random()
        if pick < 0.45 and ints:
            return f"{rng.choice(ints)} {rng.choice(['>', '>='])} {rng.randint(5, 40)}"
        if pick < 0.6 and doubles:
            return f"{rng.choice(doubles)} >= {rng.choice([0.5, 0.7, 0.8, 0.9, 0.95])}"
        if pick < 0.72 and bools:
            return rng.choice(bools)
        if pick < 0.8 and lists:
            return f'"{rng.choice(WORDS)}" in {rng.choice(lists)}'
        if pick < 0.9:
            return f"account.age_days < {rng.randint(1, 30)}"
        if pick < 0.95:
            return f'event.text.contains("{rng.choice(WORDS)}")'
        return f'account.country == "{rng.choice(COUNTRIES)}"'

    out = []
    while len(out) < n:
        expression = " && ".join(clause() for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.15:
            expression = f"({expression}) || {clause()}"
        compiled, problems = compiler.check(expression, schema)
        if compiled is None:
            raise SystemExit(f"generated rule does not compile: {expression}: {problems}")
        i = len(out)
        out.append(
            LiveRule(
                rule_id=i + 1,
                version=1,
                name=f"rule_{i:03d}",
                description=f"rule {i}",
                expression=expression,
                score=float(rng.choice([10, 20, 30, 60])),
                outcome="allow",
                policy_code=None,
                queue=None,
                event_types=("message_sent",),
                shadow=rng.random() < 0.1,
            )
        )
    return out


def make_activation(schema: compiler.Schema, rng: random.Random, i: int) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for name, kind in schema.variables:
        if not name.startswith("features."):
            continue
        key = name.removeprefix("features.")
        if kind == "int":
            features[key] = int(rng.expovariate(1 / 3))
        elif kind == "double":
            features[key] = rng.random() ** 3
        elif kind == "bool":
            features[key] = rng.random() < 0.1
        elif kind == "list_string":
            features[key] = rng.sample(WORDS, rng.randint(0, 2))
        else:
            features[key] = rng.choice(WORDS)
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 25)))
    return {
        "event": {
            "event_id": f"evt-{i}",
            "type": "message_sent",
            "account_id": f"acct-{rng.randint(1, 5000)}",
            "occurred_at": "2026-11-21T09:00:00+00:00",
            "ip": f"10.0.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
            "device_id": f"dev-{rng.randint(1, 3000)}",
            "counterparty_id": f"acct-{rng.randint(1, 5000)}",
            "data": {"text": text, "conversation_id": f"c-{i}", "attachments": 0},
        },
        "account": {
            "side": rng.choice(SIDES),
            "country": rng.choice(COUNTRIES),
            "status": "active",
            "locale": "en",
            "age_days": int(rng.expovariate(1 / 60)),
        },
        "features": features,
    }


def summarise(name: str, timings: list[int]) -> Row:
    timings = sorted(timings)
    return Row(
        name=name,
        events=len(timings),
        total_ns=sum(timings),
        p50_us=statistics.median(timings) / 1000,
        p99_us=timings[min(len(timings) - 1, int(len(timings) * 0.99))] / 1000,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--naive-events", type=int, default=300, help="events for the data= baseline"
    )
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args(argv)

    schema = compiler.current_schema()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    rules = make_rules(args.rules, schema, rng)
    engine = Engine("message_sent", rules, schema=schema)
    built = time.perf_counter() - started
    env = compiler.environment(schema)
    programs = engine.programs

    def per_rule(flat: dict[str, Any]) -> list[bool]:
        activation = env.Activation(flat)
        return [p.eval(activation).plain_value() is True for p in programs]

    def per_rule_naive(flat: dict[str, Any]) -> list[bool]:
        return [p.eval(data=flat).plain_value() is True for p in programs]

    # Each event is evaluated every way in turn, so a busy machine slows all of them alike.
    names = [
        "engine.run (flatten + 1 call)",
        "list call only",
        "one call per rule (baseline)",
        "one call per rule, data=",
    ]
    timings: list[list[int]] = [[], [], [], []]
    now = time.perf_counter_ns
    checked = fired = 0
    for i in range(args.events):
        act = make_activation(schema, rng, i)
        t0 = now()
        engine.run(act)
        t1 = now()
        flat = compiler.flatten(act, schema, engine.needed)
        t2 = now()
        listed = engine.run_flat(flat)
        t3 = now()
        one_by_one = per_rule(flat)
        t4 = now()
        timings[0].append(t1 - t0)
        timings[1].append(t3 - t2)
        timings[2].append(t4 - t3)
        if i < args.naive_events:
            t5 = now()
            per_rule_naive(flat)
            timings[3].append(now() - t5)
        if i < 2_000:  # same answers both ways (a hit is a hit, shadow or not)
            names_listed = {h.name for h in listed.hits}
            names_each = {engine.rules[j].name for j, f in enumerate(one_by_one) if f}
            if names_listed != names_each:
                print(f"MISMATCH on event {i}: {sorted(names_listed ^ names_each)}")
                return 1
            fired += len(names_listed)
            checked += 1
    rows = [summarise(n, t) for n, t in zip(names, timings, strict=True)]
    baseline = rows[2]

    print(
        f"rules engine: {len(rules)} rules ({sum(r.shadow for r in rules)} shadow) over "
        f"{args.events:,} events, {len(schema.variables)} typed variables, seed {args.seed}"
    )
    print(
        f"compiled in {built * 1000:.0f} ms; list and per-rule agree on {checked:,} events "
        f"({fired / max(checked, 1):.1f} hits per event)\n"
    )
    header = (
        f"| {'method':<32} | {'events':>8} | {'events/s':>9} | {'p50 µs':>8} | "
        f"{'p99 µs':>8} | {'x baseline p50':>16} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|")
    for row in rows:
        ratio = baseline.p50_us / row.p50_us if row.p50_us else 0.0
        print(
            f"| {row.name:<32} | {row.events:>8,} | {row.per_second:>9,.0f} | "
            f"{row.p50_us:>8.1f} | {row.p99_us:>8.1f} | {ratio:>15.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
