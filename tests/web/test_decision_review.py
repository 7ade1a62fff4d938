"""The console after a new user's review: a case whose decision waits cannot be closed from
the side, a half-filled decision previews no message, every problem is listed in the form's
words, a rejected decision comes back in the form, reversals say who and when, and lists
show what waits for approval."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import login_as, logout, make_staff
from tests.web.test_decision_http import (
    FACTS,
    HTMX,
    case_of,
    decision_case,
    decision_form,
    decision_of,
    error_for,
    rows,
)
from vigil.auth.permissions import Role
from vigil.cases.models import CaseStatus
from vigil.enforcement.models import Decision, DecisionStatus
from vigil.kit import clock

REASON = "The client showed the bank details; a first offence, so suspend, don't ban."


def _pending_ban(client: TestClient, db: Session) -> tuple[str, int, int]:
    """An agent's ban waiting for a specialist; the agent stays logged in."""
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    sent = client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, action_type="ban", duration_days=""),
        follow_redirects=False,
    )
    assert sent.status_code == 303
    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.pending_approval
    return csrf, case_id, decision.id


def _as_specialist(client: TestClient, db: Session) -> str:
    logout(client)
    return login_as(client, db, make_staff(db, role=Role.specialist, name="Sam Specialist"))


# --- 1. closing while a decision waits --------------------------------------------------------


def test_the_case_page_offers_no_close_while_a_decision_waits(
    client: TestClient, db: Session
) -> None:
    csrf, case_id, _ = _pending_ban(client, db)
    page = client.get(f"/cases/{case_id}").text
    assert f'action="/cases/{case_id}/close"' not in page
    assert "waiting for approval" in page
    # A form posted anyway (an old tab) is refused and says why.
    refused = client.post(
        f"/cases/{case_id}/close",
        data={"csrf_token": csrf, "resolution": "actioned", "note": "Banned."},
    )
    assert refused.status_code == 409
    assert "waiting for a second approver" in refused.text
    assert case_of(db, case_id).status == CaseStatus.assigned


def test_the_lists_show_cases_waiting_for_approval(client: TestClient, db: Session) -> None:
    _, case_id, _ = _pending_ban(client, db)
    chip = '<span class="chip warning">waiting for approval</span>'
    for path in ("/", "/my-cases"):
        html = client.get(path).text
        row = re.search(rf'<tr>\s*<td><a href="/cases/{case_id}">.*?</tr>', html, re.S)
        assert row is not None and chip in row.group(0), path
    case = case_of(db, case_id)
    queue = client.get(f"/queues/{case.queue_id}").text
    assert chip in queue


# --- 2 and 4. a half-filled decision --------------------------------------------------------


def test_a_suspension_without_duration_previews_no_message_and_every_problem(
    client: TestClient, db: Session
) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    preview = client.post(
        f"/cases/{case_id}/decision/preview",
        data=decision_form(csrf, duration_days="", internal_reasoning="", facts="Paid outside."),
        headers=HTMX,
    )
    assert preview.status_code == 200
    html = preview.text
    # No editable message, and never the reporter's "thank you for your report".
    assert 'name="message_body"' not in html
    assert "Thank you for your report" not in html and "Gracias por tu reporte" not in html
    assert 'id="decision-preview-waiting"' in html and "Complete the action first" in html
    # Every problem at once, in the form's words.
    assert "Suspension needs a number of days or an end date" in html
    assert "Internal reasoning is required" in html
    assert "the facts need at least 30 characters" in html
    assert "duration_days or ends_at" not in html
    assert rows(db, Decision) == 0


def test_a_refused_decision_lists_every_problem_in_the_forms_words(
    client: TestClient, db: Session
) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, duration_days="", facts="Too short."),
        headers=HTMX,
    )
    assert response.status_code == 422
    assert "Suspension needs a number of days or an end date" in error_for(
        response.text, "duration_days"
    )
    assert "at least 30 characters" in error_for(response.text, "facts")
    listed = re.search(r'id="decision-errors">(.*?)</div>', response.text, re.S)
    assert listed is not None
    assert "Duration</a>: Suspension needs" in listed.group(1)
    assert "Facts and circumstances</a>: Say what happened" in listed.group(1)
    assert rows(db, Decision) == 0


# --- 3. content dates -------------------------------------------------------------------------


def test_a_content_date_in_the_future_is_refused_next_to_the_date(
    client: TestClient, db: Session
) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    tomorrow = (clock.now() + timedelta(days=1)).date().isoformat()
    response = client.post(
        f"/cases/{case_id}/decision", data=decision_form(csrf, content_date=tomorrow)
    )
    assert response.status_code == 422
    assert "The content date can&#39;t be after today" in error_for(
        response.text, "content_date"
    ) or "The content date can't be after today" in error_for(response.text, "content_date")
    assert rows(db, Decision) == 0


# --- 5. after a rejection -------------------------------------------------------------------


def test_after_a_rejection_the_form_holds_the_rejected_decision(
    client: TestClient, db: Session
) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(
            csrf,
            action_type="ban",
            duration_days="",
            target_ref="listing-77",
            internal_reasoning="Ten clients, same bank details.",
        ),
        follow_redirects=False,
    )
    decision = decision_of(db, case_id)
    assert decision is not None
    specialist_csrf = _as_specialist(client, db)
    client.post(
        f"/approvals/{decision.id}/reject",
        data={"csrf_token": specialist_csrf, "reason": REASON},
        follow_redirects=False,
    )
    logout(client)
    login_as(client, db, agent)
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX).text
    assert f"The form holds rejected decision #{decision.id}" in panel
    assert re.search(r'<option value="fee_circumvention"[^>]*selected', panel)
    assert re.search(r'<option value="ban"[^>]*selected', panel)
    assert 'value="listing-77"' in panel
    assert "Ten clients, same bank details." in panel
    assert FACTS in panel
    assert "Third request this week" in panel  # why it departed from the ladder
    # The rejected decision's action went nowhere, and says so.
    listed = panel.split('id="decision-form"')[0]
    assert "rejected — not sent" in listed
    assert "not sent yet" not in listed and ">pending<" not in listed


def test_an_edited_message_comes_back_after_a_rejection(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(
            csrf,
            action_type="ban",
            duration_days="",
            message_subject="Cerramos tu cuenta",
            message_body="Hola María: cerramos tu cuenta por pagos fuera de la plataforma.",
            message_edited="1",
        ),
        follow_redirects=False,
    )
    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.pending_approval
    specialist_csrf = _as_specialist(client, db)
    client.post(
        f"/approvals/{decision.id}/reject",
        data={"csrf_token": specialist_csrf, "reason": REASON},
        follow_redirects=False,
    )
    logout(client)
    login_as(client, db, agent)
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX).text
    assert "Hola María: cerramos tu cuenta por pagos fuera de la plataforma." in panel
    assert 'value="Cerramos tu cuenta"' in panel and "edited by you" in panel


# --- 7. reversals ---------------------------------------------------------------------------


def test_a_reversed_decision_says_who_reversed_it_and_when(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    client.post(f"/cases/{case_id}/decision", data=decision_form(csrf), follow_redirects=False)
    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.applied
    _as_specialist(client, db)
    r = client.post(f"/v1/decisions/{decision.id}/reverse", json={"reason": "Appeal upheld."})
    assert r.status_code == 200, r.text
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX).text
    assert "reversed" in panel and "by Sam Specialist" in panel
    assert re.search(r"<dt>Reversed</dt><dd>by Sam Specialist · ", panel)
    assert "Appeal upheld." in panel
    table = re.search(r'<table class="decision-actions">(.*?)</table>', panel, re.S)
    assert table is not None
    # The suspension's 7 days are over: no "Until" a week from now, but when it ended.
    assert "ended " in table.group(1) and "(reversed)" in table.group(1)


# --- 9. small ones --------------------------------------------------------------------------


def test_one_strike_is_one_strike(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, action_type="warn", duration_days="", departure_reason=""),
        follow_redirects=False,
    )
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX).text
    assert "(1 strike): followed" in panel and "1 strikes" not in panel


def test_the_facts_hint_says_they_go_out_as_written(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db)
    login_as(client, db, agent)
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX).text
    hint = re.search(r'<p class="hint" id="facts-hint">(.*?)</p>', panel, re.S)
    assert hint is not None
    assert "exactly as you write it" in hint.group(1)
    assert "in the language you write it" in hint.group(1)


def test_a_value_of_the_wrong_shape_does_not_hide_the_other_problems(
    client: TestClient, db: Session
) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, duration_days="seven", facts="Too short."),
        headers=HTMX,
    )
    assert response.status_code == 422
    duration = error_for(response.text, "duration_days")
    assert "whole number of days" in duration and "Suspension needs" not in duration
    assert "at least 30 characters" in error_for(response.text, "facts")
    assert rows(db, Decision) == 0
