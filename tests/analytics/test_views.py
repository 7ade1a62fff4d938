"""The analysts' SQL views exist after the migrations and hold the right rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from tests.analytics.goals.conftest import Closed
from tests.analytics.goals.conftest import closed as closed
from tests.analytics.transparency.conftest import Reported
from tests.analytics.transparency.conftest import reported as reported
from vigil.analytics import views

PERSONAL = {"email", "phone", "display_name", "legal_name", "date_of_birth", "title", "summary"}


def test_every_view_exists_without_personal_columns(db: Session) -> None:
    names = set(inspect(db.get_bind()).get_view_names())
    for view in views.VIEWS:
        assert view.name in names
        columns = {c["name"] for c in inspect(db.get_bind()).get_columns(view.name)}
        assert not columns & PERSONAL, view.name


def test_cases_and_decisions_rows(db: Session, closed: Closed) -> None:
    db.commit()
    rows = db.execute(
        text(
            "SELECT case_id, queue_slug, sla_met, seconds_to_close FROM analytics_cases "
            "ORDER BY case_id"
        )
    ).all()
    by_id = {r.case_id: r for r in rows}
    assert by_id[closed.a.id].sla_met == 0
    assert by_id[closed.b.id].sla_met == 1
    assert by_id[closed.a.id].seconds_to_close == pytest.approx(26 * 3600)
    assert by_id[closed.b.id].queue_slug
    decided = db.execute(
        text(
            "SELECT case_id, action, policy_code, automated, reviewer_id, reversed "
            "FROM analytics_decisions ORDER BY case_id"
        )
    ).all()
    assert [
        (d.case_id, d.action, d.policy_code, d.automated, d.reviewer_id, d.reversed)
        for d in decided
    ] == [
        (closed.a.id, "suspend", "fee_circumvention", 0, closed.agent.id, 0),
        (closed.b.id, "warn", "fee_circumvention", 0, closed.agent.id, 0),
    ]
    # Each documented example query runs on this database.
    for view in views.VIEWS:
        db.execute(text(f"SELECT COUNT(*) FROM {view.name}")).scalar_one()


def test_the_documented_example_queries_run(db: Session, closed: Closed) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "sql-views.md").read_text()
    queries = re.findall(r"```sql\n(.*?)```", doc, re.S)
    assert len(queries) >= 4
    db.commit()
    results = [db.execute(text(q.strip().rstrip(";"))).all() for q in queries]
    by_queue = {r.queue_slug: (r.closed, r.sla_attainment) for r in results[0]}
    assert sum(n for n, _ in by_queue.values()) == 2
    assert [(r.policy_code, r.decisions) for r in results[1]] == [("fee_circumvention", 2)]


def test_reports_and_appeals_rows(db: Session, reported: Reported) -> None:
    db.commit()
    reports = db.execute(
        text(
            "SELECT reason, reporter_country, case_id, case_resolution, seconds_to_case_close "
            "FROM analytics_reports ORDER BY occurred_at"
        )
    ).all()
    c = reported.closed
    assert [(r.reason, r.reporter_country, r.case_id, r.case_resolution) for r in reports] == [
        ("scam", "FR", c.a.id, "actioned"),
        ("off_platform", "FR", c.b.id, "actioned"),
        ("weird_vibes", "DE", None, None),
    ]
    assert reports[0].seconds_to_case_close == pytest.approx(27 * 3600)
    appeals = db.execute(
        text(
            "SELECT decision_id, status, policy_code, original_automated, seconds_to_decision "
            "FROM analytics_appeals"
        )
    ).all()
    assert [(a.decision_id, a.status, a.policy_code, a.original_automated) for a in appeals] == [
        (reported.automated.id, "overturned", "fee_circumvention", 1)
    ]
    assert appeals[0].seconds_to_decision == pytest.approx(3600)
    overturned = db.execute(
        text("SELECT overturned_on_appeal FROM analytics_decisions WHERE decision_id = :d"),
        {"d": reported.automated.id},
    ).scalar_one()
    assert overturned == 1
