"""Helpers for account tests: actors and a one-call way to create accounts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts import service
from vigil.accounts.models import Account
from vigil.accounts.schemas import AccountUpsert
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import API_KEY_SCOPES, Role
from vigil.auth.principal import Principal


@pytest.fixture
def marketplace() -> Principal:
    """The marketplace's servers, as an API key principal."""
    return Principal.api_key(1, "marketplace", API_KEY_SCOPES)


@pytest.fixture
def system() -> Principal:
    return Principal.system("test")


def staff_principal(role: Role = Role.specialist, staff_id: int | None = None) -> Principal:
    """A staff principal for service tests. ``staff_id`` must name a real staff row when the
    code stores it (restrictions' created_by_id)."""
    return Principal.staff(staff_id or 0, f"{role.value} tester", role)


def upsert(db: Session, actor: Principal, external_id: str, **fields: Any) -> tuple[Account, bool]:
    fields.setdefault("side", "freelancer")
    return service.upsert_account(db, actor, external_id, AccountUpsert(**fields))


def audit_actions(db: Session, prefix: str = "accounts.") -> list[AuditRecord]:
    return list(
        db.scalars(
            select(AuditRecord)
            .where(AuditRecord.action.startswith(prefix))
            .order_by(AuditRecord.id)
        )
    )
