from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.cases.conftest import new_case, staff
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.cases import service
from vigil.cases.models import Queue
from vigil.kit.errors import InvalidInput


def test_a_staff_list_of_cases_is_audited_by_id(db: Session, queues: dict[str, Queue]) -> None:
    first = new_case(db, summary="She sent me her bank details")
    second = new_case(db)
    _, agent = staff(db, Role.agent)
    rows, _ = service.list_cases(db, agent, service.CaseFilter())
    assert {c.id for c in rows} == {first.id, second.id}
    record = db.scalars(select(AuditRecord).where(AuditRecord.action == "cases.case.list")).one()
    assert sorted(record.data["case_ids"]) == sorted([first.id, second.id])
    assert "bank" not in str(record.data)


def test_a_time_filter_without_a_time_zone_is_refused(
    db: Session, queues: dict[str, Queue]
) -> None:
    _, agent = staff(db, Role.agent)
    with pytest.raises(InvalidInput) as err:
        service.list_cases(db, agent, service.CaseFilter(created_from=datetime(2026, 11, 1)))
    assert err.value.field == "created_from"
