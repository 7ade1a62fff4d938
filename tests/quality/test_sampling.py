"""Sampling applied decisions into the QA queue: rates, determinism, skips, manual picks."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import make_account
from tests.quality.conftest import counts, decided, staff
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role, Tier
from vigil.cases.models import Case, Queue
from vigil.config import Settings
from vigil.enforcement import automated
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import Decision, DecisionStatus
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vigil.policies.actions import ActionType, Scope
from vigil.quality import service
from vigil.quality.models import Label, QASample, QASamplerState, SampleSource
from vigil.quality.sampling import SETTLE_LAG

BAN = [{"type": "ban", "scope": "account"}]
WHY = "Third confirmed off-platform payment; bank details sent to ten clients."


class _Future(StrEnum):
    """An action type added after QA's labels were written."""

    confiscate = "confiscate"


def _run(db: Session, settings: Settings, **kw: Any) -> int:
    """The sampler with no settle lag: every decision these tests make is already committed
    as far as the walk is concerned (the lag has its own tests)."""
    return service.sample_decisions(db, settings, settle=timedelta(0), **kw)


def _robot(db: Session, settings: Settings) -> Decision:
    return automated.decide_automated(
        db, settings, account_id=make_account(db).id, policy_code="fee_circumvention",
        action=ActionType.warn, scope=Scope.account, duration_days=None,
        reason="Bank details in a message", evidence={}, case_id=None,
    )  # fmt: skip


def _samples(db: Session) -> list[QASample]:
    return list(db.scalars(select(QASample).order_by(QASample.decision_id)))


def test_rates_per_queue_and_reviewer_take_the_higher_else_the_default(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    queue = world["triage"]
    other = world["identity"]

    # Nothing set: the setting.
    assert service.rate_for(db, settings, staff_id=agent.id, queue_id=queue.id) == 0.05
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=0.1)
    assert service.rate_for(db, settings, staff_id=agent.id, queue_id=queue.id) == 0.1
    service.set_rate(db, lead, queue_id=queue.id, staff_id=None, rate=0.5)
    service.set_rate(db, lead, queue_id=None, staff_id=agent.id, rate=0.2)
    assert service.rate_for(db, settings, staff_id=agent.id, queue_id=queue.id) == 0.5
    assert service.rate_for(db, settings, staff_id=agent.id, queue_id=other.id) == 0.2
    # Setting a scope again changes its one row.
    service.set_rate(db, lead, queue_id=None, staff_id=agent.id, rate=0.9)
    assert service.rate_for(db, settings, staff_id=agent.id, queue_id=queue.id) == 0.9
    rates = service.list_rates(db, lead)
    assert [(r.scope_key.split(":")[0], r.rate) for r in rates] == [
        ("default", 0.1),
        ("queue", 0.5),
        ("staff", 0.9),
    ]
    actions = db.scalars(select(AuditRecord.action).where(AuditRecord.action == "quality.rate.set"))
    assert len(list(actions)) == 4


@pytest.mark.parametrize("rate", [-0.01, 1.01, 7.0])
def test_a_rate_outside_zero_to_one_is_refused_and_nothing_is_written(
    db: Session, settings: Settings, world: dict[str, Queue], rate: float
) -> None:
    _, lead = staff(db, Role.policy_lead)
    before = counts(db)
    with pytest.raises(InvalidInput) as err:
        service.set_rate(db, lead, queue_id=None, staff_id=None, rate=rate)
    assert (err.value.field, err.value.code) == ("rate", "rate_out_of_range")
    assert counts(db) == before


def test_rates_need_qa_manage_and_one_scope(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    agent, _ = staff(db)
    _, qa = staff(db, Role.qa)
    _, lead = staff(db, Role.policy_lead)
    queue = next(iter(world.values()))
    before = counts(db)
    with pytest.raises(PermissionDenied):
        service.set_rate(db, qa, queue_id=None, staff_id=None, rate=0.5)
    with pytest.raises(InvalidInput) as both:
        service.set_rate(db, lead, queue_id=queue.id, staff_id=agent.id, rate=0.5)
    assert both.value.code == "one_scope"
    with pytest.raises(InvalidInput) as missing:
        service.set_rate(db, lead, queue_id=None, staff_id=987654, rate=0.5)
    assert (missing.value.field, missing.value.code) == ("staff_id", "staff_not_found")
    assert counts(db) == before


def test_selection_is_a_keyed_hash_below_the_rate_and_never_repeats(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=0.5)
    made = [decided(db, settings, agent) for _ in range(12)]

    written = _run(db, settings)

    expected = sorted(d.id for d in made if service.draw(settings, d.id) < 0.5)
    assert 0 < len(expected) < 12  # the draw splits this set (a fixed key and fixed ids)
    assert written == len(expected)
    assert [s.decision_id for s in _samples(db)] == expected
    sample = _samples(db)[0]
    assert (sample.source, sample.rate, sample.decided_by_id) == (
        SampleSource.sampled,
        0.5,
        agent.id,
    )
    assert (sample.original_label, sample.original_policy_code) == (
        Label.warn,
        "fee_circumvention",
    )
    # Running again looks at nothing new, even with a higher rate.
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=1.0)
    assert _run(db, settings) == 0
    assert len(_samples(db)) == len(expected)
    # A new decision is looked at once.
    late = decided(db, settings, agent)
    assert _run(db, settings) == 1
    assert _samples(db)[-1].decision_id == late.id
    # Another key picks another set: nobody can tell which decisions are picked without it.
    other = settings.model_copy(update={"secret_key": SecretStr("another-key")})
    assert [service.draw(other, d.id) for d in made] != [service.draw(settings, d.id) for d in made]


def test_rate_zero_and_one(db: Session, settings: Settings, world: dict[str, Queue]) -> None:
    _, lead = staff(db, Role.policy_lead)
    careful, _ = staff(db)
    watched, _ = staff(db)
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=0.0)
    service.set_rate(db, lead, queue_id=None, staff_id=watched.id, rate=1.0)
    for _ in range(3):
        decided(db, settings, careful)
    mine = [decided(db, settings, watched).id for _ in range(3)]
    # Bounded batches of two, in decision order: c1 c2 | c3 w1 | w2 w3.
    assert [_run(db, settings, batch=2, budget_seconds=0) for _ in range(4)] == [0, 1, 2, 0]
    assert [s.decision_id for s in _samples(db)] == mine


def test_automated_legal_reversed_are_skipped_and_approved_ones_are_sampled_later(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    lawyer, _ = staff(db, Role.legal)
    _, specialist = staff(db, Role.specialist)
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=1.0)

    robot = automated.decide_automated(
        db, settings, account_id=make_account(db).id, policy_code="fee_circumvention",
        action=ActionType.warn, scope=Scope.account, duration_days=None,
        reason="Bank details in a message", evidence={}, case_id=None,
    )  # fmt: skip
    legal = decided(db, settings, lawyer, tier=Tier.legal)
    reversed_ = decided(db, settings, agent)
    enforcement.reverse_decision(db, specialist, reversed_.id, "Wrong account", settings=settings)
    waiting = decided(db, settings, agent, actions=BAN, departure_reason=WHY)
    kept = decided(db, settings, agent, no_violation=True)
    assert robot.decided_by_id is None and waiting.status == DecisionStatus.pending_approval

    assert _run(db, settings) == 1
    assert [(s.decision_id, s.original_label) for s in _samples(db)] == [
        (kept.id, Label.no_violation)
    ]
    assert _samples(db)[0].original_policy_code is None
    # The ban is approved after the sampler passed it: the next run samples it.
    enforcement.approve(db, specialist, waiting.id, reason="Agreed.", settings=settings)
    assert _run(db, settings) == 1
    assert {s.decision_id for s in _samples(db)} == {kept.id, waiting.id}
    assert _run(db, settings) == 0
    assert legal.id not in {s.decision_id for s in _samples(db)}


def test_a_manual_pick(db: Session, settings: Settings, world: dict[str, Queue]) -> None:
    _, lead = staff(db, Role.policy_lead)
    _, qa = staff(db, Role.qa)
    _, specialist = staff(db, Role.specialist)
    agent, _ = staff(db)
    lawyer, _ = staff(db, Role.legal)
    decision = decided(db, settings, agent)
    reversed_ = decided(db, settings, agent)
    enforcement.reverse_decision(db, specialist, reversed_.id, "Wrong account", settings=settings)
    legal = decided(db, settings, lawyer, tier=Tier.legal)

    before = counts(db)
    with pytest.raises(PermissionDenied):
        service.sample_decision(db, qa, decision.id, "Looks odd")
    with pytest.raises(InvalidInput) as no_reason:
        service.sample_decision(db, lead, decision.id, "  ")
    assert no_reason.value.code == "reason_required"
    with pytest.raises(Conflict) as not_applied:
        service.sample_decision(db, lead, reversed_.id, "Looks odd")
    assert not_applied.value.code == "not_sampleable"
    with pytest.raises(NotFound):
        service.sample_decision(db, lead, legal.id, "Looks odd")
    assert counts(db) == before

    sample = service.sample_decision(db, lead, decision.id, "A complaint about this reviewer")
    assert (sample.source, sample.manual_reason, sample.rate) == (
        SampleSource.manual,
        "A complaint about this reviewer",
        None,
    )
    with pytest.raises(Conflict) as twice:
        service.sample_decision(db, lead, decision.id, "Again")
    assert twice.value.code == "already_sampled"
    # The sampler never samples it a second time, whatever the rate.
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=1.0)
    assert _run(db, settings) == 0
    (audit,) = db.scalars(select(AuditRecord).where(AuditRecord.action == "quality.sample.pick"))
    assert audit.target_id == str(sample.id)


def test_the_periodic_task_is_declared(settings: Settings) -> None:
    from vigil.jobs.registry import get_handler, periodic_tasks
    from vigil.quality import tasks

    (task,) = [t for t in periodic_tasks() if t.kind == tasks.SAMPLE]
    assert task.setting == "qa_sample_seconds"
    assert task.interval(settings).total_seconds() == settings.qa_sample_seconds
    assert get_handler(tasks.SAMPLE) is tasks.sample


def test_one_run_walks_batch_after_batch_until_caught_up(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=1.0)
    made = [decided(db, settings, agent).id for _ in range(5)]
    assert _run(db, settings, batch=2) == 5
    assert [s.decision_id for s in _samples(db)] == made
    state = db.get(QASamplerState, "decisions")
    assert state is not None and state.last_decision_id == made[-1]


def test_the_mark_waits_for_the_settle_lag(
    db: Session, settings: Settings, world: dict[str, Queue], frozen: FrozenClock
) -> None:
    """A decision created less than the lag ago is not passed. On PostgreSQL a transaction
    can take a lower id and commit after one with a higher id; every decision created within
    the lag is still ahead of the mark, so the late one is seen on a later run."""
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=1.0)
    early = decided(db, settings, agent)
    frozen.advance(SETTLE_LAG + timedelta(seconds=1))
    fresh = decided(db, settings, agent)

    assert service.sample_decisions(db, settings) == 1
    state = db.get(QASamplerState, "decisions")
    assert state is not None and state.last_decision_id == early.id
    assert [s.decision_id for s in _samples(db)] == [early.id]
    # Once the lag has passed, the next run takes it.
    frozen.advance(SETTLE_LAG)
    assert service.sample_decisions(db, settings) == 1
    assert state.last_decision_id == fresh.id
    assert [s.decision_id for s in _samples(db)] == [early.id, fresh.id]


def test_automated_and_unsampleable_decisions_are_filtered_in_sql(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    """Automated decisions still move the mark (the batch is an id range) but are never
    loaded; a batch full of them does not stop the walk."""
    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=1.0)
    robots = [_robot(db, settings) for _ in range(3)]
    human = decided(db, settings, agent)
    assert _run(db, settings, batch=2) == 1
    assert [s.decision_id for s in _samples(db)] == [human.id]
    state = db.get(QASamplerState, "decisions")
    assert state is not None and state.last_decision_id == human.id
    assert all(r.id < human.id for r in robots)


def test_a_race_with_a_manual_pick_does_not_fail_the_run(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    """The sampler writes each sample in its own savepoint: a decision sampled by someone
    else in the meantime is skipped, and the rest of the batch is written."""
    from vigil.quality.sampling import _insert, _new_sample

    _, lead = staff(db, Role.policy_lead)
    agent, _ = staff(db)
    decision = decided(db, settings, agent)
    case = db.get(Case, decision.case_id)
    assert case is not None
    service.sample_decision(db, lead, decision.id, "picked by hand first")
    duplicate = _new_sample(
        decision, case, Label.warn, "fee_circumvention", source=SampleSource.sampled, rate=1.0
    )
    assert _insert(db, duplicate) is False
    assert len(_samples(db)) == 1  # the session is still usable
    other = decided(db, settings, agent)
    service.set_rate(db, lead, queue_id=None, staff_id=None, rate=1.0)
    assert _run(db, settings) == 1
    assert {s.decision_id for s in _samples(db)} == {decision.id, other.id}


def test_label_follows_the_action_types() -> None:
    assert {label.value for label in Label} == {a.value for a in ActionType} | {"no_violation"}


def test_an_action_without_a_label_is_skipped_not_fatal(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    from vigil.quality.common import decision_label

    agent, _ = staff(db)
    decision = decided(db, settings, agent)
    decision.action = _Future.confiscate  # type: ignore[assignment]  # QA has no label for it
    assert decision_label(decision) is None
    db.expire(decision)  # never written
    assert decision_label(decision) is Label.warn
