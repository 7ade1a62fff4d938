"""Job handlers and periodic tasks, registered by name.

A handler receives a ``JobContext`` (its own session, inside the worker's transaction) and the
job's payload. Handlers must be idempotent: a job may run more than once (a worker can die
after the work and before the commit that marks it done).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from vigil.config import Settings


@dataclass
class JobContext:
    session: Session
    settings: Settings
    job_id: int
    attempt: int
    # Set by :meth:`end_transaction`; the worker then re-checks its lease before finishing.
    released: bool = False

    def end_transaction(self) -> None:
        """Commit what the handler wrote so far and end the transaction before slow I/O (an
        HTTP POST, an SMTP conversation), so the I/O holds no row locks — and on SQLite, where
        every transaction holds the database's write lock, does not stall every other writer.

        The job stays leased to this worker. The next statement starts a new transaction, in
        which the handler reloads and locks its rows and re-checks its precondition; the
        worker re-checks the lease before marking the job done. Whatever was committed here
        stays committed even if the rest of the handler fails, so commit only state that is
        true whatever the I/O's outcome."""
        self.session.commit()
        self.released = True


Handler = Callable[[JobContext, dict[str, Any]], None]


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every: timedelta
    kind: str
    payload: dict[str, Any]
    # A Settings field (in seconds) that overrides ``every``: tasks are declared at import,
    # before any Settings exists, so the interval is looked up when the scheduler runs.
    setting: str | None = None

    def interval(self, settings: Settings | None) -> timedelta:
        if self.setting is not None and settings is not None:
            return timedelta(seconds=float(getattr(settings, self.setting)))
        return self.every


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help (bad payload, missing row): the job goes
    straight to ``dead``."""


_handlers: dict[str, Handler] = {}
_periodic: dict[str, PeriodicTask] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        existing = _handlers.get(kind)
        if existing is not None and existing is not fn:
            raise RuntimeError(f"job kind {kind!r} registered twice")
        _handlers[kind] = fn
        return fn

    return register


def get_handler(kind: str) -> Handler | None:
    return _handlers.get(kind)


def handler_kinds() -> list[str]:
    return sorted(_handlers)


def periodic(
    name: str,
    every: timedelta,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    setting: str | None = None,
) -> None:
    """Declare that job ``kind`` runs every ``every``; the scheduler leader enqueues it."""
    if name in _periodic and _periodic[name].kind != kind:
        raise RuntimeError(f"periodic task {name!r} declared twice")
    _periodic[name] = PeriodicTask(name, every, kind, payload or {}, setting)


def periodic_tasks() -> list[PeriodicTask]:
    return list(_periodic.values())
