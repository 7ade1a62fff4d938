"""Reviewing a QA sample: take the next one, decide blind, reveal the original, score it.

The blind rule: the original decision is not shown (``reveal`` refuses with 409
``blind_answer_required``) until the reviewer has recorded their own decision, and that
answer is never changed afterwards. A sample is worked by the QA reviewer it was handed to.

Two QA reviewers never get the same sample: on PostgreSQL the candidate row is taken with
``FOR UPDATE SKIP LOCKED``; on SQLite every transaction holds the database's write lock
(``BEGIN IMMEDIATE``), so takes run one at a time. Nobody reviews their own decision, one
they approved (four-eyes), or a sample they gave back. The status moves through
``vigil.quality.states.transition``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, exists, or_, select, true
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.communications import service as communications
from vigil.communications.models import Message
from vigil.enforcement import queries as decisions
from vigil.enforcement.models import Decision, DecisionAction
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vigil.kit.pagination import decode_id_cursor, encode_cursor
from vigil.policies.models import PolicyVersion
from vigil.quality.common import (
    case_visible,
    check_form,
    optional_text,
    require_any,
    require_staff,
    required_text,
)
from vigil.quality.models import Label, QASample, QASampleRelease, SampleSource, SampleStatus
from vigil.quality.schemas import ScoreIn
from vigil.quality.states import transition

READERS = (Permission.qa_review, Permission.qa_read, Permission.qa_manage)
_HELD = (SampleStatus.assigned, SampleStatus.answered, SampleStatus.revealed)
_REVEALED = (SampleStatus.revealed, SampleStatus.scored)


def _not_found() -> NotFound:
    return NotFound("no such QA sample", code="sample_not_found")


def _hide_legal(query: Select[QASample], actor: Principal) -> Select[QASample]:
    if actor.can(Permission.legal_cases):
        return query
    return query.join(Case, Case.id == QASample.case_id).where(Case.tier != Tier.legal)


def _load(session: Session, actor: Principal, sample_id: int, *, lock: bool = False) -> QASample:
    query = select(QASample).where(QASample.id == sample_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    sample = session.scalar(query)
    if sample is None or not case_visible(actor, session.get(Case, sample.case_id)):
        raise _not_found()
    return sample


def _held_by_actor(actor: Principal, sample: QASample) -> None:
    if sample.reviewer_id is None or sample.reviewer_id != actor.staff_id:
        raise PermissionDenied("this sample is not assigned to you", code="not_assigned")


def get_sample(session: Session, actor: Principal, sample_id: int) -> QASample:
    """One sample. Show its original (label, policy, reviewer) only when
    :func:`original_visible` says so: the API and the console hide it until it is revealed."""
    require_any(actor, *READERS)
    return _load(session, actor, sample_id)


def original_visible(sample: QASample) -> bool:
    """The original decision of a sample may be shown once its blind answer is in and it has
    been revealed; before that it would spoil the blind review."""
    return sample.status in _REVEALED


@dataclass(frozen=True)
class SampleFilter:
    status: list[SampleStatus] | None = None
    reviewer_id: int | None = None  # the QA reviewer
    decided_by_id: int | None = None  # the reviewer of the original decision
    queue_id: int | None = None
    policy_code: str | None = None  # the original's policy
    agreed: bool | None = None
    source: SampleSource | None = None


def _original_filterable(actor: Principal) -> ColumnElement[bool]:
    revealed = QASample.status.in_(_REVEALED)
    if not actor.can(Permission.qa_manage):
        return revealed
    if actor.staff_id is None:
        return true()
    return or_(revealed, QASample.reviewer_id.is_(None), QASample.reviewer_id != actor.staff_id)


def list_samples(
    session: Session,
    actor: Principal,
    filters: SampleFilter,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[QASample], str | None]:
    """Samples newest first (by id), keyset-paginated. The filters on the original
    (``decided_by_id``, ``policy_code``, ``agreed``) match revealed and scored samples only,
    except for a QA manager (who still cannot probe a sample they hold unrevealed)."""
    require_any(actor, *READERS)
    query = _hide_legal(select(QASample), actor).order_by(QASample.id.desc()).limit(limit + 1)
    f = filters
    if f.status:
        query = query.where(QASample.status.in_(f.status))
    if f.reviewer_id is not None:
        query = query.where(QASample.reviewer_id == f.reviewer_id)
    if f.queue_id is not None:
        query = query.where(QASample.queue_id == f.queue_id)
    if f.decided_by_id is not None or f.policy_code is not None or f.agreed is not None:
        # Filters on the original decision would tell whoever holds (or will take) a
        # sample what the original was: they only match revealed samples, except for a QA
        # manager, who still cannot probe a sample they hold unrevealed themselves.
        query = query.where(_original_filterable(actor))
    if f.decided_by_id is not None:
        query = query.where(QASample.decided_by_id == f.decided_by_id)
    if f.policy_code is not None:
        query = query.where(QASample.original_policy_code == f.policy_code)
    if f.agreed is not None:
        query = query.where(QASample.agreed.is_(f.agreed))
    if f.source is not None:
        query = query.where(QASample.source == f.source)
    if cursor:
        query = query.where(QASample.id < decode_id_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


def next_sample(session: Session, actor: Principal) -> QASample | None:
    """The sample the actor already holds, else the oldest waiting one that is not their own
    decision, assigned to them. ``None`` when nothing is waiting."""
    actor.require(Permission.qa_review)
    me = require_staff(actor)
    held = session.scalar(
        _hide_legal(select(QASample), actor)
        .where(QASample.reviewer_id == me, QASample.status.in_(_HELD))
        .order_by(QASample.id)
        .limit(1)
    )
    if held is not None:
        return held
    query = (
        _hide_legal(select(QASample), actor)
        .where(
            QASample.status == SampleStatus.queued,
            or_(QASample.decided_by_id.is_(None), QASample.decided_by_id != me),
            or_(QASample.approved_by_id.is_(None), QASample.approved_by_id != me),
            ~exists().where(
                QASampleRelease.sample_id == QASample.id, QASampleRelease.staff_id == me
            ),
        )
        .order_by(QASample.id)
        .limit(1)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=QASample)
    sample = session.scalar(query)
    if sample is None or sample.status != SampleStatus.queued:
        return None
    transition(sample, SampleStatus.assigned, reviewer_id=me)
    session.flush()
    audit.record(session, actor, "quality.sample.assign", "qa_sample", sample.id)
    return sample


def release_sample(
    session: Session, actor: Principal, sample_id: int, reason: str | None = None
) -> QASample:
    """Put an unanswered sample back in the queue. The holder gives it up (a conflict of
    interest, a language they do not read) and is never handed it again; a QA manager
    (qa:manage) takes it back from a holder who is away, with a reason. Refuses: 403
    ``not_assigned``; 409 ``already_answered`` (an answer, once given, is scored by the one
    who gave it); 422 ``reason_required`` (a manager's release of someone else's sample)."""
    require_any(actor, Permission.qa_review, Permission.qa_manage)
    me = require_staff(actor)
    sample = _load(session, actor, sample_id, lock=True)
    own = sample.reviewer_id is not None and sample.reviewer_id == me
    if not own and not (actor.can(Permission.qa_manage) and sample.reviewer_id is not None):
        raise PermissionDenied("this sample is not assigned to you", code="not_assigned")
    if sample.status != SampleStatus.assigned:
        raise Conflict("the blind answer is already recorded", code="already_answered")
    why = optional_text(reason, "reason") if own else required_text(reason, "reason")
    holder = sample.reviewer_id
    transition(sample, SampleStatus.queued)
    if own:
        session.merge(
            QASampleRelease(
                sample_id=sample.id,
                staff_id=me,
                released_by_id=me,
                reason=why,
                released_at=clock.now(),
            )
        )
    session.flush()
    audit.record(
        session, actor, "quality.sample.release", "qa_sample", sample.id, reason=why,
        data={"holder_id": holder, "by_manager": not own},
    )  # fmt: skip
    return sample


def blind_answer(
    session: Session,
    actor: Principal,
    sample_id: int,
    *,
    policy_code: str | None,
    action: str,
) -> QASample:
    """Record the QA reviewer's own decision before they see the original. Refuses: 403
    ``not_assigned``; 409 ``already_answered``; 422 on the form (``action``,
    ``policy_code``)."""
    actor.require(Permission.qa_review)
    require_staff(actor)
    sample = _load(session, actor, sample_id, lock=True)
    _held_by_actor(actor, sample)
    if sample.status != SampleStatus.assigned:
        raise Conflict("the blind answer is already recorded", code="already_answered")
    form = check_form(session, policy_code, action)
    sample.blind_label = form.label
    sample.blind_policy_code = form.policy_code
    sample.agreed = (
        form.label == sample.original_label and form.policy_code == sample.original_policy_code
    )
    transition(sample, SampleStatus.answered)
    session.flush()
    audit.record(
        session,
        actor,
        "quality.sample.answer",
        "qa_sample",
        sample.id,
        data={"label": form.label.value, "policy_code": form.policy_code, "agreed": sample.agreed},
    )
    return sample


@dataclass(frozen=True)
class RevealedPolicy:
    code: str
    version: int
    title: str


@dataclass(frozen=True)
class RevealedAction:
    type: str
    scope: str
    duration_days: int | None
    status: str


@dataclass(frozen=True)
class RevealedMessage:
    channel: str
    locale: str
    subject: str
    body: str
    status: str


@dataclass
class Revealed:
    """The original decision of a sample, shown next to the blind answer."""

    sample: QASample
    decision_id: int
    label: Label
    policies: list[RevealedPolicy]
    actions: list[RevealedAction]
    internal_reasoning: str
    decided_by_id: int | None
    decided_by_label: str
    decided_at: datetime
    messages: list[RevealedMessage]

    @property
    def message_sent(self) -> bool:
        return bool(self.messages)


def _revealed(session: Session, actor: Principal, sample: QASample) -> Revealed:
    view = decisions.get_decision(session, actor, sample.decision_id)
    decision: Decision = view.decision
    policies: list[PolicyVersion] = view.policies
    actions: list[DecisionAction] = view.actions
    messages: list[Message] = communications.messages_for(session, decision_id=decision.id)
    return Revealed(
        sample=sample,
        decision_id=decision.id,
        label=sample.original_label,
        policies=[RevealedPolicy(p.code, p.version, p.title) for p in policies],
        actions=[
            RevealedAction(a.type.value, a.scope.value, a.duration_days, a.status.value)
            for a in actions
        ],
        internal_reasoning=decision.internal_reasoning,
        decided_by_id=decision.decided_by_id,
        decided_by_label=decision.decided_by_label,
        decided_at=sample.decided_at,
        messages=[
            RevealedMessage(m.channel.value, m.locale, m.subject, m.body, m.status.value)
            for m in messages
        ],
    )


def reveal(session: Session, actor: Principal, sample_id: int) -> Revealed:
    """The original decision: its policies, actions, message and reviewer. Only for the QA
    reviewer holding the sample, and only after their blind answer (409
    ``blind_answer_required``). Revealing again shows the same and changes nothing but the
    audit trail (each showing is recorded)."""
    actor.require(Permission.qa_review)
    require_staff(actor)
    sample = _load(session, actor, sample_id, lock=True)
    _held_by_actor(actor, sample)
    if sample.status == SampleStatus.assigned:
        raise Conflict(
            "record your own decision before the original is shown",
            code="blind_answer_required",
        )
    first = sample.status == SampleStatus.answered
    if first:
        transition(sample, SampleStatus.revealed)
        session.flush()
    # Every showing is audited (it shows the internal reasoning), not only the first.
    audit.record(
        session, actor, "quality.sample.reveal", "qa_sample", sample.id, data={"first": first}
    )
    return _revealed(session, actor, sample)


def score(session: Session, actor: Principal, sample_id: int, body: ScoreIn) -> QASample:
    """Score the original decision. Refuses: 403 ``not_assigned``; 409
    ``blind_answer_required`` / ``reveal_required`` / ``already_scored``; 422 ``comment``
    (``comment_required`` when anything is marked wrong), ``message_quality``
    (``message_quality_required`` when a message was sent, ``no_message`` when none was)."""
    actor.require(Permission.qa_review)
    require_staff(actor)
    sample = _load(session, actor, sample_id, lock=True)
    _held_by_actor(actor, sample)
    if sample.status == SampleStatus.scored:
        raise Conflict("this sample is already scored", code="already_scored")
    if sample.status == SampleStatus.assigned:
        raise Conflict("record your own decision first", code="blind_answer_required")
    if sample.status == SampleStatus.answered:
        raise Conflict("reveal the original decision before scoring it", code="reveal_required")
    comment = optional_text(body.comment, "comment")
    if (not body.right_policy or not body.right_action) and comment is None:
        raise InvalidInput(
            "say what was wrong in a comment", field="comment", code="comment_required"
        )
    quality = body.message_quality
    if quality is not None and not 1 <= quality <= 5:
        raise InvalidInput(
            "message_quality is from 1 to 5", field="message_quality", code="out_of_range"
        )
    sent = session.scalar(
        select(Message.id).where(Message.decision_id == sample.decision_id).limit(1)
    )
    if sent is None and quality is not None:
        raise InvalidInput(
            "no message was sent for this decision; leave message_quality empty",
            field="message_quality",
            code="no_message",
        )
    if sent is not None and quality is None:
        raise InvalidInput(
            "rate the message sent to the user (1 to 5)",
            field="message_quality",
            code="message_quality_required",
        )
    sample.right_policy = body.right_policy
    sample.right_action = body.right_action
    sample.message_quality = quality
    sample.comment = comment
    transition(sample, SampleStatus.scored)
    session.flush()
    audit.record(
        session,
        actor,
        "quality.sample.score",
        "qa_sample",
        sample.id,
        reason=comment,
        data={
            "right_policy": body.right_policy,
            "right_action": body.right_action,
            "message_quality": quality,
            "agreed": sample.agreed,
        },
    )
    return sample
