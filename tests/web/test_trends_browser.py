"""Trends and incidents in a real Chromium, over a scam wave found by the real roll-up and
trend detection (frozen clock):

1. A policy lead opens /trends, sees the alert's sentence, opens it, reads the top
   contributing values and the sample cases, escalates it into an incident, links one more
   case by its reference and moves the incident to investigating.
2. An agent who noticed something opens an incident by hand with the cases that show it.

Each screen passes the console's checks (``tests/web/e2e.py``: axe, no sideways scrolling at
1280/1366/1440, focus always visible, nothing fetched from another host, no console error)
and is photographed: ``trends``, ``trend-alert``, ``incident``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import make_staff
from tests.web.e2e import assert_clean, assert_screen, login, logout, settle
from tests.web.test_trends_http import SYSTEM, scam_wave
from vigil.auth.permissions import Role
from vigil.cases import service as cases
from vigil.cases.models import CaseType
from vigil.config import Settings
from vigil.kit.clock import FrozenClock

pytestmark = pytest.mark.browser


def test_a_policy_lead_escalates_a_scam_wave_and_an_agent_reports_one_by_hand(
    page: Page, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    wave = scam_wave(db, settings, frozen)
    lead = make_staff(db, role=Role.policy_lead, name="Lucía Policy")
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz")
    extra = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(type=CaseType.user_report, title="Seller asks to pay by Wise on WhatsApp"),
    ).case.id
    db.commit()

    # 1. The policy lead's inbox.
    login(page, lead.email, "/trends")
    badge = page.locator("#trends-badge")
    expect(badge).to_be_visible()
    alert_link = page.get_by_role(
        "link", name=re.compile(r"^report reason = scam up 13\.3x since \d+ \w{3} 14:00")
    )
    expect(alert_link).to_be_visible()
    expect(page.locator("#alerts-open")).to_contain_text("country = BR (86%)")
    expect(page.locator("#clusters")).to_contain_text("Pay me directly by Wise")
    expect(page.locator("figure[data-trend-chart].tr-drawn canvas").first).to_be_visible()
    assert_screen(page, "trends")

    alert_link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Alert #{wave.alert_id}")
    expect(page.locator("figure.tr-drawn canvas").first).to_be_visible()
    contributors = page.locator("#contributors")
    expect(contributors.get_by_role("rowheader", name="country = BR")).to_be_visible()
    samples = page.locator("#sample-cases")
    for case_id in wave.case_ids:
        expect(samples.get_by_role("link", name=f"C-{case_id}", exact=True)).to_be_visible()
    # The table under the chart holds the same numbers.
    page.get_by_text("Table: count per hour (UTC), observed and expected").click()
    expect(page.locator("details.tr-table tbody tr").first).to_contain_text("40")
    assert_screen(page, "trend-alert")

    title = page.get_by_label("Escalate to an incident")
    expect(title).to_have_value(re.compile(r"Report reason = scam up 13\.3x since \d+ \w{3} 14:00"))
    page.get_by_role("button", name="Escalate to incident").click()
    expect(page.get_by_role("status")).to_contain_text("Incident opened from the alert")
    expect(page.locator("#incident-status")).to_have_text("open")
    linked = page.locator("#incident-cases")
    for case_id in wave.case_ids:
        expect(linked.get_by_role("link", name=f"C-{case_id}", exact=True)).to_be_visible()

    page.get_by_label("Link cases").fill(f"C-{extra}")
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Cases linked.")
    expect(linked.get_by_role("link", name=f"C-{extra}", exact=True)).to_be_visible()

    page.get_by_role("button", name="Start investigating").click()
    expect(page.locator("#incident-status")).to_have_text("investigating")
    expect(page.locator("#timeline")).to_contain_text("moved it from open to investigating")
    expect(page.get_by_role("link", name=f"Trend alert #{wave.alert_id}")).to_be_visible()
    assert_screen(page, "incident")
    logout(page)

    # 2. An agent documents something they noticed.
    login(page, agent.email, "/incidents")
    page.get_by_role("link", name="New incident").click()
    page.get_by_label("Title").fill("Same Wise payment pitch in my last three cases")
    page.get_by_label("What you noticed").fill("Each seller offers a discount for paying by Wise.")
    page.get_by_label("Cases").fill(f"C-{wave.case_ids[0]} C-{extra}")
    page.get_by_role("button", name="Open incident").click()
    expect(page.get_by_role("status")).to_contain_text("Incident opened.")
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Same Wise payment pitch in my last three cases"
    )
    expect(page.locator("#incident-cases").get_by_role("link", name=f"C-{extra}")).to_be_visible()
    settle(page)
    assert_clean(page)
