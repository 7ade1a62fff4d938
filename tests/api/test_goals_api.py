"""Goals over HTTP: leadership sets them, everyone on staff reads them with their progress."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.analytics.goals.conftest import Closed
from tests.analytics.goals.conftest import closed as closed
from tests.factories import login_as, logout
from vigil.analytics.goals.models import Goal

SLA = {"metric": "sla_attainment", "comparator": ">=", "target": 0.95, "period": "month"}


def test_leadership_sets_a_goal_and_an_agent_sees_it(
    client: TestClient,
    db: Session,
    closed: Closed,
) -> None:
    login_as(client, db, closed.head)
    made = client.post("/v1/goals", json={**SLA, "filters": {}, "notes": "Q4"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["goal"]["label"].endswith(">= 95%")
    assert body["goal"]["comparator"] == "gte"
    assert body["progress"]["status"] == "at_risk"
    assert body["progress"]["current"] == 0.5
    goal_id = body["goal"]["id"]

    changed = client.patch(f"/v1/goals/{goal_id}", json={"target": 0.5, "version": 1})
    assert changed.status_code == 200
    assert changed.json()["progress"]["status"] == "on_track"
    stale = client.patch(f"/v1/goals/{goal_id}", json={"target": 0.4, "version": 1})
    assert (stale.status_code, stale.json()["code"]) == (409, "version_conflict")

    logout(client)
    login_as(client, db, closed.agent)
    listed = client.get("/v1/goals").json()["items"]
    assert [(g["goal"]["id"], g["progress"]["status"]) for g in listed] == [(goal_id, "on_track")]
    refused = client.post("/v1/goals", json=SLA)
    assert refused.status_code == 403
    one = client.get(f"/v1/goals/{goal_id}", params={"period": "2026-12-05"})
    assert one.json()["progress"]["status"] == "no_data"  # December has not started
    assert client.get("/v1/goals/999999").json()["code"] == "goal_not_found"


def test_bad_goals_are_422_with_the_field(
    client: TestClient,
    db: Session,
    closed: Closed,
) -> None:
    login_as(client, db, closed.head)
    for change, code, field in [
        ({"metric": "nope"}, "unknown_metric", "metric"),
        ({"target": 2}, "target_out_of_range", "target"),
        ({"filters": {"rule": "r1"}}, "filter_not_supported", "filters.rule"),
    ]:
        r = client.post("/v1/goals", json={**SLA, **change})
        assert r.status_code == 422, r.text
        assert (r.json()["code"], r.json()["field"]) == (code, field)
    assert client.post("/v1/goals", json={**SLA, "comparator": "=="}).status_code == 422
    assert db.scalar(select(func.count()).select_from(Goal)) == 0


def test_archive(client: TestClient, db: Session, closed: Closed) -> None:
    login_as(client, db, closed.head)
    goal_id = client.post("/v1/goals", json=SLA).json()["goal"]["id"]
    archived = client.post(f"/v1/goals/{goal_id}/archive", json={"reason": "done"})
    assert archived.json()["status"] == "archived"
    assert client.get("/v1/goals").json()["items"] == []
    everything = client.get("/v1/goals", params={"include_archived": True}).json()["items"]
    assert [g["goal"]["id"] for g in everything] == [goal_id]
    again = client.post(f"/v1/goals/{goal_id}/archive")
    assert (again.status_code, again.json()["code"]) == (409, "goal_archived")


def test_a_goal_from_next_month_is_saved_and_the_list_keeps_working(
    client: TestClient, db: Session, closed: Closed
) -> None:
    login_as(client, db, closed.head)
    made = client.post("/v1/goals", json={**SLA, "starts_on": "2026-12-01"})
    assert made.status_code == 201, made.text
    assert made.json()["progress"]["status"] == "no_data"
    assert made.json()["progress"]["period_start"] == "2026-12-01"
    listed = client.get("/v1/goals")
    assert listed.status_code == 200
    assert [g["progress"]["status"] for g in listed.json()["items"]] == ["no_data"]
    before = client.get(f"/v1/goals/{made.json()['goal']['id']}", params={"period": "2026-11-05"})
    assert (before.status_code, before.json()["code"]) == (422, "period_outside_goal")


def test_nulls_and_far_dates_are_422_not_500(
    client: TestClient, db: Session, closed: Closed
) -> None:
    login_as(client, db, closed.head)
    goal = client.post("/v1/goals", json={**SLA, "period": "quarter"}).json()["goal"]
    for name in ("target", "starts_on", "period", "recurring"):
        r = client.patch(f"/v1/goals/{goal['id']}", json={name: None})
        assert r.status_code == 422, (name, r.text)
        assert (r.json()["code"], r.json()["field"]) == ("invalid_field", name)
    far = client.get(f"/v1/goals/{goal['id']}", params={"period": "9999-12-31"})
    assert (far.status_code, far.json()["code"]) == (422, "invalid_period")
    for period, start in (("month", "9999-12-01"), ("quarter", "9999-10-01")):
        r = client.post("/v1/goals", json={**SLA, "period": period, "starts_on": start})
        assert (r.status_code, r.json()["code"]) == (422, "invalid_period_start")
    assert client.get(f"/v1/goals/{goal['id']}").json()["goal"]["version"] == 1


def test_previous_periods_are_on_the_detail_and_on_request_in_the_list(
    client: TestClient, db: Session, closed: Closed
) -> None:
    login_as(client, db, closed.head)
    weekly = {**SLA, "metric": "cases_closed", "target": 2, "period": "week"}
    goal_id = client.post("/v1/goals", json={**weekly, "starts_on": "2026-11-09"}).json()["goal"][
        "id"
    ]
    last_week = [{"period_start": "2026-11-09", "period_end": "2026-11-16", "value": 0.0,
                  "status": "missed"}]  # fmt: skip
    assert client.get(f"/v1/goals/{goal_id}").json()["progress"]["previous"] == last_week
    assert client.get("/v1/goals").json()["items"][0]["progress"]["previous"] == []
    full = client.get("/v1/goals", params={"include_previous": True}).json()["items"]
    assert full[0]["progress"]["previous"] == last_week
