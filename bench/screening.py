"""Benchmark screening: load a large generated list, then screen names against it.

For each backend: a scratch database, migrated; a list of ``--entries`` generated people
(given names and surnames drawn from small pools with a skewed distribution, so common words
such as a frequent surname are shared by thousands of entries, as on real lists), loaded
through ``screening.service.load``. Then ``--queries`` screens: half are names of listed
people (some with a typo in one word, some with the words reordered), half are names not on
the list built from the same pools (the expensive case: many candidates, no hit).

Prints one row per backend: load seconds, p50 / p95 / max milliseconds per screen, how often
a listed person came first (or tied first with a namesake), and the mean number of candidates
scored.

    .venv/bin/python bench/screening.py                         # both backends, 100,000 entries
    .venv/bin/python bench/screening.py --backend sqlite --entries 20000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.migrate import upgrade
from vigil.screening import loaders, service

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ACTOR = Principal.system("bench")
SYLLABLES = tuple(
    [
        "ka",
        "lo",
        "mi",
        "ra",
        "den",
        "vol",
        "sha",
        "tor",
        "bel",
        "an",
        "is",
        "ur",
        "gri",
        "mon",
        "tas",
        "fel",
        "dor",
        "ven",
        "ash",
        "lin",
    ]
)


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


@dataclass
class Result:
    backend: str
    entries: int
    load_seconds: float = 0.0
    timings: list[float] = field(default_factory=list)
    found_first: int = 0
    listed_queries: int = 0
    candidates: list[int] = field(default_factory=list)


def generate(rng: random.Random, n: int) -> list[loaders.EntryData]:
    given = sorted({_word(rng, 2) for _ in range(400)})
    surnames = sorted({_word(rng, rng.choice((2, 3))) for _ in range(8000)})
    weights = [1.0 / (i + 1) for i in range(len(surnames))]  # Zipf-like: a few very common
    out: list[loaders.EntryData] = []
    for i in range(n):
        first = rng.choice(given)
        middle = rng.choice(given) if rng.random() < 0.4 else ""
        last = rng.choices(surnames, weights)[0]
        name = " ".join(p for p in (first, middle, last) if p)
        year = rng.randint(1940, 2000)
        out.append(
            loaders.EntryData(
                f"gen-{i}",
                [name],
                [f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"],
                topics=["sanction"],
            )
        )
    return out


def _typo(rng: random.Random, name: str) -> str:
    words = name.split()
    at = rng.randrange(len(words))
    word = words[at]
    if len(word) > 3:
        i = rng.randrange(1, len(word) - 1)
        words[at] = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return " ".join(words)


def run_backend(backend: str, url: str, n_entries: int, n_queries: int) -> Result:
    rng = random.Random(5)
    result = Result(backend, n_entries)
    engine = make_engine(Settings(database_url=url))
    try:
        upgrade(engine)
        factory = make_sessionmaker(engine)
        entries = generate(rng, n_entries)
        began = time.perf_counter()
        with transaction(factory) as session:
            service.load(
                session,
                ACTOR,
                list_name="bench",
                result=loaders.ReadResult(entries),
                source="generated",
                fmt="csv",
                sha256="",
            )
        result.load_seconds = time.perf_counter() - began
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        print(f"  {backend}: {n_entries} entries loaded; screening…", file=sys.stderr)
        listed = rng.sample(entries, n_queries // 2)
        queries: list[tuple[str, str | None]] = []
        for entry in listed:
            name = entry.names[0]
            roll = rng.random()
            if roll < 0.3:
                name = _typo(rng, name)
            elif roll < 0.5:
                name = " ".join(reversed(name.split()))
            queries.append((name, entry.entry_id))
        for entry in rng.sample(entries, n_queries - len(listed)):
            words = entry.names[0].split()
            queries.append((f"{_word(rng, 3)} {words[-1]}", None))  # a namesake's surname
        rng.shuffle(queries)
        with transaction(factory) as session:
            for name, expected in queries:
                keys = service.tokens(name)
                start = time.perf_counter()
                hits = service.screen(session, name=name, birth_date=None, country=None)
                result.timings.append((time.perf_counter() - start) * 1000)
                result.candidates.append(len(service._candidates(session, keys)))
                if expected is not None:
                    result.listed_queries += 1
                    best = [h.entry_id for h in hits if h.score == hits[0].score]
                    if expected in best:  # namesakes with the same name tie
                        result.found_first += 1
    finally:
        engine.dispose()
    return result


def run_postgresql(admin_url: str, n_entries: int, n_queries: int) -> Result:
    name = f"vigil_bench_{os.getpid()}"
    admin: Engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        return run_backend("postgresql", url, n_entries, n_queries)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_sqlite(n_entries: int, n_queries: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        return run_backend("sqlite", url, n_entries, n_queries)


def table(results: list[Result]) -> str:
    rows = [("backend", "entries", "load s", "p50 ms", "p95 ms", "max ms", "found first", "cand.")]
    for r in results:
        ordered = sorted(r.timings)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        rows.append(
            (
                r.backend,
                f"{r.entries:,}",
                f"{r.load_seconds:.1f}",
                f"{statistics.median(ordered):.1f}",
                f"{p95:.1f}",
                f"{ordered[-1]:.1f}",
                f"{r.found_first}/{r.listed_queries}",
                f"{statistics.mean(r.candidates):.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pg-url", default=os.environ.get("VIGIL_BENCH_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args(argv)
    results = []
    if args.backend in ("postgresql", "both"):
        results.append(run_postgresql(args.pg_url, args.entries, args.queries))
    if args.backend in ("sqlite", "both"):
        results.append(run_sqlite(args.entries, args.queries))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
