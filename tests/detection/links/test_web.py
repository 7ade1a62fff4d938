"""The cluster picture on the case page: an htmx partial with one node per account."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.detection.links.conftest import SYSTEM, make_account
from tests.factories import login_as, make_staff
from vigil.accounts import service as accounts
from vigil.accounts.models import RestrictionKind
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role, Tier
from vigil.cases import service as cases
from vigil.cases.models import CaseType
from vigil.cases.routing import ensure_default_queues

pytestmark = pytest.mark.usefixtures("frozen")
HTMX = {"HX-Request": "true"}


def _case(db: Session, account_id: int | None, title: str, tier: Tier = Tier.tier1) -> int:
    spec = cases.NewCase(
        type=CaseType.detection, title=title, account_id=account_id, tier=tier, priority=2
    )
    return cases.create_case(db, SYSTEM, spec).case.id


@pytest.fixture
def scene(db: Session) -> dict[str, int]:
    """A case about "seller" who shares a device with two accounts and a card with a third;
    one of them is suspended and has a case of its own, another has only a legal case."""
    ensure_default_queues(db, SYSTEM)
    seller = make_account(db, "seller", ("device", "ios-aa11bb22cc"), ("payment", "bank:42x"))
    twin = make_account(db, "twin", ("device", "ios-aa11bb22cc"))
    banned = make_account(db, "banned", ("device", "ios-aa11bb22cc"))
    payer = make_account(db, "payer", ("payment", "bank:42x"))
    make_account(db, "stranger", ("device", "android-0000000000"))
    accounts.place_restriction(db, SYSTEM, banned, RestrictionKind.suspension, "ring")
    out = {
        "case": _case(db, seller.id, "Shared device with a suspended account"),
        "banned_case": _case(db, banned.id, "Chargebacks"),
        "legal_case": _case(db, twin.id, "Police request", tier=Tier.legal),
        "no_account": _case(db, None, "A listing, not an account"),
        "seller": seller.id,
        "twin": twin.id,
        "banned": banned.id,
        "payer": payer.id,
    }
    db.commit()
    return out


def test_the_case_page_loads_the_cluster_with_htmx(
    client: TestClient, db: Session, scene: dict[str, int]
) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    page = client.get(f"/cases/{scene['case']}")
    assert page.status_code == 200
    assert f'hx-get="/cases/{scene["case"]}/cluster"' in page.text
    assert 'hx-trigger="load"' in page.text


def test_the_partial_draws_every_account_and_why_they_are_linked(
    client: TestClient, db: Session, scene: dict[str, int]
) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    response = client.get(f"/cases/{scene['case']}/cluster", headers=HTMX)
    assert response.status_code == 200, response.text
    html = response.text
    assert "<svg" in html and 'role="img"' in html
    drawn = re.findall(r'data-account="(\d+)"', html)
    assert sorted(map(int, drawn)) == sorted(
        scene[k] for k in ("seller", "twin", "banned", "payer")
    )
    assert html.count('class="cl-value ') == 2  # the device and the card
    assert html.count("<line ") == 5  # three holders of the device, two of the card
    # Colour by status, the case's own account marked, classes only (strict CSP).
    assert re.search(rf'cl-banned" data-account="{scene["banned"]}"', html)
    assert re.search(rf'cl-active cl-root" data-account="{scene["seller"]}"', html)
    assert "style=" not in html and "<script" not in html
    # Accounts link to a case the viewer may open; a legal case stays hidden.
    assert f'href="/cases/{scene["banned_case"]}"' in html
    assert f"/cases/{scene['legal_case']}" not in html
    # The explanation: masked values and which accounts share them.
    assert "ios-***bb22cc" not in html and "ios-aa11bb22cc" not in html
    assert "ios-***22cc" in html and "bank***:42x" not in html
    assert "seller, twin, banned" in html and "seller, payer" in html
    assert "1 banned" in html
    db.expire_all()
    views = list(
        db.scalars(
            select(AuditRecord.data).where(
                AuditRecord.action == "accounts.account.view",
                AuditRecord.target_id == str(scene["seller"]),
            )
        )
    )
    db.rollback()
    assert {"view": "cluster"} in views


def test_partial_for_a_case_without_account_or_one_the_viewer_may_not_see(
    client: TestClient, db: Session, scene: dict[str, int]
) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    lone = client.get(f"/cases/{scene['no_account']}/cluster", headers=HTMX)
    assert lone.status_code == 200
    assert "not about a single account" in lone.text and "<svg" not in lone.text
    hidden = client.get(f"/cases/{scene['legal_case']}/cluster", headers=HTMX)
    assert hidden.status_code == 404


def test_an_account_without_links_says_so(client: TestClient, db: Session) -> None:
    ensure_default_queues(db, SYSTEM)
    alone = make_account(db, "alone", ("device", "web-1234567890"))
    case_id = _case(db, alone.id, "Just one")
    db.commit()
    login_as(client, db, make_staff(db, role=Role.qa))
    response = client.get(f"/cases/{case_id}/cluster", headers=HTMX)
    assert response.status_code == 200
    assert "No other account shares" in response.text and "<svg" not in response.text
