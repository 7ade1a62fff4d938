"""The decision panel and the approvals screen over HTTP: what the console renders, what a
form post records, where refusals are shown, and who may see what."""

from __future__ import annotations

import itertools
import re
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, logout, make_staff
from vigil.accounts import service as accounts
from vigil.accounts.models import Account, AccountStatus
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType, Severity
from vigil.cases.routing import ensure_default_queues
from vigil.communications.models import Message
from vigil.enforcement.models import Decision, DecisionStatus
from vigil.integrations import service as integrations
from vigil.kit import clock
from vigil.policies.models import Policy
from vigil.policies.pack import load_pack

SYSTEM = Principal.system("test")
HTML = {"accept": "text/html,application/xhtml+xml"}
HTMX = {"HX-Request": "true"}
FACTS = (
    "In messages on the platform the freelancer asked the client to pay for the order by "
    "bank transfer outside the marketplace, to avoid the fee."
)
_n = itertools.count(1)
T = TypeVar("T")


# --- arranging ------------------------------------------------------------------------------


def catalog(db: Session) -> None:
    """The default policy pack, loaded once per database."""
    if db.scalar(select(func.count()).select_from(Policy)) == 0:
        load_pack(db, SYSTEM)


def decision_case(
    db: Session,
    *,
    locale: str = "es",
    email: str | None = "maria@example.com",
    holder: StaffUser | None = None,
    title: str = "Asked to pay outside the platform",
) -> tuple[StaffUser, Account, int]:
    """The default queues and pack, an account, a user report about it held by an agent
    (``holder``, or a new Spanish-speaking one), and a webhook integration; committed."""
    ensure_default_queues(db, SYSTEM)
    catalog(db)
    if holder is None:
        holder = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["es", "en"])
    n = next(_n)
    account, _ = accounts.upsert_account(
        db,
        SYSTEM,
        f"u-{n}-{locale}",
        AccountUpsert.model_validate(
            {
                "side": "freelancer",
                "display_name": "María G.",
                "email": email,
                "country": "ES",
                "locale": locale,
            }
        ),
    )
    case = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.user_report,
            title=title,
            summary="Me pidió que le pagara por fuera de la plataforma.",
            account_id=account.id,
            language=locale.split("-")[0] if locale.split("-")[0] in ("es", "pt") else "en",
            severity=Severity.high,
            priority=2,
        ),
    ).case
    cases.assign(db, SYSTEM, case.id, staff_id=holder.id)
    if not integrations.list_integrations(db, limit=1)[0]:
        integrations.create_integration(
            db,
            SYSTEM,
            name=f"marketplace {n}",
            url="http://127.0.0.1:9/hooks",
            event_types=["action.applied", "action.reversed", "message.in_app"],
        )
    db.commit()
    return holder, account, case.id


def decision_form(csrf: str, **changes: Any) -> dict[str, Any]:
    """The console form for "suspend 7 days" under fee circumvention, a first offence (the
    ladder proposes a warning, so the form says why it departs)."""
    data: dict[str, Any] = {
        "csrf_token": csrf,
        "policy": "fee_circumvention",
        "action_type": "suspend",
        "action_scope": "account",
        "duration_days": "7",
        "ends_at": "",
        "target_ref": "",
        "departure_reason": "Third request this week, with a threat to leave bad reviews.",
        "internal_reasoning": "Bank details in three messages to the same client.",
        "facts": FACTS,
        "content_type": "CONTENT_TYPE_TEXT",
        "content_date": clock.now().date().isoformat(),
        "channels": ["email", "in_app"],
        "no_message_reason": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def rows(db: Session, model: type) -> int:
    db.expire_all()
    count = int(db.scalar(select(func.count()).select_from(model)) or 0)
    db.rollback()  # on SQLite an open read would hold the lock the app needs
    return count


def fetch(db: Session, model: type[T], *where: Any) -> list[T]:
    """Fresh rows, detached (readable after the read ends) and the read ended: on SQLite an
    open transaction holds the write lock that the app under test needs."""
    db.expire_all()
    found = list(db.scalars(select(model).where(*where).order_by(model.id)))  # type: ignore[attr-defined]
    for row in found:
        db.expunge(row)
    db.rollback()
    return found


def decision_of(db: Session, case_id: int) -> Decision | None:
    found = fetch(db, Decision, Decision.case_id == case_id)
    return found[0] if found else None


def case_of(db: Session, case_id: int) -> Case:
    return fetch(db, Case, Case.id == case_id)[0]


def account_of(db: Session, account_id: int) -> Account:
    return fetch(db, Account, Account.id == account_id)[0]


def error_for(html: str, key: str) -> str:
    """The text of the error shown under the control ``key`` (empty when none)."""
    match = re.search(
        rf'<div class="field-error" id="err-{key}" role="alert">(.*?)</div>', html, re.S
    )
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


# --- the panel ------------------------------------------------------------------------------


def test_the_holder_gets_the_policy_picker_guidance_and_ladder_suggestion(
    client: TestClient, db: Session
) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)

    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX)
    assert panel.status_code == 200
    assert 'id="decision-policy"' in panel.text and 'data-key-focus="d"' in panel.text
    assert "Fee circumvention and off-platform payment" in panel.text
    assert "Sanctioned persons" in panel.text or "sanctioned" in panel.text.lower()
    assert "No violation (no action; the case closes)" in panel.text

    chosen = client.post(
        f"/cases/{case_id}/decision/outcome",
        data={"csrf_token": csrf, "policy": "fee_circumvention", "shown_outcome": "violation"},
        headers=HTMX,
    )
    assert chosen.status_code == 200
    html = chosen.text
    assert "Guidance for reviewers" in html and "What it covers" in html
    assert "A freelancer refuses a client&#39;s offer to pay by bank transfer" in html
    assert "A listing that shows a PayPal.me link" in html
    assert "Ladder suggestion: <strong>Warn · account</strong>" in html
    assert "The account has no active strikes." in html
    assert re.search(r'<option value="warn"[^>]*selected', html)
    # Only the actions the policy allows, four-eyes ones marked.
    assert "Ban (remove the account) (second approver)" in html
    # The stale preview is dropped out of band.
    assert 'id="decision-preview" hx-swap-oob="innerHTML"' in html


def test_a_case_held_by_someone_else_shows_no_form(client: TestClient, db: Session) -> None:
    _, _, case_id = decision_case(db)
    other = make_staff(db, role=Role.agent)
    login_as(client, db, other)
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX)
    assert panel.status_code == 200
    assert "Take this case to decide it." in panel.text
    assert 'id="decision-form"' not in panel.text


def test_the_preview_is_in_the_users_language_with_the_statement(
    client: TestClient, db: Session
) -> None:
    agent, _, case_id = decision_case(db, locale="es-MX")
    csrf = login_as(client, db, agent)
    preview = client.post(
        f"/cases/{case_id}/decision/preview", data=decision_form(csrf), headers=HTMX
    )
    assert preview.status_code == 200
    html = preview.text
    assert "In Spanish (es)" in html
    assert "shown in English" not in html
    subject = re.search(r'name="message_subject"[^>]*value="([^"]*)"', html)
    assert subject is not None and "suspendida" in subject.group(1)
    assert "durante 7 días" in html
    # The statement of reasons is shown apart, not editable.
    section = re.search(r'<pre class="statement-section"[^>]*>(.*?)</pre>', html, re.S)
    assert section is not None and "SOR-" in section.group(1)
    assert "Before this decision can be recorded" not in html
    assert rows(db, Decision) == 0


def test_the_preview_says_when_it_fell_back_to_english(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db, locale="fr")
    csrf = login_as(client, db, agent)
    preview = client.post(
        f"/cases/{case_id}/decision/preview", data=decision_form(csrf), headers=HTMX
    )
    assert preview.status_code == 200
    assert "In English (en)" in preview.text
    assert "No message in the user's language (fr): shown in English" in preview.text
    assert "Your account" in preview.text or "your account" in preview.text


def test_the_preview_keeps_the_reviewers_edit_and_lists_problems(
    client: TestClient, db: Session
) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    first = client.post(f"/cases/{case_id}/decision/preview", data=decision_form(csrf))
    subject = re.search(r'name="message_subject"[^>]*value="([^"]*)"', first.text)
    template_body = re.search(r'name="template_body" value="([^"]*)"', first.text, re.S)
    assert subject and template_body
    edited = decision_form(
        csrf,
        message_subject="Su cuenta está suspendida",
        message_body="Hola María: suspendimos su cuenta por 7 días.",
        template_subject="x",
        template_body="y",
        internal_reasoning="",
    )
    again = client.post(f"/cases/{case_id}/decision/preview", data=edited)
    assert "Hola María: suspendimos su cuenta por 7 días." in again.text
    assert "edited by you" in again.text and 'name="message_edited" value="1"' in again.text
    assert "Use the template's text again" in again.text
    assert "Before this decision can be recorded" in again.text
    assert 'href="#decision-internal-reasoning">Internal reasoning</a>' in again.text

    reset = client.post(f"/cases/{case_id}/decision/preview", data={**edited, "message_reset": "1"})
    assert "Hola María: suspendimos" not in reset.text and "edited by you" not in reset.text


# --- deciding -------------------------------------------------------------------------------


def test_a_decision_posted_through_the_form_is_applied_and_shown(
    client: TestClient, db: Session
) -> None:
    agent, account, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    body = "Hola María: suspendimos su cuenta durante 7 días por pedir pagos por fuera."
    response = client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(
            csrf,
            message_subject="Su cuenta está suspendida por 7 días",
            message_body=body,
            template_subject="plantilla",
            template_body="plantilla",
        ),
        follow_redirects=False,
    )
    assert response.status_code == 303
    # Nothing else waits, so the reviewer lands home (the next case opens when one waits).
    assert response.headers["location"] == "/?notice=decided&loop=done"

    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.applied
    assert decision.departed and decision.locale == "es"
    assert case_of(db, case_id).status == CaseStatus.closed
    assert account_of(db, account.id).status == AccountStatus.suspended
    sent = fetch(db, Message, Message.case_id == case_id)
    assert {m.channel.value for m in sent} == {"email", "in_app"}
    assert all(m.body.startswith(body) and "SOR-" in m.body for m in sent)

    page = client.get(f"/cases/{case_id}?notice=decided")
    assert "Decision recorded and applied; the case is closed." in page.text
    assert "recorded a decision" in page.text
    assert "sent a message to the user by email (es)" in page.text
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX).text
    assert f"Decision #{decision.id}" in panel and ">applied<" in panel
    assert "Suspend · account · 7 days" in panel
    assert "action.applied pending" in panel  # the webhook waits for the worker
    assert "webhooks being delivered" in panel
    assert "Su cuenta está suspendida por 7 días" in panel
    assert 'id="decision-form"' not in panel


def test_htmx_submission_redirects_the_browser(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, policy="fee_circumvention", action_type="warn",
                           duration_days="", departure_reason=""),
        headers=HTMX,
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/?notice=decided&loop=done"
    decision = decision_of(db, case_id)
    assert decision is not None and decision.action == "warn" and not decision.departed


def test_no_violation_closes_the_case_without_a_message(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{case_id}/decision",
        data={"csrf_token": csrf, "policy": "none", "internal_reasoning": "Payment was on-site."},
        follow_redirects=False,
    )
    assert response.status_code == 303
    decision = decision_of(db, case_id)
    assert decision is not None and decision.no_violation
    assert rows(db, Message) == 0


def test_no_violation_with_a_message_the_reviewer_writes(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    form = {
        "csrf_token": csrf,
        "policy": "none",
        "internal_reasoning": "The client paid on the platform; the report was a mistake.",
        "channels": ["in_app"],
        "shown_outcome": "none",
    }
    preview = client.post(f"/cases/{case_id}/decision/preview", data=form).text
    assert "write the message" in preview
    assert 'name="message_subject"' in preview and 'name="message_edited" value="1"' in preview

    written = {
        **form,
        "message_edited": "1",
        "message_subject": "Revisamos el reporte",
        "message_body": "Hola María: no encontramos ningún problema con tu cuenta.",
    }
    response = client.post(f"/cases/{case_id}/decision", data=written, follow_redirects=False)
    assert response.status_code == 303
    (sent,) = fetch(db, Message, Message.case_id == case_id)
    assert sent.channel.value == "in_app" and sent.subject == "Revisamos el reporte"
    assert sent.body == "Hola María: no encontramos ningún problema con tu cuenta."


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        (
            {"duration_days": ""},
            "duration_days",
            "Suspension needs a number of days or an end date",
        ),
        ({"action_type": "restrict", "action_scope": "account"}, "action_scope", "not account"),
        ({"facts": ""}, "facts", "facts"),
        ({"departure_reason": ""}, "departure_reason", "ladder proposes warn"),
        ({"policy": "no_such_policy"}, "policy", "no_such_policy"),
        ({"duration_days": "0"}, "duration_days", "a whole number of days, from 1 to 3650"),
        ({"ends_at": "2001-01-01", "duration_days": ""}, "ends_at", "future"),
        ({"channels": [], "no_message_reason": ""}, "no_message_reason", "not told"),
    ],
)
def test_refusals_are_shown_next_to_their_field_and_nothing_is_written(
    client: TestClient, db: Session, changes: dict[str, Any], key: str, words: str
) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    response = client.post(f"/cases/{case_id}/decision", data=decision_form(csrf, **changes))
    assert response.status_code == 422
    assert words in error_for(response.text, key)
    assert re.search(
        rf'id="decision-{key.replace("_", "-")}"[^>]*aria-invalid="true"', response.text
    )
    assert "The decision was not recorded" in response.text
    assert rows(db, Decision) == 0 and rows(db, Message) == 0
    # The form comes back as it was sent.
    assert "Bank details in three messages to the same client." in response.text


def test_one_refusal_shows_every_problem_at_once(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, duration_days="", internal_reasoning=""),
        headers=HTMX,
    )
    assert response.status_code == 422
    assert error_for(response.text, "duration_days")
    assert error_for(response.text, "internal_reasoning")
    assert response.text.lstrip().startswith("<section") or "decision-panel" in response.text[:400]


def test_a_ban_waits_for_a_specialist_and_the_panel_says_so(
    client: TestClient, db: Session
) -> None:
    agent, account, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    response = client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, action_type="ban", duration_days=""),
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?notice=decision_pending&loop=done"
    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.pending_approval
    assert case_of(db, case_id).status == CaseStatus.assigned
    assert account_of(db, account.id).status == AccountStatus.active
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX).text
    assert "is waiting for a specialist's approval (ban needs a second approver)" in panel
    assert ">waiting for approval<" in panel
    assert 'id="decision-form"' not in panel
    assert "Review it" not in panel  # an agent approves nothing
    page = client.get(f"/cases/{case_id}?notice=decision_pending")
    assert "it waits for a specialist&#39;s approval" in page.text
    assert "recorded a decision that waits for a second approver" in page.text


def test_the_form_needs_the_csrf_token(client: TestClient, db: Session) -> None:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    client.headers.pop("X-CSRF-Token", None)
    form = decision_form(csrf)
    del form["csrf_token"]
    refused = client.post(f"/cases/{case_id}/decision", data=form, headers=HTML)
    assert refused.status_code == 403
    assert rows(db, Decision) == 0


# --- approvals ------------------------------------------------------------------------------


def _pending_ban(client: TestClient, db: Session) -> tuple[StaffUser, int, int]:
    agent, _, case_id = decision_case(db)
    csrf = login_as(client, db, agent)
    client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, action_type="ban", duration_days=""),
        follow_redirects=False,
    )
    logout(client)
    decision = decision_of(db, case_id)
    assert decision is not None
    return agent, case_id, decision.id


def test_approvers_see_what_waits_with_the_message_that_will_go_out(
    client: TestClient, db: Session
) -> None:
    _, case_id, decision_id = _pending_ban(client, db)
    specialist = make_staff(db, role=Role.specialist, name="Sam Specialist")
    login_as(client, db, specialist)

    home = client.get("/")
    assert '<a href="/approvals" data-key="a"' in home.text
    assert ">1<" in client.get("/approvals/count").text

    page = client.get("/approvals")
    assert page.status_code == 200
    html = page.text
    assert f"case #{case_id} Asked to pay outside the platform" in html
    assert "Fee circumvention and off-platform payment" in html
    assert "Ban (remove the account) · account" in html
    assert "four-eyes: ban" in html
    assert "Elena Ruiz" in html  # who decided
    assert "Bank details in three messages to the same client." in html
    assert "Third request this week" in html  # why it departs from the ladder
    assert '<span class="chip">Spanish (es)</span>' in html
    assert '<div class="message-preview" lang="es">' in html
    assert re.search(r'<pre class="statement-section">[^<]*DECLARACI', html)
    assert f'action="/approvals/{decision_id}/approve"' in html
    assert f'action="/approvals/{decision_id}/reject"' in html

    detail = client.get(f"/approvals/{decision_id}")
    assert detail.status_code == 200 and "decision_account" in detail.text


def test_approving_applies_the_decision(client: TestClient, db: Session) -> None:
    _, case_id, decision_id = _pending_ban(client, db)
    specialist = make_staff(db, role=Role.specialist)
    csrf = login_as(client, db, specialist)
    response = client.post(
        f"/approvals/{decision_id}/approve",
        data={"csrf_token": csrf, "note": "Checked the chat."},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/approvals?notice=approved"
    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.applied
    assert case_of(db, case_id).status == CaseStatus.closed
    after = client.get("/approvals?notice=approved")
    assert "Decision approved and applied." in after.text
    assert "No decision is waiting for approval." in after.text
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX).text
    assert "Approved" in panel and "Checked the chat." in panel


def test_rejecting_needs_a_reason_and_returns_the_case(client: TestClient, db: Session) -> None:
    agent, case_id, decision_id = _pending_ban(client, db)
    specialist = make_staff(db, role=Role.specialist)
    csrf = login_as(client, db, specialist)
    refused = client.post(
        f"/approvals/{decision_id}/reject", data={"csrf_token": csrf, "reason": "  "}
    )
    assert refused.status_code == 422
    assert "reason is required" in error_for(refused.text, f"reason_{decision_id}")
    assert decision_of(db, case_id).status == DecisionStatus.pending_approval  # type: ignore[union-attr]

    done = client.post(
        f"/approvals/{decision_id}/reject",
        data={"csrf_token": csrf, "reason": "A first offence: suspend instead."},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/approvals?notice=rejected"
    assert decision_of(db, case_id).status == DecisionStatus.rejected  # type: ignore[union-attr]
    case = case_of(db, case_id)
    assert case.assignee_id == agent.id and case.status != CaseStatus.closed
    # The reviewer decides again.
    login_as(client, db, agent)
    panel = client.get(f"/cases/{case_id}/decision", headers=HTMX).text
    assert 'id="decision-form"' in panel
    assert ">rejected<" in panel and "A first offence: suspend instead." in panel


def test_the_decider_is_not_offered_their_own_decision(client: TestClient, db: Session) -> None:
    specialist = make_staff(db, role=Role.specialist, name="Sam Specialist")
    _, _, case_id = decision_case(db, holder=specialist)
    csrf = login_as(client, db, specialist)
    client.post(
        f"/cases/{case_id}/decision",
        data=decision_form(csrf, action_type="ban", duration_days=""),
        follow_redirects=False,
    )
    decision = decision_of(db, case_id)
    assert decision is not None and decision.status == DecisionStatus.pending_approval
    page = client.get("/approvals").text
    assert "You made this decision: another approver must approve or reject it." in page
    assert f'action="/approvals/{decision.id}/approve"' not in page
    refused = client.post(
        f"/approvals/{decision.id}/approve", data={"csrf_token": csrf}, headers=HTML
    )
    assert refused.status_code == 403
    assert "someone else must approve" in refused.text
    assert decision_of(db, case_id).status == DecisionStatus.pending_approval  # type: ignore[union-attr]


def test_an_agent_gets_no_approvals_page(client: TestClient, db: Session) -> None:
    agent, _, _ = decision_case(db)
    login_as(client, db, agent)
    assert 'href="/approvals"' not in client.get("/").text
    page = client.get("/approvals", headers=HTML)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "Not allowed" in page.text
