"""The printable transparency report page in the console."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.analytics.transparency.conftest import Reported
from tests.analytics.transparency.conftest import closed as closed
from tests.analytics.transparency.conftest import reported as reported
from tests.factories import login_as, logout

NOV = {"start": "2026-11-01", "end": "2026-11-30"}


def test_the_page_shows_every_section_with_its_explanation(
    client: TestClient,
    db: Session,
    reported: Reported,
) -> None:
    login_as(client, db, reported.closed.head)
    page = client.get("/reports/transparency", params=NOV)
    assert page.status_code == 200
    html = page.text
    for title in (
        "Orders from Member States",
        "Notices from users",
        "own initiative",
        "Complaints",
        "Use of automated means",
        "Out-of-court disputes",
        "To be completed by the legal team",
    ):
        assert title in html
    assert "2026-11-01" in html and "2026-11-30" in html and "generated" in html
    assert "not recorded" in html  # suspensions for misuse: Vigil does not distinguish them
    assert "css/reports.css" in html
    csv_link = "/reports/transparency?start=2026-11-01&amp;end=2026-11-30&amp;format=csv"
    assert csv_link in html
    download = client.get("/reports/transparency", params={**NOV, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert any(r["Figure"] == "notices_received" and r["Value"] == "3" for r in rows)
    # Named by the last day included, as the page words the period.
    assert "transparency-2026-11-01-to-2026-11-30.csv" in download.headers["content-disposition"]
    # Durations are shown in hours, so the page does not call them seconds (the CSV keeps the
    # stable figure names); long category codes may break only after a "_".
    assert "median time to action" in html and "median seconds" not in html
    assert any(r["Figure"] == "median_seconds_to_action" for r in rows)
    assert "=<wbr>STATEMENT_<wbr>CATEGORY_<wbr>SCAMS_<wbr>AND_<wbr>FRAUD" in html
    # The dashboard's automation rate counts pending decisions too: the report says so.
    assert "awaiting a second approval" in html


def test_defaults_errors_and_permission(
    client: TestClient, db: Session, reported: Reported
) -> None:
    login_as(client, db, reported.closed.head)
    first = client.get("/reports/transparency")
    assert first.status_code == 200
    assert "2026-01-01" in first.text and "2026-06-30" in first.text  # the last half-year
    bad = client.get("/reports/transparency", params={"start": "2026-13-01", "end": "2026-11-30"})
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text and "YYYY-MM-DD" in bad.text
    logout(client)
    login_as(client, db, reported.closed.agent)
    assert client.get("/reports/transparency", params=NOV).status_code == 403
