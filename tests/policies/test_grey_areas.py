"""Grey areas: the hard calls a policy version settles, checked like every other field and
shown wherever the version is (API, CLI, the shipped pack)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import login_as, make_staff
from tests.policies.helpers import counts, policy
from vigil.auth.permissions import Role
from vigil.cli import app
from vigil.config import Settings
from vigil.kit.errors import InvalidInput
from vigil.policies import service
from vigil.policies.pack import read_pack
from vigil.policies.schemas import MAX_GREY_AREAS, validate_policy

CODE = "off_platform_payment"
PORTFOLIO = {
    "title": "Sharing a portfolio link",
    "guidance": "Allowed when the page shows work only, with no prices or checkout.",
}
VISIT = {
    "title": "A phone number for an on-site visit",
    "guidance": "Allowed for access and timing of an order paid on the platform.",
}


def test_grey_areas_are_optional_and_normalised() -> None:
    assert validate_policy(policy()).content["grey_areas"] == []
    spec = validate_policy(
        policy(grey_areas=[{"title": "  Sharing a portfolio link ", "guidance": " Allowed. "}])
    )
    assert spec.content["grey_areas"] == [
        {"title": "Sharing a portfolio link", "guidance": "Allowed."}
    ]


@pytest.mark.parametrize(
    ("grey_areas", "code", "field"),
    [
        ("sharing links", "invalid_type", "grey_areas"),
        (["sharing links"], "invalid_type", "grey_areas[0]"),
        ([{"title": "Links"}], "missing_field", "grey_areas[0].guidance"),
        ([PORTFOLIO, {"guidance": "x"}], "missing_field", "grey_areas[1].title"),
        ([{"title": " ", "guidance": "x"}], "empty_field", "grey_areas[0].title"),
        ([{"title": 3, "guidance": "x"}], "invalid_type", "grey_areas[0].title"),
        ([{"title": "t" * 201, "guidance": "x"}], "too_long", "grey_areas[0].title"),
        ([{"title": "t", "guidance": "g" * 2001}], "too_long", "grey_areas[0].guidance"),
        ([{**PORTFOLIO, "note": "x"}], "unknown_field", "grey_areas[0].note"),
        (
            [PORTFOLIO, {**VISIT, "title": "sharing a PORTFOLIO link"}],
            "duplicate_grey_area",
            "grey_areas[1].title",
        ),
        (
            [{"title": f"case {i}", "guidance": "x"} for i in range(MAX_GREY_AREAS + 1)],
            "too_many",
            "grey_areas",
        ),
    ],
)
def test_bad_grey_areas_name_the_field(grey_areas: Any, code: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_policy(policy(grey_areas=grey_areas))
    assert (caught.value.code, caught.value.field) == (code, field)


@pytest.fixture
def lead(client: TestClient, db: Session) -> TestClient:
    login_as(client, db, make_staff(db, role=Role.policy_lead, name="Pat Lead"))
    db.rollback()
    return client


def test_the_api_takes_and_returns_grey_areas_as_a_new_version(
    lead: TestClient, db: Session
) -> None:
    made = lead.post("/v1/policies", json=policy(grey_areas=[PORTFOLIO]))
    assert made.status_code == 201, made.text
    assert made.json()["grey_areas"] == [PORTFOLIO]

    edited = lead.patch(
        f"/v1/policies/{CODE}",
        json={"grey_areas": [PORTFOLIO, VISIT], "change_reason": "phone numbers keep coming up"},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["changed_fields"] == ["grey_areas"]
    assert edited.json()["policy"]["version"] == 2

    old = lead.get(f"/v1/policies/{CODE}/versions/1").json()
    new = lead.get(f"/v1/policies/{CODE}").json()
    assert old["grey_areas"] == [PORTFOLIO]
    assert new["grey_areas"] == [PORTFOLIO, VISIT]


def test_the_api_refuses_a_bad_grey_area_with_its_field(lead: TestClient, db: Session) -> None:
    assert lead.post("/v1/policies", json=policy()).status_code == 201
    before = counts(db)
    response = lead.patch(
        f"/v1/policies/{CODE}",
        json={"grey_areas": [{"title": "Links", "guidance": ""}], "change_reason": "x"},
    )
    assert response.status_code == 422, response.text
    assert (response.json()["code"], response.json()["field"]) == (
        "empty_field",
        "grey_areas[0].guidance",
    )
    unknown = lead.patch(
        f"/v1/policies/{CODE}",
        json={"grey_areas": [{"title": "Links", "guidance": "x", "x": 1}], "change_reason": "x"},
    )
    assert unknown.status_code == 422
    assert counts(db) == before


def test_every_shipped_policy_has_grey_areas() -> None:
    pack = read_pack()
    for spec in pack.policies:
        areas = spec.content["grey_areas"]
        assert len(areas) >= 2, spec.code
    fee = next(s for s in pack.policies if s.code == "fee_circumvention")
    titles = [a["title"] for a in fee.content["grey_areas"]]
    assert "Sharing a portfolio link" in titles
    assert "Asking for a phone number to coordinate an on-site visit" in titles


def test_the_cli_shows_grey_areas(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    assert runner.invoke(app, ["policies", "load"]).exit_code == 0
    shown = runner.invoke(app, ["policies", "show", "fee_circumvention"])
    assert shown.exit_code == 0, shown.output
    assert "Grey areas:" in shown.output
    assert "  - Sharing a portfolio link" in shown.output
    db.rollback()
    _policy, version = service.get_current(db, "fee_circumvention")
    assert version.grey_areas[0]["title"] in shown.output
