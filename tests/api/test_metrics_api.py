"""GET /v1/metrics and /v1/metrics/{name}: JSON, CSV and XLSX give the same numbers; refusals
carry stable codes and change nothing."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from xml.etree import ElementTree

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.analytics.metrics.conftest import Week, week  # noqa: F401 (fixture)
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role

WINDOW = "start=2026-11-18&end=2026-11-22"
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _xlsx_rows(data: bytes) -> list[list[str]]:
    """The first sheet's cells as text, read from the XML (shared or inline strings)."""
    book = zipfile.ZipFile(io.BytesIO(data))
    shared: list[str] = []
    if "xl/sharedStrings.xml" in book.namelist():
        root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
        shared = ["".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")) for si in root]
    sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows: list[list[str]] = []
    for row in sheet.iter(f"{{{NS['m']}}}row"):
        cells: dict[int, str] = {}
        for c in row.findall("m:c", NS):
            column = re.match(r"[A-Z]+", c.get("r", "A")).group(0)  # type: ignore[union-attr]
            index = ord(column) - ord("A")
            kind = c.get("t")
            if kind == "s":
                cells[index] = shared[int(c.findtext("m:v", "", NS))]
            elif kind == "inlineStr":
                cells[index] = "".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t"))
            else:
                cells[index] = c.findtext("m:v", "", NS)
        rows.append([cells.get(i, "") for i in range(max(cells) + 1)] if cells else [])
    return rows


def test_catalog_and_series_in_three_formats(
    client: TestClient,
    db: Session,
    week: Week,  # noqa: F811
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    login_as(client, db, lead)
    listed = client.get("/v1/metrics")
    assert listed.status_code == 200
    names = {m["name"]: m for m in listed.json()["items"]}
    assert names["sla_attainment"]["unit"] == "ratio"
    assert names["sla_attainment"]["better"] == "higher"
    assert "queue" in names["backlog"]["filters"]

    got = client.get(f"/v1/metrics/sla_attainment?{WINDOW}")
    assert got.status_code == 200, got.text
    body = got.json()
    assert [b["start"] for b in body["buckets"]] == [
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
        "2026-11-21",
    ]
    assert [b["value"] for b in body["buckets"]] == [None, 0.0, 1.0, None]
    assert body["total"] == {"start": "2026-11-18", "value": 0.5, "numerator": 1, "denominator": 2}

    grouped = client.get(f"/v1/metrics/cases_opened?{WINDOW}&group_by=side").json()
    by_side = {g["key"]: [b["value"] for b in g["buckets"]] for g in grouped["groups"]}
    assert by_side == {"freelancer": [1, 0, 0, 0], "client": [1, 0, 0, 0], "none": [0, 0, 0, 1]}

    as_csv = client.get(f"/v1/metrics/sla_attainment?{WINDOW}&format=csv")
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0] == ["bucket", "sla_attainment", "numerator", "denominator"]
    # A share stays as computed; the counts behind it are whole numbers.
    assert rows[1:] == [
        ["2026-11-18", "", "0", "0"],
        ["2026-11-19", "0.0", "0", "1"],
        ["2026-11-20", "1.0", "1", "1"],
        ["2026-11-21", "", "0", "0"],
        ["total", "0.5", "1", "2"],
    ]
    # Named by the first and the last day included, and the interval.
    assert (
        "sla_attainment-2026-11-18-to-2026-11-21-by-day.csv"
        in (as_csv.headers["content-disposition"])
    )

    as_xlsx = client.get(f"/v1/metrics/sla_attainment?{WINDOW}&format=xlsx")
    assert as_xlsx.status_code == 200
    sheet = _xlsx_rows(as_xlsx.content)
    assert sheet[0] == ["bucket", "sla_attainment", "numerator", "denominator"]
    assert sheet[2] == ["2026-11-19", "0", "0", "1"]
    assert sheet[3] == ["2026-11-20", "1", "1", "1"]
    assert sheet[5] == ["total", "0.5", "1", "2"]

    # Grouped CSV: one row per group and bucket, then the group's total.
    grouped_csv = client.get(f"/v1/metrics/enforcement_actions?{WINDOW}&group_by=action&format=csv")
    lines = list(csv.reader(io.StringIO(grouped_csv.content.decode("utf-8-sig"))))
    # "group" whatever the split (as docs/metrics.md says); counts as whole numbers.
    assert lines[0] == [
        "bucket",
        "group",
        "label",
        "enforcement_actions",
        "numerator",
        "denominator",
    ]
    assert ["2026-11-19", "suspend", "suspend", "1", "", ""] in lines
    assert ["total", "warn", "warn", "1", "", ""] in lines
    assert (
        "enforcement_actions-2026-11-18-to-2026-11-21-by-day-split-action.csv"
        in (grouped_csv.headers["content-disposition"])
    )


def test_refusals(client: TestClient, db: Session, week: Week) -> None:  # noqa: F811
    login_as(client, db, week.ana)
    before = db.scalar(select(func.count()).select_from(AuditRecord))
    db.commit()  # end the read, so SQLite lets the requests write their session bookkeeping

    def refused(url: str, status: int, code: str, field: str | None) -> None:
        r = client.get(url)
        assert r.status_code == status, r.text
        assert (r.json()["code"], r.json()["field"]) == (code, field), r.json()

    refused("/v1/metrics/nope", 404, "unknown_metric", "metric")
    refused(f"/v1/metrics/cases_opened?{WINDOW}&rule=x", 422, "filter_not_supported", "rule")
    refused(f"/v1/metrics/cases_opened?{WINDOW}&group_by=rule", 422, "group_by_not_supported",
            "group_by")  # fmt: skip
    refused("/v1/metrics/cases_opened?start=2026-11-20&end=2026-11-19", 422, "invalid_window",
            "start")  # fmt: skip
    refused("/v1/metrics/cases_opened?start=2024-01-01&end=2026-11-19", 422, "window_too_long",
            "start")  # fmt: skip
    refused(f"/v1/metrics/cases_opened?{WINDOW}&format=pdf", 422, "invalid_format", "format")
    refused(f"/v1/metrics/handle_time_median?{WINDOW}&reviewer={week.ben.id}", 403,
            "reviewer_metrics_forbidden", "reviewer")  # fmt: skip
    refused(f"/v1/metrics/handle_time_median?{WINDOW}&group_by=reviewer", 403,
            "reviewer_metrics_forbidden", "group_by")  # fmt: skip
    own = client.get(f"/v1/metrics/handle_time_median?{WINDOW}&reviewer={week.ana.id}")
    assert own.status_code == 200
    assert [b["value"] for b in own.json()["buckets"]] == [None, 7200.0, None, None]
    assert db.scalar(select(func.count()).select_from(AuditRecord)) == before
    db.commit()

    # An API key reads aggregates but no reviewer's figures.
    client.cookies.clear()
    _, secret = make_api_key(db, scopes=["metrics:read"])
    db.commit()
    keyed = client.get(f"/v1/metrics/backlog?{WINDOW}", headers=auth_header(secret))
    assert [b["value"] for b in keyed.json()["buckets"]] == [3, 2, 1, 2]
    r = client.get(
        f"/v1/metrics/decisions_per_hour?{WINDOW}&group_by=reviewer", headers=auth_header(secret)
    )
    assert r.status_code == 403
    # QA figures need a scope no key can hold: the refusal says so rather than asking for it.
    qa = client.get(f"/v1/metrics/qa_kappa?{WINDOW}", headers=auth_header(secret))
    assert qa.status_code == 403 and qa.json()["code"] == "metric_forbidden"
    assert "not available to API keys" in qa.json()["message"]
    _, other = make_api_key(db, scopes=["cases:read"])
    db.commit()
    assert client.get("/v1/metrics", headers=auth_header(other)).status_code == 403


def test_default_window_is_the_last_28_days_by_day(
    client: TestClient,
    db: Session,
    week: Week,  # noqa: F811
) -> None:
    login_as(client, db, make_staff(db, role=Role.leadership))
    body = client.get("/v1/metrics/cases_opened").json()
    assert len(body["buckets"]) == 28
    assert body["buckets"][-1]["start"] == "2026-11-21"
    assert body["total"]["value"] == 4
    weekly = client.get("/v1/metrics/cases_opened?interval=week").json()
    assert len(weekly["buckets"]) == 12
    assert weekly["buckets"][-1]["start"] == "2026-11-16"
