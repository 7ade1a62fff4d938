"""The CEL environment: typed variables, errors with positions, the activation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.detection.rules.conftest import activation
from vigil.detection.rules import compiler
from vigil.kit.errors import InvalidInput

SCHEMA = compiler.current_schema()


def test_a_rule_over_features_and_the_account_type_checks() -> None:
    compiled, problems = compiler.check("features.messages_1h > 20 && account.age_days < 2")
    assert problems == []
    assert compiled is not None
    assert compiled.referenced == ("features.messages_1h", "account.age_days")


def test_every_registered_feature_is_declared_with_its_type() -> None:
    from vigil.detection.features.registry import declared

    kinds = SCHEMA.kinds
    for name, kind in declared().items():
        assert kinds[f"features.{name}"] == kind


def test_an_unknown_feature_is_refused_with_its_position_and_a_suggestion() -> None:
    with pytest.raises(InvalidInput) as raised:
        compiler.compile_rule("account.age_days < 2 &&\n  features.mesages_1h > 20")
    err = raised.value
    assert (err.code, err.field) == ("rule_invalid", "expression")
    detail = err.details[0]
    assert (detail["line"], detail["column"]) == (2, 11)
    assert "no feature 'mesages_1h'" in detail["message"]
    assert "features.messages_1h" in detail["message"]
    assert "line 2, column 11" in err.message


def test_a_type_error_is_refused_at_the_operator() -> None:
    _, problems = compiler.check('features.messages_1h > "many"')
    assert [(p.line, p.column) for p in problems] == [(1, 22)]
    assert "'_>_'" in problems[0].message and "(int, string)" in problems[0].message


def test_comparing_a_double_feature_with_an_int_literal_says_how_to_fix_it() -> None:
    _, problems = compiler.check("features.scam_score > 1")
    assert "write 20.0 for a double" in problems[0].message
    ok, none = compiler.check("features.scam_score > 0.9")
    assert ok is not None and none == []


def test_a_syntax_error_points_at_the_end_of_the_input() -> None:
    _, problems = compiler.check("features.messages_1h >")
    assert (problems[0].line, problems[0].column) == (1, 23)
    assert "Syntax error" in problems[0].message


@pytest.mark.parametrize(
    ("expression", "kind"),
    [("features.messages_1h + 1", "int"), ("event.data.rating", "dyn"), ("event.text", "string")],
)
def test_a_rule_must_give_a_bool(expression: str, kind: str) -> None:
    _, problems = compiler.check(expression)
    assert problems and f"this gives {kind}" in problems[0].message


@pytest.mark.parametrize("expression", ["", "   ", "x" * (compiler.MAX_EXPRESSION + 1)])
def test_empty_and_huge_expressions_are_refused(expression: str) -> None:
    compiled, problems = compiler.check(expression)
    assert compiled is None and (problems[0].line, problems[0].column) == (1, 1)


def test_extensions_for_text_optional_keys_and_timestamps_are_available() -> None:
    for expression in (
        'event.text.lowerAscii().matches("whats ?app")',
        "event.data.?amount.orValue(0.0) > 100.0",
        "has(event.data.rating) && event.data.rating == 5",
        "event.occurred_at.getHours() < 6",
        '"paypal" in features.payment_apps',
        'cel.bind(t, event.text.lowerAscii(), ["a", "b"].exists(p, t.contains(p)))',
        'event.occurred_at > timestamp("2026-01-01T00:00:00Z")',
    ):
        _compiled, problems = compiler.check(expression)
        assert problems == [], expression


def test_flatten_fills_every_variable_with_its_type() -> None:
    flat = compiler.flatten(activation(features={"messages_1h": 3}), SCHEMA)
    assert set(flat) == set(SCHEMA.kinds)
    assert flat["features.messages_1h"] == 3
    assert flat["features.scam_score"] == 0.0
    assert flat["features.payment_apps"] == []
    assert flat["event.ip"] == ""
    assert flat["event.occurred_at"] == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert flat["account.known"] is True


def test_flatten_coerces_and_makes_payloads_safe_for_cel() -> None:
    act = activation(
        features={"messages_1h": 4.0, "scam_score": 1, "is_first_message": 1},
        data={"text": "hi", "sent": datetime(2026, 1, 1, tzinfo=UTC), "big": 10**30, 3: "x"},
        account=None,
    )
    act["account"] = None
    flat = compiler.flatten(act, SCHEMA)
    assert flat["features.messages_1h"] == 4
    assert flat["features.scam_score"] == 1.0
    assert flat["features.is_first_message"] is True
    assert flat["event.data"] == {
        "text": "hi",
        "sent": "2026-01-01T00:00:00+00:00",
        "big": 1e30,
        "3": "x",
    }
    assert flat["event.text"] == "hi"
    assert flat["account.known"] is False and flat["account.age_days"] == 0
    compiled = compiler.compile_rule('event.text == "hi" && !account.known')
    assert compiled.program.eval(data=flat).value() is True
