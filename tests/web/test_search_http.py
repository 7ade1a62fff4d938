"""The search pages over HTTP, on SQLite and PostgreSQL: every criterion, permissions,
masking, the audit of searches by personal data, and bad input (422, nothing written)."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from tests.web.conftest import SYSTEM, seed_case
from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.accounts.schemas import AccountUpsert
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role, Tier
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseType, Resolution
from vigil.config import Settings
from vigil.identity import service as identity
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind
from vigil.kit import clock
from vigil.policies.models import Policy
from vigil.policies.pack import load_pack
from vigil.web import search as search_view

BORN = date(1988, 4, 5)
HTML = {"accept": "text/html"}


@dataclass
class World:
    agent: StaffUser
    maria: Account  # u-100: maria@example.com, +34600111222, device dev-abc
    pablo: Account  # u-200: a document identifier and a verified document; a legal case
    report: int  # María's user report (open, tier 1, routed by type)
    scam: int  # Pablo's detection case under fraud_scams, opened 2026-11-02, held by the agent
    old: int  # Pablo's account review, opened 2026-10-15, closed
    legal: int  # Pablo's legal-tier case
    fingerprint: str


def _case(db: Session, account: Account, title: str, **spec: Any) -> int:
    made = cases.create_case(db, SYSTEM, cases.NewCase(title=title, account_id=account.id, **spec))
    return made.case.id


@pytest.fixture
def world(db: Session, settings: Settings) -> World:
    email, report = seed_case(db)
    agent = db.scalar(select(StaffUser).where(StaffUser.email == email))
    assert agent is not None
    if db.scalar(select(func.count()).select_from(Policy)) == 0:
        load_pack(db, SYSTEM)
    maria = db.scalar(select(Account).where(Account.external_id == "u-100"))
    assert maria is not None
    pablo, _ = accounts.upsert_account(
        db, SYSTEM, "u-200",
        AccountUpsert.model_validate({
            "side": "client", "display_name": "Pablo R.", "legal_name": "Pablo Romero",
            "email": "pablo.romero@example.org", "country": "MX",
            "identifiers": [{"kind": "document", "value": "MX:ROMP880405"},
                            {"kind": "device", "value": "dev-pablo"}],
        }),
    )  # fmt: skip
    fingerprint = identity.fingerprint(
        identity.blob_store(settings), number="G12345678", issuer="MX", birth_date=BORN
    )
    db.add(
        IdentityVerification(
            account_id=pablo.id, kind=DocumentKind.passport, issuing_country="MEX",
            request_sha256="0" * 64, submitted_by="test", document_fingerprint=fingerprint,
        )
    )  # fmt: skip
    with clock.frozen(datetime(2026, 10, 15, 12, tzinfo=UTC)):
        old = _case(db, pablo, "Old account review", type=CaseType.account_review)
        cases.close(db, SYSTEM, old, resolution=Resolution.no_violation, note="fine")
    with clock.frozen(datetime(2026, 11, 2, 12, tzinfo=UTC)):
        scam = _case(db, pablo, "Card testing pattern", type=CaseType.detection,
                     policy_code="fraud_scams")  # fmt: skip
        cases.assign(db, auth_service.principal_for(agent), scam)
    legal = _case(db, pablo, "Court order about Pablo", type=CaseType.account_review,
                  tier=Tier.legal)  # fmt: skip
    db.commit()
    return World(agent, maria, pablo, report, scam, old, legal, str(fingerprint))


def _audit(db: Session, action: str = "accounts.account.list") -> list[AuditRecord]:
    db.expire_all()
    rows = list(db.scalars(select(AuditRecord).where(AuditRecord.action == action)))
    db.rollback()  # SQLite: an open read would hold up the app's writes
    return rows


def _all_audit(db: Session) -> int:
    db.expire_all()
    count = int(db.scalar(select(func.count()).select_from(AuditRecord)) or 0)
    db.rollback()
    return count


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _error(text: str, field: str) -> str:
    found = re.search(rf'id="err-{field}"[^>]*><p>([^<]*)</p>', text)
    assert found, f"no error shown next to {field}"
    return html.unescape(found.group(1))


def _case_ids(text: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td class="wrap"><a href="/cases/(\d+)">#', text)]


# --- access --------------------------------------------------------------------------------------


def test_search_needs_a_login(client: TestClient, db: Session) -> None:
    response = client.get("/search?q=maria%40example.com", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/search")


def test_the_empty_page_offers_every_form(client: TestClient, db: Session, world: World) -> None:
    login_as(client, db, world.agent)
    page = client.get("/search")
    assert page.status_code == 200
    fields = ["find-q", "acc-by", "acc-value", "acc-country", "acc-birth", "case-queue",
              "case-assignee", "case-policy", "case-type", "case-from", "case-to"]  # fmt: skip
    for field in fields:
        assert f'id="{field}"' in page.text
        assert f'<label for="{field}"' in page.text
    assert page.text.count('name="status"') == 4
    assert '<option value="fraud_scams"' in page.text
    # An agent is not offered the legal queue.
    assert "Legal" not in re.search(r'id="case-queue".*?</select>', page.text, re.S).group(0)  # type: ignore[union-attr]


# --- the smart search ---------------------------------------------------------------------------


def test_a_case_number_opens_the_case(client: TestClient, db: Session, world: World) -> None:
    login_as(client, db, world.agent)
    for q in (f"#{world.report}", f"# {world.report}", str(world.report)):
        response = client.get("/search", params={"q": q}, follow_redirects=False)
        assert response.status_code == 303, q
        assert response.headers["location"] == f"/cases/{world.report}"


def test_a_legal_case_number_is_not_admitted_to_exist(
    client: TestClient, db: Session, world: World
) -> None:
    login_as(client, db, world.agent)
    page = client.get("/search", params={"q": f"#{world.legal}"})
    assert page.status_code == 200
    assert f"There is no case #{world.legal} that you can see." in page.text
    assert "Court order" not in page.text
    bare = client.get("/search", params={"q": str(world.legal)}, follow_redirects=False)
    assert bare.status_code == 200
    assert f"There is no case #{world.legal} that you can see." in bare.text
    assert _case_ids(bare.text) == []
    lawyer = make_staff(db, role=Role.legal)
    login_as(client, db, lawyer)
    response = client.get("/search", params={"q": f"#{world.legal}"}, follow_redirects=False)
    assert response.headers["location"] == f"/cases/{world.legal}"


def test_a_bad_case_number_is_refused_next_to_the_box(
    client: TestClient, db: Session, world: World
) -> None:
    login_as(client, db, world.agent)
    before = _all_audit(db)
    page = client.get("/search", params={"q": "#12a"}, headers=HTML)
    assert page.status_code == 422
    assert _error(page.text, "q") == "a case number is # followed by digits, such as #123"
    assert 'aria-invalid="true" aria-describedby="err-q"' in page.text
    assert 'value="#12a"' in page.text
    assert _all_audit(db) == before


def test_an_email_finds_the_account_masked_and_audited(
    client: TestClient, db: Session, world: World
) -> None:
    login_as(client, db, world.agent)
    page = client.get("/search", params={"q": " Maria@Example.com "})
    assert page.status_code == 200
    assert "by email" in page.text
    assert "m***a@example.com" in page.text
    assert "+34*******22" in page.text
    assert "maria@example.com" not in page.text.replace('value="Maria@Example.com"', "")
    assert "+34600111222" not in page.text
    assert f'href="/cases/{world.report}"' in page.text  # the account's latest case
    (record,) = _audit(db)
    assert record.data["search_sha256"] == {"email": _sha("maria@example.com")}
    assert record.data["account_ids"] == [world.maria.id]
    assert "maria" not in str(record.data)


def test_a_phone_finds_the_account(client: TestClient, db: Session, world: World) -> None:
    login_as(client, db, world.agent)
    page = client.get("/search", params={"q": "+34 600 111 222"})
    assert page.status_code == 200
    assert "by phone" in page.text and "u-100" in page.text and "u-200" not in page.text
    (record,) = _audit(db)
    assert record.data["filters"] == ["phone"]


def test_a_word_is_a_marketplace_id_a_device_or_a_name(
    client: TestClient, db: Session, world: World
) -> None:
    login_as(client, db, world.agent)
    assert "u-200" in client.get("/search", params={"q": "u-200"}).text
    by_device = client.get("/search", params={"q": "dev-abc"}).text
    assert "u-100" in by_device and "u-200" not in by_device
    by_name = client.get("/search", params={"q": "romero"}).text
    assert "u-200" in by_name and "u-100" not in by_name
    # Each word is looked up as an id or a device, then (with pii:reveal) as a name.
    records = _audit(db)
    assert [r.data["filters"] for r in records] == [["external_id", "device"], ["q"]] * 3


def test_a_number_that_is_also_a_marketplace_id_lists_both(
    client: TestClient, db: Session, world: World
) -> None:
    accounts.upsert_account(
        db, SYSTEM, str(world.scam), AccountUpsert.model_validate({"side": "pro"})
    )
    db.commit()
    login_as(client, db, world.agent)
    page = client.get("/search", params={"q": str(world.scam)})
    assert page.status_code == 200
    assert _case_ids(page.text) == [world.scam]
    assert "Card testing pattern" in page.text
    assert '<span class="search-id">' + str(world.scam) in page.text
    assert len(_audit(db, "cases.case.view")) == 1  # the title shown is a view of the case


def test_a_fingerprint_finds_the_verified_account(
    client: TestClient, db: Session, world: World
) -> None:
    login_as(client, db, world.agent)
    page = client.get("/search", params={"q": world.fingerprint.upper()})
    assert "by document fingerprint" in page.text
    assert "u-200" in page.text and "u-100" not in page.text


def test_without_pii_reveal_names_emails_and_phones_are_not_searched(
    client: TestClient, db: Session, world: World
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    login_as(client, db, lead)
    by_word = client.get("/search", params={"q": "romero"})
    assert by_word.status_code == 200
    assert "Names were not searched" in by_word.text
    assert "u-200" not in by_word.text
    by_device = client.get("/search", params={"q": "dev-pablo"})
    assert "u-200" in by_device.text
    before = _all_audit(db)
    by_email = client.get("/search", params={"q": "maria@example.com"}, headers=HTML)
    assert by_email.status_code == 403
    assert "pii:reveal" in _error(by_email.text, "q")
    assert "u-100" not in by_email.text
    assert _all_audit(db) == before


# --- accounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "value", "expected", "filters"),
    [
        ("external_id", "u-100", ["u-100"], ["external_id"]),
        ("email", "PABLO.romero@example.org", ["u-200"], ["email"]),
        ("phone", "+34-600-111-222", ["u-100"], ["phone"]),
        ("name", "gonz", ["u-100"], ["q"]),
        ("device", "dev-pablo", ["u-200"], ["device"]),
    ],
)
def test_accounts_by_each_criterion(
    client: TestClient,
    db: Session,
    world: World,
    by: str,
    value: str,
    expected: list[str],
    filters: list[str],
) -> None:
    login_as(client, db, world.agent)
    page = client.get("/search/accounts", params={"by": by, "value": value})
    assert page.status_code == 200
    found = re.findall(r'<span class="search-id">([^<]+)</span>', page.text)
    assert found == expected
    (record,) = _audit(db)
    assert record.data["filters"] == filters
    assert value.lower() not in str(record.data).lower()


def test_accounts_by_document_number_or_fingerprint(
    client: TestClient, db: Session, world: World
) -> None:
    login_as(client, db, world.agent)

    def found(**params: str) -> list[str]:
        page = client.get("/search/accounts", params={"by": "document", **params})
        assert page.status_code == 200, page.text
        return re.findall(r'<span class="search-id">([^<]+)</span>', page.text)

    # The identifier the marketplace sent (no birth date needed).
    assert found(value="romp-880405", document_country="MX") == ["u-200"]
    # The verified passport: its number, its MRZ issuer and the birth date printed on it.
    assert found(value="G12345678", document_country="MEX", birth_date=BORN.isoformat()) == [
        "u-200"
    ]
    assert found(value="G12345678", document_country="MX") == []
    assert found(value=world.fingerprint) == ["u-200"]
    records = _audit(db)
    assert [r.data["filters"] for r in records] == [
        ["document"], ["birth_date", "document"], ["document"], ["fingerprint"],
    ]  # fmt: skip
    assert "G12345678" not in str([r.data for r in records])


def test_account_rows_show_status_open_cases_and_the_latest_visible_case(
    client: TestClient, db: Session, world: World
) -> None:
    login_as(client, db, world.agent)
    page = client.get("/search/accounts", params={"by": "external_id", "value": "u-200"})
    row = re.search(r"<tbody>(.*?)</tbody>", page.text, re.S).group(1)  # type: ignore[union-attr]
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]
    # Account, email (masked), phone, side, status, country, open cases, latest case.
    assert cells[1] == "p***o@example.org"
    assert cells[3:7] == ["client", "active", "MX", "1"]  # the legal case is not counted
    assert cells[7] == f"#{world.scam}"  # the legal case is newer but invisible
    lawyer = make_staff(db, role=Role.legal)
    login_as(client, db, lawyer)
    page = client.get("/search/accounts", params={"by": "external_id", "value": "u-200"})
    assert f'href="/cases/{world.legal}"' in page.text


def test_account_searches_page_with_a_cursor(
    client: TestClient, db: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        accounts.upsert_account(db, SYSTEM, f"ring-{n}", AccountUpsert.model_validate(
            {"side": "pro", "identifiers": [{"kind": "device", "value": "dev-ring"}]}))  # fmt: skip
    db.commit()
    monkeypatch.setattr(search_view, "PAGE_SIZE", 2)
    login_as(client, db, world.agent)
    first = client.get("/search/accounts", params={"by": "device", "value": "dev-ring"})
    assert re.findall(r'<span class="search-id">([^<]+)</span>', first.text) == ["ring-0", "ring-1"]
    more = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert more is not None
    second = client.get(more.group(1).replace("&amp;", "&"))
    assert re.findall(r'<span class="search-id">([^<]+)</span>', second.text) == ["ring-2"]
    assert 'rel="next"' not in second.text


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"by": "email", "value": "not-an-email"}, "value", "not an email address"),
        ({"by": "phone", "value": "600 111"}, "value", "not a phone number"),
        ({"by": "device", "value": ""}, "value", "enter the device id"),
        ({"by": "shoe size", "value": "42"}, "by", "choose what to search by"),
        ({"by": "document", "value": "X1234567"}, "document_country", "give the issuing country"),
        ({"by": "document", "value": "X1234567", "document_country": "Spain"}, "document_country",
         "two-letter code"),
        ({"by": "document", "value": "X1234567", "document_country": "ES",
          "birth_date": "5/4/1988"}, "birth_date", "YYYY-MM-DD"),
        ({"by": "document", "value": "x", "document_country": "ES"}, "value", "3 to 40"),
        ({"by": "device", "value": "dev-abc", "cursor": "garbage"}, "cursor",
         "cursor is not valid"),
    ],
)  # fmt: skip
def test_bad_account_searches_are_refused_next_to_the_field(
    client: TestClient,
    db: Session,
    world: World,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    login_as(client, db, world.agent)
    before = _all_audit(db)
    page = client.get("/search/accounts", params=params, headers=HTML)
    assert page.status_code == 422
    assert message in _error(page.text, field)
    assert "Nothing was searched" in page.text
    assert _all_audit(db) == before


def test_a_policy_lead_cannot_search_accounts_by_personal_data(
    client: TestClient, db: Session, world: World
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    login_as(client, db, lead)
    before = _all_audit(db)
    for by, value in (("email", "maria@example.com"), ("name", "maria"),
                      ("phone", "+34600111222")):  # fmt: skip
        page = client.get("/search/accounts", params={"by": by, "value": value}, headers=HTML)
        assert page.status_code == 403, by
        assert "pii:reveal" in _error(page.text, "value")
    page = client.get(
        "/search/accounts",
        params={"by": "document", "value": "G12345678", "document_country": "MX"},
        headers=HTML,
    )
    assert page.status_code == 403
    assert _all_audit(db) == before
    assert (
        client.get("/search/accounts", params={"by": "device", "value": "dev-abc"}).status_code
        == 200
    )


# --- cases ---------------------------------------------------------------------------------------


def test_cases_newest_first_without_the_legal_tier(
    client: TestClient, db: Session, world: World
) -> None:
    login_as(client, db, world.agent)
    page = client.get("/search/cases")
    assert page.status_code == 200
    assert _case_ids(page.text) == sorted([world.report, world.scam, world.old], reverse=True)
    lawyer = make_staff(db, role=Role.legal)
    login_as(client, db, lawyer)
    assert world.legal in _case_ids(client.get("/search/cases").text)


def test_cases_by_each_criterion(client: TestClient, db: Session, world: World) -> None:
    login_as(client, db, world.agent)
    scam = db.get(Case, world.scam)
    assert scam is not None
    queue_id, agent_id, agent_name = scam.queue_id, world.agent.id, world.agent.name
    db.rollback()  # SQLite: an open read would hold up the app's writes

    def ids(**params: Any) -> list[int]:
        page = client.get("/search/cases", params=params)
        assert page.status_code == 200, page.text
        return _case_ids(page.text)

    assert ids(status="closed") == [world.old]
    assert ids(status=["open", "assigned"]) == sorted([world.report, world.scam], reverse=True)
    assert world.scam in ids(queue=str(queue_id))
    assert ids(assignee="me") == [world.scam]
    assert ids(assignee=str(agent_id)) == [world.scam]
    assert ids(policy="fraud_scams") == [world.scam]
    assert ids(type="user_report") == [world.report]
    assert ids(created_from="2026-10-01", created_to="2026-11-02") == [world.scam, world.old]
    assert ids(created_from="2026-10-16", created_to="2026-11-01") == []
    assert ids(type="detection", status="assigned", policy="fraud_scams") == [world.scam]
    page = client.get("/search/cases", params={"assignee": "me"})
    assert "Card testing pattern" in page.text and agent_name in page.text
    assert 'name="status" value="assigned" checked' not in page.text
    assert '<option value="me" selected>' in page.text


def test_case_searches_page_newest_first_with_a_cursor(
    client: TestClient, db: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_view, "PAGE_SIZE", 2)
    login_as(client, db, world.agent)
    first = client.get("/search/cases", params={"status": ["open", "assigned", "closed"]})
    assert _case_ids(first.text) == [world.scam, world.old]
    more = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert more is not None
    link = more.group(1).replace("&amp;", "&")
    assert link.count("status=") == 3
    second = client.get(link)
    assert _case_ids(second.text) == [world.report]
    assert 'rel="next"' not in second.text


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"status": "pending"}, "status", "there is no case status 'pending'"),
        ({"queue": "abc"}, "queue", "choose a queue from the list"),
        ({"queue": "999999"}, "queue", "there is no such queue"),
        ({"queue": str(2**64)}, "queue", "choose a queue from the list"),
        ({"assignee": "someone"}, "assignee", "choose a person from the list"),
        ({"assignee": "999999"}, "assignee", "there is no such staff member"),
        ({"policy": "no_such_policy"}, "policy", "there is no policy 'no_such_policy'"),
        ({"type": "complaint"}, "type", "there is no case type 'complaint'"),
        ({"created_from": "2026-13-01"}, "created_from", "give a date as YYYY-MM-DD"),
        ({"created_to": "yesterday"}, "created_to", "give a date as YYYY-MM-DD"),
        ({"created_from": "2026-11-02", "created_to": "2026-11-01"}, "created_to",
         "the end date is before the start date"),
        ({"cursor": "!!"}, "cursor", "cursor is not valid"),
    ],
)  # fmt: skip
def test_bad_case_searches_are_refused_next_to_the_field(
    client: TestClient,
    db: Session,
    world: World,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    login_as(client, db, world.agent)
    before = _all_audit(db)
    page = client.get("/search/cases", params=params, headers=HTML)
    assert page.status_code == 422
    assert _error(page.text, field) == message
    assert "Nothing was searched" in page.text
    assert _case_ids(page.text) == []
    assert _all_audit(db) == before


def test_an_agent_cannot_filter_by_the_legal_queue(
    client: TestClient, db: Session, world: World
) -> None:
    legal_case = db.get(Case, world.legal)
    assert legal_case is not None
    queue_id = legal_case.queue_id
    db.rollback()
    login_as(client, db, world.agent)
    page = client.get("/search/cases", params={"queue": str(queue_id)}, headers=HTML)
    assert page.status_code == 422
    assert _error(page.text, "queue") == "there is no such queue"
    lawyer = make_staff(db, role=Role.legal)
    login_as(client, db, lawyer)
    assert _case_ids(client.get("/search/cases", params={"queue": str(queue_id)}).text) == [
        world.legal
    ]


def test_a_quoted_reference_opens_what_it_names(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    from tests.disputes.conftest import MARKETPLACE, spec
    from tests.disputes.conftest import make_account as party
    from vigil.disputes import service as disputes

    dispute = disputes.open_dispute(
        db, MARKETPLACE, spec(party(db, "client"), party(db, "freelancer")), settings=settings
    )
    db.commit()
    login_as(client, db, world.agent)
    for q, where in (
        (f"C-{world.report}", f"/cases/{world.report}"),
        (f"c-{world.report}", f"/cases/{world.report}"),
        (f"D-{dispute.id}", f"/disputes/{dispute.id}"),
    ):
        response = client.get("/search", params={"q": q}, follow_redirects=False)
        assert (response.status_code, response.headers.get("location")) == (303, where), q
    # What the agent may not see, or what does not exist, is not admitted to exist.
    for q in (f"C-{world.legal}", "A-999999", "D-999999", "SOR-999999"):
        page = client.get("/search", params={"q": q})
        assert page.status_code == 200, q
        assert f"There is no {q.upper()} that you can see." in page.text
        assert "Court order" not in page.text
