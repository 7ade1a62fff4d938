"""The shipped ruleset and the pack loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from tests.detection.rules.conftest import SYSTEM, written
from vigil.detection.rules import compiler, engine, pack, service
from vigil.detection.rules.models import RuleState
from vigil.kit.errors import InvalidInput
from vigil.policies.pack import read_pack as read_policy_pack

pytestmark = pytest.mark.usefixtures("catalog")

SHIPPED = yaml.safe_load(pack.DEFAULT_PACK.read_text())


def test_the_default_pack_loads_and_every_rule_compiles(db: Session) -> None:
    result = pack.load_pack(db, SYSTEM)
    assert result.name == "marketplace"
    assert len(result.created) == len(SHIPPED["rules"]) >= 20
    rows, _ = service.list_page(db, limit=500)
    assert len(rows) == len(SHIPPED["rules"])
    schema = compiler.current_schema()
    for rule, version in rows:
        _compiled, problems = compiler.check(version.expression, schema)
        assert problems == [], (rule.name, problems)
        assert rule.state in (RuleState.active, RuleState.shadow)
    # Every live rule is in the engine of each event type it names; none is broken.
    for event_type in {t for _, v in rows for t in v.event_types}:
        built = engine.engine_for(db, event_type)
        assert len(built) > 0 and built.broken == []


def test_the_default_pack_covers_what_a_marketplace_needs() -> None:
    names = {r["name"] for r in SHIPPED["rules"]}
    for needed in (
        "new_account_mass_messaging",
        "contact_details_in_first_message",
        "off_platform_payment_request",
        "shared_device_with_banned_account",
        "payout_right_after_signup",
        "review_burst_for_counterparty",
        "many_accounts_on_payment_instrument",
        "scam_text_high",
        "abuse_text_high_in_messages",
        "signup_from_busy_device",
        "proposal_spam_new_account",
    ):
        assert needed in names
    codes = {p.code for p in read_policy_pack().policies}
    assert {r["policy_code"] for r in SHIPPED["rules"] if r.get("policy_code")} <= codes


def test_loading_again_writes_nothing_and_keeps_the_owners_state(db: Session) -> None:
    pack.load_pack(db, SYSTEM)
    service.change_state(db, SYSTEM, "scam_text_high", "disabled", reason="too noisy here")
    before = written(db)
    again = pack.load_pack(db, SYSTEM)
    assert again.created == [] and again.updated == []
    assert written(db) == before
    assert service.get_rule(db, "scam_text_high").state is RuleState.disabled


def test_a_changed_rule_gets_a_new_version(db: Session, tmp_path: Path) -> None:
    pack.load_pack(db, SYSTEM)
    data = yaml.safe_load(pack.DEFAULT_PACK.read_text())
    data["rules"][0]["score"] = 65
    changed = tmp_path / "pack.yaml"
    changed.write_text(yaml.safe_dump(data))
    result = pack.load_pack(db, SYSTEM, changed)
    assert result.updated == [data["rules"][0]["name"]]
    _rule, version = service.get_current(db, data["rules"][0]["name"])
    assert version.version == 2 and version.change_reason == "rule pack marketplace loaded"


def test_one_bad_rule_and_nothing_is_written(db: Session, tmp_path: Path) -> None:
    data = yaml.safe_load(pack.DEFAULT_PACK.read_text())
    data["rules"][3]["expression"] = "features.messages_1h > 'lots'"
    bad = tmp_path / "pack.yaml"
    bad.write_text(yaml.safe_dump(data))
    before = written(db)
    with pytest.raises(InvalidInput) as raised:
        pack.load_pack(db, SYSTEM, bad)
    assert raised.value.code == "rule_invalid"
    assert raised.value.field == "rules[3].expression"
    assert raised.value.details[0]["line"] == 1
    assert written(db) == before


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("pack: [", "file"),
        ("rules: []\npack: x", "rules"),
        ("pack: x\nrules:\n  - 3", "rules[0]"),
        ("pack: x\nextra: 1\nrules: []", "extra"),
    ],
)
def test_malformed_packs_are_named(db: Session, text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        pack.parse_pack(db, text)
    assert raised.value.field == field
