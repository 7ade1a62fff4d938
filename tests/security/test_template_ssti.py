"""Message templates are written by policy leads; a hostile or careless one must not reach
Python's internals, load files, or make the server work or allocate without bound. Each
payload is refused when the template is saved, with a stable code and the field at fault."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.communications.conftest import full_context
from tests.factories import login_as, make_staff
from vigil.auth.permissions import Role
from vigil.communications import sandbox, templating
from vigil.communications.models import MessageTemplate
from vigil.kit.errors import InvalidInput

REFUSALS = {
    "template_unsafe",
    "template_syntax_error",
    "template_variable_missing",
    "template_too_large",
    "template_too_costly",
}

# Classic server-side template injection: reach a class, its globals, the interpreter.
ESCAPES = {
    "class": "{{ user_name.__class__ }}",
    "mro-subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "function-globals": "{{ user_name.upper.__globals__ }}",
    "init-globals": "{{ statement.__init__.__globals__ }}",
    "template-context": "{{ self._TemplateReference__context }}",
    "attr-filter": "{{ user_name|attr('__class__') }}",
    "subscript": "{{ user_name['__class__'] }}",
    "lipsum-globals": "{{ lipsum.__globals__ }}",
    "cycler-os": "{{ cycler.__init__.__globals__.os }}",
    "config": "{{ config }}",
    "namespace": "{% set ns = namespace(a=1) %}{{ ns }}",
    "format-attribute": "{{ '{0.__class__.__init__.__globals__}'.format(user_name) }}",
    "format-map": "{{ '{a.__class__}'.format_map({'a': user_name}) }}",
    "percent-format": "{{ '%(a)s' % {'a': user_name.__class__} }}",
    "caller-block": "{% macro m() %}{{ caller() }}{% endmacro %}"
    "{% call m() %}{{ user_name.__class__ }}{% endcall %}",
    "loop-object": "{% for x in user_name %}{{ loop.__class__ }}{% endfor %}",
    "with-block": "{% with a = user_name.__class__ %}{{ a }}{% endwith %}",
    "mutate-context": "{% set x = statement %}{{ x.update({'a': 1}) }}",
    "pop-context": "{{ statement.pop('reference') }}",
    "map-filter": "{{ user_name|map('upper')|list }}",
    "debug-tag": "{% debug %}",
    "do-tag": "{% do statement.clear() %}",
    "include": "{% include '/etc/passwd' %}",
    "extends": "{% extends 'base.txt' %}",
    "import": "{% import 'macros.txt' as m %}",
    "from-import": "{% from 'macros.txt' import m %}",
}

# Work without output, and recursion: bounded by the step budget or the recursion limit.
COSTLY = {
    "range": "{% for i in range(1000000000) %}{% endfor %}",
    "nested-loops": "{% set s = 'x' * 1000 %}"
    "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "triple-loops": "{% set s = 'x' * 100 %}"
    "{% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}",
    "macro-doubling": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(40) }}",
    "macro-recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "recursive-loop": "{% for x in user_name recursive %}{{ loop(user_name) }}{% endfor %}",
    "huge-number": "{{ 10 ** 4000 }}",
    "repeat": "{{ 'x' * 2000000000 }}",
    "output-loop": "{% set s = 'x' * 90000 %}{% for a in case_ref %}{{ s }}{% endfor %}",
}


@pytest.mark.parametrize("body", list(ESCAPES.values()), ids=list(ESCAPES))
def test_template_injection_payloads_are_refused_on_save(body: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        templating.check_template_text("Your account", body, "suspend", "en")
    assert refused.value.field == "body"
    assert refused.value.code in REFUSALS


@pytest.mark.parametrize("body", list(COSTLY.values()), ids=list(COSTLY))
def test_costly_templates_are_refused_with_a_bounded_amount_of_work(body: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        templating.check_template_text("Your account", body, "suspend", "en")
    assert refused.value.field == "body"
    assert refused.value.code in {
        "template_too_costly",
        "template_too_large",
        "template_variable_missing",
    }


def test_the_step_budget_counts_loop_iterations_and_calls() -> None:
    # Exactly at the budget renders; one step more is refused: the bound is a count, not a clock.
    loops = sandbox.MAX_STEPS - 10
    body = f"{{% set s = 'x' * {loops} %}}{{% for a in s %}}{{% endfor %}}done"
    assert templating.render_source(body, full_context("en")) == "done"
    over = f"{{% set s = 'x' * {sandbox.MAX_STEPS + 1} %}}{{% for a in s %}}{{% endfor %}}"
    with pytest.raises(InvalidInput) as refused:
        templating.render_source(over, full_context("en"))
    assert refused.value.code == "template_too_costly"


def test_harmless_constructs_still_render() -> None:
    context = full_context("en")
    body = (
        "{% macro greet(name) %}Hello {{ name }}{% endmacro %}{{ greet(user_name) }}. "
        "{% for r in statement.restrictions %}{{ loop.index }}{% endfor %}"
        "{{ user_name|upper }} {{ '{} days'.format(duration_days) }} {{ self }}"
    )
    out = templating.render_source(body, context)
    assert out.startswith("Hello Maria Souza. ")
    assert "MARIA SOUZA 7 days" in out
    assert "object at 0x" not in out  # the template reference prints no address


def test_shipped_templates_fit_the_budget() -> None:
    # check_shipped renders every shipped template in every scope through render_source,
    # so under the step budget.
    from vigil.communications.cli import check_shipped

    assert check_shipped() == []


def test_over_the_api_a_costly_template_is_refused_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    login_as(client, db, make_staff(db, role=Role.policy_lead))
    for body in (COSTLY["nested-loops"], ESCAPES["include"], ESCAPES["mro-subclasses"]):
        refused = client.post(
            "/v1/message-templates",
            json={"action": "suspend", "locale": "en", "change_reason": "try",
                  "subject": "Suspended", "body": body},
        )  # fmt: skip
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "body"
        assert refused.json()["code"] in REFUSALS
    assert db.scalar(select(func.count()).select_from(MessageTemplate)) == 0
