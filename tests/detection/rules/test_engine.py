"""The engine: one list per event type, shadow hits, error isolation, outcomes, and the cache
that follows the ruleset revision."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.detection.rules.conftest import SYSTEM, activation, rule_body
from vigil.config import Settings
from vigil.detection.rules import compiler, engine, service
from vigil.detection.rules.engine import Engine, LiveRule, RuleHit, outcome_for


def live(
    name: str,
    expression: str,
    *,
    score: float = 10,
    outcome: str = "allow",
    shadow: bool = False,
    types: tuple[str, ...] = ("message_sent",),
) -> LiveRule:
    return LiveRule(
        rule_id=hash(name) % 1000,
        version=1,
        name=name,
        description=f"{name} fired",
        expression=expression,
        score=score,
        outcome=outcome,
        policy_code="spam",
        queue="detection",
        event_types=types,
        shadow=shadow,
    )


def hit(score: float, outcome: str = "allow", shadow: bool = False) -> RuleHit:
    return RuleHit(1, 1, "r", score, outcome, None, None, shadow, "")


# --- the engine alone ---------------------------------------------------------------------


def test_all_rules_of_a_type_run_in_one_list_and_hits_carry_their_reasons() -> None:
    eng = Engine(
        "message_sent",
        [
            live(
                "mass_messaging",
                "account.age_days < 2 && features.messages_1h > 20",
                score=60,
                outcome="review",
            ),
            live("never", "features.messages_1h > 1000"),
            live("watching", "features.messages_1h > 5", shadow=True),
        ],
    )
    result = eng.run(activation(features={"messages_1h": 25}))
    assert result.errors == []
    assert [h.name for h in result.hits] == ["mass_messaging", "watching"]
    first = result.hits[0]
    assert (first.score, first.outcome, first.policy_code, first.queue, first.shadow) == (
        60.0,
        "review",
        "spam",
        "detection",
        False,
    )
    assert first.reason == "mass_messaging fired (account.age_days=1, features.messages_1h=25)"
    assert result.hits[1].shadow is True


def test_a_rule_that_errors_on_an_odd_event_is_recorded_and_the_others_still_fire() -> None:
    eng = Engine(
        "payment",
        [
            live("big_payment", "event.data.amount > 1000.0", types=("payment",)),
            live("fast_payer", "features.payments_1h >= 3", types=("payment",)),
            live("ratio", "100 / features.payments_24h > 10", types=("payment",)),
        ],
    )
    normal = eng.run(
        activation(
            event_type="payment",
            data={"amount": 5000.0},
            features={"payments_1h": 3, "payments_24h": 4},
        )
    )
    assert [h.name for h in normal.hits] == ["big_payment", "fast_payer", "ratio"]
    assert normal.errors == []

    # No amount in the payload, and no payment in the last day: two rules cannot be evaluated.
    odd = eng.run(activation(event_type="payment", data={}, features={"payments_1h": 3}))
    assert [h.name for h in odd.hits] == ["fast_payer"]
    assert {e.name: e.message for e in odd.errors}.keys() == {"big_payment", "ratio"}
    messages = {e.name: e.message for e in odd.errors}
    assert "amount" in messages["big_payment"]
    assert "divide by zero" in messages["ratio"]


def test_a_rule_that_no_longer_compiles_is_reported_on_every_event() -> None:
    # A schema without the feature the rule reads (the registry dropped it).
    schema = compiler.make_schema({"payments_1h": "int"})
    eng = Engine(
        "message_sent",
        [live("gone", "features.messages_1h > 1"), live("fine", "features.payments_1h > 0")],
        schema=schema,
    )
    result = eng.run(activation(features={"payments_1h": 1}))
    assert [h.name for h in result.hits] == ["fine"]
    assert [e.name for e in result.errors] == ["gone"]
    assert "does not compile any more" in result.errors[0].message


def test_an_engine_without_rules_answers_nothing() -> None:
    result = Engine("login", []).run(activation(event_type="login"))
    assert result.hits == [] and result.errors == []


# --- outcomes -----------------------------------------------------------------------------


@pytest.fixture
def thresholds() -> Settings:
    return Settings(database_url="sqlite://", detection_review_score=50, detection_block_score=100)


@pytest.mark.parametrize(
    ("hits", "expected"),
    [
        ([], ("allow", 0.0)),
        ([hit(30), hit(19.5)], ("allow", 49.5)),
        ([hit(30), hit(20)], ("review", 50.0)),
        ([hit(60, "review"), hit(40)], ("block", 100.0)),
        ([hit(10, "review")], ("review", 10.0)),  # the rule's own outcome wins
        ([hit(5, "block"), hit(5, "review")], ("block", 10.0)),
        ([hit(200, "block", shadow=True), hit(10)], ("allow", 10.0)),  # shadow never counts
        ([hit(120), hit(-30)], ("review", 90.0)),  # a negative score offsets
    ],
)
def test_outcome_thresholds(
    thresholds: Settings, hits: list[RuleHit], expected: tuple[str, float]
) -> None:
    assert outcome_for(hits, thresholds) == expected


# --- the cached engine and the ruleset revision --------------------------------------------


def _make(db: Session, name: str, expression: str, state: str = "active", **kw: Any) -> None:
    service.create_rule(db, SYSTEM, rule_body(name=name, expression=expression, **kw), state=state)


@pytest.mark.usefixtures("catalog")
def test_only_shadow_and_active_rules_of_the_event_type_run(db: Session) -> None:
    _make(db, "active_rule", "features.messages_1h > 1")
    _make(db, "shadow_rule", "features.messages_1h > 1", state="shadow")
    _make(db, "draft_rule", "features.messages_1h > 1", state="draft")
    _make(db, "login_rule", "features.logins_24h > 1", event_types=["login"])
    _make(db, "disabled_rule", "features.messages_1h > 1")
    service.change_state(db, SYSTEM, "disabled_rule", "disabled", reason=None)
    result = engine.evaluate(db, "message_sent", activation(features={"messages_1h": 5}))
    assert [(h.name, h.shadow) for h in result.hits] == [
        ("active_rule", False),
        ("shadow_rule", True),
    ]
    settings = Settings(database_url="sqlite://")
    assert outcome_for(result.hits, settings) == ("review", 60.0)
    assert engine.evaluate(db, "signup", activation(event_type="signup")).hits == []


@pytest.mark.usefixtures("catalog")
def test_a_new_revision_rebuilds_the_engine_and_the_same_revision_reuses_it(
    db: Session,
) -> None:
    _make(db, "first_rule", "features.messages_1h > 10")
    act = activation(features={"messages_1h": 5})
    first = engine.engine_for(db, "message_sent")
    assert engine.engine_for(db, "message_sent") is first  # cached: same revision
    assert engine.evaluate(db, "message_sent", act).hits == []

    service.update_rule(
        db,
        SYSTEM,
        "first_rule",
        {"expression": "features.messages_1h > 2"},
        change_reason="lower the bar",
    )
    rebuilt = engine.engine_for(db, "message_sent")
    assert rebuilt is not first
    fired = engine.evaluate(db, "message_sent", act).hits
    assert [(h.name, h.rule_version) for h in fired] == [("first_rule", 2)]

    service.change_state(db, SYSTEM, "first_rule", "disabled", reason="off")
    assert engine.evaluate(db, "message_sent", act).hits == []


@pytest.mark.usefixtures("catalog")
def test_another_process_sees_a_committed_change_on_its_next_event(
    db: Session, session_factory: sessionmaker[Session]
) -> None:
    _make(db, "first_rule", "features.messages_1h > 10")
    db.commit()
    act = activation(features={"messages_1h": 5})
    with session_factory() as other:
        assert engine.evaluate(other, "message_sent", act).hits == []
        other.rollback()
    service.update_rule(
        db, SYSTEM, "first_rule", {"expression": "features.messages_1h > 2"}, change_reason="x"
    )
    db.commit()
    with session_factory() as other:
        assert [h.name for h in engine.evaluate(other, "message_sent", act).hits] == ["first_rule"]


@pytest.mark.usefixtures("catalog")
def test_an_uncommitted_change_that_is_rolled_back_does_not_stay_cached(db: Session) -> None:
    _make(db, "first_rule", "features.messages_1h > 10")
    db.commit()
    act = activation(features={"messages_1h": 5})
    service.update_rule(
        db, SYSTEM, "first_rule", {"expression": "features.messages_1h > 2"}, change_reason="x"
    )
    assert len(engine.evaluate(db, "message_sent", act).hits) == 1  # seen in its transaction
    db.rollback()
    assert engine.evaluate(db, "message_sent", act).hits == []
