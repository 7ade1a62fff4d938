"""Tables of the quality domain: sampling rates, QA samples reviewed blind and scored, the
sampler's position, and calibration sets of gold cases with their assignments and answers.

Invariants (kept by ``vigil.quality.service`` and by the check constraints):
- A decision is sampled at most once (``uq`` on ``qa_samples.decision_id``).
- ``QASample.status`` moves ``queued -> assigned -> answered -> revealed -> scored``; each
  step stamps its own timestamp, and a timestamp is set exactly when the sample has passed
  that step. The blind answer is written before the original is revealed, and never changed.
- ``original_label`` and ``blind_label`` are the ``ActionType`` values or ``no_violation``;
  the policy code is null exactly when the label is ``no_violation``.
- A sampling rate is one row per scope: the default (neither queue nor staff), one queue, or
  one reviewer; ``0 <= rate <= 1``.
- A calibration answer is written once per item and reviewer.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, enum_check, str_enum
from vigil.policies.actions import ActionType


class Label(StrEnum):
    """A decision's outcome as QA compares it: the most severe action, or no violation.

    The members are ``ActionType``'s values plus ``no_violation`` (checked at import below, so
    a new action type cannot be forgotten here)."""

    no_violation = "no_violation"
    warn = "warn"
    restrict = "restrict"
    suspend = "suspend"
    remove = "remove"
    ban = "ban"


_ACTION_LABELS = {a.value for a in ActionType}
if {label.value for label in Label} != _ACTION_LABELS | {"no_violation"}:  # pragma: no cover
    raise RuntimeError("quality.models.Label must list every ActionType value and no_violation")


class SampleStatus(StrEnum):
    queued = "queued"  # waiting for a QA reviewer
    assigned = "assigned"  # a QA reviewer holds it and decides blind
    answered = "answered"  # the blind answer is recorded; the original can be revealed
    revealed = "revealed"  # the reviewer has seen the original; waiting for the score
    scored = "scored"  # done


class SampleSource(StrEnum):
    sampled = "sampled"  # picked by the sampler at the configured rate
    manual = "manual"  # picked by hand (qa:manage) with a reason


_FK_STAFF = "staff_users.id"
_LABEL_CHECK = enum_check("{col}", Label)


def _label_check(column: str) -> str:
    return _LABEL_CHECK.replace("{col}", column)


class QASamplingRate(IdMixin, Base):
    """The share of applied decisions sampled for QA: for one queue, one reviewer, or the
    default (neither). ``scope_key`` (``default``, ``queue:<id>``, ``staff:<id>``) makes one
    row per scope unique on both databases (NULLs are never equal in a unique index)."""

    __tablename__ = "qa_sampling_rates"
    __table_args__ = (
        CheckConstraint("rate >= 0 AND rate <= 1", name="rate"),
        CheckConstraint("queue_id IS NULL OR staff_id IS NULL", name="one_scope"),
        UniqueConstraint("scope_key"),
        Index("ix_qa_sampling_rates_staff", "staff_id"),
        Index("ix_qa_sampling_rates_queue", "queue_id"),
    )

    scope_key: Mapped[str] = mapped_column(String(40))
    queue_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("queues.id", ondelete="CASCADE"))
    staff_id: Mapped[int | None] = mapped_column(BigId, ForeignKey(_FK_STAFF, ondelete="CASCADE"))
    rate: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )


class QASamplerState(Base):
    """The sampler's high-water mark: every decision with an id at or below ``last_decision_id``
    has been looked at (sampled, skipped, or parked in ``qa_sampler_pending``). One row. The
    mark only moves past decisions created more than the settle lag ago, so a decision whose
    transaction commits after one with a higher id is still seen."""

    __tablename__ = "qa_sampler_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_decision_id: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class QASamplerPending(Base):
    """Decisions passed by the high-water mark while waiting for a second approver: they may
    still be applied, so the sampler looks at them again on every run until they are."""

    __tablename__ = "qa_sampler_pending"

    decision_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("decisions.id", ondelete="CASCADE"), primary_key=True
    )
    parked_at: Mapped[datetime] = mapped_column(default=clock.now)


class QASample(IdMixin, Base):
    """One applied decision picked for QA, its blind re-decision and its score.

    The original's label, policy and reviewer are copied when the sample is taken, so the
    scorecards group and count from this table alone.
    """

    __tablename__ = "qa_samples"
    __table_args__ = (
        CheckConstraint(enum_check("status", SampleStatus), name="status"),
        CheckConstraint(enum_check("source", SampleSource), name="source"),
        CheckConstraint(_label_check("original_label"), name="original_label"),
        CheckConstraint(
            "blind_label IS NULL OR " + _label_check("blind_label"), name="blind_label"
        ),
        CheckConstraint(
            "(original_policy_code IS NULL) = (original_label = 'no_violation')",
            name="original_policy_iff_violation",
        ),
        CheckConstraint(
            "blind_label IS NULL OR (blind_policy_code IS NULL) = (blind_label = 'no_violation')",
            name="blind_policy_iff_violation",
        ),
        CheckConstraint(
            "(reviewer_id IS NOT NULL) OR status = 'queued'", name="reviewer_unless_queued"
        ),
        CheckConstraint("(assigned_at IS NOT NULL) = (status <> 'queued')", name="assigned_at"),
        CheckConstraint(
            "(answered_at IS NOT NULL) = (status IN ('answered', 'revealed', 'scored'))"
            " AND (answered_at IS NOT NULL) = (blind_label IS NOT NULL)"
            " AND (answered_at IS NOT NULL) = (agreed IS NOT NULL)",
            name="answered_at",
        ),
        CheckConstraint(
            "(revealed_at IS NOT NULL) = (status IN ('revealed', 'scored'))", name="revealed_at"
        ),
        CheckConstraint(
            "(scored_at IS NOT NULL) = (status = 'scored')"
            " AND (scored_at IS NOT NULL) = (right_policy IS NOT NULL)"
            " AND (scored_at IS NOT NULL) = (right_action IS NOT NULL)",
            name="scored_at",
        ),
        CheckConstraint(
            "message_quality IS NULL OR message_quality BETWEEN 1 AND 5", name="message_quality"
        ),
        CheckConstraint("source <> 'manual' OR (manual_reason IS NOT NULL)", name="manual_reason"),
        UniqueConstraint("decision_id"),
        # "Next sample": the oldest waiting one.
        Index(
            "ix_qa_samples_queued",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        # What a QA reviewer holds (their next sample is the one they already hold).
        Index("ix_qa_samples_reviewer", "reviewer_id", "status", "id"),
        # Scorecards: scored samples by the time of the original decision.
        Index("ix_qa_samples_scored", "status", "decided_at"),
        Index("ix_qa_samples_decided_by", "decided_by_id", "id"),
    )

    decision_id: Mapped[int] = mapped_column(BigId, ForeignKey("decisions.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id", ondelete="CASCADE"))
    queue_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("queues.id", ondelete="SET NULL")
    )
    source: Mapped[SampleSource] = mapped_column(str_enum(SampleSource, 16))
    manual_reason: Mapped[str | None] = mapped_column(Text)
    picked_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    # The rate in force when the sampler picked it (None for a manual pick).
    rate: Mapped[float | None] = mapped_column(Float)

    # The original decision, as QA compares it.
    decided_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    # The four-eyes approver of the original, who may not review it either.
    approved_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    decided_at: Mapped[datetime]
    original_label: Mapped[Label] = mapped_column(str_enum(Label, 16))
    original_policy_code: Mapped[str | None] = mapped_column(String(100))

    status: Mapped[SampleStatus] = mapped_column(
        str_enum(SampleStatus, 16), default=SampleStatus.queued
    )
    reviewer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    blind_label: Mapped[Label | None] = mapped_column(str_enum(Label, 16))
    blind_policy_code: Mapped[str | None] = mapped_column(String(100))
    agreed: Mapped[bool | None] = mapped_column(Boolean)

    right_policy: Mapped[bool | None] = mapped_column(Boolean)
    right_action: Mapped[bool | None] = mapped_column(Boolean)
    message_quality: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)

    # A timestamp per step.
    sampled_at: Mapped[datetime] = mapped_column(default=clock.now)
    assigned_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    revealed_at: Mapped[datetime | None]
    scored_at: Mapped[datetime | None]


class QASampleRelease(Base):
    """A QA reviewer who gave a sample back: it is never handed to them again."""

    __tablename__ = "qa_sample_releases"

    sample_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("qa_samples.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="CASCADE"), primary_key=True
    )
    released_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    released_at: Mapped[datetime] = mapped_column(default=clock.now)


class CalibrationSet(IdMixin, Base):
    """A named set of gold cases with the expected decision, answered blind by reviewers."""

    __tablename__ = "calibration_sets"
    __table_args__ = (UniqueConstraint("name"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CalibrationItem(IdMixin, Base):
    """A gold case of a set and the decision it should get."""

    __tablename__ = "calibration_items"
    __table_args__ = (
        CheckConstraint(_label_check("expected_action"), name="expected_action"),
        CheckConstraint(
            "(expected_policy_code IS NULL) = (expected_action = 'no_violation')",
            name="expected_policy_iff_violation",
        ),
        UniqueConstraint("set_id", "case_id"),
        Index("ix_calibration_items_set", "set_id", "id"),
    )

    set_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("calibration_sets.id", ondelete="CASCADE")
    )
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id", ondelete="CASCADE"))
    expected_policy_code: Mapped[str | None] = mapped_column(String(100))
    expected_action: Mapped[Label] = mapped_column(str_enum(Label, 16))
    rationale: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class CalibrationAssignment(Base):
    """A reviewer asked to answer a set. ``completed_at`` is set when they answer its last
    item; only then do they see their result."""

    __tablename__ = "calibration_assignments"
    __table_args__ = (Index("ix_calibration_assignments_staff", "staff_id", "set_id"),)

    set_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("calibration_sets.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="CASCADE"), primary_key=True
    )
    assigned_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    assigned_at: Mapped[datetime] = mapped_column(default=clock.now)
    completed_at: Mapped[datetime | None]


class CalibrationAnswer(IdMixin, Base):
    """A reviewer's blind answer to one gold case, with how it compares to the expected one."""

    __tablename__ = "calibration_answers"
    __table_args__ = (
        CheckConstraint(_label_check("action"), name="action"),
        CheckConstraint(
            "(policy_code IS NULL) = (action = 'no_violation')", name="policy_iff_violation"
        ),
        UniqueConstraint("item_id", "staff_id"),
        Index("ix_calibration_answers_set", "set_id", "staff_id"),
    )

    set_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("calibration_sets.id", ondelete="CASCADE")
    )
    item_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("calibration_items.id", ondelete="CASCADE")
    )
    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey(_FK_STAFF, ondelete="CASCADE"))
    policy_code: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[Label] = mapped_column(str_enum(Label, 16))
    right_policy: Mapped[bool] = mapped_column(Boolean)
    right_action: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime] = mapped_column(default=clock.now)
