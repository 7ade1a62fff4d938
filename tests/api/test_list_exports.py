"""Case and decision list downloads: the list's rows, its visibility, audited."""

from __future__ import annotations

import csv
import io
import re
import zipfile

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.analytics.transparency.conftest import Reported
from tests.analytics.transparency.conftest import closed as closed
from tests.analytics.transparency.conftest import reported as reported
from tests.factories import login_as, logout, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_case_export_follows_the_filters_and_hides_the_legal_tier(
    client: TestClient,
    db: Session,
    reported: Reported,
) -> None:
    c = reported.closed
    specialist = make_staff(db, role=Role.specialist)
    login_as(client, db, specialist)
    every = _rows(client.get("/v1/cases/export", params={"format": "csv"}).content)
    ids = {int(r["Case"]) for r in every}
    assert {c.a.id, c.b.id} <= ids
    assert reported.order.case_id not in ids  # the order's legal-tier case
    assert "summary" not in {k.lower() for k in every[0]}
    closed_only = _rows(
        client.get("/v1/cases/export", params={"format": "csv", "status": "closed"}).content
    )
    assert {int(r["Case"]) for r in closed_only} == {c.a.id, c.b.id}
    record = db.scalars(
        select(AuditRecord)
        .where(AuditRecord.action == "cases.case.export")
        .order_by(AuditRecord.id)
    ).all()
    assert [(r.data["rows"], r.data["filters"]) for r in record] == [
        (len(every), {}),
        (2, {"status": ["closed"]}),
    ]
    logout(client)
    login_as(client, db, reported.legal)
    legal_rows = _rows(client.get("/v1/cases/export", params={"format": "csv"}).content)
    assert reported.order.case_id in {int(r["Case"]) for r in legal_rows}


def test_decision_export_as_xlsx(client: TestClient, db: Session, reported: Reported) -> None:
    login_as(client, db, make_staff(db, role=Role.qa))
    r = client.get("/v1/decisions/export", params={"format": "xlsx"})
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        shared = (
            book.read("xl/sharedStrings.xml").decode()
            if "xl/sharedStrings.xml" in book.namelist()
            else ""
        )
    text = sheet + shared
    assert "suspend" in text and "warn" in text and "fee_circumvention:1" in text
    assert len(re.findall(r"<row ", sheet)) == 3  # header + two decisions


def test_refusals(client: TestClient, db: Session, reported: Reported) -> None:
    login_as(client, db, reported.closed.agent)  # agents may not download lists
    assert client.get("/v1/cases/export", params={"format": "csv"}).status_code == 403
    logout(client)
    login_as(client, db, make_staff(db, role=Role.specialist))
    bad = client.get("/v1/cases/export", params={"format": "pdf"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_format")
    naive = client.get(
        "/v1/cases/export", params={"format": "csv", "created_from": "2026-11-01T00:00:00"}
    )
    assert (naive.status_code, naive.json()["code"]) == (422, "naive_datetime")
    actions = set(db.scalars(select(AuditRecord.action)))
    assert "cases.case.export" not in actions
