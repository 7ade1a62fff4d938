"""The ladder's suggestion: the account's active strikes plus this violation pick the step."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    SPAM,
    body,
    decide,
    held_case,
    make_account,
    make_policy,
    staff,
)
from tests.factories import login_as
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.enforcement import service
from vigil.enforcement.models import Strike
from vigil.enforcement.schemas import DecisionIn
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import InvalidInput
from vigil.policies.actions import ActionType, Scope
from vigil.policies.models import PolicyVersion

pytestmark = pytest.mark.usefixtures("fees")

RESTRICT_14 = [{"type": "restrict", "scope": "payouts", "duration_days": 14}]


def test_first_offence_gets_the_first_step(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    s = service.suggestion_for(db, actor, case.id, ["fee_circumvention"])
    assert (s.action, s.scope, s.duration_days) == (ActionType.warn, Scope.account, None)
    assert (s.strikes_before, s.strikes_after, s.from_ladder) == (0, 1, True)


def test_prior_strikes_climb_the_ladder(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    user, actor = staff(db)
    account = make_account(db)
    decide(db, actor, held_case(db, user, account), settings)  # strike 1: warn
    frozen.advance(timedelta(days=1))
    case = held_case(db, user, account)
    s = service.suggestion_for(db, actor, case.id, ["fee_circumvention"])
    assert (s.action, s.scope, s.duration_days) == (ActionType.restrict, Scope.payouts, 14)
    assert (s.strikes_before, s.strikes_after) == (1, 2)
    assert [x.policy_code for x in s.strikes] == ["fee_circumvention"]

    decide(db, actor, case, settings, actions=RESTRICT_14)  # follows the ladder: no reason
    third = held_case(db, user, account)
    s = service.suggestion_for(db, actor, third.id, ["fee_circumvention"])
    assert (s.action, s.duration_days, s.strikes_after) == (ActionType.suspend, 7, 3)


def test_expired_and_voided_strikes_do_not_count(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    user, actor = staff(db)
    account = make_account(db)
    decide(db, actor, held_case(db, user, account), settings)
    frozen.advance(timedelta(days=181))  # the policy's strikes count for 180 days
    case = held_case(db, user, account)
    s = service.suggestion_for(db, actor, case.id, ["fee_circumvention"])
    assert (s.action, s.strikes_before, s.strikes) == (ActionType.warn, 0, [])

    second = decide(db, actor, case, settings)
    frozen.advance(timedelta(days=1))
    strike = db.scalar(select(Strike).where(Strike.decision_id == second.id))
    assert strike is not None
    strike.voided_at, strike.void_reason = clock.now(), "overturned"
    db.flush()
    s = service.suggestion_for(db, actor, held_case(db, user, account).id, ["fee_circumvention"])
    assert s.strikes_before == 0


def test_the_most_severe_policy_leads_and_every_cited_policy_adds_its_weight(
    db: Session, settings: Settings
) -> None:
    make_policy(db, SPAM)
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    # spam is low severity, fee circumvention medium: its ladder is used, with 2 strikes.
    s = service.suggestion_for(db, actor, case.id, ["spam", "fee_circumvention"])
    assert (s.policy_code, s.strikes_after) == ("fee_circumvention", 2)
    assert (s.action, s.scope) == (ActionType.restrict, Scope.payouts)


def test_below_the_first_step_the_default_action_is_proposed(
    db: Session, settings: Settings
) -> None:
    ladder = [{"strikes": 3, "action": "suspend", "scope": "account", "duration_days": 7}]
    version: PolicyVersion = make_policy(db, code="late_ladder", ladder=ladder)
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    s = service.suggestion_for(db, actor, case.id, [version.code])
    assert (s.action, s.scope, s.from_ladder) == (ActionType.warn, Scope.account, False)


def test_a_departure_from_the_ladder_needs_a_reason(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    departing = DecisionIn(**body(actions=RESTRICT_14))
    with pytest.raises(InvalidInput) as refused:
        service.decide(db, actor, case.id, departing, settings=settings)
    assert (refused.value.code, refused.value.field) == (
        "departure_reason_required",
        "departure_reason",
    )
    explained = DecisionIn(**body(actions=RESTRICT_14, departure_reason="Repeat in one day"))
    decision = service.decide(db, actor, case.id, explained, settings=settings)
    assert decision.departed and decision.departure_reason == "Repeat in one day"
    assert decision.suggestion is not None and decision.suggestion["action"] == "warn"


def test_a_different_duration_is_a_departure(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    account = make_account(db)
    decide(db, actor, held_case(db, user, account), settings)
    case = held_case(db, user, account)
    longer = DecisionIn(**body(actions=[{**RESTRICT_14[0], "duration_days": 30}]))
    with pytest.raises(InvalidInput) as refused:
        service.decide(db, actor, case.id, longer, settings=settings)
    assert refused.value.code == "departure_reason_required"


def test_suggestion_api_shows_the_strikes_behind_it(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user, actor = staff(db)
    account = make_account(db)
    decide(db, actor, held_case(db, user, account), settings)
    case = held_case(db, user, account)
    login_as(client, db, user)
    r = client.get(
        f"/v1/cases/{case.id}/decisions/suggestion", params={"policy": "fee_circumvention"}
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["action"], got["scope"], got["duration_days"]) == ("restrict", "payouts", 14)
    assert got["strikes_before"] == 1 and len(got["strikes"]) == 1
    assert got["strikes"][0]["counts"] is True

    unknown = client.get(
        f"/v1/cases/{case.id}/decisions/suggestion", params={"policy": "no_such_policy"}
    )
    assert unknown.status_code == 422
    assert (unknown.json()["code"], unknown.json()["field"]) == ("unknown_policy", "policy.0")


def test_strikes_api_lists_history_with_what_counts(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    user, actor = staff(db)
    account = make_account(db)
    decide(db, actor, held_case(db, user, account), settings)
    frozen.advance(timedelta(days=200))
    decide(db, actor, held_case(db, user, account), settings)
    qa, _ = staff(db, Role.qa)
    login_as(client, db, qa)
    r = client.get(f"/v1/accounts/{account.external_id}/strikes")
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["active_weight"] == 1
    assert [s["counts"] for s in page["items"]] == [True, False]  # newest first
