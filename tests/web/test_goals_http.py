"""Goals in the console over HTTP: leadership sets, changes and archives a goal and sees it
with its status and trajectory on /goals and on the dashboard; refusals show inline and
change nothing; everyone else reads goals but gets no form."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from vigil.analytics.goals.models import Goal
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases.routing import ensure_default_queues
from vigil.kit.clock import FrozenClock

SYSTEM = Principal.system("test")
SLA_GOAL = {
    "metric": "sla_attainment",
    "comparator": "gte",
    "target": "95",
    "period": "month",
    "recurring": "1",
}


def count(db: Session, model: type) -> int:
    db.expire_all()
    n = int(db.scalar(select(func.count()).select_from(model)) or 0)
    db.rollback()
    return n


def field_error(html: str, key: str) -> str:
    found = re.search(rf'id="err-{key}"[^>]*>(.*?)</div>', html, re.S)
    return found.group(1) if found else ""


def head(client: TestClient, db: Session) -> str:
    ensure_default_queues(db, SYSTEM)
    user = make_staff(db, role=Role.leadership, name="Hana Okoro")
    return login_as(client, db, user)


def test_leadership_sets_a_goal_and_sees_it_with_its_trajectory(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    csrf = head(client, db)
    audits = count(db, AuditRecord)
    sent = client.post(
        "/goals", data={**SLA_GOAL, "notes": "Board commitment", "csrf_token": csrf},
        follow_redirects=False,
    )  # fmt: skip
    assert sent.status_code == 303, sent.text[:2000]
    assert sent.headers["location"] == "/goals?notice=created"
    assert count(db, Goal) == 1
    assert count(db, AuditRecord) > audits
    db.expire_all()
    goal_id, target = db.execute(select(Goal.id, Goal.target)).one()
    db.rollback()
    assert target == 0.95  # typed as a percentage, stored as the share

    page = client.get("/goals?notice=created").text
    assert "Goal set." in page
    assert f'id="goal-{goal_id}"' in page
    assert "95.0%" in page  # the target as people read it
    assert re.search(r'class="chip [a-z]*\s*mx-status" data-status="[a-z_]+"', page)
    assert f'data-chart="goal-{goal_id}-chart-data"' in page
    assert "Board commitment" in page

    dashboard = client.get("/metrics").text
    assert f'id="goal-{goal_id}"' in dashboard
    assert '"target":0.95' in dashboard


def test_a_target_that_cannot_be_read_or_is_out_of_range_is_an_inline_error(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    csrf = head(client, db)
    bad = client.post("/goals", data={**SLA_GOAL, "target": "lots", "csrf_token": csrf})
    assert bad.status_code == 422
    assert "as a number" in field_error(bad.text, "target")
    assert 'value="lots"' in bad.text  # what was typed stays in the form

    too_high = client.post("/goals", data={**SLA_GOAL, "target": "120", "csrf_token": csrf})
    assert too_high.status_code == 422
    assert field_error(too_high.text, "target")

    unknown = client.post("/goals", data={**SLA_GOAL, "metric": "happiness", "csrf_token": csrf})
    assert unknown.status_code == 422
    assert field_error(unknown.text, "metric")
    assert count(db, Goal) == 0


def test_a_time_target_is_typed_and_shown_in_hours_and_minutes(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    csrf = head(client, db)
    goal = {**SLA_GOAL, "metric": "time_to_decision_median", "comparator": "lte"}
    for typed, seconds in (("4h", 14400), ("90m", 5400), ("1h30m", 5400)):
        sent = client.post(
            "/goals", data={**goal, "target": typed, "csrf_token": csrf}, follow_redirects=False
        )
        assert sent.status_code == 303, field_error(sent.text, "target")
        db.expire_all()
        stored = db.scalars(select(Goal.target).order_by(Goal.id.desc())).first()
        db.rollback()
        assert stored == seconds
    page = client.get("/goals").text
    assert "Time to decision (median) &lt;= 4h" in page
    assert "1h 30m" in page
    assert "14400 s" not in page and "5400 s" not in page
    bad = client.post("/goals", data={**goal, "target": "4 hours", "csrf_token": csrf})
    assert bad.status_code == 422
    assert "4h, 90m or 1h30m" in field_error(bad.text, "target")


def test_a_goal_can_be_changed_and_archived(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    csrf = head(client, db)
    client.post("/goals", data={**SLA_GOAL, "csrf_token": csrf})
    db.expire_all()
    goal_id, version = db.execute(select(Goal.id, Goal.version)).one()
    db.rollback()

    form = client.get(f"/goals/{goal_id}/edit").text
    assert 'value="95"' in form and f'action="/goals/{goal_id}"' in form
    changed = client.post(
        f"/goals/{goal_id}",
        data={**SLA_GOAL, "target": "90", "version": str(version), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert changed.status_code == 303, changed.text[:2000]
    assert "90.0%" in client.get("/goals").text

    stale = client.post(
        f"/goals/{goal_id}",
        data={**SLA_GOAL, "target": "80", "version": str(version), "csrf_token": csrf},
    )
    assert stale.status_code == 409
    assert "80.0%" not in client.get("/goals").text

    archived = client.post(
        f"/goals/{goal_id}/archive",
        data={"reason": "Replaced by the quarterly goal", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert archived.status_code == 303
    page = client.get("/goals?notice=archived").text
    assert f'id="goal-{goal_id}"' not in page
    assert "Archived goals (1)" in page
    again = client.post(f"/goals/{goal_id}/archive", data={"csrf_token": csrf})
    assert again.status_code == 409


def test_others_read_goals_but_cannot_set_them(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    csrf = head(client, db)
    client.post("/goals", data={**SLA_GOAL, "csrf_token": csrf})
    frozen.set(datetime(2026, 11, 21, 10, 0, tzinfo=UTC))
    agent = make_staff(db, role=Role.agent)
    csrf = login_as(client, db, agent)
    page = client.get("/goals").text
    assert "mx-status" in page
    assert 'id="goal-form"' not in page and "Archive goal" not in page
    refused = client.post("/goals", data={**SLA_GOAL, "target": "99", "csrf_token": csrf})
    assert refused.status_code == 403
    assert count(db, Goal) == 1
    assert client.get("/goals/1/edit").status_code == 403
