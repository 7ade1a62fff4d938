"""Statements of reasons: built from a decision, validated like the DSA Transparency Database
validates them, stored, read and worded for the user.

A statement's fields are written once and never changed (only ``exported_at`` moves, and
``revision`` records what an appeal made of the decision). Nothing here
commits; a refused statement leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.config import Settings
from vigil.dsa import vocabulary as v
from vigil.dsa.models import Statement
from vigil.dsa.rules import FieldError, validate_fields
from vigil.dsa.schemas import StatementInput
from vigil.enforcement.models import Decision
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, NotFound
from vigil.kit.pagination import decode_cursor, encode_cursor
from vigil.policies.actions import ActionType, Scope

__all__ = [
    "FieldError",
    "StatementFilter",
    "build_fields",
    "create_statement",
    "get_statement",
    "list_statements",
    "revise",
    "statements_for",
    "template_context",
    "validate_fields",
    "window",
]

ACTOR = Principal.system("dsa")

# Vigil's own floor under decision_facts (the database only caps it at 5,000): a statement
# must say what happened, not just name the rule.
MIN_FACTS_LENGTH = 30
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")
_FREE_TEXT = (
    "decision_facts",
    "incompatible_content_explanation",
    "illegal_content_explanation",
    "content_type_other",
)

# --- from actions to the database's decision fields -------------------------------------------

# (action, scope) -> (decision field, value). A suspension and a ban also stop the service as
# a whole, so they declare both the account and the provision decision.
_DECLARES: dict[tuple[ActionType, Scope], tuple[tuple[str, str], ...]] = {
    (ActionType.restrict, Scope.listing): (
        ("decision_visibility", v.DecisionVisibility.CONTENT_DISABLED),
    ),
    (ActionType.restrict, Scope.profile): (
        ("decision_visibility", v.DecisionVisibility.CONTENT_DEMOTED),
    ),
    (ActionType.restrict, Scope.message): (
        ("decision_provision", v.DecisionProvision.PARTIAL_SUSPENSION),
    ),
    (ActionType.restrict, Scope.payouts): (("decision_monetary", v.DecisionMonetary.SUSPENSION),),
    (ActionType.suspend, Scope.account): (
        ("decision_account", v.DecisionAccount.SUSPENDED),
        ("decision_provision", v.DecisionProvision.TOTAL_SUSPENSION),
    ),
    (ActionType.ban, Scope.account): (
        ("decision_account", v.DecisionAccount.TERMINATED),
        ("decision_provision", v.DecisionProvision.TOTAL_TERMINATION),
    ),
    (ActionType.remove, Scope.listing): (
        ("decision_visibility", v.DecisionVisibility.CONTENT_REMOVED),
    ),
    (ActionType.remove, Scope.profile): (
        ("decision_visibility", v.DecisionVisibility.CONTENT_REMOVED),
    ),
    (ActionType.remove, Scope.message): (
        ("decision_visibility", v.DecisionVisibility.CONTENT_REMOVED),
    ),
}

_END_FIELD = {
    "decision_visibility": "end_date_visibility_restriction",
    "decision_monetary": "end_date_monetary_restriction",
    "decision_provision": "end_date_service_restriction",
    "decision_account": "end_date_account_restriction",
}

# When two actions declare the same single-valued field, the more severe value is kept.
_SEVERITY: dict[str, int] = {
    v.DecisionProvision.PARTIAL_SUSPENSION: 1,
    v.DecisionProvision.TOTAL_SUSPENSION: 2,
    v.DecisionProvision.PARTIAL_TERMINATION: 3,
    v.DecisionProvision.TOTAL_TERMINATION: 4,
    v.DecisionMonetary.OTHER: 0,
    v.DecisionMonetary.SUSPENSION: 1,
    v.DecisionMonetary.TERMINATION: 2,
    v.DecisionAccount.SUSPENDED: 1,
    v.DecisionAccount.TERMINATED: 2,
}

# What the user reads for each action (contract: plain English words).
RESTRICTION_WORDS: dict[tuple[ActionType, Scope], str] = {
    (ActionType.restrict, Scope.listing): "listings hidden",
    (ActionType.restrict, Scope.profile): "profile shown less prominently",
    (ActionType.restrict, Scope.message): "messaging suspended",
    (ActionType.restrict, Scope.payouts): "payouts suspended",
    (ActionType.suspend, Scope.account): "account suspended",
    (ActionType.ban, Scope.account): "account closed permanently",
    (ActionType.remove, Scope.listing): "listing removed",
    (ActionType.remove, Scope.profile): "profile content removed",
    (ActionType.remove, Scope.message): "message removed",
}


@dataclass
class _Declared:
    """One decision field being assembled from the actions that declare it."""

    values: list[str] = field(default_factory=list)
    ends: list[date | None] = field(default_factory=list)

    def end(self) -> date | None:
        """The restriction ends when its last part ends; one indefinite part makes it
        indefinite."""
        if not self.ends or any(e is None for e in self.ends):
            return None
        return max(e for e in self.ends if e is not None)


def _decision_fields(
    actions: list[tuple[ActionType, Scope, datetime | None]],
) -> tuple[dict[str, Any], list[FieldError]]:
    declared: dict[str, _Declared] = {}
    errors: list[FieldError] = []
    for action, scope, ends_at in actions:
        action, scope = ActionType(action), Scope(scope)
        if not action.restrictive:
            continue  # a warning restricts nothing, so it declares nothing
        parts = _DECLARES.get((action, scope))
        if parts is None:
            errors.append(
                FieldError("actions", "invalid_choice", f"'{action} {scope}' is not an action")
            )
            continue
        # A removal is permanent whatever end date came with it.
        end = None if action in (ActionType.remove, ActionType.ban) or ends_at is None else ends_at
        for name, value in parts:
            slot = declared.setdefault(name, _Declared())
            slot.values.append(value)
            slot.ends.append(clock.as_utc(end).date() if end is not None else None)
    out: dict[str, Any] = {}
    for name, slot in declared.items():
        if name == "decision_visibility":
            out[name] = sorted(set(slot.values))
        else:
            out[name] = max(slot.values, key=lambda x: _SEVERITY[x])
        last = slot.end()
        if last is not None:
            out[_END_FIELD[name]] = last.isoformat()
    return out, errors


def _language(value: str | None) -> str | None:
    """``pt-BR`` and ``es`` become the ISO 639-1 codes ``PT`` and ``ES`` the database takes."""
    if not value:
        return None
    return re.split(r"[-_]", value.strip(), maxsplit=1)[0].upper() or None


def make_puid(settings: Settings, account_external_id: str, decision_id: int, n: int = 0) -> str:
    """An opaque id for the n-th statement of a decision: HMAC-SHA256 under the secret key,
    so nobody can recompute it from the account's id and a decision number (a bare hash of
    those could be reversed by guessing), and only letters, digits and '-' as the database
    requires.

    The default secret key is random per process, so the same statement would get another
    puid after a restart: the puid is therefore computed once, when the statement is
    created, and stored (``Statement.puid`` and ``fields["puid"]``); nothing computes it
    again."""
    key = settings.secret_key.get_secret_value().encode()
    raw = f"dsa-puid\x1f{account_external_id}\x1f{decision_id}\x1f{n}".encode()
    return f"vgl-{hmac.new(key, raw, hashlib.sha256).hexdigest()[:40]}"


def build_fields(spec: StatementInput, puid: str) -> tuple[dict[str, Any], list[FieldError]]:
    """The full Transparency-Database field set for ``spec``, and the mapping errors (actions
    that are not actions). Not validated here."""
    fields, errors = _decision_fields(list(spec.actions))
    fields["account_type"] = spec.account_type
    fields["decision_ground"] = spec.ground
    if spec.ground == v.DecisionGround.ILLEGAL_CONTENT:
        fields["illegal_content_legal_ground"] = spec.legal_ground
        fields["illegal_content_explanation"] = spec.illegal_explanation
    else:
        # The reviewer's facts are the explanation of why this breaches the clause.
        fields["incompatible_content_ground"] = spec.tos_ground
        fields["incompatible_content_explanation"] = spec.facts
        if spec.ground == v.DecisionGround.INCOMPATIBLE_CONTENT:
            fields["incompatible_content_illegal"] = (
                v.YesNo.YES if spec.legal_ground else v.YesNo.NO
            )
    fields["content_type"] = list(spec.content_type)
    if spec.content_type_other:
        fields["content_type_other"] = spec.content_type_other
    fields["category"] = spec.category
    if spec.keywords:
        fields["category_specification"] = list(spec.keywords)
    fields["territorial_scope"] = list(spec.territorial_scope)
    language = _language(spec.content_language)
    if language:
        fields["content_language"] = language
    fields["content_date"] = spec.content_date.isoformat()
    fields["application_date"] = spec.application_date.isoformat()
    fields["decision_facts"] = spec.facts
    fields["source_type"] = spec.source_type
    fields["automated_detection"] = v.YesNo.YES if spec.automated_detection else v.YesNo.NO
    fields["automated_decision"] = spec.automated_decision
    fields["puid"] = puid
    # Enum members serialise as their values, but the stored JSON should hold plain strings.
    return _plain(fields), errors


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_plain(x) for x in value]
    if isinstance(value, str):
        return str(value)
    return value


def _vigil_checks(fields: dict[str, Any]) -> list[FieldError]:
    """Vigil's rules on top of the database's: specific facts, no email addresses, and no
    content dated after the decision (the database only bounds ``content_date`` by 2000-01-01
    and 2038-01-01, see :mod:`vigil.dsa.rules`)."""
    errors: list[FieldError] = []
    content, applied = fields.get("content_date"), fields.get("application_date")
    if isinstance(content, str) and isinstance(applied, str) and content > applied:
        # Both are YYYY-MM-DD here (malformed dates were refused by the database's rules, and
        # their errors come first), so comparing the strings compares the days.
        errors.append(
            FieldError(
                "content_date",
                "after_application_date",
                f"The content date ({content}) must not be after the application date "
                f"({applied}): the content existed before the decision about it.",
            )
        )
    facts = fields.get("decision_facts")
    if isinstance(facts, str) and facts.strip() and len(facts.strip()) < MIN_FACTS_LENGTH:
        errors.append(
            FieldError(
                "decision_facts",
                "too_short",
                f"The decision facts must say what happened, in at least {MIN_FACTS_LENGTH} "
                "characters.",
            )
        )
    for name in _FREE_TEXT:
        text = fields.get(name)
        if isinstance(text, str) and _EMAIL.search(text):
            errors.append(
                FieldError(
                    name,
                    "personal_data",
                    f"The {name.replace('_', ' ')} contains an email address; the Transparency "
                    "Database is public and takes no personal data.",
                )
            )
    return errors


def _refuse(errors: list[FieldError]) -> InvalidInput:
    details = [
        {"field": f"statement.{e.field}", "code": e.code, "message": e.message} for e in errors
    ]
    first = errors[0]
    return InvalidInput(
        first.message,
        field=f"statement.{first.field}",
        code="invalid_statement",
        details=details,
    )


def create_statement(session: Session, spec: StatementInput, *, settings: Settings) -> Statement:
    """Build, validate and store the statement of reasons of a decision (its ``puid`` keyed
    by ``settings.secret_key``, see :func:`make_puid`).

    Raises ``InvalidInput(code="invalid_statement", field="statement.<name>")`` naming the
    first violation (all of them in ``details``); nothing is written then.
    """
    existing = session.scalar(
        select(func.count()).select_from(Statement).where(Statement.decision_id == spec.decision_id)
    )
    puid = make_puid(settings, spec.account_external_id, spec.decision_id, int(existing or 0))
    fields, errors = build_fields(spec, puid)
    errors += validate_fields(fields)
    seen = {e.field for e in errors}
    errors += [e for e in _vigil_checks(fields) if e.field not in seen]
    if errors:
        raise _refuse(errors)
    statement = Statement(
        decision_id=spec.decision_id,
        account_id=spec.account_id,
        puid=puid,
        fields=fields,
        actions=[
            {
                "action": str(action),
                "scope": str(scope),
                "ends_at": clock.as_utc(ends).isoformat() if ends is not None else None,
            }
            for action, scope, ends in spec.actions
        ],
        category=fields["category"],
        decision_ground=fields["decision_ground"],
        application_date=spec.application_date,
        automated_decision=fields["automated_decision"],
        created_at=clock.now(),
    )
    session.add(statement)
    session.flush()
    audit.record(
        session,
        ACTOR,
        "dsa.statement.create",
        "statement",
        statement.id,
        data={"decision_id": spec.decision_id, "puid": puid, "category": statement.category},
    )
    return statement


# --- revision after an appeal -----------------------------------------------------------------


class RevisionOutcome(StrEnum):
    confirmed = "confirmed"  # the appeal was not upheld: the decision stands
    overturned = "overturned"  # the decision was reversed
    modified = "modified"  # reversed and replaced by another decision


def revise(
    session: Session,
    statement: Statement,
    *,
    outcome: RevisionOutcome,
    reason: str,
    appeal_id: int | None,
    replaced_by_statement_id: int | None = None,
    replaced_by_decision_id: int | None = None,
    actor: Principal | None = None,
) -> Statement:
    """Record what an appeal made of the decision the statement explains. ``fields`` (what
    was submitted to the Transparency Database) is left untouched; the revision sits next to
    it and is shown with the statement. A later revision replaces an earlier one (the audit
    log keeps both). The audit record names ``actor`` (who heard the appeal), or Vigil."""
    now = clock.now()
    revision: dict[str, Any] = {
        "outcome": outcome.value,
        "at": now.isoformat(),
        "reason": reason,
        "appeal_id": appeal_id,
        "replaced_by_statement_id": replaced_by_statement_id,
        "replaced_by_decision_id": replaced_by_decision_id,
    }
    statement.revision = revision
    statement.revised_at = now
    session.flush()
    audit.record(
        session,
        actor or ACTOR,
        "dsa.statement.revise",
        "statement",
        statement.id,
        reason=reason,
        data={k: v for k, v in revision.items() if k not in ("at", "reason")},
    )
    return statement


# --- reading ----------------------------------------------------------------------------------


def _visible_to(query: Select[Any], actor: Principal | None) -> Select[Any]:
    """Statements of decisions on legal-tier cases exist only for those who hold
    ``cases:legal``, like the cases: their facts describe the case. ``actor`` None is
    Vigil itself (enforcement, the export)."""
    if actor is None or actor.can(Permission.legal_cases):
        return query
    legal = (
        select(Decision.id)
        .join(Case, Case.id == Decision.case_id)
        .where(Decision.id == Statement.decision_id, Case.tier == Tier.legal)
    )
    return query.where(~exists(legal))


def get_statement(session: Session, actor: Principal, statement_id: int) -> Statement:
    """One statement; 404 when ``actor`` may not see it (see :func:`list_statements`)."""
    query = _visible_to(select(Statement).where(Statement.id == statement_id), actor)
    statement = session.scalar(query)
    if statement is None:
        raise NotFound("no such statement", field="statement_id", code="statement_not_found")
    return statement


def statements_for(
    session: Session, decision_id: int, *, actor: Principal | None = None
) -> list[Statement]:
    """The statements of a decision, oldest first: as ``actor`` may see them (none, on a
    legal-tier case without ``cases:legal``), or all of them when ``actor`` is None."""
    query = select(Statement).where(Statement.decision_id == decision_id).order_by(Statement.id)
    return list(session.scalars(_visible_to(query, actor)))


def window(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Both days inclusive, in UTC: ``[since 00:00, until+1 00:00)``."""
    start = datetime.combine(since, time.min, tzinfo=UTC) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC) if until else None
    return start, end


@dataclass(frozen=True)
class StatementFilter:
    since: date | None = None  # created on or after this day (UTC)
    until: date | None = None  # created on or before this day (UTC)
    category: str | None = None


def list_statements(
    session: Session,
    actor: Principal,
    filters: StatementFilter | None = None,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Statement], str | None]:
    """Newest first, by keyset on id; without ``cases:legal``, statements of decisions on
    legal-tier cases are left out."""
    f = filters or StatementFilter()
    if f.since and f.until and f.until < f.since:
        raise InvalidInput("until is before since", field="until", code="invalid_window")
    if f.category is not None and f.category not in v.CATEGORIES:
        raise InvalidInput("unknown DSA category", field="category", code="invalid_choice")
    query = select(Statement).order_by(Statement.id.desc()).limit(limit + 1)
    start, end = window(f.since, f.until)
    if start is not None:
        query = query.where(Statement.created_at >= start)
    if end is not None:
        query = query.where(Statement.created_at < end)
    if f.category is not None:
        query = query.where(Statement.category == f.category)
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(Statement.id < before)
    rows = list(session.scalars(_visible_to(query, actor)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


# --- the user's message -----------------------------------------------------------------------


def template_context(statement: Statement) -> dict[str, Any]:
    """What the message templates may say about the statement (the ``statement`` key of the
    communications context)."""
    f = statement.fields
    ground = f.get("incompatible_content_ground") or f.get("illegal_content_legal_ground") or ""
    declared = [name for name in _END_FIELD if f.get(name)]
    ends: list[str | None] = [f.get(_END_FIELD[name]) for name in declared]
    dated = [e for e in ends if e is not None]
    ends_at = max(dated) if dated and len(dated) == len(ends) else None
    words: list[str] = []
    for a in statement.actions:
        word = RESTRICTION_WORDS.get((ActionType(a["action"]), Scope(a["scope"])))
        if word and word not in words:
            words.append(word)
    return {
        "reference": statement.reference,
        "facts": f.get("decision_facts", ""),
        "ground": ground,
        "automated_detection": f.get("automated_detection") == v.YesNo.YES,
        "automated_decision": f.get("automated_decision")
        in (v.AutomatedDecision.FULLY, v.AutomatedDecision.PARTIALLY),
        "ends_at": ends_at,
        "restrictions": words,
    }
