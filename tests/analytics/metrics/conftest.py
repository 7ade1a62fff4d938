"""A small week of T&S work with known timestamps, built through the services.

Timeline (UTC, November 2026; the window is 18-21, by day):
- case D opened on the 15th at 09:00, still open (the oldest of the backlog);
- case A (freelancer, en) opened 18th 10:00, SLA due 18th 20:00; Ana takes it herself on the
  19th 10:00 and suspends the account at 12:00 (closed: SLA missed);
- case B (client, es) opened 18th 12:00, SLA due 21st 12:00; assigned to Ben on the 20th
  12:00, who warns at 13:00 (closed: SLA met);
- case C opened 21st 08:00, still open; the clock stops at 21st 09:00.
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
    principal,
    statement,
)
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
class Week:
    ana: StaffUser
    ben: StaffUser
    a: Case
    b: Case
    c: Case
    d: Case


def _open(db: Session, frozen: FrozenClock, when: datetime, **kw: object) -> Case:
    frozen.set(when)
    kw.setdefault("type", CaseType.user_report)
    kw.setdefault("title", "Off-platform payment request")
    case = cases.create_case(db, SYSTEM, cases.NewCase(**kw)).case  # type: ignore[arg-type]
    db.flush()
    return case


@pytest.fixture
def week(db: Session, settings: Settings, frozen: FrozenClock) -> Week:
    frozen.set(at(15, 8))
    routing.ensure_default_queues(db)
    make_policy(db)
    ana = make_staff(db, role=Role.agent, name="Ana")
    ben = make_staff(db, role=Role.agent, name="Ben")
    freelancer = make_account(db, side="freelancer")
    client = make_account(db, side="client", locale="es")

    d = _open(db, frozen, at(15, 9), account_id=freelancer.id)
    a = _open(db, frozen, at(18, 10), account_id=freelancer.id)
    a.sla_due_at = at(18, 20)
    b = _open(db, frozen, at(18, 12), account_id=client.id, language="es")
    b.sla_due_at = at(21, 12)
    db.flush()

    frozen.set(at(19, 10))
    cases.assign(db, principal(ana), a.id, staff_id=ana.id)
    frozen.set(at(19, 12))
    decide(
        db, principal(ana), a, settings, actions=SUSPEND_7, departure_reason="Repeated.",
        statement=statement(content_date="2026-11-18"),
    )  # fmt: skip

    frozen.set(at(20, 12))
    cases.assign(db, SYSTEM, b.id, staff_id=ben.id)
    frozen.set(at(20, 13))
    decide(db, principal(ben), b, settings)

    c = _open(db, frozen, at(21, 8))
    frozen.set(at(21, 9))
    db.flush()
    return Week(ana, ben, a, b, c, d)
