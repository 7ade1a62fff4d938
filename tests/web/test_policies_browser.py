"""A policy lead in a real Chromium: opens the catalog from the nav, reads a policy's grey
areas, goes back to an older version and compares two versions, with the keyboard for the
comparison; the pages fit 1280 px and fetch nothing from any other host."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, make_staff
from tests.policies.helpers import SYSTEM
from vigil.auth.permissions import Role
from vigil.policies import service
from vigil.policies.pack import load_pack

pytestmark = pytest.mark.browser
CODE = "fee_circumvention"
NEW_AREA = {
    "title": "Quoting a price for work outside the order",
    "guidance": "A quote for extra work sent as a platform offer is fine; 'in cash' is not.",
}


def _fits(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def test_a_policy_lead_reads_grey_areas_and_compares_versions(page: Page, db: Session) -> None:
    lead = make_staff(db, role=Role.policy_lead, name="Pat Lead")
    load_pack(db, SYSTEM)
    _policy, v1 = service.get_current(db, CODE)
    service.update_policy(
        db,
        SYSTEM,
        CODE,
        {"grey_areas": [*v1.grey_areas, NEW_AREA], "strike_ttl_days": 180},
        change_reason="quotes outside the order keep coming up",
    )
    db.commit()

    page.goto("/")
    page.get_by_label("Email").fill(lead.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policies").click()
    expect(page.get_by_role("heading", name="Policies", level=1)).to_be_visible()
    _fits(page)

    page.get_by_role("link", name="Fee circumvention and off-platform payment").click()
    expect(page).to_have_url(re.compile(rf"/policies/{CODE}$"))
    grey = page.get_by_role("region", name=re.compile("Grey areas"))
    expect(grey).to_contain_text("Sharing a portfolio link")
    expect(grey).to_contain_text("Asking for a phone number to coordinate an on-site visit")
    expect(grey).to_contain_text(NEW_AREA["title"])
    expect(page.get_by_role("region", name="Versions", exact=True)).to_contain_text(
        "quotes outside the order keep coming up"
    )
    _fits(page)

    # The older version says less, and says so.
    page.get_by_role("region", name="Versions", exact=True).get_by_role(
        "link", name="v1", exact=True
    ).click()
    expect(page.get_by_role("status")).to_contain_text("You are reading version 1")
    expect(page.get_by_role("region", name=re.compile("Grey areas"))).not_to_contain_text(
        NEW_AREA["title"]
    )

    # Compare with the keyboard: the picker already holds v1 → v2 here; Enter on the button.
    page.get_by_label("From").focus()
    expect(page.get_by_label("From")).to_have_value("1")
    page.keyboard.press("Tab")
    expect(page.get_by_label("To")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Compare")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/policies/{CODE}/diff\?from=1&to=2$"))
    expect(page.get_by_role("heading", name=re.compile("v1 → v2"), level=1)).to_be_visible()
    changes = page.get_by_role("region", name="2 fields changed", exact=True)
    expect(changes.locator(".diff-added")).to_contain_text(NEW_AREA["title"])
    expect(changes.get_by_role("article", name="Strikes count for (days)")).to_contain_text("365")
    expect(changes.locator("ins")).to_contain_text(["180"])
    _fits(page)

    assert page.problems == []  # type: ignore[attr-defined]
    assert page.outside_requests == []  # type: ignore[attr-defined]
