"""Home per role over HTTP, on SQLite and PostgreSQL: which sections each role sees and
that their figures are right (escalations and approvals waiting on me, rules in draft and
shadow with their hits, recent backtests), and that the lists stay bounded."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from tests.factories import login_as, logout, make_staff
from tests.web.test_decision_http import decision_case, decision_form
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseType, Queue
from vigil.cases.routing import ensure_default_queues
from vigil.detection.models import Event
from vigil.detection.rules import service as rules
from vigil.detection.rules.models import Backtest, BacktestStatus, RuleState
from vigil.kit import clock
from vigil.policies.pack import load_pack
from vigil.web import home

SYSTEM = Principal.system("test")


def section(html: str, title_id: str) -> str:
    """The HTML of the ``<section aria-labelledby=title_id>`` (empty when absent)."""
    match = re.search(rf'<section[^>]*aria-labelledby="{title_id}".*?</section>', html, re.S)
    return match.group(0) if match else ""


def count_in(html: str, name: str) -> str:
    match = re.search(rf'data-count="{name}">([^<]*)<', html)
    assert match, f"no {name} count on the page"
    return match.group(1)


def _case(db: Session, title: str, **changes: Any) -> int:
    spec = {"type": CaseType.user_report, "title": title, "language": "en", **changes}
    return cases.create_case(db, SYSTEM, cases.NewCase(**spec)).case.id


def _escalated(db: Session, title: str, *, times: int = 1) -> int:
    case_id = _case(db, title)
    for _ in range(times):
        cases.escalate(db, SYSTEM, case_id, reason="Needs a second look.")
    return case_id


def _staff(db: Session, role: Role) -> StaffUser:
    return make_staff(db, role=role, languages=["en", "es"])


# --- agents ---------------------------------------------------------------------------------


def test_an_agent_sees_queues_their_cases_and_escalations_but_no_approvals(
    client: TestClient, db: Session
) -> None:
    ensure_default_queues(db, SYSTEM)
    agent = _staff(db, Role.agent)
    held = _case(db, "Held by the agent")
    cases.assign(db, SYSTEM, held, staff_id=agent.id)
    _case(db, "Waiting in a queue")
    _escalated(db, "Went up to the specialists")
    login_as(client, db, agent)

    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    queues = section(html, "queues-title")
    shown = set(re.findall(r'<a href="/queues/(\d+)">', queues))
    active = {str(q.id) for q in db.scalars(select(Queue)) if q.tier != Tier.legal and q.active}
    assert shown and shown == active
    mine = section(html, "mine-title")
    assert "Held by the agent" in mine and "Waiting in a queue" not in mine
    assert count_in(html, "mine") == "1"
    # Escalations go up the ladder: nothing reaches Tier 1 by escalation.
    escalations = section(html, "escalations-title")
    assert escalations and "No escalation is waiting on you." in escalations
    assert count_in(html, "escalations") == "0"
    assert 'id="approvals-title"' not in html
    assert 'id="rules-title"' not in html
    # The header: search box, keys, next case; no Approvals for an agent.
    assert 'action="/search"' in html and 'aria-keyshortcuts="/"' in html
    assert 'data-key="n"' in html and 'href="/approvals"' not in html
    assert 'href="/policies"' in html  # agents read policies


def test_queue_figures_count_live_cases_per_queue(client: TestClient, db: Session) -> None:
    ensure_default_queues(db, SYSTEM)
    agent = _staff(db, Role.agent)
    first = _case(db, "One")
    _case(db, "Two")
    cases.assign(db, SYSTEM, first, staff_id=agent.id)
    queue_id = cases.get_case(db, SYSTEM, first).queue_id
    name = db.get(Queue, queue_id).name  # type: ignore[union-attr]
    login_as(client, db, agent)

    queues = section(client.get("/").text, "queues-title")
    row = re.search(
        rf'<tr>\s*<td><a href="/queues/{queue_id}">{name}</a></td>.*?</tr>', queues, re.S
    )
    assert row, queues
    numbers = re.findall(r'<td class="num">([^<]*)</td>', row.group(0))
    # open, assigned, on hold, oldest open, breached, SLA
    assert numbers[:3] == ["1", "1", "0"]
    assert numbers[4] == "0"


# --- specialists: escalations and approvals -------------------------------------------------


def test_a_specialist_sees_escalations_waiting_on_them_with_the_right_count(
    client: TestClient, db: Session
) -> None:
    ensure_default_queues(db, SYSTEM)
    specialist = _staff(db, Role.specialist)
    other = _staff(db, Role.specialist)
    _escalated(db, "Escalated and waiting")
    on_hold = _escalated(db, "Escalated then parked")
    cases.hold(
        db, SYSTEM, on_hold, until=clock.now() + timedelta(days=2), reason="Waiting on the user."
    )
    mine = _escalated(db, "Escalated and taken by me")
    cases.assign(db, SYSTEM, mine, staff_id=specialist.id)
    theirs = _escalated(db, "Escalated and taken by a colleague")
    cases.assign(db, SYSTEM, theirs, staff_id=other.id)
    _escalated(db, "Went on to legal", times=2)
    _case(db, "Specialist case never escalated", tier=Tier.specialist)
    _case(db, "Tier 1 case")
    login_as(client, db, specialist)

    html = client.get("/").text
    escalations = section(html, "escalations-title")
    for title in ("Escalated and waiting", "Escalated then parked", "Escalated and taken by me"):
        assert title in escalations
    for title in ("taken by a colleague", "Went on to legal", "never escalated", "Tier 1 case"):
        assert title not in escalations
    assert count_in(html, "escalations") == "3"
    # The held one is still mine under "My cases" as well.
    assert "Escalated and taken by me" in section(html, "mine-title")


def test_legal_escalations_reach_legal_only(client: TestClient, db: Session) -> None:
    ensure_default_queues(db, SYSTEM)
    lawyer = _staff(db, Role.legal)
    specialist = _staff(db, Role.specialist)
    _escalated(db, "Brand complaint for legal", times=2)
    login_as(client, db, lawyer)
    html = client.get("/").text
    assert "Brand complaint for legal" in section(html, "escalations-title")
    assert count_in(html, "escalations") == "1"
    logout(client)
    login_as(client, db, specialist)
    html = client.get("/").text
    assert "Brand complaint for legal" not in html
    assert count_in(html, "escalations") == "0"


def test_approvals_waiting_on_me_leave_out_my_own_decisions(
    client: TestClient, db: Session
) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, action_type="ban", duration_days=""),
        follow_redirects=False,
    )
    assert response.status_code == 303
    logout(client)
    specialist = _staff(db, Role.specialist)
    login_as(client, db, specialist)

    html = client.get("/").text
    approvals = section(html, "approvals-title")
    assert count_in(html, "approvals") == "1"
    assert f'href="/cases/{case_id}"' in approvals
    assert "ban" in approvals and "fee_circumvention" in approvals
    assert agent.name in approvals or "Elena Ruiz" in approvals

    # The agent who decided sees no approvals section at all (not an approver).
    logout(client)
    login_as(client, db, agent)
    assert 'id="approvals-title"' not in client.get("/").text


def test_an_approver_does_not_see_their_own_decision_as_waiting(
    client: TestClient, db: Session
) -> None:
    specialist = make_staff(db, role=Role.specialist, name="Sam Specialist", languages=["es"])
    db.commit()
    _, _, case_id = decision_case(db, holder=specialist)
    csrf = login_as(client, db, specialist)
    client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, action_type="ban", duration_days=""),
        follow_redirects=False,
    )
    html = client.get("/").text
    assert count_in(html, "approvals") == "0"
    assert "No decision is waiting for your approval." in section(html, "approvals-title")


def test_lists_are_capped_and_counts_say_so(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(home, "LIST_LIMIT", 2)
    monkeypatch.setattr(home, "COUNT_CAP", 3)
    ensure_default_queues(db, SYSTEM)
    specialist = _staff(db, Role.specialist)
    for i in range(4):
        _escalated(db, f"Escalation {i}")
    login_as(client, db, specialist)
    html = client.get("/").text
    escalations = section(html, "escalations-title")
    assert count_in(html, "escalations") == "3+"
    assert len(re.findall(r'<a href="/cases/\d+">#', escalations)) == 2
    assert "Showing the 2 most urgent of 3+" in escalations


# --- policy leads ---------------------------------------------------------------------------


def _rule(db: Session, name: str, state: RuleState) -> None:
    rules.create_rule(
        db,
        SYSTEM,
        {
            "name": name,
            "description": "A new account sent many messages within an hour.",
            "expression": "account.age_days < 2 && features.messages_1h > 20",
            "score": 60,
            "outcome": "review",
            "policy_code": "spam",
            "queue": "detection",
            "tags": ["spam"],
            "event_types": ["message_sent"],
        },
        state=state,
    )


def _event(db: Session, n: int, hits: list[str], *, age: timedelta = timedelta(hours=1)) -> None:
    db.add(
        Event(
            event_id=f"evt-{n}",
            payload_sha256="0" * 64,
            type="message_sent",
            account_external_id="u-1",
            occurred_at=clock.now() - age,
            hits=[{"name": h, "rule_version": 1, "shadow": True, "reason": "x"} for h in hits],
        )
    )


def test_a_policy_lead_sees_rules_in_draft_and_shadow_with_hits_and_backtests(
    client: TestClient, db: Session
) -> None:
    ensure_default_queues(db, SYSTEM)
    load_pack(db, SYSTEM)
    _rule(db, "shadow_mass_messaging", RuleState.shadow)
    _rule(db, "draft_new_idea", RuleState.draft)
    _rule(db, "active_one", RuleState.active)
    _event(db, 1, ["shadow_mass_messaging", "active_one"])
    _event(db, 2, ["shadow_mass_messaging"])
    _event(db, 3, ["active_one"])
    _event(db, 4, ["shadow_mass_messaging"], age=timedelta(days=9))  # outside the week
    now = clock.now()
    db.add(
        Backtest(
            status=BacktestStatus.done,
            target={"kind": "rule", "name": "draft_new_idea", "version": 1},
            since_at=now - timedelta(days=30),
            until_at=now,
            requested_by_label="Pat Policy",
            events_scanned=120,
            results=[{"name": "draft_new_idea", "hits": 17}],
        )
    )
    lead = _staff(db, Role.policy_lead)
    login_as(client, db, lead)

    html = client.get("/").text
    listed = section(html, "rules-title")
    shadow = re.search(r"<tr>.*?shadow_mass_messaging.*?</tr>", listed, re.S)
    assert shadow and re.findall(r'<td class="num">(\d+)', shadow.group(0)) == ["2"]
    draft = re.search(r"<tr>.*?draft_new_idea.*?</tr>", listed, re.S)
    assert draft and ">17</a>" in draft.group(0)
    assert "active_one" not in listed
    runs = section(html, "backtests-title")
    assert "draft_new_idea v1" in runs and ">120<" in runs and ">17<" in runs
    assert 'href="/policies"' in listed
    # A policy lead works no cases: no "my cases", no escalations, no approvals, no n.
    for absent in ('id="mine-title"', 'id="escalations-title"', 'id="approvals-title"'):
        assert absent not in html
    assert 'data-key="n"' not in html
    assert 'id="queues-title"' in html  # they manage queues


def test_an_agent_does_not_get_the_rules_overview(client: TestClient, db: Session) -> None:
    ensure_default_queues(db, SYSTEM)
    load_pack(db, SYSTEM)
    _rule(db, "shadow_rule", RuleState.shadow)
    agent = _staff(db, Role.agent)
    login_as(client, db, agent)
    assert 'id="rules-title"' not in client.get("/").text


# --- admins ---------------------------------------------------------------------------------


def test_an_admin_sees_every_section(client: TestClient, db: Session) -> None:
    ensure_default_queues(db, SYSTEM)
    load_pack(db, SYSTEM)
    admin = _staff(db, Role.admin)
    _escalated(db, "Escalated somewhere")
    _escalated(db, "Escalated to legal", times=2)
    login_as(client, db, admin)
    html = client.get("/").text
    for title in ("queues-title", "escalations-title", "approvals-title", "mine-title"):
        assert section(html, title), title
    assert 'id="rules-title"' in html
    assert count_in(html, "escalations") == "2"


def test_my_cases_on_home_are_capped_and_counted(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Home lists the newest LIST_LIMIT cases I hold and counts them up to COUNT_CAP; a
    colleague's are not mine."""
    monkeypatch.setattr(home, "LIST_LIMIT", 2)
    monkeypatch.setattr(home, "COUNT_CAP", 4)
    ensure_default_queues(db, SYSTEM)
    agent = _staff(db, Role.agent)
    other = _staff(db, Role.agent)
    held = []
    for i in range(3):
        held.append(_case(db, f"Held {i}"))
        cases.assign(db, SYSTEM, held[-1], staff_id=agent.id)
    theirs = _case(db, "Held by a colleague")
    cases.assign(db, SYSTEM, theirs, staff_id=other.id)
    login_as(client, db, agent)

    html = client.get("/").text
    mine = section(html, "mine-title")
    assert count_in(html, "mine") == "3"
    listed = re.findall(r'<a href="/cases/(\d+)">#', mine)
    assert listed == [str(held[2]), str(held[1])]  # the newest two
    assert "Showing the 2 newest of 3." in mine
    assert "Held by a colleague" not in mine

    more = _case(db, "Held 3")
    cases.assign(db, SYSTEM, more, staff_id=agent.id)
    db.commit()
    html = client.get("/").text
    assert count_in(html, "mine") == "4+"
    assert "Showing the 2 newest of 4+." in section(html, "mine-title")


def test_the_header_badge_counts_approvals_without_reading_them(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Approvals badge is on every page: one capped count, no decision rows and no
    policies read; it agrees with home's count."""
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, action_type="ban", duration_days=""),
        follow_redirects=False,
    )
    logout(client)
    login_as(client, db, _staff(db, Role.specialist))

    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        badge = client.get("/approvals/count")
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert badge.status_code == 200
    assert ">1<" in badge.text
    on_decisions = [s for s in statements if "from decisions" in s]
    assert len(on_decisions) == 1 and "count(" in on_decisions[0], on_decisions
    assert not [s for s in statements if "decision_policies" in s]
    assert count_in(client.get("/").text, "approvals") == "1"

    monkeypatch.setattr(home, "COUNT_CAP", 1)
    assert ">1+<" in client.get("/approvals/count").text
    assert count_in(client.get("/").text, "approvals") == "1+"
