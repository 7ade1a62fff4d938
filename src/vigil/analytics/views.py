"""SQL views for analysts who work in SQL: one stable, documented row per case, decision,
report, appeal, identity verification, dispute and QA sample.

Migration 0002 creates them (and drops them on downgrade) from :data:`VIEWS`; docs/sql-views.md
documents every column. The same column names and meanings on SQLite and PostgreSQL.

Invariants:
- No personal data: ids only (no names, e-mails, phone numbers, document numbers, free text
  written by users or staff). An analyst joins to other tables only if their own database
  grants allow it.
- Flags are integers 1 / 0 (null when not yet known), so ``SUM(flag)`` counts and
  ``AVG(flag)`` is a rate on both databases.
- Durations are seconds (float); timestamps are UTC (``timestamptz`` on PostgreSQL, ISO text
  ``YYYY-MM-DD HH:MM:SS[.ffffff]`` on SQLite).
- A view is a stable interface: a column is added, never renamed or removed, without a new
  migration that says so in the docs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Dialect = str


def _seconds(d: Dialect, start: str, end: str) -> str:
    if d == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)"
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


def _json(d: Dialect, column: str, *path: str) -> str:
    if d == "postgresql":
        return f"({column} #>> '{{{','.join(path)}}}')"
    return f"json_extract({column}, '$.{'.'.join(path)}')"


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def _nullable_flag(column: str) -> str:
    return f"CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN 1 ELSE 0 END"


def _first_policy(decision: str) -> str:
    """A decision's first policy (the one its statement of reasons names)."""
    return (
        "(SELECT dp.policy_code FROM decision_policies dp "
        f"WHERE dp.decision_id = {decision} ORDER BY dp.position LIMIT 1)"
    )


def cases(d: Dialect) -> str:
    return f"""
SELECT c.id AS case_id, c.type, c.status, c.tier, c.severity, c.priority, c.language,
       c.policy_code, c.queue_id, q.slug AS queue_slug, c.account_id, c.source,
       c.opened_at, c.first_assigned_at, c.escalated_at, c.closed_at, c.sla_due_at,
       c.sla_breached_at, c.resolution,
       {_seconds(d, "c.opened_at", "c.first_assigned_at")} AS seconds_to_first_assignment,
       {_seconds(d, "c.opened_at", "c.closed_at")} AS seconds_to_close,
       CASE WHEN c.closed_at IS NULL THEN NULL
            ELSE {_flag("c.sla_breached_at IS NULL AND c.closed_at <= c.sla_due_at")} END
         AS sla_met
FROM cases c JOIN queues q ON q.id = c.queue_id
"""


_OVERTURNED = (
    "EXISTS (SELECT 1 FROM appeals a WHERE a.decision_id = dc.id AND a.status = 'overturned')"
)


def decisions(d: Dialect) -> str:
    return f"""
SELECT dc.id AS decision_id, dc.case_id, dc.account_id, dc.status,
       {_flag("dc.no_violation")} AS no_violation, dc.action,
       {_first_policy("dc.id")} AS policy_code, dc.locale,
       {_flag("dc.decided_by_id IS NULL")} AS automated, dc.decided_by_id AS reviewer_id,
       dc.approved_by_id, dc.created_at, dc.applied_at, dc.reversed_at,
       {_flag("dc.status = 'reversed'")} AS reversed,
       {_flag(_OVERTURNED)} AS overturned_on_appeal,
       c.queue_id, c.type AS case_type, c.tier AS case_tier,
       {_seconds(d, "c.opened_at", "dc.created_at")} AS seconds_from_case_open
FROM decisions dc JOIN cases c ON c.id = dc.case_id
"""


def reports(d: Dialect) -> str:
    return f"""
SELECT e.id AS report_event_id, e.account_id AS reporter_account_id,
       r.id AS reported_account_id, e.occurred_at,
       {_json(d, "e.payload", "data", "reason")} AS reason,
       {_json(d, "e.payload", "data", "target_type")} AS target_type,
       a.country AS reporter_country, a.side AS reporter_side,
       e.outcome AS detection_outcome, e.case_id, e.decision_id,
       c.status AS case_status, c.resolution AS case_resolution, c.closed_at AS case_closed_at,
       {_seconds(d, "e.occurred_at", "c.closed_at")} AS seconds_to_case_close
FROM events e
LEFT JOIN accounts a ON a.id = e.account_id
LEFT JOIN accounts r ON r.external_id = e.counterparty_external_id
LEFT JOIN cases c ON c.id = e.case_id
WHERE e.type = 'report_filed'
"""


def appeals(d: Dialect) -> str:
    return f"""
SELECT ap.id AS appeal_id, ap.decision_id, ap.case_id, ap.original_case_id, ap.account_id,
       ap.status, ap.channel, ap.language, ap.submitted_at, ap.decided_at,
       ap.decided_by_id AS reviewer_id, ap.new_decision_id,
       {_first_policy("ap.decision_id")} AS policy_code,
       {_flag("dc.decided_by_id IS NULL")} AS original_automated,
       {_seconds(d, "ap.submitted_at", "ap.decided_at")} AS seconds_to_decision
FROM appeals ap JOIN decisions dc ON dc.id = ap.decision_id
"""


def identity(d: Dialect) -> str:
    return f"""
SELECT v.id AS verification_id, v.account_id, v.kind, v.issuing_country, v.status, v.outcome,
       v.decision, v.reasons, v.case_id, v.created_at, v.processed_at, v.decided_at,
       v.decided_by_id AS reviewer_id,
       {_seconds(d, "v.created_at", "v.decided_at")} AS seconds_to_decision
FROM identity_verifications v
"""


def disputes(d: Dialect) -> str:
    return f"""
SELECT ds.id AS dispute_id, ds.case_id, ds.status, ds.subject_type, ds.reason_code,
       ds.opened_by, ds.buyer_account_id, ds.seller_account_id, ds.amount_minor, ds.currency,
       ds.outcome, ds.resolved_by, ds.refund_minor, ds.release_minor, ds.payment_status,
       {_flag("ds.respondent_defaulted")} AS respondent_defaulted, ds.ruled_by_id,
       ds.opened_at, ds.responded_at, ds.mediation_at, ds.resolved_at,
       ds.response_seconds, ds.first_proposal_seconds, ds.resolution_seconds
FROM disputes ds
"""


def qa(d: Dialect) -> str:
    return f"""
SELECT s.id AS sample_id, s.decision_id, s.case_id, s.queue_id, s.source, s.status,
       s.decided_by_id AS decided_by_reviewer_id, s.reviewer_id AS qa_reviewer_id,
       s.decided_at, s.original_label, s.original_policy_code, s.blind_label,
       s.blind_policy_code, {_nullable_flag("s.agreed")} AS agreed,
       {_nullable_flag("s.right_policy")} AS right_policy,
       {_nullable_flag("s.right_action")} AS right_action, s.message_quality,
       s.sampled_at, s.answered_at, s.scored_at,
       {_seconds(d, "s.sampled_at", "s.scored_at")} AS seconds_to_score
FROM qa_samples s
"""


@dataclass(frozen=True)
class View:
    name: str
    sql: Callable[[Dialect], str]
    summary: str


VIEWS: tuple[View, ...] = (
    View("analytics_cases", cases, "one row per case: queue, policy, times, SLA met"),
    View("analytics_decisions", decisions, "one row per decision: policy, action, automated"),
    View("analytics_reports", reports, "one row per user report (report_filed event)"),
    View("analytics_appeals", appeals, "one row per appeal: outcome and time to decision"),
    View("analytics_identity", identity, "one row per identity verification"),
    View("analytics_disputes", disputes, "one row per dispute: outcome and durations"),
    View("analytics_qa", qa, "one row per QA sample: agreement and scores"),
)


def create_statements(dialect: Dialect) -> list[str]:
    return [f"CREATE VIEW {v.name} AS {v.sql(dialect).strip()}" for v in VIEWS]


def drop_statements() -> list[str]:
    return [f"DROP VIEW IF EXISTS {v.name}" for v in reversed(VIEWS)]
