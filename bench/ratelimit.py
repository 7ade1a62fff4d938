"""The cost of one rate-limit check (``vigil.kit.ratelimit``): in process and in Redis, from
one thread and from several at once. Prints a table; asserts nothing.

    .venv/bin/python bench/ratelimit.py                      # Redis at 127.0.0.1:6379
    .venv/bin/python bench/ratelimit.py --redis-url redis://host:6379/0 --hits 20000

Each hit goes to one of ``--keys`` keys (API keys), with a limit high enough never to refuse:
what is measured is the check itself, the cost every /v1 request pays.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid

from vigil.kit.ratelimit import MemoryLimiter, RateLimiter, RedisLimiter


def run(limiter: RateLimiter, hits: int, threads: int, keys: int) -> tuple[float, float, float]:
    per_thread = hits // threads
    samples: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def work(i: int) -> None:
        out = samples[i]
        start.wait()
        for n in range(per_thread):
            t0 = time.perf_counter()
            limiter.hit(f"api:key:{(i * per_thread + n) % keys}", 10**9, 60)
            out.append(time.perf_counter() - t0)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    flat = sorted(x for s in samples for x in s)
    p99 = flat[int(len(flat) * 0.99) - 1]
    return len(flat) / wall, statistics.median(flat) * 1e6, p99 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--hits", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=100)
    args = parser.parse_args()
    rows = []
    prefix = f"vigil-bench-rl:{uuid.uuid4().hex}:"
    backends: list[tuple[str, RateLimiter]] = [("memory", MemoryLimiter())]
    redis_limiter = RedisLimiter.from_url(args.redis_url, prefix=prefix)
    try:
        redis_limiter.client.ping()
        backends.append(("redis", redis_limiter))
    except Exception as exc:  # no Redis here: measure the memory limiter only
        print(f"Redis not reachable at {args.redis_url} ({exc.__class__.__name__}): skipped")
    for name, limiter in backends:
        for threads in (1, 8):
            rate, p50, p99 = run(limiter, args.hits, threads, args.keys)
            rows.append((name, threads, rate, p50, p99))
    if len(backends) > 1:
        redis_limiter.delete_all()
    redis_limiter.close()
    print(f"\n{'backend':<8} {'threads':>7} {'checks/s':>10} {'p50 µs':>9} {'p99 µs':>9}")
    for name, threads, rate, p50, p99 in rows:
        print(f"{name:<8} {threads:>7} {rate:>10,.0f} {p50:>9.1f} {p99:>9.1f}")


if __name__ == "__main__":
    main()
