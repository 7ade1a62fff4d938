""" "Next case" under contention: many agents pulling at once never share a case.

Runs on both databases: on PostgreSQL the pullers really run in parallel and skip each
other's locked rows; on SQLite they queue on the write lock. Either way each case must go to
exactly one agent.
"""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.cases.conftest import SYSTEM, principal
from tests.factories import make_staff
from vigil.auth.principal import Principal
from vigil.cases import service
from vigil.cases.models import Case, CaseEvent, CaseStatus, CaseType, Queue
from vigil.db import transaction

CASES = 300
AGENTS = 25


def test_concurrent_pullers_never_share_a_case(
    db: Session, session_factory: sessionmaker[Session], queues: dict[str, Queue]
) -> None:
    types = [t for t in CaseType if t is not CaseType.appeal]  # appeals go to specialists
    for i in range(CASES):
        service.create_case(
            db,
            SYSTEM,
            service.NewCase(types[i % len(types)], f"case {i}", priority=1 + i % 4),
        )
    agents: list[Principal] = [principal(make_staff(db)) for _ in range(AGENTS)]
    db.commit()

    got: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(AGENTS)

    def work(agent: Principal) -> None:
        try:
            start.wait()
            while True:
                with transaction(session_factory) as session:
                    case = service.pull_next(session, agent)
                    if case is None:
                        return
                    pulled = (case.id, case.assignee_id)
                with lock:  # recorded only once the transaction committed
                    got.append(pulled)  # type: ignore[arg-type]
        except BaseException as exc:  # surfaced below; a thread must not die silently
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    per_case = Counter(case_id for case_id, _ in got)
    assert len(got) == CASES
    assert len(per_case) == CASES and set(per_case.values()) == {1}

    db.expire_all()
    rows = db.execute(select(Case.id, Case.status, Case.assignee_id)).all()
    assert len(rows) == CASES
    by_case = dict(got)
    for case_id, status, assignee_id in rows:
        assert status == CaseStatus.assigned
        assert assignee_id == by_case[case_id]  # the database agrees with what each agent got
    assigned_events = db.execute(
        select(CaseEvent.case_id, func.count())
        .where(CaseEvent.kind == "assigned")
        .group_by(CaseEvent.case_id)
    ).all()
    assert len(assigned_events) == CASES and {n for _, n in assigned_events} == {1}
    # The work was shared, not done by one agent while the others waited.
    assert len({agent for _, agent in got}) > 1
