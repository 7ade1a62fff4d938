"""Every console route for every role: the permission declared here is enforced, anonymous
visitors are sent to the login page, and a form posted without the CSRF token is refused.

Routes are discovered from the app; a route missing from ``DECLARED`` fails the first test, so
a new page cannot ship without saying who may open it. Console routes check permissions in
their handlers (``principal.require``) or in the services they call; ``DECLARED`` is the
reviewed statement of what each one needs, and this file checks the app against it.

Dummy path ids are sent: holders of the permission may get 404 or 422, never 401 or 403;
others get 403 (or 404 where the page hides that the record exists). ``OBJECT`` marks routes
whose check is made on the record itself (its tier, its assignee), after it is loaded: with a
dummy id only login and CSRF can be checked there, and their own tests cover the rest.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from vigil.app import create_app
from vigil.auth.permissions import ROLE_PERMISSIONS, Permission, Role
from vigil.config import Settings

P = Permission
ANY = "any staff"
OBJECT = "checked on the record"

# Reachable without a console session (they have their own protection, if any).
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/login/code"),  # the signed ticket from the password step
    ("GET", "/appeals"),  # the users' appeal form (a signed link)
    ("POST", "/appeals"),
    ("GET", "/readyz"),
    ("GET", "/ops/metrics"),  # bearer token or loopback
}

DECLARED: dict[tuple[str, str], Permission | str] = {
    ("POST", "/logout"): ANY,
    ("GET", "/"): ANY,
    ("GET", "/my-cases"): ANY,
    ("GET", "/queues/{queue_id}"): OBJECT,
    ("POST", "/cases/next"): P.cases_work,
    ("POST", "/cases/{case_id}/take"): OBJECT,
    ("POST", "/cases/{case_id}/release"): OBJECT,
    ("POST", "/cases/{case_id}/escalate"): OBJECT,
    ("POST", "/cases/{case_id}/close"): OBJECT,
    ("POST", "/cases/{case_id}/notes"): OBJECT,
    ("GET", "/account/security"): ANY,
    ("POST", "/account/security/totp/begin"): ANY,
    ("POST", "/account/security/totp/confirm"): ANY,
    ("POST", "/account/security/totp/disable"): ANY,
    ("GET", "/staff"): P.staff_read,
    ("POST", "/staff/{staff_id}/unlock"): P.staff_write,
    ("POST", "/staff/{staff_id}/reset-second-factor"): P.staff_write,
    ("GET", "/cases/{case_id}"): OBJECT,
    ("POST", "/cases/{case_id}/reveal"): OBJECT,
    ("GET", "/cases/{case_id}/precedent"): OBJECT,
    ("GET", "/search"): ANY,
    ("GET", "/search/accounts"): OBJECT,
    ("GET", "/search/cases"): P.cases_read,
    ("GET", "/policies"): ANY,
    ("GET", "/policies/{code}"): OBJECT,
    ("GET", "/policies/{code}/versions/{version}"): OBJECT,
    ("GET", "/policies/{code}/diff"): OBJECT,
    ("GET", "/cases/{case_id}/decision"): OBJECT,
    ("POST", "/cases/{case_id}/decision/outcome"): P.decisions_write,
    ("POST", "/cases/{case_id}/decision/preview"): OBJECT,
    ("POST", "/cases/{case_id}/decision"): OBJECT,
    ("GET", "/approvals"): P.decisions_approve,
    ("GET", "/approvals/count"): P.decisions_approve,
    ("GET", "/approvals/{decision_id}"): P.decisions_approve,
    ("POST", "/approvals/{decision_id}/approve"): P.decisions_approve,
    ("POST", "/approvals/{decision_id}/reject"): P.decisions_approve,
    ("GET", "/cases/{case_id}/cluster"): P.accounts_read,
    ("GET", "/rules"): ANY,
    ("GET", "/rules/new"): P.rules_write,
    ("POST", "/rules/new"): P.rules_write,
    ("GET", "/rules/backtests"): ANY,
    ("POST", "/rules/backtests"): P.rules_write,
    ("GET", "/rules/backtests/{backtest_id}"): OBJECT,
    ("GET", "/rules/backtests/{backtest_id}/samples"): OBJECT,
    ("GET", "/rules/backtests/{backtest_id}/results"): OBJECT,
    ("POST", "/rules/check"): ANY,
    ("POST", "/rules/try"): ANY,
    ("GET", "/rules/{name}"): OBJECT,
    ("GET", "/rules/{name}/edit"): P.rules_write,
    ("POST", "/rules/{name}/edit"): P.rules_write,
    ("POST", "/rules/{name}/state"): P.rules_write,
    ("GET", "/identity"): P.identity_read,
    ("POST", "/identity/next"): P.identity_decide,
    ("GET", "/identity/verifications/{verification_id}"): P.identity_read,
    ("GET", "/identity/cases/{case_id}/link"): OBJECT,
    ("GET", "/identity/cases/{case_id}"): P.identity_read,
    ("GET", "/identity/accounts/{external_id}"): P.identity_read,
    ("POST", "/identity/verifications/{verification_id}/reveal"): P.identity_read,
    ("POST", "/identity/verifications/{verification_id}/reveal-data"): P.pii_reveal,
    ("POST", "/identity/accounts/{external_id}/reveal"): P.pii_reveal,
    ("POST", "/identity/verifications/{verification_id}/decision"): P.identity_decide,
    ("GET", "/disputes/{dispute_id}"): P.disputes_read,
    ("POST", "/disputes/{dispute_id}/propose"): OBJECT,
    ("POST", "/disputes/{dispute_id}/rule"): OBJECT,
    ("POST", "/disputes/{dispute_id}/review"): OBJECT,
    ("POST", "/disputes/{dispute_id}/payment-release"): OBJECT,
    ("POST", "/disputes/{dispute_id}/take"): P.disputes_mediate,
    ("POST", "/disputes/{dispute_id}/release"): OBJECT,
    ("GET", "/disputes/{dispute_id}/files/{submission_id}"): OBJECT,
    ("GET", "/disputes"): P.disputes_read,
    ("POST", "/disputes/next"): P.disputes_mediate,
    ("POST", "/cases/{case_id}/appeal/decide"): OBJECT,
    ("GET", "/qa/guidance"): P.policies_read,
    ("GET", "/qa/home-panel"): ANY,
    ("GET", "/qa"): ANY,
    ("POST", "/qa/rates"): P.qa_manage,
    ("POST", "/qa/next"): P.qa_review,
    ("GET", "/qa/samples/{sample_id}"): P.qa_review,
    ("POST", "/qa/samples/{sample_id}/answer"): P.qa_review,
    ("POST", "/qa/samples/{sample_id}/reveal"): P.qa_review,
    ("POST", "/qa/samples/{sample_id}/score"): P.qa_review,
    ("GET", "/qa/scorecards"): P.qa_read,
    ("GET", "/qa/calibration"): ANY,
    ("POST", "/qa/calibration"): P.qa_manage,
    ("GET", "/qa/calibration/{set_id}"): OBJECT,
    ("POST", "/qa/calibration/{set_id}/items"): P.qa_manage,
    ("POST", "/qa/calibration/{set_id}/items/{item_id}/remove"): P.qa_manage,
    ("POST", "/qa/calibration/{set_id}/assign"): P.qa_manage,
    ("POST", "/qa/calibration/{set_id}/items/{item_id}/answer"): P.calibration_answer,
    ("GET", "/metrics"): P.metrics_read,
    ("GET", "/metrics/{name}"): P.metrics_read,
    ("GET", "/reports/transparency"): P.reports_read,
    ("GET", "/goals"): ANY,
    ("GET", "/goals/{goal_id}/edit"): P.goals_write,
    ("POST", "/goals"): P.goals_write,
    ("POST", "/goals/{goal_id}"): P.goals_write,
    ("POST", "/goals/{goal_id}/archive"): P.goals_write,
    ("GET", "/trends/count"): P.trends_read,
    ("GET", "/trends"): P.trends_read,
    ("GET", "/trends/alerts/{alert_id}"): P.trends_read,
    ("POST", "/trends/alerts/{alert_id}/acknowledge"): P.trends_triage,
    ("POST", "/trends/alerts/{alert_id}/dismiss"): P.trends_triage,
    ("POST", "/trends/alerts/{alert_id}/escalate"): P.incidents_write,
    ("GET", "/trends/clusters/{cluster_id}"): P.trends_read,
    ("POST", "/trends/clusters/{cluster_id}/acknowledge"): P.trends_triage,
    ("POST", "/trends/clusters/{cluster_id}/dismiss"): P.trends_triage,
    ("POST", "/trends/clusters/{cluster_id}/escalate"): P.incidents_write,
    ("GET", "/incidents"): P.trends_read,
    ("GET", "/incidents/new"): P.incidents_write,
    ("POST", "/incidents"): P.incidents_write,
    ("GET", "/incidents/{incident_id}"): P.trends_read,
    ("POST", "/incidents/{incident_id}/transition"): P.incidents_write,
    ("POST", "/incidents/{incident_id}/edit"): P.incidents_write,
    ("POST", "/incidents/{incident_id}/cases"): P.incidents_write,
    ("POST", "/incidents/{incident_id}/cases/{case_id}/remove"): P.incidents_write,
    ("POST", "/incidents/{incident_id}/notes"): P.incidents_write,
    ("GET", "/privacy"): P.privacy_requests,
    ("POST", "/privacy/erasure-requests"): P.privacy_requests,
    ("GET", "/privacy/erasure-requests/{request_id}"): P.privacy_requests,
    ("POST", "/privacy/erasure-requests/{request_id}/complete"): OBJECT,
    ("POST", "/privacy/erasure-requests/{request_id}/refuse"): OBJECT,
    ("GET", "/privacy/holds-panel"): OBJECT,
    ("POST", "/privacy/holds"): OBJECT,
    ("POST", "/privacy/holds/{hold_id}/lift"): OBJECT,
}


def console_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite:///:memory:"), run_worker=False)
    out: list[tuple[str, str]] = []
    for ctx in iter_route_contexts(app.routes):
        path = str(ctx.path or "")
        if not isinstance(ctx.original_route, APIRoute) or path.startswith("/v1/"):
            continue
        out.extend((method, path) for method in sorted(ctx.methods or ()))
    return out


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", path)


def test_every_console_route_is_declared() -> None:
    routes = set(console_routes())
    assert len(routes) > 50, "no console routes found: has FastAPI's routing changed?"
    undeclared = sorted(routes - PUBLIC - DECLARED.keys())
    assert undeclared == [], "declare who may open these console routes in DECLARED"
    gone = sorted(DECLARED.keys() - routes)
    assert gone == [], "these declared routes no longer exist: remove them"


def _request(client: TestClient, method: str, path: str, csrf: str | None) -> Any:
    if method == "GET":
        return client.get(_url(path), follow_redirects=False)
    data = {"csrf_token": csrf} if csrf else {}
    return client.post(_url(path), data=data, follow_redirects=False)


def test_every_console_route_for_every_role(client: TestClient, db: Session) -> None:
    cookie_name = client.app.state.settings.session_cookie  # type: ignore[attr-defined]
    sessions: dict[Role, tuple[str, str]] = {}
    for role in Role:
        csrf = login_as(client, db, make_staff(db, role=role))
        sessions[role] = (client.cookies[cookie_name], csrf)
        client.cookies.clear()
        client.headers.pop("X-CSRF-Token", None)
    wrong: list[str] = []
    checked = 0
    # /logout ends the session it is sent with: checked on its own below.
    routes = [r for r in console_routes() if r not in PUBLIC and r != ("POST", "/logout")]
    for method, path in routes:
        declared = DECLARED[(method, path)]
        # Anonymous: to the login page, nothing else.
        client.cookies.clear()
        response = _request(client, method, path, None)
        if response.status_code != 303 or not response.headers["location"].startswith("/login"):
            wrong.append(f"{method} {path} anonymous: {response.status_code}")
        for role, (token, csrf) in sessions.items():
            client.cookies.clear()
            client.cookies.set(cookie_name, token)
            response = _request(client, method, path, csrf)
            status = response.status_code
            checked += 1
            if status == 401 or response.headers.get("location", "").startswith("/login"):
                wrong.append(f"{method} {path} as {role.value}: {status}, sent to log in")
            if not isinstance(declared, Permission):
                if declared == ANY and status == 403:
                    wrong.append(f"{method} {path} as {role.value}: 403 (declared any staff)")
                continue
            holds = declared in ROLE_PERMISSIONS[role]
            if holds and status in (401, 403):
                wrong.append(f"{method} {path} as {role.value}: {status} (holds {declared})")
            if not holds and status not in (403, 404):
                wrong.append(f"{method} {path} as {role.value}: {status} (lacks {declared})")
        if method == "POST":
            # A session without the CSRF token: refused before anything happens.
            client.cookies.clear()
            client.cookies.set(cookie_name, sessions[Role.admin][0])
            status = _request(client, method, path, None).status_code
            if status != 403:
                wrong.append(f"{method} {path} without CSRF token: {status}")
    assert wrong == []
    assert checked >= 50 * len(Role)


def test_logout_needs_a_session_and_its_csrf_token(client: TestClient, db: Session) -> None:
    csrf = login_as(client, db, make_staff(db, role=Role.agent))
    client.headers.pop("X-CSRF-Token", None)
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    done = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/login")
    # The session is gone: pages send the visitor to log in again.
    again = client.get("/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/login")


@pytest.mark.parametrize("role", [Role.agent, Role.admin])
def test_the_security_link_is_in_every_members_menu(
    client: TestClient, db: Session, role: Role, backend: str
) -> None:
    login_as(client, db, make_staff(db, role=role))
    home = client.get("/")
    assert 'href="/account/security"' in home.text
    assert ('href="/staff"' in home.text) is (P.staff_read in ROLE_PERMISSIONS[role])
