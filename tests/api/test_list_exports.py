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
from tests.enforcement.conftest import SUSPEND_7, SYSTEM, decide, principal
from tests.factories import login_as, logout, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.cases import service as cases
from vigil.cases.models import Case
from vigil.config import Settings


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def _decisions(client: TestClient) -> set[int]:
    got = client.get("/v1/decisions/export", params={"format": "csv"})
    return {int(r["Decision"]) for r in _rows(got.content)}


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
    closed_ids = {int(r["Case"]) for r in closed_only}
    assert closed_ids == {int(r["Case"]) for r in every if r["Status"] == "closed"}
    assert {c.a.id, c.b.id, reported.automated.case_id} <= closed_ids
    record = db.scalars(
        select(AuditRecord)
        .where(AuditRecord.action == "cases.case.export")
        .order_by(AuditRecord.id)
    ).all()
    assert [(r.data["rows"], r.data["filters"]) for r in record] == [
        (len(every), {}),
        (len(closed_only), {"status": ["closed"]}),
    ]
    # Each page read is a list view, audited once: no extra view of a case before page 1.
    views = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "cases.case.list").order_by(AuditRecord.id)
    ).all()
    assert [v.data["case_ids"] for v in views] == [
        [int(r["Case"]) for r in every],
        [int(r["Case"]) for r in closed_only],
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
    assert len(re.findall(r"<row ", sheet)) == 4  # header + A, B and C's decisions


def test_decision_export_hides_decisions_on_legal_tier_cases(
    client: TestClient, db: Session, reported: Reported, settings: Settings
) -> None:
    legal = reported.legal
    case = db.get(Case, reported.order.case_id)
    assert case is not None
    cases.assign(db, SYSTEM, case.id, staff_id=legal.id)
    on_order = decide(
        db, principal(legal), case, settings, actions=SUSPEND_7, departure_reason="Court order."
    )
    db.commit()
    login_as(client, db, make_staff(db, role=Role.qa))
    seen = _decisions(client)
    assert reported.automated.id in seen and on_order.id not in seen
    logout(client)
    login_as(client, db, legal)
    assert on_order.id in _decisions(client)


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
    # Year 9999 with a negative offset is past datetime's range in UTC: refused, not a 500,
    # here and on the list itself.
    far = {"created_from": "9999-12-31T23:59:59-23:59"}
    for url in ("/v1/cases/export", "/v1/cases"):
        r = client.get(url, params={"format": "csv", **far} if "export" in url else far)
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            422,
            "invalid_datetime",
            "created_from",
        ), url
    actions = set(db.scalars(select(AuditRecord.action)))
    assert "cases.case.export" not in actions
