"""Helpers for the case tests: the default queues, principals for staff, and cases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_staff
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import routing, service
from vigil.cases.models import Case, CaseEvent, CaseType, Queue

SYSTEM = Principal.system("tests")


@pytest.fixture
def queues(db: Session) -> dict[str, Queue]:
    """The default queues and routing rules, committed so other connections see them. The
    queue objects are detached: reading them never starts a transaction (which on SQLite
    would hold the write lock the app under test needs)."""
    made = routing.ensure_default_queues(db)
    db.commit()
    for q in made:
        db.expunge(q)
    return {q.slug: q for q in made}


def principal(user: StaffUser) -> Principal:
    return auth_service.principal_for(user)


def staff(db: Session, role: Role = Role.agent, **kw: Any) -> tuple[StaffUser, Principal]:
    user = make_staff(db, role=role, **kw)
    return user, principal(user)


def new_case(
    db: Session, actor: Principal = SYSTEM, type: CaseType = CaseType.user_report, **kw: Any
) -> Case:
    kw.setdefault("title", "A user reported a scam")
    result = service.create_case(db, actor, service.NewCase(type=type, **kw))
    return result.case


def event_kinds(db: Session, case_id: int) -> list[str]:
    return list(
        db.scalars(
            select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        )
    )
