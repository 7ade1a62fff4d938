"""Every default policy, every action it allows, in every shipped language: the message the
user would get renders completely, in their language, naming and explaining the policy."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.communications.conftest import full_context
from vigil.communications import service
from vigil.policies.actions import ALLOWED_SCOPES, ActionType
from vigil.policies.pack import read_pack

MARKERS = {
    "en": "STATEMENT OF REASONS",
    "es": "DECLARACIÓN DE MOTIVOS",
    "pt": "EXPOSIÇÃO DE MOTIVOS",
}


@pytest.mark.only_backend("sqlite")
def test_every_default_policy_and_action_renders_in_every_language(db: Session) -> None:
    rendered = 0
    for spec in read_pack().policies:
        for action in spec.content["allowed_actions"]:
            for locale in ("en", "es", "pt"):
                for scope in sorted(ALLOWED_SCOPES[ActionType(action)]):
                    title = spec.content["user_title"][locale]
                    explanation = spec.content["user_explanation"][locale]
                    context = full_context(
                        locale, action=action, scope=scope, policy_title=title,
                        policy_explanation=explanation,
                        statement=None if action == "warn" else full_context()["statement"],
                    )  # fmt: skip
                    out = service.render(
                        db, policy_code=spec.code, action=action, locale=locale, context=context
                    )
                    where = f"{spec.code}/{action}/{locale}/{scope}"
                    assert (out.locale, out.fell_back) == (locale, False), where
                    assert title in out.body or title in out.subject, where
                    if action != "warn":
                        assert MARKERS[locale] in out.statement_section, where
                    for text in (out.subject, out.body, out.statement_section):
                        assert "{{" not in text and "None" not in text, where
                    rendered += 1
    assert rendered > 100
