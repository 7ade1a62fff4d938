"""API models for decisions. Request bodies refuse unknown fields.

Field paths in errors follow the request: ``violations.0.policy``, ``actions.1.scope``,
``statement.facts``, ``message.channels``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vigil.enforcement.models import (
    ActionStatus,
    ApprovalOutcome,
    DecisionStatus,
)
from vigil.policies.actions import ActionType, Scope

if TYPE_CHECKING:
    from vigil.communications.models import Message
    from vigil.enforcement.models import Approval, DecisionAction
    from vigil.enforcement.service import DecisionDetail, DecisionView, Preview
    from vigil.enforcement.suggest import StrikeView, Suggestion
    from vigil.integrations.models import WebhookDelivery
    from vigil.kit.errors import VigilError

Channel = Literal["email", "in_app"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests ---------------------------------------------------------------------------------


class ViolationIn(_Body):
    policy: str = Field(min_length=1, max_length=64, description="The policy's code.")
    version: int | None = Field(
        default=None, ge=1, description="The version applied; the current one when left out."
    )


class ActionIn(_Body):
    type: ActionType
    scope: Scope
    duration_days: int | None = Field(
        default=None, ge=1, le=3650, description="For suspend (required) and restrict."
    )
    ends_at: AwareDatetime | None = Field(
        default=None, description="An end date instead of duration_days."
    )
    target_ref: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The marketplace's id of the listing or message (required to remove one).",
    )


class MessageIn(_Body):
    subject: str | None = Field(
        default=None, max_length=300, description="Leave out to use the template's."
    )
    body: str | None = Field(
        default=None, max_length=20_000, description="Leave out to use the template's."
    )
    channels: list[Channel] = Field(
        default_factory=lambda: list[Channel](["email", "in_app"]),
        max_length=2,
        description="[] sends nothing (needs no_message_reason when a policy was violated).",
    )
    locale: str | None = Field(
        default=None,
        min_length=2,
        max_length=16,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="Defaults to the account's locale (en, es, pt; others fall back to en).",
    )
    no_message_reason: str | None = Field(default=None, max_length=4000)


class StatementIn(_Body):
    """What the reviewer states for the DSA statement of reasons; the rest (category,
    keywords, grounds, restrictions, dates) comes from the policy and the actions."""

    facts: str | None = Field(
        default=None, max_length=5000, description="Facts and circumstances relied on."
    )
    content_type: list[str] | None = Field(default=None, max_length=8)
    content_type_other: str | None = Field(default=None, max_length=500)
    content_date: date | None = None
    content_language: str | None = Field(default=None, max_length=2)
    source_type: str | None = Field(
        default=None, max_length=64, description="Defaults from the case's type."
    )
    automated_detection: bool | None = Field(
        default=None, description="Defaults to true for cases opened by detection."
    )
    automated_decision: str | None = Field(
        default=None, max_length=64, description="Defaults to AUTOMATED_DECISION_NOT_AUTOMATED."
    )
    territorial_scope: list[str] | None = Field(
        default=None, max_length=40, description="Defaults to every EEA country."
    )


class DecisionIn(_Body):
    violations: list[ViolationIn] = Field(default_factory=list, max_length=10)
    no_violation: bool = False
    actions: list[ActionIn] = Field(default_factory=list, max_length=10)
    departure_reason: str | None = Field(default=None, max_length=4000)
    internal_reasoning: str = Field(default="", max_length=20_000)
    message: MessageIn | None = None
    statement: StatementIn | None = None
    expected_version: int | None = Field(
        default=None, ge=1, description="Refuse (409) unless the case is at this version."
    )


class ReasonIn(_Body):
    reason: str | None = Field(default=None, max_length=4000)


class RequiredReasonIn(_Body):
    reason: str = Field(max_length=4000)


# --- responses --------------------------------------------------------------------------------


class StrikeOut(BaseModel):
    id: int
    decision_id: int
    policy: str
    version: int
    weight: int
    created_at: datetime
    expires_at: datetime
    voided_at: datetime | None
    void_reason: str | None
    counts: bool

    @classmethod
    def of(cls, s: StrikeView) -> StrikeOut:
        return cls(
            id=s.id,
            decision_id=s.decision_id,
            policy=s.policy_code,
            version=s.policy_version,
            weight=s.weight,
            created_at=s.created_at,
            expires_at=s.expires_at,
            voided_at=s.voided_at,
            void_reason=s.void_reason,
            counts=s.counts,
        )


class SuggestionOut(BaseModel):
    action: ActionType
    scope: Scope
    duration_days: int | None
    policy: str
    version: int
    from_ladder: bool
    step_strikes: int | None
    strikes_before: int
    adding: int
    strikes_after: int
    strikes: list[StrikeOut]

    @classmethod
    def of(cls, s: Suggestion) -> SuggestionOut:
        return cls(
            action=s.action,
            scope=s.scope,
            duration_days=s.duration_days,
            policy=s.policy_code,
            version=s.policy_version,
            from_ladder=s.from_ladder,
            step_strikes=s.step_strikes,
            strikes_before=s.strikes_before,
            adding=s.adding,
            strikes_after=s.strikes_after,
            strikes=[StrikeOut.of(x) for x in s.strikes],
        )


class PolicyRefOut(BaseModel):
    policy: str
    version: int
    title: str | None = None


class DeliveryOut(BaseModel):
    id: int
    integration_id: int
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=d.id,
            integration_id=d.integration_id,
            event_type=d.event_type,
            status=str(d.status),
            attempts=d.attempts,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
        )


class ActionOut(BaseModel):
    id: int
    type: ActionType
    scope: Scope
    target_ref: str | None
    duration_days: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    status: ActionStatus
    restriction_id: int | None
    expired_at: datetime | None
    reversed_at: datetime | None
    reversal_reason: str | None
    deliveries: list[DeliveryOut] = Field(default_factory=list)

    @classmethod
    def of(cls, a: DecisionAction, deliveries: list[WebhookDelivery] | None = None) -> ActionOut:
        return cls(
            id=a.id,
            type=a.type,
            scope=a.scope,
            target_ref=a.target_ref,
            duration_days=a.duration_days,
            starts_at=a.starts_at,
            ends_at=a.ends_at if a.ends_at is not None else a.requested_ends_at,
            status=a.status,
            restriction_id=a.restriction_id,
            expired_at=a.expired_at,
            reversed_at=a.reversed_at,
            reversal_reason=a.reversal_reason,
            deliveries=[DeliveryOut.of(d) for d in deliveries or []],
        )


class ApprovalOut(BaseModel):
    id: int
    requested_by_id: int | None
    requested_at: datetime
    required_for: list[str]
    decided_by_id: int | None
    outcome: ApprovalOutcome | None
    reason: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, a: Approval, *, internal: bool = True) -> ApprovalOut:
        """``internal`` False (an API key): who asked and answered, and why, are null."""
        return cls(
            id=a.id,
            requested_by_id=a.requested_by_id if internal else None,
            requested_at=a.requested_at,
            required_for=list(a.required_for or []),
            decided_by_id=a.decided_by_id if internal else None,
            outcome=a.outcome,
            reason=a.reason if internal else None,
            decided_at=a.decided_at,
        )


class MessageOut(BaseModel):
    id: int
    channel: str
    locale: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            id=m.id,
            channel=str(m.channel),
            locale=m.locale,
            subject=m.subject,
            status=str(m.status),
            attempts=m.attempts,
            last_error=m.last_error,
            sent_at=m.sent_at,
            created_at=m.created_at,
        )


class DecisionOut(BaseModel):
    id: int
    case_id: int
    account_id: int | None
    account_external_id: str | None
    status: DecisionStatus
    no_violation: bool
    action: ActionType | None
    policies: list[PolicyRefOut]
    actions: list[ActionOut]
    suggestion: dict[str, Any] | None
    departed: bool
    departure_reason: str | None
    internal_reasoning: str | None
    locale: str
    decided_by_id: int | None
    decided_by: str | None
    approved_by_id: int | None
    rejected_by_id: int | None
    reversed_by_id: int | None
    reversal_reason: str | None
    created_at: datetime
    approved_at: datetime | None
    applied_at: datetime | None
    rejected_at: datetime | None
    reversed_at: datetime | None
    version: int

    @staticmethod
    def fields_of(
        view: DecisionView,
        *,
        internal: bool,
        deliveries: dict[int, list[WebhookDelivery]] | None = None,
    ) -> dict[str, Any]:
        """``internal``: staff see everything. The marketplace's API keys see what was
        decided and when, never by whom or why: the staff fields (``decided_by``,
        ``decided_by_id``, ``approved_by_id``, ``rejected_by_id``, ``reversed_by_id``) and
        the internal ones (``internal_reasoning``, ``departure_reason``, ``suggestion``) are
        null. ``reversal_reason`` stays: the ``action.reversed`` webhook carries it too."""
        d = view.decision

        def staff(value: Any) -> Any:
            return value if internal else None

        return {
            "id": d.id,
            "case_id": d.case_id,
            "account_id": d.account_id,
            "account_external_id": view.account_external_id,
            "status": d.status,
            "no_violation": d.no_violation,
            "action": d.action,
            "policies": [
                PolicyRefOut(policy=p.code, version=p.version, title=p.title) for p in view.policies
            ],
            "actions": [ActionOut.of(a, (deliveries or {}).get(a.id)) for a in view.actions],
            "suggestion": staff(d.suggestion),
            "departed": d.departed,
            "departure_reason": staff(d.departure_reason),
            "internal_reasoning": staff(d.internal_reasoning),
            "locale": d.locale,
            "decided_by_id": staff(d.decided_by_id),
            "decided_by": staff(d.decided_by_label),
            "approved_by_id": staff(d.approved_by_id),
            "rejected_by_id": staff(d.rejected_by_id),
            "reversed_by_id": staff(d.reversed_by_id),
            "reversal_reason": d.reversal_reason,
            "created_at": d.created_at,
            "approved_at": d.approved_at,
            "applied_at": d.applied_at,
            "rejected_at": d.rejected_at,
            "reversed_at": d.reversed_at,
            "version": d.version,
        }

    @classmethod
    def of(cls, view: DecisionView, *, internal: bool) -> DecisionOut:
        return cls(**cls.fields_of(view, internal=internal))


class DecisionDetailOut(DecisionOut):
    approvals: list[ApprovalOut]
    messages: list[MessageOut]
    statement_ids: list[int]
    statement_puids: list[str]
    # delivered: every webhook of every action arrived; failed: at least one gave up;
    # pending: some are still being tried; none: nothing was sent (no integration, no action).
    delivery_status: Literal["delivered", "pending", "failed", "none"]

    @classmethod
    def detail(cls, view: DecisionDetail, *, internal: bool) -> DecisionDetailOut:
        return cls(
            **cls.fields_of(view, internal=internal, deliveries=view.deliveries),
            approvals=[ApprovalOut.of(a, internal=internal) for a in view.approvals],
            messages=[MessageOut.of(m) for m in view.messages],
            statement_ids=[st.id for st in view.statements],
            statement_puids=[st.puid for st in view.statements],
            delivery_status=view.delivery_status,
        )


class DecisionPage(BaseModel):
    items: list[DecisionOut]
    next_cursor: str | None = None


class StrikePage(BaseModel):
    account_external_id: str
    active_weight: int
    items: list[StrikeOut]
    next_cursor: str | None = None


class ProblemOut(BaseModel):
    code: str
    field: str | None
    message: str

    @classmethod
    def of(cls, e: VigilError) -> ProblemOut:
        return cls(code=e.code, field=e.field, message=e.message)


class RenderedMessageOut(BaseModel):
    channels: list[str]
    locale: str
    subject: str
    body: str
    statement_section: str
    template_id: int | None
    fell_back: bool
    edited: bool


class PreviewOut(BaseModel):
    """What the decision would do, without doing it. ``problems`` lists everything that
    would make ``POST .../decisions`` refuse the same body (empty: it would be accepted)."""

    suggestion: SuggestionOut | None
    four_eyes: bool
    four_eyes_actions: list[str]
    departs: bool
    message: RenderedMessageOut | None
    statement_fields: dict[str, Any] | None
    statement_violations: list[ProblemOut]
    problems: list[ProblemOut]

    @classmethod
    def of(cls, p: Preview) -> PreviewOut:
        out = p.message
        return cls(
            suggestion=SuggestionOut.of(p.suggestion) if p.suggestion is not None else None,
            four_eyes=bool(p.four_eyes),
            four_eyes_actions=list(p.four_eyes),
            departs=p.departs,
            message=(
                RenderedMessageOut(
                    channels=list(p.channels),
                    locale=out.locale,
                    subject=out.subject,
                    body=out.body,
                    statement_section=out.statement_section,
                    template_id=out.template_id,
                    fell_back=out.fell_back,
                    edited=p.edited,
                )
                if out is not None
                else None
            ),
            statement_fields=p.statement_fields,
            statement_violations=[
                ProblemOut(
                    code=str(v.get("code", "invalid_statement")),
                    field=v.get("field"),
                    message=str(v.get("message", "")),
                )
                for v in p.statement_violations
            ],
            problems=[ProblemOut.of(e) for e in p.problems],
        )
