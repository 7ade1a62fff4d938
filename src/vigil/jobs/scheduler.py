"""The periodic scheduler: one leader enqueues each due slot of each periodic task.

Time is cut into slots aligned to the Unix epoch (a task every 5 minutes has slots 10:00,
10:05, ...). When the leader sees that the current slot of a task has not fired, it enqueues
the task's job with ``dedup_key = "<name>:<slot start>"`` and records the slot in
``periodic_runs``. Slots missed while no scheduler ran are not back-filled: the next one fires.

Leadership:

- PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated connection. The
  lock lives exactly as long as that connection: if the leader process dies or its connection
  drops, PostgreSQL releases it and another scheduler takes over on its next tick. A leader
  that cannot use its connection any more stops leading at once.
- SQLite: a row in ``leases`` (holder, expires_at), renewed while leading; another scheduler
  takes it over only after it expires.

Leadership is a courtesy that keeps the job table quiet, not what guarantees exactly-once:
the unique ``dedup_key`` does. Two schedulers that both believe they lead (a network
partition, a paused process) still enqueue each slot once.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings
from vigil.db import transaction
from vigil.jobs import registry
from vigil.jobs.models import Lease, PeriodicRun
from vigil.jobs.registry import PeriodicTask
from vigil.jobs.service import enqueue_once
from vigil.jobs.worker import worker_name
from vigil.kit import clock

log = logging.getLogger("vigil.jobs.scheduler")

LEASE_NAME = "scheduler"
# Any fixed 63-bit number; it names the scheduler's lock among PostgreSQL advisory locks.
ADVISORY_LOCK_KEY = 0x5649_4749_4C53_4348 & 0x7FFF_FFFF_FFFF_FFFF
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def slot_start(now: datetime, every: timedelta) -> datetime:
    """The start of the slot of length ``every`` that contains ``now``."""
    step = every // timedelta(microseconds=1)
    if step <= 0:
        raise ValueError("a periodic task's interval must be positive")
    elapsed = (now - _EPOCH) // timedelta(microseconds=1)
    return _EPOCH + timedelta(microseconds=elapsed - elapsed % step)


def dedup_key(task: PeriodicTask, slot: datetime) -> str:
    return f"{task.name}:{slot.isoformat()}"


class Scheduler:
    """Call :meth:`tick` often (every ``worker_poll_seconds``); it leads when it can and, while
    leading, enqueues due slots. Call :meth:`close` to give up leadership."""

    #: How long a SQLite lease lasts without renewal; renewed once half of it has passed.
    lease_seconds = 30.0

    def __init__(
        self,
        settings: Settings,
        sessionmaker: sessionmaker[Session],
        name: str | None = None,
        *,
        tasks: list[PeriodicTask] | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.name = name or worker_name()
        self._tasks = tasks
        bind = sessionmaker.kw.get("bind")
        if bind is None:
            raise ValueError("the scheduler needs a sessionmaker bound to an engine")
        self.engine = bind
        self.dialect = bind.dialect.name
        self._conn: Connection | None = None  # PostgreSQL: holds the advisory lock
        self._lease_until: datetime | None = None  # SQLite: our lease's expiry
        self.is_leader = False

    @property
    def tasks(self) -> list[PeriodicTask]:
        return self._tasks if self._tasks is not None else registry.periodic_tasks()

    # --- leadership ----------------------------------------------------------------------

    def _lead_postgresql(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning(
                    "scheduler %s: lost its database connection; no longer leader", self.name
                )
                self._drop_connection()
                return False
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
                ).scalar()
            )
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # Never hand a connection that may still hold the lock back to the pool.
            conn.invalidate()
            conn.close()
        except Exception:
            log.debug("scheduler %s: closing a broken connection failed", self.name, exc_info=True)

    def _lead_sqlite(self) -> bool:
        now = clock.now()
        if self._lease_until is not None and self._lease_until - now > timedelta(
            seconds=self.lease_seconds / 2
        ):
            return True
        until = now + timedelta(seconds=self.lease_seconds)
        with transaction(self.sessionmaker) as session:
            lease = session.get(Lease, LEASE_NAME)
            if lease is None:
                session.add(Lease(name=LEASE_NAME, holder=self.name, expires_at=until))
            elif lease.holder == self.name or lease.expires_at <= now:
                lease.holder = self.name
                lease.expires_at = until
            else:
                self._lease_until = None
                return False
        self._lease_until = until
        return True

    def lead(self) -> bool:
        """Become or stay leader if possible; returns whether this scheduler now leads."""
        was = self.is_leader
        try:
            if self.dialect == "postgresql":
                self.is_leader = self._lead_postgresql()
            else:
                self.is_leader = self._lead_sqlite()
        except Exception:
            log.exception("scheduler %s: leader election failed", self.name)
            self.is_leader = False
        if self.is_leader != was:
            log.info(
                "scheduler %s: %s", self.name, "now leading" if self.is_leader else "not leading"
            )
        return self.is_leader

    def close(self) -> None:
        """Give up leadership now, so another scheduler takes over without waiting."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                self._conn.close()
                self._conn = None
            except Exception:
                self._drop_connection()
        if self._lease_until is not None:
            try:
                with transaction(self.sessionmaker) as session:
                    lease = session.get(Lease, LEASE_NAME)
                    if lease is not None and lease.holder == self.name:
                        session.delete(lease)
            except Exception:
                log.warning("scheduler %s: could not release its lease", self.name, exc_info=True)
            self._lease_until = None
        self.is_leader = False

    # --- enqueueing ----------------------------------------------------------------------

    def enqueue_due(self) -> int:
        """Enqueue the current slot of every task whose slot has not fired; returns how many
        jobs this call added. Safe to call from several schedulers at once."""
        now = clock.now()
        added = 0
        with transaction(self.sessionmaker) as session:
            fired = {run.name: run.last_run_at for run in session.scalars(select(PeriodicRun))}
            for task in self.tasks:
                slot = slot_start(now, task.interval(self.settings))
                last = fired.get(task.name)
                if last is not None and last >= slot:
                    continue
                key = dedup_key(task, slot)
                try:
                    with session.begin_nested():
                        job, fresh = enqueue_once(
                            session, task.kind, dict(task.payload), dedup_key=key
                        )
                        run = session.get(PeriodicRun, task.name)
                        if run is None:
                            session.add(PeriodicRun(name=task.name, last_run_at=slot))
                        elif run.last_run_at < slot:
                            run.last_run_at = slot
                        session.flush()
                except IntegrityError:
                    # Another scheduler recorded this task's run at the same moment; its
                    # transaction enqueued the slot.
                    log.info("scheduler %s: %s already fired elsewhere", self.name, key)
                    continue
                if fresh:
                    added += 1
                    log.info("scheduler %s: enqueued %s (job #%d)", self.name, key, job.id)
        return added

    def tick(self) -> int:
        """One round: hold or take leadership, and while leading enqueue due slots."""
        if not self.tasks or not self.lead():
            return 0
        return self.enqueue_due()

    def run_forever(self, stop_event: threading.Event) -> None:
        poll = self.settings.worker_poll_seconds
        try:
            while not stop_event.is_set():
                try:
                    self.tick()
                except Exception:
                    log.exception("scheduler %s: tick failed", self.name)
                stop_event.wait(poll)
        finally:
            self.close()
