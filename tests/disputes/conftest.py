"""Helpers for dispute tests: two accounts on opposite sides, a marketplace key, a mediator
holding the dispute's case, and row counts for "nothing written" checks."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_staff
from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.accounts.schemas import AccountUpsert
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.permissions import API_KEY_SCOPES, Role
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.cases.models import Case
from vigil.communications.models import Message
from vigil.disputes.models import (
    Dispute,
    DisputeEvent,
    DisputeProposal,
    DisputeSubmission,
)
from vigil.disputes.schemas import MoneyIn, OpenDispute
from vigil.integrations.models import WebhookDelivery
from vigil.jobs.models import Job
from vigil.kit.clock import FrozenClock

SYSTEM = Principal.system("tests")
MARKETPLACE = Principal.api_key(1, "marketplace key", API_KEY_SCOPES)
_n = itertools.count(1)


@pytest.fixture(autouse=True)
def _clock(frozen: FrozenClock) -> FrozenClock:
    """Every dispute test runs on the frozen clock (2026-11-21 09:00 UTC)."""
    return frozen


@pytest.fixture
def queues(db: Session) -> None:
    routing.ensure_default_queues(db)
    db.flush()


def make_account(db: Session, side: str, **fields: Any) -> Account:
    fields.setdefault("display_name", f"User {next(_n)}")
    fields.setdefault("email", f"user{next(_n)}@example.com")
    fields.setdefault("locale", "en")
    external_id = fields.pop("external_id", None) or f"acct-{next(_n)}"
    account, _ = accounts.upsert_account(
        db, SYSTEM, external_id, AccountUpsert(side=side, **fields)
    )
    return account


def spec(buyer: Account, seller: Account, **changes: Any) -> OpenDispute:
    amount = changes.pop("amount", "120.50")
    currency = changes.pop("currency", "USD")
    values: dict[str, Any] = {
        "subject_type": "job",
        "subject_ref": f"job-{next(_n)}",
        "buyer_external_id": buyer.external_id,
        "seller_external_id": seller.external_id,
        "opened_by": "buyer",
        "reason_code": "quality",
        "amount": MoneyIn(amount=Decimal(amount), currency=currency),
        "statement": "The logo files were never delivered in vector format as agreed.",
    }
    values.update(changes)
    return OpenDispute(**values)


def mediator(db: Session, dispute: Dispute, role: Role = Role.agent) -> Principal:
    """A staff member holding the dispute's case."""
    user = make_staff(db, role=role)
    cases.assign(db, SYSTEM, dispute.case_id, staff_id=user.id)
    db.flush()
    return auth_service.principal_for(user)


COUNTED = (
    Dispute,
    DisputeSubmission,
    DisputeProposal,
    DisputeEvent,
    Case,
    Message,
    WebhookDelivery,
    Job,
    AuditRecord,
)


def counts(db: Session, models: Iterable[type] = COUNTED) -> dict[str, int]:
    """Rows per table, then a commit (on SQLite an open transaction would hold the write lock
    the app under test needs)."""
    out = {m.__name__: int(db.scalar(select(func.count()).select_from(m)) or 0) for m in models}
    db.commit()
    return out
