"""The incidents console over HTTP, on both databases: an agent documents a trend by hand with
the cases that show it, the incident moves through its lifecycle by buttons, cases are linked
by reference and removed, the summary is edited, notes build the timeline; refused forms
show the problem under their field and change nothing; who may do what."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, logout, make_staff
from tests.web.test_trends_http import field_error
from vigil.analytics.incidents.models import Incident, IncidentCase, IncidentStatus
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseType
from vigil.cases.routing import ensure_default_queues
from vigil.kit.errors import InvalidInput
from vigil.web.incidents import parse_case_refs

SYSTEM = Principal.system("test")


def _cases(db: Session, n: int, *, tier: Tier = Tier.tier1) -> list[int]:
    ensure_default_queues(db, SYSTEM)
    ids = [
        cases.create_case(
            db,
            SYSTEM,
            cases.NewCase(
                type=CaseType.user_report, title=f"Fake five-star reviews ({i})", tier=tier
            ),
        ).case.id
        for i in range(n)
    ]
    db.commit()
    return ids


def _post(client: TestClient, url: str, token: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=False)


def _linked(db: Session, incident_id: int) -> set[int]:
    db.expire_all()
    found = set(
        db.scalars(select(IncidentCase.case_id).where(IncidentCase.incident_id == incident_id))
    )
    db.rollback()
    return found


def _incident(db: Session, incident_id: int) -> Incident:
    db.expire_all()
    row = db.get(Incident, incident_id)
    assert row is not None
    db.expunge(row)
    db.rollback()
    return row


def _count(db: Session) -> int:
    db.expire_all()
    n = int(db.scalar(select(func.count()).select_from(Incident)) or 0)
    db.rollback()
    return n


def _open(client: TestClient, token: str, refs: str, title: str = "Review ring") -> int:
    done = _post(
        client, "/incidents", token, title=title, summary="Same wording on five reviews",
        severity="high", cases=refs,
    )  # fmt: skip
    assert done.status_code == 303, done.text
    found = re.match(r"/incidents/(\d+)\?notice=created", done.headers["location"])
    assert found is not None
    return int(found.group(1))


def test_case_references_are_read_as_staff_write_them() -> None:
    assert parse_case_refs("C-12, c13 #14\n#15;C-12") == [12, 13, 14, 15]
    assert parse_case_refs("", required=False) == []


def test_a_bare_number_is_refused_rather_than_linking_that_case() -> None:
    # "C-160 c163, #177 1": the stray "1" must not link C-1.
    with pytest.raises(InvalidInput) as refused:
        parse_case_refs("C-160 c163, #177 1")
    assert refused.value.code == "invalid_case_ref"
    assert "write C-1 (or #1)" in refused.value.message


def test_an_agent_opens_an_incident_by_hand_with_the_cases_that_show_it(
    client: TestClient, db: Session
) -> None:
    ids = _cases(db, 3)
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz")
    token = login_as(client, db, agent)
    form = client.get("/incidents/new", params={"cases": f"C-{ids[0]}"})
    assert form.status_code == 200
    assert f'value="C-{ids[0]}"' in form.text
    incident_id = _open(client, token, f"C-{ids[0]}, #{ids[1]}")
    page = client.get(f"/incidents/{incident_id}?notice=created")
    assert "Incident opened." in page.text
    assert f"INC-{incident_id} · Review ring" in page.text
    assert 'id="incident-status">open' in page.text
    for case_id in ids[:2]:
        assert f'href="/cases/{case_id}">C-{case_id}</a>' in page.text
    assert _linked(db, incident_id) == set(ids[:2])
    assert "Elena Ruiz</strong> opened the incident" in page.text
    listed = client.get("/incidents")
    assert f'href="/incidents/{incident_id}">INC-{incident_id} · Review ring</a>' in listed.text


def test_a_refused_new_incident_keeps_what_was_typed_and_creates_nothing(
    client: TestClient, db: Session
) -> None:
    ids = _cases(db, 1)
    hidden = _cases(db, 1, tier=Tier.legal)
    agent = make_staff(db, role=Role.agent)
    token = login_as(client, db, agent)
    for data, key, words in (
        ({"title": "", "cases": ""}, "title", "Give the incident a title"),
        (
            {"title": "Ring", "cases": "X-1"},
            "cases",
            "“X-1” is not a case reference: write C-123 (or #123)",
        ),
        ({"title": "Ring", "cases": "C-999999"}, "cases", "There is no case C-999999 you can see"),
        # A legal-tier case is not there for an agent: the same words as a missing one.
        ({"title": "Ring", "cases": f"C-{hidden[0]}"}, "cases",
         f"There is no case C-{hidden[0]} you can see"),
        ({"title": "Ring", "severity": "apocalyptic"}, "severity", "Choose a severity"),
    ):  # fmt: skip
        refused = _post(client, "/incidents", token, **{"severity": "medium", **data})
        assert refused.status_code == 422, (data, refused.status_code)
        assert field_error(refused.text, key) == words
        if data.get("cases"):
            assert f'value="{data["cases"]}"' in refused.text
    assert _count(db) == 0
    assert ids


def test_the_lifecycle_moves_by_buttons_and_refuses_illegal_moves(
    client: TestClient, db: Session
) -> None:
    ids = _cases(db, 1)
    lead = make_staff(db, role=Role.policy_lead, name="Lucía Policy")
    token = login_as(client, db, lead)
    incident_id = _open(client, token, f"C-{ids[0]}")
    page = client.get(f"/incidents/{incident_id}")
    moves = re.findall(r'name="to" value="(\w+)">\s*<button type="submit"[^>]*>([^<]+)<', page.text)
    assert moves == [
        ("investigating", "Start investigating"),
        ("mitigated", "Mark mitigated"),
        ("closed", "Close"),
    ]
    url = f"/incidents/{incident_id}/transition"
    assert _post(client, url, token, to="investigating").status_code == 303
    assert _post(client, url, token, to="mitigated").status_code == 303
    assert _post(client, url, token, to="closed").status_code == 303
    page = client.get(f"/incidents/{incident_id}")
    assert 'id="incident-status">closed' in page.text
    assert "Reopen (back to investigating)" in page.text
    assert "moved it from mitigated to closed" in page.text
    refused = _post(client, url, token, to="mitigated")
    assert refused.status_code == 409
    assert "cannot go from closed to mitigated" in field_error(refused.text, "move")
    refused = _post(client, url, token, to="gone")
    assert refused.status_code == 422
    assert _incident(db, incident_id).status == IncidentStatus.closed


def test_cases_are_linked_by_reference_and_removed(client: TestClient, db: Session) -> None:
    ids = _cases(db, 3)
    agent = make_staff(db, role=Role.agent)
    token = login_as(client, db, agent)
    incident_id = _open(client, token, f"C-{ids[0]}")
    done = _post(client, f"/incidents/{incident_id}/cases", token, cases=f"c{ids[1]} #{ids[2]}")
    assert done.status_code == 303
    assert _linked(db, incident_id) == set(ids)
    refused = _post(client, f"/incidents/{incident_id}/cases", token, cases="C-12abc")
    assert refused.status_code == 422
    assert (
        field_error(refused.text, "link-cases")
        == "“C-12abc” is not a case reference: write C-123 (or #123)"
    )
    assert 'value="C-12abc"' in refused.text
    refused = _post(client, f"/incidents/{incident_id}/cases", token, cases="")
    assert field_error(refused.text, "link-cases") == "Give at least one case reference, like C-123"
    done = _post(client, f"/incidents/{incident_id}/cases/{ids[0]}/remove", token)
    assert done.status_code == 303
    assert _linked(db, incident_id) == set(ids[1:])
    page = client.get(done.headers["location"])
    assert f"removed C-{ids[0]}" in page.text
    gone = _post(client, f"/incidents/{incident_id}/cases/{ids[0]}/remove", token)
    assert gone.status_code == 404


def test_the_summary_owner_and_notes_are_edited_on_the_page(
    client: TestClient, db: Session
) -> None:
    ids = _cases(db, 1)
    lead = make_staff(db, role=Role.policy_lead, name="Lucía Policy")
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz")
    db.commit()
    token = login_as(client, db, lead)
    incident_id = _open(client, token, f"C-{ids[0]}")
    page = client.get(f"/incidents/{incident_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    refused = _post(
        client, f"/incidents/{incident_id}/edit", token, title=" ", summary="x",
        severity="high", owner="", version=version,
    )  # fmt: skip
    assert refused.status_code == 422
    assert field_error(refused.text, "edit-title") == "Give the incident a title"
    done = _post(
        client, f"/incidents/{incident_id}/edit", token, title="Review ring in ES",
        summary="Twelve accounts post the same five-star text.", severity="critical",
        owner=str(agent.id), version=version,
    )  # fmt: skip
    assert done.status_code == 303
    page = client.get(f"/incidents/{incident_id}")
    assert "Twelve accounts post the same five-star text." in page.text
    assert 'id="incident-owner">Elena Ruiz' in page.text
    assert 'id="incident-severity">critical' in page.text
    assert "edited the title, summary, severity, owner" in page.text
    stale = _post(
        client, f"/incidents/{incident_id}/edit", token, title="Old", summary="",
        severity="low", owner="", version=version,
    )  # fmt: skip
    assert stale.status_code == 409
    assert _incident(db, incident_id).title == "Review ring in ES"
    refused = _post(client, f"/incidents/{incident_id}/notes", token, body="  ")
    assert refused.status_code == 422
    assert field_error(refused.text, "note-body") == "Write the note"
    done = _post(client, f"/incidents/{incident_id}/notes", token, body="Asked Payments to check")
    assert done.status_code == 303
    page = client.get(f"/incidents/{incident_id}")
    timeline = page.text.split('id="timeline"')[1]
    assert "Lucía Policy</strong> wrote a note" in timeline
    assert '<div class="note">Asked Payments to check</div>' in timeline
    db.expire_all()
    notes = db.scalar(select(func.count()).where(AuditRecord.action == "analytics.incident.note"))
    db.rollback()
    assert notes == 1


def test_who_may_read_and_who_may_change(client: TestClient, db: Session) -> None:
    ids = _cases(db, 1)
    agent = make_staff(db, role=Role.agent)
    qa = make_staff(db, role=Role.qa)
    token = login_as(client, db, agent)
    incident_id = _open(client, token, f"C-{ids[0]}")
    logout(client)
    token = login_as(client, db, qa)
    page = client.get(f"/incidents/{incident_id}")
    assert page.status_code == 200  # qa reads trends and incidents
    assert 'action="/incidents/' not in page.text.split("</header>")[1]  # no forms at all
    assert client.get("/incidents/new").status_code == 403
    for url, data in (
        ("/incidents", {"title": "x"}),
        (f"/incidents/{incident_id}/transition", {"to": "investigating"}),
        (f"/incidents/{incident_id}/cases", {"cases": f"C-{ids[0]}"}),
        (f"/incidents/{incident_id}/notes", {"body": "hello"}),
        (f"/incidents/{incident_id}/edit", {"title": "x", "severity": "low"}),
    ):
        assert _post(client, url, token, **data).status_code == 403, url
    assert _incident(db, incident_id).status == IncidentStatus.open
    # Without the form's token nothing happens either.
    refused = client.post(
        f"/incidents/{incident_id}/notes", data={"body": "x"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert client.get("/incidents/999999", headers={"Accept": "text/html"}).status_code == 404
    assert client.get("/incidents", params={"status": "lost"}).status_code == 422
