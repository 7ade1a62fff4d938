"""The precedent fragment of the case page: similar past decisions with links to their cases,
"no precedent yet" when there are none, and the same 404s as the case page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    FEES,
    SUSPEND_7,
    SYSTEM,
    decide,
    held_case,
    make_account,
    make_policy,
    staff,
)
from tests.factories import login_as
from vigil.auth.permissions import Role, Tier
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseType
from vigil.config import Settings

CODE = FEES["code"]


def _open(db: Session, title: str, **kw: object) -> Case:
    return cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.user_report,
            title=title,
            policy_code=CODE,
            account_id=make_account(db).id,
            **kw,  # type: ignore[arg-type]
        ),
    ).case


def _history(db: Session, settings: Settings) -> tuple[int, int]:
    """Queues, the fee policy and one suspension decided by Dana Reyes on a case about a
    Bizum request; returns (decided case id, decision id)."""
    routing.ensure_default_queues(db)
    make_policy(db)
    user, actor = staff(db, Role.specialist)
    user.name = "Dana Reyes"
    case = held_case(
        db, user, make_account(db), title="Asked for a Bizum, call me 612 345 678", policy_code=CODE
    )
    decision = decide(
        db,
        actor,
        case,
        settings,
        actions=SUSPEND_7,
        departure_reason="Third request this month.",
        internal_reasoning="Asked for Bizum <b>twice</b>, wrote maria88@gmail.com.",
    )
    return case.id, decision.id


def test_an_agent_sees_similar_decisions_with_links(
    client: TestClient, db: Session, settings: Settings
) -> None:
    decided_id, _ = _history(db, settings)
    case = _open(db, "Asked for a Bizum instead of paying here")
    agent, _ = staff(db)
    login_as(client, db, agent)

    response = client.get(f"/cases/{case.id}/precedent")

    assert response.status_code == 200
    html = response.text
    assert f'href="/cases/{decided_id}"' in html and f"C-{decided_id}" in html
    assert "suspend account, 7 days" in html
    assert "by Dana Reyes on" in html and "policy v1" in html
    assert f'href="/policies/{CODE}"' in html
    # Escaped, and no contact details: the phone in the title, the email in the reasoning.
    assert "&lt;b&gt;twice&lt;/b&gt;" in html and "<b>" not in html
    assert "612 345 678" not in html and "maria88" not in html
    assert "[phone]" in html and "[email]" in html
    assert "No precedent yet" not in html


def test_no_precedent_yet(client: TestClient, db: Session, settings: Settings) -> None:
    routing.ensure_default_queues(db)
    make_policy(db)
    case = _open(db, "The first case under this policy")
    agent, _ = staff(db)
    login_as(client, db, agent)

    response = client.get(f"/cases/{case.id}/precedent")

    assert response.status_code == 200
    assert "No precedent yet" in response.text
    assert "<li" not in response.text


def test_a_case_without_a_policy_says_so(client: TestClient, db: Session) -> None:
    routing.ensure_default_queues(db)
    case = _open(db, "Not triaged yet", tier=Tier.tier1)
    case.policy_code = None
    agent, _ = staff(db)
    login_as(client, db, agent)

    response = client.get(f"/cases/{case.id}/precedent")

    assert response.status_code == 200
    assert "no policy yet" in response.text


def test_same_404s_as_the_case_page(client: TestClient, db: Session, settings: Settings) -> None:
    _history(db, settings)
    legal = _open(db, "Court order", tier=Tier.legal)
    agent, _ = staff(db)
    login_as(client, db, agent)

    html = {"accept": "text/html"}
    for path in ("/cases/0/precedent", "/cases/99999999/precedent", "/cases/abc/precedent",
                 f"/cases/{2**63}/precedent", f"/cases/{legal.id}/precedent"):  # fmt: skip
        assert client.get(path, headers=html).status_code == 404, path
    assert "Court order" not in client.get(f"/cases/{legal.id}/precedent").text


def test_legal_tier_precedent_only_for_legal(
    client: TestClient, db: Session, settings: Settings
) -> None:
    routing.ensure_default_queues(db)
    make_policy(db)
    lawyer_user, lawyer = staff(db, Role.legal)
    legal_case = held_case(
        db, lawyer_user, make_account(db), title="Bizum court order", tier=Tier.legal,
        policy_code=CODE,
    )  # fmt: skip
    decide(db, lawyer, legal_case, settings)
    case = _open(db, "Bizum court order")
    agent, _ = staff(db)

    login_as(client, db, agent)
    as_agent = client.get(f"/cases/{case.id}/precedent")
    login_as(client, db, lawyer_user)
    as_lawyer = client.get(f"/cases/{case.id}/precedent")

    assert as_agent.status_code == 200 and as_lawyer.status_code == 200
    # The agent gets the panel, without the legal-tier decision (the only one there is).
    assert "No precedent yet" in as_agent.text
    assert f"C-{legal_case.id}" not in as_agent.text and "Bizum court order" not in as_agent.text
    # Legal staff see it, with a link to the case.
    assert f'href="/cases/{legal_case.id}"' in as_lawyer.text
    assert "Bizum court order" in as_lawyer.text and "No precedent yet" not in as_lawyer.text


def test_logged_out_goes_to_login(client: TestClient, db: Session) -> None:
    response = client.get("/cases/1/precedent", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
