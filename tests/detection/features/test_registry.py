"""The registry: names unique and well formed, types known, every feature documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vigil.detection.features.inputs import Need
from vigil.detection.features.registry import (
    CEL_TYPES,
    Feature,
    Registry,
    declared,
    default_for,
    described,
    registry,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "features.md"


def noop(_: object) -> int:
    return 0


def test_declared_names_and_types() -> None:
    types = declared()
    assert len(types) == len(registry()) > 50
    assert set(types.values()) <= set(CEL_TYPES)
    # The names other parts rely on (the default ruleset, the contract's examples).
    for name, cel_type in {
        "account_age_days": "int",
        "messages_1h": "int",
        "distinct_counterparties_24h": "int",
        "accounts_on_device_24h": "int",
        "accounts_on_payment_7d": "int",
        "ip_accounts_24h": "int",
        "linked_accounts": "int",
        "linked_banned_accounts": "int",
        "linked_by": "list_string",
        "contact_details_count": "int",
        "off_platform_score": "double",
        "scam_score": "double",
        "abuse_score": "double",
        "is_first_message": "bool",
        "payout_minutes_after_signup": "int",
        "reviews_1h_for_counterparty": "int",
    }.items():
        assert types[name] == cel_type, name


def test_declared_is_a_copy() -> None:
    declared()["messages_1h"] = "string"
    assert declared()["messages_1h"] == "int"


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ([Feature("a_b", "int", "x", noop), Feature("a_b", "bool", "y", noop)], "twice"),
        ([Feature("MessagesLastHour", "int", "x", noop)], "snake_case"),
        ([Feature("trailing_", "int", "x", noop)], "snake_case"),
        ([Feature("a", "float", "x", noop)], "unknown CEL type"),  # type: ignore[arg-type]
        ([Feature("a", "int", " ", noop)], "no description"),
    ],
)
def test_a_bad_declaration_is_refused(features: list[Feature], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Registry(features)


def test_groups_by_need_cover_every_feature() -> None:
    groups = registry().by_need()
    assert set(groups) == set(Need)
    assert sum(len(g) for g in groups.values()) == len(registry())
    assert all(f.need is Need.velocity for f in groups[Need.velocity])
    assert {f.name for f in groups[Need.links]} == {
        "linked_accounts",
        "linked_banned_accounts",
        "linked_by",
    }


def test_defaults_are_the_zero_of_each_type() -> None:
    assert [default_for(t) for t in CEL_TYPES] == [0, 0.0, False, "", []]
    defaults = registry().defaults()
    assert set(defaults) == set(declared())


def test_every_feature_is_in_the_docs_with_its_type() -> None:
    rows = dict(re.findall(r"^\| `([a-z0-9_]+)` \| ([a-z_]+) \|", DOCS.read_text(), re.M))
    assert rows == {name: cel_type for name, cel_type, _ in described()}
