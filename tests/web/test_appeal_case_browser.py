"""An appeal overturning a suspension, in a real Chromium, with the real SMTP server and
webhook receiver.

Agent Ana suspends Lucía for 7 days (the user is emailed, in Spanish). The marketplace sends
Lucía's appeal through the API. Ana asks for her next case and does not get the appeal (she
took the decision); specialist Sofía does, reads the appeal view (Lucía's words, the
decision, its statement and message, the flagged message that fired the rule), and
overturns it with a reason, confirming what it lifts. The marketplace receives
``action.reversed`` (the suspension is lifted) and ``appeal.decided``; Lucía receives one
email, in Spanish, saying so; the statement of reasons shows the revision."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.appeals.conftest import WHY
from tests.enforcement.conftest import (
    SUSPEND_7,
    SYSTEM,
    decide,
    held_case,
    make_account,
    make_policy,
    principal,
)
from tests.factories import DEFAULT_PASSWORD, auth_header, make_api_key, make_staff
from tests.servers import SmtpServer, WebhookReceiver
from tests.web.e2e import assert_clean, assert_screen, login, logout
from vigil.accounts.models import Account, AccountStatus
from vigil.appeals.models import Appeal, AppealStatus
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.cases import routing
from vigil.cases.models import Case
from vigil.config import Settings
from vigil.detection.models import Event, Outcome
from vigil.dsa.models import Statement
from vigil.integrations import service as integrations
from vigil.jobs.worker import Worker
from vigil.kit import clock

# Real time: the browser keeps the session cookie by the real clock.
pytestmark = pytest.mark.browser

FLAGGED = "Si quieres, págame por transferencia y te hago un descuento del 10 %."
REASON = (
    "Los mensajes muestran que fue el cliente quien propuso el pago por transferencia y que "
    "Lucía lo rechazó."
)


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    """The app under test mails the loopback SMTP server; webhook retries are quick."""
    return settings.model_copy(
        update={
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "webhook_backoff_base_seconds": 0.05,
            "webhook_backoff_max_seconds": 0.2,
            "webhook_timeout_seconds": 5.0,
        }
    )


def run_jobs_until(worker: Worker, done: Callable[[], bool], *, rounds: int = 300) -> None:
    """Run due jobs until ``done()`` (nothing here is made to fail, so no retry waits)."""
    for _ in range(rounds):
        worker.drain()
        if done():
            return
        time.sleep(0.05)
    raise AssertionError("the jobs did not finish")


def _flagged(db: Session, account: Account, case_id: int) -> None:
    """The chat message that opened the case, with the rule that fired on it."""
    at = clock.now()
    db.add(
        Event(
            event_id=f"appeal-story-{case_id}",
            payload_sha256="0" * 64,
            type="message_sent",
            account_id=account.id,
            account_external_id=account.external_id,
            occurred_at=at,
            received_at=at,
            source="tests",
            payload={"data": {"text": FLAGGED}},
            features={"off_platform_score": 0.81},
            outcome=Outcome.review,
            score=60.0,
            hits=[
                {
                    "rule_id": 1,
                    "rule_version": 1,
                    "name": "off_platform_payment",
                    "reason": "Offers a discount for paying outside the platform",
                    "policy_code": "fee_circumvention",
                    "outcome": "review",
                    "score": 60,
                    "queue": None,
                    "shadow": False,
                }
            ],
            errors=[],
            case_id=case_id,
        )
    )
    db.flush()


def test_an_appeal_overturns_a_suspension(
    page: Page,
    live_server: str,
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    routing.ensure_default_queues(db)
    make_policy(db)
    ana = make_staff(db, role=Role.agent, name="Ana Torres", languages=["es", "en"])
    sofia = make_staff(db, role=Role.specialist, name="Sofía Díaz", languages=["es", "en"])
    lucia = make_account(
        db, email="lucia@example.com", locale="es", display_name="Lucía", external_id="u-lucia"
    )
    original = held_case(db, ana, lucia)
    _flagged(db, lucia, original.id)
    integrations.create_integration(db, SYSTEM, name="marketplace", url=webhook_receiver.url)
    _, secret = make_api_key(db)
    decision = decide(
        db, principal(ana), original, settings, actions=SUSPEND_7,
        departure_reason="Third request this week.",
    )  # fmt: skip
    statement = db.scalar(select(Statement).where(Statement.decision_id == decision.id))
    assert statement is not None
    db.commit()
    worker = Worker(settings, session_factory, name="appeal-story")
    run_jobs_until(worker, lambda: len(smtp_server.messages) == 1)
    assert "SOR-" in smtp_server.messages[0].text

    # The marketplace sends Lucía's appeal.
    api = httpx.Client(base_url=live_server, headers=auth_header(secret), timeout=15)
    sent = api.post(
        "/v1/appeals",
        json={
            "account_external_id": "u-lucia",
            "reference": statement.reference,
            "statement": WHY,
            "language": "es",
        },
    )
    assert sent.status_code == 201, sent.text
    appeal_id = sent.json()["id"]
    case_id = sent.json()["case_id"]

    # Ana took the decision: her next case is never the appeal, nor can she be given it.
    db.commit()
    login(page, ana.email)
    page.get_by_role("button", name="Next case").click()
    expect(page.get_by_text("Nothing is waiting in your queues")).to_be_visible()
    logout(page)

    # Sofía's next case is the appeal.
    login(page, sofia.email)
    page.get_by_role("button", name="Next case").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}$"))
    view = page.locator("#case-appeal")
    expect(view.get_by_role("heading", name=f"Appeal A-{appeal_id}")).to_be_visible()
    expect(view.locator("#appeal-text")).to_have_text(WHY)
    expect(view.locator("#appeal-original")).to_contain_text("Ana Torres")
    expect(view.locator("#appeal-original")).to_contain_text("fee_circumvention")
    expect(view.locator("#appeal-statement")).to_contain_text("bank transfer")
    expect(view.locator("#appeal-evidence")).to_contain_text("off_platform_payment")
    expect(view.locator("#appeal-evidence")).to_contain_text("descuento")
    expect(view.locator("#appeal-recused")).to_contain_text("Ana Torres")
    expect(view.locator("#appeal-window")).to_contain_text("days left")
    # The new decision's fields wait until Modify is chosen; the button names no outcome yet.
    expect(view.locator("#appeal-modify")).to_be_hidden()
    expect(view.locator("#appeal-submit")).to_have_text("Record the outcome")
    assert_screen(page, "appeal")

    # d goes to the first outcome; the button follows the choice.
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("d")
    expect(view.get_by_label("Uphold: the decision stands")).to_be_focused()
    view.get_by_label("Uphold: the decision stands").check()
    expect(view.locator("#appeal-submit")).to_have_text("Uphold the decision")
    view.get_by_label("Modify: replace it with a different decision").check()
    expect(view.locator("#appeal-modify")).to_be_visible()
    expect(view.get_by_label("Policy")).to_be_visible()
    expect(view.locator("#appeal-submit")).to_have_text("Modify the decision…")

    # Overturn, with a reason the user reads: restated, and recorded only once confirmed.
    view.get_by_label("Overturn: the decision was wrong, lift it").check()
    expect(view.locator("#appeal-modify")).to_be_hidden()
    view.get_by_label("Reason (sent to the user with the outcome)").fill(REASON)
    view.get_by_role("button", name="Overturn: lift the 7-day suspension").click()
    confirm = page.locator("#appeal-confirm")
    expect(confirm).to_contain_text("on u-lucia (Lucía): lift the 7-day suspension.")
    expect(confirm).to_contain_text(REASON)
    expect(page.locator("#appeal-status")).to_have_text("open")
    assert_screen(page, "appeal-confirm")
    confirm.get_by_role("button", name="Confirm: lift the 7-day suspension").click()
    expect(page.locator("#appeal-status")).to_have_text("overturned")
    expect(page.locator("#appeal-outcome")).to_contain_text(REASON)
    assert_clean(page)

    stored = db.get(Appeal, appeal_id, populate_existing=True)
    assert stored is not None and stored.status == AppealStatus.overturned
    account = db.get(Account, lucia.id, populate_existing=True)
    assert account is not None and account.status == AccountStatus.active
    db.commit()

    def arrived() -> bool:
        events = {r.headers["vigil-event"] for r in webhook_receiver.accepted}
        return {"action.reversed", "appeal.decided"} <= events and len(smtp_server.messages) >= 2

    run_jobs_until(worker, arrived)
    reversal = next(
        r.json()["data"]
        for r in webhook_receiver.accepted
        if r.headers["vigil-event"] == "action.reversed"
    )
    assert reversal["decision_id"] == decision.id and reversal["type"] == "suspend"
    assert reversal["reversal"] and reversal["account_external_id"] == "u-lucia"
    decided = next(
        r.json()["data"]
        for r in webhook_receiver.accepted
        if r.headers["vigil-event"] == "appeal.decided"
    )
    assert decided["status"] == "overturned" and decided["appeal_id"] == appeal_id

    # One message about the appeal, in Spanish, with the reason; no second reinstatement.
    after = smtp_server.messages[1:]
    assert len(after) == 1
    mail = after[0]
    assert mail.recipients == ["lucia@example.com"]
    assert mail.message["Content-Language"].startswith("es")
    assert f"A-{appeal_id}" in mail.subject and "revocamos" in mail.subject
    assert REASON in mail.text

    # The statement of reasons shows the revision; what was submitted stays as it was.
    shown = api.get(f"/v1/statements/{statement.id}").json()
    assert shown["revision"]["outcome"] == "overturned"
    assert shown["revision"]["reason"] == REASON
    assert shown["fields"] == statement.fields
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None and case.status == "closed"
    db.commit()
    api.close()


def test_an_upheld_appeal_over_http_tells_the_user_and_the_marketplace(
    live_server: str,
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    """The same road without a browser: the marketplace appeals, a specialist decides over the
    API with her session, the decision stands."""
    routing.ensure_default_queues(db)
    make_policy(db)
    ana = make_staff(db, role=Role.agent, name="Ana Torres", languages=["es", "en"])
    sofia = make_staff(db, role=Role.specialist, name="Sofía Díaz", languages=["es", "en"])
    lucia = make_account(
        db, email="lucia@example.com", locale="es", display_name="Lucía", external_id="u-lucia"
    )
    original = held_case(db, ana, lucia)
    integrations.create_integration(db, SYSTEM, name="marketplace", url=webhook_receiver.url)
    _, secret = make_api_key(db)
    decision = decide(
        db, principal(ana), original, settings, actions=SUSPEND_7,
        departure_reason="Third request this week.",
    )  # fmt: skip
    statement = db.scalar(select(Statement).where(Statement.decision_id == decision.id))
    assert statement is not None
    db.commit()
    worker = Worker(settings, session_factory, name="appeal-upheld")
    run_jobs_until(worker, lambda: len(smtp_server.messages) == 1)

    marketplace = httpx.Client(base_url=live_server, headers=auth_header(secret), timeout=15)
    sent = marketplace.post(
        "/v1/appeals",
        json={"account_external_id": "u-lucia", "decision_id": decision.id, "statement": WHY,
              "language": "es"},
    )  # fmt: skip
    assert sent.status_code == 201, sent.text
    appeal_id, case_id = sent.json()["id"], sent.json()["case_id"]
    again = marketplace.post(
        "/v1/appeals",
        json={"account_external_id": "u-lucia", "decision_id": decision.id, "statement": WHY},
    )
    assert again.status_code == 409 and again.json()["code"] == "appeal_exists"

    staff = httpx.Client(base_url=live_server, timeout=15)
    issued = auth_service.login(db, sofia.email, DEFAULT_PASSWORD, ttl=timedelta(hours=1))
    db.commit()
    staff.cookies.set(settings.session_cookie, issued.token)
    staff.headers["X-CSRF-Token"] = issued.csrf_token
    not_yet = staff.post(
        f"/v1/appeals/{appeal_id}/decide", json={"outcome": "uphold", "reason": REASON}
    )
    assert not_yet.status_code == 403 and not_yet.json()["code"] == "not_assignee"
    taken = staff.post(f"/v1/cases/{case_id}/assign", json={})
    assert taken.status_code == 200, taken.text
    upheld = staff.post(
        f"/v1/appeals/{appeal_id}/decide",
        json={"outcome": "uphold", "reason": "Los mensajes muestran que Lucía pidió el pago."},
    )
    assert upheld.status_code == 200, upheld.text
    assert upheld.json()["status"] == "upheld"

    def arrived() -> bool:
        events = {r.headers["vigil-event"] for r in webhook_receiver.accepted}
        return "appeal.decided" in events and len(smtp_server.messages) >= 2

    run_jobs_until(worker, arrived)
    events = [r.headers["vigil-event"] for r in webhook_receiver.accepted]
    assert "action.reversed" not in events
    mail = smtp_server.messages[1]
    assert mail.recipients == ["lucia@example.com"]
    assert "mantenemos nuestra decisión" in mail.subject
    assert "Los mensajes muestran que Lucía pidió el pago." in mail.text
    shown = marketplace.get(f"/v1/statements/{statement.id}").json()
    assert shown["revision"]["outcome"] == "confirmed"
    account = db.get(Account, lucia.id, populate_existing=True)
    assert account is not None and account.status == AccountStatus.suspended
    db.commit()
    marketplace.close()
    staff.close()
