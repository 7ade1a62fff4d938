"""Dispute metrics on a known set of disputes, on the frozen clock."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.disputes.conftest import MARKETPLACE, make_account, mediator, spec
from tests.factories import auth_header, make_api_key
from vigil.config import Settings
from vigil.disputes import metrics, service
from vigil.disputes.models import Outcome
from vigil.disputes.schemas import ProposalIn, RulingIn, SubmissionIn
from vigil.kit import clock
from vigil.kit.clock import FrozenClock

pytestmark = pytest.mark.usefixtures("queues")

HOUR = timedelta(hours=1)


def test_counts_default_rate_and_percentiles(
    db: Session, settings: Settings, frozen: FrozenClock, client: TestClient
) -> None:
    buyer = make_account(db, "student")
    seller = make_account(db, "instructor")
    since = clock.now()

    def open_one():  # type: ignore[no-untyped-def]
        return service.open_dispute(db, MARKETPLACE, spec(buyer, seller), settings=settings)

    def respond(d) -> None:  # type: ignore[no-untyped-def]
        service.submit(
            db,
            MARKETPLACE,
            d.id,
            seller.external_id,
            SubmissionIn(statement="My side."),
            settings=settings,
        )

    # D1: answered after 2 h, proposal at 4 h, both accept at 5 h.
    d1 = open_one()
    frozen.advance(2 * HOUR)
    respond(d1)
    agent = mediator(db, d1)
    frozen.advance(2 * HOUR)
    p = service.propose(
        db,
        agent,
        d1.id,
        ProposalIn(outcome=Outcome.partial_refund, amount=Decimal("20"), note="Split."),
        settings=settings,
    )
    frozen.advance(HOUR)
    for who in (buyer, seller):
        service.answer(db, MARKETPLACE, d1.id, p.id, who.external_id, True, None, settings=settings)
    # D4: withdrawn after 1 h, before any answer.
    d4 = open_one()
    frozen.advance(HOUR)
    service.withdraw(db, MARKETPLACE, d4.id, buyer.external_id, "Solved", settings=settings)
    # D5: answered after 10 h, still in mediation.
    d5 = open_one()
    frozen.advance(10 * HOUR)
    respond(d5)
    # D3: the respondent defaults at 72 h; ruled at 80 h.
    d3 = open_one()
    frozen.advance(72 * HOUR)
    service.sweep(db, settings)
    frozen.advance(8 * HOUR)
    service.rule(
        db,
        mediator(db, d3),
        d3.id,
        RulingIn(outcome=Outcome.release, reason="No answer."),
        settings=settings,
    )
    frozen.advance(timedelta(minutes=1))
    until = clock.now()  # the window is [since, until)
    # Outside the window: opened later, answered at once.
    frozen.advance(HOUR)
    respond(open_one())

    m = metrics.compute(db, MARKETPLACE, since=since, until=until)
    assert (m.opened, m.resolved) == (4, 3)
    assert m.resolved_by_outcome == {"partial_refund": 1, "release": 1, "withdrawn": 1}
    assert m.resolved_by == {"agreement": 1, "ruling": 1, "withdrawn": 1}
    assert m.respondent_default_rate == pytest.approx(1 / 3)
    assert m.time_to_first_response == metrics.Durations(2, 21_600.0, 33_120.0)
    assert m.time_to_first_proposal == metrics.Durations(1, 14_400.0, 14_400.0)
    assert m.time_to_resolution == metrics.Durations(3, 18_000.0, 234_000.0)

    everything = metrics.compute(db, MARKETPLACE)
    assert everything.opened == 5 and everything.time_to_first_response.count == 3

    _key, secret = make_api_key(db, scopes=["disputes:read"])
    db.commit()
    r = client.get(
        "/v1/disputes/metrics",
        headers=auth_header(secret),
        params={"since": since.isoformat(), "until": until.isoformat()},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["opened"] == 4
    assert body["time_to_resolution"] == {
        "count": 3,
        "median_seconds": 18_000.0,
        "p90_seconds": 234_000.0,
    }
    r = client.get(
        "/v1/disputes/metrics",
        headers=auth_header(secret),
        params={"since": until.isoformat(), "until": since.isoformat()},
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_window")
