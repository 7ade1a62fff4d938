"""Console pages for rules and backtests, over HTTP."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.detection.rules.conftest import rule_body
from tests.detection.rules.test_backtest import stored_event
from tests.factories import login_as, make_staff
from vigil.auth.permissions import Role
from vigil.kit import clock

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def lead(client: TestClient, db: Session) -> tuple[TestClient, str]:
    csrf = login_as(client, db, make_staff(db, role=Role.policy_lead))
    client.headers.pop("X-CSRF-Token", None)  # forms carry the token themselves
    return client, csrf


def _form(csrf: str, **changes: object) -> dict[str, object]:
    body = rule_body(**changes)
    return {
        "csrf_token": csrf,
        "name": body["name"],
        "description": body["description"],
        "expression": body["expression"],
        "score": str(body["score"]),
        "outcome": body["outcome"],
        "policy_code": body["policy_code"] or "",
        "queue": body["queue"] or "",
        "event_types": body["event_types"],
        "tags": ", ".join(body["tags"]),
        "state": "draft",
        "change_reason": "",
    }


def test_a_policy_lead_writes_tries_and_activates_a_rule(lead: tuple[TestClient, str]) -> None:
    client, csrf = lead
    home = client.get("/")
    assert '<a href="/rules">Rules</a>' in home.text
    listing = client.get("/rules")
    assert listing.status_code == 200 and "vigil rules load" in listing.text
    assert client.get("/rules/new").status_code == 200

    refused = client.post(
        "/rules/new", data=_form(csrf, expression="account.age_days < 2 &&\n features.nope > 1")
    )
    assert refused.status_code == 422
    assert "line 2, column 10" in refused.text and "no feature" in refused.text
    assert 'aria-invalid="true"' in refused.text

    created = client.post("/rules/new", data=_form(csrf), follow_redirects=False)
    assert created.status_code == 303
    assert created.headers["location"] == "/rules/new_account_mass_messaging?flash=created"
    page = client.get(created.headers["location"])
    assert page.status_code == 200 and "Rule created." in page.text
    assert "features.messages_1h &gt; 20" in page.text

    check = client.post(
        "/rules/check",
        data={"expression": "features.mesages_1h > 1"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert check.status_code == 200 and "line 1, column 9" in check.text
    assert "        ^" in check.text
    good = client.post(
        "/rules/check",
        data={"expression": "features.messages_1h > 1"},
        headers={"X-CSRF-Token": csrf},
    )
    assert "type-checks" in good.text

    tried = client.post(
        "/rules/try",
        data={
            "csrf_token": csrf,
            "expression": "features.messages_1h > 20",
            "sample": '{"features": {"messages_1h": 25}}',
        },
    )
    assert "fires" in tried.text and "features.messages_1h" in tried.text
    bad_sample = client.post(
        "/rules/try", data={"csrf_token": csrf, "expression": "true", "sample": "[1]"}
    )
    assert "must be a JSON object" in bad_sample.text

    edit = client.get("/rules/new_account_mass_messaging/edit")
    assert edit.status_code == 200 and "Save as a new version" in edit.text
    form = _form(csrf, score=75)
    form["change_reason"] = "more weight"
    saved = client.post("/rules/new_account_mass_messaging/edit", data=form, follow_redirects=False)
    assert saved.status_code == 303 and "flash=saved" in saved.headers["location"]

    active = client.post(
        "/rules/new_account_mass_messaging/state",
        data={"csrf_token": csrf, "state": "active", "reason": "backtested"},
        follow_redirects=False,
    )
    assert active.status_code == 303
    illegal = client.post(
        "/rules/new_account_mass_messaging/state", data={"csrf_token": csrf, "state": "draft"}
    )
    assert illegal.status_code == 409 and "cannot go from active to draft" in illegal.text
    assert "active" in client.get("/rules?state=active").text


def test_backtests_from_the_console(lead: tuple[TestClient, str], db: Session) -> None:
    client, csrf = lead
    client.post("/rules/new", data={**_form(csrf), "state": "active"})
    stored_event(db, None, clock.now().replace(hour=8), {"messages_1h": 30})
    db.commit()
    assert client.get("/rules/backtests").status_code == 200
    started = client.post(
        "/rules/backtests",
        data={
            "csrf_token": csrf,
            "since": "2026-11-20T00:00",
            "until": "2026-11-21T09:00",
            "target": "active",
            "compare": "new_account_mass_messaging@1",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303
    run_url = started.headers["location"]
    assert re.fullmatch(r"/rules/backtests/\d+", run_url)
    page = client.get(run_url)
    assert page.status_code == 200
    assert "1 events replayed" in page.text and "Side by side" in page.text
    assert client.get(run_url + "/results").status_code == 200
    refused = client.post("/rules/backtests", data={"csrf_token": csrf, "target": "no_such_rule"})
    assert refused.status_code == 422 and "no rule" in refused.text


def test_agents_read_rules_but_cannot_write(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    assert client.get("/rules").status_code == 200
    assert client.get("/rules/new").status_code == 403
    assert client.get("/rules/nope").status_code == 404
