"""The closed week of tests/analytics/goals plus the reports behind it and one authority order.

Reports (report_filed events): a scam report on case A (18 Nov 09:00), an off-platform report
on case B (18 Nov 11:00), both from reporter R1 (FR), and a report with an unlisted reason and
no case from R2 (DE, 19 Nov 15:00). An order from a French authority about counterfeits,
received 20 Nov 07:00, acknowledged 30 minutes later, given effect two hours after receipt.

Own initiative: case C (20 Nov 14:00) on account S is suspended by detection without a human,
with a voluntary statement of reasons (automated detection, fully automated); S appeals and a
specialist overturns it on 20 Nov 16:00. A US account and one with no country send messages
in November (Art. 24's recipients in the Union leave out the first; the second is shown apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy.orm import Session

from tests.analytics.goals.conftest import Closed, at
from tests.analytics.goals.conftest import closed as closed
from tests.enforcement.conftest import (
    SUSPEND_7,
    SYSTEM,
    decide,
    make_account,
    principal,
    statement,
)
from tests.factories import make_staff
from vigil.accounts.models import Account
from vigil.appeals import hearing
from vigil.appeals import service as appeals
from vigil.appeals.models import ContactPreference
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.cases import service as cases
from vigil.cases.models import CaseType
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.dsa import orders
from vigil.dsa.order_models import AuthorityOrder
from vigil.dsa.vocabulary import AutomatedDecision, SourceType
from vigil.enforcement.automated import ACTOR as automated_actor
from vigil.enforcement.models import Decision
from vigil.kit.clock import FrozenClock

_n = count(1)


@dataclass
class Reported:
    closed: Closed
    legal: StaffUser
    order: AuthorityOrder
    automated: Decision


def message(db: Session, account: Account, when: object) -> None:
    db.add(
        Event(
            event_id=f"message-{next(_n)}-{account.id}",
            payload_sha256="0" * 64,
            type="message_sent",
            account_id=account.id,
            account_external_id=account.external_id,
            occurred_at=when,
            payload={"data": {}},
        )
    )
    db.flush()


def report(db: Session, reporter: Account, when: object, reason: str, case_id: int | None) -> None:
    n = next(_n)
    db.add(
        Event(
            event_id=f"report-{n}-{reporter.id}",
            payload_sha256="0" * 64,
            type="report_filed",
            account_id=reporter.id,
            account_external_id=reporter.external_id,
            occurred_at=when,
            payload={"data": {"reason": reason, "text": "they asked me to pay outside"}},
            case_id=case_id,
        )
    )
    db.flush()


@pytest.fixture
def reported(db: Session, closed: Closed, frozen: FrozenClock, settings: Settings) -> Reported:
    r1 = make_account(db, side="client", country="FR")
    r2 = make_account(db, side="client", country="DE")
    report(db, r1, at(18, 9), "scam", closed.a.id)
    report(db, r1, at(18, 11), "off_platform", closed.b.id)
    report(db, r2, at(19, 15), "weird_vibes", None)
    legal = make_staff(db, role=Role.legal, name="Lea Legal")
    order = orders.record_order(
        db,
        principal(legal),
        orders.OrderIn(
            kind="act_against_content",
            category="STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
            authority="Arcom",
            member_state="fr",
            legal_reference="Order 2026-77",
            received_at=at(20, 7),
            account_external_id=r2.external_id,
            content_refs=["listing:991"],
        ),
    )
    frozen.set(at(20, 7) + timedelta(minutes=30))
    orders.acknowledge(db, principal(legal), order.id, orders.AcknowledgeIn())
    frozen.set(at(20, 9))
    orders.give_effect(db, principal(legal), order.id, orders.EffectIn(note="Listing removed."))
    assert order.effected_at == at(20, 7) + timedelta(hours=2)

    seller = make_account(db, country="ES")
    frozen.set(at(20, 14))
    c = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(type=CaseType.detection, title="Rule hit", account_id=seller.id),
    ).case
    automated = decide(
        db,
        automated_actor,
        c,
        settings,
        actions=SUSPEND_7,
        departure_reason="The detection rule sets this action.",
        statement=statement(
            content_date="2026-11-20",
            source_type=SourceType.VOLUNTARY.value,
            automated_detection=True,
            automated_decision=AutomatedDecision.FULLY.value,
        ),
    )
    frozen.set(at(20, 15))
    appeal = appeals.submit_for_account(
        db, SYSTEM, account_external_id=seller.external_id, decision_id=automated.id,
        reference=None, submission_text="I never did this; the rule misread my message.",
        language="en", contact=ContactPreference.email, settings=settings,
    ).appeal  # fmt: skip
    specialist = make_staff(db, role=Role.specialist, name="Sam Specialist")
    cases.assign(db, SYSTEM, appeal.case_id, staff_id=specialist.id)
    frozen.set(at(20, 16))
    hearing.decide_appeal(
        db, principal(specialist), appeal.id, outcome=hearing.Outcome.overturn,
        reason="The message was a quote.", settings=settings,
    )  # fmt: skip
    message(db, make_account(db, country="US"), at(10, 9))
    message(db, make_account(db), at(11, 9))
    frozen.set(at(21, 9))
    return Reported(closed, legal, order, automated)
