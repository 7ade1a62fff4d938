"""Evaluate trend detection against injected changes: found or not, how fast, and how often it
cries wolf.

For each seed the simulator writes ``--weeks`` weeks of a marketplace twice: once as it is
(clean) and once with known changes injected (``vigil.simulate.waves``): a scam wave from a
given day and a spike of one report reason in one country, both inside the last
``--eval-days`` days. Each run goes into a scratch database by bulk insert (accounts and
events; an event counts as flagged when the ground truth calls it evidence of a violation,
with one live rule hit per policy: a perfect detector stands in for the rules, as the real
pipeline costs ~17 ms an event). Then, with the clock frozen at each simulated hour of the
evaluation period, the trend rollup and detection run as the periodic jobs would
(``rollup.run`` + ``detect.run`` hourly after one backfill over the baseline weeks) and the
clusters job every ``--cluster-every`` hours.

Reported per seed and in total:

- injected changes detected (n / N): a wave counts when an alert on the series it should move
  (its first ``moves`` entry: ``report_reason = scam`` / ``= quality``) is opened or extended
  at or after its start, before it ends plus a day; each other series it moves is listed too;
- detection delay: hours from the wave's start to the run that raised it;
- alerts per week on the clean runs, each classified by the simulator's labels (``Cause``):
  a real burst of labelled bad actors (the simulator's own scammers and fraud rings come in
  bursts; not injected, but real) or false (mostly ordinary users), listed one by one;
- the scam wave's cluster: a new text cluster whose examples carry the wave's pitch, and when.

    .venv/bin/python eval/trends.py                       # seeds 1 2, 3,000 accounts, 7 weeks
    .venv/bin/python eval/trends.py --seeds 3 --accounts 2000 --weeks 6
    .venv/bin/python eval/trends.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings
from vigil.db import make_engine
from vigil.kit import clock
from vigil.kit.models import Base
from vigil.migrate import upgrade
from vigil.simulate import waves
from vigil.simulate.events import EventStream, generate
from vigil.simulate.generator import make_plan
from vigil.simulate.plan import Plan

T = Base.metadata.tables
END = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday: whole weeks end here
HOUR = timedelta(hours=1)
CHUNK = 5000


def injections(eval_days: int) -> list[waves.Wave]:
    """The changes injected into every seed's second run (odd hours: not aligned to days)."""
    first = END - timedelta(days=eval_days)
    return [
        waves.scam_wave(first + timedelta(days=2, hours=9), days=5, per_day=5),
        waves.reason_spike(
            first + timedelta(days=eval_days - 5, hours=10),
            reason="quality",
            country="MX",
            days=2,
            per_day=40,
        ),
    ]


# --- the scratch database ------------------------------------------------------------------


@contextmanager
def scratch(database_url: str | None, name: str) -> Iterator[str]:
    if database_url is None:
        with tempfile.TemporaryDirectory(prefix="vigil-eval-trends-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'eval.db'}"
        return
    db = f"vigil_eval_trends_{name}_{os.getpid()}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield database_url.rsplit("/", 1)[0] + f"/{db}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def load(engine: Engine, plan: Plan, stream: EventStream) -> int:
    """Accounts and events by bulk insert, events in time order (ids follow time, as when
    they arrive); ``received_at`` is when they happened, so the rollup counts them then."""
    ids = {a.external_id: a.index + 1 for a in plan.accounts}
    accounts = [
        {
            "id": a.index + 1,
            "external_id": a.external_id,
            "side": a.side.value,
            "country": a.country,
            "locale": a.locale,
            "display_name": a.display_name,
            "registered_at": a.registered_at,
            "created_at": a.registered_at,
            "updated_at": a.registered_at,
            "status": "active",
            "attributes": {},
            "version": 1,
        }
        for a in plan.accounts
    ]
    with engine.begin() as conn:
        for i in range(0, len(accounts), CHUNK):
            conn.execute(insert(T["accounts"]), accounts[i : i + CHUNK])
    rows: list[dict[str, Any]] = []
    for e in stream.events:
        env, policy = e.envelope, e.label.policy_code
        hits = (
            [
                {
                    "rule_id": 0,
                    "name": f"{policy}_evidence",
                    "policy_code": policy,
                    "outcome": "review",
                    "shadow": False,
                }
            ]
            if policy
            else []
        )
        rows.append(
            {
                "event_id": env["event_id"],
                "payload_sha256": hashlib.sha1(env["event_id"].encode()).hexdigest(),
                "type": env["type"],
                "account_id": ids.get(env["account_id"]),
                "account_external_id": env["account_id"],
                "counterparty_external_id": env.get("counterparty_id"),
                "occurred_at": e.at,
                "received_at": e.at,
                "source": "simulator",
                "payload": env,
                "features": {},
                "outcome": "review" if policy else "allow",
                "score": 0.0,
                "hits": hits,
                "errors": [],
            }
        )
        if len(rows) >= CHUNK:
            with engine.begin() as conn:
                conn.execute(insert(T["events"]), rows)
            rows = []
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(T["events"]), rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for name in ("accounts", "events"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {name}))"
                    )
                )
    return len(stream.events)


# --- one run -------------------------------------------------------------------------------------


@dataclass
class Hit:
    """The first detection run that raised (opened or extended) an alert on a series."""

    at: datetime
    alert_id: int
    granularity: str


@dataclass
class Cause:
    """What the events behind an opened alert were, by the simulator's ground truth: the
    events counted in the series over the alert's window (its start to the run that opened
    it), how many are about a labelled bad actor (the event's subject: the reported account
    of a report, else the acting account), and the share of the largest single crew (a fraud
    ring's group, or one bad account on its own)."""

    events: int
    bad: int
    top_share: float
    top: str  # "scammer sim-1-000123" / "fraud_ring ring-4"
    injected: int  # events of an injected wave

    @property
    def kind(self) -> str:
        """``injected`` (mostly a wave's events), ``burst`` (mostly labelled bad actors: a
        real, unlabelled rise the simulator made on its own), or ``false`` (ordinary users)."""
        if self.events and self.injected * 2 >= self.events:
            return "injected"
        if self.events and self.bad * 2 >= self.events:
            return "burst"
        return "false"


@dataclass
class RunResult:
    seed: int
    injected: bool
    events: int
    hours: int
    seconds: float
    # (dimension, value) -> detection moments, in order
    raised: dict[tuple[str, str], list[Hit]] = field(default_factory=dict)
    opened: list[tuple[datetime, str, str, str]] = field(default_factory=list)  # at, dim, value, g
    # Per opened alert (same order as ``opened``): what the simulator's labels say it was.
    causes: list[Cause] = field(default_factory=list)
    clusters: list[tuple[datetime, str, int, bool]] = field(
        default_factory=list
    )  # at, label, n, wave


def run_once(
    seed: int, injected: bool, args: argparse.Namespace, settings_overrides: dict[str, Any]
) -> RunResult:
    from vigil.analytics.trends import detect, rollup
    from vigil.analytics.trends.models import TrendAlert

    plan = make_plan(seed, args.accounts, args.weeks * 7, END, "mixed", with_cases=False)
    if injected:
        waves.apply(plan, injections(args.eval_days))
    stream = generate(plan)
    truth = _truth(plan, stream)
    name = f"{seed}_{'w' if injected else 'c'}"
    began = time.perf_counter()
    with scratch(args.database_url, name) as url:
        settings = Settings(database_url=url, trend_notify=False, **settings_overrides)
        engine = make_engine(settings)
        try:
            upgrade(engine)
            n = load(engine, plan, stream)
            factory = sessionmaker(engine, expire_on_commit=False)
            result = RunResult(seed, injected, n, 0, 0.0)
            start = END - timedelta(days=args.eval_days)
            with factory() as session, clock.frozen(start):
                rollup.run(session, now=start)  # the baseline weeks, in one backfill
                session.commit()
            t = start
            while t <= END:
                with factory() as session, clock.frozen(t):
                    rollup.run(session, now=t)
                    found = detect.run(session, now=t, settings=settings)
                    session.commit()
                    for alert_id in [*found.opened, *found.updated]:
                        alert = session.get(TrendAlert, alert_id)
                        assert alert is not None
                        series = (str(alert.dimension), alert.value)
                        result.raised.setdefault(series, []).append(
                            Hit(t, alert_id, str(alert.granularity))
                        )
                        if alert_id in found.opened:
                            result.opened.append((t, series[0], series[1], str(alert.granularity)))
                            result.causes.append(_cause(session, alert, t, truth))
                    if (
                        args.cluster_every
                        and (t - start) % (args.cluster_every * HOUR) == timedelta()
                    ):
                        _clusters(session, settings, t, result)
                result.hours += 1
                t += HOUR
            result.seconds = time.perf_counter() - began
            return result
        finally:
            engine.dispose()


@dataclass
class Truth:
    bad: dict[str, str]  # external account id -> "label group" of a non-benign account
    subject: dict[str, str | None]  # event id -> the subject's external account id
    injected: set[str]  # event ids of injected waves


def _truth(plan: Plan, stream: EventStream) -> Truth:
    bad = {
        a.external_id: f"{a.label.value} {a.group_key or a.external_id}"
        for a in plan.accounts
        if a.label.value != "benign"
    }
    subject: dict[str, str | None] = {}
    injected: set[str] = set()
    for e in stream.events:
        env = e.envelope
        who = env.get("counterparty_id") if env["type"] == "report_filed" else env["account_id"]
        subject[env["event_id"]] = who
        if waves.wave_of(e.label.what):
            injected.add(env["event_id"])
    return Truth(bad, subject, injected)


def _cause(session: Session, alert: Any, t: datetime, truth: Truth) -> Cause:
    from sqlalchemy import select

    from vigil.analytics.sql import dialect_of
    from vigil.analytics.trends import rollup
    from vigil.detection.models import Event

    m = rollup.members(
        dialect_of(session), alert.dimension, rollup.in_window(alert.started_at, t)
    ).subquery("m")
    ids = session.scalars(
        select(Event.event_id).join(m, m.c.event_id == Event.id).where(m.c.value == alert.value)
    ).all()
    crews: Counter[str] = Counter()
    bad = injected = 0
    for event_id in ids:
        injected += event_id in truth.injected
        crew = truth.bad.get(truth.subject.get(event_id) or "")
        if crew is not None:
            bad += 1
            crews[crew] += 1
    top, n = crews.most_common(1)[0] if crews else ("-", 0)
    return Cause(len(ids), bad, n / len(ids) if ids else 0.0, top, injected)


def _clusters(session: Session, settings: Settings, t: datetime, result: RunResult) -> None:
    try:
        from vigil.analytics.clusters import service as clusters
        from vigil.analytics.clusters.models import TextCluster
    except ImportError:
        return
    found = clusters.detect(session, settings, now=t)
    session.commit()
    for cluster_id in found.created:
        c = session.get(TextCluster, cluster_id)
        assert c is not None
        texts = " ".join(str(x.get("text", "")) for x in c.examples)
        wave = any(w in texts for w in ("escrow", "garantía", "garantia"))
        result.clusters.append((t, c.label, c.accounts, wave))


# --- scoring -------------------------------------------------------------------------------------


@dataclass
class WaveScore:
    wave: waves.Wave
    seed: int
    delays: dict[tuple[str, str], float | None]  # per series it moves: hours, None = missed
    cluster_delay: float | None = None

    @property
    def detected(self) -> bool:
        return self.delays[self.wave.moves[0]] is not None


def score(run: RunResult, eval_days: int) -> list[WaveScore]:
    out = []
    for wave in injections(eval_days):
        delays: dict[tuple[str, str], float | None] = {}
        for series in wave.moves:
            hits = [
                h
                for h in run.raised.get(series, [])
                if wave.start <= h.at <= wave.end + timedelta(days=1)
            ]
            delays[series] = (hits[0].at - wave.start) / HOUR if hits else None
        s = WaveScore(wave, run.seed, delays)
        if wave.cluster:
            found = [at for at, _, _, is_wave in run.clusters if is_wave and at >= wave.start]
            s.cluster_delay = (found[0] - wave.start) / HOUR if found else None
        out.append(s)
    return out


def _table(head: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in (head, *body)) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def _h(x: float | None) -> str:
    return "missed" if x is None else f"{x:.0f} h"


def _per_seed(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.mean(xs):.1f}  (per seed: " + ", ".join(f"{x:.1f}" for x in xs) + ")"


def _alert_table(runs: list[RunResult]) -> str:
    body = []
    for r in runs:
        if r.injected:
            continue
        for (at, d, v, g), c in zip(r.opened, r.causes, strict=True):
            body.append(
                (
                    str(r.seed),
                    f"{at:%m-%d %H:00}",
                    f"{d}={v}",
                    g,
                    c.kind,
                    f"{c.bad}/{c.events}",
                    f"{c.top} ({c.top_share:.0%})" if c.bad else "-",
                )
            )
    if not body:
        return "Alerts on the clean runs: none"
    head = ("seed", "opened", "series", "per", "cause", "bad/events", "largest crew")
    return "Alerts on the clean runs\n" + _table(head, body)


def report(runs: list[RunResult], args: argparse.Namespace) -> str:
    weeks = args.eval_days / 7
    scores = [s for r in runs if r.injected for s in score(r, args.eval_days)]
    body = []
    for s in scores:
        for series, delay in s.delays.items():
            body.append(
                (
                    str(s.seed),
                    s.wave.kind.value,
                    f"{series[0]}={series[1]}",
                    f"{s.wave.start:%m-%d %H:00}",
                    "yes" if delay is not None else "no",
                    _h(delay),
                )
            )
        if s.wave.cluster:
            body.append(
                (
                    str(s.seed),
                    s.wave.kind.value,
                    "text cluster",
                    f"{s.wave.start:%m-%d %H:00}",
                    "yes" if s.cluster_delay is not None else "no",
                    _h(s.cluster_delay),
                )
            )
    out = [
        "Injected changes",
        _table(("seed", "injection", "series", "start", "detected", "delay"), body),
        "",
    ]
    detected = [s for s in scores if s.detected]
    delays = [s.delays[s.wave.moves[0]] for s in detected]
    clean = [r for r in runs if not r.injected]
    opened_alerts = [len(r.opened) / weeks for r in clean]
    false_alerts = [sum(c.kind == "false" for c in r.causes) / weeks for r in clean]
    bursts = [sum(c.kind == "burst" for c in r.causes) / weeks for r in clean]
    by_dim: Counter[str] = Counter(
        f"{d} ({c.kind})" for r in clean for (_, d, _, _), c in zip(r.opened, r.causes, strict=True)
    )
    false_clusters = [sum(1 for c in r.clusters) / weeks for r in clean]
    summary = [
        ("injected changes detected", f"{len(detected)} / {len(scores)}"),
        (
            "detection delay (median, max)",
            f"{statistics.median(delays):.0f} h, {max(delays):.0f} h"  # type: ignore[type-var]
            if delays
            else "-",
        ),
        (
            "scam wave cluster found",
            f"{sum(1 for s in scores if s.cluster_delay is not None)} / "
            f"{sum(1 for s in scores if s.wave.cluster)}",
        ),
        ("alerts per week (clean runs)", _per_seed(opened_alerts)),
        ("  real bursts of labelled bad actors", _per_seed(bursts)),
        ("  false (ordinary users)", _per_seed(false_alerts)),
        ("  by dimension", ", ".join(f"{d} {n}" for d, n in by_dim.most_common()) or "none"),
        (
            "new clusters per week (clean runs)",
            f"{statistics.mean(false_clusters):.1f}" if false_clusters else "-",
        ),
        (
            "runs",
            ", ".join(
                f"seed {r.seed} {'injected' if r.injected else 'clean'}: {r.events:,} events, "
                f"{r.hours} hourly runs, {r.seconds:.0f} s"
                for r in runs
            ),
        ),
    ]
    out += [_alert_table(runs), ""]
    out += ["Summary", _table(("figure", "value"), summary)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--weeks", type=int, default=7, help="simulated history (>= 5)")
    parser.add_argument("--eval-days", type=int, default=14, help="hourly detection over these")
    parser.add_argument("--cluster-every", type=int, default=6, help="hours; 0: no clusters")
    parser.add_argument(
        "--database-url", default=None, help="a PostgreSQL server; SQLite if absent"
    )
    args = parser.parse_args(argv)
    if args.weeks < 5 or args.eval_days >= args.weeks * 7 - 28:
        parser.error("need at least 4 weeks of baseline before the evaluation days (--weeks >= 5)")
    runs = []
    for seed in args.seeds:
        for injected in (False, True):
            r = run_once(seed, injected, args, {})
            print(
                f"seed {seed} {'injected' if injected else 'clean   '}: {r.events:,} events, "
                f"{len(r.opened)} alerts opened, {len(r.clusters)} clusters, {r.seconds:.0f} s",
                flush=True,
            )
            runs.append(r)
    print()
    print(report(runs, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
