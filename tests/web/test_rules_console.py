"""The rules pages as a policy lead works them over HTTP: the live expression check names the
spot, a backtest shows sample events the rule hit, and every state move carries a reason."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tests.detection.rules.conftest import catalog, rule_body
from tests.detection.rules.test_backtest import stored_event
from tests.factories import login_as, make_staff
from tests.policies.helpers import SYSTEM
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.detection.models import Event
from vigil.detection.rules import engine, service
from vigil.detection.rules.models import Backtest, Rule, RuleState
from vigil.kit import clock

pytestmark = pytest.mark.usefixtures("catalog", "frozen")
RULE = "new_account_mass_messaging"
__all__ = ["catalog"]  # the rules tests' fixture: default queues and the policy pack


@pytest.fixture(autouse=True)
def _fresh_engines() -> None:
    engine.clear_cache()  # compiled engines are cached per database; start each test clean


@pytest.fixture
def lead(client: TestClient, db: Session) -> tuple[TestClient, str]:
    csrf = login_as(client, db, make_staff(db, role=Role.policy_lead, name="Pat Lead"))
    client.headers.pop("X-CSRF-Token", None)  # forms carry the token themselves
    client.headers["accept"] = "text/html"
    return client, csrf


def _state(db: Session) -> RuleState:
    """The rule's state as stored; ends the read (on SQLite an open transaction would hold
    the lock the app under test needs)."""
    db.expire_all()
    state = db.scalar(select(Rule.state).where(Rule.name == RULE))
    db.rollback()
    assert state is not None
    return RuleState(state)


def _draft(db: Session) -> None:
    service.create_rule(
        db, SYSTEM, rule_body(expression="features.messages_1h > 20"), state="draft"
    )
    db.commit()


def test_the_edit_form_checks_the_expression_as_it_is_typed(
    lead: tuple[TestClient, str], db: Session
) -> None:
    client, csrf = lead
    _draft(db)
    form = client.get(f"/rules/{RULE}/edit")
    assert form.status_code == 200
    textarea = re.search(r'<textarea id="rule-expression"[^>]*>', form.text)
    assert textarea is not None
    # htmx posts the form as it is typed, debounced, and the answer is tied to the field.
    assert 'hx-post="/rules/check"' in textarea.group(0)
    assert "delay:400ms" in textarea.group(0)
    assert 'aria-describedby="expression-check"' in textarea.group(0)
    assert '<div id="expression-check" aria-live="polite"></div>' in form.text

    check = client.post(
        "/rules/check",
        data={"csrf_token": csrf, "expression": "features.messages_1h > 20 &&\n  features.nope"},
        headers={"HX-Request": "true"},
    )
    assert check.status_code == 200
    assert "line 2, column 11: no feature &#39;nope&#39;" in check.text
    assert "  features.nope\n          ^" in check.text


def test_a_backtest_shows_the_events_the_rule_hit(
    lead: tuple[TestClient, str], db: Session
) -> None:
    client, csrf = lead
    _draft(db)
    now = clock.now()
    hits = [stored_event(db, None, now - timedelta(hours=h), {"messages_1h": 30}) for h in (1, 2)]
    quiet = stored_event(db, None, now - timedelta(hours=3), {"messages_1h": 3})
    db.commit()
    started = client.post(
        "/rules/backtests",
        data={
            "csrf_token": csrf,
            "since": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "until": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
            "target": f"{RULE}@1",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    run_url = started.headers["location"]
    results = client.get(run_url)
    assert "3 events replayed" in results.text
    assert f'hx-get="{run_url}/samples"' in results.text

    samples = client.get(run_url + "/samples")
    assert samples.status_code == 200
    shown = re.findall(r'<td class="num"><code>(\d+)</code></td>', samples.text)
    assert shown == [str(hits[0].id), str(hits[1].id)]  # newest first, only the hits
    assert str(quiet.id) not in shown
    assert '<th scope="col" class="num">Event</th>' in samples.text
    assert client.get("/rules/backtests/999999/samples").status_code == 404


def _start(client: TestClient, csrf: str, since: datetime, until: datetime) -> str:
    started = client.post(
        "/rules/backtests",
        data={
            "csrf_token": csrf,
            "since": since.strftime("%Y-%m-%dT%H:%M"),
            "until": until.strftime("%Y-%m-%dT%H:%M"),
            "target": f"{RULE}@1",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


def _quiet_events(db: Session, count: int, newest: datetime) -> None:
    """``count`` message events the rule does not hit, one a second back from ``newest``."""
    rows = []
    for n in range(count):
        at = newest - timedelta(seconds=n)
        rows.append(
            {
                "event_id": f"quiet-{n}",
                "payload_sha256": "0" * 64,
                "type": "message_sent",
                "account_external_id": "quiet-acct",
                "occurred_at": at,
                "received_at": at,
                "source": "tests",
                "payload": {"event_id": f"quiet-{n}", "type": "message_sent", "data": {}},
                "features": {"messages_1h": 1},
                "outcome": "allow",
                "score": 0.0,
                "hits": [],
                "errors": [],
            }
        )
    db.execute(insert(Event), rows)


def test_samples_come_from_the_run_even_under_many_newer_events(
    lead: tuple[TestClient, str], db: Session
) -> None:
    """The run keeps the ids of each rule's newest hits: a rule whose hits are older than
    thousands of newer events still shows them, without anything being replayed."""
    client, csrf = lead
    _draft(db)
    now = clock.now()
    hits = [
        stored_event(db, None, now - timedelta(hours=h), {"messages_1h": 30}).id
        for h in (20, 21, 22, 23, 24, 25, 26)
    ]
    db.commit()
    run_url = _start(client, csrf, now - timedelta(days=2), now + timedelta(minutes=1))
    assert "7 events replayed" in client.get(run_url).text
    # Then more than 5,000 newer events of the range the rule does not hit (late arrivals:
    # cheaper than replaying them, and a replay of the newest 5,000 would find no hit).
    _quiet_events(db, 5_001, now - timedelta(hours=1))
    db.commit()

    samples = client.get(run_url + "/samples")
    assert samples.status_code == 200
    shown = re.findall(r'<td class="num"><code>(\d+)</code></td>', samples.text)
    assert shown == [str(i) for i in hits[:5]]  # the five newest hits, newest first

    # A run stored before samples were kept says so instead of guessing.
    run_id = int(run_url.rsplit("/", 1)[1])
    stored = db.get(Backtest, run_id)
    assert stored is not None
    stored.results = [
        {k: v for k, v in r.items() if k != "sample_event_ids"} for r in stored.results
    ]
    db.commit()
    older = client.get(run_url + "/samples")
    assert "stored before sample events were kept" in older.text
    assert "<table" not in older.text


def test_moving_a_rule_needs_a_reason_which_is_audited(
    lead: tuple[TestClient, str], db: Session
) -> None:
    client, csrf = lead
    _draft(db)
    page = client.get(f"/rules/{RULE}")
    assert '<label for="reason-shadow">Reason to move to shadow</label>' in page.text
    assert re.search(r'<input id="reason-shadow" name="reason" type="text" required', page.text)

    refused = client.post(
        f"/rules/{RULE}/state", data={"csrf_token": csrf, "state": "shadow", "reason": "  "}
    )
    assert refused.status_code == 422
    assert "Write why the rule moves to shadow." in refused.text
    assert 'aria-describedby="state-error"' in refused.text
    assert _state(db) == RuleState.draft

    moved = client.post(
        f"/rules/{RULE}/state",
        data={"csrf_token": csrf, "state": "shadow", "reason": "watch it for a week"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert _state(db) == RuleState.shadow
    record = db.scalar(
        select(AuditRecord)
        .where(AuditRecord.action == "rules.rule.state")
        .order_by(AuditRecord.id.desc())
        .limit(1)
    )
    assert record is not None and record.reason == "watch it for a week"
    assert record.actor_type == "staff"
    db.rollback()

    illegal = client.post(
        f"/rules/{RULE}/state", data={"csrf_token": csrf, "state": "bogus", "reason": "x"}
    )
    assert illegal.status_code == 422


def test_agents_cannot_edit_backtest_or_move_rules(client: TestClient, db: Session) -> None:
    _draft(db)
    csrf = login_as(client, db, make_staff(db, role=Role.agent))
    client.headers["accept"] = "text/html"
    assert client.get(f"/rules/{RULE}").status_code == 200
    assert "Reason to move to" not in client.get(f"/rules/{RULE}").text
    for method, path, data in (
        ("get", f"/rules/{RULE}/edit", None),
        ("post", f"/rules/{RULE}/state", {"state": "active", "reason": "x"}),
        ("post", "/rules/backtests", {"target": "active"}),
    ):
        if method == "get":
            response = client.get(path)
        else:
            response = client.post(path, data={"csrf_token": csrf, **(data or {})})
        assert response.status_code == 403, path
        assert "Not allowed" in response.text
    assert _state(db) == RuleState.draft
