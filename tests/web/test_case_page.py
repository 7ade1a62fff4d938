"""The case page (vigil.web.casepage): every panel with the right content, on both databases.

One account (María, u-100) with a history: a prior case decided with a warning (a strike
under fee_circumvention) and appealed, an identity verification under review, reports
against her, and a detection case with flagged messages, scores and a message sent to her.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import FEES, body, make_account
from tests.factories import login_as, make_staff
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseType, Severity
from vigil.cases.routing import ensure_default_queues
from vigil.communications.models import Message, MessageChannel, MessageStatus
from vigil.config import Settings
from vigil.detection import service as detection
from vigil.detection.events import EventIn
from vigil.detection.models import Event, Outcome
from vigil.enforcement import service as enforcement
from vigil.enforcement.schemas import DecisionIn
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind, VerificationStatus
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.policies import service as policies

SYSTEM = Principal.system("tests")
GREY = {
    "title": "Sharing a portfolio link",
    "guidance": "A link to past work is allowed when it carries no contact details.",
}
OFFER = "Pay me directly via PayPal and write to me at maria.g@gmail.com, it is cheaper."
REPORT_WORDS = "She asked me to pay outside the site, by Zelle."


@dataclass
class Seeded:
    agent_id: int
    case_id: int
    prior_case_id: int
    prior_decision_id: int
    verification_id: int
    events_on_case: int


_n = 0


def _event(
    db: Session,
    account: Any,
    type: str,
    *,
    minutes_ago: int,
    case_id: int | None = None,
    text: str = "",
    hits: list[dict[str, Any]] | None = None,
    features: dict[str, Any] | None = None,
    score: float = 0.0,
    outcome: Outcome = Outcome.allow,
    counterparty: str | None = None,
    reason: str | None = None,
) -> Event:
    global _n
    _n += 1
    at = clock.now() - timedelta(minutes=minutes_ago)
    data: dict[str, Any] = {"text": text}
    if reason:
        data["reason"] = reason
    row = Event(
        event_id=f"ev-{_n}",
        payload_sha256="0" * 64,
        type=type,
        account_id=account.id,
        account_external_id=account.external_id,
        counterparty_external_id=counterparty,
        occurred_at=at,
        received_at=at,
        payload={
            "event_id": f"ev-{_n}",
            "type": type,
            "account_id": account.external_id,
            "counterparty_id": counterparty,
            "data": data,
        },
        features=features or {},
        outcome=outcome,
        score=score,
        hits=hits or [],
        case_id=case_id,
    )
    db.add(row)
    return row


HIT = {
    "rule_id": 7,
    "rule_version": 1,
    "name": "Off-platform payment ask",
    "score": 60.0,
    "outcome": "review",
    "policy_code": "fee_circumvention",
    "shadow": False,
    "reason": "asks to pay outside the marketplace",
}


def seed(db: Session, settings: Settings, *, events: int = 12) -> Seeded:
    ensure_default_queues(db, SYSTEM)
    policies.create_policy(db, SYSTEM, {**FEES, "grey_areas": [GREY]})
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["es", "en"])
    specialist = make_staff(db, role=Role.specialist, name="Sam Okafor")
    maria = make_account(
        db,
        external_id="u-100",
        display_name="María G.",
        legal_name="María González",
        email="maria@example.com",
        phone="+34600111222",
        country="ES",
        locale="es",
    )
    reporter = make_account(db, external_id="u-200", display_name="Jon Doe")

    # A prior case, decided with a warning by the specialist, then appealed (still open).
    prior = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.user_report,
            title="Bank details in a message",
            account_id=maria.id,
            policy_code="fee_circumvention",
        ),
    ).case
    cases.assign(db, SYSTEM, prior.id, staff_id=specialist.id)
    db.flush()
    decision = enforcement.decide(
        db,
        auth_service.principal_for(specialist),
        prior.id,
        DecisionIn(**body()),
        settings=settings,
    )
    cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.appeal,
            title=f"Appeal against decision {decision.id}",
            account_id=maria.id,
            tier=Tier.specialist,
            policy_code="fee_circumvention",
            attributes={"appeal": {"decision_id": decision.id}},
        ),
    )
    # A legal-tier case about her that an agent must not learn of.
    cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.account_review,
            title="Subpoena about the account",
            account_id=maria.id,
            tier=Tier.legal,
        ),
    )

    case = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.detection,
            title="Detection: Off-platform payment ask",
            summary="Off-platform payment ask: asks to pay outside the marketplace",
            account_id=maria.id,
            language="es",
            severity=Severity.high,
            policy_code="fee_circumvention",
            attributes={"rules": ["Old rule: recorded at opening"]},
        ),
    ).case
    for i in range(events - 2):
        _event(db, maria, "login", minutes_ago=10 + i, case_id=case.id)
    scores = {"scam_score": 0.12, "off_platform_score": 0.91, "abuse_score": 0.0}
    _event(
        db, maria, "message_sent", minutes_ago=5, case_id=case.id, text=OFFER, hits=[HIT],
        features={**scores, "contact_kinds": ["email", "payment_app"]}, score=60.0,
        outcome=Outcome.review,
    )  # fmt: skip
    # The report is the reporter's event, about María (its counterparty), on no case.
    _event(
        db, reporter, "report_filed", minutes_ago=30, counterparty="u-100",
        text=REPORT_WORDS, reason="off_platform_payment",
    )  # fmt: skip
    # A message of hers that is not on the case: only on the account's timeline.
    _event(db, maria, "listing_created", minutes_ago=60)

    verification = IdentityVerification(
        account_id=maria.id,
        kind=DocumentKind.passport,
        issuing_country="ES",
        status=VerificationStatus.review,
        reasons=["document_reused"],
        checks=[
            {"name": "document_expired", "status": "passed", "reason": "ok"},
            {"name": "document_reuse", "status": "failed", "reason": "document_reused"},
        ],
        fields={"document": {"surname": "GONZALEZ", "document_number": "X1234567L"}},
        request_sha256="1" * 64,
        submitted_by="test",
    )
    db.add(verification)
    db.add(
        Message(
            account_id=maria.id,
            case_id=case.id,
            channel=MessageChannel.email,
            locale="es",
            recipient="maria@example.com",
            subject="Hemos revisado tu cuenta",
            body="Hola María, hemos revisado tu cuenta.",
            status=MessageStatus.sent,
            sent_at=clock.now(),
        )
    )
    cases.assign(db, SYSTEM, case.id, staff_id=agent.id)
    db.commit()
    return Seeded(
        agent_id=agent.id,
        case_id=case.id,
        prior_case_id=prior.id,
        prior_decision_id=decision.id,
        verification_id=verification.id,
        events_on_case=events - 1,
    )


def _login(client: TestClient, db: Session, staff_id: int) -> str:
    from vigil.auth.models import StaffUser

    user = db.get(StaffUser, staff_id)
    assert user is not None
    return login_as(client, db, user)


def _section(html: str, section_id: str) -> str:
    """The HTML of one ``<section id=...>`` of the page."""
    start = html.index(f'id="{section_id}"')
    end = html.find("</section>", start)
    return html[start:end]


@pytest.fixture(autouse=True)
def _clock(frozen: FrozenClock) -> FrozenClock:
    return frozen


def test_the_case_page_shows_every_panel(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    _login(client, db, s.agent_id)
    page = client.get(f"/cases/{s.case_id}")
    assert page.status_code == 200
    html = page.text

    # The root carries the queue for q.
    assert re.search(r'id="case-root" data-queue-url="/queues/\d+"', html)

    account = _section(html, "account-panel")
    assert "u-100" in account and "freelancer" in account
    assert "María González" not in html and "M*** G***" in account
    assert "maria@example.com" not in html
    strikes = _section(html, "account-panel").split('id="strikes"')[1]
    assert "fee_circumvention" in strikes.split("</table>")[0]

    why = _section(html, "why-panel")
    assert "Off-platform payment ask" in why and "asks to pay outside the marketplace" in why
    assert "Old rule: recorded at opening" in why
    assert "She asked me to pay outside the site" in why  # the reporter's own words
    assert "u-200 (J*** D***)" in why and "Jon Doe" not in html
    assert "off platform payment" in why
    scores = why.split('id="model-scores"')[1]
    assert "0.91" in scores and "0.12" in scores

    evidence = _section(html, "evidence-panel")
    assert "Pay me directly" in evidence
    marks = re.findall(r'<mark class="hit hit-([a-z_]+)"', evidence)
    assert "email" in marks and "phrase" in marks
    # Contact details stay hidden until the personal data is revealed.
    assert "maria.g@gmail.com" not in html

    events = _section(html, "events-panel")
    rows = events.split("<tbody>")[1].count("<tr")
    assert rows == s.events_on_case + 1  # her events on the case and the listing (not the report)

    docs = _section(html, "documents-panel")
    assert f"/identity/verifications/{s.verification_id}" in docs
    assert "review" in docs and "X1234567L" not in html and "GONZALEZ" not in html
    # Identity keys only on identity review cases.
    assert 'data-key="a"' not in html.split('id="case-root"')[1]

    prior = _section(html, "prior-panel")
    assert f'href="/cases/{s.prior_case_id}"' in prior
    decisions = prior.split('id="prior-decisions"')[1]
    assert "fee_circumvention v1" in decisions and "warn" in decisions
    assert "Sam Okafor" in decisions and "under appeal" in decisions
    assert "Subpoena" not in html  # legal tier: not for an agent

    policy = _section(html, "policy-panel")
    assert "Fee circumvention" in policy and 'href="/policies/fee_circumvention"' in policy
    assert GREY["title"] in policy and GREY["guidance"] in policy

    messages = _section(html, "messages-panel")
    assert "Hemos revisado tu cuenta" in messages and "email" in messages and "sent" in messages
    assert "m***a@example.com" in messages

    assert f'hx-get="/cases/{s.case_id}/precedent"' in html
    assert 'data-key="d"' in html and 'data-key-focus="e"' in html
    assert 'data-key-focus="c"' in html


def test_reports_against_the_account_are_found_however_old(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Reports are found by the indexed counterparty that ingestion stores, not by a scan of
    recent events: one filed more than a year ago still shows; one against someone else
    does not."""
    s = seed(db, settings)
    old_words = "Last year she sent me her bank details in the chat."
    for event_id, against, text in (
        ("old-report", "u-100", old_words),
        ("other-report", "u-300", "Someone else entirely, not María."),
    ):
        detection.ingest(
            db,
            settings,
            EventIn.model_validate(
                {
                    "event_id": event_id,
                    "type": "report_filed",
                    "account_id": "u-200",
                    "counterparty_id": against,
                    "occurred_at": (clock.now() - timedelta(days=400)).isoformat(),
                    "data": {"reason": "off_platform_payment", "text": text},
                }
            ),
            actor=SYSTEM,
        )
    stored = dict(
        db.execute(
            select(Event.event_id, Event.counterparty_external_id).where(
                Event.event_id.in_(["old-report", "other-report"])
            )
        ).all()
    )
    assert stored == {"old-report": "u-100", "other-report": "u-300"}
    db.commit()

    _login(client, db, s.agent_id)
    why = _section(client.get(f"/cases/{s.case_id}").text, "why-panel")
    assert old_words in why
    assert "She asked me to pay outside the site" in why  # the recent one too, listed first
    assert why.index("She asked me to pay outside the site") < why.index(old_words)
    assert "Someone else entirely" not in why


def test_revealing_shows_personal_data_and_contact_details(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    csrf = _login(client, db, s.agent_id)
    page = client.post(
        f"/cases/{s.case_id}/reveal", data={"csrf_token": csrf, "reason": "payment check"}
    )
    assert page.status_code == 200
    assert "María González" in page.text and "maria@example.com" in page.text
    evidence = _section(page.text, "evidence-panel")
    assert re.search(r'<mark class="hit hit-email"[^>]*>maria\.g@gmail\.com</mark>', evidence)


def test_texts_are_escaped(client: TestClient, db: Session, settings: Settings) -> None:
    s = seed(db, settings)
    case = cases.get_case(db, SYSTEM, s.case_id)
    maria = make_account(db, external_id="u-100")
    _event(
        db, maria, "message_sent", minutes_ago=1, case_id=case.id, hits=[HIT],
        text='<script>alert(1)</script> pay me on <b>venmo</b>',
    )  # fmt: skip
    db.commit()
    _login(client, db, s.agent_id)
    html = client.get(f"/cases/{s.case_id}").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;" in html


def test_a_case_with_many_events_shows_the_last_200(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings, events=260)
    _login(client, db, s.agent_id)
    page = client.get(f"/cases/{s.case_id}")
    assert page.status_code == 200
    events = _section(page.text, "events-panel")
    assert events.split("<tbody>")[1].count("<tr") == 200
    assert "the last 200" in events
    # The newest signal (the flagged message) is among them.
    assert "Pay me directly" in _section(page.text, "evidence-panel")


def test_identity_review_case_offers_approve_and_reject_keys(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    verification = db.get(IdentityVerification, s.verification_id)
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
    cases.assign(db, SYSTEM, review.id, staff_id=s.agent_id)
    db.commit()
    _login(client, db, s.agent_id)
    html = client.get(f"/cases/{review.id}").text
    url = f"/identity/verifications/{s.verification_id}"
    assert re.search(rf'href="{url}#approve" data-key="a"', html)
    assert re.search(rf'href="{url}#reject" data-key="r"', html)


def test_invalid_and_hidden_cases_are_404(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    legal_id = db.scalar(select(func.max(Case.id)).where(Case.tier == Tier.legal))
    db.rollback()
    _login(client, db, s.agent_id)
    html = {"accept": "text/html"}
    assert client.get("/cases/999999", headers=html).status_code == 404
    assert client.get("/cases/0", headers=html).status_code == 404
    assert client.get("/cases/abc", headers=html).status_code == 404
    assert client.get(f"/cases/{2**64}", headers=html).status_code == 404
    hidden = client.get(f"/cases/{legal_id}", headers=html)
    assert hidden.status_code == 404
    assert "Subpoena" not in hidden.text


def test_a_legal_reviewer_sees_the_legal_case_in_the_history(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed(db, settings)
    lawyer = make_staff(db, role=Role.legal)
    db.commit()
    _login(client, db, lawyer.id)
    html = client.get(f"/cases/{s.case_id}").text
    assert "Subpoena about the account" in _section(html, "prior-panel")
