"""Whole dispute stories through the API, to the real webhook receiver and SMTP server.

1. A customer disputes a pro's job; both give their side (statement, excerpts, a file); the
   mediator takes the case and proposes a partial refund; the pro accepts, then the customer:
   resolved by agreement. The marketplace receives the ``hold`` and then the ``refund``
   instruction carrying the refund and the released remainder, signed; each party got their
   messages in their own language.
2. A pro disputes an unpaid payment and the customer never answers: reminded before the
   deadline, defaulted at it (the sweep on the frozen clock), both told; the mediator rules a
   release and the instruction reaches the marketplace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.disputes.conftest import SYSTEM, make_account
from tests.factories import auth_header, login_as, make_api_key, make_staff
from tests.servers import SmtpServer, WebhookReceiver
from vigil.app import create_app
from vigil.auth.permissions import Role
from vigil.cases import routing
from vigil.config import Settings
from vigil.db import transaction
from vigil.disputes import service
from vigil.integrations import service as integrations
from vigil.integrations import signing
from vigil.jobs.worker import Worker
from vigil.kit import clock
from vigil.kit.clock import FrozenClock

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def run_jobs_until(
    worker: Worker, frozen: FrozenClock, done: Callable[[], bool], *, rounds: int = 100
) -> None:
    for _ in range(rounds):
        worker.drain()
        if done():
            return
        frozen.advance(timedelta(seconds=1))
    raise AssertionError("the jobs did not finish")


@pytest.fixture
def story_client(mail_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(mail_settings, run_worker=False)) as client:
        yield client


def _instructions(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [
        r.json()["data"]
        for r in receiver.accepted
        if r.headers["vigil-event"] == "dispute.payment_instruction"
    ]


def test_both_sides_submit_and_agree_to_a_partial_refund(
    db: Session,
    session_factory: sessionmaker[Session],
    mail_settings: Settings,
    story_client: TestClient,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
    frozen: FrozenClock,
) -> None:
    routing.ensure_default_queues(db)
    issued = integrations.create_integration(
        db, SYSTEM, name="marketplace", url=webhook_receiver.url
    )
    customer = make_account(
        db, "customer", locale="es-MX", email="lucia@example.com", display_name="Lucía"
    )
    pro = make_account(db, "pro", locale="pt-BR", email="joao@example.com", display_name="João")
    agent = make_staff(db, role=Role.agent)
    _key, secret = make_api_key(db)
    db.commit()
    key = auth_header(secret)

    opened = story_client.post(
        "/v1/disputes",
        headers={**key, "Idempotency-Key": "mk-1"},
        json={
            "subject_type": "job",
            "subject_ref": "job-7781",
            "buyer_external_id": customer.external_id,
            "seller_external_id": pro.external_id,
            "opened_by": "buyer",
            "reason_code": "not_as_described",
            "amount": {"amount": "120.50", "currency": "USD"},
            "statement": "El baño quedó con filtraciones; el trabajo no está terminado.",
        },
    )
    assert opened.status_code == 201, opened.text
    dispute = opened.json()
    assert dispute["status"] == "awaiting_response" and "case_id" not in dispute
    assert dispute["amount"] == {
        "amount": "120.50",
        "amount_minor": 12050,
        "currency": "USD",
        "display": "USD 120.50",
    }
    dispute_id = dispute["id"]
    # The same request again returns the same dispute.
    again = story_client.post(
        "/v1/disputes",
        headers={**key, "Idempotency-Key": "mk-1"},
        json={**_reopen_body(customer.external_id, pro.external_id)},
    )
    assert (again.status_code, again.json()["id"]) == (200, dispute_id)

    # The pro gives their side: a statement and message excerpts.
    side = story_client.post(
        f"/v1/disputes/{dispute_id}/submissions",
        headers=key,
        json={
            "party_external_id": pro.external_id,
            "statement": "Terminei o serviço combinado; a infiltração vem do apartamento de cima.",
            "excerpts": [
                {
                    "sent_at": "2026-11-18T14:02:00Z",
                    "author": "seller",
                    "text": "O vazamento vem do vizinho, não do encanamento que troquei.",
                },
                {
                    "sent_at": "2026-11-18T14:10:00Z",
                    "author": "buyer",
                    "text": "Vou falar com o vizinho.",
                },
            ],
        },
    )
    assert side.status_code == 201, side.text
    # The customer adds a photo.
    photo = story_client.post(
        f"/v1/disputes/{dispute_id}/files",
        headers=key,
        data={"party_external_id": customer.external_id},
        files={"file": ("bano.png", PNG, "image/png")},
    )
    assert photo.status_code == 201, photo.text
    assert photo.json()["content_type"] == "image/png"
    assert (
        story_client.get(f"/v1/disputes/{dispute_id}", headers=key).json()["dispute"]["status"]
        == "in_mediation"
    )

    # The mediator takes the case and sees both sides.
    login_as(story_client, db, agent)
    case_id = service.get_dispute(db, SYSTEM, dispute_id).case_id
    db.commit()
    assert story_client.post(f"/v1/cases/{case_id}/assign", json={}).status_code == 200
    detail = story_client.get(f"/v1/disputes/{dispute_id}").json()
    assert detail["dispute"]["case_id"] == case_id
    assert {s["party"] for s in detail["submissions"]} == {"buyer", "seller"}
    file_id = next(s["id"] for s in detail["submissions"] if s["kind"] == "file")
    shown = story_client.get(f"/v1/disputes/{dispute_id}/files/{file_id}")
    assert (shown.status_code, shown.content) == (200, PNG)

    proposal = story_client.post(
        f"/v1/disputes/{dispute_id}/proposals",
        json={
            "outcome": "partial_refund",
            "amount": "40.50",
            "note": "The leak comes from upstairs; the finish was left incomplete.",
        },
    )
    assert proposal.status_code == 201, proposal.text
    proposal_id = proposal.json()["id"]
    assert proposal.json()["refund"]["amount"] == "40.50"
    assert proposal.json()["release"]["amount"] == "80.00"

    # The pro accepts first, then the customer: resolved by agreement.
    for who in (pro, customer):
        answered = story_client.post(
            f"/v1/disputes/{dispute_id}/proposals/{proposal_id}/answer",
            headers=key,
            json={"party_external_id": who.external_id, "accept": True},
        )
        assert answered.status_code == 200, answered.text
    final = story_client.get(f"/v1/disputes/{dispute_id}", headers=key).json()["dispute"]
    assert (final["status"], final["resolved_by"], final["outcome"]) == (
        "resolved",
        "agreement",
        "partial_refund",
    )
    assert final["payment_status"] == "partially_refunded"
    assert story_client.get(f"/v1/cases/{case_id}").json()["status"] == "closed"

    worker = Worker(mail_settings, session_factory, name="disputes-e2e")

    def arrived() -> bool:
        kinds = [d["instruction"] for d in _instructions(webhook_receiver)]
        # opened (pro); proposal (both); outcome (both)
        return kinds.count("refund") == 1 and len(smtp_server.messages) == 5

    run_jobs_until(worker, frozen, arrived)

    instructions = _instructions(webhook_receiver)
    assert [d["instruction"] for d in instructions] == ["hold", "refund"]
    hold, refund = instructions
    assert (hold["hold_amount"], hold["currency"]) == ("120.50", "USD")
    assert hold["subject"] == {"type": "job", "ref": "job-7781"}
    assert (refund["refund_amount"], refund["refund_amount_minor"]) == ("40.50", 4050)
    assert (refund["release_amount"], refund["release_amount_minor"]) == ("80.00", 8000)
    paid = next(
        r
        for r in webhook_receiver.accepted
        if r.headers["vigil-event"] == "dispute.payment_instruction" and "refund" in r.body.decode()
    )
    signing.verify(issued.secret, paid.headers["vigil-signature"], paid.body, now=clock.now())
    keys = Counter(r.headers["idempotency-key"] for r in webhook_receiver.accepted)
    assert keys.most_common(1)[0][1] == 1
    updates = [
        r.json()["data"]["status"]
        for r in webhook_receiver.accepted
        if r.headers["vigil-event"] == "dispute.updated"
    ]
    assert updates == ["awaiting_response", "in_mediation", "proposed", "resolved"]

    # Messages: each in the reader's language, to the reader's address.
    by_recipient: dict[str, list[str]] = {}
    for mail in smtp_server.messages:
        by_recipient.setdefault(mail.recipients[0], []).append(mail.subject)
        assert mail.message["Content-Language"].startswith(
            "es" if mail.recipients == ["lucia@example.com"] else "pt"
        )
    assert len(by_recipient["joao@example.com"]) == 3  # opened, proposal, outcome
    assert len(by_recipient["lucia@example.com"]) == 2  # proposal, outcome
    assert any("Uma disputa foi aberta" in s for s in by_recipient["joao@example.com"])
    assert any("Tu disputa está resuelta" in s for s in by_recipient["lucia@example.com"])
    outcome_mail = next(
        m
        for m in smtp_server.messages
        if m.recipients == ["lucia@example.com"] and "resuelta" in m.subject
    )
    # Amounts as read in Spanish: a comma before the cents, the code after.
    assert "40,50 USD" in outcome_mail.text and "80,00 USD" in outcome_mail.text


def _reopen_body(buyer: str, seller: str) -> dict[str, Any]:
    return {
        "subject_type": "job",
        "subject_ref": "job-7781",
        "buyer_external_id": buyer,
        "seller_external_id": seller,
        "opened_by": "buyer",
        "reason_code": "not_as_described",
        "amount": {"amount": "120.50", "currency": "USD"},
    }


def test_the_customer_never_responds_and_the_mediator_rules(
    db: Session,
    session_factory: sessionmaker[Session],
    mail_settings: Settings,
    story_client: TestClient,
    smtp_server: SmtpServer,
    webhook_receiver: WebhookReceiver,
    frozen: FrozenClock,
) -> None:
    routing.ensure_default_queues(db)
    integrations.create_integration(db, SYSTEM, name="marketplace", url=webhook_receiver.url)
    customer = make_account(db, "customer", locale="en", email="sam@example.com")
    pro = make_account(db, "pro", locale="es", email="diego@example.com")
    agent = make_staff(db, role=Role.agent)
    _key, secret = make_api_key(db)
    db.commit()
    key = auth_header(secret)

    opened = story_client.post(
        "/v1/disputes",
        headers=key,
        json={
            "subject_type": "payment",
            "subject_ref": "pay-5521",
            "buyer_external_id": customer.external_id,
            "seller_external_id": pro.external_id,
            "opened_by": "seller",
            "reason_code": "payment_not_received",
            "amount": {"amount": "75", "currency": "EUR"},
            "statement": "Terminé la instalación el lunes y el cliente canceló el pago.",
        },
    )
    assert opened.status_code == 201, opened.text
    dispute_id = opened.json()["id"]

    # 49 hours on: the reminder (24 hours before the deadline) goes to the customer.
    frozen.advance(timedelta(hours=49))
    with transaction(session_factory) as session:
        assert service.sweep(session, mail_settings) == 1
    # At the deadline: defaulted, both told, the case more urgent.
    frozen.advance(timedelta(hours=23))
    with transaction(session_factory) as session:
        assert service.sweep(session, mail_settings) == 1
    with transaction(session_factory) as session:
        assert service.sweep(session, mail_settings) == 0  # a second run does nothing
    state = story_client.get(f"/v1/disputes/{dispute_id}", headers=key).json()
    assert state["dispute"]["status"] == "in_mediation"
    assert state["dispute"]["respondent_defaulted"] is True
    assert [e["kind"] for e in state["timeline"]][-2:] == ["reminder", "defaulted"]

    login_as(story_client, db, agent)
    case_id = service.get_dispute(db, SYSTEM, dispute_id).case_id
    db.commit()
    case = story_client.get(f"/v1/cases/{case_id}").json()
    assert case["priority"] == 2  # EUR 75 is priority 3, raised one step by the default
    assert story_client.post(f"/v1/cases/{case_id}/assign", json={}).status_code == 200
    ruled = story_client.post(
        f"/v1/disputes/{dispute_id}/ruling",
        json={"outcome": "release", "reason": "Installation confirmed by photos; no reply."},
    )
    assert ruled.status_code == 200, ruled.text
    assert (ruled.json()["resolved_by"], ruled.json()["payment_status"]) == ("ruling", "released")

    worker = Worker(mail_settings, session_factory, name="disputes-e2e-2")

    def arrived() -> bool:
        return any(d["instruction"] == "release" for d in _instructions(webhook_receiver)) and (
            len(smtp_server.messages) == 6
        )

    run_jobs_until(worker, frozen, arrived)
    release = next(d for d in _instructions(webhook_receiver) if d["instruction"] == "release")
    assert (release["release_amount"], release["refund_amount"], release["currency"]) == (
        "75.00",
        "0.00",
        "EUR",
    )
    subjects = [(m.recipients[0], m.subject) for m in smtp_server.messages]
    to_customer = [s for r, s in subjects if r == "sam@example.com"]
    to_pro = [s for r, s in subjects if r == "diego@example.com"]
    # The customer: opened, reminder, defaulted, outcome; the pro: defaulted, outcome.
    assert len(to_customer) == 4 and len(to_pro) == 2
    assert any(s.strip().startswith("Reminder: the dispute") for s in to_customer), to_customer
    assert any("pasa a mediación" in s for s in to_pro)
