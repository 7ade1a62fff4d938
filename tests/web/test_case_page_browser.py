"""The case page in a real Chromium: one screen at 1280 px without sideways scrolling, the
evidence marked, ``d`` puts the cursor on the policy picker, nothing from another host."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD
from tests.web.test_case_page import _clock, seed  # noqa: F401 (the frozen clock fixture)
from vigil.auth.models import StaffUser
from vigil.config import Settings

pytestmark = pytest.mark.browser


def test_the_case_page_fits_and_works_by_keyboard(
    page: Page, db: Session, settings: Settings
) -> None:
    s = seed(db, settings, events=200)
    agent = db.get(StaffUser, s.agent_id)
    assert agent is not None
    email = agent.email
    db.rollback()
    page.goto(f"/cases/{s.case_id}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"/cases/{s.case_id}$"))

    for width, height in ((1280, 800), (1366, 768), (1440, 900)):
        page.set_viewport_size({"width": width, "height": height})
        sideways = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert sideways <= 0, f"horizontal scroll of {sideways}px at {width}px"
    page.set_viewport_size({"width": 1280, "height": 800})
    # Two columns at 1280 px: the decision side sits to the right of the evidence.
    main = page.locator(".case-main").bounding_box()
    side = page.locator(".case-side").bounding_box()
    assert main is not None and side is not None and side["x"] > main["x"] + main["width"] - 1

    expect(page.locator("#evidence-panel mark.hit").first).to_be_visible()
    expect(page.locator("#events tbody tr")).to_have_count(200)
    expect(page.locator("#grey-areas")).to_contain_text("Sharing a portfolio link")

    expect(page.locator("#decision-policy")).to_be_attached()  # the panel has arrived
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("d")
    expect(page.locator("#decision-policy")).to_be_focused()
    assert page.outside_requests == []  # type: ignore[attr-defined]
