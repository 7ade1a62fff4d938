"""The work loop over HTTP, on SQLite and PostgreSQL: after a decision (applied or waiting
for approval), an escalation or a close, the reviewer's next case is taken for them and
opens, with the notice of what was done; with nothing left, home says so. An identity
review opens on its review screen."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from tests.web.test_decision_http import HTMX, case_of, decision_case, decision_form
from tests.web.test_identity_http import seed_review
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseStatus, CaseType, Severity
from vigil.config import Settings

SYSTEM = Principal.system("test")


def _waiting_case(db: Session, title: str, *, priority: int = 3) -> int:
    """An open Spanish user report in the Tier 1 queues; committed."""
    case_id = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.user_report,
            title=title,
            language="es",
            severity=Severity.medium,
            priority=priority,
        ),
    ).case.id
    db.commit()
    return case_id


def test_after_a_decision_the_next_case_opens_taken_for_the_reviewer(
    client: TestClient, db: Session
) -> None:
    agent, _, decided = decision_case(db)
    agent_id = agent.id
    later = _waiting_case(db, "Less urgent", priority=4)
    sooner = _waiting_case(db, "More urgent", priority=1)
    csrf = login_as(client, db, agent)

    response = client.post(
        f"/cases/{decided}/decision", data=decision_form(csrf), follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{sooner}?notice=decided&loop=next"
    assert case_of(db, decided).status == CaseStatus.closed
    taken = case_of(db, sooner)
    assert taken.status == CaseStatus.assigned and taken.assignee_id == agent_id
    assert case_of(db, later).status == CaseStatus.open

    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "Decision recorded and applied; the case is closed. This is your next case." in page.text
    assert "More urgent" in page.text


def test_with_nothing_left_a_decision_goes_home_and_says_so(
    client: TestClient, db: Session
) -> None:
    agent, _, decided = decision_case(db)
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{decided}/decision", data=decision_form(csrf), follow_redirects=False
    )
    assert response.headers["location"] == "/?notice=decided&loop=done"
    home = client.get(response.headers["location"])
    assert "the case is closed. Nothing else is waiting in your queues." in home.text


def test_an_htmx_decision_sends_the_browser_to_the_next_case(
    client: TestClient, db: Session
) -> None:
    agent, _, decided = decision_case(db)
    waiting = _waiting_case(db, "Next in line")
    csrf = login_as(client, db, agent)
    response = client.post(f"/cases/{decided}/decision", data=decision_form(csrf), headers=HTMX)
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == f"/cases/{waiting}?notice=decided&loop=next"


def test_a_decision_waiting_for_approval_also_moves_on(client: TestClient, db: Session) -> None:
    agent, _, decided = decision_case(db)
    agent_id = agent.id  # read now: a read later would hold SQLite's lock
    waiting = _waiting_case(db, "Next in line")
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{decided}/decision",
        data=decision_form(csrf, action_type="ban", duration_days=""),
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/cases/{waiting}?notice=decision_pending&loop=next"
    # The decided case stays with its reviewer until the approver answers.
    pending = case_of(db, decided)
    assert pending.status == CaseStatus.assigned and pending.assignee_id == agent_id
    page = client.get(response.headers["location"])
    assert "waits for a specialist&#39;s approval. This is your next case." in page.text


def test_a_refused_decision_stays_on_the_case_and_takes_nothing(
    client: TestClient, db: Session
) -> None:
    agent, _, decided = decision_case(db)
    waiting = _waiting_case(db, "Next in line")
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{decided}/decision",
        data=decision_form(csrf, internal_reasoning=""),
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert case_of(db, waiting).status == CaseStatus.open


def test_escalating_and_closing_open_the_next_case(client: TestClient, db: Session) -> None:
    agent, _, first = decision_case(db)
    agent_id = agent.id  # read now: a read later would hold SQLite's lock
    second = _waiting_case(db, "Second", priority=1)
    third = _waiting_case(db, "Third", priority=2)
    csrf = login_as(client, db, agent)

    escalated = client.post(
        f"/cases/{first}/escalate",
        data={"csrf_token": csrf, "reason": "Threats: needs a specialist."},
        follow_redirects=False,
    )
    assert escalated.status_code == 303
    assert escalated.headers["location"] == f"/cases/{second}?notice=escalated&loop=next"
    assert case_of(db, first).tier.value == "specialist"

    closed = client.post(
        f"/cases/{second}/close",
        data={"csrf_token": csrf, "resolution": "duplicate", "note": "Same as the other one."},
        follow_redirects=False,
    )
    assert closed.headers["location"] == f"/cases/{third}?notice=closed&loop=next"
    assert case_of(db, third).assignee_id == agent_id

    last = client.post(
        f"/cases/{third}/close",
        data={"csrf_token": csrf, "resolution": "no_violation", "note": "Nothing wrong."},
        follow_redirects=False,
    )
    assert last.headers["location"] == "/?notice=closed&loop=done"
    # Releasing is a pause, not a step of the loop: it goes home.
    fourth = _waiting_case(db, "Fourth")
    assert client.post("/cases/next", data={"csrf_token": csrf}).url.path == f"/cases/{fourth}"
    released = client.post(
        f"/cases/{fourth}/release", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert released.headers["location"] == "/?notice=released"


def test_an_identity_review_opens_on_its_review_screen(
    client: TestClient, db: Session, settings: Settings
) -> None:
    agent = make_staff(db, role=Role.agent, name="Ana Ruiz", languages=["es", "pt", "en"])
    db.commit()
    _, _, decided = decision_case(db, holder=agent)
    seeded = seed_review(db, settings, agent=agent)
    agent_id = agent.id
    csrf = login_as(client, db, agent)

    response = client.post(
        f"/cases/{decided}/decision", data=decision_form(csrf), follow_redirects=False
    )
    assert response.headers["location"] == (
        f"/identity/verifications/{seeded.verification_id}?notice=decided&loop=next"
    )
    assert case_of(db, seeded.case_id).assignee_id == agent_id
    assert client.get(response.headers["location"]).status_code == 200


def test_next_case_opens_an_identity_review_on_its_case_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """n opens the case page (the issue's words); its a / r / i lead to the review screen."""
    seeded = seed_review(db, settings)
    csrf = login_as(client, db, seeded.agent)
    response = client.post("/cases/next", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.headers["location"] == f"/cases/{seeded.case_id}"
