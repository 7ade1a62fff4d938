"""Readiness checks: may this process take traffic now?

Liveness (``GET /livez``) only says the process answers; it is served by
:class:`vigil.ops.metrics.Observe` without touching the database, so a balancer never
restarts a process because PostgreSQL is down. Readiness (``GET /readyz``) runs the checks
below: a process that fails one should get no traffic until it passes again.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, text

from vigil.config import Settings


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str  # what was found, or why the check failed (no secrets, no URLs)


@lru_cache(maxsize=1)
def migrations() -> tuple[frozenset[str], frozenset[str]]:
    """(the newest revisions this code ships, every revision it knows); read once: they
    change only with the code."""
    from alembic.script import ScriptDirectory

    from vigil.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known = frozenset(r.revision for r in script.walk_revisions())
    return frozenset(script.get_heads()), known


def schema_check(revision: str | None) -> CheckResult:
    """Ready at the code's newest revision, and at a revision this code does not know: a
    newer release migrated the database first (migrations add before they remove, so the
    previous release keeps working during a rolling update). Not ready on an empty database
    or one behind the code (``vigil db upgrade`` has not run for this release)."""
    heads, known = migrations()
    if revision in heads:
        return CheckResult("schema", True, f"at {revision}")
    if revision is not None and revision not in known:
        return CheckResult("schema", True, f"at {revision}, newer than this code")
    expected = ", ".join(sorted(heads))
    return CheckResult("schema", False, f"at {revision or 'nothing'}, code expects {expected}")


def check_database(engine: Engine) -> list[CheckResult]:
    """The database answers, and its schema is at the newest migration (an older schema means
    `vigil db upgrade` has not run yet for this release)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any failure to reach or read it
        return [
            CheckResult("database", False, f"unreachable: {exc.__class__.__name__}"),
            CheckResult("schema", False, "unknown: the database is unreachable"),
        ]
    return [CheckResult("database", True, engine.dialect.name), schema_check(revision)]


_redis_clients: dict[tuple[str, float], Any] = {}
_redis_lock = threading.Lock()


def check_redis(url: str, timeout: float) -> CheckResult:
    import redis

    key = (url, timeout)
    with _redis_lock:
        client = _redis_clients.get(key)
        if client is None:
            client = _redis_clients[key] = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
    try:
        client.ping()
    except redis.RedisError as exc:
        return CheckResult("redis", False, f"unreachable: {exc.__class__.__name__}")
    return CheckResult("redis", True, "answers")


def check_blobs(settings: Settings) -> CheckResult:
    """The folder of encrypted blobs accepts a file (a full disk or a read-only mount would
    fail every document upload)."""
    folder = settings.blob_path
    probe = folder / f".ready-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"ok")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        return CheckResult("blobs", False, f"not writable: {reason}")
    return CheckResult("blobs", True, "writable")


async def readiness(settings: Settings, engine: Engine) -> list[CheckResult]:
    """Every check, run at once in threads; one that does not finish within
    ``readiness_timeout_seconds`` fails as ``timed out``."""
    timeout = settings.readiness_timeout_seconds
    checks: list[tuple[list[str], Callable[[], Any]]] = [
        (["database", "schema"], lambda: check_database(engine)),
        (["blobs"], lambda: check_blobs(settings)),
    ]
    if settings.redis_url:
        url = settings.redis_url
        checks.append((["redis"], lambda: check_redis(url, timeout)))

    async def run(names: list[str], fn: Callable[[], Any]) -> list[CheckResult]:
        try:
            found = await asyncio.wait_for(asyncio.to_thread(fn), timeout)
        except TimeoutError:
            return [CheckResult(n, False, f"timed out after {timeout:g}s") for n in names]
        return found if isinstance(found, list) else [found]

    results = await asyncio.gather(*(run(names, fn) for names, fn in checks))
    return [r for group in results for r in group]
