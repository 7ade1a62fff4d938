"""The disputes console (vigil.web.disputes) over HTTP, on both databases: the list, the
two-sided view, the mediator's forms and their refusals, the case page's panel.

A customer (Ana, buyer) disputes a cleaning job with a pro (Bruno, seller) for USD 120.00;
both give their side through the service the API calls.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from vigil.accounts import service as accounts
from vigil.accounts.schemas import AccountUpsert
from vigil.audit.models import AuditRecord
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.disputes import service as disputes
from vigil.disputes.models import (
    Dispute,
    DisputeProposal,
    DisputeReview,
    DisputeStatus,
    Outcome,
    ResolvedBy,
)
from vigil.disputes.schemas import OpenDispute, SubmissionIn
from vigil.integrations import service as integrations
from vigil.kit.clock import FrozenClock
from vigil.web import disputes as dispute_view

MARKETPLACE = Principal.system("marketplace")
BUYER_WORDS = "The pro left after two hours; the kitchen was never cleaned."
SELLER_WORDS = "I cleaned the kitchen and the bathroom as agreed; photos attached."


def _account(db: Session, external_id: str, side: str, name: str, locale: str = "en") -> None:
    accounts.upsert_account(
        db,
        MARKETPLACE,
        external_id,
        AccountUpsert.model_validate(
            {"side": side, "display_name": name, "email": f"{external_id}@example.com",
             "locale": locale}
        ),
    )  # fmt: skip


def open_dispute(
    db: Session,
    settings: Settings,
    ref: str = "job-77",
    *,
    amount: str = "120.00",
    buyer: str = "c-ana",
    seller: str = "p-bruno",
) -> Dispute:
    return disputes.open_dispute(
        db,
        MARKETPLACE,
        OpenDispute.model_validate(
            {
                "subject_type": "job",
                "subject_ref": ref,
                "buyer_external_id": buyer,
                "seller_external_id": seller,
                "opened_by": "buyer",
                "reason_code": "not_as_described",
                "amount": {"amount": amount, "currency": "USD"},
                "statement": BUYER_WORDS,
            }
        ),
        settings=settings,
    )


def respond(db: Session, settings: Settings, dispute: Dispute) -> None:
    disputes.submit(
        db,
        MARKETPLACE,
        dispute.id,
        "p-bruno",
        SubmissionIn.model_validate(
            {
                "statement": SELLER_WORDS,
                "excerpts": [
                    {"sent_at": "2026-11-18T10:00:00Z", "author": "buyer",
                     "text": "Can you come on Tuesday at 9?"},
                    {"sent_at": "2026-11-18T10:05:00Z", "author": "seller",
                     "text": "Yes, kitchen and bathroom, 4 hours."},
                ],
            }
        ),
        settings=settings,
    )  # fmt: skip


@dataclass
class World:
    agent: StaffUser
    other: StaffUser
    dispute_id: int
    case_id: int


def _world(db: Session, settings: Settings, *, responded: bool = True, held: bool = True) -> World:
    ensure_default_queues(db, MARKETPLACE)
    _account(db, "c-ana", "customer", "Ana P.")
    _account(db, "p-bruno", "pro", "Bruno's Cleaning", locale="pt")
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["en", "pt"])
    other = make_staff(db, role=Role.agent, name="Tomás Vidal", languages=["en", "pt"])
    dispute = open_dispute(db, settings)
    if responded:
        respond(db, settings, dispute)
    if held:
        cases.assign(db, Principal.staff(agent.id, agent.name, agent.role), dispute.case_id)
    db.commit()
    return World(agent, other, dispute.id, dispute.case_id)


def _count(db: Session, model: type, *where: object) -> int:
    """Count rows, then end the read: on SQLite a transaction left open would hold the
    write lock (``BEGIN IMMEDIATE``) and block the app under test."""
    db.expire_all()
    n = int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    db.rollback()
    return n


def _audits(db: Session, action: str) -> int:
    return _count(db, AuditRecord, AuditRecord.action == action)


def _field_error(html: str, key: str) -> str:
    """The text of the error shown under the form control ``key`` (``err-<key>``)."""
    found = re.search(rf'id="err-{key}"[^>]*>(.*?)</div>', html, re.S)
    assert found, f"no error shown at {key}"
    return html_lib.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


# --- the list -------------------------------------------------------------------------------


def test_list_puts_the_nearest_deadline_first_and_filters_by_status(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    world = _world(db, settings, responded=False, held=False)
    frozen.advance(timedelta(hours=-5))
    earlier = open_dispute(db, settings, "job-10", amount="30.00")  # due 5 h sooner
    frozen.advance(timedelta(hours=5))
    _account(db, "c-caro", "customer", "Caro")
    later = open_dispute(db, settings, "job-99", amount="75.50", buyer="c-caro")
    respond_later = later.id
    disputes.submit(
        db, MARKETPLACE, respond_later, "p-bruno",
        SubmissionIn.model_validate({"statement": "I did the job."}), settings=settings,
    )  # fmt: skip
    login_as(client, db, world.agent)

    page = client.get("/disputes")
    assert page.status_code == 200
    order = [int(x) for x in re.findall(r'href="/disputes/(\d+)"', page.text)]
    # Awaiting a response: the sooner deadline first; in mediation (no deadline) after.
    assert order == [earlier.id, world.dispute_id, later.id]
    assert "USD 30.00" in page.text and "USD 75.50" in page.text
    rows = {
        int(m.group(1)): m.group(0)
        for m in re.finditer(r'<tr>\s*<td><a href="/disputes/(\d+)".*?</tr>', page.text, re.S)
    }
    # Whose move it is: the seller's answer while awaiting one (opened by the buyer), the
    # mediator's on the case SLA once both sides are in; nobody holds it yet.
    assert f"(D-{world.dispute_id})" in rows[world.dispute_id]
    assert (
        "<td>c-ana</td>" in rows[world.dispute_id] and "<td>p-bruno</td>" in rows[world.dispute_id]
    )
    assert "<strong>Seller</strong> · answer due" in rows[world.dispute_id]
    assert "<strong>Mediator (unassigned)</strong> · SLA due" in rows[later.id]
    assert "unassigned" in rows[later.id]
    # One n on the page's button; the header's Next case n is hidden by the disputes CSS.
    assert page.text.count('data-key="n"') == 2 and 'id="dispute-next"' in page.text

    only = client.get("/disputes", params={"status": "in_mediation"})
    assert [int(x) for x in re.findall(r'href="/disputes/(\d+)"', only.text)] == [later.id]
    none = client.get("/disputes", params={"status": "resolved"})
    assert "No dispute with this status." in none.text

    bad = client.get("/disputes", params={"status": "lost"})
    assert bad.status_code == 422
    assert "Choose a status from the list." in bad.text
    tampered = client.get("/disputes", params={"cursor": "not-a-cursor"})
    assert tampered.status_code == 422
    assert "Cursor is not valid" in tampered.text


def test_list_pages_by_keyset_without_gaps_or_repeats(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    world = _world(db, settings, responded=False, held=False)
    ids = [world.dispute_id]
    for n in range(4):
        frozen.advance(timedelta(minutes=10))
        ids.append(open_dispute(db, settings, f"job-{n}").id)
    respond(db, settings, db.get(Dispute, ids[2]))  # in mediation: sorts after the dated ones
    staff = Principal.staff(world.agent.id, world.agent.name, world.agent.role)
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        rows, cursor = dispute_view.list_page(db, staff, "live", cursor, limit=2)
        seen += [d.id for d, _ in rows]
        if cursor is None:
            break
    assert seen == [ids[0], ids[1], ids[3], ids[4], ids[2]]


def test_take_next_dispute_takes_the_most_urgent_dispute_case(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings, held=False)
    csrf = login_as(client, db, world.agent)
    # An ordinary case in another tier-1 queue does not come first.
    taken = client.post("/disputes/next", data={"csrf_token": csrf}, follow_redirects=False)
    assert taken.status_code == 303
    assert taken.headers["location"] == f"/disputes/{world.dispute_id}"
    case = db.get(Case, world.case_id)
    db.refresh(case)
    assert case is not None and case.status == CaseStatus.assigned
    assert case.assignee_id == world.agent.id
    db.rollback()
    again = client.post("/disputes/next", data={"csrf_token": csrf}, follow_redirects=False)
    assert again.headers["location"] == "/disputes?notice=none_waiting"
    assert "No dispute is waiting for you." in client.get(again.headers["location"]).text


# --- the two-sided view -----------------------------------------------------------------------


def test_the_view_shows_both_sides_the_deadline_and_the_holder(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    world = _world(db, settings)
    login_as(client, db, world.agent)
    page = client.get(f"/disputes/{world.dispute_id}")
    assert page.status_code == 200
    html = page.text
    buyer = html[html.index('id="side-buyer"') : html.index('id="side-seller"')]
    seller = html[html.index('id="side-seller"') : html.index('id="dispute-conversation"')]
    convo = html[html.index('id="dispute-conversation"') : html.index('id="proposals-title"')]
    assert BUYER_WORDS in buyer and "c-ana" in buyer and "opened the dispute" in buyer
    assert SELLER_WORDS in seller and "p-bruno" in seller and "answered 21 Nov" in seller
    # Both sides have the same sections in the same order, empty ones included.
    for side in (buyer, seller):
        headings = re.findall(r"<h3 [^>]*>([^<]+)</h3>", side)
        assert headings == ["Statement", "Files", "Messages they quote"]
    assert "None." in buyer and "in the conversation below" in seller
    # The quoted messages are one conversation under both sides, buyer left, seller right.
    assert "Can you come on Tuesday at 9?" in convo and "quoted by the seller" in convo
    assert 'class="dsp-from-buyer"' in convo and 'class="dsp-from-seller"' in convo
    assert "USD 120.00" in html and "Not as described" in html
    assert "in mediation" in html
    assert (
        f'Dispute #{world.dispute_id} <span class="dsp-ref">(D-{world.dispute_id})</span>' in html
    )
    assert "by the buyer" in html
    assert "Elena Ruiz" in html  # who holds it
    # Whose move: the mediator, who is the one reading, on the case's SLA (shown as a chip too).
    waiting = html[html.index('id="dispute-waiting"') :]
    assert waiting.startswith(
        'id="dispute-waiting"><span class="dsp-waiting"><strong>Mediator (you)'
    )
    assert "SLA due" in waiting[:300] and 'id="dispute-sla"' in html
    for word in ("respondent", "opener"):
        assert word not in html
    assert f'action="/disputes/{world.dispute_id}/propose"' in html
    assert f'action="/disputes/{world.dispute_id}/rule"' in html
    # Rule is folded away, red and named after what it does.
    assert '<details id="rule-box" class="dsp-rule">' in html
    assert 'class="danger" type="submit" id="rule-submit"' in html
    # The timeline has the opening, both sides and the hold instruction, with who did it in
    # plain words (the marketplace relays the parties; the message service sends).
    timeline = html[html.index('id="dispute-timeline"') :]
    assert "opened the dispute" in timeline and "gave their side" in timeline
    # The instruction is worded as what happened: Vigil issued it, and no integration was
    # there to receive it.
    assert "payment instruction issued" in timeline and "sent to the marketplace" not in timeline
    assert "Payment held: USD 120.00 · no webhook endpoint subscribed" in timeline
    assert "<strong>Vigil</strong> · payment instruction issued" in timeline
    assert "<strong>Buyer</strong> · opened the dispute" in timeline
    assert "marketplace key" not in timeline and "mailer" not in timeline
    # What each party was told, on this screen: the seller (who did not open it) was sent the
    # opening message, in Portuguese, by email and in-app.
    sent = html[html.index('id="dispute-messages"') : html.index('id="dispute-timeline-title"')]
    assert "<strong>Seller</strong>" in sent and "(pt)" in sent
    assert "email <span" in sent and "in-app <span" in sent
    assert "<strong>Buyer</strong>" not in sent


def test_a_respondent_who_has_not_answered_shows_the_time_left(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    world = _world(db, settings, responded=False, held=False)
    frozen.advance(timedelta(hours=60))
    login_as(client, db, world.agent)
    html = client.get(f"/disputes/{world.dispute_id}").text
    assert "awaiting response" in html
    waiting = html[html.index('id="dispute-waiting"') :]
    # 72 h to respond, 60 h gone: the seller's move, amber within a day.
    assert "<strong>Seller</strong> · answer due" in waiting[:200]
    assert 'class="chip warning">24 Nov 09:00 UTC (in 12h 00m)' in waiting[:300]
    assert "waiting for their side" in html
    assert "Take this dispute" in html
    assert f'action="/disputes/{world.dispute_id}/propose"' not in html


# --- proposing and ruling ----------------------------------------------------------------------


def test_a_refund_above_the_disputed_amount_is_refused_at_the_field_and_nothing_is_written(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings)
    csrf = login_as(client, db, world.agent)
    before = _audits(db, "disputes.proposal.create")
    response = client.post(
        f"/disputes/{world.dispute_id}/propose",
        data={"csrf_token": csrf, "outcome": "partial_refund", "amount": "150.00",
              "note": "Half the kitchen was done."},
    )  # fmt: skip
    assert response.status_code == 422
    assert _field_error(response.text, "propose-amount") == (
        "The refund can't be more than the amount in dispute (USD 120.00)"
    )
    # What was typed is kept, the amount field is shown, the control is marked invalid.
    assert 'value="150.00"' in response.text
    assert "Half the kitchen was done." in response.text
    assert 'aria-invalid="true" aria-describedby="err-propose-amount' in response.text
    assert _count(db, DisputeProposal, DisputeProposal.dispute_id == world.dispute_id) == 0
    assert _audits(db, "disputes.proposal.create") == before
    dispute = db.get(Dispute, world.dispute_id)
    assert dispute is not None and dispute.status == DisputeStatus.in_mediation
    db.rollback()

    not_a_number = client.post(
        f"/disputes/{world.dispute_id}/propose",
        data={"csrf_token": csrf, "outcome": "partial_refund", "amount": "forty",
              "note": "x"},
    )  # fmt: skip
    assert not_a_number.status_code == 422
    assert _field_error(not_a_number.text, "propose-amount") == (
        "Write the amount with digits and at most one decimal separator, “.” or “,”: "
        "write 2500.50, without thousands separators"
    )
    no_outcome = client.post(
        f"/disputes/{world.dispute_id}/propose", data={"csrf_token": csrf, "note": "x"}
    )
    assert no_outcome.status_code == 422
    assert _field_error(no_outcome.text, "propose-outcome") == "Choose an outcome"
    assert _count(db, DisputeProposal, DisputeProposal.dispute_id == world.dispute_id) == 0


def test_proposing_a_partial_refund_puts_it_to_both_parties(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    world = _world(db, settings)
    csrf = login_as(client, db, world.agent)
    response = client.post(
        f"/disputes/{world.dispute_id}/propose",
        data={"csrf_token": csrf, "outcome": "partial_refund", "amount": "40.00",
              "note": "The bathroom was cleaned, the kitchen was not."},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == f"/disputes/{world.dispute_id}?notice=proposed"
    proposal = db.scalar(
        select(DisputeProposal).where(DisputeProposal.dispute_id == world.dispute_id)
    )
    assert proposal is not None and proposal.refund_minor == 4000
    assert proposal.outcome == Outcome.partial_refund
    db.rollback()
    assert _audits(db, "disputes.proposal.create") == 1
    html = client.get(response.headers["location"]).text
    # The notice reads the amount back, both legs, as the parties were sent it.
    assert (
        "Proposal sent to both parties: refund USD 40.00 to the buyer, release USD 80.00 to "
        "the seller." in html
    )
    proposals = html[html.index('id="dispute-proposals"') :]
    assert "Partial refund to the buyer · USD 40.00" in proposals
    assert "waiting for answers" in proposals and "no answer yet" in proposals
    waiting = html[html.index('id="dispute-waiting"') :][:300]
    assert "<strong>Both parties</strong> · answers due" in waiting and "(in 3d 0h)" in waiting


def test_ruling_resolves_the_dispute_and_needs_a_reason(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings)
    csrf = login_as(client, db, world.agent)
    url = f"/disputes/{world.dispute_id}/rule"
    empty = client.post(url, data={"csrf_token": csrf, "outcome": "release", "reason": "  "})
    assert empty.status_code == 422
    assert _field_error(empty.text, "rule-reason") == "Give the reason for the ruling"
    assert _audits(db, "disputes.dispute.resolve") == 0

    ruling = {"csrf_token": csrf, "outcome": "release",
              "reason": "The photos show the work done as agreed."}  # fmt: skip
    # The first press checks and restates; nothing is ruled, nothing is sent.
    check = client.post(url, data=ruling, follow_redirects=False)
    assert check.status_code == 200
    confirm = check.text[check.text.index('id="rule-confirm"') :]
    assert "Confirm the ruling" in confirm
    assert "c-ana · Ana P.: gets USD 0.00 back" in html_lib.unescape(confirm)
    assert "p-bruno · Bruno&#39;s Cleaning: gets USD 120.00" in confirm
    assert ">Rule: release USD 120.00 to the seller</button>" in confirm
    assert '<details id="rule-box" class="dsp-rule" open>' in check.text
    assert _audits(db, "disputes.dispute.resolve") == 0
    dispute = db.get(Dispute, world.dispute_id)
    assert dispute is not None and dispute.status == DisputeStatus.in_mediation
    db.rollback()

    done = client.post(url, data={**ruling, "confirm": "1"}, follow_redirects=False)
    assert done.status_code == 303
    dispute = db.get(Dispute, world.dispute_id)
    db.refresh(dispute)
    assert dispute is not None and dispute.status == DisputeStatus.resolved
    assert dispute.resolved_by == ResolvedBy.ruling and dispute.outcome == Outcome.release
    db.rollback()
    html = client.get(done.headers["location"]).text
    assert "Ruling recorded" in html
    assert "resolved by ruling" in html
    assert "The photos show the work done as agreed." in html
    assert "Released to the seller: USD 120.00" in html  # the payment instruction
    assert 'Elena Ruiz <span class="muted">(ruled)</span>' in html
    assert 'id="dispute-sla"' not in html  # the case is closed: no SLA runs
    assert 'id="propose-form"' not in html and 'id="rule-form"' not in html


def test_a_partial_refund_ruling_restates_both_shares_before_it_is_confirmed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings)
    csrf = login_as(client, db, world.agent)
    url = f"/disputes/{world.dispute_id}/rule"
    ruling = {"csrf_token": csrf, "outcome": "partial_refund", "amount": "40.00",
              "reason": "The bathroom was cleaned, the kitchen was not."}  # fmt: skip
    too_much = client.post(url, data={**ruling, "amount": "150.00"})
    assert too_much.status_code == 422
    assert 'id="rule-confirm"' not in too_much.text
    assert _field_error(too_much.text, "rule-amount") == (
        "The refund can't be more than the amount in dispute (USD 120.00)"
    )
    check = client.post(url, data=ruling)
    assert check.status_code == 200
    confirm = html_lib.unescape(check.text[check.text.index('id="rule-confirm"') :])
    assert "gets USD 40.00 back" in confirm and "gets USD 80.00" in confirm
    assert "Rule: refund USD 40.00 to the buyer, release USD 80.00 to the seller" in confirm
    # The confirming form carries what was checked.
    assert 'name="amount" value="40.00"' in confirm and 'name="confirm" value="1"' in confirm
    dispute = db.get(Dispute, world.dispute_id)
    assert dispute is not None and dispute.status == DisputeStatus.in_mediation
    assert dispute.refund_minor in (None, 0)
    db.rollback()
    assert _audits(db, "disputes.dispute.resolve") == 0
    done = client.post(url, data={**ruling, "confirm": "1"}, follow_redirects=False)
    assert done.status_code == 303
    db.expire_all()
    dispute = db.get(Dispute, world.dispute_id)
    assert dispute is not None and dispute.refund_minor == 4000
    assert dispute.status == DisputeStatus.resolved
    db.rollback()


def test_only_the_mediator_holding_the_dispute_may_act(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings)
    csrf = login_as(client, db, world.other)
    html = client.get(f"/disputes/{world.dispute_id}").text
    assert "Elena Ruiz holds this dispute." in html
    assert 'id="propose-form"' not in html
    refused = client.post(
        f"/disputes/{world.dispute_id}/propose",
        data={"csrf_token": csrf, "outcome": "full_refund", "note": "Refund it all."},
    )
    assert refused.status_code == 403
    assert _field_error(refused.text, "propose") == (
        "Only the mediator who holds this dispute can do that: take it first"
    )
    ruled = client.post(
        f"/disputes/{world.dispute_id}/rule",
        data={"csrf_token": csrf, "outcome": "no_action", "reason": "Nothing wrong."},
    )
    assert ruled.status_code == 403
    assert _count(db, DisputeProposal, DisputeProposal.dispute_id == world.dispute_id) == 0
    dispute = db.get(Dispute, world.dispute_id)
    assert dispute is not None and dispute.status == DisputeStatus.in_mediation


def test_take_and_release_from_the_dispute_page(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings, held=False)
    csrf = login_as(client, db, world.other)
    case = db.get(Case, world.case_id)
    assert case is not None
    version = case.version
    db.rollback()
    taken = client.post(
        f"/disputes/{world.dispute_id}/take",
        data={"csrf_token": csrf, "version": str(version)},
        follow_redirects=False,
    )
    assert taken.headers["location"] == f"/disputes/{world.dispute_id}?notice=taken"
    db.refresh(case)
    assert case.assignee_id == world.other.id
    version = case.version
    db.rollback()
    html = client.get(taken.headers["location"]).text
    assert "You hold this dispute." in html and 'id="propose-form"' in html
    stale = client.post(
        f"/disputes/{world.dispute_id}/release",
        data={"csrf_token": csrf, "version": "1"},
    )
    assert stale.status_code == 409
    assert 'id="case-error"' in stale.text
    released = client.post(
        f"/disputes/{world.dispute_id}/release",
        data={"csrf_token": csrf, "version": str(version)},
        follow_redirects=False,
    )
    assert released.headers["location"] == "/disputes?notice=released"
    db.refresh(case)
    assert case.status == CaseStatus.open and case.assignee_id is None


def test_opening_a_linked_account_review(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings)
    csrf = login_as(client, db, world.agent)
    url = f"/disputes/{world.dispute_id}/review"
    missing = client.post(url, data={"csrf_token": csrf, "party": "seller", "summary": ""})
    assert missing.status_code == 422
    assert _field_error(missing.text, "review-summary") == "Write what the dispute showed"
    assert 'id="review-box" open' in missing.text
    assert _count(db, DisputeReview, DisputeReview.dispute_id == world.dispute_id) == 0

    done = client.post(
        url,
        data={"csrf_token": csrf, "party": "seller",
              "summary": "The pro asked to be paid in cash next time, off the platform."},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    review = db.scalar(select(DisputeReview).where(DisputeReview.dispute_id == world.dispute_id))
    assert review is not None
    review_case = db.get(Case, review.case_id)
    assert review_case is not None and review_case.type == CaseType.account_review
    db.rollback()
    html = client.get(done.headers["location"]).text
    assert f'href="/cases/{review.case_id}"' in html and "Seller" in html


def test_staff_who_may_not_mediate_and_visitors_are_kept_out(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings)
    # Not logged in: to the login page, back here after.
    out = client.get(f"/disputes/{world.dispute_id}", follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"].startswith("/login?next=/disputes/")
    # A QA reviewer reads disputes but does not mediate.
    qa = make_staff(db, role=Role.qa)
    csrf = login_as(client, db, qa)
    assert client.get(f"/disputes/{world.dispute_id}").status_code == 200
    refused = client.post(
        f"/disputes/{world.dispute_id}/propose",
        data={"csrf_token": csrf, "outcome": "full_refund", "note": "All back."},
    )
    assert refused.status_code == 403
    assert client.post("/disputes/next", data={"csrf_token": csrf}).status_code == 403
    # A form without the session's CSRF token is refused before anything runs.
    login_as(client, db, world.agent)
    forged = client.post(
        f"/disputes/{world.dispute_id}/propose",
        data={"csrf_token": "forged", "outcome": "full_refund", "note": "All back."},
        headers={"X-CSRF-Token": ""},
    )
    assert forged.status_code == 403
    assert _count(db, DisputeProposal, DisputeProposal.dispute_id == world.dispute_id) == 0
    assert client.get("/disputes/999999").status_code == 404


# --- the case page ------------------------------------------------------------------------------


def test_the_case_page_of_a_dispute_links_to_the_two_sided_view(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    world = _world(db, settings)
    login_as(client, db, world.agent)
    html = client.get(f"/cases/{world.case_id}").text
    panel = html[html.index('id="case-dispute"') :]
    assert f'href="/disputes/{world.dispute_id}"' in panel
    assert "USD 120.00" in panel and "in mediation" in panel
    assert f"(D-{world.dispute_id})" in panel
    assert "opened the dispute" in panel and "answered 21 Nov" in panel
    # Buyer first, then seller, as on the two-sided view; whose move it is.
    assert panel.index("<dt>Buyer</dt>") < panel.index("<dt>Seller</dt>")
    assert "Mediator (you)" in panel and "SLA due" in panel


def test_files_download_for_staff_as_attachments(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings)
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
        b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
        b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    sub = disputes.add_file(
        db, MARKETPLACE, world.dispute_id, "p-bruno", "kitchen after.png", "image/png", png,
        settings=settings,
    )  # fmt: skip
    sub_id = sub.id
    db.commit()
    login_as(client, db, world.agent)
    html = client.get(f"/disputes/{world.dispute_id}").text
    url = f"/disputes/{world.dispute_id}/files/{sub_id}"
    assert f'href="{url}"' in html and "kitchen after.png" in html
    got = client.get(url)
    assert got.status_code == 200
    assert got.content == png
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"kitchen_after.png\"; filename*=UTF-8''kitchen%20after.png"
    )
    assert _audits(db, "disputes.file.view") == 1
    assert client.get(f"/disputes/{world.dispute_id}/files/{sub_id + 100}").status_code == 404


@pytest.mark.parametrize("amount", ["120.00", "0"])
def test_whole_or_zero_refunds_are_named_at_the_field(
    client: TestClient, db: Session, settings: Settings, amount: str
) -> None:
    world = _world(db, settings)
    csrf = login_as(client, db, world.agent)
    response = client.post(
        f"/disputes/{world.dispute_id}/propose",
        data={"csrf_token": csrf, "outcome": "partial_refund", "amount": amount, "note": "x"},
    )
    assert response.status_code == 422
    message = _field_error(response.text, "propose-amount")
    expected = {
        "120.00": "That is the whole amount in dispute: choose “Full refund” instead",
        "0": "The refund must be more than zero",
    }[amount]
    assert message == expected
    assert _count(db, DisputeProposal, DisputeProposal.dispute_id == world.dispute_id) == 0


def test_a_dispute_in_the_legal_tier_exists_only_for_legal(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings, held=False)
    case = db.get(Case, world.case_id)
    assert case is not None
    case.tier = Tier.legal  # as if escalated twice
    db.commit()
    login_as(client, db, world.agent)
    assert f'href="/disputes/{world.dispute_id}"' not in client.get("/disputes").text
    assert client.get(f"/disputes/{world.dispute_id}").status_code == 404
    legal = make_staff(db, role=Role.legal)
    login_as(client, db, legal)
    assert f'href="/disputes/{world.dispute_id}"' in client.get("/disputes").text


@pytest.mark.parametrize(
    ("typed", "refund_minor"),
    [("30,50", 3050), ("30.50", 3050), ("30,5", 3050), ("100", 10000), (" 99,99 ", 9999)],
)
def test_a_refund_is_read_with_either_decimal_separator(
    client: TestClient, db: Session, settings: Settings, typed: str, refund_minor: int
) -> None:
    """A mediator writing 30,50 means thirty and a half, as one writing 30.50 does."""
    world = _world(db, settings)
    csrf = login_as(client, db, world.agent)
    response = client.post(
        f"/disputes/{world.dispute_id}/propose",
        data={"csrf_token": csrf, "outcome": "partial_refund", "amount": typed, "note": "Split."},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    proposal = db.scalar(
        select(DisputeProposal).where(DisputeProposal.dispute_id == world.dispute_id)
    )
    assert proposal is not None and proposal.refund_minor == refund_minor
    db.rollback()


@pytest.mark.parametrize(
    "typed", ["2.500,00", "2,500.00", "1.000", "1,000", "1e3", "1E1", "-5", "40 00", "30.5.0"]
)
@pytest.mark.parametrize("form", ["propose", "rule"])
def test_an_ambiguous_amount_is_refused_with_how_to_write_it(
    client: TestClient, db: Session, settings: Settings, typed: str, form: str
) -> None:
    """Grouping separators, two separators, more decimals than the currency has (1.000 could
    be one or a thousand), an exponent: refused, never guessed at, and nothing is written."""
    world = _world(db, settings)
    csrf = login_as(client, db, world.agent)
    text_field = "note" if form == "propose" else "reason"
    response = client.post(
        f"/disputes/{world.dispute_id}/{form}",
        data={"csrf_token": csrf, "outcome": "partial_refund", "amount": typed,
              text_field: "Split."},
    )  # fmt: skip
    assert response.status_code == 422
    assert _field_error(response.text, f"{form}-amount").endswith(
        "write 2500.50, without thousands separators"
    )
    assert f'value="{html_lib.escape(typed)}"' in response.text  # what was typed is kept
    assert _count(db, DisputeProposal, DisputeProposal.dispute_id == world.dispute_id) == 0
    dispute = db.get(Dispute, world.dispute_id)
    assert dispute is not None and dispute.status == DisputeStatus.in_mediation
    db.rollback()


def test_the_timeline_says_where_a_payment_instruction_was_delivered(
    client: TestClient, db: Session, settings: Settings
) -> None:
    integrations.create_integration(
        db, Principal.system(), name="shop", url="http://127.0.0.1:9/hooks"
    )
    world = _world(db, settings)
    login_as(client, db, world.agent)
    timeline = client.get(f"/disputes/{world.dispute_id}").text
    timeline = timeline[timeline.index('id="dispute-timeline"') :]
    assert "Payment held: USD 120.00 · queued" in timeline
    assert "no webhook endpoint subscribed" not in timeline


def test_a_resolved_split_reads_in_words(
    client: TestClient, db: Session, settings: Settings
) -> None:
    world = _world(db, settings)
    csrf = login_as(client, db, world.agent)
    ruling = {"csrf_token": csrf, "outcome": "partial_refund", "amount": "40,00",
              "reason": "Half done.", "confirm": "1"}  # fmt: skip
    response = client.post(f"/disputes/{world.dispute_id}/rule", data=ruling)
    assert response.status_code == 200
    outcome = response.text[response.text.index('id="dispute-outcome"') :][:400]
    assert "payment split: part refunded to the buyer" in outcome
    assert "partially_refunded" not in response.text
    panel = client.get(f"/cases/{world.case_id}").text
    assert "partially_refunded" not in panel
