"""The public appeal intake at /appeals: the page a user reaches from the "you can appeal at
..." link, the proof that the appeal is theirs, the appeal case it opens, and every way it
refuses without writing anything or telling a stranger which part was wrong."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    SUSPEND_7,
    decide,
    held_case,
    make_account,
    make_policy,
    staff,
)
from tests.factories import login_as, make_staff
from vigil.appeals.hearing import Outcome, decide_appeal
from vigil.appeals.models import Appeal, AppealChannel, AppealStatus
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role, Tier
from vigil.cases import routing
from vigil.cases import service as cases_service
from vigil.cases.models import Case, CaseEvent, CaseType, Queue
from vigil.cases.service import recused_staff
from vigil.config import Settings
from vigil.dsa.models import Statement
from vigil.enforcement.models import Decision
from vigil.jobs.models import Job
from vigil.kit.clock import FrozenClock

pytestmark = pytest.mark.usefixtures("frozen")

EMAIL = "Maria.Garcia@example.com"
WHY = (
    "I never asked anyone to pay outside the platform. The client offered it and I said no; "
    "the messages show that I refused."
)
NO_MATCH = "We could not match that reference and email address"
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


# --- arranging ------------------------------------------------------------------------------


def decided(
    db: Session, settings: Settings, *, suspend: bool = True, tier: Tier = Tier.tier1
) -> tuple[Decision, Statement | None]:
    """A decision on a user report about María (Spanish), applied and committed: a 7-day
    suspension with its statement of reasons, or a warning (no statement)."""
    routing.ensure_default_queues(db)
    make_policy(db)
    user, actor = staff(db, Role.legal if tier == Tier.legal else Role.agent)
    account = make_account(db, email=EMAIL.lower(), locale="es")
    case = held_case(db, user, account, tier=tier)
    if suspend:
        decision = decide(
            db, actor, case, settings, actions=SUSPEND_7, departure_reason="Third request."
        )
    else:
        decision = decide(db, actor, case, settings)
    statement = db.scalar(select(Statement).where(Statement.decision_id == decision.id))
    db.commit()
    return decision, statement


def form_token(client: TestClient, **params: str) -> str:
    page = client.get("/appeals", params=params)
    assert page.status_code == 200
    found = TOKEN.search(page.text)
    assert found is not None
    return found.group(1)


def appeal(
    client: TestClient,
    reference: str,
    *,
    email: str = EMAIL,
    explanation: str = WHY,
    token: str | None = None,
    **extra: str,
) -> Response:
    data = {
        "reference": reference,
        "email": email,
        "explanation": explanation,
        "contact": "email",
        "csrf_token": token if token is not None else form_token(client),
        **extra,
    }
    return client.post("/appeals", data=data)


def appeal_cases(db: Session) -> list[Case]:
    cases = list(db.scalars(select(Case).where(Case.type == CaseType.appeal).order_by(Case.id)))
    db.commit()
    return cases


def written(db: Session) -> dict[str, int]:
    models: list[Any] = [Case, CaseEvent, AuditRecord, Job]
    out = {m.__name__: int(db.scalar(select(func.count()).select_from(m)) or 0) for m in models}
    db.commit()
    return out


# --- the page -------------------------------------------------------------------------------


def test_the_page_needs_no_login_and_shows_no_staff_navigation(
    client: TestClient, db: Session
) -> None:
    page = client.get("/appeals")

    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert "Appeal a decision" in page.text and "SOR-42" in page.text and "C-123" in page.text
    assert 'action="/appeals"' in page.text
    assert page.cookies.get("vigil_appeal_csrf")
    assert page.headers["cache-control"] == "no-store"
    # The console's strict policy holds: no inline script or style on the public page either.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script" not in page.text and "style=" not in page.text
    for staff_only in ("/my-cases", "/approvals", "/cases/next", "Log out", "Queues"):
        assert staff_only not in page.text

    # A logged-in staff member sees the same public page, not the console around it.
    csrf = login_as(client, db, make_staff(db, role=Role.specialist))
    page = client.get("/appeals")
    assert page.status_code == 200
    assert "/my-cases" not in page.text and "Log out" not in page.text and csrf not in page.text


def test_the_page_speaks_the_users_language(client: TestClient) -> None:
    spanish = client.get("/appeals", headers={"Accept-Language": "fr;q=1, es-MX;q=0.9, en;q=0.5"})
    assert '<html lang="es">' in spanish.text
    assert "Apelar una decisión" in spanish.text and "Enviar apelación" in spanish.text

    chosen = client.get("/appeals?lang=pt", headers={"Accept-Language": "es"})
    assert '<html lang="pt">' in chosen.text and "Recorrer de uma decisão" in chosen.text

    unknown = client.get("/appeals", headers={"Accept-Language": "de-DE, fr"})
    assert '<html lang="en">' in unknown.text and "Appeal a decision" in unknown.text


# --- accepted -------------------------------------------------------------------------------


def test_a_valid_appeal_opens_one_appeal_case_for_a_specialist(
    client: TestClient, db: Session, settings: Settings
) -> None:
    decision, statement = decided(db, settings)
    assert statement is not None

    # As the user might type it: lower case, spaces, another capitalisation of the email.
    answer = appeal(client, f" sor {statement.id} ", email="  maria.GARCIA@Example.COM ", lang="es")

    assert answer.status_code == 200, answer.text
    (case,) = appeal_cases(db)
    assert "Recibimos tu apelación" in answer.text  # the confirmation in the form's language
    assert case.tier == Tier.specialist
    queue = db.get(Queue, case.queue_id)
    assert queue is not None and queue.tier == Tier.specialist
    assert case.summary == WHY and case.language == "es"
    assert case.account_id == decision.account_id
    assert case.policy_code == "fee_circumvention" and case.priority == 2
    assert case.dedup_key == f"appeal:decision:{decision.id}"
    link = case.attributes["appeal"]
    assert link["decision_id"] == decision.id
    assert link["original_case_id"] == decision.case_id
    assert link["statement_ref"] == f"SOR-{statement.id}"
    assert link["decided_by_id"] == decision.decided_by_id
    assert link["contact_preference"] == "email"
    (stored,) = db.scalars(select(Appeal)).all()
    assert stored.case_id == case.id and stored.decision_id == decision.id
    assert stored.channel == AppealChannel.form and stored.status == AppealStatus.open
    assert stored.statement_id == statement.id and stored.language == "es"
    assert link["appeal_id"] == stored.id
    # The confirmation names the appeal as every later message and the API do.
    assert f"A-{stored.id}" in answer.text and f"C-{case.id}" not in answer.text
    # The reviewer who decided is kept off the appeal.
    assert recused_staff(db, case.id) == [decision.decided_by_id]
    audited = db.scalars(
        select(AuditRecord.action).where(
            AuditRecord.target_type == "case", AuditRecord.target_id == str(case.id)
        )
    ).all()
    assert "cases.case.create" in audited
    assert (
        db.scalar(
            select(AuditRecord.action).where(
                AuditRecord.target_type == "appeal", AuditRecord.target_id == str(stored.id)
            )
        )
        == "appeals.appeal.submit"
    )


def test_a_second_submission_adds_to_the_open_appeal(
    client: TestClient, db: Session, settings: Settings
) -> None:
    decision, statement = decided(db, settings)
    assert statement is not None
    first = appeal(client, f"SOR-{statement.id}")
    assert first.status_code == 200

    # The same decision by its case reference, with something more to say.
    more = "I also attach the order number 88412, where the client wrote first."
    second = appeal(client, f"C-{decision.case_id}", explanation=more)
    # A reload of the confirmation posts the same text again.
    again = appeal(client, f"C-{decision.case_id}", explanation=more)

    (case,) = appeal_cases(db)
    (stored,) = db.scalars(select(Appeal)).all()
    for answer in (second, again):
        assert answer.status_code == 200
        assert f"You already have an open appeal about this decision, A-{stored.id}" in answer.text
    events = db.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ).all()
    assert [e.kind for e in events].count("deduplicated") == 2
    assert [e.reason for e in events if e.kind == "updated"] == [more]
    assert case.summary == WHY


def test_a_decision_is_appealed_by_its_case_reference_until_the_last_day(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    decision, _ = decided(db, settings)
    # The message says "until <day>": that whole day is still open.
    frozen.advance(timedelta(days=settings.appeal_window_days, hours=14, minutes=59))

    answer = appeal(client, f"c-{decision.case_id}")

    assert answer.status_code == 200, answer.text
    (case,) = appeal_cases(db)
    assert case.tier == Tier.specialist and case.priority == 2


def test_a_warning_restricts_nothing_and_is_refused_like_a_mismatch(
    client: TestClient, db: Session, settings: Settings
) -> None:
    decision, statement = decided(db, settings, suspend=False)
    assert statement is None
    token = form_token(client)
    before = written(db)

    answer = appeal(client, f"C-{decision.case_id}", token=token)

    assert answer.status_code == 422
    assert NO_MATCH in answer.text
    assert written(db) == before


def test_once_the_appeal_is_decided_the_form_refuses_like_a_mismatch(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, statement = decided(db, settings)
    assert statement is not None
    assert appeal(client, f"SOR-{statement.id}").status_code == 200
    (case,) = appeal_cases(db)
    specialist, hearer = staff(db, Role.specialist)
    cases_service.assign(db, hearer, case.id, staff_id=specialist.id)
    (stored,) = db.scalars(select(Appeal)).all()
    decide_appeal(
        db, hearer, stored.id, outcome=Outcome.uphold, reason="The messages show the request.",
        settings=settings,
    )  # fmt: skip
    db.commit()
    token = form_token(client)
    before = written(db)

    answer = appeal(client, f"SOR-{statement.id}", explanation=WHY + " Again.", token=token)

    assert answer.status_code == 422
    assert NO_MATCH in answer.text
    assert written(db) == before


def test_an_appeal_about_a_legal_case_stays_with_legal(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, statement = decided(db, settings, tier=Tier.legal)
    assert statement is not None

    answer = appeal(client, f"SOR-{statement.id}")

    assert answer.status_code == 200, answer.text
    (case,) = appeal_cases(db)
    assert case.tier == Tier.legal


# --- refused --------------------------------------------------------------------------------


@pytest.mark.parametrize("mismatch", ["email", "unknown_statement", "unknown_case", "late"])
def test_every_mismatch_gets_the_same_refusal_and_writes_nothing(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock, mismatch: str
) -> None:
    decision, statement = decided(db, settings)
    assert statement is not None
    reference, email = f"SOR-{statement.id}", EMAIL
    if mismatch == "email":
        email = "someone.else@example.com"
    elif mismatch == "unknown_statement":
        reference = f"SOR-{statement.id + 1000}"
    elif mismatch == "unknown_case":
        reference = f"C-{decision.case_id + 1000}"
    else:
        frozen.advance(timedelta(days=settings.appeal_window_days + 1))
    token = form_token(client)
    before = written(db)

    answer = appeal(client, reference, email=email, token=token)

    assert answer.status_code == 422
    problem = re.search(r'id="appeal-problem">([^<]*)<', answer.text)
    assert problem is not None and problem.group(1).startswith(NO_MATCH)
    # What the user typed stays in the form, so they can correct it.
    assert f'value="{reference}"' in answer.text and WHY in answer.text
    assert written(db) == before


def test_the_refusal_reads_the_same_whatever_was_wrong(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, statement = decided(db, settings)
    assert statement is not None
    token = form_token(client)

    def page(reference: str, email: str) -> str:
        answer = appeal(client, reference, email=email, token=token)
        assert answer.status_code == 422
        # Everything above the form (the form itself holds what the user typed).
        return answer.text.split("<form")[0]

    wrong_email = page(f"SOR-{statement.id}", "x@example.com")
    no_such_reference = page("SOR-999999", "x@example.com")
    right_email_wrong_reference = page("SOR-999999", EMAIL)
    assert wrong_email == no_such_reference == right_email_wrong_reference


def test_a_post_without_the_forms_token_is_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, statement = decided(db, settings)
    assert statement is not None
    reference = f"SOR-{statement.id}"
    before = written(db)

    missing = appeal(client, reference, token="")
    forged = appeal(client, reference, token="0" * 64)
    client.cookies.clear()  # another site's post carries no cookie of ours
    token_without_cookie = client.post(
        "/appeals",
        data={"reference": reference, "email": EMAIL, "explanation": WHY, "csrf_token": "a" * 64},
    )

    for answer in (missing, forged, token_without_cookie):
        assert answer.status_code == 403
        assert "This form expired" in answer.text
        assert WHY not in answer.text  # the posted text is not echoed back
    assert written(db) == before
    assert appeal_cases(db) == []


def test_fields_in_the_wrong_shape_are_named_and_nothing_is_written(
    client: TestClient, db: Session, settings: Settings
) -> None:
    decided(db, settings)
    before = written(db)

    answer = appeal(
        client, "case number 5", email="not-an-email", explanation="Wrong.", contact="pigeon"
    )

    assert answer.status_code == 422
    assert 'id="reference-error"' in answer.text and 'id="email-error"' in answer.text
    assert 'id="explanation-error"' in answer.text and "at least 20 characters" in answer.text
    assert "Choose how we should tell you the outcome" in answer.text
    too_long = appeal(client, "SOR-1", explanation="x" * 5_001)
    assert too_long.status_code == 422 and "5,000 characters or fewer" in too_long.text
    assert written(db) == before


def test_posts_are_limited_per_address(client: TestClient, frozen: FrozenClock) -> None:
    token = form_token(client)
    for _ in range(10):
        assert appeal(client, "SOR-1", token=token).status_code == 422

    limited = appeal(client, "SOR-1", token=token, lang="es")

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == str(15 * 60)
    assert "demasiadas veces" not in limited.text  # the body was not read: browser language
    assert "too many times" in limited.text
    frozen.advance(timedelta(minutes=15, seconds=1))
    assert appeal(client, "SOR-1", token=token).status_code == 422


def test_a_body_over_the_cap_is_refused_before_it_is_read(client: TestClient, db: Session) -> None:
    token = form_token(client)
    before = written(db)

    answer = client.post(
        "/appeals",
        content=b"explanation=" + b"x" * (70 * 1024) + f"&csrf_token={token}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert answer.status_code == 413
    assert "more than this form accepts" in answer.text
    assert written(db) == before
