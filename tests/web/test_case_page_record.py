"""The case page's account record and what it lets through (vigil.web.casepanels), on both
databases: reports and events on legal-tier cases stay with legal staff, a reveal unmasks the
account's data but never the reporters', appeals are called what they became, 20 prior
decisions are shown whenever 20 exist, the identity keys only for whoever may use them, the
count of accounts sharing an identifier is capped, and strikes not listed are counted."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import body
from tests.factories import make_staff
from tests.web.test_case_page import SYSTEM, _event, _login, _section, seed
from vigil.accounts.models import Account, Identifier, IdentifierKind, Side
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role, Tier
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseType, Resolution
from vigil.config import Settings
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import Decision, DecisionStatus
from vigil.enforcement.schemas import DecisionIn
from vigil.identity.models import IdentityVerification
from vigil.kit import clock
from vigil.kit.clock import FrozenClock

LEGAL_WORDS = "She threatened me; my lawyer has written to you."
REPORTER_CONTACT = "jon.doe.reports@mail.com"


@pytest.fixture(autouse=True)
def _clock(frozen: FrozenClock) -> FrozenClock:
    return frozen


def _maria(db: Session) -> Account:
    account = db.scalar(select(Account).where(Account.external_id == "u-100"))
    assert account is not None
    return account


def _legal_case_id(db: Session) -> int:
    found = db.scalar(select(Case.id).where(Case.tier == Tier.legal))
    assert found is not None
    return found


def test_reports_and_events_on_legal_cases_only_for_legal(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    maria = _maria(db)
    reporter = db.scalar(select(Account).where(Account.external_id == "u-200"))
    legal_id = _legal_case_id(db)
    _event(
        db, reporter, "report_filed", minutes_ago=3, counterparty="u-100", case_id=legal_id,
        text=LEGAL_WORDS, reason="legal_threat",
    )  # fmt: skip
    _event(db, maria, "payout_changed", minutes_ago=4, case_id=legal_id)
    lawyer = make_staff(db, role=Role.legal)
    db.commit()

    _login(client, db, s.agent_id)
    html = client.get(f"/cases/{s.case_id}").text
    assert LEGAL_WORDS not in html and "legal threat" not in html
    assert "She asked me to pay outside the site" in _section(html, "why-panel")
    events = _section(html, "events-panel")
    assert "payout changed" not in events
    assert events.split("<tbody>")[1].count("<tr") == s.events_on_case + 1

    client.cookies.clear()
    _login(client, db, lawyer.id)
    html = client.get(f"/cases/{s.case_id}").text
    assert LEGAL_WORDS in _section(html, "why-panel")
    events = _section(html, "events-panel")
    assert "payout changed" in events
    assert events.split("<tbody>")[1].count("<tr") == s.events_on_case + 2


def test_a_reveal_leaves_the_reporters_contact_details_masked(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    reporter = db.scalar(select(Account).where(Account.external_id == "u-200"))
    _event(
        db, reporter, "report_filed", minutes_ago=2, counterparty="u-100",
        text=f"Write to me at {REPORTER_CONTACT}, I have screenshots.", reason="other",
    )  # fmt: skip
    db.commit()
    csrf = _login(client, db, s.agent_id)
    page = client.post(
        f"/cases/{s.case_id}/reveal", data={"csrf_token": csrf, "reason": "payment check"}
    )
    assert page.status_code == 200
    # María's data and her own contact details are shown...
    assert "maria@example.com" in page.text
    assert "maria.g@gmail.com" in _section(page.text, "evidence-panel")
    # ...the reporter's words too, but not the reporter's contact details.
    why = _section(page.text, "why-panel")
    assert "I have screenshots" in why
    assert REPORTER_CONTACT not in page.text
    assert re.search(r'<mark class="hit hit-email"[^>]*>[^<]*hidden[^<]*</mark>', why)


def _appeal_case(db: Session, decision_id: int) -> Case:
    found = db.scalars(select(Case).where(Case.type == CaseType.appeal)).all()
    appeal = [c for c in found if c.attributes["appeal"]["decision_id"] == decision_id]
    assert len(appeal) == 1
    return appeal[0]


@pytest.mark.parametrize(
    ("resolution", "label"),
    [(Resolution.withdrawn, "withdrawn"), (Resolution.no_violation, "upheld")],
)
def test_a_withdrawn_appeal_is_not_called_upheld(
    client: TestClient, db: Session, settings: Settings, resolution: Resolution, label: str
) -> None:
    s = seed(db, settings)
    appeal = _appeal_case(db, s.prior_decision_id)
    holder = make_staff(db, role=Role.specialist)
    cases.assign(db, SYSTEM, appeal.id, staff_id=holder.id)
    cases.close(db, SYSTEM, appeal.id, resolution=resolution, note="Closed.")
    db.commit()
    _login(client, db, s.agent_id)
    decisions = _section(client.get(f"/cases/{s.case_id}").text, "prior-panel").split(
        'id="prior-decisions"'
    )[1]
    cell = re.search(rf'<a href="/cases/{appeal.id}">([^<]+)</a>', decisions)
    assert cell is not None and cell.group(1) == label


def _decision(db: Session, case: Case, label: str) -> None:
    now = clock.now()
    db.add(
        Decision(
            case_id=case.id,
            account_id=case.account_id,
            status=DecisionStatus.applied,
            applied_at=now,
            internal_reasoning="Bulk history.",
            decided_by_label=label,
        )
    )


def test_twenty_prior_decisions_when_more_exist(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """The case at hand's own decisions (here three, newer than all others) are left out by
    the query, so they do not take places among the 20."""
    s = seed(db, settings)
    maria = _maria(db)
    for n in range(22):
        other = cases.create_case(
            db,
            SYSTEM,
            cases.NewCase(type=CaseType.user_report, title=f"Older {n}", account_id=maria.id),
        ).case
        _decision(db, other, "Past Reviewer")
    db.flush()
    current = db.get(Case, s.case_id)
    assert current is not None
    for _ in range(3):
        _decision(db, current, "Current Reviewer")
    db.commit()

    _login(client, db, s.agent_id)
    prior = _section(client.get(f"/cases/{s.case_id}").text, "prior-panel")
    decisions = prior.split('id="prior-decisions"')[1].split("</table>")[0]
    assert decisions.split("<tbody>")[1].count("<tr") == 20
    assert "Current Reviewer" not in decisions
    assert f'href="/cases/{s.case_id}"' not in decisions
    cases_table = prior.split('id="prior-cases"')[1].split("</table>")[0]
    assert cases_table.split("<tbody>")[1].count("<tr") == 20


def _identity_case(db: Session, s: object) -> int:
    verification = db.get(IdentityVerification, s.verification_id)  # type: ignore[attr-defined]
    assert verification is not None
    review = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.identity_review,
            title="Identity review",
            account_id=verification.account_id,
        ),
    ).case
    verification.case_id = review.id
    cases.assign(db, SYSTEM, review.id, staff_id=s.agent_id)  # type: ignore[attr-defined]
    return review.id


@pytest.mark.parametrize("role", [Role.qa, Role.policy_lead, Role.agent])
def test_identity_keys_only_for_the_holder_who_may_decide(
    client: TestClient, db: Session, settings: Settings, role: Role
) -> None:
    """QA and policy leads read documents but may not decide them; another agent may, but
    does not hold the case. None of them gets the approve / reject keys."""
    s = seed(db, settings)
    review_id = _identity_case(db, s)
    viewer = make_staff(db, role=role)
    db.commit()
    _login(client, db, viewer.id)
    page = client.get(f"/cases/{review_id}")
    assert page.status_code == 200
    root = page.text.split('id="case-root"')[1]
    assert f"/identity/verifications/{s.verification_id}" in root  # still readable
    assert 'data-key="a"' not in root and 'data-key="r"' not in root
    assert "#approve" not in root and "#reject" not in root


def test_the_help_dialog_lists_the_identity_keys_once(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    review_id = _identity_case(db, s)
    db.commit()
    _login(client, db, s.agent_id)
    html = client.get(f"/cases/{review_id}").text
    assert 'data-key="a"' in html
    assert html.count("<kbd>a</kbd> <kbd>r</kbd>") == 1  # base.html's row, not a second one


def test_the_count_of_accounts_sharing_an_identifier_is_capped(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    maria = _maria(db)
    crowded, pair = "203.0.113.7", "device-4f2a9c"
    db.add(Identifier(account_id=maria.id, kind=IdentifierKind.ip, value=crowded))
    db.add(Identifier(account_id=maria.id, kind=IdentifierKind.device, value=pair))
    others = [Account(external_id=f"nat-{n}", side=Side.client) for n in range(105)]
    db.add_all(others)
    db.flush()
    db.add_all(Identifier(account_id=a.id, kind=IdentifierKind.ip, value=crowded) for a in others)
    db.add_all(
        Identifier(account_id=a.id, kind=IdentifierKind.device, value=pair) for a in others[:2]
    )
    db.commit()

    _login(client, db, s.agent_id)
    html = client.get(f"/cases/{s.case_id}").text
    table = html.split('id="identifiers"')[1].split("</table>")[0]
    rows = {
        kind: cells for kind, cells in re.findall(r"<tr><td>([a-z]+)</td>(.*?)</tr>", table, re.S)
    }
    assert '<span class="chip bad">100+</span>' in rows["ip"]
    assert '<span class="chip bad">2</span>' in rows["device"]
    assert crowded not in html and pair not in html  # masked


def test_strikes_from_legal_decisions_are_counted_not_listed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    lawyer = make_staff(db, role=Role.legal)
    legal_id = _legal_case_id(db)
    cases.assign(db, SYSTEM, legal_id, staff_id=lawyer.id)
    db.flush()
    enforcement.decide(
        db,
        auth_service.principal_for(lawyer),
        legal_id,
        DecisionIn(**body(departure_reason="A warning while legal looks into it.")),
        settings=settings,
    )
    db.commit()

    _login(client, db, s.agent_id)
    account = _section(client.get(f"/cases/{s.case_id}").text, "account-panel")
    strikes = account.split('id="strikes"')[1].split("</table>")[0]
    assert strikes.split("<tbody>")[1].count("<tr") == 1
    assert "+1 not listed" in account

    client.cookies.clear()
    _login(client, db, lawyer.id)
    account = _section(client.get(f"/cases/{s.case_id}").text, "account-panel")
    strikes = account.split('id="strikes"')[1].split("</table>")[0]
    assert strikes.split("<tbody>")[1].count("<tr") == 2
    assert "not listed" not in account
