"""The policies HTTP API, as a policy lead and the marketplace use it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import auth_header, login_as, make_api_key, make_staff
from tests.policies.helpers import ILLEGAL, SYSTEM, counts, policy
from vigil.auth.permissions import Role
from vigil.policies.pack import load_pack

CODE = "off_platform_payment"


@pytest.fixture
def lead(client: TestClient, db: Session) -> TestClient:
    """``client`` logged in as a policy lead."""
    login_as(client, db, make_staff(db, role=Role.policy_lead, name="Pat Lead"))
    db.rollback()
    return client


def create(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/policies", json=policy(**changes))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_create_read_edit_and_walk_the_history(lead: TestClient, db: Session) -> None:
    made = create(lead)
    assert made["code"] == CODE and made["version"] == made["current_version"] == 1
    assert made["retired"] is False and made["change_reason"] == "created"
    assert made["created_by_label"] == "Pat Lead"
    assert made["ladder"][2] == {
        "strikes": 3,
        "action": "suspend",
        "scope": "account",
        "duration_days": 7,
    }

    got = lead.get(f"/v1/policies/{CODE}")
    assert got.status_code == 200 and got.json() == made

    edit = lead.patch(
        f"/v1/policies/{CODE}",
        json={
            "severity": "high",
            "guidance": "Read all of it.",
            "expected_version": 1,
            "change_reason": "Q3 review",
        },
    )
    assert edit.status_code == 200, edit.text
    body = edit.json()
    assert body["changed"] is True and body["changed_fields"] == ["guidance", "severity"]
    assert body["policy"]["version"] == 2 and body["policy"]["severity"] == "high"
    assert body["policy"]["title"] == made["title"]

    versions = lead.get(f"/v1/policies/{CODE}/versions")
    assert versions.status_code == 200
    items = versions.json()["items"]
    assert [(v["version"], v["change_reason"]) for v in items] == [(2, "Q3 review"), (1, "created")]
    old = lead.get(f"/v1/policies/{CODE}/versions/1")
    assert old.status_code == 200 and old.json()["severity"] == "medium"
    assert lead.get(f"/v1/policies/{CODE}/versions/3").json()["code"] == "policy_version_not_found"


def test_an_edit_identical_to_the_current_version_says_so(lead: TestClient, db: Session) -> None:
    create(lead)
    before = counts(db)
    same = lead.patch(
        f"/v1/policies/{CODE}", json={"title": "Off-platform payment", "change_reason": "no-op"}
    )
    assert same.status_code == 200
    assert same.json()["changed"] is False and same.json()["policy"]["version"] == 1
    assert counts(db) == before


def test_a_stale_edit_is_a_conflict(lead: TestClient, db: Session) -> None:
    create(lead)
    first = lead.patch(
        f"/v1/policies/{CODE}",
        json={"severity": "high", "change_reason": "a", "expected_version": 1},
    )
    assert first.status_code == 200
    before = counts(db)
    stale = lead.patch(
        f"/v1/policies/{CODE}",
        json={"severity": "low", "change_reason": "b", "expected_version": 1},
    )
    assert stale.status_code == 409
    assert (stale.json()["code"], stale.json()["field"]) == ("version_conflict", "expected_version")
    assert counts(db) == before


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (policy(code="Bad Code"), "invalid_code", "code"),
        (
            policy(
                ladder=[
                    {"strikes": 1, "action": "warn"},
                    {"strikes": 2, "action": "ban", "scope": "payouts"},
                ]
            ),
            "scope_not_allowed",
            "ladder[1].scope",
        ),
        (policy(user_title={"en": "Fees", "es": "Comisiones"}), "missing_locale", "user_title.pt"),
        (policy(dsa_category="STATEMENT_CATEGORY_FEES"), "unknown_dsa_category", "dsa_category"),
        (policy(**{**ILLEGAL, "legal_ground": None}), "legal_ground_required", "legal_ground"),
        (policy(allowed_actions=["warn", "fine"]), "unknown_action", "allowed_actions[1]"),
        ({**policy(), "colour": "red"}, "unknown_field", "colour"),
        (policy(title=None), "missing_field", "title"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    lead: TestClient, db: Session, body: dict[str, Any], code: str, field: str
) -> None:
    before = counts(db)
    response = lead.post("/v1/policies", json=body)
    assert response.status_code == 422, response.text
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert counts(db) == before


def test_a_patch_that_breaks_the_policy_is_refused(lead: TestClient, db: Session) -> None:
    create(lead)
    before = counts(db)
    response = lead.patch(
        f"/v1/policies/{CODE}",
        json={"default_action": "ban", "allowed_actions": ["warn"], "change_reason": "x"},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "default_action"
    assert counts(db) == before
    missing_reason = lead.patch(f"/v1/policies/{CODE}", json={"severity": "high"})
    assert (missing_reason.status_code, missing_reason.json()["field"]) == (422, "change_reason")
    blank_reason = lead.patch(
        f"/v1/policies/{CODE}", json={"severity": "high", "change_reason": " "}
    )
    assert blank_reason.json()["code"] == "change_reason_required"
    assert counts(db) == before


def test_duplicates_and_unknown_codes(lead: TestClient) -> None:
    create(lead)
    again = lead.post("/v1/policies", json=policy())
    assert (again.status_code, again.json()["code"]) == (409, "policy_exists")
    for url in ("/v1/policies/nope", "/v1/policies/nope/versions", "/v1/policies/nope/versions/1"):
        response = lead.get(url)
        assert (response.status_code, response.json()["code"]) == (404, "policy_not_found")
    patch = lead.patch("/v1/policies/nope", json={"severity": "high", "change_reason": "x"})
    assert patch.status_code == 404


def test_retire_and_restore(lead: TestClient, db: Session) -> None:
    create(lead)
    create(lead, code="spam", title="Spam")
    no_reason = lead.post(f"/v1/policies/{CODE}/retire", json={})
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")
    retired = lead.post(f"/v1/policies/{CODE}/retire", json={"reason": "merged into fees"})
    assert retired.status_code == 200
    assert (
        retired.json()["retired"] is True and retired.json()["retire_reason"] == "merged into fees"
    )
    assert [p["code"] for p in lead.get("/v1/policies").json()["items"]] == ["spam"]
    listed = lead.get("/v1/policies", params={"include_retired": "true"}).json()["items"]
    assert [(p["code"], p["retired"]) for p in listed] == [(CODE, True), ("spam", False)]
    # Its history stays readable: decisions cite these versions.
    assert lead.get(f"/v1/policies/{CODE}/versions/1").status_code == 200
    twice = lead.post(f"/v1/policies/{CODE}/retire", json={"reason": "again"})
    assert (twice.status_code, twice.json()["code"]) == (409, "policy_already_retired")

    restored = lead.post(f"/v1/policies/{CODE}/restore")
    assert restored.status_code == 200 and restored.json()["retired"] is False
    assert restored.json()["retired_at"] is None
    live = lead.post(f"/v1/policies/{CODE}/restore", json={"reason": "why not"})
    assert (live.status_code, live.json()["code"]) == (409, "policy_not_retired")


def test_the_catalog_pages_by_code(lead: TestClient, db: Session) -> None:
    load_pack(db, SYSTEM)
    db.commit()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = lead.get("/v1/policies", params=params).json()
        seen += [p["code"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == 16
    bad = lead.get("/v1/policies", params={"cursor": "%%%"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")


def test_who_may_read_and_who_may_write(client: TestClient, db: Session) -> None:
    load_pack(db, SYSTEM)
    _, secret = make_api_key(db, scopes=["policies:read"])
    db.commit()
    marketplace = auth_header(secret)
    listed = client.get("/v1/policies", headers=marketplace)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 16
    fraud = client.get("/v1/policies/fraud_scams", headers=marketplace).json()
    assert fraud["dsa_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert set(fraud["user_explanation"]) == {"en", "es", "pt"}
    assert client.post("/v1/policies", json=policy(), headers=marketplace).status_code == 403

    login_as(client, db, make_staff(db, role=Role.agent))
    db.rollback()
    assert client.get("/v1/policies/spam").status_code == 200
    refused = client.patch("/v1/policies/spam", json={"severity": "high", "change_reason": "x"})
    assert refused.status_code == 403
    assert client.post("/v1/policies/spam/retire", json={"reason": "x"}).status_code == 403
