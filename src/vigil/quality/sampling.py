"""Which applied decisions go to QA: sampling rates, the sampler, and manual picks.

A decision's rate is the higher of its reviewer's rate and its case's queue rate; without
either, the default row; without that, ``settings.qa_default_sample_rate``.

Selection is a keyed hash: HMAC-SHA256 of the decision id under the server's secret key,
read as a number in [0, 1), below the rate. It is deterministic (running the sampler again
picks the same decisions, and a decision is looked at once) and fair (no reviewer can tell or
steer which of their decisions are picked without the key).

The sampler walks decisions by id from a high-water mark, batch after batch until it is
caught up or its time budget is spent. The mark only passes decisions created more than
``SETTLE_LAG`` ago, so a decision committed after one with a higher id is not passed over.
Decisions waiting for a second approver when the walk passes them are parked and looked at
again on every run until they are applied (or rejected). Skipped, never sampled (filtered in
SQL, so they cost the walk nothing but their id):
- decisions with no human decider (automated actions, API keys);
- decisions on legal-tier cases;
- decisions that are not applied (reversed, rejected);
- decisions with an action but no cited policy (nothing to compare a policy against), and
  actions QA has no label for (logged).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case, Queue
from vigil.config import Settings
from vigil.enforcement.models import Decision, DecisionStatus
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound
from vigil.quality.common import (
    case_visible,
    decision_label,
    primary_policies,
    require_any,
    required_text,
)
from vigil.quality.models import (
    Label,
    QASample,
    QASamplerPending,
    QASamplerState,
    QASamplingRate,
    SampleSource,
)

SAMPLER = Principal.system("qa sampler")
STATE_NAME = "decisions"
# The walk's high-water mark only passes decisions created longer ago than this: a decision
# whose transaction is still open (it took its id before one already committed) is then
# still ahead of the mark. Far longer than any request's transaction.
SETTLE_LAG = timedelta(minutes=2)
# How long one run keeps walking batches before leaving the rest to the next run.
BUDGET_SECONDS = 60.0

log = logging.getLogger("vigil.quality")


# --- rates ------------------------------------------------------------------------------------


def _scope_key(queue_id: int | None, staff_id: int | None) -> str:
    if queue_id is not None:
        return f"queue:{queue_id}"
    if staff_id is not None:
        return f"staff:{staff_id}"
    return "default"


def set_rate(
    session: Session,
    actor: Principal,
    *,
    queue_id: int | None,
    staff_id: int | None,
    rate: float,
) -> QASamplingRate:
    """Set the sampling rate of one queue, one reviewer, or (neither) the default. Refuses
    with 422: ``rate`` outside [0, 1] (``rate_out_of_range``); both a queue and a reviewer
    (``one_scope``); an unknown queue or staff member (``queue_not_found``,
    ``staff_not_found``)."""
    actor.require(Permission.qa_manage)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise InvalidInput("rate must be between 0 and 1", field="rate", code="rate_out_of_range")
    if queue_id is not None and staff_id is not None:
        raise InvalidInput(
            "give a queue or a reviewer, not both", field="staff_id", code="one_scope"
        )
    if queue_id is not None and session.get(Queue, queue_id) is None:
        raise InvalidInput("no such queue", field="queue_id", code="queue_not_found")
    if staff_id is not None and session.get(StaffUser, staff_id) is None:
        raise InvalidInput("no such staff member", field="staff_id", code="staff_not_found")
    key = _scope_key(queue_id, staff_id)
    row = session.scalar(
        select(QASamplingRate).where(QASamplingRate.scope_key == key).with_for_update()
    )
    before = None if row is None else row.rate
    if row is None:
        row = QASamplingRate(scope_key=key, queue_id=queue_id, staff_id=staff_id, rate=0.0)
        session.add(row)
    row.rate = float(rate)
    row.updated_at = clock.now()
    row.updated_by_id = actor.staff_id
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            "this rate was set by someone else at the same time; try again",
            code="rate_conflict",
        ) from None
    audit.record(
        session,
        actor,
        "quality.rate.set",
        "qa_sampling_rate",
        row.id,
        data={"scope": key, "rate": row.rate, "previous": before},
    )
    return row


def list_rates(session: Session, actor: Principal) -> list[QASamplingRate]:
    """Every rate set: the default first, then queues, then reviewers."""
    require_any(actor, Permission.qa_manage, Permission.qa_read)
    rows = list(session.scalars(select(QASamplingRate)))
    order = {"default": 0, "queue": 1, "staff": 2}
    return sorted(rows, key=lambda r: (order[r.scope_key.split(":")[0]], r.queue_id or 0,
                                       r.staff_id or 0))  # fmt: skip


class _Rates:
    """The rate table read once per run (it is small: one row per queue and reviewer)."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.queue: dict[int, float] = {}
        self.staff: dict[int, float] = {}
        self.default = settings.qa_default_sample_rate
        for row in session.scalars(select(QASamplingRate)):
            if row.queue_id is not None:
                self.queue[row.queue_id] = row.rate
            elif row.staff_id is not None:
                self.staff[row.staff_id] = row.rate
            else:
                self.default = row.rate

    def rate_for(self, staff_id: int | None, queue_id: int | None) -> float:
        found = [
            r
            for r in (
                self.staff.get(staff_id) if staff_id is not None else None,
                self.queue.get(queue_id) if queue_id is not None else None,
            )
            if r is not None
        ]
        return max(found) if found else self.default


def rate_for(
    session: Session, settings: Settings, *, staff_id: int | None, queue_id: int | None
) -> float:
    """The rate a decision by ``staff_id`` on a case of ``queue_id`` is sampled at."""
    return _Rates(session, settings).rate_for(staff_id, queue_id)


def draw(settings: Settings, decision_id: int) -> float:
    """The decision's fixed draw in [0, 1): it is sampled when this is below its rate."""
    key = settings.secret_key.get_secret_value().encode()
    digest = hmac.new(key, f"qa-sample:{decision_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def picked(settings: Settings, decision_id: int, rate: float) -> bool:
    return draw(settings, decision_id) < rate


# --- the sampler ------------------------------------------------------------------------------


def _state(session: Session) -> QASamplerState:
    state = session.scalar(
        select(QASamplerState).where(QASamplerState.name == STATE_NAME).with_for_update()
    )
    if state is None:
        state = QASamplerState(name=STATE_NAME, last_decision_id=0, updated_at=clock.now())
        session.add(state)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            # Another run made the row first: take it, under its lock, like any later run.
            state = session.scalar(
                select(QASamplerState)
                .where(QASamplerState.name == STATE_NAME)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if state is None:  # pragma: no cover - the row was just seen to exist
                raise
    return state


def _new_sample(
    decision: Decision, case: Case, label: Label, policy_code: str | None, **fields: object
) -> QASample:
    return QASample(
        decision_id=decision.id,
        case_id=case.id,
        queue_id=case.queue_id,
        decided_by_id=decision.decided_by_id,
        approved_by_id=decision.approved_by_id,
        decided_at=decision.applied_at or decision.created_at,
        original_label=label,
        original_policy_code=policy_code if label is not Label.no_violation else None,
        sampled_at=clock.now(),
        **fields,
    )


def _insert(session: Session, sample: QASample) -> bool:
    """Write one sample in its own savepoint: ``False`` when the decision was sampled in the
    meantime (a manual pick committed by someone else), without failing the whole run."""
    try:
        with session.begin_nested():
            session.add(sample)
            session.flush()
    except IntegrityError:
        return False
    return True


def _consider(
    session: Session,
    settings: Settings,
    rates: _Rates,
    decisions: Sequence[tuple[Decision, Case]],
) -> list[QASample]:
    policies = primary_policies(session, [d.id for d, _ in decisions])
    already = set(
        session.scalars(
            select(QASample.decision_id).where(
                QASample.decision_id.in_([d.id for d, _ in decisions])
            )
        )
    )
    made: list[QASample] = []
    for decision, case in decisions:
        if (
            decision.status != DecisionStatus.applied
            or decision.decided_by_id is None
            or case.tier == Tier.legal
            or decision.id in already
        ):
            continue
        label = decision_label(decision)
        if label is None:
            log.warning("decision %s: action %s has no QA label; skipped", decision.id,
                        decision.action)  # fmt: skip
            continue
        code = policies.get(decision.id)
        if label is not Label.no_violation and code is None:
            continue  # nothing to compare a policy against
        rate = rates.rate_for(decision.decided_by_id, case.queue_id)
        if not picked(settings, decision.id, rate):
            continue
        sample = _new_sample(decision, case, label, code, source=SampleSource.sampled, rate=rate)
        if _insert(session, sample):
            made.append(sample)
    return made


def _walk_once(
    session: Session, state: QASamplerState, *, batch: int, cutoff: datetime
) -> tuple[list[tuple[Decision, Case]], bool]:
    """One batch of the walk: the considered decisions and whether the walk is caught up.

    The batch is an id range ``(mark, upper]``: ``upper`` is the ``batch``-th decision after
    the mark created before ``cutoff`` (the settle lag). A decision still being written when
    the walk passes has a creation time after the cutoff and (ids come from a sequence) an
    id above ``upper``, so the mark never passes it. Inside the range, only what can be
    sampled is loaded: a human decider, not legal tier, applied or waiting for approval."""
    ids = list(
        session.scalars(
            select(Decision.id)
            .where(Decision.id > state.last_decision_id, Decision.created_at <= cutoff)
            .order_by(Decision.id)
            .limit(batch)
        )
    )
    if not ids:
        return [], True
    upper = ids[-1]
    rows = list(
        session.execute(
            select(Decision, Case)
            .join(Case, Case.id == Decision.case_id)
            .where(
                Decision.id > state.last_decision_id,
                Decision.id <= upper,
                Decision.decided_by_id.is_not(None),
                Decision.status.in_([DecisionStatus.applied, DecisionStatus.pending_approval]),
                Case.tier != Tier.legal,
            )
            .order_by(Decision.id)
        )
    )
    considered: list[tuple[Decision, Case]] = []
    for decision, case in rows:
        if decision.status == DecisionStatus.pending_approval:
            session.add(QASamplerPending(decision_id=decision.id, parked_at=clock.now()))
        else:
            considered.append((decision, case))
    state.last_decision_id = upper
    return considered, len(ids) < batch


def _settled(session: Session, *, batch: int) -> list[tuple[Decision, Case]]:
    """Decisions parked while waiting for approval that have since been settled."""
    settled = [
        (decision, case)
        for decision, case in session.execute(
            select(Decision, Case)
            .join(QASamplerPending, QASamplerPending.decision_id == Decision.id)
            .join(Case, Case.id == Decision.case_id)
            .where(Decision.status != DecisionStatus.pending_approval)
            .order_by(Decision.id)
            .limit(batch)
        )
    ]
    if settled:
        session.execute(
            delete(QASamplerPending).where(
                QASamplerPending.decision_id.in_([d.id for d, _ in settled])
            )
        )
    return settled


def sample_decisions(
    session: Session,
    settings: Settings,
    *,
    batch: int = 500,
    settle: timedelta = SETTLE_LAG,
    budget_seconds: float = BUDGET_SECONDS,
) -> int:
    """Look at decisions applied since the last run and sample them at their rates. Returns
    the number of samples written.

    Walks batch after batch until it is caught up (a short batch) or ``budget_seconds`` of
    work have passed; the next run carries on from the mark. The mark only passes decisions
    created more than ``settle`` ago. Safe to run twice and concurrently (the state row is
    locked, and a decision is sampled at most once)."""
    state = _state(session)
    rates = _Rates(session, settings)
    cutoff = clock.now() - settle
    started = time.monotonic()
    made: list[QASample] = []
    considered = _settled(session, batch=batch)
    if considered:
        made += _consider(session, settings, rates, considered)
    while True:
        considered, caught_up = _walk_once(session, state, batch=batch, cutoff=cutoff)
        if considered:
            made += _consider(session, settings, rates, considered)
        if caught_up or time.monotonic() - started >= budget_seconds:
            break
    state.updated_at = clock.now()
    session.flush()
    if made:
        audit.record(
            session,
            SAMPLER,
            "quality.sample.create",
            "qa_sample",
            None,
            data={
                "samples": [{"id": s.id, "decision_id": s.decision_id} for s in made],
                "up_to_decision_id": state.last_decision_id,
            },
        )
    return len(made)


def sample_decision(session: Session, actor: Principal, decision_id: int, reason: str) -> QASample:
    """Put one applied decision into the QA queue by hand. Refuses: 404 a decision the actor
    cannot see; 409 ``not_sampleable`` (not applied, or no human decider); 409
    ``already_sampled``; 422 ``reason_required``."""
    actor.require(Permission.qa_manage)
    why = required_text(reason, "reason")
    decision = session.get(Decision, decision_id)
    case = session.get(Case, decision.case_id) if decision is not None else None
    if decision is None or case is None or not case_visible(actor, case):
        raise NotFound("no such decision", code="decision_not_found")
    if decision.status != DecisionStatus.applied:
        raise Conflict(
            f"only applied decisions are reviewed; this one is {decision.status.value}",
            code="not_sampleable",
        )
    if decision.decided_by_id is None:
        raise Conflict(
            "this decision has no human decider (an automated action)", code="not_sampleable"
        )
    if session.scalar(select(QASample.id).where(QASample.decision_id == decision.id)):
        raise Conflict("this decision is already sampled", code="already_sampled")
    label = decision_label(decision)
    if label is None:
        raise Conflict("this decision's action has no QA label", code="not_sampleable")
    code = primary_policies(session, [decision.id]).get(decision.id)
    if label is not Label.no_violation and code is None:
        raise Conflict("this decision cites no policy", code="not_sampleable")
    sample = _new_sample(
        decision,
        case,
        label,
        code,
        source=SampleSource.manual,
        manual_reason=why,
        picked_by_id=actor.staff_id,
    )
    if not _insert(session, sample):
        raise Conflict("this decision is already sampled", code="already_sampled")
    audit.record(
        session,
        actor,
        "quality.sample.pick",
        "qa_sample",
        sample.id,
        reason=why,
        data={"decision_id": decision.id},
    )
    return sample
