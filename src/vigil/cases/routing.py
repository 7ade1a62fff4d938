"""Which queue a case goes to.

Routing rules are tried in ``position`` order; the first active rule whose every non-empty
criterion matches the case, and whose queue is active and of the case's tier, wins. A rule never
moves a case to another tier: the tier says who may see and work a case, so only an escalation
changes it. With no matching rule the case goes to the ``triage`` queue when that queue is of the
case's tier, else to the oldest active queue of that tier; with none at all, 409 ``no_queue``.

Queues are never created at run time: :func:`ensure_default_queues` (called by
``vigil queues bootstrap``, the simulator and tests) lays down a sensible starting set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.permissions import Tier
from vigil.auth.principal import Principal
from vigil.cases.models import CaseType, Queue, RoutingRule, Severity
from vigil.kit.errors import Conflict

FALLBACK_SLUG = "triage"


@dataclass(frozen=True)
class CaseTraits:
    """What routing looks at."""

    type: CaseType
    language: str
    tier: Tier
    severity: Severity


def rule_matches(rule: RoutingRule, traits: CaseTraits) -> bool:
    if rule.case_types and traits.type.value not in rule.case_types:
        return False
    if rule.languages and traits.language.lower() not in {x.lower() for x in rule.languages}:
        return False
    if rule.tiers and traits.tier.value not in rule.tiers:
        return False
    return not (rule.min_severity and traits.severity.rank < Severity(rule.min_severity).rank)


def route(session: Session, traits: CaseTraits) -> Queue:
    rows = session.execute(
        select(RoutingRule, Queue)
        .join(Queue, Queue.id == RoutingRule.queue_id)
        .where(RoutingRule.active.is_(True), Queue.active.is_(True), Queue.tier == traits.tier)
        .order_by(RoutingRule.position, RoutingRule.id)
    ).all()
    for rule, queue in rows:
        if rule_matches(rule, traits):
            return queue
    return fallback_queue(session, traits.tier)


def fallback_queue(session: Session, tier: Tier) -> Queue:
    triage = session.scalar(
        select(Queue).where(Queue.slug == FALLBACK_SLUG, Queue.tier == tier, Queue.active.is_(True))
    )
    if triage is not None:
        return triage
    any_of_tier = session.scalar(
        select(Queue).where(Queue.tier == tier, Queue.active.is_(True)).order_by(Queue.id).limit(1)
    )
    if any_of_tier is None:
        raise Conflict(
            f"no active queue takes {tier.value} cases; run `vigil queues bootstrap` or create one",
            field="tier",
            code="no_queue",
        )
    return any_of_tier


# --- the default set ------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    case_types: tuple[CaseType, ...] = ()
    languages: tuple[str, ...] = ()
    tiers: tuple[Tier, ...] = ()
    min_severity: Severity | None = None


@dataclass(frozen=True)
class QueueSpec:
    slug: str
    name: str
    tier: Tier
    sla_hours: int
    description: str = ""
    # The routing rules that send cases here.
    rules: tuple[RuleSpec, ...] = field(default_factory=tuple)


T = CaseType
DEFAULT_QUEUES: list[QueueSpec] = [
    QueueSpec(
        "triage",
        "Triage",
        Tier.tier1,
        24,
        "Everything no other rule takes.",
        (RuleSpec(tiers=(Tier.tier1,)),),
    ),
    QueueSpec(
        "identity",
        "Identity reviews",
        Tier.tier1,
        8,
        "Document and selfie checks that need a person.",
        (RuleSpec(case_types=(T.identity_review,), tiers=(Tier.tier1,)),),
    ),
    QueueSpec(
        "reports",
        "User reports",
        Tier.tier1,
        24,
        "Reports from the marketplace's users and account reviews.",
        (RuleSpec(case_types=(T.user_report, T.account_review), tiers=(Tier.tier1,)),),
    ),
    QueueSpec(
        "detection",
        "Detections",
        Tier.tier1,
        12,
        "Cases opened by rules and models.",
        (RuleSpec(case_types=(T.detection,), tiers=(Tier.tier1,)),),
    ),
    QueueSpec(
        "disputes",
        "Disputes",
        Tier.tier1,
        # The other party has 72 hours to answer (dispute_response_hours) before a mediator
        # can do much: the queue's clock allows for that and two days of mediation.
        120,
        "Disputes between two users.",
        (RuleSpec(case_types=(T.dispute,), tiers=(Tier.tier1,)),),
    ),
    QueueSpec(
        "appeals",
        "Appeals",
        Tier.specialist,
        72,
        "Appeals against our decisions, heard by someone other than the original reviewer.",
        (RuleSpec(case_types=(T.appeal,), tiers=(Tier.specialist,)),),
    ),
    QueueSpec(
        "es",
        "Spanish",
        Tier.tier1,
        24,
        "Reports, detections and account reviews in Spanish.",
        (
            RuleSpec(
                case_types=(T.user_report, T.account_review, T.detection),
                languages=("es",),
                tiers=(Tier.tier1,),
            ),
        ),
    ),
    QueueSpec(
        "pt",
        "Portuguese",
        Tier.tier1,
        24,
        "Reports, detections and account reviews in Portuguese.",
        (
            RuleSpec(
                case_types=(T.user_report, T.account_review, T.detection),
                languages=("pt",),
                tiers=(Tier.tier1,),
            ),
        ),
    ),
    QueueSpec(
        "escalations",
        "Escalations",
        Tier.specialist,
        24,
        "Hard and sensitive cases escalated by Tier 1.",
        (RuleSpec(tiers=(Tier.specialist,)),),
    ),
    QueueSpec(
        "legal",
        "Legal",
        Tier.legal,
        72,
        "Restricted: legal and brand.",
        (RuleSpec(tiers=(Tier.legal,)),),
    ),
]

# Rules are tried in this order: the specific ones (language, then type) before the catch-alls.
_RULE_ORDER = [
    "es",
    "pt",
    "identity",
    "reports",
    "detection",
    "disputes",
    "appeals",
    "escalations",
    "legal",
    "triage",
]


def ensure_default_queues(session: Session, actor: Principal | None = None) -> list[Queue]:
    """Create the default queues that are missing (by slug) and, when no routing rule exists
    yet, the default rules. Safe to run again: existing queues and rules are left as they are.
    """
    actor = actor or Principal.system("bootstrap")
    by_slug = {q.slug: q for q in session.scalars(select(Queue))}
    missing = [s.slug for s in DEFAULT_QUEUES if s.slug not in by_slug]
    for spec in DEFAULT_QUEUES:
        if spec.slug not in by_slug:
            queue = Queue(
                slug=spec.slug,
                name=spec.name,
                tier=spec.tier,
                sla_minutes=spec.sla_hours * 60,
                description=spec.description,
            )
            session.add(queue)
            by_slug[spec.slug] = queue
    session.flush()
    rules_made = session.scalar(select(RoutingRule.id).limit(1)) is None
    if rules_made:
        specs = {s.slug: s for s in DEFAULT_QUEUES}
        position = 0
        for slug in _RULE_ORDER:
            for rule in specs[slug].rules:
                position += 10
                session.add(
                    RoutingRule(
                        position=position,
                        queue_id=by_slug[slug].id,
                        case_types=[t.value for t in rule.case_types],
                        languages=list(rule.languages),
                        tiers=[t.value for t in rule.tiers],
                        min_severity=rule.min_severity.value if rule.min_severity else None,
                    )
                )
        session.flush()
    if missing or rules_made:
        audit.record(
            session,
            actor,
            "cases.queue.bootstrap",
            "queue",
            None,
            data={"created": missing, "default_rules": rules_made},
        )
    return [by_slug[s.slug] for s in DEFAULT_QUEUES]
