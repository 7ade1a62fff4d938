"""Story: a policy lead tunes a draft rule. The expression is edited with a typo, the console
says where it is as it is typed, the fix type-checks; the new version is saved, backtested
against the old one over stored events (with reviewers' decisions as labels), and the rule is
moved to shadow with a reason."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.detection.conftest import make_account
from tests.detection.rules.test_backtest import _cleared, _decide, stored_event
from tests.factories import make_staff
from tests.web.e2e import assert_clean, login, screenshot
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.config import Settings
from vigil.detection.rules import engine, service
from vigil.detection.rules.models import Rule, RuleState
from vigil.kit import clock
from vigil.policies import pack as policy_pack

pytestmark = pytest.mark.browser

SYSTEM = Principal.system("test")
RULE = "burst_messaging"


def _world(db: Session, settings: Settings) -> str:
    """A draft rule (v1: more than 20 messages an hour) and three senders over the last
    day: Alice (30 an hour, decided as spam), Bob (15, reviewed and cleared), Carol (5).
    Returns the policy lead's email (committed)."""
    engine.clear_cache()
    routing.ensure_default_queues(db)
    policy_pack.load_pack(db, SYSTEM)
    lead = make_staff(db, role=Role.policy_lead, name="Priya Lead")
    service.create_rule(
        db,
        SYSTEM,
        {
            "name": RULE,
            "description": "Many messages within an hour.",
            "expression": "features.messages_1h > 20",
            "score": 40,
            "outcome": "review",
            "policy_code": "spam",
            "queue": "detection",
            "tags": ["spam"],
            "event_types": ["message_sent"],
        },
        state="draft",
    )
    at = clock.now() - timedelta(hours=6)
    alice, bob, carol = (make_account(db, f"bt-{n}") for n in ("alice", "bob", "carol"))
    for account, rate in ((alice, 30), (bob, 15), (carol, 5)):
        stored_event(db, account, at, {"messages_1h": rate})
    _decide(db, settings, alice, "spam")
    _cleared(db, bob, "spam")
    db.commit()
    return lead.email


def test_a_policy_lead_fixes_a_rule_backtests_it_and_moves_it_to_shadow(
    page: Page, db: Session, settings: Settings
) -> None:
    email = _world(db, settings)
    login(page, email)

    page.get_by_role("link", name="Rules", exact=True).first.click()
    page.get_by_role("link", name=RULE).first.click()
    expect(page.get_by_role("heading", name=RULE, level=1)).to_be_visible()
    page.get_by_role("link", name=re.compile("Edit")).click()

    # A typo: the console names the spot while the expression is being typed.
    expression = page.get_by_label(re.compile(r"^Expression"))
    expression.fill("")
    expression.press_sequentially("features.mesages_1h > 10")
    check = page.locator("#expression-check")
    expect(check).to_contain_text("line 1, column")
    expect(check).to_contain_text("mesages_1h")
    screenshot(page, "rules-edit-compile-error")

    # Fixed: it type-checks, and says what it reads.
    expression.fill("")
    expression.press_sequentially("features.messages_1h > 10")
    expect(check).to_contain_text("type-checks")
    expect(check).to_contain_text("features.messages_1h")
    page.get_by_label(re.compile(r"^Why")).fill("Catch bursts from 10 an hour.")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_role("status")).to_contain_text("Saved as a new version.")
    expect(page.locator("pre").filter(has_text="features.messages_1h > 10")).to_be_visible()

    # Backtest v2 against v1 over the last week.
    page.get_by_role("button", name=re.compile(r"Backtest v2 .* against v1")).click()
    expect(page).to_have_url(re.compile(r"/rules/backtests/\d+$"))
    results = page.locator("#backtest-results")
    expect(results.get_by_role("heading", name="3 events replayed")).to_be_visible()
    row = results.get_by_role("row").filter(has_text=f"{RULE} v2")
    # Alice and Bob: one true positive, one false positive → 50% precision.
    expect(row.get_by_role("cell")).to_contain_text(["2", "2", "0", "1", "1", "0", "50%"])
    side = page.get_by_role("region", name=re.compile("Side by side"))
    expect(side.get_by_role("row").filter(has_text=RULE)).to_contain_text("100%")
    screenshot(page, "rules-backtest-results")

    # To shadow, with a reason: it runs and is recorded, without effect.
    page.get_by_role("link", name=f"{RULE}").first.click()
    page.get_by_label("Reason to move to shadow").fill("Watch it for a week before it counts.")
    page.get_by_role("button", name="Move to shadow").click()
    expect(page.get_by_role("status")).to_contain_text("State changed.")
    expect(page.locator(".case-head .chip").first).to_have_text("shadow")

    db.expire_all()
    rule = service.get_rule(db, RULE)
    assert isinstance(rule, Rule)
    assert (rule.state, rule.current_version) == (RuleState.shadow, 2)
    db.rollback()
    assert_clean(page)
