"""Helpers for the communications tests: accounts in a locale, cases, a policy, the worker.

Helpers that arrange state commit it, because the worker and the app under test use their own
connections (and on SQLite an open transaction holds the write lock they need).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts.models import Account, Side
from vigil.app import load_task_modules
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseEvent, CaseType
from vigil.config import Settings
from vigil.jobs.worker import Worker
from vigil.policies import service as policies
from vigil.policies.models import Policy

SYSTEM = Principal.system("tests")
_n = itertools.count(1)


def make_account(
    db: Session, *, locale: str = "en", email: str | None = "user@example.com", **kw: Any
) -> Account:
    n = next(_n)
    account = Account(
        external_id=kw.pop("external_id", f"acct-{n}"),
        side=kw.pop("side", Side.freelancer),
        display_name=kw.pop("display_name", "Maria Souza"),
        locale=locale,
        email=email,
        **kw,
    )
    db.add(account)
    db.flush()
    return account


def make_case(db: Session, account: Account, **kw: Any) -> Case:
    routing.ensure_default_queues(db)
    kw.setdefault("title", "Off-platform payment request")
    result = cases.create_case(
        db, SYSTEM, cases.NewCase(type=CaseType.user_report, account_id=account.id, **kw)
    )
    return result.case


POLICY = {
    "code": "off_platform_payment",
    "title": "Off-platform payment",
    "description": "Steering payments away from the marketplace.",
    "guidance": "Look for bank details or payment links in messages.",
    "severity": "medium",
    "allowed_actions": ["warn", "restrict", "suspend", "remove", "ban"],
    "default_action": "warn",
    "ladder": [
        {"strikes": 1, "action": "warn", "scope": "account", "duration_days": None},
        {"strikes": 2, "action": "suspend", "scope": "account", "duration_days": 7},
    ],
    "dsa_category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "dsa_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "tos_ground": "Terms of Service, section 7: payments stay on the platform",
    "user_title": {
        "en": "Payments outside the platform",
        "es": "Pagos fuera de la plataforma",
        "pt": "Pagamentos fora da plataforma",
    },
    "user_explanation": {
        "en": "Payments for work found here must go through the marketplace.",
        "es": "Los pagos por trabajos contratados aquí deben hacerse a través del marketplace.",
        "pt": "Pagamentos por trabalhos contratados aqui devem passar pelo marketplace.",
    },
}


def make_policy(db: Session, code: str = "off_platform_payment") -> str:
    existing = db.scalar(select(Policy.code).where(Policy.code == code))
    if existing is None:
        policies.create_policy(db, SYSTEM, {**POLICY, "code": code})
    return code


def event_kinds(db: Session, case_id: int) -> list[str]:
    return list(
        db.scalars(
            select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        )
    )


def full_context(locale: str = "en", **overrides: Any) -> dict[str, Any]:
    """What enforcement supplies for a 7-day suspension."""
    dates = {
        "en": "November 28, 2026",
        "es": "28 de noviembre de 2026",
        "pt": "28 de novembro de 2026",
    }
    titles = {
        "en": "Payments outside the platform",
        "es": "Pagos fuera de la plataforma",
        "pt": "Pagamentos fora da plataforma",
    }
    context: dict[str, Any] = {
        "user_name": "Maria Souza",
        "marketplace": "Feira",
        "policy_title": titles.get(locale, titles["en"]),
        "policy_explanation": POLICY["user_explanation"][locale]  # type: ignore[index]
        if locale in titles
        else POLICY["user_explanation"]["en"],  # type: ignore[index]
        "action": "suspend",
        "scope": "account",
        "ends_at": dates.get(locale, dates["en"]),
        "duration_days": 7,
        "case_ref": "C-77",
        "appeal_url": "https://feira.example/appeals",
        "appeal_deadline": "2027-05-23",
        "statement": {
            "reference": "SOR-9",
            "facts": "The account asked a client to pay by bank transfer.",
            "ground": "Terms of Service, section 7: payments stay on the platform",
            "automated_detection": False,
            "automated_decision": False,
            "ends_at": "2026-11-28",
            "restrictions": ["account suspended"],
        },
        # Read only by the appeal outcome messages (``appeal_*``).
        "appeal": {
            "ref": "A-3",
            "outcome": "upheld",
            "reason": "The messages show the request to pay outside the platform.",
            "decided_on": dates.get(locale, dates["en"]),
            "original_reference": "SOR-9",
            "new_reference": "",
            "new_action": "",
            "new_scope": "",
            "new_ends_at": "",
            "in_force": [{"action": "suspend", "scope": "account", "ends_at": "2026-11-28"}],
            "ended": [],
            "other_measures": False,
        },
    }
    context.update(overrides)
    return context


@pytest.fixture
def worker(mail_settings: Settings, session_factory: sessionmaker[Session]) -> Worker:
    return Worker(mail_settings, session_factory, name="mailer-test")


@pytest.fixture(autouse=True)
def _handlers() -> None:
    """Every job handler registered, as in ``vigil worker`` (in-app messages are delivered by
    the integrations job)."""
    load_task_modules()
