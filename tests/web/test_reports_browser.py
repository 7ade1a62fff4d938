"""The transparency report in a real browser: the screen checks, and the printout without the
console's chrome."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.analytics.transparency.conftest import Reported
from tests.analytics.transparency.conftest import closed as closed
from tests.analytics.transparency.conftest import reported as reported
from tests.web.e2e import assert_screen, login

pytestmark = pytest.mark.browser


def test_leadership_reads_and_prints_the_report(
    page: Page,
    db: Session,
    reported: Reported,
) -> None:
    db.commit()
    login(page, reported.closed.head.email, "/reports/transparency?start=2026-11-01&end=2026-11-30")
    expect(page.get_by_role("heading", name="Transparency report")).to_be_visible()
    expect(page.get_by_role("heading", name="2. Notices from users (Art. 16)")).to_be_visible()
    assert_screen(page, "transparency-report")
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.get_by_role("button", name="Show")).to_be_hidden()
    expect(page.get_by_text("Period: 2026-11-01 to 2026-11-30")).to_be_visible()
