"""Under contention: the same dispute opened at once by several requests is opened once, and
sweeps running side by side default each dispute once.

On PostgreSQL the requests really run in parallel (the live-subject index lets one insert win
and the others return it; the sweeps skip each other's locked rows); on SQLite they queue on
the write lock. Either way the outcome is the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.disputes.conftest import MARKETPLACE, make_account, spec
from vigil.cases import routing
from vigil.config import Settings
from vigil.db import transaction
from vigil.disputes import service
from vigil.disputes.models import Dispute, DisputeEvent, DisputeEventKind
from vigil.disputes.schemas import OpenDispute
from vigil.kit.clock import FrozenClock

WORKERS = 6


def _together(work: Callable[[], object]) -> list[object]:
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def run() -> None:
        try:
            start.wait()
            out = work()
            with lock:
                results.append(out)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_one_subject_opened_at_once_is_one_dispute(
    db: Session, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    routing.ensure_default_queues(db)
    buyer = make_account(db, "client")
    seller = make_account(db, "freelancer")
    body: OpenDispute = spec(buyer, seller, subject_ref="contract-1")
    db.commit()

    def open_it() -> int:
        with transaction(session_factory) as session:
            return service.open_dispute(session, MARKETPLACE, body, settings=settings).id

    ids = _together(open_it)
    assert len(set(ids)) == 1
    assert db.scalar(select(func.count()).select_from(Dispute)) == 1


def test_sweeps_side_by_side_default_each_dispute_once(
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    frozen: FrozenClock,
) -> None:
    routing.ensure_default_queues(db)
    buyer = make_account(db, "client")
    seller = make_account(db, "freelancer")
    for i in range(10):
        service.open_dispute(
            db, MARKETPLACE, spec(buyer, seller, subject_ref=f"c-{i}"), settings=settings
        )
    db.commit()
    frozen.advance(timedelta(hours=settings.dispute_response_hours))

    def sweep() -> int:
        with transaction(session_factory) as session:
            return service.sweep(session, settings)

    done = _together(sweep)
    assert sum(done) == 10  # type: ignore[arg-type]
    defaults = db.scalar(
        select(func.count())
        .select_from(DisputeEvent)
        .where(DisputeEvent.kind == DisputeEventKind.defaulted)
    )
    assert defaults == 10
