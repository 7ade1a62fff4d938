"""Console test data. The live server and the browser fixtures are in ``tests/conftest.py``,
so one Playwright instance serves every browser test in a process."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import make_staff
from vigil.accounts import service as accounts
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseType, Severity
from vigil.cases.routing import ensure_default_queues

SYSTEM = Principal.system("test")


def seed_case(db: Session) -> tuple[str, int]:
    """Default queues, a Spanish-speaking agent and one Spanish user report about María:
    returns the agent's email and the case id (committed)."""
    ensure_default_queues(db, SYSTEM)
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["es", "en"])
    account, _ = accounts.upsert_account(
        db,
        SYSTEM,
        "u-100",
        AccountUpsert.model_validate(
            {
                "side": "freelancer",
                "display_name": "María G.",
                "legal_name": "María González",
                "email": "maria@example.com",
                "phone": "+34600111222",
                "country": "ES",
                "locale": "es",
                "identifiers": [{"kind": "device", "value": "dev-abc"}],
            }
        ),
    )
    created = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.user_report,
            title="Asked to pay outside the platform",
            summary="Me pidió que le pagara por fuera de la plataforma.",
            account_id=account.id,
            language="es",
            severity=Severity.high,
            priority=2,
        ),
    )
    db.commit()
    return agent.email, created.case.id
