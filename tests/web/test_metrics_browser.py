"""Metrics and goals in a real Chromium: T&S leadership opens the dashboard, narrows it to
one queue, switches to weeks, reads a panel's table, opens SLA attainment by queue and
downloads it, then sets "SLA attainment at least 95% this month" and finds the goal with its
trajectory at the top of the dashboard.

Each screen passes the console's checks (``tests/web/e2e.py``) and is photographed:
``metrics``, ``metrics-detail``, ``goals``.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import make_staff
from tests.web.e2e import assert_clean, assert_screen, login, settle
from tests.web.test_metrics_http import world
from vigil.auth.permissions import Role
from vigil.kit.clock import FrozenClock

pytestmark = pytest.mark.browser


def test_leadership_reads_the_metrics_and_sets_a_goal(
    page: Page, db: Session, frozen: FrozenClock
) -> None:
    world(db, frozen)
    head = make_staff(db, role=Role.leadership, name="Hana Okoro")
    db.commit()
    login(page, head.email, "/metrics")
    settle(page)

    # The dashboard: every theme, charts drawn, the header's Metrics link current.
    expect(page.get_by_role("heading", name="Metrics", level=1)).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Metrics")
    ).to_be_visible()
    opened = page.locator("#panel-cases_opened")
    expect(opened.locator("[data-headline]")).to_have_text("3")
    expect(opened.locator("canvas").first).to_be_visible()
    assert_screen(page, "metrics")

    # One queue, by week: the URL carries both, the figure narrows.
    page.get_by_label("Queue").select_option("reports")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"queue=reports"))
    expect(opened.locator("[data-headline]")).to_have_text("2")
    page.get_by_label("By", exact=True).select_option("week")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(
        re.compile(r"interval=week.*queue=reports|queue=reports.*interval=week")
    )

    # A panel's table: hidden behind its toggle, the same numbers as the chart.
    toggle = opened.get_by_role("button", name="Table")
    table = opened.locator("[data-table]")
    expect(table).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(table).to_be_visible()
    expect(table.get_by_role("row", name=re.compile(r"week of 16 Nov 2026"))).to_contain_text("2")

    # SLA attainment by queue, and its CSV.
    page.locator("#panel-sla_attainment").get_by_role("link", name="SLA attainment").click()
    expect(page.get_by_role("heading", name="SLA attainment", level=1)).to_be_visible()
    page.get_by_label("Queue").select_option("")
    page.get_by_label("Split by").select_option("queue")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"group_by=queue"))
    expect(page.locator("#mx-totals")).to_be_visible()
    expect(page.locator("#mx-detail canvas").first).to_be_visible()
    assert_screen(page, "metrics-detail")
    with page.expect_download() as started:
        page.get_by_role("link", name="Download CSV").click()
    saved = Path(started.value.path())
    rows = list(csv.reader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
    # "group" whatever the split; the file name says which split and which days.
    assert rows[0][:3] == ["bucket", "group", "label"]
    assert "-split-queue" in started.value.suggested_filename
    assert any(r[1] == "reports" for r in rows[1:])

    # A goal: SLA attainment at least 95% this month.
    page.goto("/goals")
    page.get_by_label("Metric", exact=True).select_option("sla_attainment")
    page.get_by_label("Should be", exact=True).select_option("gte")
    page.get_by_label("Target", exact=True).fill("95")
    page.get_by_label("Per", exact=True).select_option("month")
    page.get_by_role("button", name="Set goal").click()
    expect(page.get_by_role("status")).to_have_text("Goal set.")
    goal = page.locator("#goals-list article").first
    expect(goal).to_contain_text("95")
    expect(goal.locator(".mx-status")).to_be_visible()
    expect(goal.locator("canvas").first).to_be_visible()
    assert_screen(page, "goals")

    page.get_by_role("link", name="Metrics", exact=True).first.click()
    card = page.locator("#mx-goals article").first
    expect(card).to_contain_text("SLA attainment")
    expect(card.locator(".mx-status")).to_be_visible()
    expect(card.locator("canvas").first).to_be_visible()
    assert_clean(page)
