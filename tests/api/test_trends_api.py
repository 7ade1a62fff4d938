"""Trend alerts over HTTP: the inbox, one alert with its chart, triage, counts; refusals."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.analytics.trends.conftest import MONDAY, quick_alert
from tests.factories import auth_header, login_as, logout, make_api_key, make_staff
from vigil.auth.permissions import Role
from vigil.kit.clock import FrozenClock


def test_a_policy_lead_reads_and_triages_an_alert(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    alert_id = quick_alert(db)
    frozen.set(MONDAY + timedelta(hours=12, minutes=10))
    lead = make_staff(db, Role.policy_lead)
    agent = make_staff(db, Role.agent)
    login_as(client, db, agent)
    listed = client.get("/v1/trends/alerts", params={"status": "open"})
    assert listed.status_code == 200, listed.text
    assert [a["id"] for a in listed.json()["items"]] == [alert_id]
    one = client.get(f"/v1/trends/alerts/{alert_id}").json()
    assert (one["dimension"], one["value"], one["observed"]) == (
        "report_reason",
        "crypto_giveaway",
        15,
    )
    assert one["series"][-1] == {"bucket": "2026-11-23T11", "observed": 15, "expected": 0.0}
    assert len(one["series"]) == 24 * 14
    # Agents read alerts but do not triage them.
    refused = client.post(f"/v1/trends/alerts/{alert_id}/acknowledge", json={})
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")

    logout(client)
    login_as(client, db, lead)
    no_reason = client.post(f"/v1/trends/alerts/{alert_id}/dismiss", json={"reason": " "})
    assert no_reason.status_code == 422
    assert (no_reason.json()["code"], no_reason.json()["field"]) == ("reason_required", "reason")
    acked = client.post(f"/v1/trends/alerts/{alert_id}/acknowledge", json={"note": "on it"})
    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["ack_note"]) == ("acknowledged", "on it")
    assert acked.json()["acknowledged_by_id"] == lead.id
    dismissed = client.post(f"/v1/trends/alerts/{alert_id}/dismiss", json={"reason": "a test"})
    assert dismissed.json()["status"] == "dismissed"
    again = client.post(f"/v1/trends/alerts/{alert_id}/acknowledge")
    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")
    assert "a dismissed alert cannot become acknowledged" in again.text
    missing = client.get("/v1/trends/alerts/999999")
    assert (missing.status_code, missing.json()["code"]) == (404, "alert_not_found")


def test_counts_and_their_refusals(client: TestClient, db: Session, frozen: FrozenClock) -> None:
    quick_alert(db)
    login_as(client, db, make_staff(db, Role.qa))
    params = {
        "dimension": "report_reason",
        "interval": "hour",
        "start": "2026-11-23T10:00:00Z",
        "end": "2026-11-23T12:00:00Z",
    }
    got = client.get("/v1/trends/counts", params=params)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["buckets"] == ["2026-11-23T10", "2026-11-23T11"]
    assert body["series"] == [
        {"value": "crypto_giveaway", "counts": [0, 15], "expected": [0.0, 0.0]}
    ]
    for change, code, field in [
        ({"dimension": "colour"}, "invalid_dimension", "dimension"),
        ({"start": "2026-09-01T00:00:00Z"}, "range_too_large", "end"),
        ({"end": "2026-11-23T09:00:00Z"}, "invalid_range", "end"),
        ({"start": "2026-11-23T10:00:00"}, "naive_datetime", "start"),
        # Far-off years are typing mistakes (and year 1 made malformed bucket keys).
        ({"start": "0001-01-01T00:00:00Z"}, "invalid_range", "start"),
        ({"start": "1999-12-31T00:00:00Z"}, "invalid_range", "start"),
        ({"end": "9999-01-01T00:00:00Z"}, "invalid_range", "end"),
    ]:
        bad = client.get("/v1/trends/counts", params={**params, **change})
        assert bad.status_code == 422, (change, bad.text)
        assert (bad.json()["code"], bad.json()["field"]) == (code, field)


def test_api_keys_cannot_read_alerts(client: TestClient, db: Session) -> None:
    _key, secret = make_api_key(db)
    db.commit()
    refused = client.get("/v1/trends/alerts", headers=auth_header(secret))
    assert refused.status_code == 403
