"""The statements API as staff and the marketplace's servers read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.dsa.conftest import make_account, spec_for, valid_fields
from tests.factories import auth_header, make_api_key
from vigil.config import Settings
from vigil.dsa import service
from vigil.dsa.models import Statement
from vigil.kit import clock
from vigil.policies.actions import ActionType, Scope


@pytest.fixture
def key(db: Session) -> dict[str, str]:
    _, secret = make_api_key(db, scopes=["statements:read"])
    db.commit()
    return auth_header(secret)


def _made(db: Session, settings: Settings, n: int) -> list[Statement]:
    account = make_account(db)
    out = []
    for i in range(n):
        with clock.frozen(datetime(2026, 11, 21 + i, 10, tzinfo=UTC)):
            category = (
                "STATEMENT_CATEGORY_VIOLENCE" if i == 1 else "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
            )
            out.append(
                service.create_statement(
                    db, spec_for(account, category=category), settings=settings
                )
            )
    db.commit()
    return out


def test_list_pages_and_filters(
    client: TestClient, db: Session, settings: Settings, key: dict[str, str]
) -> None:
    made = _made(db, settings, 3)
    first = client.get("/v1/statements", params={"limit": 2}, headers=key)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [s["id"] for s in body["items"]] == [made[2].id, made[1].id]
    assert body["items"][0]["reference"] == f"SOR-{made[2].id}"
    assert "fields" not in body["items"][0]
    rest = client.get("/v1/statements", params={"cursor": body["next_cursor"]}, headers=key)
    assert [s["id"] for s in rest.json()["items"]] == [made[0].id]
    assert rest.json()["next_cursor"] is None

    window = {"since": "2026-11-22", "until": "2026-11-23"}
    in_window = client.get("/v1/statements", params=window, headers=key).json()["items"]
    assert [s["id"] for s in in_window] == [made[2].id, made[1].id]
    violence = client.get(
        "/v1/statements", params={"category": "STATEMENT_CATEGORY_VIOLENCE"}, headers=key
    )
    assert [s["id"] for s in violence.json()["items"]] == [made[1].id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"category": "Violence"}, "category"),
        ({"since": "2026-11-23", "until": "2026-11-22"}, "until"),
        ({"since": "23/11/2026"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
    ids=["label for a category", "until before since", "bad date", "bad cursor"],
)
def test_list_refuses_bad_filters(
    client: TestClient, key: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = client.get("/v1/statements", params=params, headers=key)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_one_statement_with_its_full_field_set(
    client: TestClient, db: Session, settings: Settings, key: dict[str, str]
) -> None:
    [made] = _made(db, settings, 1)
    response = client.get(f"/v1/statements/{made.id}", headers=key)
    assert response.status_code == 200
    body = response.json()
    assert body["fields"] == made.fields
    assert body["actions"][0]["action"] == "suspend"
    assert body["puid"] == made.puid and body["exported_at"] is None
    missing = client.get(f"/v1/statements/{made.id + 1}", headers=key)
    assert missing.status_code == 404
    assert missing.json()["code"] == "statement_not_found"


def test_statements_of_a_decision(
    client: TestClient, db: Session, settings: Settings, key: dict[str, str]
) -> None:
    account = make_account(db)
    spec = spec_for(account, [(ActionType.remove, Scope.listing, None)])
    first = service.create_statement(db, spec, settings=settings)
    payouts = [(ActionType.restrict, Scope.payouts, clock.now() + timedelta(days=3))]
    second = service.create_statement(
        db, spec_for(account, payouts, decision_id=spec.decision_id), settings=settings
    )
    service.create_statement(db, spec_for(account), settings=settings)  # another decision
    db.commit()
    response = client.get(f"/v1/decisions/{spec.decision_id}/statements", headers=key)
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == [first.id, second.id]
    assert response.json()[0]["fields"]["decision_visibility"] == [
        "DECISION_VISIBILITY_CONTENT_REMOVED"
    ]
    none = client.get("/v1/decisions/999999/statements", headers=key)
    assert none.status_code == 200 and none.json() == []


def _stored(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Statement)) or 0


def test_validate_one_statement(client: TestClient, db: Session, key: dict[str, str]) -> None:
    ok = client.post("/v1/statements/validate", json=valid_fields(), headers=key)
    assert ok.status_code == 200
    assert ok.json() == {"valid": True, "statements": 1, "violations": []}

    bad = client.post(
        "/v1/statements/validate",
        json=valid_fields(decision_ground=..., puid="has spaces"),
        headers=key,
    )
    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    assert [(x["field"], x["code"]) for x in bad.json()["violations"]] == [
        ("decision_ground", "required"),
        ("puid", "invalid_format"),
    ]
    assert _stored(db) == 0


def test_validate_a_batch(client: TestClient, db: Session, key: dict[str, str]) -> None:
    body = {"statements": [valid_fields(puid="x-1"), valid_fields(puid="x-1")]}
    response = client.post("/v1/statements/validate", json=body, headers=key)
    assert response.status_code == 200
    assert response.json() == {
        "valid": False,
        "statements": 2,
        "violations": [
            {
                "index": 1,
                "field": "puid",
                "code": "duplicate",
                "message": "The puid is not unique within this call (statement_0).",
            }
        ],
    }
    too_many = {"statements": [valid_fields(puid=f"x-{i}") for i in range(101)]}
    over = client.post("/v1/statements/validate", json=too_many, headers=key).json()
    assert [(x["index"], x["code"]) for x in over["violations"]] == [(None, "out_of_range")]
    assert _stored(db) == 0


def test_validate_refuses_a_body_that_is_not_an_object(
    client: TestClient, key: dict[str, str]
) -> None:
    response = client.post("/v1/statements/validate", json=["a"], headers=key)
    assert response.status_code == 422


def test_reading_needs_statements_read(client: TestClient, db: Session) -> None:
    _, secret = make_api_key(db, scopes=["cases:read"])
    db.commit()
    response = client.get("/v1/statements", headers=auth_header(secret))
    assert response.status_code == 403
