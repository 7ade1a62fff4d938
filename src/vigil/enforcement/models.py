"""Tables of the enforcement domain: decisions on cases, the actions they take, strikes and
four-eyes approvals.

Invariants (kept by ``enforcement.states`` and by the database's check constraints):
- ``Decision.status`` moves ``pending_approval -> applied | rejected`` and
  ``applied -> reversed``; each step stamps its own timestamp, and a timestamp is set exactly
  when the decision has passed that step.
- A decision cites the policy *versions* it applied (``DecisionPolicy``); versions are
  immutable, so what a decision meant stays readable after the policy changes.
- ``DecisionAction.status`` moves ``pending -> active -> expired | reversed``.
- A strike counts while ``voided_at`` is null and ``expires_at`` is in the future.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONType, enum_check, str_enum
from vigil.policies.actions import ActionType, Scope


class DecisionStatus(StrEnum):
    pending_approval = "pending_approval"  # waiting for a second approver (four-eyes)
    applied = "applied"  # its actions were taken and the case closed
    rejected = "rejected"  # the second approver said no; the case goes back to its holder
    reversed = "reversed"  # overturned (an appeal, a mistake): its actions were undone


class ActionStatus(StrEnum):
    pending = "pending"  # the decision waits for approval (or was rejected)
    active = "active"  # taken: the restriction is in force, the content is down
    expired = "expired"  # reached its end date
    reversed = "reversed"  # undone because the decision was overturned


class ApprovalOutcome(StrEnum):
    approved = "approved"
    rejected = "rejected"


_FK_STAFF = "staff_users.id"


class Decision(IdMixin, Base):
    """What a reviewer decided on a case: the policies violated (or none), the actions, the
    message to the user and the statement of reasons that go with them.

    ``message_spec`` and ``statement_spec`` keep the request as the reviewer wrote it: a
    decision waiting for a second approver is applied from them later, exactly as submitted.
    """

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(enum_check("status", DecisionStatus), name="status"),
        CheckConstraint(
            "(applied_at IS NOT NULL) = (status IN ('applied', 'reversed'))", name="applied_at"
        ),
        CheckConstraint("(rejected_at IS NOT NULL) = (status = 'rejected')", name="rejected_at"),
        CheckConstraint(
            "(reversed_at IS NOT NULL) = (status = 'reversed') "
            "AND (reversal_reason IS NOT NULL) = (status = 'reversed')",
            name="reversed_at",
        ),
        CheckConstraint(
            "approved_at IS NULL OR status IN ('applied', 'reversed')", name="approved_at"
        ),
        CheckConstraint("NOT no_violation OR action IS NULL", name="no_violation_no_action"),
        # Approvers' list: the decisions waiting for a second pair of eyes, oldest first.
        Index(
            "ix_decisions_pending",
            "id",
            postgresql_where=text("status = 'pending_approval'"),
            sqlite_where=text("status = 'pending_approval'"),
        ),
        # A case has at most one decision waiting for approval.
        Index(
            "uq_decisions_pending_case",
            "case_id",
            unique=True,
            postgresql_where=text("status = 'pending_approval'"),
            sqlite_where=text("status = 'pending_approval'"),
        ),
        Index("ix_decisions_case", "case_id", "id"),
        Index("ix_decisions_account", "account_id", "id"),
        Index("ix_decisions_status", "status", "id"),
        # Metrics place a decision by when it was made.
        Index("ix_decisions_created_at", "created_at"),
        # Period figures (appeal and overturn rates, QA, metrics) walk decisions by when they
        # took effect.
        Index(
            "ix_decisions_applied_at",
            "applied_at",
            postgresql_where=text("applied_at IS NOT NULL"),
            sqlite_where=text("applied_at IS NOT NULL"),
        ),
    )

    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="SET NULL")
    )
    status: Mapped[DecisionStatus] = mapped_column(str_enum(DecisionStatus))
    no_violation: Mapped[bool] = mapped_column(Boolean, default=False)
    # The most severe action taken (None for "no violation"); the full list is in actions.
    action: Mapped[ActionType | None] = mapped_column(str_enum(ActionType, 16))
    # What the ladder proposed when the decision was made ({action, scope, duration_days,
    # policy, strikes_before, strikes_after}), and why the reviewer chose otherwise.
    suggestion: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    departed: Mapped[bool] = mapped_column(Boolean, default=False)
    departure_reason: Mapped[str | None] = mapped_column(Text)
    internal_reasoning: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(16), default="en")
    message_spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    statement_spec: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    decided_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    decided_by_label: Mapped[str] = mapped_column(String(200), default="system")
    approved_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    rejected_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    reversed_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    reversal_reason: Mapped[str | None] = mapped_column(Text)

    # A timestamp per step.
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    approved_at: Mapped[datetime | None]
    applied_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    reversed_at: Mapped[datetime | None]

    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class DecisionPolicy(Base):
    """A policy version a decision cites. ``position`` 0 is the most severe one (the one the
    ladder, the message template and the statement's category follow)."""

    __tablename__ = "decision_policies"
    __table_args__ = (
        # "Decisions under this policy" (consistency figures, precedent).
        Index("ix_decision_policies_code", "policy_code", "decision_id"),
    )

    decision_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    policy_code: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[int]
    # No ON DELETE: versions are never deleted, and the database says so too.
    policy_version_id: Mapped[int] = mapped_column(BigId, ForeignKey("policy_versions.id"))


class DecisionAction(IdMixin, Base):
    """One thing a decision does to the account. ``ends_at`` is fixed when the action is
    taken (a suspension waiting for approval starts when it is approved)."""

    __tablename__ = "decision_actions"
    __table_args__ = (
        CheckConstraint(enum_check("type", ActionType), name="type"),
        CheckConstraint(enum_check("scope", Scope), name="scope"),
        CheckConstraint(enum_check("status", ActionStatus), name="status"),
        CheckConstraint("duration_days IS NULL OR duration_days > 0", name="duration_days"),
        CheckConstraint(
            "(starts_at IS NOT NULL) = (status <> 'pending')", name="starts_at_iff_taken"
        ),
        CheckConstraint(
            "(reversed_at IS NOT NULL) = (status = 'reversed')", name="reversed_at_iff_reversed"
        ),
        CheckConstraint(
            "(expired_at IS NOT NULL) = (status = 'expired')", name="expired_at_iff_expired"
        ),
        # The expiry sweep: active actions by end date.
        Index(
            "ix_decision_actions_due",
            "ends_at",
            postgresql_where=text("status = 'active' AND ends_at IS NOT NULL"),
            sqlite_where=text("status = 'active' AND ends_at IS NOT NULL"),
        ),
        Index("ix_decision_actions_decision", "decision_id", "position"),
    )

    decision_id: Mapped[int] = mapped_column(BigId, ForeignKey("decisions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    type: Mapped[ActionType] = mapped_column(str_enum(ActionType, 16))
    scope: Mapped[Scope] = mapped_column(str_enum(Scope, 16))
    target_ref: Mapped[str | None] = mapped_column(String(200))
    duration_days: Mapped[int | None]
    # An end date the reviewer gave instead of a duration.
    requested_ends_at: Mapped[datetime | None]
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    status: Mapped[ActionStatus] = mapped_column(
        str_enum(ActionStatus, 16), default=ActionStatus.pending
    )
    restriction_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("restrictions.id", ondelete="SET NULL")
    )
    expired_at: Mapped[datetime | None]
    reversed_at: Mapped[datetime | None]
    reversal_reason: Mapped[str | None] = mapped_column(Text)


class Strike(IdMixin, Base):
    """A mark on an account's record for one violated policy. Strikes add up (by weight)
    to climb the enforcement ladder and stop counting at ``expires_at``."""

    __tablename__ = "strikes"
    __table_args__ = (
        CheckConstraint("weight > 0", name="weight"),
        CheckConstraint(
            "(voided_at IS NULL) = (void_reason IS NULL)", name="void_reason_iff_voided"
        ),
        # Active strikes of an account (the ladder suggestion).
        Index(
            "ix_strikes_active",
            "account_id",
            "expires_at",
            postgresql_where=text("voided_at IS NULL"),
            sqlite_where=text("voided_at IS NULL"),
        ),
        Index("ix_strikes_account", "account_id", "id"),
        Index("ix_strikes_decision", "decision_id"),
    )

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    decision_id: Mapped[int] = mapped_column(BigId, ForeignKey("decisions.id", ondelete="CASCADE"))
    policy_code: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[int]
    weight: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(Text)


class Approval(IdMixin, Base):
    """A four-eyes request on a decision and its answer. Written when the decision is made
    (``outcome`` null: waiting); answered once."""

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(
            "outcome IS NULL OR " + enum_check("outcome", ApprovalOutcome), name="outcome"
        ),
        CheckConstraint("(outcome IS NULL) = (decided_at IS NULL)", name="decided_iff_outcome"),
        CheckConstraint(
            "outcome IS NULL OR outcome = 'approved' OR reason IS NOT NULL",
            name="reject_needs_reason",
        ),
        Index(
            "ix_approvals_waiting",
            "requested_at",
            postgresql_where=text("outcome IS NULL"),
            sqlite_where=text("outcome IS NULL"),
        ),
        Index("ix_approvals_decision", "decision_id", "id"),
    )

    decision_id: Mapped[int] = mapped_column(BigId, ForeignKey("decisions.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    requested_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Why approval is needed: the four-eyes action types found in the decision.
    required_for: Mapped[list[str]] = mapped_column(JSONType, default=list)
    decided_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    outcome: Mapped[ApprovalOutcome | None] = mapped_column(str_enum(ApprovalOutcome, 16))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
