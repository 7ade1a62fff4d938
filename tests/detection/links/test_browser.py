"""The cluster picture in a real Chromium: drawn under the console's strict CSP (no
violation reported), one node per account, a node opens that account's case."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.detection.links.conftest import SYSTEM, make_account
from tests.factories import DEFAULT_PASSWORD, make_staff
from vigil.accounts import service as accounts
from vigil.accounts.models import RestrictionKind
from vigil.auth.permissions import Role
from vigil.cases import service as cases
from vigil.cases.models import CaseType
from vigil.cases.routing import ensure_default_queues

pytestmark = pytest.mark.browser


def test_the_case_page_draws_the_cluster(page: Page, db: Session) -> None:
    ensure_default_queues(db, SYSTEM)
    agent = make_staff(db, role=Role.agent)
    seller = make_account(db, "seller", ("device", "ios-aa11bb22cc"), ("payment", "bank:42x"))
    make_account(db, "twin", ("device", "ios-aa11bb22cc"))
    banned = make_account(db, "banned", ("device", "ios-aa11bb22cc"))
    make_account(db, "payer", ("payment", "bank:42x"))
    accounts.place_restriction(db, SYSTEM, banned, RestrictionKind.suspension, "ring")

    def case(account_id: int, title: str) -> int:
        spec = cases.NewCase(type=CaseType.detection, title=title, account_id=account_id)
        return cases.create_case(db, SYSTEM, spec).case.id

    case_id = case(seller.id, "Shared device with a suspended account")
    banned_case = case(banned.id, "Chargebacks")
    db.commit()

    page.goto(f"/cases/{case_id}")
    page.get_by_label("Email").fill(agent.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    graph = page.get_by_role("img", name=re.compile("Accounts linked to seller"))
    expect(graph).to_be_visible()
    expect(page.locator("g.cl-account")).to_have_count(4)
    expect(page.locator("g.cl-account.cl-banned")).to_have_count(1)
    expect(page.locator("#cluster-panel")).to_contain_text("1 banned")
    page.locator(f'a[href="/cases/{banned_case}"] circle').click()
    expect(page).to_have_url(re.compile(rf"/cases/{banned_case}$"))
    expect(page.get_by_role("img", name=re.compile("Accounts linked to banned"))).to_be_visible()
    assert page.problems == []  # type: ignore[attr-defined]
    assert page.outside_requests == []  # type: ignore[attr-defined]
