"""CEL rules are bounded in cost when they are saved: cel-expr-python has no cost limit and a
native evaluation cannot be interrupted, so what could make one evaluation expensive
(comprehensions inside comprehensions, many comprehensions, doubling through cel.bind,
replace with a non-literal) is refused with 422 ``rule_too_costly`` on ``expression``, at the
offending line and column."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.detection.rules.conftest import catalog, rule_body, written  # noqa: F401
from tests.factories import login_as, make_staff
from vigil.auth.permissions import Role
from vigil.detection.rules import compiler
from vigil.kit.clock import FrozenClock

TEXT = "event.text"
COSTLY = {
    "nested-all": f'{TEXT}.split("").all(a, {TEXT}.split("").all(b, a != b))',
    "nested-in-map": f'{TEXT}.split(" ").map(x, {TEXT}.split(" ").filter(y, y > x)).size() > 0',
    "literal-combinations": " ".join(
        [
            f"[{', '.join(['1'] * 20)}].exists(a, [{', '.join(['2'] * 20)}].exists(b,",
            f"[{', '.join(['3'] * 5)}].exists(c, a + b + c == 0)))",
        ]
    ),
    "nested-in-exists-one": f'{TEXT}.split(" ").exists_one(w, {TEXT}.split(" ").exists(v, v == w))',
    "many-comprehensions": " && ".join(
        ["[1].exists(x, x == 1)"] * (compiler.MAX_COMPREHENSIONS + 1)
    ),
    "bind-doubling": "cel.bind(a, event.text + event.text, cel.bind(b, a + a, cel.bind(c, b + b, "
    "cel.bind(d, c + c, cel.bind(e, d + d, e.size() > 3)))))",
    "replace-with-variable": f'{TEXT}.replace("", {TEXT}) == ""',
    "replace-with-long-literal": f'{TEXT}.replace("", "{"x" * 40}") == ""',
    "replace-chain": f'{TEXT}.replace("a", "b").replace("c", "d").replace("e", "f") == ""',
    "nested-after-comment": f'{TEXT} != "" // a comment\n && {TEXT}.split(" ").all(x, '
    f'{TEXT}.split(" ").all(y, true))',
    "nested-after-triple-quoted": f'{TEXT} != """a"b""" && {TEXT}.split(" ").all(x, '
    f'event.text.split(" ").all(y, true))',
    "nested-in-literal-chain": f'["a"].exists(v, {TEXT}.split(" ").exists(w, '
    f'{TEXT}.split("").exists(c, c == v)))',
}

CHEAP = {
    "plain": "account.age_days < 2 && features.messages_1h > 20",
    "one-comprehension": f'{TEXT}.split(" ").exists(w, w in ["gift", "card"])',
    "comprehensions-side-by-side": " && ".join(
        ["[1].exists(x, x == 1)"] * compiler.MAX_COMPREHENSIONS
    ),
    "binds": "cel.bind(t, event.text.lowerAscii(), t.contains('pay') && t.contains('cash'))",
    "replace-literal": f'{TEXT}.replace("0", "o").replace("1", "l").contains("whatsapp")',
    "nested-literal-lists": 'cel.bind(t, event.text.lowerAscii(), ["fake ", "forged "].exists(a, '
    '["diploma", "passport"].exists(d, t.contains(a + d))))',
    "literal-around-data": f'["pay", "cash"].exists(v, {TEXT}.split(" ").exists(w, w == v))',
    "in-literal": f'{TEXT} in ["a", "b"] && ["x"].all(v, v != {TEXT})',
    "words-in-strings": f'{TEXT}.contains(".all(x, y.all(z, true))") '
    f'|| {TEXT}.contains("cel.bind(")',
}


@pytest.mark.parametrize("expression", list(COSTLY.values()), ids=list(COSTLY))
def test_costly_expressions_are_refused_with_their_position(expression: str) -> None:
    compiled, problems = compiler.check(expression)
    assert compiled is None
    assert problems and {p.code for p in problems} == {"rule_too_costly"}
    first = problems[0]
    assert first.line >= 1 and first.column >= 1
    assert first.as_detail()["field"] == "expression"


@pytest.mark.parametrize("expression", list(CHEAP.values()), ids=list(CHEAP))
def test_ordinary_expressions_are_accepted(expression: str) -> None:
    compiled, problems = compiler.check(expression)
    assert problems == [] and compiled is not None


def test_the_position_points_at_the_inner_comprehension() -> None:
    expression = (
        "account.age_days < 2 &&\n  event.text.split(' ').all(x,\n    "
        "event.text.split(' ').exists(y, y > x))"
    )
    problems = compiler.cost_problems(expression)
    assert [(p.line, p.column) for p in problems] == [(3, 27)]


def test_deep_nesting_is_refused_by_the_parser() -> None:
    compiled, problems = compiler.check("(" * 300 + "true" + ")" * 300)
    assert compiled is None and problems[0].code == "rule_invalid"


@pytest.mark.usefixtures("catalog")
def test_over_the_api_a_costly_rule_is_refused_and_nothing_is_written(
    client: TestClient,
    db: Session,
    frozen: FrozenClock,
) -> None:
    login_as(client, db, make_staff(db, role=Role.policy_lead))
    before = written(db)
    for expression in (COSTLY["nested-all"], COSTLY["replace-with-variable"]):
        refused = client.post("/v1/rules", json=rule_body(expression=expression))
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert (body["code"], body["field"]) == ("rule_too_costly", "expression")
        assert body["details"][0]["line"] == 1
    assert written(db) == before
