"""Helpers for DSA tests: a valid field set, accounts, and StatementInputs built the way
enforcement builds them."""

from __future__ import annotations

import copy
import itertools
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.principal import Principal
from vigil.dsa.schemas import StatementInput
from vigil.kit import clock
from vigil.policies.actions import ActionType, Scope

# A statement the Transparency Database accepts, with every optional field that applies.
VALID: dict[str, Any] = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"],
    "end_date_visibility_restriction": "2026-12-01",
    "decision_monetary": "DECISION_MONETARY_SUSPENSION",
    "decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION",
    "decision_account": "DECISION_ACCOUNT_SUSPENDED",
    "account_type": "ACCOUNT_TYPE_PRIVATE",
    "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "decision_ground_reference_url": "https://market.example/terms#payments",
    "incompatible_content_ground": "Terms of Service, section 7: payments stay on the platform",
    "incompatible_content_explanation": "The listing asked clients to pay by bank transfer.",
    "incompatible_content_illegal": "No",
    "content_type": ["CONTENT_TYPE_TEXT", "CONTENT_TYPE_PRODUCT"],
    "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "category_addition": ["STATEMENT_CATEGORY_CONSUMER_INFORMATION"],
    "category_specification": ["KEYWORD_PHISHING"],
    "territorial_scope": ["ES", "PT", "DE"],
    "content_language": "PT",
    "content_date": "2026-11-20",
    "application_date": "2026-11-21",
    "decision_facts": "The listing text told clients to pay outside the platform by transfer.",
    "source_type": "SOURCE_ARTICLE_16",
    "source_identity": "A notice from another user",
    "automated_detection": "No",
    "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
    "puid": "vgl-0123456789abcdef",
}


def valid_fields(**changes: Any) -> dict[str, Any]:
    """A copy of ``VALID`` with ``changes``; a change to ``...`` removes the field."""
    fields = copy.deepcopy(VALID)
    for name, value in changes.items():
        if value is ...:
            fields.pop(name, None)
        else:
            fields[name] = value
    return fields


_n = itertools.count(1)
_decisions = itertools.count(1000)


def make_account(db: Session, external_id: str | None = None) -> Account:
    account, _ = accounts.upsert_account(
        db,
        Principal.system("test"),
        external_id or f"user-{next(_n)}",
        AccountUpsert(side="freelancer", locale="pt-BR"),
    )
    return account


def spec_for(
    account: Account,
    actions: list[tuple[ActionType, Scope, datetime | None]] | None = None,
    **changes: Any,
) -> StatementInput:
    """A StatementInput as enforcement builds it for a fee-circumvention decision."""
    today = clock.now().date()
    spec = StatementInput(
        decision_id=next(_decisions),
        account_id=account.id,
        account_external_id=account.external_id,
        account_type="ACCOUNT_TYPE_PRIVATE",
        actions=actions or [(ActionType.suspend, Scope.account, clock.now() + timedelta(days=7))],
        category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        keywords=["KEYWORD_OTHER"],
        ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
        tos_ground="Terms of Service, section 7: payments stay on the platform",
        legal_ground=None,
        illegal_explanation=None,
        facts="In three messages the user asked a client to pay by bank transfer instead.",
        content_type=["CONTENT_TYPE_TEXT"],
        content_type_other=None,
        content_date=today - timedelta(days=1),
        application_date=today,
        source_type="SOURCE_VOLUNTARY",
        automated_detection=True,
        automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
        territorial_scope=["ES", "PT"],
        content_language="pt-BR",
    )
    return replace(spec, **changes)


@pytest.fixture
def account(db: Session) -> Account:
    return make_account(db)


def day(value: str) -> date:
    return date.fromisoformat(value)
