"""Which queue a case lands in."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.auth.permissions import Tier
from vigil.cases import routing
from vigil.cases.models import CaseType, Queue, RoutingRule, Severity
from vigil.kit.errors import Conflict

T = CaseType


def traits(
    type: CaseType = T.user_report,
    language: str = "en",
    tier: Tier = Tier.tier1,
    severity: Severity = Severity.medium,
) -> routing.CaseTraits:
    return routing.CaseTraits(type, language, tier, severity)


@pytest.mark.parametrize(
    ("case_traits", "slug"),
    [
        (traits(T.identity_review), "identity"),
        (traits(T.account_review), "reports"),
        (traits(T.user_report), "reports"),
        (traits(T.detection), "detection"),
        (traits(T.dispute), "disputes"),
        (traits(T.appeal, tier=Tier.specialist), "appeals"),
        (traits(T.user_report, "es"), "es"),
        (traits(T.detection, "PT"), "pt"),
        (traits(T.identity_review, "es"), "identity"),  # no Spanish identity queue
        (traits(T.dispute, tier=Tier.specialist), "escalations"),
        (traits(T.appeal, tier=Tier.legal), "legal"),
    ],
)
def test_default_routing(
    db: Session, queues: dict[str, Queue], case_traits: routing.CaseTraits, slug: str
) -> None:
    assert routing.route(db, case_traits).slug == slug


def test_bootstrap_is_idempotent(db: Session) -> None:
    routing.ensure_default_queues(db)
    queues = db.scalar(select(func.count()).select_from(Queue))
    rules = db.scalar(select(func.count()).select_from(RoutingRule))
    routing.ensure_default_queues(db)
    assert db.scalar(select(func.count()).select_from(Queue)) == queues == 10
    assert db.scalar(select(func.count()).select_from(RoutingRule)) == rules


def _queue(db: Session, slug: str, tier: Tier = Tier.tier1, active: bool = True) -> Queue:
    q = Queue(slug=slug, name=slug.title(), tier=tier, sla_minutes=60, active=active)
    db.add(q)
    db.flush()
    return q


def _rule(db: Session, position: int, queue: Queue, **criteria: object) -> RoutingRule:
    r = RoutingRule(position=position, queue_id=queue.id, **criteria)
    db.add(r)
    db.flush()
    return r


def test_first_matching_rule_in_position_order_wins(db: Session) -> None:
    fraud = _queue(db, "fraud")
    urgent = _queue(db, "urgent")
    general = _queue(db, "general")
    _rule(db, 30, general)
    _rule(db, 20, fraud, case_types=["detection"])
    _rule(db, 10, urgent, min_severity="high")
    assert routing.route(db, traits(T.detection, severity=Severity.critical)).slug == "urgent"
    assert routing.route(db, traits(T.detection, severity=Severity.medium)).slug == "fraud"
    assert routing.route(db, traits(T.appeal)).slug == "general"


def test_rules_skip_inactive_rules_inactive_queues_and_other_tiers(db: Session) -> None:
    triage = _queue(db, "triage")
    closed_down = _queue(db, "old", active=False)
    off = _queue(db, "off")
    specialist = _queue(db, "specialists", Tier.specialist)
    _rule(db, 10, closed_down)
    _rule(db, 20, off, active=False)
    _rule(db, 30, specialist)  # a rule never moves a case to another tier
    assert routing.route(db, traits()).id == triage.id


def test_every_criterion_must_match(db: Session) -> None:
    _queue(db, "triage")
    es_reports = _queue(db, "es-reports")
    _rule(db, 10, es_reports, case_types=["user_report"], languages=["es"])
    assert routing.route(db, traits(T.user_report, "es")).slug == "es-reports"
    assert routing.route(db, traits(T.user_report, "en")).slug == "triage"
    assert routing.route(db, traits(T.appeal, "es")).slug == "triage"


def test_fallback_without_triage_is_the_oldest_queue_of_the_tier(db: Session) -> None:
    _queue(db, "triage", Tier.specialist)  # a triage queue, but of another tier
    first = _queue(db, "first")
    _queue(db, "second")
    assert routing.route(db, traits()).id == first.id


def test_no_queue_for_the_tier_is_a_conflict(db: Session) -> None:
    _queue(db, "triage")
    with pytest.raises(Conflict) as info:
        routing.route(db, traits(tier=Tier.legal))
    assert info.value.code == "no_queue"
    assert info.value.status_code == 409
