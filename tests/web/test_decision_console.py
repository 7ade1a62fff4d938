"""The decision panel and the approvals screen in a real Chromium: an agent decides a case
with the keyboard and the ladder's help, previews and edits the Spanish message, and a ban
waits for a specialist who approves it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, make_staff
from tests.web.conftest import seed_case
from tests.web.test_decision_http import FACTS, account_of, case_of, catalog, decision_of, fetch
from vigil.accounts.models import AccountStatus
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases.models import CaseStatus
from vigil.communications.models import Message
from vigil.enforcement.models import DecisionStatus

pytestmark = pytest.mark.browser

SYSTEM = Principal.system("test")
EDITED = "Hola María: suspendimos tu cuenta durante 7 días por pedir pagos fuera de la plataforma."


def _login(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Queues")).to_be_visible()


def _arrange(db: Session) -> tuple[str, int]:
    email, case_id = seed_case(db)
    catalog(db)
    db.commit()
    return email, case_id


def _pick_policy(page: Page) -> None:
    policy = page.locator("#decision-policy")
    expect(policy).to_be_visible()
    page.keyboard.press("d")
    expect(policy).to_be_focused()
    policy.select_option("fee_circumvention")
    expect(page.get_by_text("Guidance for reviewers")).to_be_visible()


def test_an_agent_decides_a_suspension_with_the_spanish_message(page: Page, db: Session) -> None:
    email, case_id = _arrange(db)
    _login(page, email)
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}$"))

    _pick_policy(page)
    card = page.locator(".policy-card")
    expect(card).to_contain_text("Fee circumvention and off-platform payment")
    expect(card.locator(".examples-allowed")).to_contain_text("refuses a client's offer")
    expect(card.locator(".examples-not-allowed")).to_contain_text("PayPal.me link")
    suggestion = page.locator("#ladder-suggestion")
    expect(suggestion).to_contain_text("Ladder suggestion: Warn · account")
    expect(suggestion).to_contain_text("no active strikes")
    # The suggestion is in the form; a warning takes no end date.
    expect(page.get_by_label("Action", exact=True)).to_have_value("warn")
    expect(page.get_by_label("Duration (days)")).to_be_disabled()
    expect(page.locator("#departure-required")).to_be_hidden()

    page.get_by_label("Action", exact=True).select_option("suspend")
    expect(page.get_by_label("Duration (days)")).to_be_enabled()
    page.get_by_label("Duration (days)").fill("7")
    expect(page.locator("#departure-required")).to_be_visible()
    expect(page.locator("#decision-departure-reason")).to_have_attribute("aria-required", "true")
    page.locator("#decision-departure-reason").fill("She also threatened the client.")
    page.get_by_label("Internal reasoning (for staff; never shown to the user)").fill(
        "Asks for a bank transfer twice in the chat."
    )
    page.get_by_label("Facts and circumstances relied on").fill(FACTS)

    page.get_by_role("button", name=re.compile("Preview message")).click()
    preview = page.locator("#decision-preview")
    expect(preview.locator("#decision-preview-language")).to_have_text("In Spanish (es)")
    expect(preview.locator("#decision-preview-fallback")).to_have_count(0)
    expect(page.get_by_label("Subject")).to_have_value(re.compile("suspendida"))
    expect(page.get_by_label("Message (you may edit it)")).to_have_value(
        re.compile("durante 7 días")
    )
    statement = preview.locator("#decision-statement-section")
    expect(statement).to_contain_text("SOR-")
    expect(statement).to_contain_text(FACTS)

    page.get_by_label("Message (you may edit it)").fill(EDITED)
    page.get_by_role("button", name="Record decision").click()

    expect(page.get_by_role("status").first).to_contain_text(
        "Decision recorded and applied; the case is closed."
    )
    # The work loop moved on (home: nothing else waits); the case shows what was done.
    page.goto(f"/cases/{case_id}")
    panel = page.locator("#decision-panel")
    expect(panel).to_contain_text("applied")
    expect(panel).to_contain_text("Suspend · account · 7 days")
    expect(panel.locator(".decision-messages")).to_contain_text("es")
    expect(page.locator("#decision-form")).to_have_count(0)
    expect(page.locator("#timeline")).to_contain_text("recorded a decision")
    expect(page.locator("#timeline")).to_contain_text("sent a message to the user by email (es)")

    case = case_of(db, case_id)
    assert case.status == CaseStatus.closed and case.account_id is not None
    assert account_of(db, case.account_id).status == AccountStatus.suspended
    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.applied
    assert decision.departure_reason == "She also threatened the client."
    sent = fetch(db, Message, Message.case_id == case_id)
    assert sent and all(m.body.startswith(EDITED) and "SOR-" in m.body for m in sent)
    assert page.problems == []  # type: ignore[attr-defined]
    assert page.outside_requests == []  # type: ignore[attr-defined]


def test_a_ban_by_an_agent_waits_until_a_specialist_approves(page: Page, db: Session) -> None:
    email, case_id = _arrange(db)
    specialist = make_staff(db, role=Role.specialist, name="Sam Specialist").email
    db.commit()
    _login(page, email)
    page.goto(f"/cases/{case_id}")
    page.get_by_role("button", name="Take this case").click()

    _pick_policy(page)
    page.get_by_label("Action", exact=True).select_option("ban")
    expect(page.get_by_label("Duration (days)")).to_be_disabled()
    page.locator("#decision-departure-reason").fill("A scam with a fake payment page.")
    page.get_by_label("Internal reasoning (for staff; never shown to the user)").fill(
        "Sent a fake checkout link."
    )
    page.get_by_label("Facts and circumstances relied on").fill(FACTS)
    page.get_by_role("button", name=re.compile("Preview message")).click()
    expect(page.locator("#decision-preview")).to_contain_text("needs a second approver")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").first).to_contain_text("waits for a specialist")
    page.goto(f"/cases/{case_id}")

    expect(page.locator("#decision-waiting")).to_contain_text("waiting for a specialist's approval")
    expect(page.locator("#decision-form")).to_have_count(0)
    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.pending_approval
    # An agent has no approvals screen.
    expect(page.get_by_role("link", name=re.compile("Approvals"))).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    _login(page, specialist)
    approvals = page.get_by_role("link", name=re.compile("Approvals"))
    expect(approvals).to_contain_text("1")
    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(r"/approvals$"))
    item = page.locator(f"#approval-{decision.id}")
    expect(item).to_contain_text("Ban (remove the account) · account")
    expect(item).to_contain_text("Elena Ruiz")
    expect(item).to_contain_text("Sent a fake checkout link.")
    expect(item.locator(".statement-section")).to_contain_text("SOR-")
    item.get_by_label("Note (optional)").fill("Checked the checkout link.")
    item.get_by_role("button", name=re.compile("Approve and apply")).click()
    expect(page.get_by_role("status").first).to_contain_text("Decision approved and applied.")
    expect(page.get_by_text("No decision is waiting for approval.")).to_be_visible()

    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.applied
    case = case_of(db, case_id)
    assert case.status == CaseStatus.closed and case.account_id is not None
    assert account_of(db, case.account_id).status == AccountStatus.removed
    page.goto(f"/cases/{case_id}")
    expect(page.locator("#decision-panel")).to_contain_text("Checked the checkout link.")
    assert page.problems == []  # type: ignore[attr-defined]
    assert page.outside_requests == []  # type: ignore[attr-defined]
