"""The sandbox and the shipped templates, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.communications.conftest import full_context
from vigil.communications import service, templating
from vigil.communications.cli import check_shipped
from vigil.kit.errors import InvalidInput
from vigil.policies.actions import ActionType

GENERIC = (*[a.value for a in ActionType], "reinstate", "no_violation", "statement")


def test_every_action_ships_in_every_locale_and_all_of_them_render() -> None:
    files = templating.shipped()
    for locale in ("en", "es", "pt"):
        for action in GENERIC:
            assert (None, action, locale) in files, f"{locale}/{action} is missing"
    # Every file x every scope x with/without a name, a statement, an end date.
    assert check_shipped() == []


def test_every_policy_specific_template_ships_in_all_three_locales() -> None:
    files = templating.shipped()
    specific = {(code, action) for (code, action, _locale) in files if code}
    assert specific, "no policy-specific templates ship"
    for code, action in specific:
        for locale in ("en", "es", "pt"):
            assert (code, action, locale) in files, f"{locale}/{code}/{action} is missing"


@pytest.mark.parametrize("locale", ["en", "es", "pt"])
@pytest.mark.parametrize("action", ["warn", "restrict", "suspend", "remove", "ban"])
def test_a_decision_message_names_the_policy_and_explains_it(locale: str, action: str) -> None:
    file = templating.shipped()[(None, action, locale)]
    context = full_context(
        locale, action=action, scope="listing" if action == "remove" else "account"
    )
    body = templating.render_source(file.body, context)
    assert context["policy_title"] in body
    assert context["policy_explanation"] in body
    assert "{{" not in body and "{%" not in body
    assert "None" not in body


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", ["STATEMENT OF REASONS", "HOW TO APPEAL", "SOR-9", "2027-05-23"]),
        ("es", ["DECLARACIÓN DE MOTIVOS", "CÓMO APELAR", "SOR-9", "Suspensión de la cuenta"]),
        ("pt", ["EXPOSIÇÃO DE MOTIVOS", "COMO RECORRER", "SOR-9", "Suspensão da conta"]),
    ],
)
def test_statement_section_says_what_why_facts_automation_end_and_appeal(
    locale: str, words: list[str]
) -> None:
    text = service.render_statement(full_context(locale), locale)
    for word in words:
        assert word in text
    context = full_context(locale)
    assert context["statement"]["facts"] in text
    assert context["statement"]["ground"] in text
    assert context["ends_at"] in text
    assert context["appeal_url"] in text


def test_statement_says_when_automated_means_were_used() -> None:
    manual = service.render_statement(full_context("en"), "en")
    assert "not detected by automated tools" in manual
    assert "taken by a member of our team" in manual
    auto = full_context("en")
    auto["statement"] = {
        **auto["statement"],
        "automated_detection": True,
        "automated_decision": True,
    }
    text = service.render_statement(auto, "en")
    assert "detected with the help of automated tools" in text
    assert "taken with the help of automated means" in text


def test_no_statement_no_section() -> None:
    assert service.render_statement(full_context("en", statement=None), "en") == ""


def test_greeting_stands_on_its_own_line() -> None:
    for (_code, action, locale), file in templating.shipped().items():
        if action == "statement":
            continue
        for name in ("Maria Souza", ""):
            body = templating.render_source(file.body, full_context(locale, user_name=name))
            lines = body.splitlines()
            assert lines[1] == "", f"{file.key}: no blank line after the greeting"


def test_greeting_without_a_name() -> None:
    for locale, greeting in (("en", "Hello there,"), ("es", "Hola:"), ("pt", "Olá,")):
        file = templating.shipped()[(None, "warn", locale)]
        body = templating.render_source(file.body, full_context(locale, user_name=""))
        assert body.splitlines()[0] == greeting


def test_unknown_variable_is_refused_at_save() -> None:
    with pytest.raises(InvalidInput) as caught:
        templating.validate("Hello {{ user_name }}, your {{ password }} is {{ iban }}", "body")
    assert caught.value.code == "template_variable_missing"
    assert caught.value.field == "body"
    assert [d["variable"] for d in caught.value.details] == ["iban", "password"]


def test_globals_are_not_available() -> None:
    with pytest.raises(InvalidInput) as caught:
        templating.validate("{% for i in range(3) %}{{ i }}{% endfor %}", "body")
    assert caught.value.code == "template_variable_missing"


def test_missing_variable_is_refused_at_render() -> None:
    with pytest.raises(InvalidInput) as caught:
        templating.render_source("Until {{ ends_at }}", {"user_name": "x"}, "message")
    assert caught.value.code == "template_variable_missing"
    assert caught.value.field == "message"
    assert "ends_at" in caught.value.message


def test_missing_statement_key_is_refused_at_render() -> None:
    with pytest.raises(InvalidInput) as caught:
        templating.render_source("{{ statement.reference }}", {"statement": {}}, "message")
    assert caught.value.code == "template_variable_missing"


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        templating.validate("Hello\n\n{% if user_name %}\nno end", "body")
    assert caught.value.code == "template_syntax_error"
    assert caught.value.details[0]["line"] == 4
    assert "line 4" in caught.value.message


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(InvalidInput) as caught:
        templating.render_source("{{ user_name.__class__.__mro__ }}", {"user_name": "x"})
    assert caught.value.code in {"template_unsafe", "template_variable_missing"}
    with pytest.raises(InvalidInput):
        templating.render_source("{{ user_name | attr('upper') }}", {"user_name": "x"})


def test_safe_filters_work() -> None:
    assert templating.render_source("{{ user_name | upper }}", {"user_name": "ana"}) == "ANA"


def test_plain_text_is_not_html_escaped() -> None:
    out = templating.render_source("{{ user_name }}", {"user_name": "Tom & Jerry <3"})
    assert out == "Tom & Jerry <3"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("es", ("es", False)),
        ("es-MX", ("es", False)),
        ("pt-BR", ("pt", False)),
        ("pt_PT", ("pt", False)),
        ("EN-gb", ("en", False)),
        ("fr", ("en", True)),
        ("", ("en", True)),
        (None, ("en", True)),
    ],
)
def test_locale_matching(given: str | None, expected: tuple[str, bool]) -> None:
    assert service.normalize_locale(given) == expected


def test_dates_in_the_users_language() -> None:
    assert service.format_date(date(2026, 11, 28), "en") == "November 28, 2026"
    assert service.format_date(date(2026, 3, 1), "es-MX") == "1 de marzo de 2026"
    moment = datetime(2027, 5, 23, 23, 30, tzinfo=UTC)
    assert service.format_date(moment, "pt-BR") == "23 de maio de 2027"
    assert service.format_date(moment, "de") == "May 23, 2027"


def test_policy_specific_templates_belong_to_shipped_policies_and_their_actions() -> None:
    from vigil.policies.pack import read_pack

    pack = {spec.code: spec.content for spec in read_pack().policies}
    for code, action, locale in templating.shipped():
        if code is None:
            continue
        assert code in pack, f"{locale}/{code}/{action}: no such policy in the shipped pack"
        assert action in pack[code]["allowed_actions"], f"{code} does not allow {action}"


def test_the_reference_is_the_one_the_user_was_given() -> None:
    """``reference``: the statement's when there is one, else the case's; a reinstatement is
    given the reference of the statement it undoes."""
    reinstate = templating.shipped()[(None, "reinstate", "en")]
    without = full_context("en", statement=None)
    assert "(reference C-77)" in templating.render_source(reinstate.body, without)
    given = templating.render_source(reinstate.body, {**without, "reference": "SOR-9"})
    assert "(reference SOR-9)" in given and "C-77" not in given
    underage = templating.shipped()[("underage_users", "suspend", "es")]
    with_statement = templating.render_source(underage.body, full_context("es"))
    assert "(referencia SOR-9)" in with_statement and "C-77" not in with_statement
