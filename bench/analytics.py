"""Benchmark the analytics: the metrics dashboard, the trend jobs and the clusters job at scale.

The issue's bar: 1,000,000 events and 100,000 cases (with their decisions, appeals, QA
samples, identity verifications and disputes over ~90 days), on SQLite and on PostgreSQL.

1. **Build** a scratch database, schema from the migrations, filled FAST by bulk Core inserts
   (executemany in chunks; ``COPY`` for the big tables on PostgreSQL), never through the
   ingestion pipeline: accounts with sides, countries and locales; the default queues;
   policies and rules; cases over the window with a daily and weekly rhythm and a growing
   volume (a few percent still open), their timelines, decisions (a quarter automated),
   actions, appeals, QA samples, identity verifications and disputes; events of every type
   (reports with reasons, payments with methods, messages with texts), a tenth flagged with
   rule hits (live and shadow) and linked to cases. Rows are generated an hour at a time, so
   the builder's memory stays bounded too. SQLite lives in ``var/bench/`` (``--reuse`` keeps
   it); PostgreSQL gets a database ``vigil_bench`` on ``--pg-url`` (dropped at the end unless
   ``--reuse``).
2. **Time**, each operation ``--runs`` times (the backfill ``--backfill-runs`` times):
   - the dashboard: every metric of ``vigil.analytics.metrics.catalog.METRICS`` through
     ``service.series``, the last 28 days by day, and the last 13 weeks by week (each run
     computes every metric once; the slowest metrics are listed separately);
   - the trend rollup from scratch over all events (backfill), then incremental after one
     hour of new events (an hour's worth is inserted before each run), and ``detect.run``;
   - the clusters job (``vigil.analytics.clusters.service.detect``), if installed.
   Each line shows the median, the p99 (the max, for few runs) and the peak RSS growth of the
   process during the operation (sampled every 10 ms): the proof that nothing loads the events
   into memory.

    .venv/bin/python bench/analytics.py                                   # both, 1M events
    .venv/bin/python bench/analytics.py --backend sqlite --events 200000 --cases 20000
    .venv/bin/python bench/analytics.py --reuse                           # keep/reuse the DBs

Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics_data import Builder

from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine
from vigil.kit import clock
from vigil.kit.models import Base
from vigil.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DB = "vigil_bench"


# --- measuring ----------------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Peak:
    """The highest RSS seen while the block runs, minus RSS at its start (bytes)."""

    def __enter__(self) -> Peak:
        self.start = _rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


@dataclass
class Row:
    operation: str
    backend: str
    times: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    note: str = ""

    def add(self, seconds: float, peak: Peak) -> None:
        self.times.append(seconds)
        self.rss_mb = max(self.rss_mb, peak.growth_mb)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p99(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def timed(row: Row, fn: Callable[[], Any]) -> Any:
    with Peak() as peak:
        began = time.perf_counter()
        out = fn()
        row.add(time.perf_counter() - began, peak)
    return out


def table(rows: list[Row]) -> str:
    head = ("operation", "backend", "runs", "median s", "p99 s", "peak RSS +MB", "note")
    body = [
        (
            r.operation,
            r.backend,
            str(len(r.times)),
            f"{r.median:.3f}",
            f"{r.p99:.3f}",
            f"{r.rss_mb:.0f}",
            r.note,
        )
        for r in rows
        if r.times
    ]
    widths = [max(len(x[i]) for x in (head, *body)) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


# --- databases ----------------------------------------------------------------------------------


def sqlite_url(reuse: bool) -> str:
    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "analytics.db"
    if not reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def pg_database(admin_url: str, reuse: bool) -> str:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB})
            if exists and not reuse:
                conn.execute(text(f'DROP DATABASE "{PG_DB}" WITH (FORCE)'))
            if not exists or not reuse:
                conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
    finally:
        admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{PG_DB}"


def drop_pg(admin_url: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
    admin.dispose()


def built(engine: Engine, events: int, cases: int) -> bool:
    """A reused database counts when it holds the sizes asked for."""
    tables = Base.metadata.tables
    try:
        with engine.connect() as conn:
            n_events = conn.scalar(select(func.count()).select_from(tables["events"]))
            n_cases = conn.scalar(select(func.count()).select_from(tables["cases"]))
    except Exception:  # no schema yet
        return False
    return bool(n_events and n_events >= events and n_cases and n_cases >= cases)


# --- operations ---------------------------------------------------------------------------------


def leadership(session: Session) -> Principal:
    staff = Base.metadata.tables["staff_users"]
    staff_id = session.scalar(select(staff.c.id).where(staff.c.role == Role.leadership.value))
    if staff_id is None:
        raise SystemExit("the bench database has no leadership user: rebuild without --reuse")
    return Principal.staff(int(staff_id), "bench leadership", Role.leadership)


def dashboard(
    session: Session,
    actor: Principal,
    now: datetime,
    interval: str,
    slow: dict[str, float],
    failed: dict[str, str],
) -> int:
    """Every metric of the catalog once; a metric that raises is noted and skipped (the bench
    measures the others rather than stopping)."""
    from vigil.analytics.metrics import catalog, service

    end = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - (timedelta(days=28) if interval == "day" else timedelta(weeks=13))
    done = 0
    for name in catalog.METRICS:
        query = service.parse_query(name, start, end, interval, {}, None)
        began = time.perf_counter()
        try:
            service.series(session, actor, query)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"[:120]
            session.rollback()
            continue
        slow[name] = max(slow.get(name, 0.0), time.perf_counter() - began)
        done += 1
    return done


def count_rows(session: Session) -> int:
    """Rows of the counts table (read back: an upsert's rowcount differs between drivers)."""
    table_ = Base.metadata.tables.get("trend_counts")
    if table_ is None:
        return 0
    return int(session.scalar(select(func.count()).select_from(table_)) or 0)


def reset_trends(session: Session) -> None:
    """Forget every count, watermark and alert: the next rollup is a backfill."""
    for name in ("trend_alerts", "trend_counts", "trend_rollup_state"):
        table_ = Base.metadata.tables.get(name)
        if table_ is not None:
            session.execute(delete(table_))


def run_backend(backend: str, url: str, args: argparse.Namespace, rows: list[Row]) -> None:
    settings = Settings(database_url=url)
    engine = make_engine(settings)
    factory = sessionmaker(engine, expire_on_commit=False)
    try:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        build = Row("build the database", backend)
        if args.reuse and built(engine, args.events, args.cases):
            with engine.connect() as conn:
                events = Base.metadata.tables["events"]
                last = conn.scalar(select(func.max(events.c.occurred_at)))
            now = (last + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
            print(f"[{backend}] reusing the built database (data up to {now:%Y-%m-%d %H:%M})")
        else:
            print(f"[{backend}] building: {args.events:,} events, {args.cases:,} cases …")
            upgrade(engine)
            builder = Builder(engine, now=now, events=args.events, cases=args.cases, seed=args.seed)
            timed(build, builder.build)
            build.note = builder.summary()
            rows.append(build)
            print(f"[{backend}] built in {build.times[0]:.0f} s: {build.note}")
        with factory() as session:
            actor = leadership(session)
        bench_now = now + timedelta(minutes=5)

        # (a) the dashboard
        try:
            from vigil.analytics.metrics import catalog, service  # noqa: F401
        except ImportError:
            print(f"[{backend}] vigil.analytics.metrics not installed: dashboard skipped")
        else:
            for interval, label in (
                ("day", "dashboard 28 days by day"),
                ("week", "dashboard 13 weeks by week"),
            ):
                row = Row(label, backend)
                slow: dict[str, float] = {}
                failed: dict[str, str] = {}
                for _ in range(args.runs):
                    with factory() as session, clock.frozen(bench_now):
                        n = timed(
                            row,
                            lambda s=session, i=interval, w=slow, f=failed: dashboard(
                                s, actor, now, i, w, f
                            ),
                        )
                row.note = f"{n} metrics; slowest " + ", ".join(
                    f"{k} {v:.2f}s" for k, v in sorted(slow.items(), key=lambda kv: -kv[1])[:2]
                )
                if failed:
                    row.note = f"{len(failed)} FAILED (listed above); " + row.note
                    for name, error in sorted(failed.items()):
                        print(f"[{backend}] metric {name} failed: {error}")
                rows.append(row)
                print(table([row]).splitlines()[-1])

        # (b) the trend job
        try:
            from vigil.analytics.trends import detect, rollup
        except ImportError:
            print(f"[{backend}] vigil.analytics.trends not installed: trend job skipped")
        else:
            backfill = Row("trend rollup: backfill (all events)", backend)
            for _ in range(args.backfill_runs):
                with factory() as session, clock.frozen(bench_now):
                    reset_trends(session)
                    session.commit()
                    result = timed(backfill, lambda s=session: rollup.run(s, now=bench_now))
                    session.commit()
                with factory() as s:
                    backfill.note = (
                        f"{result.events:,} events counted; {count_rows(s):,} count rows"
                    )
            rows.append(backfill)
            print(table([backfill]).splitlines()[-1])
            incremental = Row("trend rollup: incremental (+1 hour)", backend)
            detecting = Row("trend detect", backend)
            builder = Builder(engine, now=now, events=args.events, cases=args.cases, seed=args.seed)
            hour = now
            for _ in range(args.runs):
                added = builder.add_hour(hour)
                hour += timedelta(hours=1)
                at = hour + timedelta(minutes=5)
                with factory() as session, clock.frozen(at):
                    result = timed(incremental, lambda s=session, a=at: rollup.run(s, now=a))
                    session.commit()
                    found = timed(detecting, lambda s=session, a=at: detect.run(s, now=a))
                    session.commit()
                incremental.note = f"{added} new events a run; {result.events} counted last run"
                detecting.note = (
                    f"last: {len(found.opened)} opened, {len(found.updated)} updated, "
                    f"{len(found.resolved)} resolved"
                )
            rows += [incremental, detecting]
            for row in (incremental, detecting):
                print(table([row]).splitlines()[-1])
            bench_now = hour + timedelta(minutes=5)

        # (c) the clusters job
        try:
            from vigil.analytics.clusters import service as clusters
        except ImportError:
            print(f"[{backend}] vigil.analytics.clusters not installed: clusters skipped")
        else:
            row = Row("clusters job", backend)
            for _ in range(args.runs):
                with factory() as session, clock.frozen(bench_now):
                    found = timed(
                        row, lambda s=session: clusters.detect(s, settings, now=bench_now)
                    )
                    session.rollback()  # each run sees the same state
                row.note = (
                    f"{found.texts} texts, {found.baseline} baseline, {len(found.created)} new"
                )
            rows.append(row)
            print(table([row]).splitlines()[-1])
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--reuse", action="store_true", help="keep the built databases, reuse them")
    parser.add_argument("--runs", type=int, default=5, help="runs of each operation")
    parser.add_argument("--backfill-runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL server (may create DBs)")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        if backend == "sqlite":
            run_backend(backend, sqlite_url(args.reuse), args, rows)
            continue
        url = pg_database(args.pg_url, args.reuse)
        try:
            run_backend(backend, url, args, rows)
        finally:
            if not args.reuse:
                drop_pg(args.pg_url)
    print()
    print(f"{args.events:,} events, {args.cases:,} cases; {os.cpu_count()} CPUs")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
