"""Search in a real Chromium: ``/`` focuses the header's search box, an email finds the
account (masked), and its case opens, all from the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD
from tests.web.conftest import seed_case

pytestmark = pytest.mark.browser


def _login(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    # The keys are bound by a deferred script: a key pressed before it ran would be lost.
    page.wait_for_load_state("load")


def _fits(page: Page) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_slash_an_email_and_enter_lead_to_the_accounts_case(page: Page, db: Session) -> None:
    email, case_id = seed_case(db)
    _login(page, email)

    page.keyboard.press("/")
    box = page.locator("#top-search-q")
    expect(box).to_be_focused()
    page.keyboard.type("Maria@Example.com")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/search\?q=Maria%40Example\.com$"))
    expect(page.get_by_role("heading", name=re.compile("Results"))).to_contain_text("by email")
    row = page.get_by_role("row").filter(has_text="u-100")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("m***a@example.com")
    expect(row).to_contain_text("María G.")
    expect(page.get_by_text("maria@example.com")).to_have_count(0)
    assert _fits(page)

    link = row.get_by_role("link", name=f"Open case #{case_id} of account u-100")
    link.focus()
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}$"))
    expect(page.get_by_role("heading", name=re.compile("Asked to pay outside"))).to_be_visible()

    assert page.problems == []  # type: ignore[attr-defined]
    assert page.outside_requests == []  # type: ignore[attr-defined]


def test_a_bad_search_puts_the_message_next_to_the_field_and_focuses_it(
    page: Page, db: Session
) -> None:
    email, _ = seed_case(db)
    _login(page, email)
    page.goto("/search/cases?created_from=2026-11-02&created_to=2026-11-01")
    to = page.get_by_label("Opened to")
    expect(to).to_be_focused()
    expect(to).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-created_to")).to_have_text("the end date is before the start date")
    # Fix it from the keyboard: clear the end date and search again.
    to.fill("")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search/cases\?"))
    expect(page.locator("#err-created_to")).to_have_count(0)
    expect(page.get_by_role("heading", name="Cases", exact=True)).to_be_visible()
    assert _fits(page)
    assert page.outside_requests == []  # type: ignore[attr-defined]
