"""A template cannot make the server build huge values: what would be too large is refused
(``template_too_large``) when the template is saved, at once, before anything is allocated;
what the shipped templates and ordinary overrides do still renders."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.communications.conftest import full_context
from tests.factories import login_as, make_staff
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.communications import templating
from vigil.communications.models import MessageTemplate
from vigil.kit.errors import InvalidInput

DOUBLE = "{% set a = a ~ a %}"

HOSTILE = {
    "repeat": '{{ "x" * 2000000000 }}',
    "repeat-variable": "{{ marketplace * 2000000000 }}",
    "repeat-list": "{{ [user_name] * 2000000000 }}",
    "power": "{{ 2 ** 100000000 }}",
    "power-of-big": "{{ (10 ** 400) ** 50 }}",
    "format-width": '{{ "%2000000000d" % 1 }}',
    "format-star": '{{ "%*d" % (2000000000, 1) }}',
    "format-named": '{{ "%(n)2000000000d" % {"n": 1} }}',
    "str-format": '{{ "{:>2000000000}".format(1) }}',
    "doubling-concat": "{% set a = marketplace %}" + DOUBLE * 40 + "{{ a }}",
    "doubling-plus": "{% set a = marketplace %}" + "{% set a = a + a %}" * 40 + "{{ a }}",
    "doubling-join": "{% set a = marketplace %}" + "{% set a = [a, a]|join %}" * 40,
    "replace-blowup": "{{ marketplace|replace('', marketplace)|replace('', marketplace)"
    "|replace('', marketplace)|replace('', marketplace) }}",
    "pad": "{{ user_name.ljust(2000000000) }}",
}


def _lead(db: Session) -> Any:
    return auth_service.principal_for(make_staff(db, role=Role.policy_lead))


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_template_that_would_build_something_huge_is_refused_at_once(body: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput) as refused:
            templating.check_template_text("Your account", body, "suspend", "en")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Refused before building it: nothing near the gigabytes the template asks for.
    assert peak < 20_000_000
    assert refused.value.field == "body"
    assert refused.value.code in ("template_too_large", "template_unsafe")


def test_the_output_is_capped_too() -> None:
    # Each value stays under the cap; a loop repeats the biggest one until the output is over.
    body = (
        "{% set a = statement.facts %}" + DOUBLE * 9
        + "{% for r in statement.restrictions %}{% for c in case_ref %}{{ a }}{% endfor %}"
        "{% endfor %}"
    )  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        templating.check_template_text("Your account", body, "suspend", "en")
    assert refused.value.code == "template_too_large"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{{ '-' * 20 }}", "-" * 20),
        ("{{ duration_days * 24 }} hours", "168 hours"),
        ("{{ 2 ** 10 }}", "1024"),
        ("{{ 'Hello ' + user_name }}", "Hello Maria Souza"),
        ("{{ '%s days' % duration_days }}", "7 days"),
        ("{{ [policy_title, case_ref]|join(' / ') }}", "Payments outside the platform / C-77"),
        ("{{ user_name|replace('Maria', 'M.') }}", "M. Souza"),
        ("{{ user_name ~ ' (' ~ case_ref ~ ')' }}", "Maria Souza (C-77)"),
    ],
)
def test_ordinary_arithmetic_and_text_still_render(body: str, expected: str) -> None:
    assert templating.render_source(body, full_context("en")) == expected


def test_over_the_api_the_refusal_names_the_field_and_writes_nothing(
    client: TestClient, db: Session
) -> None:
    login_as(client, db, make_staff(db, role=Role.policy_lead))
    refused = client.post(
        "/v1/message-templates",
        json={"action": "suspend", "locale": "en", "change_reason": "try",
              "subject": "Suspended", "body": HOSTILE["repeat"]},
    )  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == ("template_too_large", "body")
    assert db.scalar(select(func.count()).select_from(MessageTemplate)) == 0


def test_the_service_refuses_it_on_update_too(db: Session) -> None:
    lead = _lead(db)
    made = templating.create_template(
        db, lead, policy_code=None, action="warn", locale="en", change_reason="new",
        subject="A warning", body="Hello {{ user_name }}.",
    )  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        templating.update_template(
            db, lead, made.id, body=HOSTILE["doubling-concat"], change_reason="longer",
            expected_version=1,
        )  # fmt: skip
    assert refused.value.code == "template_too_large"
