"""Helpers for the quality tests: policies with grey areas, reviewers, and applied decisions
made through the real enforcement service."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import FEES, SPAM, body, held_case, make_account, make_policy
from tests.factories import make_staff
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases.models import Case, Queue
from vigil.config import Settings
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import Decision
from vigil.enforcement.schemas import DecisionIn
from vigil.kit.clock import FrozenClock
from vigil.quality.models import (
    CalibrationAnswer,
    CalibrationAssignment,
    CalibrationItem,
    CalibrationSet,
    QASample,
    QASamplerPending,
    QASamplingRate,
)

SYSTEM = Principal.system("tests")
_n = itertools.count(1)

FEES_GREY = [
    {
        "title": "Sharing a phone number",
        "guidance": "A phone number alone is not fee circumvention unless payment is discussed.",
    },
    {"title": "Invoices", "guidance": "Marketplace invoices quoted in messages are allowed."},
]


@pytest.fixture(autouse=True)
def _clock(frozen: FrozenClock) -> FrozenClock:
    return frozen


@pytest.fixture
def world(db: Session) -> dict[str, Queue]:
    return setup_world(db)


def setup_world(db: Session) -> dict[str, Queue]:
    """Default queues, the fee-circumvention policy (with grey areas) and spam."""
    made = routing.ensure_default_queues(db)
    db.flush()
    make_policy(db, FEES, grey_areas=FEES_GREY)
    make_policy(db, SPAM)
    db.flush()
    return {q.slug: q for q in made}


def principal(user: StaffUser) -> Principal:
    return auth_service.principal_for(user)


def staff(db: Session, role: Role = Role.agent) -> tuple[StaffUser, Principal]:
    user = make_staff(db, role=role)
    return user, principal(user)


def decided(
    db: Session,
    settings: Settings,
    reviewer: StaffUser,
    *,
    no_violation: bool = False,
    tier: Tier = Tier.tier1,
    **kw: Any,
) -> Decision:
    """An applied decision by ``reviewer`` on a fresh case (a warning for fee circumvention
    by default; ``no_violation`` for none)."""
    account = make_account(db)
    case = held_case(db, reviewer, account, tier=tier)
    if no_violation:
        data: dict[str, Any] = {
            "no_violation": True,
            "internal_reasoning": "The messages quote a marketplace invoice.",
        }
        data.update(kw)
    else:
        data = body(**kw)
    decision = enforcement.decide(
        db, principal(reviewer), case.id, DecisionIn(**data), settings=settings
    )
    db.flush()
    return decision


def case_of(db: Session, decision: Decision) -> Case:
    case = db.get(Case, decision.case_id)
    assert case is not None
    return case


COUNTED = (
    QASample,
    QASamplingRate,
    QASamplerPending,
    CalibrationSet,
    CalibrationItem,
    CalibrationAssignment,
    CalibrationAnswer,
    AuditRecord,
)


def counts(db: Session, models: Iterable[type] = COUNTED) -> dict[str, int]:
    """Rows per table; ends with a commit so the app under test can write."""
    out = {m.__name__: int(db.scalar(select(func.count()).select_from(m)) or 0) for m in models}
    db.commit()
    return out
