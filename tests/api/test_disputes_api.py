"""The disputes API's refusals, views and lists. Every refusal is checked to leave nothing
behind (no dispute, submission, proposal, event, message, webhook, job or audit record)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.disputes.conftest import MARKETPLACE, SYSTEM, counts, make_account, mediator, spec
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.accounts.models import Account
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.config import Settings
from vigil.disputes import service
from vigil.disputes.models import PUBLIC_EVENT_KINDS, Dispute, Outcome
from vigil.disputes.schemas import ProposalIn, SubmissionIn
from vigil.kit.clock import FrozenClock


class World:
    def __init__(self, db: Session, settings: Settings) -> None:
        routing.ensure_default_queues(db)
        self.buyer: Account = make_account(db, "client", locale="en")
        self.seller: Account = make_account(db, "freelancer", locale="es")
        self.stranger: Account = make_account(db, "client")
        self.dispute: Dispute = service.open_dispute(
            db, MARKETPLACE, spec(self.buyer, self.seller), settings=settings
        )
        self.agent: StaffUser = make_staff(db, role=Role.agent)
        _key, secret = make_api_key(db)
        self.key = auth_header(secret)
        self.db, self.settings = db, settings

    def respond(self) -> None:
        service.submit(
            self.db,
            MARKETPLACE,
            self.dispute.id,
            self.seller.external_id,
            SubmissionIn(statement="Delivered on time."),
            settings=self.settings,
        )

    def assign(self) -> None:
        cases.assign(self.db, SYSTEM, self.dispute.case_id, staff_id=self.agent.id)


@pytest.fixture
def world(db: Session, settings: Settings, frozen: FrozenClock) -> World:
    w = World(db, settings)
    db.commit()
    return w


def url(w: World, tail: str = "") -> str:
    return f"/v1/disputes/{w.dispute.id}{tail}"


def test_a_stranger_cannot_submit(client: TestClient, db: Session, world: World) -> None:
    before = counts(db)
    r = client.post(
        url(world, "/submissions"),
        headers=world.key,
        json={"party_external_id": world.stranger.external_id, "statement": "me too"},
    )
    assert r.status_code == 403
    assert (r.json()["code"], r.json()["field"]) == ("not_a_party", "party")
    r = client.post(
        url(world, "/submissions"),
        headers=world.key,
        json={"party_external_id": "no-such-account", "statement": "me too"},
    )
    assert (r.status_code, r.json()["code"]) == (403, "not_a_party")
    assert counts(db) == before


@pytest.mark.parametrize(
    ("money", "code", "field"),
    [
        ({"amount": "10.00", "currency": "ABC"}, "unknown_currency", "currency"),
        ({"amount": "10.001", "currency": "USD"}, "too_many_decimals", "amount"),
        ({"amount": "1000.5", "currency": "JPY"}, "too_many_decimals", "amount"),
        ({"amount": "-5", "currency": "USD"}, "amount_not_positive", "amount"),
        ({"amount": "0.00", "currency": "USD"}, "amount_not_positive", "amount"),
        # Only a plain decimal: no exponent, no thousands separators, no decimal comma, so an
        # amount is never read as another number.
        ({"amount": "1e3", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "1E3", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "1e999998", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "1e-999999", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "2,500.00", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "2.500,00", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "30,50", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "2 500", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "abc", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": "NaN", "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": True, "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": None, "currency": "USD"}, "invalid_amount", "amount"),
        ({"amount": 1e22, "currency": "USD"}, "invalid_amount", "amount"),
    ],
)
def test_open_refuses_bad_money(
    client: TestClient, db: Session, world: World, money: dict[str, object], code: str, field: str
) -> None:
    before = counts(db)
    r = client.post(
        "/v1/disputes",
        headers=world.key,
        json={
            "subject_type": "contract",
            "subject_ref": "c-1",
            "buyer_external_id": world.buyer.external_id,
            "seller_external_id": world.seller.external_id,
            "opened_by": "seller",
            "reason_code": "payment_not_received",
            "amount": money,
        },
    )
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["field"]) == (code, field)
    assert counts(db) == before


def _open_body(world: World, amount_json: str) -> str:
    """A request body written by hand, so a JSON number keeps the way it was written."""
    return (
        '{"subject_type": "contract", "subject_ref": "c-raw", '
        f'"buyer_external_id": "{world.buyer.external_id}", '
        f'"seller_external_id": "{world.seller.external_id}", '
        '"opened_by": "seller", "reason_code": "payment_not_received", '
        f'"amount": {{"amount": {amount_json}, "currency": "USD"}}}}'
    )


@pytest.mark.parametrize("number", ["1e3", "1E3", "1000e0", "1.5e2"])
def test_open_refuses_a_json_number_with_an_exponent(
    client: TestClient, db: Session, world: World, number: str
) -> None:
    before = counts(db)
    r = client.post(
        "/v1/disputes",
        headers={**world.key, "Content-Type": "application/json"},
        content=_open_body(world, number),
    )
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["field"]) == ("invalid_amount", "amount")
    assert "no exponent" in r.json()["message"]
    assert counts(db) == before


@pytest.mark.parametrize(
    ("written", "display"),
    [("1000", "USD 1000.00"), ("120.5", "USD 120.50"), ('"99.90"', "USD 99.90")],
)
def test_open_takes_a_plain_decimal_as_a_string_or_a_json_number(
    client: TestClient, world: World, written: str, display: str
) -> None:
    r = client.post(
        "/v1/disputes",
        headers={**world.key, "Content-Type": "application/json"},
        content=_open_body(world, written),
    )
    assert r.status_code == 201, r.text
    assert r.json()["amount"]["display"] == display


@pytest.mark.parametrize("amount", ["1e1", "10,00", "1.000,00", True])
def test_a_proposal_amount_must_be_a_plain_decimal(
    client: TestClient, db: Session, world: World, amount: object
) -> None:
    world.respond()
    world.assign()
    db.commit()
    login_as(client, db, world.agent)
    before = counts(db)
    r = client.post(
        url(world, "/proposals"),
        json={"outcome": "partial_refund", "amount": amount, "note": "Split."},
    )
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["field"]) == ("invalid_amount", "amount")
    assert counts(db) == before


def test_a_proposal_above_the_disputed_amount_is_refused(
    client: TestClient, db: Session, world: World
) -> None:
    world.respond()
    world.assign()
    db.commit()
    login_as(client, db, world.agent)
    before = counts(db)
    r = client.post(
        url(world, "/proposals"),
        json={"outcome": "partial_refund", "amount": "120.51", "note": "Too much."},
    )
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["field"]) == ("amount_exceeds_disputed", "amount")
    r = client.post(url(world, "/proposals"), json={"outcome": "partial_refund", "note": "n"})
    assert (r.status_code, r.json()["code"]) == (422, "amount_required")
    r = client.post(
        url(world, "/proposals"),
        json={"outcome": "partial_refund", "amount": "1e200000", "note": "Huge."},
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_amount")
    assert counts(db) == before


def test_a_mediator_who_does_not_hold_the_case_is_refused(
    client: TestClient, db: Session, world: World
) -> None:
    world.respond()
    db.commit()
    login_as(client, db, world.agent)
    before = counts(db)
    r = client.post(url(world, "/ruling"), json={"outcome": "release", "reason": "r"})
    assert (r.status_code, r.json()["code"]) == (403, "not_mediator")
    assert counts(db) == before


def test_answering_twice_and_answering_a_closed_proposal(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    world.respond()
    agent = mediator(db, world.dispute)
    first = service.propose(
        db,
        agent,
        world.dispute.id,
        ProposalIn(outcome=Outcome.release, note="Release it."),
        settings=settings,
    )
    db.commit()
    answer = {"party_external_id": world.seller.external_id, "accept": True}
    r = client.post(url(world, f"/proposals/{first.id}/answer"), headers=world.key, json=answer)
    assert r.status_code == 200, r.text
    before = counts(db)
    r = client.post(url(world, f"/proposals/{first.id}/answer"), headers=world.key, json=answer)
    assert (r.status_code, r.json()["code"]) == (409, "already_answered")
    assert counts(db) == before

    # A new proposal supersedes the first: answering the first is refused.
    service.propose(
        db,
        agent,
        world.dispute.id,
        ProposalIn(outcome=Outcome.no_action, note="Nothing changes."),
        settings=settings,
    )
    db.commit()
    before = counts(db)
    buyer_answer = {"party_external_id": world.buyer.external_id, "accept": True}
    r = client.post(
        url(world, f"/proposals/{first.id}/answer"), headers=world.key, json=buyer_answer
    )
    assert (r.status_code, r.json()["code"]) == (409, "proposal_closed")
    assert counts(db) == before


def test_a_proposal_past_its_deadline_is_closed_before_the_sweep(
    client: TestClient, db: Session, world: World, settings: Settings, frozen: FrozenClock
) -> None:
    world.respond()
    agent = mediator(db, world.dispute)
    p = service.propose(
        db,
        agent,
        world.dispute.id,
        ProposalIn(outcome=Outcome.release, note="Release it."),
        settings=settings,
    )
    db.commit()
    frozen.advance(timedelta(hours=settings.dispute_proposal_hours))
    before = counts(db)
    r = client.post(
        url(world, f"/proposals/{p.id}/answer"),
        headers=world.key,
        json={"party_external_id": world.buyer.external_id, "accept": True},
    )
    assert (r.status_code, r.json()["code"]) == (409, "proposal_closed")
    assert counts(db) == before


def test_a_resolved_dispute_takes_no_submissions(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    service.withdraw(
        db, MARKETPLACE, world.dispute.id, world.buyer.external_id, "Settled", settings=settings
    )
    db.commit()
    before = counts(db)
    r = client.post(
        url(world, "/submissions"),
        headers=world.key,
        json={"party_external_id": world.seller.external_id, "statement": "late"},
    )
    assert (r.status_code, r.json()["code"]) == (409, "dispute_resolved")
    r = client.post(
        url(world, "/files"),
        headers=world.key,
        data={"party_external_id": world.seller.external_id},
        files={"file": ("a.txt", b"hello", "text/plain")},
    )
    assert (r.status_code, r.json()["code"]) == (409, "dispute_resolved")
    assert counts(db) == before


def _blobs(settings: Settings) -> list[Path]:
    root = settings.blob_path
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_files_oversize_or_of_the_wrong_type_are_refused(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    before, blobs = counts(db), _blobs(settings)
    party = {"party_external_id": world.seller.external_id}
    big = b"%PDF-1.7\n" + b"0" * service.MAX_FILE_BYTES
    r = client.post(
        url(world, "/files"),
        headers=world.key,
        data=party,
        files={"file": ("big.pdf", big, "application/pdf")},
    )
    assert r.status_code == 413
    assert (r.json()["code"], r.json()["field"]) == ("file_too_large", "file")
    r = client.post(
        url(world, "/files"),
        headers=world.key,
        data=party,
        files={"file": ("x.exe", b"MZ\x90\x00\x03", "application/pdf")},
    )
    assert (r.status_code, r.json()["code"]) == (422, "unsupported_file_type")
    r = client.post(
        url(world, "/files"),
        headers=world.key,
        data=party,
        files={"file": ("x.pdf", b"%PDF-1.4 tiny", "image/png")},
    )
    assert (r.status_code, r.json()["code"]) == (422, "content_type_mismatch")
    assert counts(db) == before
    assert _blobs(settings) == blobs

    # A good file is sealed: the bytes on disk are not the file's.
    r = client.post(
        url(world, "/files"),
        headers=world.key,
        data=party,
        files={"file": ("receipt.pdf", b"%PDF-1.4 receipt", "application/pdf")},
    )
    assert r.status_code == 201, r.text
    (stored,) = set(_blobs(settings)) - set(blobs)
    assert b"receipt" not in stored.read_bytes()
    # The parties' files are for staff only.
    file_id = r.json()["id"]
    r = client.get(url(world, f"/files/{file_id}"), headers=world.key)
    assert (r.status_code, r.json()["code"]) == (403, "staff_only")


def test_the_parties_view_hides_what_is_internal(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    world.respond()
    agent = mediator(db, world.dispute)
    service.open_review(db, agent, world.dispute.id, "buyer", None, "Threats in the excerpts.")
    db.commit()
    public = client.get(url(world), headers=world.key).json()
    assert "case_id" not in public["dispute"] and "linked_reviews" not in public["dispute"]
    # That T&S opened an account review about a party is internal: not on the parties' timeline.
    assert "review_opened" not in [e["kind"] for e in public["timeline"]]
    assert {e["kind"] for e in public["timeline"]} <= {k.value for k in PUBLIC_EVENT_KINDS}
    assert {e["actor"] for e in public["timeline"]} <= {"buyer", "seller", "mediator", "system"}
    login_as(client, db, world.agent)
    staff = client.get(url(world)).json()
    assert staff["dispute"]["case_id"] == world.dispute.case_id
    assert [r["party"] for r in staff["dispute"]["linked_reviews"]] == ["buyer"]


def test_list_pages_by_keyset_and_filters(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    for _ in range(4):
        service.open_dispute(db, MARKETPLACE, spec(world.buyer, world.seller), settings=settings)
    db.commit()
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/disputes", headers=world.key, params=params).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    mine = client.get(
        "/v1/disputes",
        headers=world.key,
        params={"account_external_id": world.stranger.external_id},
    ).json()
    assert mine["items"] == []
    r = client.get("/v1/disputes", headers=world.key, params={"cursor": "nonsense"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")


def test_only_the_opener_withdraws(client: TestClient, db: Session, world: World) -> None:
    before = counts(db)
    r = client.post(
        url(world, "/withdraw"),
        headers=world.key,
        json={"party_external_id": world.seller.external_id, "reason": "not mine"},
    )
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (403, "not_opener", "party")
    assert counts(db) == before
    r = client.post(
        url(world, "/withdraw"),
        headers=world.key,
        json={"party_external_id": world.buyer.external_id, "reason": "We sorted it out."},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["outcome"], r.json()["payment_status"]) == (
        "resolved",
        "withdrawn",
        "released",
    )


def test_the_mediator_opens_a_linked_review_and_releases_a_redo(
    client: TestClient, db: Session, world: World
) -> None:
    world.respond()
    world.assign()
    db.commit()
    login_as(client, db, world.agent)
    r = client.post(
        url(world, "/reviews"),
        json={"party": "seller", "policy_code": None, "summary": "Off-platform payment asked."},
    )
    assert r.status_code == 201, r.text
    review = r.json()
    assert (review["type"], review["account_id"]) == ("account_review", world.seller.id)
    assert review["attributes"]["dispute_id"] == world.dispute.id
    r = client.post(url(world, "/ruling"), json={"outcome": "redo", "reason": "Redo the tiles."})
    assert (r.status_code, r.json()["payment_status"]) == (200, "held")
    r = client.post(url(world, "/release"), json={"note": "The buyer confirmed the redo."})
    assert (r.status_code, r.json()["payment_status"]) == (200, "released")
    r = client.post(url(world, "/release"), json={"note": "again"})
    assert (r.status_code, r.json()["code"]) == (409, "nothing_held")


def test_staff_routes_for_a_party_are_refused(
    client: TestClient, db: Session, world: World
) -> None:
    world.respond()
    world.assign()
    proposal = service.propose(
        db,
        auth_service.principal_for(world.agent),
        world.dispute.id,
        ProposalIn(outcome=Outcome.full_refund, note="Refund."),
        settings=world.settings,
    )
    admin = make_staff(db, role=Role.admin)
    db.commit()
    login_as(client, db, admin)
    before = counts(db)
    party = {"party_external_id": world.buyer.external_id}
    for tail, body in [
        ("/submissions", {**party, "statement": "As the buyer."}),
        (f"/proposals/{proposal.id}/answer", {**party, "accept": True}),
        ("/withdraw", {**party, "reason": "Done."}),
    ]:
        r = client.post(url(world, tail), json=body)
        assert (r.status_code, r.json()["code"]) == (403, "marketplace_only"), tail
    r = client.post(
        url(world, "/files"),
        data=party,
        files={"file": ("a.txt", b"hello", "text/plain")},
    )
    assert (r.status_code, r.json()["code"]) == (403, "marketplace_only")
    r = client.post(
        "/v1/disputes",
        json=spec(world.buyer, world.seller).model_dump(mode="json"),
    )
    assert (r.status_code, r.json()["code"]) == (403, "marketplace_only")
    assert counts(db) == before


def test_a_counter_open_by_the_other_party_is_a_conflict(
    client: TestClient, db: Session, world: World
) -> None:
    body = {
        "subject_type": world.dispute.subject_type.value,
        "subject_ref": world.dispute.subject_ref,
        "buyer_external_id": world.buyer.external_id,
        "seller_external_id": world.seller.external_id,
        "reason_code": "quality",
        "amount": {"amount": "120.50", "currency": "USD"},
    }
    before = counts(db)
    r = client.post(
        "/v1/disputes",
        headers=world.key,
        json={**body, "opened_by": "seller", "statement": "The buyer never paid."},
    )
    assert (r.status_code, r.json()["code"], r.json()["field"]) == (
        409,
        "dispute_exists",
        "subject_ref",
    )
    assert str(world.dispute.id) in r.json()["message"]
    assert counts(db) == before
    # The buyer's repeat of the same request is still a replay.
    r = client.post("/v1/disputes", headers=world.key, json={**body, "opened_by": "buyer"})
    assert (r.status_code, r.json()["id"]) == (200, world.dispute.id)
    assert r.headers["Idempotent-Replayed"] == "true"


def test_the_list_reads_each_row_right_without_a_query_per_row(
    client: TestClient, db: Session, world: World, settings: Settings
) -> None:
    other_seller = make_account(db, "pro")
    second = service.open_dispute(
        db, MARKETPLACE, spec(world.stranger, other_seller), settings=settings
    )
    world.respond()
    world.assign()
    agent = auth_service.principal_for(world.agent)
    proposal = service.propose(
        db,
        agent,
        world.dispute.id,
        ProposalIn(outcome=Outcome.release, note="Delivered."),
        settings=settings,
    )
    service.open_review(db, agent, world.dispute.id, "seller", None, "Asked to pay off-platform.")
    db.commit()
    items = {d["id"]: d for d in client.get("/v1/disputes", headers=world.key).json()["items"]}
    assert items[world.dispute.id]["seller_external_id"] == world.seller.external_id
    assert items[world.dispute.id]["open_proposal"]["id"] == proposal.id
    assert items[second.id]["buyer_external_id"] == world.stranger.external_id
    assert items[second.id]["open_proposal"] is None
    assert "linked_reviews" not in items[world.dispute.id]
    login_as(client, db, world.agent)
    staff = {d["id"]: d for d in client.get("/v1/disputes").json()["items"]}
    assert [r["party"] for r in staff[world.dispute.id]["linked_reviews"]] == ["seller"]
