"""The rules engine: every live rule of an event type in one CEL list, one native call per event.

:func:`evaluate` is what ingestion calls. It reads the newest ruleset revision (one read of a
unique index), and when the cached :class:`Engine` for the event type was built at another
revision it rebuilds it from the shadow and active rules (their current versions). An engine
is immutable once built, so threads share it freely.

Error isolation. A CEL list is an error as soon as one element is (CEL has no try/catch, and
``optional``/``has()`` only guard absent keys, not a division by zero or a bad cast), so the
engine takes the fast path first: evaluate the whole list once. Only when that yields an error
does it evaluate each rule alone for *this event*, from per-rule programs compiled alongside
the list, and record the failing rules as :class:`RuleError` while the others still fire.
Errors are rare (inputs are typed and defaulted), so the common case stays one native call and
an odd event costs one call per rule. Rewriting each element as ``cond ? 1 : 0`` or with
``||`` would not help: an error in a condition is an error of the conditional too.

A rule that no longer compiles (a feature it read was removed from the registry) is left out
of the list and reported as an error on every event, so the problem is visible rather than
silently dropping the rule.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from cel_expr_python import cel
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.config import Settings
from vigil.detection.rules import compiler
from vigil.detection.rules.models import (
    LIVE_STATES,
    Rule,
    RuleOutcome,
    RulesetRevision,
    RuleState,
    RuleVersion,
)
from vigil.kit import clock


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule_id: int
    rule_version: int
    name: str
    score: float
    outcome: str
    policy_code: str | None
    queue: str | None
    shadow: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RuleError:
    rule_id: int
    rule_version: int
    name: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    hits: list[RuleHit] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


@dataclass(frozen=True)
class LiveRule:
    """One rule version as the engine runs it."""

    rule_id: int
    version: int
    name: str
    description: str
    expression: str
    score: float
    outcome: str
    policy_code: str | None
    queue: str | None
    event_types: tuple[str, ...]
    shadow: bool = False

    @classmethod
    def of(cls, version: RuleVersion, *, shadow: bool) -> LiveRule:
        return cls(
            rule_id=version.rule_id,
            version=version.version,
            name=version.name,
            description=version.description,
            expression=version.expression,
            score=float(version.score),
            outcome=RuleOutcome(version.outcome).value,
            policy_code=version.policy_code,
            queue=version.queue,
            event_types=tuple(version.event_types),
            shadow=shadow,
        )


# --- reasons ------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:39] + "…")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list):
        shown = ", ".join(_show(v) for v in value[:5])
        return f"[{shown}{', …' if len(value) > 5 else ''}]"
    return str(value)


def reason_for(rule: LiveRule, referenced: Sequence[str], flat: Mapping[str, Any]) -> str:
    """The rule's description and the values it read: what a reviewer needs to see why."""
    values = [
        f"{n}={_show(flat[n])}" for n in referenced if n in flat and not isinstance(flat[n], dict)
    ]
    return rule.description + (f" ({', '.join(values)})" if values else "")


# --- the engine ---------------------------------------------------------------------------


class Engine:
    """The live rules of one event type, compiled once; ``run`` evaluates an activation."""

    def __init__(
        self,
        event_type: str,
        rules: Iterable[LiveRule],
        *,
        schema: compiler.Schema | None = None,
        token: str = "",
    ) -> None:
        self.event_type = event_type
        self.token = token
        self.schema = schema or compiler.current_schema()
        self.rules: list[LiveRule] = []
        self.programs: list[cel.Expression] = []
        self.referenced: list[tuple[str, ...]] = []
        self.broken: list[RuleError] = []
        for rule in sorted(rules, key=lambda r: r.name):
            compiled, problems = compiler.check(rule.expression, self.schema)
            if compiled is None:
                first = problems[0]
                self.broken.append(
                    RuleError(
                        rule.rule_id,
                        rule.version,
                        rule.name,
                        f"does not compile any more: line {first.line}, column "
                        f"{first.column}: {first.message}",
                    )
                )
                continue
            self.rules.append(rule)
            self.programs.append(compiled.program)
            self.referenced.append(compiled.referenced)
        self.program = (
            compiler.compile_list([r.expression for r in self.rules], self.schema)
            if self.rules
            else None
        )
        # Only the variables the rules read are handed to CEL (each one costs a conversion
        # per call). ``referenced`` is read from the source text; if it ever missed a
        # variable, the rule would fail for want of it, so that is checked once here and the
        # engine then hands over every variable.
        self.needed: frozenset[str] | None = frozenset(v for r in self.referenced for v in r)
        if self.program is not None:
            probe = compiler.flatten({}, self.schema, self.needed)
            for program in self.programs:
                value = program.eval(data=probe)
                if value.type() == cel.Type.ERROR and "No value with name" in str(value.value()):
                    self.needed = None
                    break
        self.plan = compiler.plan(self.schema, self.needed)

    def __len__(self) -> int:
        return len(self.rules)

    def run(self, activation: Mapping[str, Any]) -> Evaluation:
        """Evaluate a contract-shaped activation (``event``, ``account``, ``features``)."""
        if self.program is None:
            return Evaluation([], list(self.broken))
        return self.run_flat(compiler.flatten_plan(activation, self.plan))

    def run_flat(self, flat: dict[str, Any]) -> Evaluation:
        """Evaluate an already flattened activation holding at least :attr:`needed`
        (backtests flatten every variable once per event and share it between engines)."""
        errors = list(self.broken)
        if self.program is None:
            return Evaluation([], errors)
        value = self.program.eval(data=flat)
        if value.type() != cel.Type.ERROR:
            fired: Any = value.plain_value()
            hits = [self._hit(i, flat) for i, f in enumerate(fired) if f is True]
            return Evaluation(hits, errors)
        return self._one_by_one(flat, errors)

    def _one_by_one(self, flat: dict[str, Any], errors: list[RuleError]) -> Evaluation:
        activation = compiler.environment(self.schema).Activation(flat)
        hits = []
        for i, program in enumerate(self.programs):
            value = program.eval(activation)
            if value.type() == cel.Type.ERROR:
                rule = self.rules[i]
                errors.append(RuleError(rule.rule_id, rule.version, rule.name, str(value.value())))
            elif value.plain_value() is True:
                hits.append(self._hit(i, flat))
        return Evaluation(hits, errors)

    def _hit(self, i: int, flat: Mapping[str, Any]) -> RuleHit:
        rule = self.rules[i]
        return RuleHit(
            rule_id=rule.rule_id,
            rule_version=rule.version,
            name=rule.name,
            score=rule.score,
            outcome=rule.outcome,
            policy_code=rule.policy_code,
            queue=rule.queue,
            shadow=rule.shadow,
            reason=reason_for(rule, self.referenced[i], flat),
        )


# --- the ruleset revision and the cache ---------------------------------------------------


def current_revision(session: Session) -> tuple[int, str]:
    """The newest ruleset revision and its token; ``(0, "")`` before any rule went live."""
    row = session.execute(
        select(RulesetRevision.revision, RulesetRevision.token)
        .order_by(RulesetRevision.revision.desc())
        .limit(1)
    ).first()
    return (int(row.revision), str(row.token)) if row else (0, "")


def live_rules(session: Session) -> list[LiveRule]:
    """Every shadow and active rule at its current version."""
    rows = session.execute(
        select(Rule.state, RuleVersion)
        .join(
            RuleVersion,
            and_(RuleVersion.rule_id == Rule.id, RuleVersion.version == Rule.current_version),
        )
        .where(Rule.state.in_([s.value for s in LIVE_STATES]))
        .order_by(Rule.name)
    )
    return [LiveRule.of(v, shadow=RuleState(state) is RuleState.shadow) for state, v in rows]


def engines_for(
    rules: Iterable[LiveRule], *, schema: compiler.Schema | None = None, token: str = ""
) -> dict[str, Engine]:
    """One engine per event type the rules name."""
    schema = schema or compiler.current_schema()
    by_type: dict[str, list[LiveRule]] = {}
    for rule in rules:
        for event_type in rule.event_types:
            by_type.setdefault(event_type, []).append(rule)
    return {t: Engine(t, rs, schema=schema, token=token) for t, rs in by_type.items()}


_cache: dict[tuple[str, str], Engine] = {}
_CACHE_MAX = 512
_cache_lock = threading.Lock()


def _database_key(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def engine_for(session: Session, event_type: str) -> Engine:
    """The cached engine of ``event_type``, rebuilt when the ruleset revision moved."""
    _revision, token = current_revision(session)
    key = (_database_key(session), event_type)
    cached = _cache.get(key)
    if cached is not None and cached.token == token:
        return cached
    rules = [r for r in live_rules(session) if event_type in r.event_types] if token else []
    built = Engine(event_type, rules, token=token)
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX and key not in _cache:
            _cache.clear()  # many databases in one process (tests, tools): start over
        _cache[key] = built
    return built


def evaluate(session: Session, event_type: str, activation: Mapping[str, Any]) -> Evaluation:
    """Run every shadow and active rule of ``event_type`` on one event.

    ``activation`` is ``{"event": {...}, "account": {...} | None, "features": {...}}`` (see
    :func:`activation_for`). Shadow hits are returned with ``shadow=True``: record them, but
    :func:`outcome_for` leaves them out."""
    return engine_for(session, event_type).run(activation)


def outcome_for(hits: Iterable[RuleHit], settings: Settings) -> tuple[str, float]:
    """The event's outcome and the total score of its non-shadow hits.

    Scores add up to review at ``detection_review_score`` and to block at
    ``detection_block_score``; a hit whose own outcome is more severe than the total's wins
    (one ``block`` rule blocks whatever its score). Shadow hits never count."""
    counted = [h for h in hits if not h.shadow]
    total = float(sum(h.score for h in counted))
    outcome = RuleOutcome.allow
    if total >= settings.detection_block_score:
        outcome = RuleOutcome.block
    elif total >= settings.detection_review_score:
        outcome = RuleOutcome.review
    for hit in counted:
        own = RuleOutcome(hit.outcome)
        if own.rank > outcome.rank:
            outcome = own
    return outcome.value, total


# --- activations --------------------------------------------------------------------------


def account_map(account: Account | None, at: datetime) -> dict[str, Any] | None:
    """The ``account`` part of an activation, as the account stands, aged at ``at``."""
    if account is None:
        return None
    since = account.registered_at or account.created_at
    age = max(int((clock.as_utc(at) - since).total_seconds() // 86400), 0) if since else 0
    return {
        "known": True,
        "external_id": account.external_id,
        "side": account.side.value if account.side else "",
        "country": account.country or "",
        "status": account.status.value if account.status else "",
        "locale": account.locale or "",
        "age_days": age,
        "attributes": dict(account.attributes or {}),
    }


def activation_for(
    event: Mapping[str, Any], account: Account | None, features: Mapping[str, Any]
) -> dict[str, Any]:
    """The activation of one event: its envelope (as validated, a dict), its account and its
    feature values."""
    occurred = event.get("occurred_at")
    at = compiler.to_timestamp(occurred) if occurred else clock.now()
    return {"event": dict(event), "account": account_map(account, at), "features": features}


def clear_cache() -> None:
    """Forget every built engine (tests that swap the feature registry)."""
    with _cache_lock:
        _cache.clear()
