"""Every main screen of the console, as each role sees it, checked in a real Chromium: no axe-core
violation of impact serious or critical, no horizontal scrolling at 1280x800, 1366x768 and
1440x900, a visible focus ring on every Tab stop, no request to another host and no console
error. Each screen's screenshot is saved to ``artifacts/screenshots/``.

Markup and CSS are the same on both databases, so these run on SQLite only (the stories in
``test_e2e_*`` run on both). Each test walks one role's screens and fails once, listing every
problem of every screen with the element at fault, so one run tells each owner what to fix.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import body
from tests.factories import make_staff
from tests.servers import WebhookReceiver
from tests.web.e2e import Report, check_screen, login, logout, settle
from tests.web.test_e2e_casework import _decide_suspension, _world
from tests.web.test_e2e_rules import RULE
from tests.web.test_e2e_rules import _world as rules_world
from tests.web.test_identity_http import seed_review
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.config import Settings
from vigil.detection.rules import backtest
from vigil.enforcement import service as enforcement
from vigil.enforcement.schemas import DecisionIn
from vigil.policies import service as policies

pytestmark = [pytest.mark.browser, pytest.mark.only_backend("sqlite")]

SYSTEM = Principal.system("test")


def _staff(db: Session, email: str) -> StaffUser:
    return db.scalars(select(StaffUser).where(StaffUser.email == email)).one()


def _visit(page: Page, report: Report, url: str, name: str) -> None:
    page.goto(url)
    settle(page)
    report.add(check_screen(page, name).problems)


def _fail_on(report: Report) -> None:
    assert not report, f"{len(report.problems)} problem(s) on the console's screens:\n{report}"


def test_an_agents_screens(page: Page, db: Session, webhook_receiver: WebhookReceiver) -> None:
    w = _world(db, webhook_receiver)
    report = Report()
    login(page, w.agent_email)
    report.add(check_screen(page, "home-agent").problems)

    page.get_by_role("link", name="Spanish").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Spanish")
    report.add(check_screen(page, "queue").problems)

    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{w.case_id}$"))
    report.add(check_screen(page, "case").problems)

    _decide_suspension(page)
    report.add(check_screen(page, "case-decision-open").problems)

    _visit(page, report, "/my-cases", "my-cases")
    _visit(page, report, "/search", "search")
    _visit(page, report, "/search?q=u-100", "search-results")
    _visit(page, report, "/search/cases?status=open", "search-cases")
    _fail_on(report)


def test_identity_review_screens(page: Page, db: Session, settings: Settings) -> None:
    s = seed_review(db, settings)
    report = Report()
    login(page, s.agent.email, "/identity")
    expect(page.get_by_role("heading", name=re.compile("Identity reviews"))).to_be_visible()
    report.add(check_screen(page, "identity-list").problems)

    page.goto(f"/identity/verifications/{s.verification_id}")
    expect(page.locator("html[data-identity-keys=ready]")).to_be_attached()
    report.add(check_screen(page, "identity-review").problems)

    page.keyboard.press("r")
    expect(page.locator("#idv-reject-dialog")).to_be_visible()
    report.add(check_screen(page, "identity-reject-dialog", focus=False).problems)
    _fail_on(report)


def test_a_specialists_screens(
    page: Page, db: Session, settings: Settings, webhook_receiver: WebhookReceiver
) -> None:
    """Home with escalations and approvals waiting, the approvals list and one approval."""
    w = _world(db, webhook_receiver)
    specialist = make_staff(db, role=Role.specialist, name="Sam Lee", languages=["es", "en"])
    agent = auth_service.principal_for(_staff(db, w.agent_email))
    cases.assign(db, SYSTEM, w.case_id, staff_id=agent.staff_id)
    decision = enforcement.decide(
        db,
        agent,
        w.case_id,
        DecisionIn(
            **body(
                actions=[{"type": "ban", "scope": "account"}],
                departure_reason="A scam with a fake payment page.",
            )
        ),
        settings=settings,
    )
    cases.escalate(db, SYSTEM, w.next_case_id, reason="Needs a specialist.")
    db.commit()

    report = Report()
    login(page, specialist.email)
    report.add(check_screen(page, "home-specialist").problems)
    _visit(page, report, "/approvals", "approvals")
    _visit(page, report, f"/approvals/{decision.id}", "approval")
    _fail_on(report)


def test_a_policy_leads_screens(page: Page, db: Session, settings: Settings) -> None:
    email = rules_world(db, settings)
    policies.update_policy(
        db,
        SYSTEM,
        "fee_circumvention",
        {"severity": "high"},
        change_reason="More harm than we thought.",
    )
    lead = auth_service.principal_for(_staff(db, email))
    target = backtest.parse_target_text(db, f"{RULE}@1", field="target")
    run = backtest.create(db, lead, settings, since=None, until=None, target=target)
    db.commit()

    report = Report()
    login(page, email)
    report.add(check_screen(page, "home-policy-lead").problems)
    _visit(page, report, "/policies", "policies")
    _visit(page, report, "/policies/fee_circumvention", "policy")
    _visit(page, report, "/policies/fee_circumvention/diff?from=1&to=2", "policy-diff")
    _visit(page, report, "/rules", "rules")
    _visit(page, report, f"/rules/{RULE}", "rule")
    _visit(page, report, f"/rules/{RULE}/edit", "rule-edit")
    _visit(page, report, "/rules/backtests", "backtests")
    _visit(page, report, f"/rules/backtests/{run.id}", "backtest")
    logout(page)
    _fail_on(report)
