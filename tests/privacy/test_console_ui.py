"""The privacy console as legal uses it: an erasure under a legal hold never reads as a plain
"completed", carrying out needs an explicit "I understand", the result is in plain words,
hold errors show at the form, a walk-in request is filed from /privacy, account holds name
the marketplace's id, and the header links to /privacy for those who may use it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, login_as, make_staff
from tests.privacy.conftest import Person
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.privacy import service

MARKET = Principal.system("market")


def _scalar(db: Session, sql: str, **params: Any) -> Any:
    db.rollback()
    found = db.execute(text(sql), params).scalar()
    db.rollback()
    return found


def _legal_with_request(
    db: Session, client: TestClient, person: Person, *, hold: str | None = None
) -> tuple[str, int, int | None]:
    """Log legal in; file a request for ``person`` (after a hold on the account or on a case,
    if asked). Returns the CSRF token, the request id and the hold id."""
    legal = make_staff(db, role=Role.legal)
    db.flush()
    hold_id = None
    if hold is not None:
        placed = service.place_hold(
            db,
            Principal.staff(legal.id, legal.name, Role.legal),
            account_external_id=person.external_id if hold == "account" else None,
            case_id=person.case_id if hold == "case" else None,
            reason="police request 77",
        )
        hold_id = placed.id
    request, _ = service.receive_erasure_request(db, MARKET, account_external_id=person.external_id)
    db.commit()
    csrf = login_as(client, db, legal)
    return csrf, request.id, hold_id


def _carry_out(client: TestClient, csrf: str, request_id: int, **extra: str) -> Any:
    return client.post(
        f"/privacy/erasure-requests/{request_id}/complete",
        data={"csrf_token": csrf, **extra},
        follow_redirects=False,
    )


def _status(db: Session, request_id: int) -> str:
    return str(_scalar(db, "SELECT status FROM erasure_requests WHERE id = :i", i=request_id))


def test_an_erasure_blocked_by_an_account_hold_is_warned_and_never_reads_as_done(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    csrf, request_id, hold_id = _legal_with_request(db, client, person, hold="account")
    before = client.get(f"/privacy/erasure-requests/{request_id}")
    assert before.status_code == 200
    warning = re.search(
        r'<div class="notice bad" role="alert" id="hold-warning">(.*?)</div>', before.text, re.S
    )
    assert warning and "erases nothing" in warning.group(1)
    assert f"Hold #{hold_id}" in warning.group(1) and "police request 77" in warning.group(1)
    assert "Carry out what the hold allows" in before.text
    assert 'name="confirm" value="yes" required' in before.text
    # On the list, before: the open request is marked as held.
    assert "account under legal hold" in client.get("/privacy").text

    # Without the tick: nothing happens, and the page says why.
    r = _carry_out(client, csrf, request_id)
    assert r.status_code == 303 and "error=confirm_required" in r.headers["location"]
    assert _status(db, request_id) == "received"
    assert "I understand this cannot be undone" in client.get(r.headers["location"]).text

    r = _carry_out(client, csrf, request_id, confirm="yes")
    assert r.status_code == 303 and "done=completed" in r.headers["location"]
    assert _status(db, request_id) == "completed"
    after = client.get(r.headers["location"])
    assert "Erasure carried out" not in after.text
    assert "Nothing was erased" in after.text and f"legal hold #{hold_id}" in after.text
    assert "Do not tell the person their data was erased" in after.text
    assert "file a new request" in after.text
    assert 'class="chip bad">nothing erased: legal hold<' in after.text
    assert 'tr class="held"' in after.text
    assert re.search(r'id="request-completed">[^<]*\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC', after.text)
    listed = client.get("/privacy").text
    row = re.search(rf'<tr id="request-{request_id}">(.*?)</tr>', listed, re.S)
    assert row and "nothing erased: legal hold" in row.group(1)
    assert ">completed<" not in row.group(1)


def test_a_case_hold_makes_the_erasure_partial_and_says_so(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    csrf, request_id, hold_id = _legal_with_request(db, client, person, hold="case")
    before = client.get(f"/privacy/erasure-requests/{request_id}").text
    assert 'class="notice warning" role="alert" id="hold-warning"' in before
    assert "erases only part of the data" in before
    assert f'<a href="/cases/{person.case_id}">case {person.case_id}</a>' in before
    r = _carry_out(client, csrf, request_id, confirm="yes")
    after = client.get(r.headers["location"]).text
    assert "Only part of the data was erased" in after and f"legal hold #{hold_id}" in after
    assert "Erasure carried out" not in after
    listed = client.get("/privacy?status=completed").text
    assert "erased in part: legal hold" in listed


def test_the_result_is_in_plain_words_with_the_time_and_meaningful_counts(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    csrf, request_id, _ = _legal_with_request(db, client, person)
    page = client.get(f"/privacy/erasure-requests/{request_id}").text
    assert "hold-warning" not in page and ">Carry out<" in page
    r = _carry_out(client, csrf, request_id, confirm="yes")
    after = client.get(r.headers["location"]).text
    assert "Erasure carried out" in after
    assert 'class="chip ok">completed<' in after
    result = after.split('id="erased-title"', 1)[1]
    # No engineer's names: no snake_case data classes, no settings.
    assert "VIGIL_" not in result
    for internal in (
        "statements_of_reasons",
        "identity_fields",
        "identity_images",
        "velocity_state",
        "audit_log",
        "identity_verification_outcomes",
    ):
        assert internal not in result, internal
    assert "Statements of reasons" in result
    assert "Photos of identity documents and selfies" in result
    assert "2 images" in result and "3 identifiers" in result
    # The audit log and the fraud counters are not counts: no "1" next to them.
    audit = re.search(r"<td>Vigil&#39;s audit log of staff actions</td><td[^>]*>([^<]*)<", result)
    assert audit and audit.group(1) == "—"
    assert re.search(r'id="request-completed">[^<]*UTC', after)


def test_hold_errors_show_at_the_form_that_caused_them(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    legal = make_staff(db, role=Role.legal)
    db.commit()
    csrf = login_as(client, db, legal)
    case_page = f"/cases/{person.case_id}"
    r = client.post(
        "/privacy/holds",
        data={"csrf_token": csrf, "case_id": person.case_id, "reason": "   ", "back": case_page},
        follow_redirects=False,
    )
    location = r.headers["location"]
    assert r.status_code == 303 and location.startswith(case_page + "?")
    assert _scalar(db, "SELECT count(*) FROM legal_holds") == 0
    # htmx names the page it loads the panel into.
    panel = client.get(
        f"/privacy/holds-panel?case_id={person.case_id}",
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{location}"},
    ).text
    form = panel.split('id="place-hold"', 1)[1]
    assert 'role="alert" id="hold-error">Write a reason.<' in form
    assert 'aria-describedby="hold-error"' in form
    # Placed, then a lift with no reason: the error sits by that hold's Lift form.
    r = client.post(
        "/privacy/holds",
        data={"csrf_token": csrf, "case_id": person.case_id, "reason": "claim", "back": case_page},
        follow_redirects=False,
    )
    hold_id = _scalar(db, "SELECT id FROM legal_holds")
    panel = client.get(
        f"/privacy/holds-panel?case_id={person.case_id}",
        headers={"HX-Current-URL": f"http://testserver{r.headers['location']}"},
    ).text
    assert "Legal hold placed." in panel
    r = client.post(
        f"/privacy/holds/{hold_id}/lift",
        data={"csrf_token": csrf, "reason": "", "back": case_page},
        follow_redirects=False,
    )
    assert f"hold_id={hold_id}" in r.headers["location"]
    query = r.headers["location"].split("?", 1)[1]
    panel = client.get(f"/privacy/holds-panel?case_id={person.case_id}&{query}").text
    hold_item = panel.split(f'id="hold-{hold_id}"', 1)[1].split("</li>", 1)[0]
    assert f'id="lift-error-{hold_id}">Write a reason.<' in hold_item
    assert 'id="hold-error"' not in panel
    assert _scalar(db, "SELECT lift_reason FROM legal_holds") is None
    # A made-up message in a link is never echoed.
    panel = client.get(
        f"/privacy/holds-panel?case_id={person.case_id}&hold_error=Call+0800+to+unlock"
    ).text
    assert "Call 0800" not in panel and "That could not be done." in panel


def test_legal_files_a_walk_in_erasure_request_from_privacy(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    legal = make_staff(db, role=Role.legal)
    db.commit()
    csrf = login_as(client, db, legal)
    home = client.get("/privacy").text
    assert 'action="/privacy/erasure-requests"' in home and 'id="file-account"' in home

    def file(**data: str) -> Any:
        return client.post(
            "/privacy/erasure-requests", data={"csrf_token": csrf, **data}, follow_redirects=False
        )

    r = file(account="  ")
    assert r.status_code == 303 and "error=account_required" in r.headers["location"]
    r = file(account="no-such-account", reference="T-1")
    assert "error=account_not_found" in r.headers["location"]
    shown = client.get(r.headers["location"]).text
    assert "There is no account with that id." in shown and 'value="no-such-account"' in shown
    assert _scalar(db, "SELECT count(*) FROM erasure_requests") == 0

    r = file(account=person.external_id, reference="DPO-2026-11", note="email to the DPO, 21 Nov")
    assert r.status_code == 303
    request_id = _scalar(db, "SELECT id FROM erasure_requests")
    assert r.headers["location"] == f"/privacy/erasure-requests/{request_id}?done=received"
    assert _scalar(db, "SELECT reference FROM erasure_requests") == "DPO-2026-11"
    assert _scalar(db, "SELECT note FROM erasure_requests") == "email to the DPO, 21 Nov"
    assert _scalar(db, "SELECT status FROM erasure_requests") == "received"
    assert (
        _scalar(
            db,
            "SELECT count(*) FROM audit_records WHERE action = 'privacy.erasure_request.receive'",
        )
        == 1
    )
    page = client.get(r.headers["location"]).text
    assert "Erasure request filed." in page and "DPO-2026-11" in page
    # A second one for the same account opens the request already waiting.
    r = file(account=person.external_id)
    assert r.headers["location"] == f"/privacy/erasure-requests/{request_id}?done=already_open"
    assert _scalar(db, "SELECT count(*) FROM erasure_requests") == 1
    # Without the CSRF token, or without privacy:requests: refused, nothing written.
    client.headers.pop("X-CSRF-Token", None)
    other: Person = person_factory()
    db.commit()
    r = client.post("/privacy/erasure-requests", data={"account": other.external_id})
    assert r.status_code == 403
    agent = make_staff(db, role=Role.agent)
    db.commit()
    agent_csrf = login_as(client, db, agent)
    r = client.post(
        "/privacy/erasure-requests",
        data={"csrf_token": agent_csrf, "account": other.external_id},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert _scalar(db, "SELECT count(*) FROM erasure_requests") == 1


def test_account_holds_name_the_marketplace_id_and_the_nav_links_privacy(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    legal = make_staff(db, role=Role.legal)
    db.commit()
    csrf = login_as(client, db, legal)
    client.post(
        "/privacy/holds",
        data={"csrf_token": csrf, "account": person.external_id, "reason": "tax authority"},
    )
    home = client.get("/privacy").text
    holds = home.split('id="holds-in-force"', 1)[1]
    assert (
        f'account <a href="/identity/accounts/{person.external_id}">{person.external_id}</a>'
        in holds
    )
    assert f"account {person.account_id} " not in holds
    assert '<a href="/privacy">Privacy</a>' in home
    agent = make_staff(db, role=Role.agent)
    db.commit()
    login_as(client, db, agent)
    assert 'href="/privacy"' not in client.get("/").text


@pytest.mark.browser
def test_hold_panel_fits_the_account_page_and_carry_out_needs_the_tick(
    page: Any, db: Session, person_factory: Any
) -> None:
    from playwright.sync_api import expect

    person: Person = person_factory()
    legal = make_staff(db, role=Role.legal)
    request, _ = service.receive_erasure_request(db, MARKET, account_external_id=person.external_id)
    db.commit()
    page.goto("/login")
    page.get_by_label("Email").fill(legal.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Privacy")).to_be_visible()

    # The account page: with the holds panel shown nothing scrolls sideways, the
    # verifications table keeps its width and the panel stays inside the page.
    page.goto(f"/identity/accounts/{person.external_id}")
    panel = page.locator("#legal-holds")
    expect(panel).to_be_visible()
    page.get_by_label("Place a hold on this account: reason").fill("court order 5")
    page.get_by_role("button", name="Place hold").click()
    expect(page.locator("#legal-holds")).to_contain_text("court order 5")
    expect(page.locator("#legal-holds")).to_contain_text("Legal hold placed.")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    table = page.locator("#idv-account-verifications").locator("xpath=..")
    assert table.bounding_box()["width"] > 600
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 1280

    # The request page warns of the hold; Carry out does nothing until the box is ticked.
    page.goto(f"/privacy/erasure-requests/{request.id}")
    expect(page.locator("#hold-warning")).to_contain_text("erases nothing")
    button = page.get_by_role("button", name="Carry out what the hold allows")
    button.click()
    expect(page.locator("#request-status")).to_contain_text("received")
    assert _status(db, request.id) == "received"
    page.get_by_label("I understand this cannot be undone").check()
    button.click()
    expect(page.locator("#request-outcome")).to_contain_text("Nothing was erased")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert _status(db, request.id) == "completed"
    assert page.problems == []
    assert page.outside_requests == []
