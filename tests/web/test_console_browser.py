"""The console shell in a real Chromium: log in, see the queues, take the next case with the
keyboard, read the account, write a note, escalate; nothing is fetched from any other host."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD
from tests.web.conftest import seed_case
from vigil.audit.models import AuditRecord
from vigil.auth.principal import Principal
from vigil.cases.models import Case, CaseStatus

pytestmark = pytest.mark.browser

SYSTEM = Principal.system("test")


def _login(page: Page, email: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Queues")).to_be_visible()


def test_agent_takes_next_case_writes_note_and_escalates(page: Page, db: Session) -> None:
    email, case_id = seed_case(db)
    _login(page, email)

    spanish = page.get_by_role("row").filter(has_text="Spanish")
    expect(spanish).to_contain_text("1")

    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}$"))
    expect(page.get_by_role("heading", name=re.compile("Asked to pay outside"))).to_be_visible()
    expect(page.get_by_text("Me pidió que le pagara")).to_be_visible()
    # Personal data is masked until revealed with a reason.
    expect(page.get_by_text("m***a@example.com").first).to_be_visible()
    expect(page.get_by_text("maria@example.com")).to_have_count(0)

    page.keyboard.press("c")
    expect(page.get_by_label("Note (never shown to the user)")).to_be_focused()
    page.keyboard.type("Asks for a bank transfer in the chat.")
    page.get_by_role("button", name=re.compile("Add note")).click()
    expect(page.locator("#timeline")).to_contain_text("Asks for a bank transfer in the chat.")
    expect(page.get_by_label("Note (never shown to the user)")).to_have_value("")

    page.keyboard.press("Escape")  # leave the note form's button: keys act again
    page.keyboard.press("e")
    page.keyboard.type("Payment steering with a threat; needs a specialist.")
    page.get_by_role("button", name=re.compile("Escalate")).click()
    expect(page.get_by_role("status")).to_contain_text("Case escalated")
    page.goto(f"/cases/{case_id}")
    page.keyboard.press("q")  # a case's queue, then home
    expect(page).to_have_url(re.compile(r"/queues/\d+$"))
    page.keyboard.press("q")
    expect(page).to_have_url(re.compile(r"/$"))

    db.expire_all()
    case = db.get(Case, case_id)
    assert case is not None
    assert case.status == CaseStatus.open
    assert case.tier.value == "specialist"
    assert case.assignee_id is None
    assert page.problems == []  # type: ignore[attr-defined]
    assert page.outside_requests == []  # type: ignore[attr-defined]


def test_reveal_needs_a_reason_and_is_audited(page: Page, db: Session) -> None:
    email, case_id = seed_case(db)
    _login(page, email)
    page.goto(f"/cases/{case_id}")
    page.get_by_text("Reveal personal data").click()
    page.get_by_label("Reason (recorded in the audit log)").fill("Checking the payment email")
    page.get_by_role("button", name="Reveal").click()
    expect(page.get_by_text("maria@example.com").first).to_be_visible()

    db.expire_all()
    reveal = db.scalar(select(AuditRecord).where(AuditRecord.action == "accounts.account.reveal"))
    assert reveal is not None
    assert reveal.reason == "Checking the payment email"


def test_wrong_password_stays_on_login_with_a_message(page: Page, db: Session) -> None:
    email, _ = seed_case(db)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("email or password is wrong")
    expect(page.get_by_label("Email")).to_have_value(email)
