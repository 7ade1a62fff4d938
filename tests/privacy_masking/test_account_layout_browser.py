"""The console account page (/identity/accounts/<id>) in a real Chromium at 1280 px, as legal
sees it with the legal holds panel: no horizontal scroll, the verifications table keeps its
width (tester A6), and the personal data stays masked until a reason is typed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, make_staff
from tests.web.test_identity_http import seed_review
from vigil.auth.permissions import Role
from vigil.config import Settings

pytestmark = pytest.mark.browser


def test_account_page_fits_1280_px_with_the_holds_panel(
    page: Page, db: Session, settings: Settings
) -> None:
    seed_review(db, settings)
    legal = make_staff(db, role=Role.legal, email="lee@staff.example")
    db.commit()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/login")
    page.get_by_label("Email").fill(legal.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/identity/accounts/u-idv-1")
    expect(page.locator("#legal-holds")).to_be_visible()
    expect(page.get_by_role("heading", name="Verifications, newest first")).to_be_visible()
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    # The table is in the wide column: its header is one line, not one letter per line.
    header = page.locator("th", has_text="Verification").first.bounding_box()
    assert header is not None and header["width"] > 60 and header["height"] < 40
    expect(page.get_by_text("Maria Eduarda Souza")).to_have_count(0)
