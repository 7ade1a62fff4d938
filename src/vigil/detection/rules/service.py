"""Rules: read, create, edit (a new version each time), change state; the ruleset revision.

Functions never commit. Every write validates first (a refused save leaves no trace), flushes,
then appends its audit record (``rules.rule.create|update|state``). A change that alters what
the engine runs — a new version of a shadow or active rule, a move into or out of shadow or
active — also appends a :class:`RulesetRevision` in the same transaction; engines in every
process see the new revision on their next event and rebuild.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cel_expr_python import cel
from sqlalchemy import and_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.detection.models import Event
from vigil.detection.rules import compiler, states
from vigil.detection.rules.engine import LiveRule, account_map, live_rules
from vigil.detection.rules.models import (
    LIVE_STATES,
    Rule,
    RulesetRevision,
    RuleState,
    RuleVersion,
)
from vigil.detection.rules.schemas import (
    RuleSpec,
    validate_name,
    validate_reason,
    validate_rule,
    version_content,
)
from vigil.detection.schemas import masked_payload
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, VersionConflict
from vigil.kit.pagination import decode_cursor, encode_cursor

# Names the ruleset's lock among PostgreSQL advisory locks (any fixed 63-bit number).
_REVISION_LOCK_KEY = 0x5649_4749_4C52_554C & 0x7FFF_FFFF_FFFF_FFFF

# --- reading ----------------------------------------------------------------------------------


def _find(session: Session, name: str, *, lock: bool = False) -> Rule | None:
    query = select(Rule).where(Rule.name == name)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def get_rule(session: Session, name: str, *, lock: bool = False) -> Rule:
    """404 ``rule_not_found``."""
    rule = _find(session, name, lock=lock)
    if rule is None:
        raise NotFound(f"no rule '{name}'", field="name", code="rule_not_found")
    return rule


def _version(session: Session, rule_id: int, number: int) -> RuleVersion | None:
    return session.scalar(
        select(RuleVersion).where(RuleVersion.rule_id == rule_id, RuleVersion.version == number)
    )


def current(session: Session, rule: Rule) -> RuleVersion:
    found = _version(session, rule.id, rule.current_version)
    if found is None:  # written with the rule; never missing
        raise NotFound(f"rule '{rule.name}' has no current version", code="rule_not_found")
    return found


def get_current(session: Session, name: str) -> tuple[Rule, RuleVersion]:
    rule = get_rule(session, name)
    return rule, current(session, rule)


def get_version(session: Session, name: str, version: int) -> RuleVersion:
    """404 ``rule_version_not_found``."""
    rule = get_rule(session, name)
    found = _version(session, rule.id, version)
    if found is None:
        raise NotFound(
            f"rule '{name}' has no version {version}",
            field="version",
            code="rule_version_not_found",
        )
    return found


def _state_filter(state: str | None) -> RuleState | None:
    if state is None or state == "":
        return None
    try:
        return RuleState(state)
    except ValueError:
        raise InvalidInput(
            "state must be draft, shadow, active or disabled", field="state", code="invalid_state"
        ) from None


def list_page(
    session: Session, *, state: str | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[list[tuple[Rule, RuleVersion]], str | None]:
    """Rules with their current version, by name (keyset on the unique name)."""
    query = select(Rule, RuleVersion).join(
        RuleVersion,
        and_(RuleVersion.rule_id == Rule.id, RuleVersion.version == Rule.current_version),
    )
    chosen = _state_filter(state)
    if chosen is not None:
        query = query.where(Rule.state == chosen)
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(Rule.name > str(after))
    rows = [(r, v) for r, v in session.execute(query.order_by(Rule.name).limit(limit + 1))]
    next_cursor = encode_cursor([rows[limit - 1][0].name]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def history_page(
    session: Session, name: str, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[RuleVersion], str | None]:
    """Every version of a rule, newest first (keyset on the version number)."""
    rule = get_rule(session, name)
    query = select(RuleVersion).where(RuleVersion.rule_id == rule.id)
    if cursor is not None:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int) or isinstance(before, bool):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(RuleVersion.version < before)
    rows = list(session.scalars(query.order_by(RuleVersion.version.desc()).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].version]) if len(rows) > limit else None
    return rows[:limit], next_cursor


# --- the ruleset revision -----------------------------------------------------------------


def _snapshot(rules: list[LiveRule]) -> list[dict[str, Any]]:
    return [
        {
            "rule_id": r.rule_id,
            "name": r.name,
            "version": r.version,
            "state": RuleState.shadow.value if r.shadow else RuleState.active.value,
        }
        for r in rules
    ]


def bump_revision(session: Session, actor: Principal, change: str) -> RulesetRevision:
    """Append the next ruleset revision with a snapshot of the live rules (after the caller's
    change, which must be flushed). Revisions are serialised: on PostgreSQL by an advisory
    lock held until commit, on SQLite by the database's single writer."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _REVISION_LOCK_KEY})
    last = session.scalar(
        select(RulesetRevision.revision).order_by(RulesetRevision.revision.desc()).limit(1)
    )
    revision = RulesetRevision(
        revision=(last or 0) + 1,
        token=uuid.uuid4().hex,
        created_at=clock.now(),
        actor_label=actor.label,
        change=change[:2000],
        rules=_snapshot(live_rules(session)),
    )
    session.add(revision)
    session.flush()
    return revision


def get_revision(session: Session, revision: int, *, field: str = "revision") -> RulesetRevision:
    found = session.scalar(select(RulesetRevision).where(RulesetRevision.revision == revision))
    if found is None:
        raise InvalidInput(
            f"there is no ruleset revision {revision}", field=field, code="unknown_revision"
        )
    return found


def recent_revisions(session: Session, limit: int = 20) -> list[RulesetRevision]:
    return list(
        session.scalars(
            select(RulesetRevision).order_by(RulesetRevision.revision.desc()).limit(limit)
        )
    )


# --- writing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateResult:
    """``changed`` is False when the edit said what the current version already says: then
    nothing was written and ``version`` is the current version."""

    rule: Rule
    version: RuleVersion
    changed: bool
    changed_fields: list[str]


def _write_version(
    session: Session, actor: Principal, rule: Rule, spec: RuleSpec, number: int, reason: str
) -> RuleVersion:
    version = RuleVersion(
        rule_id=rule.id,
        name=rule.name,
        version=number,
        created_at=clock.now(),
        created_by_id=actor.staff_id,
        created_by_label=actor.label,
        change_reason=reason,
        **spec.content,
    )
    session.add(version)
    return version


def _flush_unique(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # Two writers raced past the checks; the loser's transaction is rolled back by its edge.
        raise Conflict(
            f"rule '{name}' was changed at the same time; reload and try again",
            field="name",
            code="rule_conflict",
        ) from exc


def _initial_state(state: Any) -> RuleState:
    if state is None or state == "":
        return RuleState.draft
    try:
        chosen = RuleState(state)
    except ValueError:
        chosen = RuleState.disabled
    if chosen is RuleState.disabled:
        raise InvalidInput(
            "a new rule starts as draft, shadow or active", field="state", code="invalid_state"
        )
    return chosen


def create_from_spec(
    session: Session,
    actor: Principal,
    spec: RuleSpec,
    *,
    state: RuleState = RuleState.draft,
    change_reason: str = "created",
) -> tuple[Rule, RuleVersion]:
    """Write a new rule and its version 1 from an already validated spec."""
    if _find(session, spec.name) is not None:
        raise Conflict(f"rule '{spec.name}' already exists", field="name", code="rule_exists")
    now = clock.now()
    rule = Rule(
        name=spec.name,
        state=state,
        current_version=1,
        state_changed_at=now,
        shadowed_at=now if state is RuleState.shadow else None,
        activated_at=now if state is RuleState.active else None,
        created_by_id=actor.staff_id,
    )
    session.add(rule)
    _flush_unique(session, spec.name)
    version = _write_version(session, actor, rule, spec, 1, change_reason)
    _flush_unique(session, spec.name)
    revision = None
    if state in LIVE_STATES:
        revision = bump_revision(session, actor, f"{rule.name} v1 created {state.value}").revision
    audit.record(
        session,
        actor,
        "rules.rule.create",
        "rule",
        rule.id,
        reason=change_reason,
        data={"name": rule.name, "version": 1, "state": state.value, "revision": revision},
    )
    return rule, version


def create_rule(
    session: Session,
    actor: Principal,
    data: Mapping[str, Any],
    *,
    state: Any = None,
    change_reason: str | None = None,
) -> tuple[Rule, RuleVersion]:
    """Add a rule (draft unless ``state`` says shadow or active). 409 ``rule_exists``."""
    chosen = _initial_state(state)
    spec = validate_rule(session, data)
    reason = validate_reason(change_reason, "change_reason", required=False) or "created"
    return create_from_spec(session, actor, spec, state=chosen, change_reason=reason)


def update_from_spec(
    session: Session, actor: Principal, rule: Rule, spec: RuleSpec, *, change_reason: str
) -> UpdateResult:
    """Write ``spec`` as the next version of ``rule`` (locked by the caller), unless it says
    what the current version says. A live rule runs the new version from the next event."""
    latest = current(session, rule)
    changed_fields = spec.differs_from(latest)
    if not changed_fields:
        return UpdateResult(rule, latest, changed=False, changed_fields=[])
    number = rule.current_version + 1
    version = _write_version(session, actor, rule, spec, number, change_reason)
    rule.current_version = number
    rule.updated_at = clock.now()
    _flush_unique(session, rule.name)
    revision = None
    if RuleState(rule.state) in LIVE_STATES:
        revision = bump_revision(
            session, actor, f"{rule.name} v{number} ({RuleState(rule.state).value})"
        ).revision
    audit.record(
        session,
        actor,
        "rules.rule.update",
        "rule",
        rule.id,
        reason=change_reason,
        data={
            "name": rule.name,
            "version": number,
            "from_version": number - 1,
            "fields": changed_fields,
            "revision": revision,
        },
    )
    return UpdateResult(rule, version, changed=True, changed_fields=changed_fields)


def update_rule(
    session: Session,
    actor: Principal,
    name: str,
    changes: Mapping[str, Any],
    *,
    change_reason: str | None,
    expected_version: int | None = None,
) -> UpdateResult:
    """Edit a rule: the fields in ``changes`` replace the current version's, the whole is
    validated (the expression compiled and type-checked), and a new version is written.

    409 ``version_conflict`` when ``expected_version`` is not the current version."""
    validate_name(name)
    if "name" in changes and changes["name"] != name:
        raise InvalidInput(
            "a rule's name never changes; disable it and create another",
            field="name",
            code="name_immutable",
        )
    rule = get_rule(session, name, lock=True)
    if expected_version is not None and rule.current_version != expected_version:
        raise VersionConflict(
            f"rule '{name}' is at version {rule.current_version}, not {expected_version}; "
            "reload and try again",
            field="expected_version",
            code="version_conflict",
        )
    merged = version_content(current(session, rule))
    merged.update({k: v for k, v in changes.items() if k != "name"})
    spec = validate_rule(session, {"name": name, **merged})
    reason = validate_reason(change_reason, "change_reason", required=True)
    assert reason is not None
    return update_from_spec(session, actor, rule, spec, change_reason=reason)


def change_state(
    session: Session, actor: Principal, name: str, to: Any, *, reason: str | None
) -> Rule:
    """Move a rule through its state machine (409 ``illegal_transition``); audited, and a
    new ruleset revision when the live set changes."""
    try:
        target = RuleState(to)
    except ValueError:
        raise InvalidInput(
            "state must be draft, shadow, active or disabled", field="state", code="invalid_state"
        ) from None
    why = validate_reason(reason, "reason", required=False)
    rule = get_rule(session, name, lock=True)
    previous = states.transition(session, rule, target)
    revision = None
    if previous in LIVE_STATES or target in LIVE_STATES:
        revision = bump_revision(
            session,
            actor,
            f"{rule.name} v{rule.current_version} {previous.value} -> {target.value}",
        ).revision
    audit.record(
        session,
        actor,
        "rules.rule.state",
        "rule",
        rule.id,
        reason=why,
        data={
            "name": rule.name,
            "from": previous.value,
            "to": target.value,
            "version": rule.current_version,
            "revision": revision,
        },
    )
    return rule


def save_spec(
    session: Session,
    actor: Principal,
    spec: RuleSpec,
    *,
    state: RuleState,
    change_reason: str,
) -> Literal["created", "updated", "unchanged"]:
    """Create the rule in ``state`` or write ``spec`` as its next version, leaving the state
    of an existing rule as its owners set it (the pack loader's step)."""
    rule = _find(session, spec.name, lock=True)
    if rule is None:
        create_from_spec(session, actor, spec, state=state, change_reason=change_reason)
        return "created"
    result = update_from_spec(session, actor, rule, spec, change_reason=change_reason)
    return "updated" if result.changed else "unchanged"


# --- trying an expression -----------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """An expression tried on one event: its problems, or its result (or run time error)
    and the values it read."""

    problems: list[compiler.Problem]
    result: bool | None = None
    error: str | None = None
    values: dict[str, Any] | None = None


def _shown(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def try_expression(
    session: Session,
    expression: Any,
    *,
    event_id: str | None = None,
    event: Mapping[str, Any] | None = None,
    account: Mapping[str, Any] | None = None,
    features: Mapping[str, Any] | None = None,
    reveal: bool = False,
) -> Trial:
    """Compile ``expression`` and evaluate it on a stored event (``event_id``: its payload
    and the features computed when it arrived) or on a sample (``event``, ``account``,
    ``features``; what is left out takes its type's zero value). Writes nothing.

    The expression runs on the stored values, but the values it read are reported masked
    (identifiers, email, phone) unless ``reveal``: a trial must not be a way around the
    accounts API's masking for those without ``pii:reveal``."""
    schema = compiler.current_schema()
    compiled, problems = compiler.check(expression if isinstance(expression, str) else "", schema)
    if event_id is not None:
        stored = session.scalar(select(Event).where(Event.event_id == event_id))
        if stored is None:
            raise InvalidInput(f"no event '{event_id}'", field="event_id", code="unknown_event")
        row = session.get(Account, stored.account_id) if stored.account_id else None
        activation: dict[str, Any] = {
            "event": stored.payload or {},
            "account": account_map(row, stored.occurred_at),
            "features": stored.features or {},
        }
    else:
        activation = {"event": event or {}, "account": account, "features": features or {}}
    if compiled is None:
        return Trial(problems)
    flat = compiler.flatten(activation, schema)
    value = compiled.program.eval(data=flat)
    shown = flat
    if event_id is not None and not reveal:
        masked = {**activation, "event": masked_payload(dict(activation["event"]))}
        shown = compiler.flatten(masked, schema)
    values = {n: _shown(shown[n]) for n in compiled.referenced}
    if value.type() == cel.Type.ERROR:
        return Trial([], error=str(value.value()), values=values)
    return Trial([], result=value.plain_value() is True, values=values)
