"""Benchmark the events API over real HTTP: single-event decisions at a steady rate, and batch
ingestion.

For each backend (SQLite; PostgreSQL + Redis): a fresh database (a SQLite file in a temporary
folder; a scratch PostgreSQL database created through ``--pg-url`` and dropped at the end, even
after a failure), migrated, with the policy pack, the default queues and the default ruleset
loaded, and an API key with ``events:write``. Then ``vigil serve`` runs as a real uvicorn
subprocess on a free loopback port, and this script sends it the simulator's events
(``vigil.simulate.events``: sign-ups first, then logins, messages, payments... in time order):

a) **single events** (``POST /v1/events``) from an open-loop generator: request *i* is due at
   ``start + i / rate`` whatever happened to the others, and its latency is measured from that
   scheduled moment, not from when it was actually sent. A server that falls behind therefore
   shows its queueing in the latency instead of slowing the generator down (no coordinated
   omission). Requests still unanswered ``--drain`` seconds after the last one was due count as
   timeouts.
b) **batches** (``POST /v1/events/batch``, ``--batch-size`` events each) sent one after the
   other: events/s.

    .venv/bin/python bench/events_http.py                          # both backends, 20 s at 200/s
    .venv/bin/python bench/events_http.py --backend sqlite --seconds 10 --rate 100
    .venv/bin/python bench/events_http.py --backend postgresql --batches 10

Prints one table per backend. Nothing is asserted; see ``bench/README.md`` for how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from vigil.auth import service as auth
from vigil.auth.principal import Principal
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.detection.rules import pack as rules_pack
from vigil.kit import clock
from vigil.migrate import upgrade
from vigil.policies import pack as policy_pack
from vigil.simulate.events import generate
from vigil.simulate.generator import make_plan

SETUP = Principal.system("bench")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
# Requests on the wire at once; more wait in the generator (and their wait is latency).
IN_FLIGHT = 128
VIGIL = str(Path(sys.executable).with_name("vigil"))


@dataclass
class Steady:
    rate: float
    seconds: float
    scheduled: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, from the scheduled moment
    statuses: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    timeouts: int = 0
    wall: float = 0.0  # from the first due moment to the last answer
    settle_seconds: float = 0.0  # until the server was idle again afterwards

    @property
    def ok(self) -> int:
        return self.statuses["200"]

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Batches:
    size: int
    events: int = 0
    refused: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_postgres(pg_url: str) -> Iterator[str]:
    name = f"vigil_bench_events_{os.getpid()}"
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


def prepare(settings: Settings) -> str:
    """Schema, policies, queues, the default ruleset and an API key; returns its secret."""
    engine = make_engine(settings)
    upgrade(engine)
    with transaction(make_sessionmaker(engine)) as session:
        policy_pack.load_pack(session, SETUP, None)
        ensure_default_queues(session, SETUP)
        rules_pack.load_pack(session, SETUP, None)
        issued = auth.create_api_key(
            session, SETUP, name="events bench", scopes=["events:write", "events:read"]
        )
    engine.dispose()
    return issued.secret


def clear_velocity(redis_url: str | None) -> None:
    """Remove Vigil's velocity keys (only those) from the bench's Redis database."""
    if not redis_url:
        return
    from vigil.detection.features.store import RedisStore

    store = RedisStore.from_url(redis_url)
    store.delete_all()
    store.close()


@contextmanager
def serve(settings: Settings, folder: Path, *, worker: bool) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "VIGIL_DATABASE_URL": settings.database_url,
        "VIGIL_DATA_DIR": str(folder / "data"),
        "VIGIL_SECRET_KEY": "bench-secret-key-not-for-production",
        "VIGIL_REDIS_URL": settings.redis_url or "",
    }
    if not settings.redis_url:
        env.pop("VIGIL_REDIS_URL")
    log = (folder / "serve.log").open("w")
    args = [VIGIL, "serve", "--host", "127.0.0.1", "--port", str(port)]
    args.append("--worker" if worker else "--no-worker")
    process = subprocess.Popen(
        args, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vigil serve exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vigil serve did not answer within 60 s; see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        # Our own child, by its id (its process group: uvicorn's own children go with it).
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        server_errors.clear()
        server_errors.update(exceptions_in(folder / "serve.log"))


# What the server logged as exceptions during the last run (a 500 says little by itself).
server_errors: Counter[str] = Counter()


def exceptions_in(path: Path) -> Counter[str]:
    """The final line of every traceback in a log: ``sqlalchemy.exc.OperationalError: ...``."""
    found: Counter[str] = Counter()
    inside = False
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Traceback"):
            inside = True
        elif inside and line and not line.startswith((" ", "\t", "The above", "During")):
            found[line[:160]] += 1
            inside = False
    return found


# --- load ---------------------------------------------------------------------------------------


async def steady(
    url: str, key: str, events: list[dict[str, Any]], rate: float, seconds: float, drain: float
) -> Steady:
    """Open loop: request i is due at start + i/rate; latency counts from that moment.

    At most ``IN_FLIGHT`` requests are on the wire; the others wait here (their wait counts in
    their latency). httpx's own pool rescans its queue on every change, so thousands of
    requests queued in it make the client, not the server, the bottleneck. Every request
    carries its own timeout, up to one deadline (the last due moment plus ``drain``): one the
    server has not answered by then is a timeout. (Cancelling in-flight httpx requests instead
    can wait on the server's answer while the connection closes.)"""
    result = Steady(rate, seconds)
    n = min(len(events), int(rate * seconds))
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    slots = asyncio.Semaphore(IN_FLIGHT)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2
        deadline = start + seconds + drain
        last_answer = start

        async def one(i: int, due: float) -> None:
            nonlocal last_answer
            try:
                await asyncio.wait_for(slots.acquire(), max(0.01, deadline - loop.time()))
            except TimeoutError:
                result.timeouts += 1
                return
            try:
                left = httpx.Timeout(max(0.1, deadline - loop.time()))
                response = await client.post(
                    "/v1/events", json=events[i], headers=headers, timeout=left
                )
            except httpx.TimeoutException:
                result.timeouts += 1
                return
            except httpx.HTTPError as exc:
                result.statuses[type(exc).__name__] += 1
                return
            finally:
                slots.release()
            now = loop.time()
            last_answer = max(last_answer, now)
            result.latencies.append(now - due)
            result.statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                result.outcomes[response.json()["outcome"]] += 1

        tasks = []
        for i in range(n):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        result.scheduled = n
        await asyncio.gather(*tasks)
        result.wall = last_answer - start
    return result


def settle(url: str, limit: float = 180.0) -> float:
    """Wait until the server answers a health check within a second again (what it still had
    queued from the single-event phase is done or abandoned); returns how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            if httpx.get(url + "/v1/health", timeout=1.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    return time.monotonic() - started


def batches(url: str, key: str, events: list[dict[str, Any]], size: int, count: int) -> Batches:
    result = Batches(size)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=600) as client:
        for k in range(count):
            chunk = events[k * size : (k + 1) * size]
            if not chunk:
                break
            started = time.perf_counter()
            response = client.post("/v1/events/batch", json={"events": chunk}, headers=headers)
            took = time.perf_counter() - started
            response.raise_for_status()
            body = response.json()
            result.events += len(chunk)
            result.refused += int(body["refused"])
            result.seconds += took
            result.latencies.append(took)
    return result


# --- one backend ----------------------------------------------------------------------------------


@contextmanager
def database(backend: str, args: argparse.Namespace, folder: Path) -> Iterator[Settings]:
    if backend == "sqlite":
        yield Settings(database_url=f"sqlite:///{folder / 'vigil.db'}", data_dir=folder / "data")
        return
    with scratch_postgres(args.pg_url) as url:
        yield Settings(database_url=url, redis_url=args.redis_url, data_dir=folder / "data")


def run_backend(backend: str, args: argparse.Namespace, events: list[dict[str, Any]]) -> None:
    singles = int(args.rate * args.seconds)
    for_batches = events[singles : singles + args.batch_size * args.batches]
    with tempfile.TemporaryDirectory(prefix=f"vigil-bench-{backend}-") as tmp:
        folder = Path(tmp)
        with database(backend, args, folder) as settings:
            clear_velocity(settings.redis_url)
            try:
                key = prepare(settings)
                with serve(settings, folder, worker=args.worker) as url:
                    one = asyncio.run(
                        steady(url, key, events[:singles], args.rate, args.seconds, args.drain)
                    )
                    one.settle_seconds = settle(url)
                    many = batches(url, key, for_batches, args.batch_size, args.batches)
            finally:
                clear_velocity(settings.redis_url)
    print_backend(backend, settings, one, many)


def print_backend(backend: str, settings: Settings, one: Steady, many: Batches) -> None:
    store = "Redis" if settings.redis_url else "in-process"
    title = f"{backend} (velocity: {store})"
    print(f"\n{title}\n" + "-" * len(title))
    achieved = one.ok / one.wall if one.wall > 0 else 0.0
    errors = {k: v for k, v in one.statuses.items() if k != "200"}
    rows = [
        ("single events, target rate", f"{one.rate:.0f} req/s for {one.seconds:.0f} s"),
        ("  sent / answered 200", f"{one.scheduled} / {one.ok}"),
        ("  achieved rate", f"{achieved:.0f} req/s"),
        ("  p50 ms (from schedule)", f"{one.pct(0.50):.1f}"),
        ("  p99 ms (from schedule)", f"{one.pct(0.99):.1f}"),
        ("  max ms", f"{one.pct(1.0):.1f}"),
        ("  errors / timeouts", f"{dict(errors) or 0} / {one.timeouts}"),
        ("  outcomes", ", ".join(f"{k} {v}" for k, v in sorted(one.outcomes.items())) or "-"),
        ("  idle again after", f"{one.settle_seconds:.0f} s"),
        (f"batches of {many.size}", f"{len(many.latencies)} requests, {many.events} events"),
        ("  events/s", f"{many.per_second:.0f}"),
        (
            "  s per batch (median)",
            f"{statistics.median(many.latencies):.2f}" if many.latencies else "-",
        ),
        ("  refused items", str(many.refused)),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    for line, n in server_errors.most_common(3):
        print(f"server logged {n} x {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rate", type=float, default=200.0, help="Single events per second.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of the steady run.")
    parser.add_argument(
        "--drain", type=float, default=60.0, help="Wait this long for late answers."
    )
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument(
        "--worker", action="store_true", help="Run vigil serve with its in-process job worker."
    )
    parser.add_argument("--pg-url", default=os.environ.get("VIGIL_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args(argv)
    # SIGTERM (``timeout``, a CI runner) unwinds like Ctrl-C, so the scratch database is
    # dropped and the server stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    # Enough of the simulator's history for both phases (about 25 events per account a month).
    wanted = int(args.rate * args.seconds) + args.batch_size * args.batches
    accounts = max(200, wanted // 20)
    stream = generate(make_plan(args.seed, accounts, 30, clock.now(), with_cases=False))
    events = [e.envelope for e in stream.events]
    if len(events) < wanted:
        print(f"note: the simulation gave {len(events)} events of {wanted} wanted")
    print(
        f"{len(events)} simulated events from {accounts} accounts (seed {args.seed}); "
        f"{int(args.rate * args.seconds)} single, then {args.batches} x {args.batch_size}"
    )
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        run_backend(backend, args, events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
