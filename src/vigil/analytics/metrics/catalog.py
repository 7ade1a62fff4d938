"""The metric catalog: every metric Vigil computes, keyed by a stable name.

A name, once published, keeps its meaning: dashboards, goals, exports and analysts' scripts
refer to it. Each entry says what it measures, its unit, which direction is better, and which
filters and group_bys it understands (anything else is refused by ``service.parse_query``).
docs/metrics.md gives each definition in full; the compute functions' modules state them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vigil.analytics.metrics import cases, decisions, outcomes, review
from vigil.analytics.metrics.base import Better, Compute, Unit
from vigil.auth.permissions import Permission

FILTERS: tuple[str, ...] = ("queue", "policy", "rule", "reviewer", "locale", "side")

Kind = Literal["count", "ratio", "quantile"]

# The read permission of the domain a family's figures come from, needed besides
# ``metrics:read``: the metrics API never shows more than the domain's own screens and API do
# (QA scorecards, detection rules, appeals, disputes, identity verifications). Case flow,
# decisions and people's throughput are the metrics' own: ``metrics:read`` is enough.
FAMILY_REQUIRES: dict[str, Permission] = {
    "quality": Permission.qa_read,
    "detection": Permission.rules_read,
    "appeals": Permission.appeals_read,
    "disputes": Permission.disputes_read,
    "identity": Permission.identity_read,
}


@dataclass(frozen=True)
class MetricDef:
    name: str
    label: str
    description: str
    unit: Unit
    better: Better
    filters: frozenset[str]
    group_by: frozenset[str]
    family: str
    # How a bucket's figure is made: a count; a ratio (numerator / denominator); a quantile,
    # maximum or kappa of the bucket's items (the number of items in ``denominator``).
    kind: Kind = field(default="count", compare=False)
    # A state read at each bucket's end (backlog): the window's total is its last bucket.
    snapshot: bool = field(default=False, compare=False)
    compute: Compute = field(default=cases.cases_opened, compare=False, repr=False)
    # Needed besides ``metrics:read`` (see FAMILY_REQUIRES); None: nothing more.
    requires: Permission | None = field(default=None, compare=False)


_CASE = frozenset({"queue", "policy", "locale", "side"})
_CASE_G = _CASE | {"type"}
_DEC = frozenset({"queue", "policy", "reviewer", "locale", "side"})
_QA = frozenset({"queue", "policy", "reviewer"})
_ID = frozenset({"side", "locale"})
_NONE: frozenset[str] = frozenset()


def _m(
    name: str,
    label: str,
    description: str,
    unit: Unit,
    better: Better,
    filters: frozenset[str],
    group_by: frozenset[str],
    family: str,
    compute: Compute,
    kind: Kind = "count",
    snapshot: bool = False,
) -> MetricDef:
    return MetricDef(
        name, label, description, unit, better, frozenset(filters), frozenset(group_by),
        family, kind, snapshot, compute, FAMILY_REQUIRES.get(family),
    )  # fmt: skip


# fmt: off
_ALL = [
    # Case flow
    _m("cases_opened", "Cases opened", "Cases opened in the period (by opened_at).",
       "count", None, _CASE, _CASE_G, "cases", cases.cases_opened),
    _m("cases_closed", "Cases closed", "Cases closed in the period (by closed_at).",
       "count", None, _CASE, _CASE_G | {"resolution"}, "cases", cases.cases_closed),
    _m("backlog", "Backlog", "Cases open at the end of each bucket (now, for the current one).",
       "count", "lower", _CASE, _CASE_G | {"age_band"}, "cases", cases.backlog,
       snapshot=True),
    _m("backlog_age_median", "Backlog age (median)",
       "Median age of the cases open at the end of each bucket, in seconds.",
       "seconds", "lower", _CASE, _CASE_G, "cases", cases.backlog_age_median, "quantile",
       True),
    _m("backlog_age_max", "Oldest open case",
       "Age of the oldest case open at the end of each bucket, in seconds.",
       "seconds", "lower", _CASE, _CASE_G, "cases", cases.backlog_age_max, "quantile", True),
    _m("sla_attainment", "SLA attainment",
       "Of the cases closed in the bucket, the share closed by their SLA due time and never "
       "flagged as breached. Open cases are not in it: see Open and past SLA.",
       "ratio", "higher", _CASE, _CASE_G, "cases", cases.sla_attainment, "ratio"),
    _m("backlog_past_sla", "Open and past SLA",
       "Cases open at the end of each bucket (now, for the current one) whose SLA due time "
       "had already passed: the late backlog that SLA attainment shows only once it closes.",
       "count", "lower", _CASE, _CASE_G, "cases", cases.backlog_past_sla, snapshot=True),
    _m("time_to_first_action_median", "Time to first action (median)",
       "Seconds from a case's opening to the first time a person took it, by the time taken.",
       "seconds", "lower", _CASE, _CASE_G, "cases", cases.time_to_first_action_median,
       "quantile"),
    _m("time_to_first_action_p90", "Time to first action (p90)",
       "90th percentile of the seconds from opening to the first time a person took the case.",
       "seconds", "lower", _CASE, _CASE_G, "cases", cases.time_to_first_action_p90, "quantile"),
    # Decisions
    _m("time_to_decision_median", "Time to decision (median)",
       "Seconds from a case's opening to a decision on it, by the decision's time.",
       "seconds", "lower", _DEC, _DEC, "decisions", decisions.time_to_decision_median,
       "quantile"),
    _m("time_to_decision_p90", "Time to decision (p90)",
       "90th percentile of the seconds from a case's opening to a decision on it.",
       "seconds", "lower", _DEC, _DEC, "decisions", decisions.time_to_decision_p90, "quantile"),
    _m("handle_time_median", "Handle time (median)",
       "Working seconds from the case's latest assignment to the decision, less time on "
       "hold (people only).",
       "seconds", "lower", _DEC, _DEC, "people", decisions.handle_time_median, "quantile"),
    _m("handle_time_p90", "Handle time (p90)",
       "90th percentile of the working seconds from assignment to decision, less hold.",
       "seconds", "lower", _DEC, _DEC, "people", decisions.handle_time_p90, "quantile"),
    _m("decisions_per_hour", "Decisions per active hour",
       "Human decisions / active hours (distinct hours in which a reviewer who decided in "
       "the bucket recorded a decision or a case event).",
       "per_hour", "higher", frozenset({"reviewer"}), frozenset({"reviewer"}), "people",
       decisions.decisions_per_hour, "ratio"),
    _m("automation_rate", "Automation rate",
       "Decisions made with no human decider / all decisions not rejected, by creation time; "
       "it includes those still awaiting a second approval, which the transparency report "
       "(decisions applied or reversed only) leaves out.",
       "ratio", "higher", _CASE, _CASE | {"action"}, "decisions", decisions.automation_rate,
       "ratio"),
    _m("enforcement_actions", "Enforcement actions",
       "Violation decisions that took effect (by applied_at), by their most severe action.",
       "count", None, _DEC, _DEC | {"action"}, "decisions", decisions.enforcement_actions),
    # Quality
    _m("qa_agreement_rate", "QA agreement",
       "Share of scored QA samples whose blind re-decision matched the original's label and "
       "policy (as on the QA scorecards); QA kappa compares the labels only.",
       "ratio", "higher", _QA, _QA, "quality", review.qa_agreement_rate, "ratio"),
    _m("qa_kappa", "QA kappa",
       "Cohen's kappa between original and blind labels only, policy aside, so it can be "
       "higher than QA agreement suggests (null with < 2 samples or one label).",
       "score", "higher", _QA, _QA, "quality", review.qa_kappa, "quantile"),
    _m("qa_message_quality", "Message quality",
       "Mean QA score (1-5) of the message to the user, over samples given one.",
       "score", "higher", _QA, _QA, "quality", review.qa_message_quality, "ratio"),
    _m("qa_right_policy_rate", "Right policy",
       "Share of scored QA samples where the original cited the right policy.",
       "ratio", "higher", _QA, _QA, "quality", review.qa_right_policy_rate, "ratio"),
    _m("qa_right_action_rate", "Right action",
       "Share of scored QA samples where the original took the right action.",
       "ratio", "higher", _QA, _QA, "quality", review.qa_right_action_rate, "ratio"),
    _m("appeal_rate", "Appeal rate",
       "Of the restrictive decisions that took effect in the bucket, the share appealed.",
       "ratio", "lower", _DEC, _DEC, "appeals", review.appeal_rate, "ratio"),
    _m("overturn_rate", "Overturn rate",
       "Of the decided appeals against decisions that took effect in the bucket, the share "
       "overturned or modified.",
       "ratio", "lower", _DEC, _DEC, "appeals", review.overturn_rate, "ratio"),
    # Detection
    _m("rule_precision", "Rule precision",
       "Of the live rule hits whose case was judged, the share whose case was actioned.",
       "ratio", "higher", frozenset({"rule", "policy", "side"}),
       frozenset({"rule", "policy", "side"}), "detection", outcomes.rule_precision, "ratio"),
    # Identity
    _m("identity_verifications", "Identity verifications",
       "Verifications processed, by their automated outcome (approve, reject, review).",
       "count", None, _ID, _ID | {"outcome"}, "identity", outcomes.identity_verifications),
    _m("identity_pass_rate", "Identity pass rate",
       "Share of processed verifications the pipeline approved.",
       "ratio", None, _ID, _ID, "identity", outcomes.identity_pass_rate, "ratio"),
    _m("identity_reject_rate", "Identity reject rate",
       "Share of processed verifications the pipeline rejected.",
       "ratio", None, _ID, _ID, "identity", outcomes.identity_reject_rate, "ratio"),
    _m("identity_review_rate", "Identity review rate",
       "Share of processed verifications the pipeline sent to a person.",
       "ratio", "lower", _ID, _ID, "identity", outcomes.identity_review_rate, "ratio"),
    _m("identity_reasons", "Identity reasons",
       "Reason codes given on processed verifications (each once per verification).",
       "count", None, _ID, _ID | {"reason"}, "identity", outcomes.identity_reasons),
    # Disputes
    _m("disputes_opened", "Disputes opened", "Disputes opened (by opened_at).",
       "count", None, _NONE, frozenset({"reason"}), "disputes", outcomes.disputes_opened),
    _m("disputes_resolved", "Disputes resolved", "Disputes resolved (by resolved_at).",
       "count", None, _NONE, frozenset({"outcome", "reason"}), "disputes",
       outcomes.disputes_resolved),
    _m("dispute_resolution_median", "Dispute resolution time (median)",
       "Seconds from opening to resolution of the disputes resolved in the bucket.",
       "seconds", "lower", _NONE, frozenset({"outcome", "reason"}), "disputes",
       outcomes.dispute_resolution_median, "quantile"),
    _m("dispute_resolution_p90", "Dispute resolution time (p90)",
       "90th percentile of the seconds from opening to resolution.",
       "seconds", "lower", _NONE, frozenset({"outcome", "reason"}), "disputes",
       outcomes.dispute_resolution_p90, "quantile"),
]
# fmt: on

METRICS: dict[str, MetricDef] = {m.name: m for m in _ALL}
assert len(METRICS) == len(_ALL), "metric names are unique"
