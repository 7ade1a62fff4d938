"""The console's policies pages over HTTP: the catalog, a policy, one of its versions, a diff
between two versions; who may read them; what a bad address answers."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from tests.policies.helpers import SYSTEM, policy
from vigil.auth.permissions import ROLE_PERMISSIONS, Permission, Role
from vigil.auth.principal import Principal
from vigil.policies import service
from vigil.policies.pack import load_pack

CODE = "off_platform_payment"
PORTFOLIO = {
    "title": "Sharing a portfolio link",
    "guidance": "Allowed when the page shows work only, with no prices or checkout.",
}
VISIT = {
    "title": "A phone number for an on-site visit",
    "guidance": "Allowed for access & timing of an order paid on the platform.",
}


def _three_versions(db: Session) -> None:
    """v1 without grey areas; v2 adds one and rewords the guidance; v3 adds another and a
    ladder step."""
    service.create_policy(db, SYSTEM, policy(), change_reason="first draft")
    lead = Principal.system("Pat Lead")
    service.update_policy(
        db,
        lead,
        CODE,
        {
            "grey_areas": [PORTFOLIO],
            "guidance": "Read the whole conversation. Contact details alone are never enough.",
        },
        change_reason="portfolio links keep coming up",
    )
    steps = [*policy()["ladder"], {"strikes": 6, "action": "ban", "scope": "account"}]
    steps[3] = {"strikes": 5, "action": "suspend", "scope": "account", "duration_days": 30}
    service.update_policy(
        db,
        lead,
        CODE,
        {"grey_areas": [PORTFOLIO, VISIT], "ladder": steps},
        change_reason="on-site visits; a longer ladder",
    )
    db.commit()


@pytest.fixture
def lead(client: TestClient, db: Session) -> TestClient:
    login_as(client, db, make_staff(db, role=Role.policy_lead, name="Pat Lead"))
    db.rollback()
    client.headers["accept"] = "text/html"  # as a browser asks: errors come back as pages
    return client


def test_the_catalog_lists_policies_in_use_and_on_request_the_retired(
    lead: TestClient, db: Session
) -> None:
    load_pack(db, SYSTEM)
    service.retire_policy(db, SYSTEM, "spam", reason="folded into fee circumvention")
    db.commit()
    page = lead.get("/policies")
    assert page.status_code == 200
    assert (
        '<a href="/policies/fee_circumvention">Fee circumvention and off-platform payment</a>'
        in (page.text)
    )
    assert "/policies/spam" not in page.text
    assert page.text.count('<span class="chip ok">in use</span>') == 15
    everything = lead.get("/policies?retired=1")
    assert '<a href="/policies/spam">' in everything.text
    assert everything.text.count('<span class="chip bad">retired</span>') == 1
    # The nav links to it for a role that may read policies.
    assert '<a href="/policies">Policies</a>' in page.text


def test_a_policy_page_shows_guidance_grey_areas_ladder_user_texts_and_dsa_fields(
    lead: TestClient, db: Session
) -> None:
    load_pack(db, SYSTEM)
    db.commit()
    page = lead.get("/policies/fee_circumvention")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Fee circumvention and off-platform payment</h1>" in text
    assert "Read the whole conversation, not only the flagged message." in text
    assert '<section class="panel" aria-labelledby="grey-title" id="grey-areas">' in text
    assert "<dt>Sharing a portfolio link</dt>" in text
    assert "<dt>Asking for a phone number to coordinate an on-site visit</dt>" in text
    assert 'Grey areas <span class="muted">(4)</span>' in text
    # examples, ladder, actions
    assert "A listing that shows a PayPal.me link or an IBAN" in text
    assert re.search(
        r'<td class="num">3</td><td>suspend</td><td>account</td><td class="num">7 days</td>', text
    )
    assert '<span class="chip">restrict</span>' in text
    # what the user reads, per language, marked with its language
    assert '<p lang="es"><strong>Pagos fuera de la plataforma</strong></p>' in text
    assert '<p lang="pt"><strong>Pagamentos fora da plataforma</strong></p>' in text
    assert "Terms clause: Nuestros Términos del Servicio, sección 7.1" in text
    # DSA fields
    assert "STATEMENT_CATEGORY_OTHER_VIOLATION_TC" in text
    assert "Incompatible with the terms" in text
    assert "Terms of Service, section 7.1" in text
    # one version so far: nothing to compare
    assert "Only one version so far." in text


def test_versions_history_and_an_older_version(lead: TestClient, db: Session) -> None:
    _three_versions(db)
    current = lead.get(f"/policies/{CODE}")
    assert current.status_code == 200
    assert "<dt>A phone number for an on-site visit</dt>" in current.text
    assert "access &amp; timing" in current.text  # escaped, never raw
    history = current.text[current.text.index('id="history-title"') :]
    assert history.index("v3") < history.index("v2") < history.index("v1")
    assert "portfolio links keep coming up" in history and "Pat Lead" in history
    assert f'href="/policies/{CODE}/diff?from=2&amp;to=3"' in history

    first = lead.get(f"/policies/{CODE}/versions/1")
    assert first.status_code == 200
    assert "You are reading version 1" in first.text
    assert "This version names no grey areas." in first.text
    assert "Contact details alone are not a violation." in first.text
    assert f'href="/policies/{CODE}/diff?from=1&amp;to=3"' in first.text


def test_a_diff_shows_what_changed_word_by_word(lead: TestClient, db: Session) -> None:
    _three_versions(db)
    diff = lead.get(f"/policies/{CODE}/diff?from=1&to=2")
    assert diff.status_code == 200
    text = diff.text
    assert "2 fields changed" in text
    assert '<h3 id="diff-guidance">Guidance for reviewers</h3>' in text
    assert '<del><span class="skip-label">removed: </span>not a violation.</del>' in text
    assert '<ins><span class="skip-label">added: </span>never enough.</ins>' in text
    assert "<strong>Sharing a portfolio link</strong>" in text and "diff-added" in text
    assert "Ladder" not in text.split('id="changes-title"')[1].split("</section>")[0]

    default = lead.get(f"/policies/{CODE}/diff")  # the current version against the one before
    assert "v2 → v3" in default.text
    assert '<h3 id="diff-ladder">Ladder</h3>' in default.text
    assert "<ins>6 strikes: ban account</ins>" in default.text
    assert "<del>4 strikes: ban account</del>" in default.text
    assert '<li class="diff-same wrap">1 strike: warn account</li>' in default.text

    backwards = lead.get(f"/policies/{CODE}/diff?from=3&to=1")
    assert backwards.status_code == 200 and "v3 → v1" in backwards.text
    same = lead.get(f"/policies/{CODE}/diff?from=2&to=v2")
    assert "That is the same version twice" in same.text


@pytest.mark.parametrize(
    "path",
    [
        "/policies/no_such_policy",
        f"/policies/{CODE}/versions/4",
        f"/policies/{CODE}/versions/0",
        f"/policies/{CODE}/versions/abc",
        f"/policies/{CODE}/versions/99999999999999999999",
        f"/policies/{CODE}/diff?from=1&to=9",
        f"/policies/{CODE}/diff?from=x&to=2",
        f"/policies/{CODE}/diff?from=-1",
        "/policies/" + "a" * 65,
    ],
)
def test_unknown_policies_and_versions_are_404_pages(
    lead: TestClient, db: Session, path: str
) -> None:
    _three_versions(db)
    response = lead.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not found" in response.text


def test_a_bad_cursor_is_refused_calmly(lead: TestClient, db: Session) -> None:
    _three_versions(db)
    response = lead.get("/policies?cursor=garbage")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")


def test_every_role_reads_policies_and_a_role_without_the_permission_gets_403(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _three_versions(db)
    client.headers["accept"] = "text/html"
    for role in Role:  # every shipped role reads the catalog (reviewers apply it)
        login_as(client, db, make_staff(db, role=role))
        db.rollback()
        assert client.get(f"/policies/{CODE}").status_code == 200, role
    # A deployment that narrows a role: the pages refuse it, with a page, not a stack trace.
    narrowed = ROLE_PERMISSIONS[Role.qa] - {Permission.policies_read}
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.qa, narrowed)
    login_as(client, db, make_staff(db, role=Role.qa))
    db.rollback()
    for path in ("/policies", f"/policies/{CODE}", f"/policies/{CODE}/versions/1",
                 f"/policies/{CODE}/diff"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Not allowed" in response.text and "policies:read" in response.text
    assert '<a href="/policies">Policies</a>' not in client.get("/").text


def test_logged_out_readers_are_sent_to_the_login_page(client: TestClient, db: Session) -> None:
    _three_versions(db)
    response = client.get(f"/policies/{CODE}", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/login")
