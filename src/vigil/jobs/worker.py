"""The job worker: claim due jobs, run each handler in its own transaction, retry or bury.

A job's life on a worker:

1. **Claim** (one short transaction, committed): due ``queued`` jobs, and ``running`` jobs
   whose lease expired (their worker died), become ``running`` with ``locked_by = me``,
   ``locked_until = now + lease`` and ``attempts + 1``. On PostgreSQL the candidates are
   picked with ``FOR UPDATE SKIP LOCKED``, so any number of workers share the table without
   waiting on each other; on SQLite the claim is one ``UPDATE ... RETURNING`` inside the
   database's single write lock (``BEGIN IMMEDIATE``).
2. **Run** (one transaction per job): the job row is locked again and the claim re-checked
   (still ``running``, still ``locked_by = me``, same attempt), so a job whose lease expired
   and was claimed by another worker is never run or finished twice. The handler's writes and
   ``status = done`` commit together: either both happen or neither does. While the handler
   runs, its transaction holds the row lock, so on PostgreSQL no other worker can claim the
   job even when a slow handler outlives its lease.
3. **Fail**: the handler's writes are rolled back; in a new transaction (after the same
   re-check) the job is re-queued with exponential backoff, or goes ``dead`` when it is out
   of attempts, raised :class:`PermanentFailure`, or has no handler.

A worker killed at any point leaves its job ``running`` with a lease that expires; the next
claim after expiry picks it up again. Nothing the killed attempt wrote was committed.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from sqlalchemy import ColumnElement, Executable, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings
from vigil.jobs import registry
from vigil.jobs.models import Job, JobStatus
from vigil.jobs.registry import JobContext, PermanentFailure
from vigil.kit import clock
from vigil.ops.logging import job_context
from vigil.ops.metrics import install_hooks as install_metric_hooks
from vigil.ops.metrics import job_finished, serve_metrics

log = logging.getLogger("vigil.jobs")

_ERROR_LIMIT = 8000
LEASE_LOST = "the previous attempt's worker stopped before finishing (its lease expired)"


def worker_name() -> str:
    """Unique per worker instance: a restarted process on the same host is a new worker."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff_delay(settings: Settings, attempts: int, jitter: float) -> timedelta:
    """Delay before the next attempt after ``attempts`` failed ones.

    ``base * 2**(attempts-1)``, capped at ``job_backoff_max_seconds``, then scaled by a factor
    in [0.8, 1.0] (``jitter`` in [0, 1)) so jobs that failed together do not retry together.
    """
    exponent = max(attempts - 1, 0)
    # Cap the exponent before raising 2 to it: attempts can be large after many retries.
    raw = settings.job_backoff_base_seconds * 2 ** min(exponent, 62)
    capped = min(raw, settings.job_backoff_max_seconds)
    return timedelta(seconds=capped * (0.8 + 0.2 * jitter))


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    attempt: int
    max_attempts: int


class Worker:
    """Runs due jobs. Safe to run in many threads and processes at once (on PostgreSQL)."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: sessionmaker[Session],
        name: str | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.name = name or worker_name()
        self.rng = rng or random.Random()
        bind = sessionmaker.kw.get("bind")
        if bind is None:
            # The claim differs per database; guessing wrong would let two workers claim
            # the same job on PostgreSQL.
            raise ValueError("the worker needs a sessionmaker bound to an engine")
        self.dialect = bind.dialect.name

    # --- claiming -----------------------------------------------------------------------

    def _claim_statement(
        self,
        due: ColumnElement[bool],
        order: tuple[Any, ...],
        limit: int,
        now: datetime,
        *,
        reclaim: bool,
    ) -> Executable:
        candidates = select(Job.id).where(due).order_by(*order).limit(limit)
        if self.dialect == "postgresql":
            # A CTE with FOR UPDATE is materialised once: exactly these rows are locked and
            # updated, and rows another worker is claiming right now are skipped, not waited on.
            picked = candidates.with_for_update(skip_locked=True).cte("picked")
            target = Job.id.in_(select(picked.c.id))
        else:
            target = Job.id.in_(candidates.scalar_subquery())
        values: dict[str, Any] = {
            "status": JobStatus.running,
            "locked_by": self.name,
            "locked_until": now + timedelta(seconds=self.settings.job_lease_seconds),
            "attempts": Job.attempts + 1,
            "started_at": now,
        }
        if reclaim:
            # So an operator sees why attempt N+1 started without attempt N finishing.
            values["last_error"] = LEASE_LOST
        return (
            update(Job)
            .where(target)
            .values(**values)
            .returning(Job.id, Job.kind, Job.attempts, Job.max_attempts)
            .execution_options(synchronize_session=False)
        )

    def claim(self, limit: int) -> list[Claimed]:
        """Take up to ``limit`` due jobs and commit the claim. Jobs that ran out of attempts
        because their workers kept dying are buried here instead of being run again.

        Expired leases and queued jobs are claimed by two statements rather than one ``OR``:
        each then reads its own partial index in order and stops after ``limit`` rows, where
        the ``OR`` would sort the whole backlog on every claim.
        """
        now = clock.now()
        expired = (Job.status == JobStatus.running) & (Job.locked_until < now)
        queued = (Job.status == JobStatus.queued) & (Job.run_at <= now)
        session = self.sessionmaker()
        try:
            stmt = self._claim_statement(
                expired, (Job.locked_until, Job.id), limit, now, reclaim=True
            )
            rows = list(session.execute(stmt))
            if len(rows) < limit:
                stmt = self._claim_statement(
                    queued, (Job.run_at, Job.id), limit - len(rows), now, reclaim=False
                )
                rows.extend(session.execute(stmt))
            claimed: list[Claimed] = []
            exhausted: list[int] = []
            for row in rows:
                if row.attempts > row.max_attempts:
                    exhausted.append(row.id)
                else:
                    claimed.append(Claimed(row.id, row.kind, row.attempts, row.max_attempts))
            if exhausted:
                session.execute(
                    update(Job)
                    .where(Job.id.in_(exhausted))
                    .values(
                        status=JobStatus.dead,
                        attempts=Job.attempts - 1,
                        locked_until=None,
                        finished_at=now,
                        last_error=LEASE_LOST + "; no attempts left",
                    )
                    .execution_options(synchronize_session=False)
                )
                for job_id in exhausted:
                    log.error("job #%d dead: its workers kept stopping mid-run", job_id)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        claimed.sort(key=lambda c: c.id)
        return claimed

    def release(self, jobs: Sequence[Claimed]) -> None:
        """Give back claimed jobs that were never started (stopping mid-batch), so they run
        now instead of after the lease expires; the unused attempt is returned too."""
        if not jobs:
            return
        session = self.sessionmaker()
        try:
            for job in jobs:
                session.execute(
                    update(Job)
                    .where(
                        Job.id == job.id,
                        Job.status == JobStatus.running,
                        Job.locked_by == self.name,
                        Job.attempts == job.attempt,
                    )
                    .values(
                        status=JobStatus.queued,
                        attempts=Job.attempts - 1,
                        locked_by=None,
                        locked_until=None,
                    )
                    .execution_options(synchronize_session=False)
                )
            session.commit()
        finally:
            session.close()

    # --- running ------------------------------------------------------------------------

    def run_once(self, limit: int = 10, stop: threading.Event | None = None) -> int:
        """Claim up to ``limit`` due jobs and run them one after another; returns how many
        were claimed. With ``stop`` set mid-batch, the job in hand finishes and the rest are
        released."""
        claimed = self.claim(limit)
        for index, job in enumerate(claimed):
            if stop is not None and stop.is_set():
                self.release(claimed[index:])
                break
            self.run_job(job)
        return len(claimed)

    def _still_mine(self, session: Session, claimed: Claimed) -> Job | None:
        job = session.execute(
            select(Job).where(Job.id == claimed.id).with_for_update()
        ).scalar_one_or_none()
        if (
            job is None
            or job.status != JobStatus.running
            or job.locked_by != self.name
            or job.attempts != claimed.attempt
        ):
            log.warning(
                "job #%d %s: lease lost before it could be finished; leaving it to its new owner",
                claimed.id,
                claimed.kind,
            )
            return None
        return job

    def run_job(self, claimed: Claimed) -> None:
        # Every log line of the attempt carries the job's id and kind.
        with job_context(claimed.id, claimed.kind):
            self._run_job(claimed)

    def _run_job(self, claimed: Claimed) -> None:
        started = time.monotonic()
        session = self.sessionmaker()
        try:
            job = self._still_mine(session, claimed)
            if job is None:
                session.rollback()
                return
            fn = registry.get_handler(job.kind)
            if fn is None:
                self._bury(session, job, f"no handler for job kind {job.kind!r}")
                session.commit()
                job_finished(claimed.kind, "dead", time.monotonic() - started)
                log.error("job #%d %s: dead, no handler for this kind", job.id, job.kind)
                return
            try:
                ctx = JobContext(session, self.settings, job.id, job.attempts)
                fn(ctx, dict(job.payload or {}))
                session.flush()
                if ctx.released:
                    # The handler ended its transaction for I/O: the job row is no longer
                    # locked, so make sure the lease is still ours before finishing it.
                    job = self._still_mine(session, claimed)
                    if job is None:
                        session.rollback()
                        return
                job.status = JobStatus.done
                job.finished_at = clock.now()
                job.locked_until = None
                session.commit()
                job_finished(claimed.kind, "done", time.monotonic() - started)
            except Exception as exc:
                session.rollback()
                self._failed(claimed, exc, time.monotonic() - started)
                return
            log.info(
                "job #%d %s attempt %d/%d: done in %.3fs",
                claimed.id,
                claimed.kind,
                claimed.attempt,
                claimed.max_attempts,
                time.monotonic() - started,
            )
        except BaseException:
            # Interrupted (or the database went away): nothing of this attempt is committed,
            # and the job is run again once its lease expires.
            session.rollback()
            raise
        finally:
            session.close()

    def _bury(self, session: Session, job: Job, error: str) -> None:
        job.status = JobStatus.dead
        job.last_error = error[:_ERROR_LIMIT]
        job.finished_at = clock.now()
        job.locked_until = None

    def _failed(self, claimed: Claimed, exc: Exception, elapsed: float) -> None:
        error = "".join(traceback.format_exception(exc))[-_ERROR_LIMIT:]
        session = self.sessionmaker()
        try:
            job = self._still_mine(session, claimed)
            if job is None:
                session.rollback()
                return
            permanent = isinstance(exc, PermanentFailure)
            if permanent or job.attempts >= job.max_attempts:
                self._bury(session, job, error)
                session.commit()
                job_finished(claimed.kind, "dead", elapsed)
                log.error(
                    "job #%d %s attempt %d/%d: dead after %.3fs (%s): %s",
                    job.id,
                    job.kind,
                    job.attempts,
                    job.max_attempts,
                    elapsed,
                    "permanent failure" if permanent else "out of attempts",
                    exc,
                )
                return
            delay = backoff_delay(self.settings, job.attempts, self.rng.random())
            job.status = JobStatus.queued
            job.run_at = clock.now() + delay
            job.last_error = error
            job.locked_by = None
            job.locked_until = None
            session.commit()
            job_finished(claimed.kind, "retry", elapsed)
            log.warning(
                "job #%d %s attempt %d/%d: failed after %.3fs, retry in %.1fs: %s",
                job.id,
                job.kind,
                job.attempts,
                job.max_attempts,
                elapsed,
                delay.total_seconds(),
                exc,
            )
        except Exception:
            # The job stays running and is picked up again when its lease expires.
            session.rollback()
            log.exception("job #%d: could not record its failure", claimed.id)
        finally:
            session.close()

    def run_forever(self, stop_event: threading.Event, *, batch: int = 1) -> None:
        """Poll until ``stop_event`` is set; the job in hand always finishes first.

        One job per claim by default: a worker that claims a batch sits on jobs other workers
        could be running, and their leases tick while they wait.
        """
        log.info("worker %s started", self.name)
        poll = self.settings.worker_poll_seconds
        while not stop_event.is_set():
            try:
                ran = self.run_once(batch, stop_event)
            except (OperationalError, InterfaceError) as exc:
                # The database is down or restarting: expected, and said once per poll
                # without a traceback. The job in hand (if any) is retaken after its lease.
                log.warning(
                    "worker %s: database unavailable (%s); retrying in %.1fs",
                    self.name,
                    type(exc.orig).__name__,
                    poll,
                )
                ran = 0
            except Exception:
                log.exception("worker %s: claim failed; retrying in %.1fs", self.name, poll)
                ran = 0
            if ran == 0:
                stop_event.wait(poll)
        log.info("worker %s stopped", self.name)

    def drain(self, *, batch: int = 10, stop: threading.Event | None = None) -> int:
        """Run due jobs until none is left (``vigil worker --once``, tests)."""
        total = 0
        while stop is None or not stop.is_set():
            ran = self.run_once(batch, stop)
            if ran == 0:
                break
            total += ran
        return total


class EmbeddedWorker:
    """One worker (and, when enabled, the scheduler) in daemon threads inside ``vigil serve``."""

    def __init__(self, settings: Settings, sessionmaker: sessionmaker[Session]) -> None:
        from vigil.jobs.scheduler import Scheduler

        self.settings = settings
        self.stop_event = threading.Event()
        self.worker = Worker(settings, sessionmaker)
        self.scheduler = Scheduler(settings, sessionmaker) if settings.scheduler_enabled else None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            return
        self.stop_event.clear()
        self._threads.append(
            threading.Thread(
                target=self.worker.run_forever,
                args=(self.stop_event,),
                name="vigil-worker",
                daemon=True,
            )
        )
        if self.scheduler is not None:
            self._threads.append(
                threading.Thread(
                    target=self.scheduler.run_forever,
                    args=(self.stop_event,),
                    name="vigil-scheduler",
                    daemon=True,
                )
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the job in hand finish (up to ``timeout``), then return. A job still running
        after that is abandoned with the process and retried when its lease expires."""
        self.stop_event.set()
        # The scheduler thread gives up leadership itself on the way out.
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []


def main(
    *,
    once: bool = False,
    scheduler: bool = True,
    settings: Settings | None = None,
    metrics_port: int | None = None,
) -> int:
    """``vigil worker``: a worker loop, plus the scheduler loop unless ``scheduler=False``.

    SIGTERM or SIGINT stops after the job in hand; a second SIGINT interrupts it (the job is
    then retried after its lease expires).
    """
    from vigil.app import load_task_modules
    from vigil.db import make_engine, make_sessionmaker
    from vigil.jobs.scheduler import Scheduler

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    settings = settings or Settings()
    load_task_modules()
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    worker = Worker(settings, factory)
    install_metric_hooks()
    metrics_server = (
        serve_metrics(settings, factory, engine, metrics_port) if metrics_port else None
    )
    sched = Scheduler(settings, factory) if scheduler and settings.scheduler_enabled else None
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "worker %s: %s, stopping after the job in hand", worker.name, signal.strsignal(signum)
        )
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if once:
            if sched is not None:
                try:
                    sched.tick()
                finally:
                    sched.close()
            ran = worker.drain(stop=stop)
            log.info("worker %s: ran %d job(s)", worker.name, ran)
            return 0
        thread = None
        if sched is not None:
            # Its own thread, so a long job does not hold up leadership renewal or slots.
            thread = threading.Thread(
                target=sched.run_forever, args=(stop,), name="vigil-scheduler", daemon=True
            )
            thread.start()
        try:
            worker.run_forever(stop)
        finally:
            stop.set()
            if thread is not None:
                thread.join(10)
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        engine.dispose()
