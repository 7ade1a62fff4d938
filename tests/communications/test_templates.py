"""Template overrides: a policy lead's text wins over the shipped file, every version is kept,
and a template that could not be filled is refused when it is saved."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.communications.conftest import full_context, make_policy
from tests.factories import login_as, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.communications import service, templating
from vigil.communications.models import MessageTemplate, MessageTemplateVersion
from vigil.kit.errors import Conflict, InvalidInput, VersionConflict

OVERRIDE = {
    "subject": "Cuenta suspendida: {{ policy_title }}",
    "body": "{{ user_name or 'Hola' }}: su cuenta está suspendida hasta el {{ ends_at }}.",
}


def _lead(db: Session) -> Any:
    return auth_service.principal_for(make_staff(db, role=Role.policy_lead))


def test_an_override_wins_over_the_shipped_template_until_switched_off(db: Session) -> None:
    lead = _lead(db)
    t = templating.create_template(
        db, lead, policy_code=None, action="suspend", locale="es", change_reason="legal wording",
        **OVERRIDE,
    )  # fmt: skip
    rendered = service.render(
        db, policy_code="off_platform_payment", action="suspend", locale="es-AR",
        context=full_context("es"),
    )  # fmt: skip
    assert rendered.template_id == t.id
    assert rendered.template_key == "override:es/suspend@v1"
    assert rendered.subject == "Cuenta suspendida: Pagos fuera de la plataforma"
    assert (
        rendered.body == "Maria Souza: su cuenta está suspendida hasta el 28 de noviembre de 2026."
    )
    # The statement of reasons is not part of the override: it always ships.
    assert "DECLARACIÓN DE MOTIVOS" in rendered.statement_section

    templating.update_template(db, lead, t.id, active=False, change_reason="back to default")
    again = service.render(
        db, policy_code=None, action="suspend", locale="es", context=full_context("es")
    )
    assert again.template_id is None
    assert again.template_key == "shipped:es/suspend"
    versions = templating.template_versions(db, t.id)
    assert [(v.version, v.active, v.change_reason) for v in versions] == [
        (1, True, "legal wording"),
        (2, False, "back to default"),
    ]


def test_lookup_goes_from_policy_to_generic_and_then_to_english(db: Session) -> None:
    lead = _lead(db)
    code = make_policy(db)
    specific = templating.create_template(
        db, lead, policy_code=code, action="warn", locale="pt", change_reason="clearer",
        subject="Aviso: {{ policy_title }}", body="Olá. {{ policy_explanation }}",
    )  # fmt: skip
    context = full_context("pt", action="warn", statement=None)
    found = service.render(db, policy_code=code, action="warn", locale="pt-BR", context=context)
    assert (found.template_id, found.locale, found.fell_back) == (specific.id, "pt", False)
    other = service.render(db, policy_code="spam", action="warn", locale="pt", context=context)
    assert other.template_key == "shipped:pt/warn"
    english = templating.create_template(
        db, lead, policy_code=code, action="warn", locale="en", change_reason="clearer",
        subject="Notice: {{ policy_title }}", body="Hello. {{ policy_explanation }}",
    )  # fmt: skip
    fallback = service.render(db, policy_code=code, action="warn", locale="fr", context=context)
    assert (fallback.template_id, fallback.locale, fallback.fell_back) == (english.id, "en", True)


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"body": "Your IBAN {{ iban }} is blocked"}, "body", "template_variable_missing"),
    ({"subject": "{{ password }}"}, "subject", "template_variable_missing"),
    ({"body": "Hello {% if user_name %}"}, "body", "template_syntax_error"),
    ({"body": "{{ user_name | attr('x') }}"}, "body", "template_syntax_error"),
    ({"body": "{{ statement.reference }}"}, "body", "template_variable_missing"),
    ({"subject": ""}, "subject", "subject_required"),
    ({"action": "delete"}, "action", "unknown_action"),
    ({"locale": "fr"}, "locale", "unsupported_locale"),
    ({"policy_code": "no_such_policy"}, "policy_code", "unknown_policy"),
    ({"change_reason": " "}, "change_reason", "change_reason_required"),
])  # fmt: skip
def test_a_template_that_could_not_be_filled_is_refused_at_save(
    db: Session, change: dict[str, Any], field: str, code: str
) -> None:
    values: dict[str, Any] = {
        "policy_code": None, "action": "suspend", "locale": "es",
        "change_reason": "test", **OVERRIDE, **change,
    }  # fmt: skip
    with pytest.raises(InvalidInput) as caught:
        templating.create_template(db, _lead(db), **values)
    assert (caught.value.field, caught.value.code) == (field, code)
    assert db.scalar(select(func.count()).select_from(MessageTemplate)) == 0


def test_one_override_per_key_and_stale_edits_are_refused(db: Session) -> None:
    lead = _lead(db)
    t = templating.create_template(
        db, lead, policy_code=None, action="ban", locale="en", change_reason="x", **OVERRIDE
    )
    with pytest.raises(Conflict) as taken:
        templating.create_template(
            db, lead, policy_code=None, action="ban", locale="en", change_reason="x", **OVERRIDE
        )
    assert taken.value.code == "template_exists"
    templating.update_template(db, lead, t.id, body="New {{ marketplace }}", change_reason="y")
    with pytest.raises(VersionConflict):
        templating.update_template(
            db, lead, t.id, body="Old {{ marketplace }}", change_reason="z", expected_version=1
        )
    with pytest.raises(InvalidInput) as same:
        templating.update_template(db, lead, t.id, body="New {{ marketplace }}", change_reason="w")
    assert same.value.code == "no_change"


# --- over HTTP --------------------------------------------------------------------------------


def _counts(db: Session) -> tuple[int, int, int]:
    db.expire_all()
    found = (
        db.scalar(select(func.count()).select_from(MessageTemplate)) or 0,
        db.scalar(select(func.count()).select_from(MessageTemplateVersion)) or 0,
        db.scalar(select(func.count()).select_from(AuditRecord)) or 0,
    )
    db.rollback()
    return found


def test_policy_lead_edits_templates_over_the_api(client: TestClient, db: Session) -> None:
    code = make_policy(db)
    login_as(client, db, make_staff(db, role=Role.policy_lead))
    before = _counts(db)
    refused = client.post(
        "/v1/message-templates",
        json={"action": "ban", "locale": "en", "policy_code": code, "change_reason": "new",
              "subject": "Closed", "body": "Hello {{ username }}"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["code"] == "template_variable_missing"
    assert refused.json()["field"] == "body"
    assert _counts(db) == before

    made = client.post(
        "/v1/message-templates",
        json={"action": "ban", "locale": "en", "policy_code": code, "change_reason": "new",
              "subject": "Closed: {{ policy_title }}", "body": "Hello {{ user_name }}."},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    t = made.json()
    assert (t["source"], t["key"], t["version"]) == ("override", f"en/{code}/ban", 1)

    patched = client.patch(
        f"/v1/message-templates/{t['id']}",
        json={"body": "Hello {{ user_name }}, goodbye.", "change_reason": "tone",
              "expected_version": 1},
    )  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2
    stale = client.patch(
        f"/v1/message-templates/{t['id']}",
        json={"body": "x {{ user_name }}", "change_reason": "tone", "expected_version": 1},
    )
    assert stale.status_code == 409

    versions = client.get(f"/v1/message-templates/{t['id']}/versions").json()["items"]
    assert [v["body"] for v in versions] == [
        "Hello {{ user_name }}.",
        "Hello {{ user_name }}, goodbye.",
    ]

    listed = client.get("/v1/message-templates", params={"locale": "en"}).json()["items"]
    shipped = {e["key"]: e for e in listed if e["source"] == "shipped"}
    assert {"shipped:en/suspend", "shipped:en/statement", "shipped:en/no_violation"} <= set(shipped)
    assert shipped["shipped:en/ban"]["overridden_by"] is None  # the override is policy-specific
    overrides = [e for e in listed if e["source"] == "override"]
    assert [o["id"] for o in overrides] == [t["id"]]


def test_agents_cannot_edit_templates(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    response = client.post(
        "/v1/message-templates",
        json={"action": "ban", "locale": "en", "change_reason": "x", **OVERRIDE},
    )
    assert response.status_code == 403
