"""Rules: create, edit (versions), state machine, ruleset revisions, audit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.detection.rules.conftest import SYSTEM, rule_body, written
from vigil.audit.models import AuditRecord
from vigil.detection.rules import engine, service
from vigil.detection.rules.models import (
    ImmutableRuleVersionError,
    RulesetRevision,
    RuleState,
)
from vigil.kit.errors import Conflict, IllegalTransition, InvalidInput, NotFound, VersionConflict

pytestmark = pytest.mark.usefixtures("catalog")


def _create(db: Session, **changes: Any) -> Any:
    state = changes.pop("state", None)
    return service.create_rule(db, SYSTEM, rule_body(**changes), state=state)


def test_a_new_rule_is_a_draft_at_version_1_and_audited(db: Session) -> None:
    rule, version = _create(db)
    assert rule.state is RuleState.draft and rule.current_version == 1
    assert version.version == 1 and version.expression.startswith("account.age_days")
    assert version.event_types == ["message_sent"] and version.score == 60.0
    record = db.scalars(select(AuditRecord).where(AuditRecord.action == "rules.rule.create")).one()
    assert record.data["name"] == "new_account_mass_messaging"
    # A draft does not change what the engine runs.
    assert engine.current_revision(db) == (0, "")


def test_a_rule_that_does_not_compile_is_refused_with_its_position(db: Session) -> None:
    before = written(db)
    with pytest.raises(InvalidInput) as raised:
        _create(db, expression="account.age_days < 2 &&\n features.no_such_thing > 3")
    err = raised.value
    assert (err.code, err.field) == ("rule_invalid", "expression")
    assert err.details[0]["line"] == 2 and err.details[0]["column"] == 10
    assert "no feature 'no_such_thing'" in err.details[0]["message"]
    assert written(db) == before


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"name": "Bad Name"}, "invalid_name", "name"),
        ({"name": "backtests"}, "invalid_name", "name"),
        ({"description": " "}, "missing_field", "description"),
        ({"score": "high"}, "invalid_type", "score"),
        ({"score": True}, "invalid_type", "score"),
        ({"score": 5000}, "out_of_range", "score"),
        ({"outcome": "ban"}, "invalid_outcome", "outcome"),
        ({"queue": "nowhere"}, "unknown_queue", "queue"),
        ({"policy_code": "no_such_policy"}, "unknown_policy", "policy_code"),
        ({"policy_code": None}, "missing_field", "policy_code"),
        ({"event_types": []}, "missing_field", "event_types"),
        ({"event_types": ["message_sent", "teleport"]}, "unknown_event_type", "event_types[1]"),
        ({"tags": ["Not A Tag"]}, "invalid_tag", "tags[0]"),
    ],
)
def test_bad_fields_are_named(db: Session, changes: dict[str, Any], code: str, field: str) -> None:
    before = written(db)
    with pytest.raises(InvalidInput) as raised:
        _create(db, **changes)
    assert (raised.value.code, raised.value.field) == (code, field)
    assert written(db) == before


def test_a_score_only_rule_needs_no_policy(db: Session) -> None:
    _rule, version = _create(db, outcome="allow", policy_code=None, score=-20)
    assert version.policy_code is None and version.score == -20.0


def test_names_are_unique(db: Session) -> None:
    _create(db)
    with pytest.raises(Conflict) as raised:
        _create(db)
    assert raised.value.code == "rule_exists"


def test_every_edit_is_a_new_version_and_an_unchanged_edit_writes_nothing(db: Session) -> None:
    _create(db)
    result = service.update_rule(
        db,
        SYSTEM,
        "new_account_mass_messaging",
        {"expression": "account.age_days < 3 && features.messages_1h > 30", "score": 70},
        change_reason="too noisy",
        expected_version=1,
    )
    assert result.changed and result.version.version == 2
    assert result.changed_fields == ["expression", "score"]
    before = written(db)
    same = service.update_rule(
        db, SYSTEM, "new_account_mass_messaging", {"score": 70}, change_reason="again"
    )
    assert not same.changed and same.version.version == 2
    assert written(db) == before
    versions, _ = service.history_page(db, "new_account_mass_messaging")
    assert [v.version for v in versions] == [2, 1]
    assert service.get_version(db, "new_account_mass_messaging", 1).score == 60.0
    assert versions[0].change_reason == "too noisy"


def test_edits_are_checked_like_creations(db: Session) -> None:
    _create(db)
    with pytest.raises(InvalidInput) as raised:
        service.update_rule(
            db,
            SYSTEM,
            "new_account_mass_messaging",
            {"expression": "features.messages_1h >"},
            change_reason="oops",
        )
    assert raised.value.code == "rule_invalid"
    with pytest.raises(VersionConflict):
        service.update_rule(
            db,
            SYSTEM,
            "new_account_mass_messaging",
            {"score": 1},
            change_reason="x",
            expected_version=7,
        )
    with pytest.raises(InvalidInput) as immutable:
        service.update_rule(
            db, SYSTEM, "new_account_mass_messaging", {"name": "other"}, change_reason="x"
        )
    assert immutable.value.code == "name_immutable"
    with pytest.raises(InvalidInput) as no_reason:
        service.update_rule(
            db, SYSTEM, "new_account_mass_messaging", {"score": 1}, change_reason=None
        )
    assert no_reason.value.field == "change_reason"
    with pytest.raises(NotFound):
        service.update_rule(db, SYSTEM, "no_such_rule", {"score": 1}, change_reason="x")


def test_written_versions_are_immutable(db: Session) -> None:
    _rule, version = _create(db)
    version.score = 1.0
    with pytest.raises(ImmutableRuleVersionError):
        db.flush()


def test_the_state_machine(db: Session) -> None:
    _create(db)
    name = "new_account_mass_messaging"
    for to in ("shadow", "active", "shadow", "active", "disabled", "draft", "active"):
        rule = service.change_state(db, SYSTEM, name, to, reason=f"to {to}")
        assert rule.state is RuleState(to)
    assert rule.activated_at is not None and rule.shadowed_at is not None
    assert rule.disabled_at is not None
    with pytest.raises(IllegalTransition) as illegal:
        service.change_state(db, SYSTEM, name, "draft", reason=None)
    assert illegal.value.status_code == 409 and illegal.value.code == "illegal_transition"
    with pytest.raises(IllegalTransition):
        service.change_state(db, SYSTEM, name, "active", reason=None)
    with pytest.raises(InvalidInput) as bad:
        service.change_state(db, SYSTEM, name, "deleted", reason=None)
    assert bad.value.code == "invalid_state"
    moves = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "rules.rule.state").order_by(AuditRecord.id)
    ).all()
    assert [(m.data["from"], m.data["to"]) for m in moves][:2] == [
        ("draft", "shadow"),
        ("shadow", "active"),
    ]
    assert moves[0].reason == "to shadow"


def test_only_changes_to_live_rules_move_the_ruleset_revision(db: Session) -> None:
    _create(db)
    name = "new_account_mass_messaging"
    service.change_state(db, SYSTEM, name, "disabled", reason=None)
    service.change_state(db, SYSTEM, name, "draft", reason=None)
    service.update_rule(db, SYSTEM, name, {"score": 61}, change_reason="draft edit")
    assert engine.current_revision(db)[0] == 0

    service.change_state(db, SYSTEM, name, "shadow", reason=None)  # revision 1
    service.update_rule(db, SYSTEM, name, {"score": 62}, change_reason="live edit")  # 2
    _create(db, name="another_rule", state="active")  # 3
    service.change_state(db, SYSTEM, name, "disabled", reason=None)  # 4
    revisions = db.scalars(select(RulesetRevision).order_by(RulesetRevision.revision)).all()
    assert [r.revision for r in revisions] == [1, 2, 3, 4]
    assert len({r.token for r in revisions}) == 4
    assert revisions[0].rules == [
        {
            "rule_id": revisions[0].rules[0]["rule_id"],
            "name": name,
            "version": 2,
            "state": "shadow",
        },
    ]
    assert [(r["name"], r["version"], r["state"]) for r in revisions[2].rules] == [
        ("another_rule", 1, "active"),
        (name, 3, "shadow"),
    ]
    assert [r["name"] for r in revisions[3].rules] == ["another_rule"]


def test_a_new_rule_may_start_live_but_not_disabled(db: Session) -> None:
    rule, _ = _create(db, state="active")
    assert rule.state is RuleState.active and rule.activated_at is not None
    assert engine.current_revision(db)[0] == 1
    with pytest.raises(InvalidInput) as raised:
        _create(db, name="other_rule", state="disabled")
    assert raised.value.field == "state"


def test_lists_page_by_name_and_filter_by_state(db: Session) -> None:
    for name in ("c_rule", "a_rule", "b_rule"):
        _create(db, name=name)
    service.change_state(db, SYSTEM, "b_rule", "active", reason=None)
    first, cursor = service.list_page(db, limit=2)
    assert [r.name for r, _ in first] == ["a_rule", "b_rule"]
    second, end = service.list_page(db, cursor=cursor, limit=2)
    assert [r.name for r, _ in second] == ["c_rule"] and end is None
    active, _ = service.list_page(db, state="active")
    assert [r.name for r, _ in active] == ["b_rule"]
    with pytest.raises(InvalidInput):
        service.list_page(db, state="zombie")
