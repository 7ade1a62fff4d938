"""Undoing decisions: a reversal lifts everything at once; an expiry ends one action when its
time is up. Either way the marketplace hears ``action.reversed`` exactly once per action."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.enforcement.conftest import (
    SUSPEND_7,
    counts,
    decide,
    event_kinds,
    held_case,
    make_account,
    staff,
)
from tests.factories import login_as
from vigil.accounts import service as accounts
from vigil.accounts.models import AccountStatus, Restriction
from vigil.auth.permissions import Role
from vigil.cases.models import Case, CaseStatus
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.enforcement import service, tasks
from vigil.enforcement.apply import expire_due
from vigil.enforcement.models import ActionStatus, DecisionAction, DecisionStatus, Strike
from vigil.enforcement.suggest import active_strikes
from vigil.integrations.models import WebhookDelivery
from vigil.jobs import registry
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import Conflict

pytestmark = pytest.mark.usefixtures("fees")

WHY = "Second request for payment outside the platform this week."
OVERTURNED = "Appeal upheld: the transfer was a refund the client asked for."


def _reversals(db: Session) -> list[dict[str, object]]:
    rows = db.scalars(
        select(WebhookDelivery.body).where(WebhookDelivery.event_type == "action.reversed")
    )
    return [json.loads(b)["data"] for b in rows]


def test_reversal_lifts_everything(db: Session, settings: Settings, webhook: int) -> None:
    user, actor = staff(db)
    _, specialist = staff(db, Role.specialist)
    account = make_account(db)
    case = held_case(db, user, account)
    decision = decide(db, actor, case, settings, actions=SUSPEND_7, departure_reason=WHY)
    db.refresh(account)
    assert account.status == AccountStatus.suspended

    service.reverse_decision(db, specialist, decision.id, OVERTURNED, settings=settings)

    assert decision.status == DecisionStatus.reversed
    assert (decision.reversal_reason, decision.reversed_by_id) == (OVERTURNED, specialist.id)
    (action,) = db.scalars(select(DecisionAction))
    assert (action.status, action.reversal_reason) == (ActionStatus.reversed, OVERTURNED)
    (restriction,) = db.scalars(select(Restriction))
    assert restriction.lifted_at is not None
    db.refresh(account)
    assert account.status == AccountStatus.active
    (strike,) = db.scalars(select(Strike))
    assert strike.voided_at is not None and active_strikes(db, account.id) == []
    (reversal,) = _reversals(db)
    assert (reversal["action_id"], reversal["reversal"], reversal["reason"]) == (
        action.id,
        "reinstate",
        OVERTURNED,
    )
    reinstated = db.scalars(
        select(Message).where(Message.decision_id == decision.id).order_by(Message.id)
    ).all()
    assert len(reinstated) == 4  # the decision's email and in-app message, then the reinstatement
    assert "available again" in reinstated[-1].subject
    db.refresh(case)
    assert case.status == CaseStatus.closed
    assert "decision_reversed" in event_kinds(db, case.id)

    with pytest.raises(Conflict) as twice:
        service.reverse_decision(db, specialist, decision.id, OVERTURNED, settings=settings)
    assert twice.value.code == "decision_not_applied"


def test_reversing_a_ban_reinstates_the_account(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    _, specialist = staff(db, Role.specialist)
    _, second = staff(db, Role.specialist)
    account = make_account(db)
    decision = decide(
        db, actor, held_case(db, user, account), settings,
        actions=[{"type": "ban", "scope": "account"}], departure_reason=WHY,
    )  # fmt: skip
    service.approve(db, specialist, decision.id, settings=settings)
    db.refresh(account)
    assert account.status == AccountStatus.removed
    service.reverse_decision(db, second, decision.id, OVERTURNED, settings=settings)
    db.refresh(account)
    assert account.status == AccountStatus.active


def test_a_restriction_lifted_by_hand_does_not_block_the_reversal(
    db: Session, settings: Settings, webhook: int
) -> None:
    user, actor = staff(db)
    _, specialist = staff(db, Role.specialist)
    account = make_account(db)
    decision = decide(
        db, actor, held_case(db, user, account), settings,
        actions=SUSPEND_7, departure_reason=WHY,
    )  # fmt: skip
    (restriction,) = db.scalars(select(Restriction))
    accounts.lift_restriction(db, specialist, restriction.id, "support lifted it early")
    service.reverse_decision(db, specialist, decision.id, OVERTURNED, settings=settings)
    assert len(_reversals(db)) == 1


def test_reverse_over_http_needs_the_permission_and_a_reason(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user, actor = staff(db)
    specialist_user, _ = staff(db, Role.specialist)
    decision = decide(
        db, actor, held_case(db, user, make_account(db)), settings,
        actions=SUSPEND_7, departure_reason=WHY,
    )  # fmt: skip
    login_as(client, db, user)
    r = client.post(f"/v1/decisions/{decision.id}/reverse", json={"reason": OVERTURNED})
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    client.cookies.clear()
    login_as(client, db, specialist_user)
    before = counts(db)
    r = client.post(f"/v1/decisions/{decision.id}/reverse", json={"reason": "  "})
    assert (r.status_code, r.json()["field"]) == (422, "reason")
    assert counts(db) == before
    r = client.post(f"/v1/decisions/{decision.id}/reverse", json={"reason": OVERTURNED})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reversed"
    assert r.json()["actions"][0]["status"] == "reversed"


def test_expiry_ends_the_action_once_even_when_swept_twice(
    db: Session, settings: Settings, webhook: int, frozen: FrozenClock
) -> None:
    user, actor = staff(db)
    account = make_account(db)
    case = held_case(db, user, account)
    decide(db, actor, case, settings, actions=SUSPEND_7, departure_reason=WHY)
    (action,) = db.scalars(select(DecisionAction))

    frozen.advance(timedelta(days=7) - timedelta(seconds=1))
    assert expire_due(db) == []  # not yet
    frozen.advance(timedelta(seconds=1))
    assert expire_due(db) == [action.id]
    assert expire_due(db) == []  # the second sweep finds nothing

    db.refresh(action)
    assert (action.status, action.expired_at) == (ActionStatus.expired, clock.now())
    (reversal,) = _reversals(db)
    assert (reversal["reversal"], reversal["reason"], reversal["ends_at"]) == (
        "reinstate",
        "expired",
        "2026-11-28T09:00:00Z",
    )
    db.refresh(account)
    assert account.status == AccountStatus.active
    assert event_kinds(db, case.id)[-1] == "action_expired"


def test_an_expired_action_is_not_reversed_again(
    db: Session, settings: Settings, webhook: int, frozen: FrozenClock
) -> None:
    user, actor = staff(db)
    _, specialist = staff(db, Role.specialist)
    decision = decide(
        db, actor, held_case(db, user, make_account(db)), settings,
        actions=SUSPEND_7, departure_reason=WHY,
    )  # fmt: skip
    frozen.advance(timedelta(days=8))
    expire_due(db)
    service.reverse_decision(db, specialist, decision.id, OVERTURNED, settings=settings)
    assert len(_reversals(db)) == 1  # from the expiry; the reversal had nothing left to lift
    (strike,) = db.scalars(select(Strike))
    assert strike.voided_at is not None  # but the strike no longer counts


def test_the_sweep_is_a_periodic_job() -> None:
    task = next(t for t in registry.periodic_tasks() if t.kind == tasks.EXPIRE_DUE)
    assert task.setting == "enforcement_sweep_seconds"
    assert registry.get_handler(tasks.EXPIRE_DUE) is tasks.expire_due_actions


@pytest.mark.only_backend("postgresql")
def test_the_sweep_gives_way_to_a_reversal_holding_the_case(
    db: Session,
    settings: Settings,
    frozen: FrozenClock,
    session_factory: sessionmaker[Session],
) -> None:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    decide(db, actor, case, settings, actions=SUSPEND_7, departure_reason=WHY)
    db.commit()
    frozen.advance(timedelta(days=8))
    # Another transaction (a reversal in progress) holds the case's row lock.
    with session_factory() as holder:
        holder.scalar(select(Case.id).where(Case.id == case.id).with_for_update())
        with session_factory() as sweeper:
            assert expire_due(sweeper) == []  # gave way instead of waiting
            sweeper.rollback()
        holder.rollback()
    assert len(expire_due(db)) == 1
