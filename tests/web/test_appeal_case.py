"""The appeal view on an appeal case's page, over HTTP: what the hearer reads, what the
recused reviewer sees, and the outcome form (refusals next to their field, nothing written)."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.appeals.conftest import WHY, appealable, counts, hearer, hold, submit
from tests.enforcement.conftest import FACTS
from tests.factories import login_as
from vigil.appeals.models import Appeal, AppealStatus
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.enforcement.models import Decision, DecisionStatus
from vigil.kit import clock
from vigil.kit.clock import FrozenClock

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _arranged(client: TestClient, db: Session, settings: Settings) -> tuple[Appeal, int]:
    a = appealable(db, settings)
    assert submit(client, a).status_code == 201
    appeal = db.scalars(select(Appeal)).one()
    db.commit()
    return appeal, a.agent.id


def _written(db: Session) -> dict[str, int]:
    """Rows per table, without the audit log (viewing a case page is audited)."""
    out = counts(db)
    out.pop("AuditRecord")
    return out


def _stored(db: Session, appeal_id: int) -> Appeal:
    found = db.get(Appeal, appeal_id, populate_existing=True)
    assert found is not None
    db.commit()
    return found


def test_the_hearer_reads_the_appeal_next_to_the_decision_and_its_evidence(
    client: TestClient, db: Session, settings: Settings
) -> None:
    appeal, agent_id = _arranged(client, db, settings)
    specialist = hearer(db, client)
    hold(db, appeal.case_id, specialist)

    page = client.get(f"/cases/{appeal.case_id}")

    assert page.status_code == 200
    text = page.text
    assert f"Appeal A-{appeal.id}" in text and WHY in text
    assert f'href="/cases/{appeal.original_case_id}"' in text
    assert "fee_circumvention</a> v1" in text  # the policy and its version
    assert "Suspend" in text and "7 days" in text
    assert f"SOR-{appeal.statement_id}" in text and FACTS in text
    assert "What the user was told" in text
    assert 'id="appeal-recused"' in text
    assert "days left" in text and 'id="appeal-outcome-form"' in text
    last_day = appeal.window_ends_at - timedelta(days=1)
    assert f"last day {last_day:%d %b %Y} (UTC)" in text
    assert "css/appeals.css" in text and "js/appeals.js" in text
    assert agent_id != specialist.id
    # Without scripts the whole form shows, the button names no outcome yet, and each
    # outcome carries the label the button takes when it is chosen.
    assert 'id="appeal-modify"' in text and 'id="appeal-modify" hidden' not in text
    assert ">Record the outcome</button>" in text
    assert 'data-button-label="Uphold the decision"' in text
    assert 'data-button-label="Overturn: lift the 7-day suspension…"' in text
    assert 'data-button-label="Modify the decision…"' in text


def test_the_recused_reviewer_sees_the_notice_and_no_form(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings, decider_role=Role.specialist)
    assert submit(client, a).status_code == 201
    appeal = db.scalars(select(Appeal)).one()
    db.commit()
    login_as(client, db, a.agent)

    page = client.get(f"/cases/{appeal.case_id}")

    assert page.status_code == 200
    assert 'id="appeal-you-recused"' in page.text
    assert 'id="appeal-outcome-form"' not in page.text


def test_an_outcome_without_a_reason_comes_back_with_the_field_marked(
    client: TestClient, db: Session, settings: Settings
) -> None:
    appeal, _ = _arranged(client, db, settings)
    specialist = hearer(db, client)
    hold(db, appeal.case_id, specialist)
    csrf = TOKEN.search(client.get(f"/cases/{appeal.case_id}").text)
    assert csrf is not None
    before = _written(db)

    refused = client.post(
        f"/cases/{appeal.case_id}/appeal/decide",
        data={"csrf_token": csrf.group(1), "outcome": "overturn", "reason": " "},
    )

    assert refused.status_code == 422
    assert 'id="err-reason"' in refused.text
    assert 'aria-invalid="true" aria-describedby="err-reason"' in refused.text
    assert re.search(r'id="appeal-outcome-overturn"[^>]* checked', refused.text)
    assert ">Overturn: lift the 7-day suspension…</button>" in refused.text
    assert 'id="appeal-confirm"' not in refused.text
    assert _written(db) == before
    assert _stored(db, appeal.id).status == AppealStatus.open


def test_overturning_from_the_console_reverses_the_decision_once_confirmed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    appeal, _ = _arranged(client, db, settings)
    specialist = hearer(db, client)
    hold(db, appeal.case_id, specialist)
    csrf = TOKEN.search(client.get(f"/cases/{appeal.case_id}").text)
    assert csrf is not None
    form = {
        "csrf_token": csrf.group(1),
        "outcome": "overturn",
        "reason": "The client proposed the outside payment; she declined.",
    }
    before = _written(db)

    asked = client.post(f"/cases/{appeal.case_id}/appeal/decide", data=form)

    # The first press checks and restates; nothing is written.
    assert asked.status_code == 200, asked.text
    assert 'id="appeal-confirm"' in asked.text
    assert "Overturning reverses decision" in asked.text
    assert ": <strong>lift the 7-day suspension</strong>." in asked.text
    assert ">Confirm: lift the 7-day suspension</button>" in asked.text
    assert 'name="confirm" value="1"' in asked.text
    assert _written(db) == before
    assert _stored(db, appeal.id).status == AppealStatus.open

    done = client.post(
        f"/cases/{appeal.case_id}/appeal/decide",
        data={**form, "confirm": "1"},
        follow_redirects=False,
    )

    assert done.status_code == 303, done.text
    assert _stored(db, appeal.id).status == AppealStatus.overturned
    decision = db.get(Decision, appeal.decision_id, populate_existing=True)
    assert decision is not None and decision.status == DecisionStatus.reversed
    db.commit()
    shown = client.get(f"/cases/{appeal.case_id}").text
    assert 'id="appeal-outcome"' in shown and "overturned" in shown


def test_modifying_from_the_console_decides_anew_on_the_appeal_case(
    client: TestClient, db: Session, settings: Settings
) -> None:
    appeal, _ = _arranged(client, db, settings)
    specialist = hearer(db, client)
    hold(db, appeal.case_id, specialist)
    csrf = TOKEN.search(client.get(f"/cases/{appeal.case_id}").text)
    assert csrf is not None
    form = {
        "csrf_token": csrf.group(1),
        "outcome": "modify",
        "reason": "A suspension is too much for one request; payouts are restricted instead.",
        "policy": "fee_circumvention",
        "action_type": "restrict",
        "action_scope": "payouts",
        "duration_days": "14",
        "facts": "",
        "departure_reason": "One request, answered at once.",
    }
    before = _written(db)

    refused = client.post(f"/cases/{appeal.case_id}/appeal/decide", data=form)

    assert refused.status_code == 422, refused.text
    assert 'id="err-facts"' in refused.text, re.findall(r'role="alert">(.*?)<', refused.text)
    assert _written(db) == before

    asked = client.post(f"/cases/{appeal.case_id}/appeal/decide", data={**form, "facts": FACTS})

    assert asked.status_code == 200, asked.text
    assert "Confirm the new decision" in asked.text
    assert "with <strong>Restrict · payouts · 14 days</strong> under Fee" in asked.text
    assert _written(db) == before

    done = client.post(
        f"/cases/{appeal.case_id}/appeal/decide",
        data={**form, "facts": FACTS, "confirm": "1"},
        follow_redirects=False,
    )

    assert done.status_code == 303, done.text
    stored = _stored(db, appeal.id)
    assert stored.status == AppealStatus.modified and stored.new_decision_id is not None
    replacement = db.get(Decision, stored.new_decision_id)
    assert replacement is not None and replacement.case_id == appeal.case_id
    assert replacement.action == "restrict"


def test_a_modification_needing_a_second_approver_is_refused_on_the_action(
    client: TestClient, db: Session, settings: Settings
) -> None:
    appeal, _ = _arranged(client, db, settings)
    specialist = hearer(db, client)
    hold(db, appeal.case_id, specialist)
    page = client.get(f"/cases/{appeal.case_id}").text
    assert 'id="appeal-modify-hint"' in page
    csrf = TOKEN.search(page)
    assert csrf is not None
    before = _written(db)

    refused = client.post(
        f"/cases/{appeal.case_id}/appeal/decide",
        data={
            "csrf_token": csrf.group(1),
            "outcome": "modify",
            "reason": "A longer suspension fits the repeated requests better.",
            "policy": "fee_circumvention",
            "action_type": "suspend",
            "action_scope": "account",
            "duration_days": "180",
            "facts": FACTS,
            "departure_reason": "Repeated requests.",
        },
    )

    assert refused.status_code == 409, refused.text
    assert 'id="err-action_type"' in refused.text
    assert "open a new case" in refused.text
    assert _written(db) == before
    assert _stored(db, appeal.id).status == AppealStatus.open
    decision = db.get(Decision, appeal.decision_id, populate_existing=True)
    assert decision is not None and decision.status == DecisionStatus.applied
    db.commit()


def test_upholding_from_the_console_needs_no_confirmation(
    client: TestClient, db: Session, settings: Settings
) -> None:
    appeal, _ = _arranged(client, db, settings)
    specialist = hearer(db, client)
    hold(db, appeal.case_id, specialist)
    csrf = TOKEN.search(client.get(f"/cases/{appeal.case_id}").text)
    assert csrf is not None

    done = client.post(
        f"/cases/{appeal.case_id}/appeal/decide",
        data={
            "csrf_token": csrf.group(1),
            "outcome": "uphold",
            "reason": "The messages show the request for an outside payment.",
        },
        follow_redirects=False,
    )

    assert done.status_code == 303, done.text
    assert _stored(db, appeal.id).status == AppealStatus.upheld
    decision = db.get(Decision, appeal.decision_id, populate_existing=True)
    assert decision is not None and decision.status == DecisionStatus.applied
    db.commit()


def _report(db: Session, against: str, text: str, case_id: int | None = None) -> None:
    """A report against ``against``, filed now (the clock is frozen)."""
    at = clock.now()
    db.add(
        Event(
            event_id=f"report-{text[:20]}",
            payload_sha256="0" * 64,
            type="report_filed",
            account_external_id="u-reporter",
            counterparty_external_id=against,
            occurred_at=at,
            received_at=at,
            source="tests",
            payload={"data": {"text": text, "reason": "off_platform_payment"}},
            case_id=case_id,
        )
    )
    db.commit()


def test_evidence_that_arrived_after_the_decision_is_set_apart(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    frozen.advance(timedelta(hours=-2))
    earlier = "He was rude to me in the chat about the order."
    later = "The same thing happened to me last week with him."
    a = appealable(db, settings, webhooks=False)
    decision = db.get(Decision, a.decision.id)
    assert decision is not None
    _report(db, a.account.external_id, earlier, case_id=decision.case_id)
    # The decision is taken after the first report; the second comes two days later.
    db.execute(
        Decision.__table__.update()
        .where(Decision.id == decision.id)
        .values(created_at=clock.now() + timedelta(hours=1))
    )
    db.commit()
    frozen.advance(timedelta(days=2))
    _report(db, a.account.external_id, later)
    assert submit(client, a).status_code == 201
    appeal = db.scalars(select(Appeal)).one()
    db.commit()
    hold(db, appeal.case_id, hearer(db, client))

    text = client.get(f"/cases/{appeal.case_id}").text

    before_list = text.split('id="appeal-reports-before"', 1)[1].split("</ul>", 1)[0]
    after_list = text.split('id="appeal-reports-after"', 1)[1].split("</ul>", 1)[0]
    assert earlier in before_list and later not in before_list
    assert later in after_list and "after the decision" in after_list
    assert "not seen by the original reviewer" in text
    assert "What the original reviewer had: up to the decision" in text
