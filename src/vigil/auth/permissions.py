"""Roles, permissions and the one matrix that joins them.

Every route declares the permission it needs (see ``vigil.auth.deps``); this module is the
only place that says which role holds which permission. ``docs/access.md`` prints this matrix.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    agent = "agent"  # Tier 1
    specialist = "specialist"  # escalation tier
    legal = "legal"
    qa = "qa"
    policy_lead = "policy_lead"
    leadership = "leadership"  # T&S leadership: metrics, goals, trends, transparency reports
    admin = "admin"


class Tier(StrEnum):
    """Where a case sits in the escalation ladder: Tier 1 -> specialist -> legal."""

    tier1 = "tier1"
    specialist = "specialist"
    legal = "legal"

    @property
    def rank(self) -> int:
        return _TIER_ORDER.index(self)

    def next(self) -> Tier | None:
        i = self.rank + 1
        return _TIER_ORDER[i] if i < len(_TIER_ORDER) else None


_TIER_ORDER = [Tier.tier1, Tier.specialist, Tier.legal]


class Permission(StrEnum):
    accounts_read = "accounts:read"
    accounts_write = "accounts:write"
    pii_reveal = "pii:reveal"
    restrictions_write = "restrictions:write"
    cases_read = "cases:read"
    cases_create = "cases:create"
    cases_work = "cases:work"  # pull, hold, note, escalate, close cases one may see
    cases_assign = "cases:assign"  # assign cases to others, reopen
    queues_read = "queues:read"
    queues_write = "queues:write"
    staff_read = "staff:read"
    staff_write = "staff:write"
    api_keys_write = "api_keys:write"
    audit_read = "audit:read"
    jobs_read = "jobs:read"
    jobs_write = "jobs:write"
    legal_cases = "cases:legal"  # see and work cases in the legal tier
    policies_read = "policies:read"
    policies_write = "policies:write"  # edit the policy catalog, templates and macros
    decisions_write = "decisions:write"  # record a decision on a case one may work
    decisions_approve = "decisions:approve"  # second approver (four-eyes) on severe actions
    decisions_reverse = "decisions:reverse"  # overturn a decision, lift its actions
    messages_send = "messages:send"  # preview and send messages to users
    integrations_read = "integrations:read"  # webhook endpoints and their delivery logs
    integrations_write = "integrations:write"
    statements_read = "statements:read"  # DSA statements of reasons and their export
    events_write = "events:write"  # send the marketplace's events for a decision
    events_read = "events:read"  # read stored events and their decisions
    rules_read = "rules:read"  # detection rules, their versions and backtests
    rules_write = "rules:write"  # write rules, change their state, run backtests
    identity_read = "identity:read"  # verifications, their checks and the fields read
    identity_write = "identity:write"  # submit documents for verification (the marketplace)
    identity_images = "identity:images"  # reveal document images and selfies (audited)
    identity_decide = "identity:decide"  # approve / reject a verification under review
    screening_write = "screening:write"  # load sanctions / PEP lists
    disputes_read = "disputes:read"  # disputes between two users, their sides and outcomes
    disputes_write = "disputes:write"  # open a dispute, submit a side, answer a proposal (API)
    disputes_mediate = "disputes:mediate"  # propose a resolution, rule on a dispute
    appeals_read = "appeals:read"  # appeals against decisions and their outcomes
    appeals_write = "appeals:write"  # submit a user's appeal (the marketplace, through the API)
    appeals_decide = "appeals:decide"  # hear an appeal: uphold, overturn or modify
    qa_read = "qa:read"  # QA scorecards: agreement and kappa per reviewer, queue, policy
    qa_review = "qa:review"  # review sampled decisions blind and score them
    qa_manage = "qa:manage"  # sampling rates, calibration sets and their assignment
    calibration_answer = "calibration:answer"  # answer the calibration sets assigned to one
    metrics_read = "metrics:read"  # dashboards and the metrics API (aggregates, no personal data)
    metrics_reviewers = "metrics:reviewers"  # other reviewers' figures (one's own: metrics:read)
    trends_read = "trends:read"  # trend alerts, emerging clusters and incidents
    trends_triage = "trends:triage"  # acknowledge or dismiss a trend alert
    incidents_write = "incidents:write"  # open an incident (from an alert or by hand), link cases
    goals_write = "goals:write"  # set targets on metrics per period
    reports_read = "reports:read"  # transparency reports (DSA Art. 15 / 24 figures)
    data_export = "data:export"  # CSV / XLSX downloads of case and decision lists
    legal_holds_write = "legal_holds:write"  # place and lift legal holds (retention never deletes)
    privacy_requests = "privacy:requests"  # erasure and access requests for a person's data
    privacy_erase = "privacy:erase"  # carry out or refuse an erasure request (staff only)


P = Permission

_WORKER = {
    P.accounts_read,
    P.cases_read,
    P.cases_work,
    P.queues_read,
    P.staff_read,
    P.policies_read,
    P.decisions_write,
    P.messages_send,
    P.statements_read,
    P.events_read,
    P.rules_read,
    P.identity_read,
    P.identity_images,
    P.identity_decide,
    P.disputes_read,
    P.disputes_mediate,
    P.appeals_read,
    P.calibration_answer,
    P.metrics_read,
    P.trends_read,
    P.incidents_write,
}
# Second approvers, who may also overturn decisions and read the webhook log of what they did.
_SENIOR = {
    P.decisions_approve,
    P.decisions_reverse,
    P.integrations_read,
    P.appeals_decide,
    P.qa_read,
    P.metrics_reviewers,
    P.trends_triage,
    P.data_export,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.agent: frozenset(_WORKER | {P.cases_create, P.pii_reveal}),
    Role.specialist: frozenset(
        _WORKER | _SENIOR | {P.cases_create, P.pii_reveal, P.cases_assign, P.restrictions_write}
    ),
    Role.legal: frozenset(
        _WORKER
        | _SENIOR
        | {
            P.cases_create,
            P.pii_reveal,
            P.cases_assign,
            P.restrictions_write,
            P.legal_cases,
            P.reports_read,
            P.legal_holds_write,
            P.privacy_requests,
            P.privacy_erase,
        }
    ),
    Role.qa: frozenset(
        {
            P.accounts_read,
            P.cases_read,
            P.queues_read,
            P.staff_read,
            P.policies_read,
            P.statements_read,
            P.events_read,
            P.rules_read,
            P.identity_read,
            P.disputes_read,
            P.appeals_read,
            P.qa_read,
            P.qa_review,
            P.metrics_read,
            P.metrics_reviewers,
            P.trends_read,
            P.data_export,
        }
    ),
    Role.policy_lead: frozenset(
        {
            P.accounts_read,
            P.cases_read,
            P.queues_read,
            P.queues_write,
            P.staff_read,
            P.audit_read,
            P.policies_read,
            P.policies_write,
            P.statements_read,
            P.integrations_read,
            P.events_read,
            P.rules_read,
            P.rules_write,
            P.identity_read,
            P.screening_write,
            P.disputes_read,
            P.appeals_read,
            P.qa_read,
            P.qa_manage,
            P.metrics_read,
            P.metrics_reviewers,
            P.trends_read,
            P.trends_triage,
            P.incidents_write,
            P.reports_read,
            P.data_export,
        }
    ),
    Role.leadership: frozenset(
        {
            P.accounts_read,
            P.cases_read,
            P.queues_read,
            P.staff_read,
            P.audit_read,
            P.policies_read,
            P.statements_read,
            P.rules_read,
            P.identity_read,
            P.disputes_read,
            P.appeals_read,
            P.qa_read,
            P.metrics_read,
            P.metrics_reviewers,
            P.trends_read,
            P.trends_triage,
            P.incidents_write,
            P.goals_write,
            P.reports_read,
            P.data_export,
        }
    ),
    Role.admin: frozenset(set(Permission)),
}

# What the tier a role works in; roles without one never pull cases.
ROLE_TIER: dict[Role, Tier] = {
    Role.agent: Tier.tier1,
    Role.specialist: Tier.specialist,
    Role.legal: Tier.legal,
}

# API keys are for the marketplace's servers: they may hold only these scopes.
API_KEY_SCOPES: frozenset[Permission] = frozenset(
    {
        P.accounts_read,
        P.accounts_write,
        P.cases_read,
        P.cases_create,
        P.queues_read,
        P.policies_read,
        P.statements_read,
        P.events_write,
        P.events_read,
        P.identity_read,
        P.identity_write,
        P.disputes_read,
        P.disputes_write,
        P.appeals_read,
        P.appeals_write,
        P.metrics_read,
        P.reports_read,
        P.privacy_requests,
    }
)


def role_has(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
