"""Helpers for enforcement tests: a policy with a known ladder, accounts, cases held by a
reviewer, decision bodies, and row counts for "nothing written" checks."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_staff
from vigil.accounts import service as accounts
from vigil.accounts.models import Account, Restriction
from vigil.accounts.schemas import AccountUpsert
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseEvent, CaseType
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.dsa.models import Statement
from vigil.enforcement import service
from vigil.enforcement.models import Approval, Decision, DecisionAction, Strike
from vigil.enforcement.schemas import DecisionIn
from vigil.integrations import service as integrations
from vigil.integrations.models import WebhookDelivery
from vigil.jobs.models import Job
from vigil.kit.clock import FrozenClock
from vigil.policies import service as policies
from vigil.policies.models import PolicyVersion

SYSTEM = Principal.system("tests")
_n = itertools.count(1)

# A policy whose ladder climbs warn -> restrict payouts -> suspend 7 days -> ban.
FEES: dict[str, Any] = {
    "code": "fee_circumvention",
    "title": "Fee circumvention",
    "description": "Taking payment for marketplace work outside the marketplace.",
    "guidance": "Look for bank details, payment apps or 'pay me directly' in messages.",
    "severity": "medium",
    "allowed_actions": ["warn", "restrict", "suspend", "remove", "ban"],
    "default_action": "warn",
    "strike_weight": 1,
    "strike_ttl_days": 180,
    "ladder": [
        {"strikes": 1, "action": "warn", "scope": "account", "duration_days": None},
        {"strikes": 2, "action": "restrict", "scope": "payouts", "duration_days": 14},
        {"strikes": 3, "action": "suspend", "scope": "account", "duration_days": 7},
        {"strikes": 4, "action": "ban", "scope": "account", "duration_days": None},
    ],
    "dsa_category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "dsa_keywords": ["KEYWORD_MISLEADING_INFO_GOODS_SERVICES"],
    "dsa_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "tos_ground": "Terms of Service, section 7: payments stay on the platform",
    "user_title": {
        "en": "Payments outside the platform",
        "es": "Pagos fuera de la plataforma",
        "pt": "Pagamentos fora da plataforma",
    },
    "user_explanation": {
        "en": "Payments for work found here must go through the marketplace.",
        "es": "Los pagos por trabajos encontrados aquí deben pasar por el marketplace.",
        "pt": "Pagamentos por trabalhos encontrados aqui devem passar pelo marketplace.",
    },
}

# A second, more severe policy that allows only a few actions.
SPAM: dict[str, Any] = {
    **FEES,
    "code": "spam",
    "title": "Spam",
    "description": "Unsolicited bulk messages.",
    "severity": "low",
    "allowed_actions": ["warn", "remove"],
    "default_action": "warn",
    "strike_weight": 1,
    "ladder": [{"strikes": 1, "action": "warn", "scope": "account", "duration_days": None}],
    "dsa_category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "user_title": {"en": "Spam", "es": "Spam", "pt": "Spam"},
}

FACTS = (
    "On 20 November 2026 the account asked a client, in messages on the platform, to pay "
    "for the work by bank transfer outside the marketplace."
)


def statement(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "facts": FACTS,
        "content_type": ["CONTENT_TYPE_TEXT"],
        "content_date": "2026-11-20",
    }
    body.update(changes)
    return body


def body(
    *,
    policy: str | list[str] = "fee_circumvention",
    actions: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A decision body: by default the ladder's first step (a warning) for fee circumvention."""
    codes = [policy] if isinstance(policy, str) else policy
    out: dict[str, Any] = {
        "violations": [{"policy": c} for c in codes],
        "actions": actions if actions is not None else [{"type": "warn", "scope": "account"}],
        "internal_reasoning": "Bank details in three messages to the same client.",
    }
    out.update(extra)
    if any(a["type"] != "warn" for a in out["actions"]) and "statement" not in out:
        out["statement"] = statement()
    return out


SUSPEND_7 = [{"type": "suspend", "scope": "account", "duration_days": 7}]


def principal(user: StaffUser) -> Principal:
    return auth_service.principal_for(user)


def staff(db: Session, role: Role = Role.agent) -> tuple[StaffUser, Principal]:
    user = make_staff(db, role=role)
    return user, principal(user)


def make_policy(db: Session, data: dict[str, Any] | None = None, **changes: Any) -> PolicyVersion:
    return policies.create_policy(db, SYSTEM, {**(data or FEES), **changes})


def make_account(db: Session, **fields: Any) -> Account:
    fields.setdefault("side", "freelancer")
    fields.setdefault("display_name", "Alex Morgan")
    fields.setdefault("email", f"user{next(_n)}@example.com")
    fields.setdefault("locale", "en")
    external_id = fields.pop("external_id", None) or f"acct-{next(_n)}"
    account, _ = accounts.upsert_account(db, SYSTEM, external_id, AccountUpsert(**fields))
    return account


def held_case(db: Session, holder: StaffUser, account: Account | None, **kw: Any) -> Case:
    """A case about ``account`` assigned to ``holder``."""
    kw.setdefault("title", "Off-platform payment request")
    kw.setdefault("type", CaseType.user_report)
    case = cases.create_case(
        db, SYSTEM, cases.NewCase(account_id=account.id if account else None, **kw)
    ).case
    cases.assign(db, SYSTEM, case.id, staff_id=holder.id)
    db.flush()
    return case


def decide(db: Session, actor: Principal, case: Case, settings: Settings, **kw: Any) -> Decision:
    return service.decide(db, actor, case.id, DecisionIn(**body(**kw)), settings=settings)


@pytest.fixture(autouse=True)
def _clock(frozen: FrozenClock) -> FrozenClock:
    """Every enforcement test runs on the frozen clock (2026-11-21 09:00 UTC): end dates,
    strike expiry and the statement's dates are then exact."""
    return frozen


@pytest.fixture
def queues(db: Session) -> None:
    routing.ensure_default_queues(db)
    db.flush()


@pytest.fixture
def fees(db: Session, queues: None) -> PolicyVersion:
    return make_policy(db)


@pytest.fixture
def webhook(db: Session) -> int:
    """An active integration subscribed to every event (deliveries are recorded, not sent:
    no worker runs in these tests)."""
    issued = integrations.create_integration(
        db,
        SYSTEM,
        name=f"marketplace {next(_n)}",
        url="http://127.0.0.1:9/hooks",
        event_types=["action.applied", "action.reversed", "message.in_app"],
    )
    db.flush()
    return issued.integration.id


COUNTED = (
    Decision,
    DecisionAction,
    Strike,
    Approval,
    Restriction,
    Statement,
    Message,
    WebhookDelivery,
    Job,
    CaseEvent,
    AuditRecord,
)


def counts(db: Session, models: Iterable[type] = COUNTED) -> dict[str, int]:
    """Rows per table. Ends with a commit: on SQLite an open transaction would hold the write
    lock that the app under test needs."""
    out = {m.__name__: int(db.scalar(select(func.count()).select_from(m)) or 0) for m in models}
    db.commit()
    return out


def event_kinds(db: Session, case_id: int) -> list[str]:
    return list(
        db.scalars(
            select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        )
    )
