"""Benchmark "next case": many agents pulling and closing cases at once.

For each backend: a scratch database, migrated; the default queues; N agents; M open cases
bulk-inserted into the queues routing would pick, with their SLA due times. Then N agent
threads, each with its own session, loop: pull the next case (timed, committed), close it
with a resolution (committed), until nothing is left.

Prints one row per backend: pulls per second (end to end, pull + close), p50 and p99 of the
pull's latency (including its commit), and how many cases went to two agents, counted twice:
from what the agents recorded, and from the database (every case must have exactly one
``assigned`` timeline event and one ``closed`` event). Both must be 0.

    .venv/bin/python bench/assign.py                       # both backends
    .venv/bin/python bench/assign.py --backend sqlite --cases 2000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from vigil.auth import service as auth
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.cases.models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    CaseType,
    Resolution,
    Severity,
)
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.kit import clock
from vigil.migrate import upgrade

SETUP = Principal.system("bench")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# SQLite lets one writer in at a time; past a handful of threads, extra agents only add time
# spent in its busy-wait back-off (see bench/README.md). --agents overrides this.
SQLITE_DEFAULT_AGENTS = 8
TYPES = [
    CaseType.user_report,
    CaseType.detection,
    CaseType.identity_review,
    CaseType.account_review,
]


@dataclass
class Result:
    backend: str
    agents: int
    cases: int
    wall_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    assignments: list[tuple[int, int]] = field(default_factory=list)  # (case id, staff id)
    errors: list[str] = field(default_factory=list)
    double_recorded: int = 0
    double_db: int = 0
    unfinished_db: int = 0
    setup_seconds: float = 0.0

    @property
    def pulls_per_second(self) -> float:
        return len(self.assignments) / self.wall_seconds if self.wall_seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- setup ------------------------------------------------------------------------------------


def seed_database(factory: sessionmaker[Session], n_cases: int, n_agents: int) -> list[Principal]:
    """Queues, agents and open cases. Cases are bulk-inserted (one statement per thousand),
    each in the queue routing picks for its type, due within that queue's SLA, with its
    ``created`` timeline event."""
    rng = random.Random(1)
    agents: list[Principal] = []
    with transaction(factory) as session:
        routing.ensure_default_queues(session, SETUP)
        for i in range(n_agents):
            user = auth.create_staff(
                session,
                SETUP,
                email=f"agent{i}@bench.example",
                name=f"Agent {i}",
                role=Role.agent,
                password="bench-password-not-secret",
                languages=["en"],
            )
            agents.append(auth.principal_for(user))
        queues = {
            t: routing.route(session, routing.CaseTraits(t, "en", Tier.tier1, Severity.medium))
            for t in TYPES
        }
    now = clock.now()
    for first in range(0, n_cases, 1000):
        rows = []
        for i in range(first, min(first + 1000, n_cases)):
            case_type = TYPES[i % len(TYPES)]
            queue = queues[case_type]
            opened = now - timedelta(minutes=rng.randint(0, 600))
            rows.append(
                {
                    "type": case_type,
                    "status": CaseStatus.open,
                    "title": f"Bench case {i}",
                    "summary": "",
                    "priority": rng.randint(1, 4),
                    "severity": Severity.medium,
                    "tier": Tier.tier1,
                    "language": "en",
                    "source": "bench",
                    "attributes": {},
                    "queue_id": queue.id,
                    "opened_at": opened,
                    "queued_at": opened,
                    "sla_due_at": opened + timedelta(minutes=queue.sla_minutes),
                    "created_at": opened,
                    "updated_at": opened,
                    "version": 1,
                }
            )
        with transaction(factory) as session:
            ids = session.scalars(insert(Case).returning(Case.id), rows).all()
            session.execute(
                insert(CaseEvent),
                [
                    {
                        "case_id": case_id,
                        "at": row["opened_at"],
                        "kind": CaseEventKind.created,
                        "actor_label": SETUP.label,
                        "to_status": CaseStatus.open.value,
                        "data": {"queue_id": row["queue_id"]},
                    }
                    for case_id, row in zip(ids, rows, strict=True)
                ],
            )
    return agents


# --- the run ------------------------------------------------------------------------------------


def work(factory: sessionmaker[Session], agents: list[Principal], result: Result) -> None:
    lock = threading.Lock()
    start = threading.Barrier(len(agents) + 1)

    def agent_loop(agent: Principal) -> None:
        mine: list[tuple[int, int]] = []
        latencies: list[float] = []
        errors: list[str] = []
        start.wait()
        failures = 0
        while failures < 20:
            try:
                began = time.perf_counter()
                with transaction(factory) as session:
                    case = cases.pull_next(session, agent)
                    case_id = case.id if case is not None else None
                took = time.perf_counter() - began
                if case_id is None:
                    break
                latencies.append(took)
                mine.append((case_id, agent.id or 0))
                with transaction(factory) as session:
                    cases.close(
                        session,
                        agent,
                        case_id,
                        resolution=Resolution.no_violation,
                        note="Benchmark: nothing to act on.",
                    )
            except Exception as exc:  # counted and reported; the agent carries on
                failures += 1
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        with lock:
            result.assignments += mine
            result.latencies += latencies
            result.errors += errors

    threads = [threading.Thread(target=agent_loop, args=(a,), daemon=True) for a in agents]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    result.wall_seconds = time.perf_counter() - began


def check(factory: sessionmaker[Session], result: Result) -> None:
    per_case = Counter(case_id for case_id, _ in result.assignments)
    result.double_recorded = sum(1 for n in per_case.values() if n > 1)
    with factory() as session:

        def events_per_case(kind: CaseEventKind) -> dict[int, int]:
            rows = session.execute(
                select(CaseEvent.case_id, func.count())
                .where(CaseEvent.kind == kind)
                .group_by(CaseEvent.case_id)
            ).all()
            return {case_id: n for case_id, n in rows}

        assigned = events_per_case(CaseEventKind.assigned)
        closed = events_per_case(CaseEventKind.closed)
        statuses = Counter(s for (s,) in session.execute(select(Case.status)).all())
    result.double_db = sum(1 for n in assigned.values() if n > 1) + sum(
        1 for n in closed.values() if n > 1
    )
    result.unfinished_db = result.cases - statuses[CaseStatus.closed]
    by_db = {cid for cid, n in assigned.items() if n == 1}
    if by_db != set(per_case):
        result.errors.append("the database and the agents disagree on which cases were pulled")


def run_backend(backend: str, url: str, n_cases: int, n_agents: int) -> Result:
    result = Result(backend, n_agents, n_cases)
    began = time.perf_counter()
    engine = make_engine(Settings(database_url=url), pool_size=n_agents + 2, max_overflow=8)
    try:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        agents = seed_database(factory, n_cases, n_agents)
        # Fresh planner statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE would
        # have on a live database; without them PostgreSQL sorts every open case per pull.
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        result.setup_seconds = time.perf_counter() - began
        print(
            f"  {backend}: {n_cases} cases and {n_agents} agents ready in "
            f"{result.setup_seconds:.1f} s; working…",
            file=sys.stderr,
            flush=True,
        )
        work(factory, agents, result)
        check(factory, result)
    finally:
        engine.dispose()
    return result


def run_postgresql(admin_url: str, n_cases: int, n_agents: int) -> Result:
    name = f"vigil_bench_{os.getpid()}"
    admin: Engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return run_backend(
            "postgresql", admin_url.rsplit("/", 1)[0] + f"/{name}", n_cases, n_agents
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_sqlite(n_cases: int, n_agents: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        return run_backend("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", n_cases, n_agents)


def table(results: list[Result]) -> str:
    head = (
        "backend",
        "agents",
        "cases",
        "pulls/s",
        "p50 ms",
        "p99 ms",
        "double (agents)",
        "double (db)",
        "unfinished",
        "errors",
        "wall s",
    )
    rows = [
        (
            r.backend,
            str(r.agents),
            str(r.cases),
            f"{r.pulls_per_second:.0f}",
            f"{r.percentile(0.50):.1f}",
            f"{r.percentile(0.99):.1f}",
            str(r.double_recorded),
            str(r.double_db),
            str(r.unfinished_db),
            str(len(r.errors)),
            f"{r.wall_seconds:.1f}",
        )
        for r in results
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument(
        "--agents",
        type=int,
        default=None,
        help=f"agent threads (default: 50 on PostgreSQL, {SQLITE_DEFAULT_AGENTS} on SQLite)",
    )
    parser.add_argument("--pg-url", default=os.environ.get("VIGIL_BENCH_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args(argv)

    results = []
    if args.backend in ("postgresql", "both"):
        results.append(run_postgresql(args.pg_url, args.cases, args.agents or 50))
    if args.backend in ("sqlite", "both"):
        results.append(run_sqlite(args.cases, args.agents or SQLITE_DEFAULT_AGENTS))
    print(table(results))
    for r in results:
        for message, n in Counter(r.errors).most_common(5):
            print(f"  {r.backend} error x{n}: {message}")
    bad = any(r.double_recorded or r.double_db or r.unfinished_db or r.errors for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
