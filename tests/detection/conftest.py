"""Helpers for event ingestion tests: events, accounts, rules made through the rules service,
and row counts for "nothing stored / nothing re-applied" checks.

Nothing here is autouse: the sub-packages (features, rules, text, links) share this file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.accounts.models import Account, Identifier, Restriction
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases.models import Case, CaseEvent
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.detection import service
from vigil.detection.events import EventIn
from vigil.detection.models import Event
from vigil.detection.rules import service as rules
from vigil.dsa.models import Statement
from vigil.enforcement.models import Decision, DecisionAction, Strike
from vigil.integrations.models import WebhookDelivery
from vigil.policies import service as policies
from vigil.policies.models import PolicyVersion

SYSTEM = Principal.system("tests")
MARKETPLACE = Principal.system("marketplace")
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
# The same harm, with a first step that already suspends (an automated block on a first
# offence then restricts the account for real).
SCAM: dict[str, Any] = {
    **FEES,
    "code": "scam",
    "title": "Scams",
    "description": "Deceiving users to take their money.",
    "severity": "high",
    "ladder": [
        {"strikes": 1, "action": "suspend", "scope": "account", "duration_days": 7},
        {"strikes": 2, "action": "ban", "scope": "account", "duration_days": None},
    ],
    "user_title": {"en": "Scams", "es": "Estafas", "pt": "Golpes"},
}


def make_policy(db: Session, data: dict[str, Any] | None = None) -> PolicyVersion:
    return policies.create_policy(db, SYSTEM, dict(data or FEES))


def make_account(db: Session, external_id: str | None = None, **fields: Any) -> Account:
    fields.setdefault("side", "freelancer")
    fields.setdefault("display_name", "Alex Morgan")
    fields.setdefault("email", f"user{next(_n)}@example.com")
    fields.setdefault("locale", "en")
    account, _ = accounts.upsert_account(
        db, SYSTEM, external_id or f"acct-{next(_n)}", AccountUpsert(**fields)
    )
    return account


def make_rule(
    db: Session,
    name: str,
    expression: str,
    *,
    score: float = 10,
    outcome: str = "allow",
    policy_code: str | None = None,
    queue: str | None = None,
    event_types: list[str] | None = None,
    state: str = "active",
    description: str | None = None,
) -> None:
    rules.create_rule(
        db,
        SYSTEM,
        {
            "name": name,
            "description": description or f"{name.replace('_', ' ')}",
            "expression": expression,
            "score": score,
            "outcome": outcome,
            "policy_code": policy_code,
            "queue": queue,
            "event_types": event_types or ["message_sent"],
            "tags": [],
        },
        state=state,
    )


def event(type: str = "message_sent", account_id: str = "acct-1", **fields: Any) -> dict[str, Any]:
    """An event body as the marketplace sends it; a fresh event_id unless given."""
    body: dict[str, Any] = {
        "event_id": fields.pop("event_id", None) or f"evt-{next(_n)}",
        "type": type,
        "account_id": account_id,
    }
    body.update(fields)
    return body


def ingest(db: Session, settings: Settings, **kw: Any) -> service.EventResult:
    return service.ingest(db, settings, EventIn.model_validate(event(**kw)), actor=MARKETPLACE)


@pytest.fixture
def queues(db: Session) -> None:
    routing.ensure_default_queues(db)
    db.flush()


@pytest.fixture
def fees(db: Session, queues: None) -> PolicyVersion:
    return make_policy(db)


COUNTED = (
    Event,
    Case,
    CaseEvent,
    Decision,
    DecisionAction,
    Strike,
    Restriction,
    Statement,
    Message,
    WebhookDelivery,
    Identifier,
    Account,
)


def counts(db: Session, models: Iterable[type] = COUNTED) -> dict[str, int]:
    """Rows per table. Ends with a commit: on SQLite an open transaction would hold the write
    lock that the app under test needs."""
    out = {m.__name__: int(db.scalar(select(func.count()).select_from(m)) or 0) for m in models}
    db.commit()
    return out
