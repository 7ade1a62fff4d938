"""What the user reads about their appeal's outcome: exactly what was lifted, that a measure
which had already ended left nothing to lift, and never that the account works normally again
while other decisions still restrict it (without telling those decisions apart)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.appeals.conftest import appealable, hearer, hold, submit
from tests.enforcement.conftest import decide, held_case, principal
from vigil.accounts import service as accounts
from vigil.appeals.models import Appeal
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.enforcement.apply import expire_due
from vigil.kit.clock import FrozenClock

MESSAGES_7 = [{"type": "restrict", "scope": "message", "duration_days": 7}]
MESSAGES_30 = [{"type": "restrict", "scope": "message", "duration_days": 30}]
LISTINGS_14 = [{"type": "restrict", "scope": "listing", "duration_days": 14}]
DEPARTURE = "Asked twice in one conversation."

# What each language says, for: the restriction had already ended / other measures remain /
# the account is back to normal (never said while other measures remain).
SAYS: dict[str, dict[str, str]] = {
    "es": {
        "ended": "La restricción para enviar mensajes ya había terminado el",
        "nothing": "no quedaba nada por levantar; corregimos nuestros registros",
        "others": "Otras medidas sobre tu cuenta de",
        "normal": "con normalidad",
        "lifted": "Levantamos la restricción para enviar mensajes: ya puedes enviar mensajes",
    },
    "pt": {
        "ended": "A restrição para enviar mensagens já tinha terminado em",
        "nothing": "não havia nada a retirar; corrigimos nossos registros",
        "others": "Outras medidas na sua conta no",
        "normal": "normalmente",
        "lifted": "Retiramos a restrição para enviar mensagens: você já pode enviar mensagens",
    },
    "en": {
        "ended": "The restriction on sending messages had already ended on",
        "nothing": "there was nothing left to lift; we have corrected our records",
        "others": "Other measures on your",
        "normal": "works as usual",
        "lifted": "We have lifted the restriction on sending messages: you can send messages",
    },
}


def _told(db: Session, appeal_id: int) -> Message:
    appeal = db.get(Appeal, appeal_id, populate_existing=True)
    assert appeal is not None
    (message,) = db.scalars(
        select(Message).where(Message.case_id == appeal.case_id).order_by(Message.id)
    ).all()
    db.commit()
    return message


def _other_decisions(db: Session, settings: Settings, a: Any) -> None:
    """Two more decisions about the same account, still in force when the appeal is heard."""
    for actions in (MESSAGES_30, LISTINGS_14):
        case = held_case(db, a.agent, a.account)
        decide(db, principal(a.agent), case, settings, actions=actions, departure_reason=DEPARTURE)
    db.commit()


def _overturn(client: TestClient, db: Session, a: Any, language: str) -> int:
    answer = submit(client, a, language=language)
    assert answer.status_code == 201, answer.text
    appeal_id = int(answer.json()["id"])
    case_id = answer.json()["case_id"]
    hold(db, case_id, hearer(db, client))
    decided = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        json={"outcome": "overturn", "reason": "The client proposed the payment."},
    )
    assert decided.status_code == 200, decided.text
    return appeal_id


@pytest.mark.parametrize("language", ["es", "pt", "en"])
def test_an_overturn_of_an_ended_restriction_says_so_and_that_other_measures_remain(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock, language: str
) -> None:
    a = appealable(db, settings, actions=MESSAGES_7, departure_reason=DEPARTURE)
    _other_decisions(db, settings, a)
    frozen.advance(timedelta(days=9))
    expire_due(db)
    db.commit()

    appeal_id = _overturn(client, db, a, language)

    body = " ".join(_told(db, appeal_id).body.split())
    says = SAYS[language]
    assert says["ended"] in body and says["nothing"] in body
    assert says["others"] in body
    assert says["normal"] not in body and says["lifted"] not in body
    # The other decisions are neither undone nor described.
    in_force = accounts.restrictions_in_force(db, a.account)
    assert sorted(str(r.kind) for r in in_force) == ["listing", "messaging"]
    assert "anuncios" not in body and "anúncios" not in body and "listings" not in body


@pytest.mark.parametrize("language", ["es", "pt", "en"])
def test_an_overturn_says_what_it_lifted_and_that_other_measures_remain(
    client: TestClient, db: Session, settings: Settings, language: str
) -> None:
    a = appealable(db, settings, actions=MESSAGES_7, departure_reason=DEPARTURE)
    _other_decisions(db, settings, a)

    appeal_id = _overturn(client, db, a, language)

    body = " ".join(_told(db, appeal_id).body.split())
    says = SAYS[language]
    assert says["lifted"] in body and says["others"] in body
    assert says["ended"] not in body and says["normal"] not in body


def test_an_overturn_with_nothing_else_in_force_says_the_account_is_back(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings, actions=MESSAGES_7, departure_reason=DEPARTURE)

    appeal_id = _overturn(client, db, a, "es")

    body = " ".join(_told(db, appeal_id).body.split())
    assert SAYS["es"]["lifted"] in body
    assert "Ninguna otra restricción se aplica a tu cuenta de" in body
    assert SAYS["es"]["others"] not in body


def test_upholding_a_decision_whose_restriction_ended_does_not_call_it_in_force(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    a = appealable(db, settings, actions=MESSAGES_7, departure_reason=DEPARTURE)
    frozen.advance(timedelta(days=9))  # no expiry sweep: the end date alone says it ended
    answer = submit(client, a)
    appeal_id = int(answer.json()["id"])
    hold(db, answer.json()["case_id"], hearer(db, client))

    decided = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        json={"outcome": "uphold", "reason": "Los mensajes muestran la petición."},
    )

    assert decided.status_code == 200, decided.text
    body = " ".join(_told(db, appeal_id).body.split())
    assert "Lo que dispuso la decisión ya terminó el" in body
    assert "sigue vigente" not in body
