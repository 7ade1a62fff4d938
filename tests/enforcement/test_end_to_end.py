"""A decision from the API to the marketplace and the user, through real loopback servers.

A reviewer suspends an account for 7 days. The marketplace's webhook receiver is down for its
first five requests; it still receives each action once per idempotency key, signed, and the
delivery log shows every attempt. The user gets an email in Spanish with the statement of
reasons and how to appeal; the statement passes the Transparency Database's rules; when the
suspension ends, the reversal reaches the marketplace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.enforcement.conftest import SYSTEM, held_case, make_account, staff, statement
from tests.factories import login_as
from tests.servers import SmtpServer, WebhookReceiver
from vigil.accounts.models import Account, AccountStatus
from vigil.app import create_app
from vigil.cases import routing
from vigil.config import Settings
from vigil.dsa import rules
from vigil.enforcement.tasks import EXPIRE_DUE
from vigil.integrations import service as integrations
from vigil.integrations import signing
from vigil.jobs import service as jobs
from vigil.jobs.worker import Worker
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.policies.pack import load_pack


def run_jobs_until(
    worker: Worker, frozen: FrozenClock, done: Callable[[], bool], *, rounds: int = 200
) -> None:
    """Run due jobs, then let a second of (frozen) time pass, until ``done()``: retries are
    scheduled in the future, so time has to move for them to come due."""
    for _ in range(rounds):
        worker.drain()
        if done():
            return
        frozen.advance(timedelta(seconds=1))
    raise AssertionError("the jobs did not finish")


@pytest.fixture
def e2e_client(mail_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(mail_settings, run_worker=False)) as client:
        yield client


def test_suspension_reaches_the_marketplace_and_the_user_and_is_reversed_when_it_ends(
    db: Session,
    session_factory: sessionmaker[Session],
    mail_settings: Settings,
    e2e_client: TestClient,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
    frozen: FrozenClock,
) -> None:
    routing.ensure_default_queues(db)
    load_pack(db, SYSTEM)
    issued = integrations.create_integration(
        db, SYSTEM, name="marketplace", url=webhook_receiver.url
    )
    agent_user, _ = staff(db)
    account = make_account(db, locale="es-MX", email="lucia@example.com", display_name="Lucía")
    case = held_case(db, agent_user, account)
    db.commit()
    login_as(e2e_client, db, agent_user)
    db.commit()

    # The receiver answers 503 to the next five requests, whatever they carry.
    webhook_receiver.fail(5)
    response = e2e_client.post(
        f"/v1/cases/{case.id}/decisions",
        json={
            "violations": [{"policy": "fee_circumvention"}],
            "actions": [{"type": "suspend", "scope": "account", "duration_days": 7}],
            "departure_reason": "Asked three clients in one day to pay by bank transfer.",
            "internal_reasoning": "Bank details in messages to three different clients.",
            "statement": statement(),
        },
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["status"] == "applied"
    assert e2e_client.get(f"/v1/cases/{case.id}").json()["status"] == "closed"

    worker = Worker(mail_settings, session_factory, name="e2e")

    def everything_arrived() -> bool:
        events = {r.headers["vigil-event"] for r in webhook_receiver.accepted}
        return {"action.applied", "message.in_app"} <= events and len(smtp_server.messages) == 1

    run_jobs_until(worker, frozen, everything_arrived)

    # Each idempotency key was accepted exactly once, after the five failures.
    accepted = webhook_receiver.accepted
    assert Counter(r.headers["idempotency-key"] for r in accepted).most_common(1)[0][1] == 1
    failed = [r for r in webhook_receiver.requests if r.answered != 200]
    assert len(failed) == 5
    applied = [r for r in accepted if r.headers["vigil-event"] == "action.applied"]
    assert len(applied) == 1
    signing.verify(
        issued.secret,
        applied[0].headers["vigil-signature"],
        applied[0].body,
        now=clock.now(),
    )
    data = applied[0].json()["data"]
    assert (data["type"], data["scope"]) == ("suspend", "account")
    assert data["account_external_id"] == account.external_id

    # The delivery log of each delivery shows every attempt: the failures, then the success.
    rows, _ = integrations.list_deliveries(db, SYSTEM, integration_id=issued.integration.id)
    assert {d.status.value for d in rows} == {"delivered"}
    attempts_seen = 0
    for row in rows:
        detail = integrations.get_delivery(db, SYSTEM, row.id)
        codes = [a.status_code for a in detail.attempts]
        assert codes[-1] == 200 and all(c == 503 for c in codes[:-1])
        attempts_seen += len(codes)
    db.commit()
    assert attempts_seen == len(webhook_receiver.requests)

    # The email: Spanish, to the account's address, with the statement and the appeal.
    mail = smtp_server.messages[0]
    assert mail.recipients == ["lucia@example.com"]
    assert mail.message["Content-Language"].startswith("es")
    text = mail.text
    assert "Pagos fuera de la plataforma" in mail.subject + text
    assert "SOR-" in text
    assert mail_settings.appeal_link in text

    # The statement of reasons passes the Transparency Database's rules.
    statements = e2e_client.get(f"/v1/decisions/{decision['id']}/statements").json()
    items = statements["items"] if isinstance(statements, dict) else statements
    assert len(items) == 1
    fields = e2e_client.get(f"/v1/statements/{items[0]['id']}").json()["fields"]
    assert rules.validate_fields(fields) == []
    assert fields["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"

    # Seven days later the suspension ends: the marketplace is told to reinstate.
    frozen.advance(timedelta(days=7, minutes=1))
    jobs.enqueue(db, EXPIRE_DUE)
    db.commit()

    def reversed_arrived() -> bool:
        return any(r.headers["vigil-event"] == "action.reversed" for r in webhook_receiver.accepted)

    run_jobs_until(worker, frozen, reversed_arrived)
    reversal = next(
        r for r in webhook_receiver.accepted if r.headers["vigil-event"] == "action.reversed"
    )
    signing.verify(
        issued.secret, reversal.headers["vigil-signature"], reversal.body, now=clock.now()
    )
    assert reversal.json()["data"]["reversal"] == "reinstate"
    refreshed = db.get(Account, account.id)
    assert refreshed is not None
    db.refresh(refreshed)
    assert refreshed.status is AccountStatus.active
    db.commit()
