"""Two closed cases with known SLA outcomes, built through the services.

- case A opened 18 Nov 10:00, SLA due 18 Nov 20:00, decided 19 Nov 12:00: SLA missed;
- case B opened 18 Nov 12:00, SLA due 21 Nov 12:00, decided 20 Nov 13:00: SLA met.
The clock stops at 21 Nov 2026 09:00 UTC (a Saturday): November's SLA attainment is 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    SUSPEND_7,
    SYSTEM,
    decide,
    make_account,
    make_policy,
    statement,
)
from tests.enforcement.conftest import principal as principal_of
from tests.factories import make_staff
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseType
from vigil.config import Settings
from vigil.kit.clock import FrozenClock


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


@dataclass
class Closed:
    head: StaffUser
    agent: StaffUser
    a: Case
    b: Case


def _open(db: Session, frozen: FrozenClock, when: datetime, **kw: object) -> Case:
    frozen.set(when)
    case = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(type=CaseType.user_report, title="Off-platform payment", **kw),  # type: ignore[arg-type]
    ).case
    db.flush()
    return case


@pytest.fixture
def closed(db: Session, settings: Settings, frozen: FrozenClock) -> Closed:
    frozen.set(at(15, 8))
    routing.ensure_default_queues(db)
    make_policy(db)
    head = make_staff(db, role=Role.leadership, name="Hana Head")
    agent = make_staff(db, role=Role.agent, name="Ana")
    account = make_account(db)
    other = make_account(db, side="client")
    a = _open(db, frozen, at(18, 10), account_id=account.id)
    a.sla_due_at = at(18, 20)
    b = _open(db, frozen, at(18, 12), account_id=other.id)
    b.sla_due_at = at(21, 12)
    db.flush()
    frozen.set(at(19, 10))
    cases.assign(db, SYSTEM, a.id, staff_id=agent.id)
    frozen.set(at(19, 12))
    decide(
        db,
        principal_of(agent),
        a,
        settings,
        actions=SUSPEND_7,
        departure_reason="Repeated.",
        statement=statement(content_date="2026-11-18"),
    )
    frozen.set(at(20, 12))
    cases.assign(db, SYSTEM, b.id, staff_id=agent.id)
    frozen.set(at(20, 13))
    decide(db, principal_of(agent), b, settings)
    frozen.set(at(21, 9))
    db.flush()
    return Closed(head, agent, a, b)
