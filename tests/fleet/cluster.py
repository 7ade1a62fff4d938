"""Start a Vigil fleet on loopback: N ``vigil serve`` and M ``vigil worker`` processes, real
subprocesses sharing one database and one Redis, as docs/deployment.md describes.

Used by tests/fleet/test_fleet.py and bench/load.py. Every process is our own child, started
in its own session and stopped by its id (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

VIGIL = str(Path(sys.executable).with_name("vigil"))
SECRET_KEY = "fleet-secret-key-not-for-production"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str  # the API, or the worker's metrics endpoint

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Fleet:
    apis: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)

    @property
    def api_urls(self) -> list[str]:
        return [p.url for p in self.apis]

    @property
    def worker_metrics_urls(self) -> list[str]:
        return [p.url for p in self.workers]

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ({p.log_path}) ---\n{p.log_tail()}" for p in self.apis + self.workers
        )


def fleet_env(
    database_url: str, redis_url: str | None, folder: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """What every process of one deployment shares (docs/deployment.md): database, Redis,
    secret key, data folder (blob key, fingerprint key, field key files)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VIGIL_") or key.startswith("VIGIL_TEST_")
    }
    env.update(
        {
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_DATA_DIR": str(folder / "data"),
            "VIGIL_SECRET_KEY": SECRET_KEY,
            "VIGIL_LOG_FORMAT": "json",
            "VIGIL_WORKER_POLL_SECONDS": "0.2",
        }
    )
    if redis_url:
        env["VIGIL_REDIS_URL"] = redis_url
    env.update(extra or {})
    return env


def _start(args: list[str], env: dict[str, str], folder: Path, name: str, url: str) -> Process:
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            args,
            env=env,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, popen, log_path, url)


def stop(process: Process, grace: float = 20.0) -> None:
    """Stop our own child by its id: SIGTERM (the job in hand finishes), then SIGKILL."""
    if not process.alive():
        return
    os.killpg(process.popen.pid, signal.SIGTERM)
    try:
        process.popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait()


def wait_ready(processes: list[Process], path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(processes)
    while waiting:
        for process in list(waiting):
            if not process.alive():
                raise RuntimeError(
                    f"{process.name} exited with {process.popen.returncode}:\n" + process.log_tail()
                )
            try:
                if httpx.get(process.url + path, timeout=3).status_code == 200:
                    waiting.remove(process)
            except httpx.HTTPError:
                pass
        if waiting and time.monotonic() > deadline:
            names = ", ".join(p.name for p in waiting)
            raise RuntimeError(
                f"not ready within {timeout:.0f}s: {names}\n"
                + "\n".join(p.log_tail() for p in waiting)
            )
        if waiting:
            time.sleep(0.25)


@contextmanager
def fleet(
    database_url: str,
    redis_url: str | None,
    folder: Path,
    *,
    apis: int = 2,
    workers: int = 2,
    extra_env: dict[str, str] | None = None,
    api_worker: bool = False,
    start_timeout: float = 90.0,
) -> Iterator[Fleet]:
    """Start the processes (all at once: they import in parallel) and wait until every API
    answers ``/readyz`` and every worker its metrics port; stop them all on the way out.

    The database must be migrated already (``vigil db upgrade`` runs once per release, not
    per process). ``api_worker``: each ``vigil serve`` also runs its in-process worker (the
    one-machine mode)."""
    env = fleet_env(database_url, redis_url, folder, extra_env)
    started = Fleet()
    with ExitStack() as stack:
        for i in range(apis):
            port = free_port()
            args = [VIGIL, "serve", "--host", "127.0.0.1", "--port", str(port)]
            args.append("--worker" if api_worker else "--no-worker")
            process = _start(args, env, folder, f"api{i + 1}", f"http://127.0.0.1:{port}")
            stack.callback(stop, process)
            started.apis.append(process)
        for i in range(workers):
            port = free_port()
            args = [VIGIL, "worker", "--metrics-port", str(port)]
            process = _start(args, env, folder, f"worker{i + 1}", f"http://127.0.0.1:{port}")
            stack.callback(stop, process)
            started.workers.append(process)
        wait_ready(started.apis, "/readyz", start_timeout)
        wait_ready(started.workers, "/metrics", start_timeout)
        yield started
