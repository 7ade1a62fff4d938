"""The transparency report over HTTP (JSON and CSV) and authority orders."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.analytics.transparency.conftest import Reported
from tests.analytics.transparency.conftest import closed as closed
from tests.analytics.transparency.conftest import reported as reported
from tests.factories import login_as, logout

NOV = {"start": "2026-11-01", "end": "2026-12-01"}


def test_json_and_csv_show_the_same_figures(
    client: TestClient,
    db: Session,
    reported: Reported,
) -> None:
    login_as(client, db, reported.closed.head)
    body = client.get("/v1/reports/transparency", params=NOV).json()
    assert body["start"].startswith("2026-11-01")
    notices = next(s for s in body["sections"] if s["key"] == "notices")
    assert notices["explanation"]
    total = next(
        f for f in notices["figures"] if f["figure"] == "notices_received" and not f["breakdown"]
    )
    assert total["value"] == 3

    download = client.get("/v1/reports/transparency", params={**NOV, "format": "csv"})
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    # end=2026-12-01 is exclusive: the file is named by the last day it covers.
    assert "transparency-2026-11-01-to-2026-11-30.csv" in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["Section", "Figure", "Breakdown", "Value", "Note"]
    received = [r for r in rows if r["Figure"] == "orders_received" and not r["Breakdown"]]
    assert received[0]["Value"] == "1"
    assert sum(len(s["figures"]) for s in body["sections"]) == len(rows)


def test_refusals(client: TestClient, db: Session, reported: Reported) -> None:
    login_as(client, db, reported.closed.head)
    bad = client.get(
        "/v1/reports/transparency", params={"start": "2026-12-01", "end": "2026-11-01"}
    )
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (
        422,
        "invalid_window",
        "start",
    )
    worse = client.get("/v1/reports/transparency", params={**NOV, "format": "pdf"})
    assert worse.json()["code"] == "invalid_format"
    junk = client.get("/v1/reports/transparency", params={"start": "soon", "end": "2026-12-01"})
    assert (junk.json()["code"], junk.json()["field"]) == ("invalid_datetime", "start")
    logout(client)
    login_as(client, db, reported.closed.agent)
    assert client.get("/v1/reports/transparency", params=NOV).status_code == 403


def test_orders_over_http(client: TestClient, db: Session, reported: Reported) -> None:
    login_as(client, db, reported.legal)
    order_in = {
        "kind": "provide_information",
        "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "authority": "Bundeskriminalamt",
        "member_state": "DE",
        "legal_reference": "Az 4711",
        "received_at": "2026-11-21T08:00:00Z",
    }
    made = client.post("/v1/orders", json=order_in)
    assert made.status_code == 201, made.text
    order = made.json()
    assert order["status"] == "received" and order["case_id"]
    assert order["acknowledged_at"] is None  # not until the legal team records it
    told = client.post(
        f"/v1/orders/{order['id']}/acknowledge", json={"acknowledged_at": "2026-11-21T08:20:00Z"}
    )
    assert told.json()["acknowledged_at"].startswith("2026-11-21T08:20:00")
    twice = client.post(f"/v1/orders/{order['id']}/acknowledge", json={})
    assert (twice.status_code, twice.json()["code"]) == (409, "order_already_acknowledged")
    no_type = client.post("/v1/orders", json={k: v for k, v in order_in.items() if k != "category"})
    assert no_type.status_code == 422
    done = client.post(f"/v1/orders/{order['id']}/effect", json={"note": "Data sent."})
    assert done.json()["status"] == "effected"
    again = client.post(f"/v1/orders/{order['id']}/effect", json={})
    assert (again.status_code, again.json()["code"]) == (409, "order_already_effected")
    assert next(o["id"] for o in client.get("/v1/orders").json()["items"]) == order["id"]
    logout(client)
    login_as(client, db, reported.closed.head)
    assert client.post("/v1/orders", json={}).status_code == 403
