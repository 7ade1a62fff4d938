"""Appeal and overturn rates on a known set of decisions, in total and per policy, rule and
reviewer."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    SPAM,
    SUSPEND_7,
    SYSTEM,
    decide,
    held_case,
    make_account,
    make_policy,
    principal,
)
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.appeals import hearing, service
from vigil.appeals.models import ContactPreference
from vigil.auth.permissions import Role, Tier
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.cases.models import CaseType
from vigil.config import Settings
from vigil.detection.models import Event, Outcome
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import Decision
from vigil.kit import clock

WHY = "The messages were taken out of context; I never asked for payment elsewhere."


def _appeal(db: Session, settings: Settings, decision: Decision, external_id: str) -> int:
    submitted = service.submit_for_account(
        db, SYSTEM, account_external_id=external_id, decision_id=decision.id, reference=None,
        submission_text=WHY, language="en", contact=ContactPreference.email, settings=settings,
    )  # fmt: skip
    return submitted.appeal.id


def _hear(db: Session, settings: Settings, appeal_id: int, outcome: hearing.Outcome) -> None:
    specialist = make_staff(db, role=Role.specialist)
    appeal = service.get_appeal(db, SYSTEM, appeal_id)
    cases.assign(db, SYSTEM, appeal.case_id, staff_id=specialist.id)
    hearing.decide_appeal(
        db, principal(specialist), appeal_id, outcome=outcome, reason="Heard in full.",
        settings=settings,
    )  # fmt: skip


def _detection_case_event(db: Session, account_id: int, external_id: str, event_id: str) -> None:
    at = clock.now()
    db.add(
        Event(
            event_id=event_id,
            payload_sha256="0" * 64,
            type="message_sent",
            account_id=account_id,
            account_external_id=external_id,
            occurred_at=at,
            received_at=at,
            source="tests",
            payload={},
            features={},
            outcome=Outcome.review,
            score=50.0,
            hits=[
                {"rule_id": 7, "name": "off_platform_payment", "shadow": False},
                {"rule_id": 8, "name": "new_rule_in_shadow", "shadow": True},
            ],
            errors=[],
        )
    )
    db.flush()


def test_rates_in_total_and_per_policy_rule_and_reviewer(
    client: TestClient, db: Session, settings: Settings
) -> None:
    routing.ensure_default_queues(db)
    make_policy(db)
    make_policy(db, SPAM)
    ana = make_staff(db, role=Role.agent, name="Ana")
    ben = make_staff(db, role=Role.agent, name="Ben")
    made: list[tuple[Decision, str]] = []
    for n in range(3):
        account = make_account(db, external_id=f"m-{n}")
        kw = {}
        if n == 0:  # opened by a rule: the event names the case's source_ref
            _detection_case_event(db, account.id, account.external_id, "evt-m-0")
            kw = {"type": CaseType.detection, "source_ref": "evt-m-0"}
        case = held_case(db, ana, account, **kw)
        decision = decide(
            db, principal(ana), case, settings, actions=SUSPEND_7, departure_reason="Repeated."
        )
        made.append((decision, account.external_id))
    spammer = make_account(db, external_id="m-spam")
    spam_case = held_case(db, ben, spammer)
    spam = decide(
        db, principal(ben), spam_case, settings, policy="spam",
        actions=[{"type": "remove", "scope": "listing", "target_ref": "listing-9"}],
        departure_reason="A listing, not the account.",
    )  # fmt: skip
    # A removal needs a second approver; the reviewer is still the one who decided.
    approver = make_staff(db, role=Role.specialist)
    enforcement.approve(db, principal(approver), spam.id, settings=settings)
    # A warning took nothing away: outside the cohort.
    warned = make_account(db, external_id="m-warn")
    decide(db, principal(ben), held_case(db, ben, warned), settings)

    overturned = _appeal(db, settings, made[0][0], made[0][1])
    upheld = _appeal(db, settings, made[1][0], made[1][1])
    _appeal(db, settings, spam, "m-spam")  # still open
    _hear(db, settings, overturned, hearing.Outcome.overturn)
    _hear(db, settings, upheld, hearing.Outcome.uphold)
    _, secret = make_api_key(db, scopes=["appeals:read"])
    db.commit()

    def get(**params: str) -> dict:  # type: ignore[type-arg]
        answer = client.get("/v1/appeals/metrics", params=params, headers=auth_header(secret))
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    total = get()["total"]
    assert (total["decisions"], total["appeals"], total["decided"], total["overturned"]) == (
        4,
        3,
        2,
        1,
    )
    assert total["appeal_rate"] == 0.75 and total["overturn_rate"] == 0.5

    # Per-reviewer rates are staff data: an API key is refused, and gets no names.
    refused = client.get(
        "/v1/appeals/metrics", params={"group_by": "reviewer"}, headers=auth_header(secret)
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "reviewer_metrics_staff_only"
    assert "Ana" not in refused.text and "Ben" not in refused.text
    lead = make_staff(db, role=Role.specialist)
    db.commit()
    login_as(client, db, lead)
    staff_view = client.get("/v1/appeals/metrics", params={"group_by": "reviewer"})
    assert staff_view.status_code == 200, staff_view.text
    by_reviewer = {g["label"]: g for g in staff_view.json()["groups"]}
    assert by_reviewer["Ana"]["decisions"] == 3 and by_reviewer["Ana"]["appeals"] == 2
    assert by_reviewer["Ana"]["appeal_rate"] == 0.6667
    assert by_reviewer["Ana"]["overturn_rate"] == 0.5
    assert by_reviewer["Ben"]["decisions"] == 1 and by_reviewer["Ben"]["appeal_rate"] == 1.0
    assert by_reviewer["Ben"]["overturn_rate"] is None  # nothing decided yet

    by_policy = {g["key"]: g for g in get(group_by="policy")["groups"]}
    assert by_policy["fee_circumvention"]["decisions"] == 3
    assert by_policy["spam"]["appeals"] == 1 and by_policy["spam"]["decided"] == 0

    (rule,) = get(group_by="rule")["groups"]  # the shadow rule does not count
    assert rule["key"] == "7" and rule["label"] == "off_platform_payment"
    assert (rule["decisions"], rule["appeals"], rule["overturned"]) == (1, 1, 1)
    assert rule["overturn_rate"] == 1.0

    today = clock.now().date()
    later = get(
        since=date(today.year + 1, 1, 1).isoformat(), until=date(today.year + 1, 1, 2).isoformat()
    )
    assert later["total"]["decisions"] == 0 and later["total"]["appeal_rate"] is None
    wrong = client.get(
        "/v1/appeals/metrics",
        params={"since": "2026-11-20", "until": "2026-11-01"},
        headers=auth_header(secret),
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "until"


def test_legal_tier_and_actionless_decisions_stay_out_of_the_cohort(
    client: TestClient, db: Session, settings: Settings
) -> None:
    routing.ensure_default_queues(db)
    make_policy(db)
    ana = make_staff(db, role=Role.agent, name="Ana")
    ordinary = make_account(db, external_id="m-ordinary")
    decide(
        db, principal(ana), held_case(db, ana, ordinary), settings, actions=SUSPEND_7,
        departure_reason="Repeated.",
    )  # fmt: skip
    legal_staff = make_staff(db, role=Role.legal, name="Lea")
    secret_account = make_account(db, external_id="m-legal")
    legal_case = held_case(db, legal_staff, secret_account, tier=Tier.legal)
    legal = decide(
        db, principal(legal_staff), legal_case, settings, actions=SUSPEND_7,
        departure_reason="Court order.",
    )  # fmt: skip
    # A violation recorded without any action took nothing away: it cannot be appealed, so
    # it is not in the denominator either.
    bare_account = make_account(db, external_id="m-bare")
    bare = decide(
        db, principal(ana), held_case(db, ana, bare_account), settings, actions=SUSPEND_7,
        departure_reason="Repeated.",
    )  # fmt: skip
    bare.action = None
    _appeal(db, settings, legal, "m-legal")
    _, secret = make_api_key(db, scopes=["appeals:read"])
    db.commit()

    answer = client.get("/v1/appeals/metrics", headers=auth_header(secret))
    assert answer.status_code == 200, answer.text
    total = answer.json()["total"]
    assert (total["decisions"], total["appeals"]) == (1, 0)
    by_policy = client.get(
        "/v1/appeals/metrics", params={"group_by": "policy"}, headers=auth_header(secret)
    ).json()["groups"]
    assert [(g["key"], g["decisions"]) for g in by_policy] == [("fee_circumvention", 1)]

    login_as(client, db, legal_staff)
    seen = client.get("/v1/appeals/metrics").json()["total"]
    assert (seen["decisions"], seen["appeals"]) == (2, 1)
