"""What a policy version must say: each mistake is named by a stable code and the path of the
field at fault, for the API and the pack loader alike. Pure: no database."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.helpers import ILLEGAL, policy
from vigil.kit.errors import InvalidInput
from vigil.policies.schemas import validate_policy


def error_of(body: dict[str, Any], **kw: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_policy(body, **kw)
    return caught.value


def ladder(*steps: dict[str, Any]) -> list[dict[str, Any]]:
    return list(steps)


def test_a_valid_policy_is_normalised() -> None:
    body = policy(
        title="  Off-platform payment  ",
        allowed_actions=["ban", "warn", "restrict", "suspend", "warn"],
        ladder=[
            {"strikes": 1, "action": "warn"},  # warn, suspend and ban can only take the account
            {"strikes": 3, "action": "suspend", "duration_days": 7},
            {"strikes": 5, "action": "ban"},
        ],
        dsa_keywords=["KEYWORD_PHISHING", "KEYWORD_INAUTHENTIC_LISTINGS", "KEYWORD_PHISHING"],
    )
    spec = validate_policy(body)
    assert spec.code == "off_platform_payment"
    assert spec.content["title"] == "Off-platform payment"
    assert spec.content["allowed_actions"] == ["warn", "restrict", "suspend", "ban"]
    assert spec.content["ladder"] == [
        {"strikes": 1, "action": "warn", "scope": "account", "duration_days": None},
        {"strikes": 3, "action": "suspend", "scope": "account", "duration_days": 7},
        {"strikes": 5, "action": "ban", "scope": "account", "duration_days": None},
    ]
    assert spec.content["dsa_keywords"] == ["KEYWORD_INAUTHENTIC_LISTINGS", "KEYWORD_PHISHING"]
    assert spec.content["legal_ground"] is None


def test_the_users_ground_is_optional_and_localized() -> None:
    assert validate_policy(policy()).content["user_ground"] is None
    grounds = {"en": " Our terms, 7.1: pay here ", "es": "Términos, 7.1", "pt": "Termos, 7.1"}
    content = validate_policy(policy(user_ground=grounds)).content
    assert content["user_ground"] == {"en": "Our terms, 7.1: pay here", "es": "Términos, 7.1",
                                      "pt": "Termos, 7.1"}  # fmt: skip


def test_optional_fields_take_their_defaults() -> None:
    body = policy(
        examples_allowed=None,
        examples_not_allowed=None,
        strike_weight=None,
        strike_ttl_days=None,
        dsa_keywords=None,
    )
    content = validate_policy(body).content
    assert content["examples_allowed"] == [] and content["dsa_keywords"] == []
    assert (content["strike_weight"], content["strike_ttl_days"]) == (1, 365)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        # the code
        ({"code": "Fee Circumvention"}, "invalid_code", "code"),
        ({"code": "fee__circumvention"}, "invalid_code", "code"),
        ({"code": "1st_policy"}, "invalid_code", "code"),
        ({"code": "a" * 65}, "invalid_code", "code"),
        ({"code": None}, "missing_field", "code"),
        ({"code": 7}, "invalid_type", "code"),
        # texts
        ({"title": "   "}, "empty_field", "title"),
        ({"title": None}, "missing_field", "title"),
        ({"title": "x" * 201}, "too_long", "title"),
        ({"description": ""}, "empty_field", "description"),
        ({"guidance": "\n\n"}, "empty_field", "guidance"),
        ({"guidance": ["a list"]}, "invalid_type", "guidance"),
        ({"examples_allowed": ["fine", " "]}, "empty_field", "examples_allowed[1]"),
        ({"examples_not_allowed": "not a list"}, "invalid_type", "examples_not_allowed"),
        ({"examples_allowed": ["x"] * 21}, "too_many", "examples_allowed"),
        ({"colour": "red"}, "unknown_field", "colour"),
        # severity and actions
        ({"severity": "urgent"}, "invalid_severity", "severity"),
        ({"severity": None}, "missing_field", "severity"),
        ({"allowed_actions": ["warn", "shadowban"]}, "unknown_action", "allowed_actions[1]"),
        ({"allowed_actions": []}, "empty_field", "allowed_actions"),
        (
            {
                "default_action": "ban",
                "allowed_actions": ["warn", "restrict", "suspend"],
                "ladder": [{"strikes": 1, "action": "warn"}],
            },
            "default_action_not_allowed",
            "default_action",
        ),
        ({"default_action": "delete"}, "unknown_action", "default_action"),
        # strikes
        ({"strike_weight": -1}, "invalid_strike_weight", "strike_weight"),
        ({"strike_weight": True}, "invalid_type", "strike_weight"),
        ({"strike_weight": "2"}, "invalid_type", "strike_weight"),
        ({"strike_ttl_days": 0}, "invalid_strike_ttl_days", "strike_ttl_days"),
        # DSA
        ({"dsa_category": "STATEMENT_CATEGORY_PARKING"}, "unknown_dsa_category", "dsa_category"),
        (
            {"dsa_keywords": ["KEYWORD_PHISHING", "KEYWORD_NOPE"]},
            "unknown_dsa_keyword",
            "dsa_keywords[1]",
        ),
        ({"dsa_keywords": ["KEYWORD_OTHER"]}, "unknown_dsa_keyword", "dsa_keywords[0]"),
        ({"dsa_ground": "DECISION_GROUND_VIBES"}, "unknown_dsa_ground", "dsa_ground"),
        ({"tos_ground": ""}, "empty_field", "tos_ground"),
        ({"tos_ground": "x" * 501}, "too_long", "tos_ground"),
        ({**ILLEGAL, "legal_ground": None}, "legal_ground_required", "legal_ground"),
        (
            {**ILLEGAL, "illegal_explanation": "  "},
            "illegal_explanation_required",
            "illegal_explanation",
        ),
        ({"legal_ground": "Some law"}, "only_for_illegal_content", "legal_ground"),
        # what the user reads
        ({"user_title": {"en": "Payments", "es": "Pagos"}}, "missing_locale", "user_title.pt"),
        (
            {"user_explanation": {"en": "x", "es": "", "pt": "y"}},
            "empty_field",
            "user_explanation.es",
        ),
        (
            {"user_title": {"en": "a", "es": "b", "pt": "c", "EN-GB": "d"}},
            "invalid_locale",
            "user_title.EN-GB",
        ),
        ({"user_title": "Payments"}, "invalid_type", "user_title"),
        ({"user_explanation": None}, "missing_field", "user_explanation"),
        (
            {"user_ground": {"en": "Our terms, 7.1", "es": "Términos, 7.1"}},
            "missing_locale",
            "user_ground.pt",
        ),
        ({"user_ground": {"en": "x" * 501, "es": "y", "pt": "z"}}, "too_long", "user_ground.en"),
        ({"user_ground": "Our terms"}, "invalid_type", "user_ground"),
    ],
)
def test_each_mistake_names_its_field(changes: dict[str, Any], code: str, field: str) -> None:
    error = error_of(policy(**changes))  # a None value leaves the field out
    assert (error.code, error.field) == (code, field), error.details
    assert error.status_code == 422


@pytest.mark.parametrize(
    ("steps", "code", "field"),
    [
        ([], "empty_field", "ladder"),
        ("warn then ban", "invalid_type", "ladder"),
        ([{"strikes": 1, "action": "warn"}, "ban at 2"], "invalid_type", "ladder[1]"),
        ([{"strikes": 0, "action": "warn"}], "invalid_strikes", "ladder[0].strikes"),
        ([{"action": "warn"}], "missing_field", "ladder[0].strikes"),
        ([{"strikes": "one", "action": "warn"}], "invalid_type", "ladder[0].strikes"),
        (
            [{"strikes": 2, "action": "warn"}, {"strikes": 2, "action": "ban"}],
            "ladder_not_increasing",
            "ladder[1].strikes",
        ),
        (
            [{"strikes": 3, "action": "warn"}, {"strikes": 1, "action": "ban"}],
            "ladder_not_increasing",
            "ladder[1].strikes",
        ),
        ([{"strikes": 1, "action": "nuke"}], "unknown_action", "ladder[0].action"),
        ([{"strikes": 1}], "missing_field", "ladder[0].action"),
        (
            [
                {"strikes": 1, "action": "warn"},
                {"strikes": 2, "action": "remove", "scope": "listing"},
            ],
            "action_not_allowed",  # remove is not in allowed_actions
            "ladder[1].action",
        ),
        (
            [{"strikes": 1, "action": "warn"}, {"strikes": 2, "action": "restrict"}],
            "missing_field",  # restrict takes one of several scopes: it must be named
            "ladder[1].scope",
        ),
        (
            [
                {"strikes": 1, "action": "warn"},
                {"strikes": 3, "action": "restrict", "scope": "account"},
            ],
            "scope_not_allowed",
            "ladder[1].scope",
        ),
        (
            [{"strikes": 1, "action": "ban", "scope": "listing"}],
            "scope_not_allowed",
            "ladder[0].scope",
        ),
        (
            [{"strikes": 1, "action": "warn", "scope": "galaxy"}],
            "scope_not_allowed",
            "ladder[0].scope",
        ),
        ([{"strikes": 1, "action": "suspend"}], "duration_required", "ladder[0].duration_days"),
        (
            [{"strikes": 1, "action": "suspend", "duration_days": 0}],
            "invalid_duration",
            "ladder[0].duration_days",
        ),
        (
            [{"strikes": 1, "action": "warn", "duration_days": 3}],
            "duration_not_allowed",
            "ladder[0].duration_days",
        ),
        (
            [{"strikes": 1, "action": "ban", "duration_days": 30}],
            "duration_not_allowed",
            "ladder[0].duration_days",
        ),
        (
            [{"strikes": 1, "action": "warn", "when": "always"}],
            "unknown_field",
            "ladder[0].when",
        ),
    ],
)
def test_ladder_mistakes_name_the_step(steps: Any, code: str, field: str) -> None:
    error = error_of(policy(ladder=steps))
    assert (error.code, error.field) == (code, field), error.details


def test_removal_steps_need_a_content_scope_and_take_no_duration() -> None:
    allowed = ["warn", "remove", "ban"]
    good = policy(
        allowed_actions=allowed, ladder=[{"strikes": 1, "action": "remove", "scope": "listing"}]
    )
    assert validate_policy(good).content["ladder"][0]["scope"] == "listing"
    bad = policy(
        allowed_actions=allowed,
        ladder=[{"strikes": 1, "action": "remove", "scope": "listing", "duration_days": 5}],
    )
    assert error_of(bad).code == "duration_not_allowed"


def test_restrictions_may_run_until_lifted() -> None:
    body = policy(ladder=[{"strikes": 1, "action": "restrict", "scope": "payouts"}])
    assert validate_policy(body).content["ladder"][0]["duration_days"] is None


def test_every_problem_is_listed_and_the_first_leads() -> None:
    body = policy(title="", severity="huge", user_title={"en": "Payments"})
    error = error_of(body)
    fields = [d["field"] for d in error.details]
    assert error.field == "title"
    assert {"title", "severity", "user_title.es", "user_title.pt"} <= set(fields)
    assert all(d["code"] and d["message"] for d in error.details)


def test_prefix_and_label_place_the_error_in_a_pack() -> None:
    body = policy(
        ladder=[
            {"strikes": 1, "action": "warn"},
            {"strikes": 2, "action": "restrict", "scope": "account"},
        ]
    )
    error = error_of(body, prefix="policies[4].", label="policy off_platform_payment: ")
    assert error.field == "policies[4].ladder[1].scope"
    assert error.message.startswith("policy off_platform_payment: ")


def test_illegal_content_policies_carry_their_legal_ground() -> None:
    spec = validate_policy(policy(**ILLEGAL))
    assert spec.content["dsa_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert spec.content["legal_ground"].startswith("Directive 2001/29/EC")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"severity": ["high"]}, "severity"),
        ({"default_action": {"warn": True}}, "default_action"),
        ({"allowed_actions": [["warn"]]}, "allowed_actions[0]"),
        ({"dsa_keywords": [{"KEYWORD_PHISHING": 1}]}, "dsa_keywords[0]"),
        ({"ladder": [{"strikes": 1, "action": ["warn"]}]}, "ladder[0].action"),
        (
            {"ladder": [{"strikes": 1, "action": "restrict", "scope": ["listing"]}]},
            "ladder[0].scope",
        ),
        ({"user_title": {"en": "a", "es": "b", "pt": "c", 7: "d"}}, "user_title.7"),
    ],
)
def test_odd_yaml_values_are_refused_not_crashed_on(changes: dict[str, Any], field: str) -> None:
    """A YAML pack can hold any shape; each one is a named error, never an exception."""
    assert error_of(policy(**changes)).field == field


def test_a_policy_must_be_a_mapping() -> None:
    error = error_of(["not", "a", "policy"])  # type: ignore[arg-type]
    assert error.code == "invalid_type"
