"""What enforcement hands the dsa service, and the API models of statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from vigil.dsa.models import Statement
from vigil.policies.actions import ActionType, Scope


@dataclass(frozen=True)
class StatementInput:
    """Everything a statement of reasons is built from. Enforcement fills it from the
    decision, the policy version it applied and the account.

    ``actions`` are the decision's restrictive actions with their end (None: indefinite).
    ``category``, ``keywords``, ``ground``, ``content_type``, ``source_type``,
    ``automated_decision`` and ``account_type`` take the database's keys (see
    :mod:`vigil.dsa.vocabulary`). ``facts`` is the reviewer's own account of what happened.
    """

    decision_id: int
    account_id: int
    account_external_id: str
    account_type: str
    actions: list[tuple[ActionType, Scope, datetime | None]]
    category: str
    keywords: list[str]
    ground: str
    tos_ground: str
    legal_ground: str | None
    illegal_explanation: str | None
    facts: str
    content_type: list[str]
    content_type_other: str | None
    content_date: date
    application_date: date
    source_type: str
    automated_detection: bool
    automated_decision: str
    territorial_scope: list[str]
    content_language: str | None


# --- API models -------------------------------------------------------------------------------


class ActionOut(BaseModel):
    action: ActionType
    scope: Scope
    ends_at: datetime | None


class RevisionOut(BaseModel):
    """What became of the decision after the statement was written (an appeal's outcome).
    The statement's ``fields`` stay exactly as submitted; this is stored next to them."""

    outcome: str = Field(description="confirmed, overturned or modified (on appeal).")
    at: datetime
    reason: str
    appeal_id: int | None = None
    replaced_by_statement_id: int | None = Field(
        default=None, description="For a modification: the new decision's statement."
    )
    replaced_by_decision_id: int | None = None


class StatementSummaryOut(BaseModel):
    id: int
    reference: str = Field(description='How the user and staff name it, e.g. "SOR-42".')
    decision_id: int
    account_id: int
    puid: str = Field(description="The platform's unique id of the statement, as submitted.")
    category: str
    decision_ground: str
    application_date: date
    automated_decision: str
    created_at: datetime
    exported_at: datetime | None = Field(description="Last time it went into an export batch.")
    revision: RevisionOut | None = Field(
        default=None, description="Set when an appeal against the decision was decided."
    )

    @classmethod
    def of(cls, s: Statement) -> StatementSummaryOut:
        return cls(
            id=s.id,
            reference=s.reference,
            decision_id=s.decision_id,
            account_id=s.account_id,
            puid=s.puid,
            category=s.category,
            decision_ground=s.decision_ground,
            application_date=s.application_date,
            automated_decision=s.automated_decision,
            created_at=s.created_at,
            exported_at=s.exported_at,
            revision=RevisionOut(**s.revision) if s.revision else None,
        )


class StatementOut(StatementSummaryOut):
    actions: list[ActionOut]
    fields: dict[str, Any] = Field(
        description="The statement exactly as submitted to the DSA Transparency Database."
    )

    @classmethod
    def of(cls, s: Statement) -> StatementOut:
        summary = StatementSummaryOut.of(s).model_dump()
        actions = [ActionOut(**a) for a in s.actions]
        return cls(**summary, actions=actions, fields=dict(s.fields))


class StatementPage(BaseModel):
    items: list[StatementSummaryOut]
    next_cursor: str | None = None


class ViolationOut(BaseModel):
    index: int | None = Field(
        description="Position of the statement in a batch; null for a single statement or for "
        "the batch body itself."
    )
    field: str
    code: str
    message: str


class ValidationOut(BaseModel):
    valid: bool
    statements: int = Field(description="How many statements were checked.")
    violations: list[ViolationOut]
