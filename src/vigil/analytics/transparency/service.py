"""The transparency report for a period [start, end): the figures DSA Art. 15 and 24 ask an
online platform to publish, each computed by SQL over the period.

Invariants:
- Every figure is an aggregate (GROUP BY / COUNT in the database, medians by ORDER BY ...
  OFFSET); no rows of events, cases or decisions are loaded into Python.
- What Vigil does not record is reported as such (value ``None`` with a note, or ``0`` with a
  note where zero is the truth, e.g. no out-of-court body is connected): never an estimate.
- Periods: a row belongs to the period by one timestamp, named in each section's note
  (orders by ``received_at``, notices by the report's ``occurred_at``, statements by
  ``created_at``, complaints by ``submitted_at``, decisions by ``created_at``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.analytics import export, sql
from vigil.appeals.models import Appeal, AppealStatus
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.detection.models import Event
from vigil.dsa.models import Statement
from vigil.dsa.order_models import AuthorityOrder, OrderStatus
from vigil.dsa.vocabulary import (
    EU_COUNTRY_CODES,
    Category,
    DecisionGround,
    SourceType,
    YesNo,
)
from vigil.enforcement.models import Decision, DecisionPolicy, DecisionStatus
from vigil.kit import clock
from vigil.kit.errors import InvalidInput

MAX_DAYS = 400

# Report reasons as the marketplace sends them, mapped to the DSA statement categories; a
# reason not listed here is counted as "not specified".
REASON_CATEGORIES: dict[str, Category] = {
    "scam": Category.SCAMS_AND_FRAUD,
    "fraud": Category.SCAMS_AND_FRAUD,
    "off_platform": Category.SCAMS_AND_FRAUD,
    "fake_reviews": Category.CONSUMER_INFORMATION,
    "fake_review": Category.CONSUMER_INFORMATION,
    "misleading": Category.CONSUMER_INFORMATION,
    "harassment": Category.CYBER_VIOLENCE,
    "hate": Category.ILLEGAL_OR_HARMFUL_SPEECH,
    "violence": Category.VIOLENCE,
    "counterfeit": Category.INTELLECTUAL_PROPERTY_INFRINGEMENTS,
    "ip": Category.INTELLECTUAL_PROPERTY_INFRINGEMENTS,
    "privacy": Category.DATA_PROTECTION_AND_PRIVACY_VIOLATIONS,
    "minor": Category.PROTECTION_OF_MINORS,
    "minors": Category.PROTECTION_OF_MINORS,
    "prohibited_item": Category.UNSAFE_AND_PROHIBITED_PRODUCTS,
    "self_harm": Category.SELF_HARM,
}

Value = int | float | None


@dataclass(frozen=True)
class Figure:
    section: str
    figure: str
    breakdown: str  # "" for a total; "key=value" (", "-joined) for a breakdown row
    value: Value
    note: str = ""


@dataclass
class Section:
    key: str
    title: str
    article: str
    explanation: str
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: str, value: Value, breakdown: str = "", note: str = "") -> None:
        self.figures.append(Figure(self.key, figure, breakdown, value, note))


@dataclass(frozen=True)
class TransparencyReport:
    start: datetime
    end: datetime
    generated_at: datetime
    sections: list[Section]


def parse_when(value: str | None, field: str) -> datetime | None:
    """``YYYY-MM-DD`` (00:00 UTC that day) or an ISO 8601 time with its zone."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "give a day (2026-07-01) or a time with its zone (2026-07-01T00:00:00Z)",
            field=field,
            code="invalid_datetime",
        ) from None


def check_window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    for name, value in (("start", start), ("end", end)):
        if value is None:
            raise InvalidInput(f"{name} is required", field=name, code="missing_window")
        if value.tzinfo is None:
            raise InvalidInput(
                "give a time zone (e.g. 2026-07-01T00:00:00Z)", field=name, code="naive_datetime"
            )
    assert start is not None and end is not None
    if start >= end:
        raise InvalidInput("start must be before end", field="start", code="invalid_window")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidInput(
            f"a report covers at most {MAX_DAYS} days", field="end", code="window_too_long"
        )
    return clock.as_utc(start), clock.as_utc(end)


def _median(session: Session, values: Select[Any]) -> float | None:
    """The median of a one-column query (nulls excluded), read with ORDER BY ... OFFSET."""
    sub = values.subquery()
    v = sub.c[0]
    n = int(session.scalar(select(func.count()).select_from(sub).where(v.is_not(None))) or 0)
    if n == 0:
        return None
    low = (n - 1) // 2
    rows = [
        float(x)
        for x in session.scalars(
            select(v).where(v.is_not(None)).order_by(v).offset(low).limit(2 - n % 2)
        )
    ]
    return sum(rows) / len(rows)


def _pairs(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={'' if v is None else v}" for k, v in row.items())


# --- (a) orders -----------------------------------------------------------------------------


def _orders(session: Session, d: str, start: datetime, end: datetime) -> Section:
    s = Section(
        "orders",
        "Orders from Member States' authorities",
        "Art. 15(1)(a)",
        "Orders to act against illegal content (Art. 9) and to provide information (Art. 10) "
        "received in the period, by kind and Member State and by the type of illegal content "
        "concerned, the median time from receipt to informing the authority of it, and the "
        "median time from receipt to giving effect to them. Counted by the day the order was "
        "received.",
    )
    window = and_(AuthorityOrder.received_at >= start, AuthorityOrder.received_at < end)
    total = 0
    for kind, state, n in session.execute(
        select(AuthorityOrder.kind, AuthorityOrder.member_state, func.count())
        .where(window)
        .group_by(AuthorityOrder.kind, AuthorityOrder.member_state)
        .order_by(AuthorityOrder.kind, AuthorityOrder.member_state)
    ):
        total += n
        s.add("orders_received", n, _pairs({"kind": kind.value, "member_state": state}))
    s.add("orders_received", total)
    for category, n in session.execute(
        select(AuthorityOrder.category, func.count())
        .where(window)
        .group_by(AuthorityOrder.category)
        .order_by(AuthorityOrder.category)
    ):
        s.add("orders_received", n, _pairs({"category": category}))
    effected = int(
        session.scalar(
            select(func.count())
            .select_from(AuthorityOrder)
            .where(window, AuthorityOrder.status == OrderStatus.effected)
        )
        or 0
    )
    s.add("orders_given_effect", effected)
    unacknowledged = int(
        session.scalar(
            select(func.count())
            .select_from(AuthorityOrder)
            .where(window, AuthorityOrder.acknowledged_at.is_(None))
        )
        or 0
    )
    s.add(
        "orders_acknowledgement_not_recorded",
        unacknowledged,
        note="orders whose acknowledgement to the authority is not recorded; left out of the "
        "median time to inform of receipt",
    )
    informed = sql.seconds_between(d, AuthorityOrder.received_at, AuthorityOrder.acknowledged_at)
    for kind_value in ("act_against_content", "provide_information"):
        s.add(
            "median_seconds_to_inform_receipt",
            _median(session, select(informed).where(window, AuthorityOrder.kind == kind_value)),
            _pairs({"kind": kind_value}),
        )
    s.add(
        "median_seconds_to_inform_receipt",
        _median(session, select(informed).where(window)),
        note="from receipt to the acknowledgement sent to the authority",
    )
    seconds = sql.seconds_between(d, AuthorityOrder.received_at, AuthorityOrder.effected_at)
    for kind_value in ("act_against_content", "provide_information"):
        s.add(
            "median_seconds_to_give_effect",
            _median(session, select(seconds).where(window, AuthorityOrder.kind == kind_value)),
            _pairs({"kind": kind_value}),
        )
    s.add("median_seconds_to_give_effect", _median(session, select(seconds).where(window)))
    return s


# --- (b) notices ----------------------------------------------------------------------------


def _notices(session: Session, d: str, start: datetime, end: datetime) -> Section:
    s = Section(
        "notices",
        "Notices from users (Art. 16)",
        "Art. 15(1)(b)",
        "Reports filed by users in the period, by the category of illegal or harmful content "
        "they allege, what was done about them, the actions taken on notices by their ground "
        "(the law or the terms and conditions), how many were handled by automated means (a "
        "decision on the reported case taken without a human) and the median time from the "
        "report to its case being closed.",
    )
    window = and_(Event.type == "report_filed", Event.occurred_at >= start, Event.occurred_at < end)
    reason = sql.json_text(d, Event.payload, "data", "reason")
    by_category: dict[str, int] = {}
    total = 0
    reasons: list[tuple[str, int]] = []
    for value, n in session.execute(
        select(reason, func.count()).where(window).group_by(reason).order_by(reason)
    ):
        key = value or "other"
        reasons.append((key, n))
        category = REASON_CATEGORIES.get(key, Category.NOT_SPECIFIED_NOTICE).value
        by_category[category] = by_category.get(category, 0) + n
        total += n
    s.add("notices_received", total)
    for category, n in sorted(by_category.items()):
        s.add("notices_received", n, _pairs({"category": category}))
    # Only the reasons the mapping knows are published by name: the marketplace may send any
    # string (even what its users typed), and a public report must not carry free text.
    others = [(key, n) for key, n in reasons if key not in REASON_CATEGORIES]
    for key, n in reasons:
        if key in REASON_CATEGORIES:
            s.add("notices_received", n, _pairs({"reason": key}))
    if others:
        s.add(
            "notices_received",
            sum(n for _, n in others),
            _pairs({"reason": "other"}),
            note=f"{len(others)} distinct reason(s) outside the category mapping, not named",
        )
    s.add(
        "notices_from_trusted_flaggers",
        None,
        note="not recorded: report events do not mark trusted flaggers; the actions taken on "
        "their notices are the actions_on_notices rows with source=SOURCE_TRUSTED_FLAGGER",
    )
    outcome = case(
        (Event.case_id.is_(None), "no_case"),
        (Case.closed_at.is_(None), "open"),
        else_=func.coalesce(Case.resolution, "other"),
    )
    for value, n in session.execute(
        select(outcome, func.count())
        .select_from(Event)
        .outerjoin(Case, Case.id == Event.case_id)
        .where(window)
        .group_by(outcome)
        .order_by(outcome)
    ):
        s.add("notices_by_outcome", n, _pairs({"outcome": value}))
    _actions_on_notices(session, d, s, start, end)
    automated = exists().where(
        Decision.case_id == Event.case_id,
        Decision.decided_by_id.is_(None),
        Decision.status.in_([DecisionStatus.applied, DecisionStatus.reversed]),
    )
    s.add(
        "notices_handled_by_automated_means",
        int(session.scalar(select(func.count()).select_from(Event).where(window, automated)) or 0),
    )
    s.add(
        "median_seconds_to_action",
        _median(
            session,
            select(sql.seconds_between(d, Event.occurred_at, Case.closed_at))
            .select_from(Event)
            .join(Case, Case.id == Event.case_id)
            .where(window, Case.closed_at.is_not(None)),
        ),
        note="from the report to the close of the case it was handled in",
    )
    return s


# A user's report decided under the terms (not the law) is SOURCE_TYPE_OTHER_NOTIFICATION
# (enforcement.plan.default_source_type): it is still one of the notices this section counts.
_NOTICE_SOURCES = (
    SourceType.ARTICLE_16.value,
    SourceType.TRUSTED_FLAGGER.value,
    SourceType.OTHER_NOTIFICATION.value,
)
_GROUNDS = {
    DecisionGround.ILLEGAL_CONTENT.value: "law",
    DecisionGround.INCOMPATIBLE_CONTENT.value: "terms_and_conditions",
}


def _actions_on_notices(
    session: Session, d: str, s: Section, start: datetime, end: datetime
) -> None:
    """Statements of reasons issued on notices (Art. 16, trusted flaggers, other reports), by
    their ground and by source: the action taken on the basis of the law or of the terms and
    conditions."""
    source = sql.json_text(d, Statement.fields, "source_type")
    window = and_(
        Statement.created_at >= start, Statement.created_at < end, source.in_(_NOTICE_SOURCES)
    )
    s.add(
        "actions_on_notices",
        int(session.scalar(select(func.count()).select_from(Statement).where(window)) or 0),
        note="statements of reasons issued on notices, by their creation time",
    )
    for ground, n in session.execute(
        select(Statement.decision_ground, func.count())
        .where(window)
        .group_by(Statement.decision_ground)
        .order_by(Statement.decision_ground)
    ):
        s.add("actions_on_notices", n, _pairs({"basis": _GROUNDS.get(ground, ground)}))
    for value, n in session.execute(
        select(source, func.count()).where(window).group_by(source).order_by(source)
    ):
        s.add("actions_on_notices", n, _pairs({"source": value}))


# --- (c) own initiative ---------------------------------------------------------------------


def _own_initiative(session: Session, d: str, start: datetime, end: datetime) -> Section:
    s = Section(
        "own_initiative",
        "Content moderation on the platform's own initiative",
        "Art. 15(1)(c)",
        "Restrictive decisions taken without a notice (statements of reasons with source "
        "'own voluntary initiative'), by category, by basis (the law or the terms and "
        "conditions), by type of restriction and by whether the problem was detected by "
        "automated means. Counted by the statement's creation time.",
    )
    source = sql.json_text(d, Statement.fields, "source_type")
    window = and_(
        Statement.created_at >= start,
        Statement.created_at < end,
        source == SourceType.VOLUNTARY.value,
    )
    s.add(
        "statements",
        int(session.scalar(select(func.count()).select_from(Statement).where(window)) or 0),
    )
    for category, n in session.execute(
        select(Statement.category, func.count())
        .where(window)
        .group_by(Statement.category)
        .order_by(Statement.category)
    ):
        s.add("statements", n, _pairs({"category": category}))
    for ground, n in session.execute(
        select(Statement.decision_ground, func.count())
        .where(window)
        .group_by(Statement.decision_ground)
        .order_by(Statement.decision_ground)
    ):
        s.add("statements", n, _pairs({"basis": _GROUNDS.get(ground, ground)}))
    for action, n in session.execute(
        select(Decision.action, func.count())
        .select_from(Statement)
        .join(Decision, Decision.id == Statement.decision_id)
        .where(window)
        .group_by(Decision.action)
        .order_by(Decision.action)
    ):
        s.add("statements", n, _pairs({"restriction": action.value if action else "none"}))
    detected = sql.json_text(d, Statement.fields, "automated_detection")
    for value, n in session.execute(
        select(detected, func.count()).where(window).group_by(detected).order_by(detected)
    ):
        flag = "yes" if value == YesNo.YES.value else "no"
        s.add("statements", n, _pairs({"automated_detection": flag}))
    return s


# --- (d) complaints -------------------------------------------------------------------------


def _first_policy() -> Any:
    return (
        select(DecisionPolicy.policy_code)
        .where(DecisionPolicy.decision_id == Appeal.decision_id)
        .order_by(DecisionPolicy.position)
        .limit(1)
        .scalar_subquery()
    )


def _complaints(session: Session, d: str, start: datetime, end: datetime) -> Section:
    s = Section(
        "complaints",
        "Complaints through the internal complaint-handling system (appeals)",
        "Art. 15(1)(d)",
        "Appeals submitted in the period, by the policy of the contested decision, their "
        "outcome (upheld: the decision stands; overturned: reversed; modified: replaced by a "
        "milder one), the median time to decide them and how many decisions were reversed.",
    )
    window = and_(Appeal.submitted_at >= start, Appeal.submitted_at < end)
    s.add(
        "complaints_received",
        int(session.scalar(select(func.count()).select_from(Appeal).where(window)) or 0),
    )
    policy = _first_policy().label("policy")
    for code, n in session.execute(
        select(policy, func.count()).where(window).group_by(policy).order_by(policy)
    ):
        s.add("complaints_received", n, _pairs({"policy": code}))
    outcomes: dict[str, int] = {}
    for status, n in session.execute(
        select(Appeal.status, func.count())
        .where(window)
        .group_by(Appeal.status)
        .order_by(Appeal.status)
    ):
        outcomes[status.value] = n
        s.add("complaints_by_outcome", n, _pairs({"outcome": status.value}))
    s.add(
        "median_seconds_to_decision",
        _median(
            session,
            select(sql.seconds_between(d, Appeal.submitted_at, Appeal.decided_at)).where(
                window, Appeal.decided_at.is_not(None)
            ),
        ),
    )
    s.add(
        "decisions_reversed",
        outcomes.get("overturned", 0) + outcomes.get("modified", 0),
        note="overturned or modified on appeal",
    )
    return s


# --- (e) automated means --------------------------------------------------------------------


def _automated(
    session: Session, actor: Principal, d: str, start: datetime, end: datetime
) -> Section:
    s = Section(
        "automated_means",
        "Use of automated means",
        "Art. 15(1)(c), (e)",
        "How statements of reasons describe automation (fully, partially, not automated), the "
        "share of decisions taken without a human, and indicators of accuracy: how often "
        "automated decisions were overturned on appeal, and the share of rule hits that "
        "reviewers confirmed.",
    )
    window = and_(Statement.created_at >= start, Statement.created_at < end)
    for value, n in session.execute(
        select(Statement.automated_decision, func.count())
        .where(window)
        .group_by(Statement.automated_decision)
        .order_by(Statement.automated_decision)
    ):
        s.add("statements", n, _pairs({"automated_decision": value}))
    taken = and_(
        Decision.created_at >= start,
        Decision.created_at < end,
        Decision.status.in_([DecisionStatus.applied, DecisionStatus.reversed]),
    )
    auto = case((Decision.decided_by_id.is_(None), 1), else_=0)
    total, automated = session.execute(
        select(func.count(), func.coalesce(func.sum(auto), 0)).where(taken)
    ).one()
    s.add("decisions", int(total))
    s.add("decisions", int(automated), _pairs({"automated": "yes"}))
    s.add(
        "automation_rate",
        (automated / total) if total else None,
        note="decisions applied or reversed only; the metrics dashboard's automation rate also "
        "counts decisions still awaiting a second approval, so it can differ",
    )
    overturned = int(
        session.scalar(
            select(func.count())
            .select_from(Decision)
            .where(
                taken,
                Decision.decided_by_id.is_(None),
                exists().where(
                    Appeal.decision_id == Decision.id,
                    Appeal.status.in_([AppealStatus.overturned, AppealStatus.modified]),
                ),
            )
        )
        or 0
    )
    s.add(
        "automated_overturn_rate",
        (overturned / automated) if automated else None,
        note="automated decisions of the period overturned or modified on appeal, of all "
        "automated ones (as decisions_reversed counts complaints)",
    )
    s.add("rule_precision", _rule_precision(session, actor, start, end), note=_PRECISION_NOTE)
    return s


_PRECISION_NOTE = "hits whose case a reviewer decided as a violation, of all decided hits"


def _rule_precision(
    session: Session, actor: Principal, start: datetime, end: datetime
) -> float | None:
    """Rule precision from the metrics catalog, over every tier: the report is one document
    for publication, so its figures must not depend on who generates it (``actor`` already
    holds ``reports:read``)."""
    from vigil.analytics.metrics import catalog
    from vigil.analytics.metrics import service as metrics

    if "rule_precision" not in catalog.METRICS:
        return None
    query = metrics.parse_query("rule_precision", start, end, "week", {}, None)
    return metrics.series(session, Principal.system("transparency"), query).total.value


# --- (f) Art. 24 ----------------------------------------------------------------------------


def _article_24(session: Session, d: str, start: datetime, end: datetime) -> Section:
    s = Section(
        "article_24",
        "Out-of-court disputes, suspensions and active recipients",
        "Art. 24",
        "Disputes submitted to certified out-of-court settlement bodies, suspensions imposed "
        "for misuse (Art. 23), and the average monthly active recipients of the service in the "
        "Union: accounts registered in an EU Member State with at least one event in a "
        "calendar month, averaged over the full calendar months of the period from the month of "
        "Vigil's first record on (earlier months hold no data, not zero activity).",
    )
    s.add(
        "out_of_court_disputes",
        0,
        note="Vigil is connected to no out-of-court settlement body; none are recorded. "
        "Add any received directly to this figure.",
    )
    s.add(
        "suspensions_for_misuse",
        None,
        note="not recorded separately: suspensions for manifestly illegal content, manifestly "
        "unfounded notices or manifestly unfounded complaints are not distinguished from other "
        "suspensions in Vigil's data",
    )
    first, after = full_months(start, end)
    # Months that ended before Vigil's first record hold no data, not zero activity:
    # averaging over them would understate the figure, so they are left out and said so. The
    # month of the first record counts, flagged as possibly low.
    earliest = session.scalar(select(func.min(Event.occurred_at)))
    skipped = ""
    if earliest is not None:
        begins = clock.as_utc(earliest)
        since = begins.date().replace(day=1)
        if since > first:
            left_out = _months(first, min(since, after))
            first = min(since, after)
            skipped = (
                f"; {left_out} earlier month(s) of the period are left out: they ended before "
                f"Vigil's first record ({begins:%Y-%m-%d})"
            )
        if first == since and first < after and begins > datetime.combine(since, time(), UTC):
            skipped += (
                f"; {since:%Y-%m} began before that first record and may be low"
                if skipped
                else f"; {since:%Y-%m} began before Vigil's first record ({begins:%Y-%m-%d}) "
                "and may be low"
            )
    months = _months(first, after)
    if months == 0:
        note = "the period covers no full calendar month" + (
            f" from the month of Vigil's first record on{skipped}" if skipped else ""
        )
        s.add("average_monthly_active_recipients", None, note=note)
        s.add("average_monthly_active_recipients", None, _pairs({"country": "unknown"}), note)
        return s
    scope = (
        f"over the {months} full calendar month(s) from {first:%Y-%m-%d} to {after:%Y-%m-%d}"
        + skipped
    )
    eu = _monthly_active(session, d, first, after, Account.country.in_(EU_COUNTRY_CODES))
    unknown = _monthly_active(session, d, first, after, Account.country.is_(None))
    s.add(
        "average_monthly_active_recipients",
        round(eu / months, 1),
        note=f"accounts with an EU country, {scope}; accounts of other countries are not counted",
    )
    s.add(
        "average_monthly_active_recipients",
        round(unknown / months, 1),
        _pairs({"country": "unknown"}),
        note="accounts with no country recorded: not in the total, which may be low by as much",
    )
    return s


def full_months(start: datetime, end: datetime) -> tuple[date, date]:
    """The full calendar months inside [start, end): [first, after), empty when first >= after.
    A monthly average over a partly covered month would understate it."""
    first = start.date().replace(day=1)
    after = end.date().replace(day=1)
    if datetime.combine(first, time(), tzinfo=UTC) < start:
        if first.year == date.max.year and first.month == 12:
            return after, after  # December 9999 has no next month: nothing full
        first = (first + timedelta(days=32)).replace(day=1)
    return first, max(first, after)


def _months(first: date, after: date) -> int:
    return (after.year - first.year) * 12 + after.month - first.month


def _monthly_active(session: Session, d: str, first: date, after: date, where: Any) -> int:
    """Distinct accounts with an event, per calendar month, summed over the months."""
    month = func.substr(sql.bucket(d, Event.occurred_at, "day"), 1, 7).label("month")
    per_month = (
        select(month, func.count(func.distinct(Event.account_id)).label("n"))
        .join(Account, Account.id == Event.account_id)
        .where(
            Event.occurred_at >= datetime.combine(first, time(), tzinfo=UTC),
            Event.occurred_at < datetime.combine(after, time(), tzinfo=UTC),
            where,
        )
        .group_by(month)
        .subquery()
    )
    return int(session.scalar(select(func.coalesce(func.sum(per_month.c.n), 0))) or 0)


# --- what the figures cannot say --------------------------------------------------------------


def _to_complete() -> Section:
    s = Section(
        "to_be_completed",
        "To be completed by the legal team",
        "Art. 15(1)(c), (e)",
        "Art. 15 also asks for qualitative information that no record holds. This report is not "
        "complete until the legal team adds it.",
    )
    s.add(
        "moderator_training_and_assistance",
        None,
        note="Art. 15(1)(c): the training and assistance given to the people who moderate",
    )
    s.add(
        "automated_means_description",
        None,
        note="Art. 15(1)(e): a qualitative description of the automated means, their precise "
        "purposes, indicators of accuracy and possible rate of error, and the safeguards applied",
    )
    return s


# --- the report -----------------------------------------------------------------------------


def report(
    session: Session, actor: Principal, start: datetime | None, end: datetime | None
) -> TransparencyReport:
    actor.require(Permission.reports_read)
    start, end = check_window(start, end)
    d = sql.dialect_of(session)
    sections = [
        _orders(session, d, start, end),
        _notices(session, d, start, end),
        _own_initiative(session, d, start, end),
        _complaints(session, d, start, end),
        _automated(session, actor, d, start, end),
        _article_24(session, d, start, end),
        _to_complete(),
    ]
    return TransparencyReport(start, end, clock.now(), sections)


def figures(report: TransparencyReport) -> Iterator[Figure]:
    for section in report.sections:
        yield from section.figures


COLUMNS = [
    export.Column("section", "Section"),
    export.Column("figure", "Figure"),
    export.Column("breakdown", "Breakdown"),
    export.Column("value", "Value"),
    export.Column("note", "Note"),
]


def download(report: TransparencyReport, fmt: export.Format) -> Any:
    """The report as a CSV / XLSX download: one row per figure."""
    # Named by the last day included (the period's end is exclusive), as the page says.
    last = report.end - timedelta(microseconds=1)
    stem = f"transparency-{report.start:%Y-%m-%d}-to-{last:%Y-%m-%d}"
    rows = ([f.section, f.figure, f.breakdown, f.value, f.note] for f in figures(report))
    return export.response(fmt, stem, COLUMNS, rows, sheet="Transparency report")
