"""A valid policy to start from, and counters for "nothing was written"."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.audit.models import AuditRecord
from vigil.auth.principal import Principal
from vigil.policies.models import Policy, PolicyVersion

SYSTEM = Principal.system("tests")

_BASE: dict[str, Any] = {
    "code": "off_platform_payment",
    "title": "Off-platform payment",
    "description": "Taking payment for platform work outside the platform.",
    "guidance": "Read the whole conversation. Contact details alone are not a violation.",
    "examples_allowed": ["Sharing a phone number to coordinate an on-site visit."],
    "examples_not_allowed": ["'Pay me by bank transfer and we skip the fee.'"],
    "severity": "medium",
    "allowed_actions": ["warn", "restrict", "suspend", "ban"],
    "default_action": "warn",
    "strike_weight": 1,
    "strike_ttl_days": 365,
    "ladder": [
        {"strikes": 1, "action": "warn", "scope": "account"},
        {"strikes": 2, "action": "restrict", "scope": "message", "duration_days": 14},
        {"strikes": 3, "action": "suspend", "scope": "account", "duration_days": 7},
        {"strikes": 4, "action": "ban", "scope": "account"},
    ],
    "dsa_category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "dsa_keywords": [],
    "dsa_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "tos_ground": "Terms of Service, section 7.1: payments stay on the platform.",
    "user_title": {
        "en": "Payments outside the platform",
        "es": "Pagos fuera de la plataforma",
        "pt": "Pagamentos fora da plataforma",
    },
    "user_explanation": {
        "en": "Work that starts on our platform must be paid through it.",
        "es": "Los trabajos que empiezan en nuestra plataforma deben pagarse a través de ella.",
        "pt": "Os trabalhos que começam na nossa plataforma devem ser pagos por ela.",
    },
}

ILLEGAL = {
    "dsa_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
    "legal_ground": "Directive 2001/29/EC on copyright in the information society.",
    "illegal_explanation": "The content copies a protected work without authorisation.",
}


def policy(**changes: Any) -> dict[str, Any]:
    """A valid policy body; keyword arguments replace fields (``None`` removes one)."""
    body = copy.deepcopy(_BASE)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def counts(db: Session) -> tuple[int, int, int]:
    """(policies, versions, audit records): what a refused write must leave as it was."""
    db.expire_all()
    out = (
        db.scalar(select(func.count()).select_from(Policy)) or 0,
        db.scalar(select(func.count()).select_from(PolicyVersion)) or 0,
        db.scalar(select(func.count()).select_from(AuditRecord)) or 0,
    )
    db.rollback()  # end the read transaction: on SQLite it would hold the write lock
    return out


def audit_actions(db: Session) -> list[str]:
    rows = list(db.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))
    db.rollback()
    return rows
