"""Two admins demoting each other at the same moment must not leave the team without one."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_staff
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.db import transaction
from vigil.kit.errors import Conflict


@pytest.mark.only_backend("postgresql")  # SQLite serialises writers; the race cannot happen
def test_concurrent_demotions_keep_one_admin(
    db: Session, session_factory: sessionmaker[Session]
) -> None:
    a = make_staff(db, role=Role.admin)
    b = make_staff(db, role=Role.admin)
    db.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor_id: int, target_id: int) -> None:
        barrier.wait()
        try:
            with transaction(session_factory) as session:
                actor = auth_service.principal_for(session.get(StaffUser, actor_id))
                auth_service.update_staff(session, actor, target_id, role=Role.agent)
            outcomes.append("demoted")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [
        threading.Thread(target=demote, args=(a.id, b.id)),
        threading.Thread(target=demote, args=(b.id, a.id)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(outcomes) == ["demoted", "last_admin"]
    db.expire_all()
    admins = db.scalars(select(StaffUser).where(StaffUser.role == Role.admin)).all()
    assert len(admins) == 1
