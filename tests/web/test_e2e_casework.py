"""Stories of casework in a real Chromium, end to end through real loopback servers:

1. An agent takes the next case with ``n``, reads the evidence (the fired rule, the reporter's
   words, the flagged message with its matched spans marked, the score), decides "suspend 7
   days" with the Spanish message, and the next case opens; the marketplace's webhook receiver
   gets the signed action and the user's SMTP server gets the email in Spanish.
2. An agent escalates a case with ``e``; a specialist finds it under "Escalations waiting on
   me" on their home page and decides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_staff
from tests.servers import SmtpServer, WebhookReceiver
from tests.web.conftest import seed_case
from tests.web.e2e import assert_clean, login, logout, screenshot
from tests.web.test_decision_http import FACTS, catalog
from vigil.accounts import service as accounts
from vigil.accounts.models import Account, AccountStatus
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType, Severity
from vigil.config import Settings
from vigil.detection.models import Event, Outcome
from vigil.enforcement.models import Decision, DecisionStatus
from vigil.integrations import service as integrations
from vigil.integrations import signing
from vigil.jobs.worker import Worker
from vigil.kit import clock

pytestmark = pytest.mark.browser

SYSTEM = Principal.system("test")
FLAGGED = (
    "Págame por transferencia fuera de la plataforma y te hago descuento: "
    "escríbeme a maria.pagos@gmail.com"
)
REPORT = "Me pidió que le pagara por fuera de la plataforma y amenazó con una mala reseña."
EDITED = "Hola María: suspendimos tu cuenta durante 7 días por pedir pagos fuera de la plataforma."


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    """The app under test sends mail to the loopback SMTP server; webhook retries in
    fractions of a second."""
    return settings.model_copy(
        update={
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "webhook_backoff_base_seconds": 0.05,
            "webhook_backoff_max_seconds": 0.2,
            "webhook_timeout_seconds": 5.0,
        }
    )


@dataclass
class World:
    agent_email: str
    case_id: int
    next_case_id: int
    account_id: int
    secret: str


def _event(db: Session, account: Account, case_id: int, n: int, **fields: object) -> Event:
    at = clock.now()
    payload = {
        "event_id": f"e2e-{case_id}-{n}",
        "type": fields.get("type", "message_sent"),
        "account_id": account.external_id,
        "occurred_at": at.isoformat(),
        "data": fields.pop("data", {}),
    }
    if "counterparty_id" in fields:
        payload["counterparty_id"] = fields.pop("counterparty_id")
    row = Event(
        event_id=payload["event_id"],
        payload_sha256="0" * 64,
        type=str(payload["type"]),
        account_id=account.id,
        account_external_id=account.external_id,
        occurred_at=at,
        received_at=at,
        source="tests",
        payload=payload,
        features=fields.pop("features", {}),
        outcome=fields.pop("outcome", Outcome.allow),
        score=fields.pop("score", 0.0),
        hits=fields.pop("hits", []),
        errors=[],
        case_id=case_id,
    )
    db.add(row)
    db.flush()
    return row


def _world(db: Session, webhook_receiver: WebhookReceiver) -> World:
    """María's case (a Spanish user report) with the evidence an agent reads: a flagged chat
    message that fired the off-platform rule and scored high, and the report Carlos (the
    client) filed in his own words. A second, less urgent Spanish case waits behind it.
    Committed."""
    email, case_id = seed_case(db)
    catalog(db)
    issued = integrations.create_integration(
        db, SYSTEM, name="marketplace", url=webhook_receiver.url
    )
    case = db.get(Case, case_id)
    assert case is not None and case.account_id is not None
    account = db.get(Account, case.account_id)
    assert account is not None
    _event(
        db,
        account,
        case_id,
        1,
        data={"text": FLAGGED},
        features={"off_platform_score": 0.93, "contact_kinds": ["email"]},
        outcome=Outcome.review,
        score=80.0,
        hits=[
            {
                "rule_id": 1,
                "name": "off_platform_payment",
                "reason": "Asks to be paid outside the platform",
                "policy_code": "fee_circumvention",
                "outcome": "review",
                "score": 80,
            }
        ],
    )
    client, _ = accounts.upsert_account(
        db,
        SYSTEM,
        "u-200",
        AccountUpsert.model_validate(
            {"side": "client", "display_name": "Carlos P.", "country": "ES", "locale": "es"}
        ),
    )
    _event(
        db,
        client,
        case_id,
        2,
        type="report_filed",
        data={"reason": "off_platform_payment", "text": REPORT, "target_type": "account"},
        counterparty_id=account.external_id,
    )
    later = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.user_report,
            title="Reseñas falsas",
            summary="Varias reseñas de cuentas nuevas el mismo día.",
            account_id=account.id,
            language="es",
            severity=Severity.low,
            priority=4,
        ),
    ).case
    db.commit()
    return World(email, case_id, later.id, account.id, issued.secret)


def _decide_suspension(page: Page) -> None:
    """The decision panel: fee circumvention, suspend 7 days (the ladder proposes a warning,
    so say why), the reasoning and the facts, then the Spanish message, edited."""
    policy = page.locator("#decision-policy")
    expect(policy).to_be_visible()
    page.keyboard.press("d")
    expect(policy).to_be_focused()
    policy.select_option("fee_circumvention")
    expect(page.get_by_text("Guidance for reviewers")).to_be_visible()
    page.get_by_label("Action", exact=True).select_option("suspend")
    page.get_by_label("Duration (days)").fill("7")
    page.locator("#decision-departure-reason").fill("She also threatened the client.")
    page.get_by_label("Internal reasoning (for staff; never shown to the user)").fill(
        "Asks for a bank transfer in the chat; the client confirms it."
    )
    page.get_by_label("Facts and circumstances relied on").fill(FACTS)
    page.get_by_role("button", name=re.compile("Preview message")).click()
    expect(page.locator("#decision-preview-language")).to_have_text("In Spanish (es)")
    expect(page.get_by_label("Message (you may edit it)")).to_have_value(
        re.compile("durante 7 días")
    )
    page.get_by_label("Message (you may edit it)").fill(EDITED)


def test_an_agent_reads_the_evidence_suspends_for_7_days_and_the_next_case_opens(
    page: Page,
    db: Session,
    settings: Settings,
    session_factory: sessionmaker[Session],
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    w = _world(db, webhook_receiver)
    login(page, w.agent_email)
    screenshot(page, "home-agent")

    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{w.case_id}$"))
    expect(page.get_by_role("heading", name=re.compile("Asked to pay outside"))).to_be_visible()

    # The evidence: why the case exists, the reporter's words, the flagged message with its
    # matched spans marked (contact details masked), and the score.
    why = page.locator("#why-panel")
    expect(why.locator("#fired-rules")).to_contain_text("off_platform_payment")
    expect(why.locator("#fired-rules")).to_contain_text("Asks to be paid outside the platform")
    expect(why.locator("#reports")).to_contain_text(REPORT)
    expect(why.locator("#model-scores")).to_contain_text("0.93")
    flagged = page.locator("#flagged")
    expect(flagged).to_contain_text("Págame por transferencia")
    expect(flagged.locator("mark.hit").first).to_be_visible()
    expect(page.get_by_text("maria.pagos@gmail.com")).to_have_count(0)
    screenshot(page, "case-page")

    _decide_suspension(page)
    screenshot(page, "case-decision-panel")
    page.get_by_role("button", name="Record decision").click()

    # The next case opens, saying what was done.
    expect(page).to_have_url(re.compile(rf"/cases/{w.next_case_id}\?notice=decided"))
    expect(page.get_by_role("status").first).to_contain_text("Decision recorded and applied")
    expect(page.get_by_role("heading", name=re.compile("Reseñas falsas"))).to_be_visible()

    db.expire_all()
    decision = db.scalars(select(Decision).where(Decision.case_id == w.case_id)).one()
    assert decision.status == DecisionStatus.applied
    account = db.get(Account, w.account_id)
    assert account is not None and account.status == AccountStatus.suspended
    db.rollback()

    # The worker delivers: the signed webhook to the marketplace, the email to the user.
    Worker(settings, session_factory, name="e2e-casework").drain()
    hooks = webhook_receiver.wait_for(1)
    applied = [r for r in hooks if r.headers["vigil-event"] == "action.applied"]
    assert len(applied) == 1
    signing.verify(w.secret, applied[0].headers["vigil-signature"], applied[0].body)
    data = applied[0].json()["data"]
    assert (data["type"], data["scope"], data["account_external_id"]) == (
        "suspend",
        "account",
        "u-100",
    )
    (mail,) = smtp_server.wait_for(1)
    assert mail.recipients == ["maria@example.com"]
    assert mail.message["Content-Language"].startswith("es")
    assert mail.text.startswith(EDITED)
    assert "SOR-" in mail.text
    assert_clean(page)


def test_an_escalation_reaches_a_specialist_who_decides_it(
    page: Page, db: Session, webhook_receiver: WebhookReceiver
) -> None:
    w = _world(db, webhook_receiver)
    specialist = make_staff(db, role=Role.specialist, name="Sam Lee", languages=["es", "en"])
    db.commit()

    login(page, w.agent_email)
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{w.case_id}$"))
    # The page's keys are live once console.js has run (the URL changes before that).
    expect(page.locator("html")).to_have_attribute("data-console-keys", "on")
    page.keyboard.press("e")
    reason = page.locator(":focus")
    expect(reason).to_be_editable()
    page.keyboard.type("Payment steering with a threat; needs a specialist.")
    page.get_by_role("button", name=re.compile("Escalate")).click()
    expect(page.get_by_role("status").first).to_contain_text("Case escalated")
    logout(page)

    login(page, specialist.email)
    waiting = page.get_by_role("region", name=re.compile("Escalations waiting on me"))
    expect(waiting).to_contain_text("1")
    link = waiting.get_by_role("link", name=re.compile(rf"#{w.case_id} Asked to pay outside"))
    expect(link).to_be_visible()
    screenshot(page, "home-specialist")
    link.click()
    expect(page).to_have_url(re.compile(rf"/cases/{w.case_id}$"))
    expect(page.locator("#timeline")).to_contain_text("Payment steering with a threat")
    take = page.get_by_role("button", name="Take this case")
    if take.count():
        take.click()

    _decide_suspension(page)
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status").first).to_contain_text("Decision recorded and applied")

    db.expire_all()
    case = db.get(Case, w.case_id)
    assert case is not None
    assert (case.status, case.tier.value) == (CaseStatus.closed, "specialist")
    decision = db.scalars(select(Decision).where(Decision.case_id == w.case_id)).one()
    assert decision.status == DecisionStatus.applied
    assert decision.decided_by_id == specialist.id
    db.rollback()
    assert_clean(page)
