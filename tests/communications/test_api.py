"""The messages API as reviewers and policy leads use it: previews, macros, ad-hoc messages
to a case's account, and reading what was sent."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.communications.conftest import POLICY, SYSTEM, make_account, make_case, make_policy
from tests.factories import auth_header, login_as, logout, make_api_key, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role, Tier
from vigil.cases.models import CaseEvent
from vigil.communications.models import Macro, Message
from vigil.jobs.models import Job
from vigil.policies import service as policies

ASK_FOR_INFO = {
    "name": "Ask for proof of delivery",
    "locale": "es",
    "subject": "Necesitamos más información ({{ case_ref }})",
    "body": "Hola{{ ', ' ~ user_name if user_name else '' }}: para revisar el caso "
    "{{ case_ref }} necesitamos un comprobante de entrega. Puede responder en "
    "{{ appeal_url }}.",
}


def _counts(db: Session) -> tuple[int, ...]:
    db.expire_all()
    found = tuple(
        db.scalar(select(func.count()).select_from(m)) or 0
        for m in (Message, CaseEvent, Job, AuditRecord, Macro)
    )
    db.rollback()
    return found


def test_preview_in_the_users_language(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    sample = client.post("/v1/messages/preview", json={"action": "suspend", "locale": "pt-BR"})
    assert sample.status_code == 200, sample.text
    body = sample.json()
    assert body["locale"] == "pt" and body["fell_back"] is False
    assert body["template_key"] == "shipped:pt/suspend"
    assert body["subject"].startswith("Sua conta foi suspensa")
    assert "EXPOSIÇÃO DE MOTIVOS" in body["statement_section"]

    fallback = client.post("/v1/messages/preview", json={"action": "warn", "locale": "ja"})
    assert fallback.json()["fell_back"] is True and fallback.json()["locale"] == "en"

    lacking = client.post(
        "/v1/messages/preview",
        json={"action": "suspend", "locale": "es", "context": {"user_name": "Ana"}},
    )
    assert lacking.status_code == 422
    assert lacking.json()["code"] == "template_variable_missing"
    assert lacking.json()["field"] == "message"

    unknown = client.post("/v1/messages/preview", json={"action": "delete", "locale": "es"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "action"


def test_preview_without_a_case_uses_the_chosen_policys_own_sample(
    client: TestClient, db: Session
) -> None:
    """Not the generic sample's fee-circumvention story for every policy: the chosen
    policy's clause (in the user's words and language when it has them) and an example of
    what it forbids."""
    spam = {
        **POLICY,
        "code": "spam_sample",
        "title": "Spam",
        "examples_not_allowed": ["The same message sent to forty clients in an hour"],
        "tos_ground": "Terms of Service, section 4.3: no spam",
        "user_ground": {
            "en": "Our terms, section 4.3: do not send spam",
            "es": "Nuestros términos, sección 4.3: no envíes spam",
            "pt": "Nossos termos, seção 4.3: não envie spam",
        },
    }
    policies.create_policy(db, SYSTEM, spam)
    make_policy(db)
    login_as(client, db, make_staff(db, role=Role.agent))
    got = client.post(
        "/v1/messages/preview",
        json={"action": "suspend", "locale": "es", "policy_code": "spam_sample"},
    )
    assert got.status_code == 200, got.text
    section = got.json()["statement_section"]
    assert "Nuestros términos, sección 4.3: no envíes spam" in section
    assert "The same message sent to forty clients in an hour" in section
    assert "payments stay on the platform" not in section
    assert "bank transfer" not in section
    # Without user_ground, the policy's own clause as written.
    plain = client.post(
        "/v1/messages/preview",
        json={"action": "suspend", "locale": "en", "policy_code": "off_platform_payment"},
    ).json()
    assert (
        "Terms of Service, section 7: payments stay on the platform" in plain["statement_section"]
    )


def test_preview_with_a_case_uses_its_account_and_policy(client: TestClient, db: Session) -> None:
    code = make_policy(db)
    account = make_account(db, locale="es-CO", display_name="Lucía Pérez")
    case = make_case(db, account, policy_code=code)
    login_as(client, db, make_staff(db, role=Role.agent))
    response = client.post("/v1/messages/preview", json={"action": "warn", "case_id": case.id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["locale"] == "es"
    assert body["body"].startswith("Hola, Lucía Pérez:")
    assert '"Pagos fuera de la plataforma"' in body["body"]
    assert f"C-{case.id}" in body["body"]


def test_macro_from_creation_to_a_message_on_the_case(client: TestClient, db: Session) -> None:
    account = make_account(db, locale="es-MX", display_name="Lucía", email="lucia@example.com")
    case = make_case(db, account)
    lead = make_staff(db, role=Role.policy_lead)
    agent = make_staff(db, role=Role.agent)

    login_as(client, db, lead)
    made = client.post("/v1/macros", json=ASK_FOR_INFO)
    assert made.status_code == 201, made.text
    macro = made.json()
    assert client.post("/v1/macros", json=ASK_FOR_INFO).status_code == 409
    logout(client)

    login_as(client, db, agent)
    listed = client.get("/v1/macros", params={"locale": "es-MX"}).json()["items"]
    assert [m["id"] for m in listed] == [macro["id"]]
    preview = client.post(f"/v1/macros/{macro['id']}/render", json={"case_id": case.id})
    assert preview.status_code == 200, preview.text
    assert preview.json()["subject"] == f"Necesitamos más información (C-{case.id})"
    assert preview.json()["body"].startswith("Hola, Lucía: para revisar el caso")

    sent = client.post(f"/v1/cases/{case.id}/messages", json={"macro_id": macro["id"]})
    assert sent.status_code == 201, sent.text
    (message,) = sent.json()["items"]
    assert message["channel"] == "email" and message["status"] == "queued"
    assert message["locale"] == "es"
    assert message["subject"] == preview.json()["subject"]
    assert message["recipient"] == "l***a@example.com"  # staff see it masked
    assert message["macro_id"] == macro["id"]
    assert message["template_key"] == f"macro:{macro['id']}@v1"

    edited = client.post(
        f"/v1/cases/{case.id}/messages",
        json={"macro_id": macro["id"], "subject": "Una pregunta", "body": "Hola Lucía, ¿..."},
    )
    assert edited.status_code == 201, edited.text
    assert edited.json()["items"][0]["template_key"].endswith("(edited)")

    on_case = client.get(f"/v1/cases/{case.id}/messages").json()["items"]
    assert [m["id"] for m in on_case] == [message["id"], edited.json()["items"][0]["id"]]
    one = client.get(f"/v1/messages/{message['id']}")
    assert one.status_code == 200 and one.json()["body"] == preview.json()["body"]
    timeline = client.get(f"/v1/cases/{case.id}/timeline").json()["items"]
    sent_events = [e for e in timeline if e["kind"] == "message_sent"]
    assert [e["data"]["message_id"] for e in sent_events] == [m["id"] for m in on_case]


def test_marketplace_reads_messages_with_the_address_it_sent(
    client: TestClient, db: Session
) -> None:
    account = make_account(db, email="ana@example.com")
    case = make_case(db, account)
    _key, secret = make_api_key(db, scopes=["cases:read"])
    login_as(client, db, make_staff(db, role=Role.agent))
    client.post(f"/v1/cases/{case.id}/messages", json={"subject": "Hi", "body": "A question."})
    logout(client)
    items = client.get(f"/v1/cases/{case.id}/messages", headers=auth_header(secret)).json()
    assert items["items"][0]["recipient"] == "ana@example.com"


def test_free_text_with_template_markup_is_refused_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    account = make_account(db)
    case_id = make_case(db, account).id
    login_as(client, db, make_staff(db, role=Role.agent))
    before = _counts(db)
    response = client.post(
        f"/v1/cases/{case_id}/messages",
        json={"subject": "About your listing", "body": "Hello {{ user_name }}, we need..."},
    )
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("unrendered_template", "body")
    assert _counts(db) == before


def test_macro_edits_are_checked_and_audited(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.policy_lead))
    macro = client.post("/v1/macros", json=ASK_FOR_INFO).json()
    before = _counts(db)
    bad = client.patch(f"/v1/macros/{macro['id']}", json={"body": "Hola {{ nombre }}"})
    assert bad.status_code == 422 and bad.json()["code"] == "template_variable_missing"
    assert _counts(db) == before

    changed = client.patch(
        f"/v1/macros/{macro['id']}",
        json={"body": "Hola: necesitamos un comprobante ({{ case_ref }}).", "reason": "shorter"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    off = client.patch(f"/v1/macros/{macro['id']}", json={"active": False})
    assert off.json()["active"] is False
    logout(client)
    login_as(client, db, make_staff(db, role=Role.agent))
    assert client.get("/v1/macros").json()["items"] == []  # agents no longer see it
    db.expire_all()
    record = db.scalar(
        select(AuditRecord)
        .where(AuditRecord.action == "communications.macro.update")
        .order_by(AuditRecord.id)
    )
    assert record is not None and record.reason == "shorter"
    assert record.data["changed"]["body"]["from"] == ASK_FOR_INFO["body"]
    db.rollback()


def test_a_legal_case_and_its_messages_stay_hidden(client: TestClient, db: Session) -> None:
    account = make_account(db)
    case = make_case(db, account, tier=Tier.legal)
    lawyer = make_staff(db, role=Role.legal)
    login_as(client, db, lawyer)
    sent = client.post(f"/v1/cases/{case.id}/messages", json={"subject": "Hi", "body": "Notice."})
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["items"][0]["id"]
    logout(client)
    login_as(client, db, make_staff(db, role=Role.agent))
    assert client.get(f"/v1/cases/{case.id}/messages").status_code == 404
    hidden: Any = client.get(f"/v1/messages/{message_id}")
    assert hidden.status_code == 404 and hidden.json()["code"] == "message_not_found"
