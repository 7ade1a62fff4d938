"""Helpers for appeals tests: a decision to appeal (a 7-day suspension by a reviewer, applied,
with its statement of reasons), the marketplace's API key, and row counts for "nothing
written" checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    FEES,
    SUSPEND_7,
    SYSTEM,
    decide,
    held_case,
    make_account,
    make_policy,
    principal,
)
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.accounts.models import Account, Restriction
from vigil.appeals.models import Appeal
from vigil.audit.models import AuditRecord
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseEvent
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.dsa.models import Statement
from vigil.enforcement.models import Decision
from vigil.integrations import service as integrations
from vigil.integrations.models import WebhookDelivery
from vigil.jobs.models import Job
from vigil.kit.clock import FrozenClock
from vigil.policies.models import PolicyVersion

WHY = (
    "I never asked the client to pay outside the platform: the client offered it and I "
    "refused, as the messages of 19 November show."
)
EMAIL = "lucia@example.com"


@dataclass
class Appealable:
    decision: Decision
    statement: Statement | None
    account: Account
    agent: StaffUser
    key_secret: str

    @property
    def headers(self) -> dict[str, str]:
        return auth_header(self.key_secret)


@pytest.fixture(autouse=True)
def _clock(frozen: FrozenClock) -> FrozenClock:
    return frozen


def appealable(
    db: Session,
    settings: Settings,
    *,
    actions: list[dict[str, Any]] | None = None,
    decider_role: Role = Role.agent,
    webhooks: bool = True,
    **decision: Any,
) -> Appealable:
    """A decision by a reviewer about Lucía (Spanish), applied and committed, and the
    marketplace's API key."""
    routing.ensure_default_queues(db)
    if db.scalar(select(PolicyVersion.id).where(PolicyVersion.code == FEES["code"])) is None:
        make_policy(db)
    agent = make_staff(db, role=decider_role, languages=("en", "es"))
    account = make_account(db, email=EMAIL, locale="es", display_name="Lucía")
    case = held_case(db, agent, account)
    if actions is None:
        decision.setdefault("departure_reason", "The third request in a week.")
    made = decide(
        db, principal(agent), case, settings, actions=SUSPEND_7 if actions is None else actions,
        **decision,
    )  # fmt: skip
    statement = db.scalar(select(Statement).where(Statement.decision_id == made.id))
    if webhooks:
        integrations.create_integration(
            db,
            SYSTEM,
            name=f"marketplace for {account.external_id}",
            url="http://127.0.0.1:9/hooks",
            event_types=["action.reversed", "appeal.decided"],
        )
    _, secret = make_api_key(db)
    db.commit()
    return Appealable(made, statement, account, agent, secret)


def submit(client: TestClient, a: Appealable, **changes: Any) -> Any:
    body: dict[str, Any] = {
        "account_external_id": a.account.external_id,
        "decision_id": a.decision.id,
        "statement": WHY,
        "language": "es",
    }
    body.update(changes)
    body = {k: v for k, v in body.items() if v is not None}
    return client.post("/v1/appeals", json=body, headers=a.headers)


def hearer(
    db: Session, client: TestClient | None = None, role: Role = Role.specialist
) -> StaffUser:
    user = make_staff(db, role=role, languages=("en", "es"))
    db.commit()
    if client is not None:
        login_as(client, db, user)
    return user


def hold(db: Session, case_id: int, user: StaffUser) -> None:
    cases.assign(db, SYSTEM, case_id, staff_id=user.id)
    db.commit()


COUNTED = (
    Appeal,
    Case,
    CaseEvent,
    Decision,
    Restriction,
    Statement,
    Message,
    WebhookDelivery,
    Job,
    AuditRecord,
)


def counts(db: Session) -> dict[str, int]:
    out = {m.__name__: int(db.scalar(select(func.count()).select_from(m)) or 0) for m in COUNTED}
    db.commit()
    return out
