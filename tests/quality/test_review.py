"""Blind review of QA samples: the next sample, the blind rule, the reveal, the score, and
the scorecards that follow."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_staff
from tests.quality.conftest import counts, decided, principal, staff
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases.models import Queue
from vigil.config import Settings
from vigil.db import transaction
from vigil.enforcement.models import Decision
from vigil.kit.errors import Conflict, InvalidInput, PermissionDenied
from vigil.quality import service
from vigil.quality.models import Label, QASample, SampleStatus
from vigil.quality.schemas import ScoreIn


def _pick_all(db: Session, lead: Principal, decisions: list[Decision]) -> list[QASample]:
    return [service.sample_decision(db, lead, d.id, "calibrating the team") for d in decisions]


def _review(
    db: Session,
    qa: Principal,
    policy: str | None,
    action: str,
    *,
    right_policy: bool = True,
    right_action: bool = True,
) -> QASample:
    sample = service.next_sample(db, qa)
    assert sample is not None
    service.blind_answer(db, qa, sample.id, policy_code=policy, action=action)
    shown = service.reveal(db, qa, sample.id)
    wrong = not (right_policy and right_action)
    body = ScoreIn(
        right_policy=right_policy,
        right_action=right_action,
        message_quality=4 if shown.message_sent else None,
        comment="The messages only quote an invoice." if wrong else None,
    )
    return service.score(db, qa, sample.id, body)


def test_a_qa_reviewer_who_disagrees(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    qa_user, qa = staff(db, Role.qa)
    decision = decided(db, settings, agent)
    (sample,) = _pick_all(db, lead, [decision])

    taken = service.next_sample(db, qa)
    assert taken is not None and taken.id == sample.id
    assert (taken.status, taken.reviewer_id) == (SampleStatus.assigned, qa_user.id)

    # Blind: the original is refused until the reviewer has answered.
    before = counts(db)
    with pytest.raises(Conflict) as blind:
        service.reveal(db, qa, sample.id)
    assert blind.value.code == "blind_answer_required"
    with pytest.raises(Conflict) as early:
        service.score(db, qa, sample.id, ScoreIn(right_policy=True, right_action=True))
    assert early.value.code == "blind_answer_required"
    with pytest.raises(InvalidInput) as bad:
        service.blind_answer(db, qa, sample.id, policy_code="fee_circumvention", action="fine")
    assert (bad.value.field, bad.value.code) == ("action", "invalid_action")
    with pytest.raises(InvalidInput) as no_policy:
        service.blind_answer(db, qa, sample.id, policy_code=None, action="warn")
    assert (no_policy.value.field, no_policy.value.code) == ("policy_code", "policy_required")
    with pytest.raises(InvalidInput) as unknown:
        service.blind_answer(db, qa, sample.id, policy_code="nope", action="warn")
    assert unknown.value.code == "unknown_policy"
    assert counts(db) == before
    db.refresh(sample)
    assert sample.status == SampleStatus.assigned and sample.blind_label is None

    service.blind_answer(db, qa, sample.id, policy_code=None, action="no_violation")
    assert (sample.status, sample.blind_label, sample.agreed) == (
        SampleStatus.answered,
        Label.no_violation,
        False,
    )
    with pytest.raises(Conflict) as again:
        service.blind_answer(db, qa, sample.id, policy_code=None, action="warn")
    assert again.value.code == "already_answered"
    with pytest.raises(Conflict) as unrevealed:
        service.score(db, qa, sample.id, ScoreIn(right_policy=True, right_action=True))
    assert unrevealed.value.code == "reveal_required"

    shown = service.reveal(db, qa, sample.id)
    assert shown.label == Label.warn
    assert [p.code for p in shown.policies] == ["fee_circumvention"]
    assert [(a.type, a.scope) for a in shown.actions] == [("warn", "account")]
    assert shown.decided_by_id == agent.id and shown.message_sent
    assert shown.internal_reasoning.startswith("Bank details")
    assert sample.status == SampleStatus.revealed

    # Marking something wrong needs a comment; a message was sent, so it is rated.
    before = counts(db)
    with pytest.raises(InvalidInput) as no_comment:
        service.score(
            db, qa, sample.id, ScoreIn(right_policy=False, right_action=False, message_quality=3)
        )
    assert (no_comment.value.field, no_comment.value.code) == ("comment", "comment_required")
    with pytest.raises(InvalidInput) as unrated:
        service.score(
            db, qa, sample.id, ScoreIn(right_policy=False, right_action=False, comment="No.")
        )
    assert unrated.value.code == "message_quality_required"
    with pytest.raises(InvalidInput) as out_of_range:
        service.score(
            db, qa, sample.id,
            ScoreIn(right_policy=False, right_action=False, comment="No.", message_quality=6),
        )  # fmt: skip
    assert out_of_range.value.field == "message_quality"
    assert counts(db) == before

    why = "A phone number alone is not fee circumvention: see the grey areas."
    body = ScoreIn(right_policy=False, right_action=False, message_quality=3, comment=why)
    scored = service.score(db, qa, sample.id, body)
    assert (scored.status, scored.right_policy, scored.right_action) == (
        SampleStatus.scored,
        False,
        False,
    )
    assert (scored.message_quality, scored.comment) == (3, why)

    before = counts(db)
    with pytest.raises(Conflict) as twice:
        service.score(db, qa, sample.id, ScoreIn(right_policy=True, right_action=True))
    assert twice.value.code == "already_scored"
    assert counts(db) == before

    (row,) = service.scorecards(db, lead, group_by="reviewer")
    assert (row.key, row.label, row.samples, row.agreed) == (str(agent.id), agent.name, 1, 0)
    assert row.agreement_rate == 0.0
    assert (row.kappa, row.kappa_note) == (None, "fewer than 2 scored samples")
    assert (row.right_policy_rate, row.right_action_rate, row.message_quality_mean) == (
        0.0,
        0.0,
        3.0,
    )
    assert row.confusion == {"warn": {"no_violation": 1}}
    steps = list(
        db.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_type == "qa_sample")
            .order_by(AuditRecord.id)
        )
    )
    assert steps == [
        "quality.sample.pick",
        "quality.sample.assign",
        "quality.sample.answer",
        "quality.sample.reveal",
        "quality.sample.score",
    ]


def test_scorecards_compute_kappa_on_a_known_set(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    """Original vs blind: warn/warn, warn/no_violation, no_violation/no_violation twice.
    p_o = 3/4; original labels 2 warn, 2 none; blind 1 warn, 3 none: p_e = (2*1 + 2*3)/16 =
    1/2; kappa = (3/4 - 1/2) / (1 - 1/2) = 0.5."""
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    other, _ = staff(db)
    _, qa = staff(db, Role.qa)
    made = [
        decided(db, settings, agent),
        decided(db, settings, agent),
        decided(db, settings, agent, no_violation=True),
        decided(db, settings, agent, no_violation=True),
        decided(db, settings, other),
    ]
    _pick_all(db, lead, made)
    _review(db, qa, "fee_circumvention", "warn")
    _review(db, qa, None, "no_violation", right_policy=False, right_action=False)
    _review(db, qa, None, "no_violation")
    _review(db, qa, None, "no_violation")
    _review(db, qa, "fee_circumvention", "warn")
    assert service.next_sample(db, qa) is None

    by_reviewer = {r.key: r for r in service.scorecards(db, lead, group_by="reviewer")}
    mine = by_reviewer[str(agent.id)]
    assert (mine.samples, mine.agreed, mine.agreement_rate) == (4, 3, 0.75)
    assert mine.kappa == pytest.approx(0.5, abs=1e-12)
    assert mine.kappa_note is None
    assert (mine.right_policy_rate, mine.right_action_rate) == (0.75, 0.75)
    assert mine.message_quality_mean == 4.0  # only the two warnings sent a message
    theirs = by_reviewer[str(other.id)]
    assert (theirs.samples, theirs.kappa, theirs.kappa_note) == (
        1,
        None,
        "fewer than 2 scored samples",
    )

    by_policy = {r.key: r for r in service.scorecards(db, lead, group_by="policy")}
    assert set(by_policy) == {"fee_circumvention", "none"}
    assert (by_policy["fee_circumvention"].samples, by_policy["fee_circumvention"].agreed) == (3, 2)
    none = by_policy["none"]
    assert (none.samples, none.agreed, none.kappa) == (2, 2, None)
    assert none.kappa_note == "both raters used a single label, so agreement by chance is total"

    (queue_row,) = service.scorecards(db, lead, group_by="queue")
    assert queue_row.samples == 5 and queue_row.label  # the queue's name

    # The period is the time of the original decisions (2026-11-21 09:00, frozen).
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert service.scorecards(db, lead, group_by="reviewer", since=at + timedelta(seconds=1)) == []
    assert (
        len(
            service.scorecards(
                db, lead, group_by="reviewer", since=at, until=at + timedelta(hours=1)
            )
        )
        == 2
    )
    with pytest.raises(InvalidInput) as naive:
        service.scorecards(db, lead, group_by="reviewer", since=datetime(2026, 1, 1))
    assert naive.value.code == "naive_datetime"
    with pytest.raises(InvalidInput) as grouping:
        service.scorecards(db, lead, group_by="weekday")
    assert grouping.value.field == "group_by"
    agent_p = principal(agent)
    with pytest.raises(PermissionDenied):
        service.scorecards(db, agent_p, group_by="reviewer")


def test_nobody_reviews_their_own_decision_and_samples_are_not_shared(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    admin_user, admin = staff(db, Role.admin)  # decides cases and reviews QA
    agent, _ = staff(db)
    _, qa = staff(db, Role.qa)
    own = decided(db, settings, admin_user)
    theirs = decided(db, settings, agent)
    first, second = _pick_all(db, lead, [own, theirs])

    got = service.next_sample(db, admin)
    assert got is not None and got.id == second.id  # the older one is the admin's own
    assert service.next_sample(db, admin) is got  # they keep what they hold
    other = service.next_sample(db, qa)
    assert other is not None and other.id == first.id

    before = counts(db)
    with pytest.raises(PermissionDenied) as not_mine:
        service.blind_answer(db, qa, second.id, policy_code=None, action="no_violation")
    assert not_mine.value.code == "not_assigned"
    with pytest.raises(PermissionDenied):
        service.reveal(db, qa, second.id)
    assert counts(db) == before
    assert service.next_sample(db, qa) is other

    # A sample handed back before answering goes to another reviewer, never back to the one
    # who gave it up; once answered, it cannot be handed back.
    released = service.release_sample(db, qa, first.id, "I know this reviewer")
    assert (released.status, released.reviewer_id) == (SampleStatus.queued, None)
    assert service.next_sample(db, qa) is None
    assert service.next_sample(db, admin) is got  # the admin still holds theirs
    service.blind_answer(db, admin, got.id, policy_code="fee_circumvention", action="warn")
    with pytest.raises(Conflict) as answered:
        service.release_sample(db, admin, got.id)
    assert answered.value.code == "already_answered"
    assert service.next_sample(db, qa) is None
    qa2_user, qa2 = staff(db, Role.qa)
    again = service.next_sample(db, qa2)
    assert again is not None and again.id == first.id and again.reviewer_id == qa2_user.id


def test_the_approver_of_a_decision_does_not_review_it(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    approver_user, approver = staff(db, Role.admin)
    decision = decided(db, settings, agent)
    decision.approved_by_id = approver_user.id  # four-eyes: the admin approved it
    db.flush()
    (sample,) = _pick_all(db, lead, [decision])
    assert sample.approved_by_id == approver_user.id
    assert service.next_sample(db, approver) is None
    _, qa = staff(db, Role.qa)
    taken = service.next_sample(db, qa)
    assert taken is not None and taken.id == sample.id


def test_a_qa_manager_takes_back_a_sample_from_an_absent_reviewer(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    qa_user, qa = staff(db, Role.qa)
    _, other_qa = staff(db, Role.qa)
    (sample,) = _pick_all(db, lead, [decided(db, settings, agent)])
    assert service.next_sample(db, qa) is sample

    before = counts(db)
    with pytest.raises(PermissionDenied) as not_theirs:
        service.release_sample(db, other_qa, sample.id, "mine now")
    assert not_theirs.value.code == "not_assigned"
    with pytest.raises(InvalidInput) as no_reason:
        service.release_sample(db, lead, sample.id)
    assert (no_reason.value.field, no_reason.value.code) == ("reason", "reason_required")
    assert counts(db) == before

    service.release_sample(db, lead, sample.id, "on leave for a month")
    assert (sample.status, sample.reviewer_id, sample.assigned_at) == (
        SampleStatus.queued,
        None,
        None,
    )
    row = db.scalar(
        select(AuditRecord)
        .where(AuditRecord.action == "quality.sample.release")
        .order_by(AuditRecord.id.desc())
    )
    assert row is not None and row.reason == "on leave for a month"
    # Taken back by a manager, not given up: the holder may be handed it again.
    assert service.next_sample(db, qa) is sample
    assert sample.reviewer_id == qa_user.id
    # An answered sample stays with the one who answered it.
    service.blind_answer(db, qa, sample.id, policy_code=None, action="no_violation")
    with pytest.raises(Conflict) as answered:
        service.release_sample(db, lead, sample.id, "on leave")
    assert answered.value.code == "already_answered"


def test_list_filters_on_the_original_do_not_spoil_a_blind_review(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    author, _ = staff(db)
    qa_user, qa = staff(db, Role.qa)
    (sample,) = _pick_all(db, lead, [decided(db, settings, author)])
    assert service.next_sample(db, qa) is sample

    def found(actor: Principal, **kw: object) -> list[int]:
        rows, _ = service.list_samples(db, actor, service.SampleFilter(**kw))  # type: ignore[arg-type]
        return [s.id for s in rows]

    # Before the reveal, filters on the original match nothing, whatever the original was.
    for probe in (
        {"policy_code": "fee_circumvention"},
        {"policy_code": "spam"},
        {"decided_by_id": author.id},
    ):
        assert found(qa, reviewer_id=qa_user.id, **probe) == []
    assert found(qa, reviewer_id=qa_user.id) == [sample.id]  # plain filters still work
    assert found(lead, policy_code="fee_circumvention") == [sample.id]  # a manager's view
    service.blind_answer(db, qa, sample.id, policy_code="spam", action="warn")
    assert found(qa, agreed=False) == []
    service.reveal(db, qa, sample.id)
    assert found(qa, policy_code="fee_circumvention") == [sample.id]
    assert found(qa, agreed=False) == [sample.id]


def test_a_qa_manager_cannot_probe_a_sample_they_hold(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    author, _ = staff(db)
    _, admin = staff(db, Role.admin)  # qa:manage and qa:review
    (sample,) = _pick_all(db, lead, [decided(db, settings, author)])
    assert service.next_sample(db, admin) is sample
    rows, _ = service.list_samples(db, admin, service.SampleFilter(policy_code="fee_circumvention"))
    assert rows == []
    rows, _ = service.list_samples(db, lead, service.SampleFilter(decided_by_id=author.id))
    assert [s.id for s in rows] == [sample.id]


def test_every_reveal_is_audited(db: Session, settings: Settings, world: dict[str, Queue]) -> None:
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    _, qa = staff(db, Role.qa)
    (sample,) = _pick_all(db, lead, [decided(db, settings, agent)])
    assert service.next_sample(db, qa) is sample
    service.blind_answer(db, qa, sample.id, policy_code="fee_circumvention", action="warn")
    service.reveal(db, qa, sample.id)
    service.reveal(db, qa, sample.id)
    rows = list(
        db.scalars(
            select(AuditRecord)
            .where(AuditRecord.action == "quality.sample.reveal")
            .order_by(AuditRecord.id)
        )
    )
    assert [r.data for r in rows] == [{"first": True}, {"first": False}]


def test_an_illegal_status_move_is_refused(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    from vigil.quality.states import ALLOWED, transition

    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    (sample,) = _pick_all(db, lead, [decided(db, settings, agent)])
    for target in (SampleStatus.answered, SampleStatus.revealed, SampleStatus.scored):
        with pytest.raises(Conflict) as bad:
            transition(sample, target)
        assert bad.value.code == "invalid_transition"
    assert sample.status == SampleStatus.queued and sample.answered_at is None
    assert ALLOWED[SampleStatus.scored] == frozenset()


def test_concurrent_reviewers_never_get_the_same_sample(
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    world: dict[str, Queue],
) -> None:
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    _pick_all(db, lead, [decided(db, settings, agent) for _ in range(8)])
    reviewers = [principal(make_staff(db, role=Role.qa)) for _ in range(6)]
    db.commit()

    got: list[tuple[int, int | None]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(reviewers))

    def work(reviewer: Principal) -> None:
        try:
            start.wait()
            with transaction(session_factory) as session:
                sample = service.next_sample(session, reviewer)
                taken = None if sample is None else (sample.id, sample.reviewer_id)
            if taken is not None:
                with lock:
                    got.append(taken)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(got) == len(reviewers)
    assert len({sample_id for sample_id, _ in got}) == len(reviewers)
    db.expire_all()
    held = dict(
        db.execute(
            select(QASample.id, QASample.reviewer_id).where(
                QASample.status == SampleStatus.assigned
            )
        ).all()
    )
    assert held == dict(got)


def test_legal_tier_samples_are_hidden_without_cases_legal(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    from vigil.auth.permissions import Tier
    from vigil.cases.models import Case

    _, lead = staff(db, Role.policy_lead)
    _, admin = staff(db, Role.admin)
    agent, _ = staff(db)
    _, qa = staff(db, Role.qa)
    decision = decided(db, settings, agent)
    (sample,) = _pick_all(db, lead, [decision])
    # The case moved to the legal tier after it was sampled.
    case = db.get(Case, decision.case_id)
    assert case is not None
    case.tier = Tier.legal
    db.flush()

    assert service.next_sample(db, qa) is None
    assert service.list_samples(db, qa, service.SampleFilter())[0] == []
    assert [s.id for s in service.list_samples(db, admin, service.SampleFilter())[0]] == [sample.id]
