"""Helpers for rules tests: a valid rule body, activations, and the catalog (default queues
and the shipped policy pack) that rules cite.

Every rules test runs on the frozen clock (2026-11-21 09:00 UTC).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.audit.models import AuditRecord
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.detection.rules import engine
from vigil.detection.rules.models import Rule, RulesetRevision, RuleVersion
from vigil.kit.clock import FrozenClock
from vigil.policies import pack as policy_pack

SYSTEM = Principal.system("tests")

_BASE: dict[str, Any] = {
    "name": "new_account_mass_messaging",
    "description": "A new account sent many messages within an hour.",
    "expression": "account.age_days < 2 && features.messages_1h > 20",
    "score": 60,
    "outcome": "review",
    "policy_code": "spam",
    "queue": "detection",
    "tags": ["spam"],
    "event_types": ["message_sent"],
}


def rule_body(**changes: Any) -> dict[str, Any]:
    """A valid rule; keyword arguments replace fields."""
    body = copy.deepcopy(_BASE)
    body.update(changes)
    return body


def activation(
    *,
    event_type: str = "message_sent",
    features: dict[str, Any] | None = None,
    account: dict[str, Any] | None = None,
    **event_fields: Any,
) -> dict[str, Any]:
    """A contract-shaped activation; the account is one day old unless given."""
    return {
        "event": {
            "event_id": "evt-1",
            "type": event_type,
            "account_id": "acct-1",
            "occurred_at": "2026-11-21T09:00:00+00:00",
            **event_fields,
        },
        "account": account if account is not None else {"side": "freelancer", "age_days": 1},
        "features": features or {},
    }


def rows(db: Session, model: type) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def written(db: Session) -> dict[str, int]:
    """Rows of the tables a rule change writes. Ends with a commit: on SQLite an open
    transaction holds the write lock that a CLI command or the app under test needs."""
    out = {m.__name__: rows(db, m) for m in (Rule, RuleVersion, RulesetRevision, AuditRecord)}
    db.commit()
    return out


@pytest.fixture(autouse=True)
def _clock(frozen: FrozenClock) -> FrozenClock:
    return frozen


@pytest.fixture(autouse=True)
def _fresh_engines() -> None:
    # PostgreSQL tests share a URL; tokens tell databases apart, but start each test clean.
    engine.clear_cache()


@pytest.fixture
def catalog(db: Session) -> None:
    """The default queues and the shipped policy pack."""
    routing.ensure_default_queues(db)
    policy_pack.load_pack(db, SYSTEM)
    db.flush()
