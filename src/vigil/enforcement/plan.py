"""Checking a decision before anything is written.

:func:`make_plan` turns a ``DecisionIn`` into a :class:`Plan`: the case, the account, the cited
policy versions, the actions, the ladder's suggestion, four-eyes, the message and the
statement of reasons, each checked. ``decide`` runs it strictly (the first problem raises, so
nothing is written); ``preview`` runs it leniently (every problem is collected and returned).

The statement of reasons and the message are checked for real: the statement is built by
``vigil.dsa.service.create_statement`` and the message rendered by
``vigil.communications.service.render`` inside a savepoint that is always rolled back, so the
same rules that will apply the decision judge it, and nothing stays behind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account, AccountStatus, Side
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases_service
from vigil.cases.models import Case, CaseStatus, CaseType, Severity
from vigil.communications.service import normalize_locale
from vigil.config import Settings
from vigil.dsa import vocabulary as dsa_vocabulary
from vigil.dsa.schemas import StatementInput
from vigil.enforcement.models import Decision, DecisionStatus
from vigil.enforcement.schemas import ActionIn, DecisionIn, MessageIn, StatementIn
from vigil.enforcement.suggest import Suggestion, suggest
from vigil.kit import clock
from vigil.kit.errors import (
    Conflict,
    InvalidInput,
    PermissionDenied,
    VersionConflict,
    VigilError,
)
from vigil.policies import service as policies_service
from vigil.policies.actions import ALLOWED_SCOPES, TAKES_END_DATE, ActionType, Scope
from vigil.policies.models import PolicyVersion

T = TypeVar("T")

MAX_REASON_CHARS = 4000
MAX_REASONING_CHARS = 20_000

# Sellers offer services for money on the marketplace, which makes them traders for the DSA
# (``ACCOUNT_TYPE_BUSINESS``); buyers are consumers (``ACCOUNT_TYPE_PRIVATE``).
BUSINESS_SIDES = frozenset({Side.freelancer, Side.pro, Side.instructor})

# Which action a decision is named by and its message worded from: what the user feels most.
# Losing the account outweighs losing one listing, so this is not ``ActionType.rank``.
HEADLINE: dict[ActionType, int] = {
    ActionType.warn: 0,
    ActionType.restrict: 1,
    ActionType.remove: 2,
    ActionType.suspend: 3,
    ActionType.ban: 4,
}


# --- small helpers ----------------------------------------------------------------------------


def language_of(locale: str | None) -> str:
    """``es-MX`` -> ``es``; a language Vigil ships no messages in -> ``en``."""
    return normalize_locale(locale)[0]


def case_ref(case_id: int) -> str:
    return f"C-{case_id}"


def account_type(account: Account) -> str:
    side = Side(account.side)
    business = side in BUSINESS_SIDES
    return (
        dsa_vocabulary.AccountType.BUSINESS if business else dsa_vocabulary.AccountType.PRIVATE
    ).value


def required_text(value: str | None, field: str, limit: int = MAX_REASON_CHARS) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{field} is required", field=field, code=f"{field}_required")
    if len(text) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return text


# --- the checks runner ------------------------------------------------------------------------


class Checks:
    """Strict: the first ``InvalidInput`` propagates. Lenient: it is recorded and the step
    gives None, so later steps that depend on it are skipped."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.problems: list[VigilError] = []

    def run(self, step: Callable[[], T]) -> T | None:
        try:
            return step()
        except InvalidInput as exc:
            if self.strict:
                raise
            self.problems.append(exc)
            return None

    def add(self, problems: list[VigilError]) -> None:
        if problems and self.strict:
            raise problems[0]
        self.problems.extend(problems)

    def report(self, problem: InvalidInput) -> None:
        """One of several independent problems a step finds: strict raises it, lenient
        records it and the step goes on to find the others."""
        if self.strict:
            raise problem
        self.problems.append(problem)

    def reported(self, field: str) -> bool:
        return any(p.field == field for p in self.problems)


# --- the plan ---------------------------------------------------------------------------------


@dataclass
class PlannedAction:
    index: int
    type: ActionType
    scope: Scope
    duration_days: int | None
    requested_ends_at: datetime | None
    target_ref: str | None

    def ends_at(self, start: datetime) -> datetime | None:
        if self.requested_ends_at is not None:
            return self.requested_ends_at
        if self.duration_days is not None:
            return start + timedelta(days=self.duration_days)
        return None

    def effective_days(self, start: datetime) -> int | None:
        if self.duration_days is not None:
            return self.duration_days
        if self.requested_ends_at is not None:
            return math.ceil((self.requested_ends_at - start) / timedelta(days=1))
        return None


@dataclass
class PlannedMessage:
    channels: list[str]
    locale: str
    subject: str | None  # None: the template's
    body: str | None
    no_message_reason: str | None

    @property
    def edited(self) -> bool:
        return self.subject is not None or self.body is not None

    def as_spec(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "locale": self.locale,
            "subject": self.subject,
            "body": self.body,
            "no_message_reason": self.no_message_reason,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> PlannedMessage:
        return cls(
            channels=list(spec.get("channels") or []),
            locale=str(spec.get("locale") or "en"),
            subject=spec.get("subject"),
            body=spec.get("body"),
            no_message_reason=spec.get("no_message_reason"),
        )


@dataclass
class Plan:
    case: Case
    account: Account | None
    no_violation: bool
    policies: list[PolicyVersion] = field(default_factory=list)
    actions: list[PlannedAction] = field(default_factory=list)
    suggestion: Suggestion | None = None
    departs: bool = False
    departure_reason: str | None = None
    internal_reasoning: str = ""
    four_eyes: list[str] = field(default_factory=list)
    message: PlannedMessage | None = None
    statement_spec: dict[str, Any] | None = None
    # False when the policies or the actions were refused (a preview): ``actions`` then
    # holds what could be read of them, enough to check the statement, not to word a message.
    complete: bool = True

    @property
    def lead(self) -> PolicyVersion | None:
        return self.policies[0] if self.policies else None

    @property
    def primary(self) -> PlannedAction | None:
        """The most severe action: it names the message template and the decision."""
        if not self.actions:
            return None
        return max(self.actions, key=lambda a: (HEADLINE[a.type], -a.index))

    @property
    def restrictive(self) -> bool:
        return any(a.type.restrictive for a in self.actions)


# --- the case ---------------------------------------------------------------------------------


def may_decide(actor: Principal, case: Case) -> None:
    """The case's holder decides; anyone else needs ``cases:assign`` (a lead, a specialist)."""
    if actor.staff_id is not None and case.assignee_id == actor.staff_id:
        return
    if actor.can(Permission.cases_assign):
        return
    raise PermissionDenied(
        "only the person the case is assigned to, or a lead, may decide it", code="not_assignee"
    )


def load_case(
    session: Session,
    actor: Principal,
    case_id: int,
    *,
    expected_version: int | None = None,
    lock: bool = False,
) -> Case:
    """The case to decide: visible to ``actor`` (404), theirs to decide (403), not closed
    and not already waiting for an approval (409), at ``expected_version`` (409)."""
    actor.require(Permission.decisions_write)
    case = cases_service.get_case(session, actor, case_id, lock=lock)
    if case.status == CaseStatus.closed:
        raise Conflict("this case is closed; reopen it to decide again", code="case_closed")
    if expected_version is not None and case.version != expected_version:
        raise VersionConflict(
            f"the case is at version {case.version}, not {expected_version}; reload it",
            field="expected_version",
            code="version_conflict",
        )
    may_decide(actor, case)
    pending = session.scalar(
        select(Decision.id).where(
            Decision.case_id == case.id, Decision.status == DecisionStatus.pending_approval
        )
    )
    if pending is not None:
        raise Conflict(
            f"decision {pending} on this case is waiting for a second approver",
            code="decision_pending",
        )
    return case


# --- violations and actions -------------------------------------------------------------------


def resolve_violations(
    session: Session, body: DecisionIn, case: Case, checks: Checks
) -> list[PolicyVersion] | None:
    """The cited policy versions; None when one is refused (each refusal reported)."""
    if body.no_violation:
        if body.violations:
            checks.report(
                InvalidInput(
                    "a decision of no violation cites no policy",
                    field="no_violation",
                    code="no_violation_with_violations",
                )
            )
        if body.actions:
            checks.report(
                InvalidInput(
                    "a decision of no violation takes no action",
                    field="actions",
                    code="no_violation_with_actions",
                )
            )
        return []
    if not body.violations:
        checks.report(
            InvalidInput(
                "name the policies violated, or decide no_violation",
                field="violations",
                code="violations_required",
            )
        )
        return None
    if case.account_id is None:
        checks.report(
            InvalidInput(
                "this case is about no account: only no_violation can be decided on it",
                field="violations",
                code="case_has_no_account",
            )
        )
        return None
    found: list[PolicyVersion] = []
    refused = False
    for i, violation in enumerate(body.violations):
        field_name = f"violations.{i}.policy"
        try:
            version = policies_service.resolve(
                session, violation.policy, violation.version, field=field_name
            )
        except InvalidInput as exc:
            if exc.code == "unknown_policy_version":
                exc.field = f"violations.{i}.version"
            checks.report(exc)
            refused = True
            continue
        if any(v.code == version.code for v in found):
            checks.report(
                InvalidInput(
                    f"policy '{version.code}' is cited twice",
                    field=field_name,
                    code="duplicate_policy",
                )
            )
            refused = True
            continue
        found.append(version)
    return None if refused else found


def order_by_severity(policies: list[PolicyVersion]) -> list[PolicyVersion]:
    """Most severe first (see ``suggest.most_severe``); the order cited breaks ties."""
    return [
        p
        for _, p in sorted(
            enumerate(policies),
            key=lambda item: (-Severity(item[1].severity).rank, -item[1].strike_weight, item[0]),
        )
    ]


def plan_actions(
    actions: list[ActionIn],
    policies: list[PolicyVersion] | None,
    account: Account | None,
    now: datetime,
    checks: Checks,
    *,
    max_days: int | None = None,
) -> tuple[list[PlannedAction], bool]:
    """The actions, each checked in full (every problem reported, not just the first).
    ``policies`` None: they were refused, so what they allow is not checked. ``max_days``
    bounds a suspension's or restriction's length (``max_suspension_days``): longer is what a
    ban is for. Returns the actions whose type and scope fit together, as far as they could
    be read (enough to check the statement of reasons), and whether every action was
    accepted."""
    if not actions:
        checks.report(
            InvalidInput(
                "a violation needs at least one action (warn is the mildest)",
                field="actions",
                code="actions_required",
            )
        )
        return [], False
    allowed = {a for p in policies for a in p.allowed_actions} if policies is not None else None
    seen: set[tuple[ActionType, Scope, str | None]] = set()
    out: list[PlannedAction] = []
    accepted = True
    for i, a in enumerate(actions):
        prefix = f"actions.{i}"
        problems: list[InvalidInput] = []
        if allowed is not None and policies is not None and a.type.value not in allowed:
            names = ", ".join(p.code for p in policies)
            problems.append(
                InvalidInput(
                    f"{a.type.value} is not an action {names} allows "
                    f"(allowed: {', '.join(sorted(allowed)) or 'none'})",
                    field=f"{prefix}.type",
                    code="action_not_allowed",
                )
            )
        scope_fits = a.scope in ALLOWED_SCOPES[a.type]
        if not scope_fits:
            scopes = ", ".join(sorted(s.value for s in ALLOWED_SCOPES[a.type]))
            problems.append(
                InvalidInput(
                    f"{a.type.value} applies to {scopes}, not {a.scope.value}",
                    field=f"{prefix}.scope",
                    code="scope_not_allowed",
                )
            )
        duration, ends_at = a.duration_days, a.ends_at
        if duration is not None and ends_at is not None:
            problems.append(
                InvalidInput(
                    "give duration_days or ends_at, not both",
                    field=f"{prefix}.ends_at",
                    code="duration_and_end_date",
                )
            )
        if not TAKES_END_DATE[a.type] and (duration is not None or ends_at is not None):
            problems.append(
                InvalidInput(
                    f"{a.type.value} has no end date",
                    field=f"{prefix}.duration_days"
                    if duration is not None
                    else f"{prefix}.ends_at",
                    code="end_date_not_allowed",
                )
            )
            duration = ends_at = None
        if a.type is ActionType.suspend and duration is None and ends_at is None:
            problems.append(
                InvalidInput(
                    "a suspension needs duration_days or ends_at (a permanent one is a ban)",
                    field=f"{prefix}.duration_days",
                    code="duration_required",
                )
            )
        ends = clock.as_utc(ends_at) if ends_at is not None else None
        if ends is not None and ends <= now:
            problems.append(
                InvalidInput(
                    "ends_at must be in the future",
                    field=f"{prefix}.ends_at",
                    code="ends_at_in_past",
                )
            )
            ends = None
        if max_days is not None and duration is not None and duration > max_days:
            problems.append(
                InvalidInput(
                    f"at most {max_days} days (max_suspension_days); longer is a ban",
                    field=f"{prefix}.duration_days",
                    code="duration_too_long",
                )
            )
        # With a duration too, the end date was refused above: one problem is enough.
        if (
            max_days is not None
            and duration is None
            and ends is not None
            and ends - now > timedelta(days=max_days)
        ):
            problems.append(
                InvalidInput(
                    f"ends_at is at most {max_days} days ahead (max_suspension_days); "
                    "longer is a ban",
                    field=f"{prefix}.ends_at",
                    code="duration_too_long",
                )
            )
        target = (a.target_ref or "").strip() or None
        if a.type is ActionType.remove and a.scope in (Scope.listing, Scope.message) and not target:
            problems.append(
                InvalidInput(
                    f"name the {a.scope.value} to remove (the marketplace's id)",
                    field=f"{prefix}.target_ref",
                    code="target_ref_required",
                )
            )
        key = (a.type, a.scope, target)
        if key in seen:
            problems.append(
                InvalidInput(
                    "the same action is given twice",
                    field=f"{prefix}.type",
                    code="duplicate_action",
                )
            )
        seen.add(key)
        if (
            a.type is ActionType.ban
            and account is not None
            and account.status == AccountStatus.removed
        ):
            problems.append(
                InvalidInput(
                    "this account is already removed",
                    field=f"{prefix}.type",
                    code="account_already_removed",
                )
            )
        for problem in problems:
            checks.report(problem)
        accepted = accepted and not problems
        if scope_fits:
            if duration is not None and ends is not None:
                ends = None  # the duration counts; the end date was refused above
            out.append(PlannedAction(i, a.type, a.scope, duration, ends, target))
    return out, accepted


def needs_four_eyes(action: PlannedAction, settings: Settings, now: datetime) -> bool:
    """Whether ``action`` waits for a second approver: an action named in ``four_eyes``, and
    a suspension or restriction longer than ``four_eyes_over_days`` or a restriction without
    an end. Those take as much from the user as a ban, so one person may not take them alone
    (a 3650-day suspension would otherwise skip the second pair of eyes a ban needs)."""
    if action.type.value in settings.four_eyes:
        return True
    if action.type not in (ActionType.suspend, ActionType.restrict):
        return False
    days = action.effective_days(now)
    if days is None:
        return action.type is ActionType.restrict  # lasts until someone lifts it
    return days > settings.four_eyes_over_days


def departs_from(actions: list[PlannedAction], suggestion: Suggestion, now: datetime) -> bool:
    """Whether the chosen actions are anything other than exactly the suggested one."""
    if len(actions) != 1:
        return True
    action = actions[0]
    if action.type is not suggestion.action or action.scope is not suggestion.scope:
        return True
    if TAKES_END_DATE[action.type]:
        return action.effective_days(now) != suggestion.duration_days
    return False


def check_departure(plan: Plan, departure_reason: str | None, now: datetime) -> None:
    reason = (departure_reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(
            f"departure_reason is longer than {MAX_REASON_CHARS} characters",
            field="departure_reason",
        )
    plan.departure_reason = reason
    if plan.suggestion is None or not plan.actions:
        return
    plan.departs = departs_from(plan.actions, plan.suggestion, now)
    if plan.departs and reason is None:
        s = plan.suggestion
        proposed = f"{s.action.value} {s.scope.value}"
        if s.duration_days:
            proposed += f" for {s.duration_days} days"
        raise InvalidInput(
            f"the ladder proposes {proposed}; say why this decision departs from it",
            field="departure_reason",
            code="departure_reason_required",
        )


# --- message ----------------------------------------------------------------------------------


def plan_message(
    message: MessageIn | None, account: Account | None, no_violation: bool
) -> PlannedMessage:
    """``message`` left out: a violation is told to the user with the template on every
    channel that can reach them (email when there is an address, in-app always); "no
    violation" sends nothing. ``channels: []`` sends nothing, and on a violation needs
    ``no_message_reason`` (DSA Art. 17 expects the user to be told)."""
    locale = language_of(
        message.locale
        if message is not None and message.locale
        else (account.locale if account else None)
    )
    if message is None:
        if no_violation or account is None:
            return PlannedMessage([], locale, None, None, None)
        channels = (["email"] if account.email else []) + ["in_app"]
        return PlannedMessage(channels, locale, None, None, None)
    channels = list(dict.fromkeys(message.channels))
    reason = (message.no_message_reason or "").strip() or None
    subject = (message.subject or "").strip() or None
    body = (message.body or "").strip() or None
    if not channels:
        if not no_violation and reason is None:
            raise InvalidInput(
                "say why the user is not told of this decision (no_message_reason), or pick a "
                "channel",
                field="message.no_message_reason",
                code="no_message_reason_required",
            )
        return PlannedMessage([], locale, None, None, reason)
    if account is None:
        raise InvalidInput(
            "this case is about no account: there is nobody to message",
            field="message.channels",
            code="no_recipient",
        )
    if "email" in channels and not account.email:
        raise InvalidInput(
            "the account has no email address; use in_app",
            field="message.channels",
            code="no_email_address",
        )
    if no_violation and (subject is None or body is None):
        # The shipped "no violation" template speaks to a reporter, not to the account the
        # case is about: a message to the account is written by the reviewer.
        raise InvalidInput(
            "write the subject and body of a message about a decision of no violation",
            field="message.body" if subject is not None else "message.subject",
            code="message_text_required",
        )
    if subject is not None and ("\n" in subject or "\r" in subject):
        raise InvalidInput(
            "the subject must be one line", field="message.subject", code="subject_multiline"
        )
    for name, text in (("subject", subject), ("body", body)):
        if text is not None and any(mark in text for mark in ("{{", "{%", "{#")):
            raise InvalidInput(
                "the message still holds template markup ({{, {% or {#); write it out",
                field=f"message.{name}",
                code="unrendered_template",
            )
    return PlannedMessage(channels, locale, subject, body, None)


# --- statement of reasons ---------------------------------------------------------------------


def default_source_type(case: Case, ground: str | None) -> str:
    """Where the decision came from, for ``source_type``. A user's report is a notice. Under
    Art. 16 DSA a notice is about content the notifier holds illegal, so a report decided
    under an illegal-content policy is ``SOURCE_ARTICLE_16``; a report that the terms were
    broken is ``SOURCE_TYPE_OTHER_NOTIFICATION``. Everything else Vigil found on its own
    initiative (``SOURCE_VOLUNTARY``)."""
    if case.type == CaseType.user_report:
        if ground == dsa_vocabulary.DecisionGround.ILLEGAL_CONTENT:
            return dsa_vocabulary.SourceType.ARTICLE_16.value
        return dsa_vocabulary.SourceType.OTHER_NOTIFICATION.value
    return dsa_vocabulary.SourceType.VOLUNTARY.value


def plan_statement(
    statement: StatementIn | None, case: Case, lead: PolicyVersion | None, checks: Checks
) -> dict[str, Any] | None:
    """The reviewer's part of the statement, with defaults filled, as stored on the
    decision. Reports every part the reviewer must write and did not (facts, content type,
    content date) and a content date after today. None without a statement or a content
    date; otherwise the spec, so that a preview can also check the rest of the statement
    (``decide`` never gets here with a problem: the first one raises)."""
    if statement is None:
        checks.report(
            InvalidInput(
                "a restrictive decision needs a statement of reasons (DSA Art. 17)",
                field="statement",
                code="statement_required",
            )
        )
        return None
    facts = (statement.facts or "").strip()
    if not facts:
        checks.report(
            InvalidInput(
                "state the facts and circumstances the decision relies on",
                field="statement.facts",
                code="missing_field",
            )
        )
    if not statement.content_type:
        checks.report(
            InvalidInput(
                "say what kind of content the decision is about (e.g. CONTENT_TYPE_TEXT)",
                field="statement.content_type",
                code="missing_field",
            )
        )
    if statement.content_date is None:
        checks.report(
            InvalidInput(
                "give the date the content was posted or the conduct took place",
                field="statement.content_date",
                code="missing_field",
            )
        )
        return None
    if statement.content_date > today():
        # The database takes any date up to 2038; a statement about content that does not
        # exist yet is wrong all the same (and dsa.create_statement refuses it too).
        checks.report(
            InvalidInput(
                f"content_date {statement.content_date.isoformat()} is after today "
                f"({today().isoformat()}), the decision's application date",
                field="statement.content_date",
                code="content_date_in_future",
            )
        )
    detected = statement.automated_detection
    if detected is None:
        detected = case.type == CaseType.detection or case.source == "detection"
    language = statement.content_language
    if language is None and case.language:
        candidate = case.language.split("-", 1)[0].upper()
        language = candidate if candidate in dsa_vocabulary.LANGUAGE_CODES else None
    return {
        "facts": facts,
        "content_type": list(statement.content_type or []),
        "content_type_other": (statement.content_type_other or "").strip() or None,
        "content_date": statement.content_date.isoformat(),
        "content_language": language,
        "source_type": statement.source_type
        or default_source_type(case, lead.dsa_ground if lead is not None else None),
        "automated_detection": bool(detected),
        "automated_decision": (
            statement.automated_decision or dsa_vocabulary.AutomatedDecision.NOT_AUTOMATED.value
        ),
        "territorial_scope": list(
            statement.territorial_scope
            if statement.territorial_scope is not None
            else dsa_vocabulary.EEA_COUNTRY_CODES
        ),
    }


def statement_input(
    *,
    decision_id: int,
    account: Account,
    lead: PolicyVersion,
    actions: list[tuple[ActionType, Scope, datetime | None]],
    spec: dict[str, Any],
    application_date: date,
) -> StatementInput:
    return StatementInput(
        decision_id=decision_id,
        account_id=account.id,
        account_external_id=account.external_id,
        account_type=account_type(account),
        actions=[a for a in actions if a[0].restrictive],
        category=lead.dsa_category,
        keywords=list(lead.dsa_keywords or []),
        ground=lead.dsa_ground,
        tos_ground=lead.tos_ground,
        legal_ground=lead.legal_ground,
        illegal_explanation=lead.illegal_explanation,
        facts=spec["facts"],
        content_type=list(spec["content_type"]),
        content_type_other=spec.get("content_type_other"),
        content_date=date.fromisoformat(spec["content_date"]),
        application_date=application_date,
        source_type=spec["source_type"],
        automated_detection=bool(spec["automated_detection"]),
        automated_decision=spec["automated_decision"],
        territorial_scope=list(spec["territorial_scope"]),
        content_language=spec.get("content_language"),
    )


def today() -> date:
    return clock.now().astimezone(UTC).date()


# --- everything -------------------------------------------------------------------------------


def make_plan(
    session: Session,
    actor: Principal,
    case_id: int,
    body: DecisionIn,
    settings: Settings,
    *,
    checks: Checks,
    lock: bool,
) -> Plan:
    """Check ``body`` against the case, the catalog, the account's record and the settings.
    Case-level refusals (404, 403, 409) always raise; input problems go through ``checks``
    (strict: the first raises; lenient: every one is recorded)."""
    now = clock.now()
    case = load_case(session, actor, case_id, expected_version=body.expected_version, lock=lock)
    account: Account | None = None
    if case.account_id is not None:
        account = session.get(Account, case.account_id, with_for_update=lock or None)
    plan = Plan(case=case, account=account, no_violation=body.no_violation)

    policies = resolve_violations(session, body, case, checks)
    if policies is not None:
        plan.policies = order_by_severity(policies)
    if not body.no_violation:
        plan.actions, accepted = plan_actions(
            body.actions, policies, account, now, checks, max_days=settings.max_suspension_days
        )
        plan.complete = policies is not None and accepted
        if plan.policies and policies is not None:
            plan.suggestion = suggest(session, case.account_id, plan.policies, now)
            if accepted:
                checks.run(lambda: check_departure(plan, body.departure_reason, now))
    plan.four_eyes = sorted(
        {a.type.value for a in plan.actions if needs_four_eyes(a, settings, now)},
        key=lambda name: ActionType(name).rank if name in ActionType.__members__ else 99,
    )
    reasoning = checks.run(
        lambda: required_text(body.internal_reasoning, "internal_reasoning", MAX_REASONING_CHARS)
    )
    plan.internal_reasoning = reasoning or ""
    plan.message = checks.run(lambda: plan_message(body.message, account, body.no_violation))
    if plan.restrictive:
        plan.statement_spec = plan_statement(body.statement, case, plan.lead, checks)
    return plan
