"""API models of appeals."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vigil.appeals.hearing import Outcome
from vigil.appeals.models import Appeal, AppealChannel, AppealStatus, ContactPreference
from vigil.appeals.service import MAX_TEXT
from vigil.enforcement.schemas import DecisionIn


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppealIn(_Body):
    """A user's appeal, sent by the marketplace on their behalf. Name the decision by
    ``decision_id`` or by the statement of reasons' ``reference`` (``SOR-42``), one of them."""

    account_external_id: str = Field(
        min_length=1, max_length=200, description="The marketplace's id of the user who appeals."
    )
    decision_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    reference: str | None = Field(
        default=None, max_length=40, description='The statement of reasons, e.g. "SOR-42".'
    )
    statement: str = Field(
        max_length=MAX_TEXT * 2,
        description="Why the user thinks the decision is wrong, in their words (20 to 5,000 "
        "characters once trimmed).",
    )
    language: str | None = Field(
        default=None,
        max_length=16,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="The user's language: the outcome is written in it (en, es, pt; others "
        "fall back to en). Defaults to en.",
    )
    contact: ContactPreference = Field(
        default=ContactPreference.email,
        description="Where the user is told the outcome (in-app when email is asked for but "
        "the account has no email address).",
    )


class DecideIn(_Body):
    outcome: Outcome
    reason: str = Field(max_length=4000, description="Why; the user reads it in the outcome.")
    decision: DecisionIn | None = Field(
        default=None,
        description="For modify only: the new decision, taken on the appeal case (as "
        "POST /v1/cases/{case_id}/decisions takes it).",
    )


class WithdrawIn(_Body):
    reason: str | None = Field(default=None, max_length=4000)


class AppealOut(BaseModel):
    id: int
    ref: str = Field(description='How staff and the marketplace name it, e.g. "A-7".')
    status: AppealStatus
    decision_id: int
    case_id: int = Field(description="The appeal case it is heard on.")
    original_case_id: int
    account_external_id: str
    statement_id: int | None = Field(description="The statement of reasons appealed against.")
    reference: str = Field(
        description="What the user quoted: SOR-n, or C-n on the public form. Named by id, the "
        'decision\'s statement (SOR-n), or "decision #n" when it has none.'
    )
    statement: str = Field(description="The user's own words.")
    language: str
    contact: ContactPreference
    channel: AppealChannel
    submitted_at: datetime
    window_ends_at: datetime = Field(description="The appeal window closed (exclusive) at.")
    decided_at: datetime | None
    decided_by: str | None = Field(description="Who decided (staff only; null for API keys).")
    reason: str | None
    new_decision_id: int | None = Field(description="For modified: the replacing decision.")
    statement_ids: list[int] = Field(
        description="Statements of reasons whose revision this appeal wrote."
    )

    @classmethod
    def of(cls, a: Appeal, account_external_id: str, *, internal: bool) -> AppealOut:
        return cls(
            id=a.id,
            ref=a.ref,
            status=a.status,
            decision_id=a.decision_id,
            case_id=a.case_id,
            original_case_id=a.original_case_id,
            account_external_id=account_external_id,
            statement_id=a.statement_id,
            reference=a.reference,
            statement=a.text,
            language=a.language,
            contact=a.contact,
            channel=a.channel,
            submitted_at=a.submitted_at,
            window_ends_at=a.window_ends_at,
            decided_at=a.decided_at,
            decided_by=a.decided_by_label if internal else None,
            reason=a.reason,
            new_decision_id=a.new_decision_id,
            statement_ids=[int(i) for i in a.statement_ids or []],
        )


class AppealPage(BaseModel):
    items: list[AppealOut]
    next_cursor: str | None = None


class MetricsRow(BaseModel):
    key: str | None = Field(
        description="The group (policy code, rule id, reviewer id); null for the total."
    )
    label: str | None = None
    decisions: int = Field(description="Decisions that took action, applied in the period.")
    appeals: int = Field(description="Of those decisions, how many were appealed.")
    appeal_rate: float | None
    decided: int = Field(description="Appeals decided (upheld, overturned or modified).")
    overturned: int = Field(description="Appeals overturned or modified.")
    modified: int
    overturn_rate: float | None = Field(description="overturned / decided.")


class MetricsOut(BaseModel):
    since: datetime
    until: datetime
    group_by: str | None
    total: MetricsRow
    groups: list[MetricsRow]
