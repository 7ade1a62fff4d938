"""The many-machines deployment under a steady mixed load (issue 9, docs/deployment.md).

Two deployments, each on a fresh database, with the policy pack, default queues, the default
ruleset, one API key and ``--agents`` agents (console sessions):

- **2+2**: two ``vigil serve`` (``--no-worker``) and two ``vigil worker`` processes on
  loopback, sharing a scratch PostgreSQL database (``--pg-url``, dropped at the end) and Redis
  (``--redis-url``, a database number of its own, emptied before and after);
- **1 SQLite**: one ``vigil serve`` with its in-process worker on a SQLite file.

For ``--seconds`` (default 300), at the same time:

- the simulator's events (sign-ups, logins, messages, payments, reviews...; in time order)
  are sent to ``POST /v1/events`` open-loop at ``--rate`` per second, alternating between the
  APIs: event *i* is due at ``start + i/rate`` and its latency counts from that moment (a
  server that falls behind shows it as latency, not as a slower generator);
- ``--agents`` agents pull "next case" (``POST /v1/cases/next``) through the APIs in turn and
  close what they get (``no_violation``), pausing ``--agent-idle`` seconds when nothing waits;
- the job lag (age of the oldest due job, as ``vigil_job_lag_seconds`` reads it) is sampled
  from the database every second.

Then it checks: every event that was answered 2xx is in the database (``lost`` must be 0), no
case was handed to two agents (by what agents got, and by the cases' assignment records).
Prints one table and writes the figures as JSON to ``var/bench/load-<time>.json``.

    .venv/bin/python bench/load.py                       # both, 5 minutes each
    .venv/bin/python bench/load.py --seconds 30 --deployment fleet
    .venv/bin/python bench/load.py --rate 40 --agents 8

Nothing is asserted; bench/README.md says how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fleet.cluster

from tests.fleet.cluster import Fleet, fleet

from vigil.auth import passwords
from vigil.auth import service as auth
from vigil.auth.models import Role, StaffUser
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseEvent, CaseType
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.detection.models import Event
from vigil.detection.rules import pack as rules_pack
from vigil.kit import clock
from vigil.migrate import upgrade
from vigil.ops.metrics import read_figures
from vigil.policies import pack as policy_pack
from vigil.simulate.events import generate
from vigil.simulate.generator import make_plan

SETUP = Principal.system("bench")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Its own Redis database: bench/events_http.py uses 15, tests/fleet 14.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
AGENT_PASSWORD = "bench-agent-password-1"
IN_FLIGHT = 64  # event requests on the wire at once; the rest wait (and that is latency)


@dataclass
class Result:
    deployment: str
    seconds: float
    rate: float
    agents: int
    sent: int = 0
    accepted: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    timeouts: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    lost: int = 0
    job_lag_s: dict[str, float] = field(default_factory=dict)
    pulls: int = 0
    closed: int = 0
    agent_errors: dict[str, int] = field(default_factory=dict)
    double_assigned_seen: int = 0
    double_assigned_db: int = 0
    wall_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.accepted / self.wall_seconds if self.wall_seconds else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- set-up -------------------------------------------------------------------------------------


@contextmanager
def scratch_postgres(pg_url: str) -> Iterator[str]:
    name = f"vigil_bench_load_{os.getpid()}"
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


def flush_redis(url: str | None) -> None:
    if not url:
        return
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def prepare(settings: Settings, agents: int, backlog: int) -> tuple[str, list[tuple[str, str]]]:
    """Schema, policies, queues, rules, ``backlog`` open cases, an API key and logged-in
    agents: (key, sessions)."""
    engine = make_engine(settings)
    upgrade(engine)
    digest = passwords.hash_password(AGENT_PASSWORD)
    sessions = []
    with transaction(make_sessionmaker(engine)) as session:
        policy_pack.load_pack(session, SETUP, None)
        ensure_default_queues(session, SETUP)
        rules_pack.load_pack(session, SETUP, None)
        types = [t for t in CaseType if t is not CaseType.appeal]  # appeals: specialists
        for n in range(backlog):
            cases.create_case(
                session,
                SETUP,
                cases.NewCase(types[n % len(types)], f"backlog case {n}", priority=1 + n % 4),
            )
        key = auth.create_api_key(
            session, SETUP, name="load bench", scopes=["events:write", "events:read"]
        )
        for n in range(agents):
            email = f"bench-agent-{n}@staff.example"
            session.add(
                StaffUser(
                    email=email,
                    name=f"Bench agent {n}",
                    role=Role.agent,
                    password_hash=digest,
                    languages=["en", "es", "pt"],
                    active=True,
                )
            )
            session.flush()
            issued = auth.login(session, email, AGENT_PASSWORD, ttl=timedelta(hours=2))
            sessions.append((issued.token, issued.csrf_token))
    engine.dispose()
    return key.secret, sessions


# --- load ---------------------------------------------------------------------------------------


async def send_events(
    urls: list[str], key: str, events: list[dict[str, Any]], args: argparse.Namespace, r: Result
) -> tuple[list[float], set[str]]:
    latencies: list[float] = []
    accepted_ids: set[str] = set()
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    n = min(len(events), int(args.rate * args.seconds))
    slots = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    headers = {"Authorization": f"Bearer {key}"}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    deadline = start + args.seconds + args.drain
    async with httpx.AsyncClient(limits=limits) as client:

        async def one(i: int, due: float) -> None:
            try:
                await asyncio.wait_for(slots.acquire(), max(0.01, deadline - loop.time()))
            except TimeoutError:
                r.timeouts += 1
                return
            try:
                answer = await client.post(
                    urls[i % len(urls)] + "/v1/events",
                    json=events[i],
                    headers=headers,
                    timeout=httpx.Timeout(max(0.1, deadline - loop.time())),
                )
            except httpx.TimeoutException:
                r.timeouts += 1
                return
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                return
            finally:
                slots.release()
            if 200 <= answer.status_code < 300:
                latencies.append(loop.time() - due)
                accepted_ids.add(events[i]["event_id"])
                outcomes[answer.json().get("outcome", "?")] += 1
            else:
                errors[str(answer.status_code)] += 1

        tasks = []
        for i in range(n):
            due = start + i / args.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    r.sent = n
    r.accepted = len(accepted_ids)
    r.outcomes = dict(outcomes)
    r.errors = dict(errors)
    return latencies, accepted_ids


async def agent(
    urls: list[str],
    index: int,
    token: str,
    csrf: str,
    until: float,
    idle: float,
    pulled: list[int],
    errors: Counter[str],
    r: Result,
) -> None:
    headers = {"X-CSRF-Token": csrf, "Cookie": f"vigil_session={token}"}
    loop = asyncio.get_running_loop()
    turn = index
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        while loop.time() < until:
            url = urls[turn % len(urls)]
            turn += 1
            try:
                answer = await client.post(url + "/v1/cases/next")
                if answer.status_code == 204:
                    await asyncio.sleep(idle)
                    continue
                if answer.status_code != 200:
                    errors[f"next {answer.status_code}"] += 1
                    await asyncio.sleep(idle)
                    continue
                case = answer.json()
                pulled.append(case["id"])
                r.pulls += 1
                closed = await client.post(
                    urls[turn % len(urls)] + f"/v1/cases/{case['id']}/close",
                    json={"resolution": "no_violation", "note": "load bench: nothing found"},
                )
                if closed.status_code == 200:
                    r.closed += 1
                else:
                    errors[f"close {closed.status_code}"] += 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                await asyncio.sleep(idle)


async def sample_lag(factory: Any, until: float, lags: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        try:
            figures = await asyncio.to_thread(read_figures, factory)
            lags.append(figures["lag"])
        except Exception:  # the database busy or away for a moment: skip the sample
            pass
        await asyncio.sleep(1.0)


async def load(
    running: Fleet,
    key: str,
    sessions: list[tuple[str, str]],
    events: list[dict[str, Any]],
    factory: Any,
    args: argparse.Namespace,
    r: Result,
) -> tuple[set[str], list[int]]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    until = started + args.seconds
    urls = running.api_urls
    pulled: list[int] = []
    agent_errors: Counter[str] = Counter()
    lags: list[float] = []
    sender = asyncio.create_task(send_events(urls, key, events, args, r))
    others = [
        asyncio.create_task(
            agent(urls, i, tok, csrf, until, args.agent_idle, pulled, agent_errors, r)
        )
        for i, (tok, csrf) in enumerate(sessions)
    ]
    others.append(asyncio.create_task(sample_lag(factory, until, lags)))
    latencies, accepted_ids = await sender
    await asyncio.gather(*others)
    r.wall_seconds = round(loop.time() - started, 1)
    r.latency_ms = {
        "p50": round(percentile(latencies, 0.50) * 1000, 1),
        "p99": round(percentile(latencies, 0.99) * 1000, 1),
        "max": round(max(latencies, default=float("nan")) * 1000, 1),
    }
    r.job_lag_s = {
        "p50": round(percentile(lags, 0.50), 2),
        "p99": round(percentile(lags, 0.99), 2),
        "max": round(max(lags, default=float("nan")), 2),
        "samples": len(lags),
    }
    r.agent_errors = dict(agent_errors)
    return accepted_ids, pulled


def verify(factory: Any, accepted_ids: set[str], pulled: list[int], r: Result) -> None:
    """Events answered 2xx but missing from the database; cases handed out twice."""
    ids = sorted(accepted_ids)
    found = 0
    with factory() as session:
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            found += session.scalar(
                select(func.count()).select_from(Event).where(Event.event_id.in_(chunk))
            )
        twice = session.execute(
            select(CaseEvent.case_id)
            .where(CaseEvent.kind == "assigned")
            .group_by(CaseEvent.case_id)
            .having(func.count() > 1)
        ).all()
    r.lost = len(ids) - int(found)
    r.double_assigned_seen = sum(1 for n in Counter(pulled).values() if n > 1)
    r.double_assigned_db = len(twice)


def run(kind: str, args: argparse.Namespace, events: list[dict[str, Any]]) -> Result:
    r = Result(
        "2+2 PostgreSQL+Redis" if kind == "fleet" else "1 SQLite",
        args.seconds,
        args.rate,
        args.agents,
    )
    with tempfile.TemporaryDirectory(prefix="vigil-load-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        if kind == "fleet":
            url = stack.enter_context(scratch_postgres(args.pg_url))
            redis_url: str | None = args.redis_url
        else:
            url = f"sqlite:///{folder / 'vigil.db'}"
            redis_url = None
        settings = Settings(database_url=url, data_dir=folder / "data")
        key, sessions = prepare(settings, args.agents, args.backlog)
        flush_redis(redis_url)
        engine = make_engine(settings)
        factory = make_sessionmaker(engine)
        extra = {"VIGIL_API_RATE_LIMIT": "0"}  # this is load, not abuse
        shape = {"apis": 2, "workers": 2} if kind == "fleet" else {"apis": 1, "workers": 0}
        print(f"[{r.deployment}] starting processes...", flush=True)
        try:
            with fleet(
                url,
                redis_url,
                folder,
                extra_env=extra,
                api_worker=kind != "fleet",
                start_timeout=180,
                **shape,
            ) as running:
                print(f"[{r.deployment}] load for {args.seconds:.0f}s...", flush=True)
                accepted, pulled = asyncio.run(
                    load(running, key, sessions, events, factory, args, r)
                )
                time.sleep(1.0)
                verify(factory, accepted, pulled, r)
        finally:
            engine.dispose()
            flush_redis(redis_url)
    return r


def simulated_events(seed: int, wanted: int) -> tuple[list[dict[str, Any]], int]:
    """About ``wanted`` events of whole accounts, over the simulation's whole month, in time
    order. Taking the first ``wanted`` events of a large simulation would send mostly
    sign-ups and first logins (the month's first days) and few of the bad actors' later
    moves; a sample of accounts keeps each account's whole history, the bad ones included,
    so rules fire and cases open for the agents."""
    import random

    accounts = max(100, wanted // 15)
    stream = generate(make_plan(seed, accounts, 30, clock.now(), with_cases=False))
    events = [e.envelope for e in stream.events]
    per_account = Counter(e["account_id"] for e in events)
    order = sorted(per_account)
    random.Random(seed).shuffle(order)
    chosen: set[str] = set()
    total = 0
    for account in order:
        if total >= wanted:
            break
        chosen.add(account)
        total += per_account[account]
    return [e for e in events if e["account_id"] in chosen], len(chosen)


def table(results: list[Result]) -> str:
    head = (
        "| deployment | seconds | sent | accepted | events/s | p50 ms | p99 ms | errors | lost "
        "| job lag p50/p99/max s | pulls | closed | double-assigned |"
    )
    rows = [head, "|" + "---|" * 13]
    for r in results:
        errors = sum(r.errors.values()) + r.timeouts + sum(r.agent_errors.values())
        lag = r.job_lag_s
        rows.append(
            f"| {r.deployment} | {r.wall_seconds:.0f} | {r.sent} | {r.accepted} "
            f"| {r.per_second:.1f} | {r.latency_ms['p50']:.0f} | {r.latency_ms['p99']:.0f} "
            f"| {errors} | {r.lost} | {lag['p50']:.1f} / {lag['p99']:.1f} / {lag['max']:.1f} "
            f"| {r.pulls} | {r.closed} | {r.double_assigned_seen} / {r.double_assigned_db} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second, in all")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--backlog", type=int, default=100, help="open cases at the start")
    parser.add_argument("--agent-idle", type=float, default=0.5)
    parser.add_argument("--drain", type=float, default=30.0, help="answers awaited after the end")
    parser.add_argument("--deployment", choices=["both", "fleet", "sqlite"], default="both")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--pg-url", default=os.environ.get("VIGIL_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    wanted = int(args.rate * args.seconds)
    events, accounts = simulated_events(args.seed, wanted)
    types = Counter(e["type"] for e in events[:wanted])
    print(
        f"{len(events)} simulated events of {accounts} accounts (seed {args.seed}); "
        f"{min(wanted, len(events))} to send at {args.rate:g}/s; types: "
        + ", ".join(f"{t} {n}" for t, n in types.most_common(6))
    )
    kinds = ["fleet", "sqlite"] if args.deployment == "both" else [args.deployment]
    results = [run(kind, args, events) for kind in kinds]
    print()
    print(table(results))
    for r in results:
        if r.errors or r.agent_errors or r.timeouts:
            print(f"{r.deployment}: errors {r.errors} agents {r.agent_errors} "
                  f"timeouts {r.timeouts}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"load-{stamp}.json"
    payload = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "results": [asdict(r) | {"events_per_second": round(r.per_second, 2)} for r in results],
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
