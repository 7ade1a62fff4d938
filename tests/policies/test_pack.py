"""Policy packs: the shipped marketplace pack, idempotent loading, and packs that are refused
whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.policies.helpers import SYSTEM, counts, policy
from vigil.kit.errors import InvalidInput
from vigil.policies import ladder, service
from vigil.policies.models import PolicyVersion
from vigil.policies.pack import DEFAULT_PACK, load_pack, parse_pack, read_pack

SHIPPED = [
    "fee_circumvention",
    "fraud_scams",
    "fake_identity",
    "duplicate_accounts",
    "harassment_threats",
    "prohibited_services",
    "fake_reviews",
    "spam",
    "intellectual_property",
    "underage_users",
    "sanctioned_persons",
    "misrepresented_qualifications",
    "discrimination",
    "illegal_services",
    "unsafe_services",
    "payment_abuse",
]


def copy_pack(tmp_path: Path) -> tuple[Path, dict]:  # type: ignore[type-arg]
    data = yaml.safe_load(DEFAULT_PACK.read_text(encoding="utf-8"))
    path = tmp_path / "pack.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, data


def write(path: Path, data: dict) -> None:  # type: ignore[type-arg]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


# --- the shipped pack -------------------------------------------------------------------------


def test_the_shipped_pack_covers_the_marketplace_catalog() -> None:
    pack = read_pack()
    assert pack.name == "marketplace"
    assert [p.code for p in pack.policies] == SHIPPED


def test_every_shipped_policy_is_complete() -> None:
    for spec in read_pack().policies:
        c = spec.content
        assert 2 <= len(c["examples_allowed"]) <= 4, spec.code
        assert 2 <= len(c["examples_not_allowed"]) <= 4, spec.code
        assert len(c["guidance"]) > 600, spec.code  # real guidance, not a one-liner
        assert set(c["user_title"]) == set(c["user_explanation"]) == {"en", "es", "pt"}
        for locale in ("es", "pt"):  # translated, not copied
            assert c["user_explanation"][locale] != c["user_explanation"]["en"], spec.code
        assert c["tos_ground"].startswith("Terms of Service, section "), spec.code
        # The clause in plain words in each language, quoting the same section.
        assert set(c["user_ground"]) == {"en", "es", "pt"}, spec.code
        section = c["tos_ground"].split(":")[0].rsplit(" ", 1)[-1]
        for locale, text in c["user_ground"].items():
            assert section in text, (spec.code, locale)
        assert len(set(c["user_ground"].values())) == 3, spec.code
        if c["dsa_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT":
            assert c["legal_ground"] and c["illegal_explanation"], spec.code


def test_the_shipped_severities_and_ladders_follow_the_harm() -> None:
    by_code = {p.code: p.content for p in read_pack().policies}
    fee = [ladder.LadderStep.of(s) for s in by_code["fee_circumvention"]["ladder"]]
    assert [(s.strikes, s.action, s.scope, s.duration_days) for s in fee] == [
        (1, "warn", "account", None),
        (2, "restrict", "message", 14),
        (3, "suspend", "account", 7),
        (4, "ban", "account", None),
    ]
    for code in ("fraud_scams", "illegal_services", "sanctioned_persons"):
        assert by_code[code]["severity"] == "critical"
        assert by_code[code]["ladder"][0]["action"] == "ban", code
    assert by_code["underage_users"]["ladder"] == [
        {"strikes": 1, "action": "suspend", "scope": "account", "duration_days": 30}
    ]
    illegal = {
        c for c, p in by_code.items() if p["dsa_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    }
    assert illegal == {
        "fraud_scams",
        "intellectual_property",
        "sanctioned_persons",
        "illegal_services",
    }


# --- loading ----------------------------------------------------------------------------------


def test_loading_twice_writes_once(db: Session) -> None:
    result = load_pack(db, SYSTEM)
    db.commit()
    assert result.created == SHIPPED and result.updated == [] and result.unchanged == []
    assert len(service.list_policies(db)) == len(SHIPPED) >= 11
    first = counts(db)

    again = load_pack(db, SYSTEM)
    db.commit()
    assert again.created == [] and again.updated == [] and again.unchanged == SHIPPED
    assert counts(db) == first  # no version, no audit record
    version = service.resolve(db, "fee_circumvention")
    assert (version.version, version.change_reason) == (1, "policy pack marketplace loaded")


def test_an_edited_pack_gives_the_edited_policy_a_new_version(db: Session, tmp_path: Path) -> None:
    path, data = copy_pack(tmp_path)
    load_pack(db, SYSTEM, path)
    db.commit()
    data["policies"][0]["ladder"][2]["duration_days"] = 14
    data["policies"][7]["severity"] = "medium"
    write(path, data)

    result = load_pack(db, SYSTEM, path)
    db.commit()
    assert result.updated == ["fee_circumvention", "spam"]
    assert len(result.unchanged) == len(SHIPPED) - 2
    fee = service.resolve(db, "fee_circumvention")
    assert fee.version == 2 and fee.ladder[2]["duration_days"] == 14
    assert fee.change_reason == "policy pack marketplace loaded"
    assert service.get_version(db, "fee_circumvention", 1).ladder[2]["duration_days"] == 7
    assert service.resolve(db, "fraud_scams").version == 1


def test_a_pack_does_not_touch_policies_it_does_not_name_nor_revive_retired_ones(
    db: Session, tmp_path: Path
) -> None:
    service.create_policy(db, SYSTEM, policy(code="local_rule"))
    load_pack(db, SYSTEM)
    service.retire_policy(db, SYSTEM, "spam", reason="handled by the anti-spam vendor")
    db.commit()
    result = load_pack(db, SYSTEM)
    db.commit()
    assert result.retired == ["spam"]
    assert service.get_policy(db, "spam").retired
    assert service.resolve(db, "local_rule").version == 1


def test_one_bad_policy_and_nothing_is_written(db: Session, tmp_path: Path) -> None:
    path, data = copy_pack(tmp_path)
    data["policies"][4]["ladder"][1]["scope"] = "listing"  # harassment: suspend a listing?
    write(path, data)
    before = counts(db)
    with pytest.raises(InvalidInput) as caught:
        load_pack(db, SYSTEM, path)
    db.rollback()
    error = caught.value
    assert (error.code, error.field) == ("scope_not_allowed", "policies[4].ladder[1].scope")
    assert "harassment_threats" in error.message
    assert counts(db) == before == (0, 0, 0)


def test_a_bad_policy_in_an_update_leaves_every_policy_as_it_was(
    db: Session, tmp_path: Path
) -> None:
    path, data = copy_pack(tmp_path)
    load_pack(db, SYSTEM, path)
    db.commit()
    before = counts(db)
    data["policies"][0]["title"] = "Fee avoidance"  # a fine change...
    data["policies"][10]["user_title"].pop("pt")  # ...and a broken one later in the file
    write(path, data)
    with pytest.raises(InvalidInput) as caught:
        load_pack(db, SYSTEM, path)
    db.rollback()
    assert caught.value.field == "policies[10].user_title.pt"
    assert "sanctioned_persons" in caught.value.message
    assert counts(db) == before
    assert service.resolve(db, "fee_circumvention").title.startswith("Fee circumvention")


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        ("pack: x\npolicies: [\n", "invalid_pack", "file"),
        ("- just\n- a list\n", "invalid_pack", "file"),
        ("pack: Not A Slug\npolicies: []\n", "invalid_pack", "pack"),
        ("pack: mine\npolicies: []\n", "invalid_pack", "policies"),
        ("pack: mine\nversion: 2\npolicies: []\n", "unknown_field", "version"),
        ("pack: mine\npolicies: [42]\n", "invalid_pack", "policies[0]"),
    ],
)
def test_malformed_packs_are_refused(text: str, code: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_pack(text)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_a_yaml_syntax_error_says_where() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_pack("pack: mine\npolicies:\n  - code: [unclosed\n")
    assert "line" in caught.value.message


def test_the_same_code_twice_in_a_pack_is_refused() -> None:
    text = yaml.safe_dump({"pack": "mine", "policies": [policy(), policy(title="Again")]})
    with pytest.raises(InvalidInput) as caught:
        parse_pack(text)
    assert (caught.value.code, caught.value.field) == ("duplicate_policy", "policies[1].code")


def test_a_missing_pack_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_pack(tmp_path / "nope.yaml")
    assert (caught.value.code, caught.value.field) == ("pack_not_found", "file")


def test_versions_loaded_from_the_pack_read_back_exactly(db: Session) -> None:
    load_pack(db, SYSTEM)
    db.commit()
    db.expire_all()
    specs = {p.code: p for p in read_pack().policies}
    for version in db.scalars(select(PolicyVersion)):
        assert specs[version.code].differs_from(version) == [], version.code
