"""API models of the quality domain. Request bodies refuse unknown fields.

A sample's original decision (label, policy, reviewer) is left out of ``SampleOut`` until the
sample is revealed, and a calibration item's expected decision until the viewer may see it:
a list must not spoil a blind review.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vigil.kit.pagination import Page
from vigil.quality.models import (
    CalibrationAnswer,
    CalibrationAssignment,
    CalibrationItem,
    CalibrationSet,
    QASample,
    QASamplingRate,
    SampleStatus,
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests ---------------------------------------------------------------------------------


class RateIn(_Body):
    queue_id: int | None = Field(default=None, ge=1, description="A queue's rate.")
    staff_id: int | None = Field(default=None, ge=1, description="A reviewer's rate.")
    rate: float = Field(description="Share of decisions sampled, from 0 to 1.")


class PickIn(_Body):
    decision_id: int = Field(ge=1, le=2**63 - 1)
    reason: str = Field(max_length=4000)


class BlindAnswerIn(_Body):
    policy_code: str | None = Field(
        default=None, max_length=100, description="The policy violated; null for no violation."
    )
    action: str = Field(
        max_length=32,
        description="no_violation, warn, restrict, suspend, remove or ban.",
    )


class ReleaseIn(_Body):
    reason: str | None = Field(default=None, max_length=4000)


class ScoreIn(_Body):
    right_policy: bool
    right_action: bool
    message_quality: int | None = Field(
        default=None,
        description="1 (poor) to 5 (excellent); required when a message was sent, null when "
        "none was.",
    )
    comment: str | None = Field(
        default=None, max_length=4000, description="Required when anything is marked wrong."
    )


class SetIn(_Body):
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)


class ItemIn(_Body):
    case_id: int = Field(ge=1, le=2**63 - 1, description="A closed case.")
    expected_policy_code: str | None = Field(default=None, max_length=100)
    expected_action: str = Field(max_length=32)
    rationale: str = Field(max_length=4000)


class AssignIn(_Body):
    staff_ids: list[int] = Field(max_length=500)


# --- responses --------------------------------------------------------------------------------


class RateOut(BaseModel):
    id: int
    scope: str
    queue_id: int | None
    staff_id: int | None
    rate: float
    updated_at: datetime
    updated_by_id: int | None

    @classmethod
    def of(cls, row: QASamplingRate) -> RateOut:
        return cls(
            id=row.id,
            scope=row.scope_key.split(":")[0],
            queue_id=row.queue_id,
            staff_id=row.staff_id,
            rate=row.rate,
            updated_at=row.updated_at,
            updated_by_id=row.updated_by_id,
        )


class RatesOut(BaseModel):
    items: list[RateOut]
    fallback_rate: float = Field(
        description="The rate used when no row applies (VIGIL_QA_DEFAULT_SAMPLE_RATE)."
    )


class OriginalOut(BaseModel):
    label: str
    policy_code: str | None
    decided_by_id: int | None


class SampleOut(BaseModel):
    id: int
    decision_id: int | None = Field(
        description="The original decision's id; null until the sample is revealed (it would "
        "lead to the original through the decisions API)."
    )
    case_id: int
    queue_id: int | None
    source: str
    manual_reason: str | None
    status: SampleStatus
    reviewer_id: int | None
    decided_at: datetime
    sampled_at: datetime
    assigned_at: datetime | None
    answered_at: datetime | None
    revealed_at: datetime | None
    scored_at: datetime | None
    blind_label: str | None
    blind_policy_code: str | None
    original: OriginalOut | None = Field(
        description="The original decision; null until the sample is revealed."
    )
    agreed: bool | None = Field(description="Shown once the original is revealed.")
    right_policy: bool | None
    right_action: bool | None
    message_quality: int | None
    comment: str | None

    @classmethod
    def of(cls, s: QASample) -> SampleOut:
        shown = s.status in (SampleStatus.revealed, SampleStatus.scored)
        return cls(
            id=s.id,
            decision_id=s.decision_id if shown else None,
            case_id=s.case_id,
            queue_id=s.queue_id,
            source=s.source.value,
            manual_reason=s.manual_reason,
            status=s.status,
            reviewer_id=s.reviewer_id,
            decided_at=s.decided_at,
            sampled_at=s.sampled_at,
            assigned_at=s.assigned_at,
            answered_at=s.answered_at,
            revealed_at=s.revealed_at,
            scored_at=s.scored_at,
            blind_label=s.blind_label.value if s.blind_label else None,
            blind_policy_code=s.blind_policy_code,
            original=OriginalOut(
                label=s.original_label.value,
                policy_code=s.original_policy_code,
                decided_by_id=s.decided_by_id,
            )
            if shown
            else None,
            agreed=s.agreed if shown else None,
            right_policy=s.right_policy,
            right_action=s.right_action,
            message_quality=s.message_quality,
            comment=s.comment,
        )


SamplePage = Page[SampleOut]


class RevealedPolicyOut(BaseModel):
    code: str
    version: int
    title: str


class RevealedActionOut(BaseModel):
    type: str
    scope: str
    duration_days: int | None
    status: str


class RevealedMessageOut(BaseModel):
    channel: str
    locale: str
    subject: str
    body: str
    status: str


class RevealedOut(BaseModel):
    sample: SampleOut
    decision_id: int
    label: str
    policies: list[RevealedPolicyOut]
    actions: list[RevealedActionOut]
    internal_reasoning: str
    decided_by_id: int | None
    decided_by_label: str
    decided_at: datetime
    message_sent: bool
    messages: list[RevealedMessageOut]


class ScoreRowOut(BaseModel):
    key: str
    label: str
    samples: int
    agreed: int
    agreement_rate: float | None
    kappa: float | None
    kappa_note: str | None = Field(description="Why kappa is null, when it is.")
    right_policy_rate: float | None
    right_action_rate: float | None
    message_quality_mean: float | None
    confusion: dict[str, dict[str, int]] = Field(
        description="Counts by original label, then blind label."
    )


class ScorecardOut(BaseModel):
    group_by: str
    since: datetime | None
    until: datetime | None
    rows: list[ScoreRowOut]


class SetOut(BaseModel):
    id: int
    name: str
    description: str
    created_by_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, s: CalibrationSet) -> SetOut:
        return cls(
            id=s.id,
            name=s.name,
            description=s.description,
            created_by_id=s.created_by_id,
            created_at=s.created_at,
        )


class ItemOut(BaseModel):
    id: int
    set_id: int
    case_id: int
    expected_policy_code: str | None = Field(description="Hidden (null) until you may see it.")
    expected_action: str | None = Field(description="Hidden (null) until you may see it.")
    rationale: str | None = Field(description="Hidden (null) until you may see it.")
    created_at: datetime

    @classmethod
    def of(cls, item: CalibrationItem, *, show_expected: bool) -> ItemOut:
        return cls(
            id=item.id,
            set_id=item.set_id,
            case_id=item.case_id,
            expected_policy_code=item.expected_policy_code if show_expected else None,
            expected_action=item.expected_action.value if show_expected else None,
            rationale=item.rationale if show_expected else None,
            created_at=item.created_at,
        )


class AssignmentOut(BaseModel):
    set_id: int
    staff_id: int
    assigned_by_id: int | None
    assigned_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, a: CalibrationAssignment) -> AssignmentOut:
        return cls(
            set_id=a.set_id,
            staff_id=a.staff_id,
            assigned_by_id=a.assigned_by_id,
            assigned_at=a.assigned_at,
            completed_at=a.completed_at,
        )


class MyAssignmentOut(AssignmentOut):
    set_name: str
    items: int
    answered: int


class AnswerOut(BaseModel):
    id: int
    set_id: int
    item_id: int
    staff_id: int
    policy_code: str | None
    action: str
    answered_at: datetime
    right_policy: bool | None = Field(description="Shown once you have finished the set.")
    right_action: bool | None = Field(description="Shown once you have finished the set.")

    @classmethod
    def of(cls, a: CalibrationAnswer, *, show_result: bool) -> AnswerOut:
        return cls(
            id=a.id,
            set_id=a.set_id,
            item_id=a.item_id,
            staff_id=a.staff_id,
            policy_code=a.policy_code,
            action=a.action.value,
            answered_at=a.answered_at,
            right_policy=a.right_policy if show_result else None,
            right_action=a.right_action if show_result else None,
        )


class SetDetailOut(SetOut):
    items: list[ItemOut]
    assignments: list[AssignmentOut]
    answered: dict[int, int] = Field(description="Items answered, by staff id.")
    my_answers: list[AnswerOut]


class GreyAreaOut(BaseModel):
    title: str
    guidance: str


class MissOut(BaseModel):
    item_id: int
    case_id: int
    expected_policy_code: str | None
    expected_action: str
    rationale: str
    policy_code: str | None
    action: str
    right_policy: bool
    right_action: bool
    guidance_policy_code: str | None
    grey_areas: list[GreyAreaOut]


class ReviewerResultOut(BaseModel):
    staff_id: int
    name: str
    assigned_at: datetime
    completed_at: datetime | None
    items: int
    answered: int
    right_policy: int
    right_action: int
    right_both: int
    policy_accuracy: float | None
    action_accuracy: float | None
    accuracy: float | None
    missed: list[MissOut]


class ItemAnswerOut(BaseModel):
    staff_id: int
    name: str
    policy_code: str | None
    action: str
    right_policy: bool
    right_action: bool


class ItemResultOut(BaseModel):
    item: ItemOut
    answers: int
    agreed: int
    disagreements: list[ItemAnswerOut]
    grey_areas: list[GreyAreaOut]


class SetResultsOut(BaseModel):
    set: SetOut
    reviewers: list[ReviewerResultOut]
    items: list[ItemResultOut]
