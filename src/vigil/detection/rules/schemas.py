"""What a rule version must say, checked in one place for the API, the console and the pack
loader, and the API's request and response models.

:func:`validate_rule` takes plain data (a JSON body, a YAML mapping, a form), reports every
problem with a stable ``code`` and the field at fault, and returns a normalised
:class:`RuleSpec`; two specs that say the same thing compare equal, which is how an edit that
changes nothing writes nothing. The expression is compiled and type-checked against the
current feature registry; its problems carry their line and column in ``details``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases.models import Queue
from vigil.detection.events import EVENT_SCHEMAS
from vigil.detection.rules import compiler
from vigil.detection.rules.models import (
    NAME_MAX,
    Backtest,
    Rule,
    RuleOutcome,
    RuleState,
    RuleVersion,
)
from vigil.kit.errors import InvalidInput, VigilError
from vigil.policies import service as policies

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_DESCRIPTION = 2_000
MAX_REASON = 2_000
MAX_TAGS = 20
SCORE_LIMIT = 1_000.0
# Path segments of /v1/rules/... that a rule's name would shadow.
RESERVED_NAMES = frozenset({"backtests", "revisions", "validate", "test", "new"})

CONTENT_FIELDS: tuple[str, ...] = (
    "description",
    "expression",
    "score",
    "outcome",
    "queue",
    "policy_code",
    "tags",
    "event_types",
)


def known_event_types() -> tuple[str, ...]:
    return tuple(sorted(EVENT_SCHEMAS))


@dataclass(frozen=True)
class RuleSpec:
    """A validated, normalised rule version, not yet written."""

    name: str
    content: dict[str, Any]

    def differs_from(self, version: RuleVersion) -> list[str]:
        current = version_content(version)
        return [n for n in CONTENT_FIELDS if self.content[n] != current[n]]


def version_content(version: RuleVersion) -> dict[str, Any]:
    return {
        "description": version.description,
        "expression": version.expression,
        "score": float(version.score),
        "outcome": RuleOutcome(version.outcome).value,
        "queue": version.queue,
        "policy_code": version.policy_code,
        "tags": list(version.tags),
        "event_types": list(version.event_types),
    }


class _Errors:
    def __init__(self, prefix: str, label: str) -> None:
        self.prefix = prefix
        self.label = label
        self.items: list[dict[str, Any]] = []

    def add(self, path: str, code: str, message: str, **extra: Any) -> None:
        self.items.append(
            {"code": code, "field": f"{self.prefix}{path}", "message": f"{self.label}{message}"}
            | extra
        )

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            raise InvalidInput(
                first["message"], field=first["field"], code=first["code"], details=self.items
            )


def validate_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > NAME_MAX:
        raise InvalidInput(
            f"a rule's name is a lower-case slug of at most {NAME_MAX} characters "
            "(letters, digits and single underscores, e.g. new_account_mass_messaging)",
            field=field,
            code="invalid_name",
        )
    return name


def validate_reason(value: Any, field: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"say why ({field})", field=field, code="missing_field")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", field=field, code="invalid_type")
    if len(value.strip()) > MAX_REASON:
        raise InvalidInput(
            f"{field} is longer than {MAX_REASON} characters", field=field, code="too_long"
        )
    return value.strip()


def _expression(errors: _Errors, data: Mapping[str, Any], schema: compiler.Schema) -> str | None:
    value = data.get("expression")
    if not isinstance(value, str) and value is not None:
        errors.add("expression", "invalid_type", "expression must be text")
        return None
    _compiled, problems = compiler.check(value or "", schema)
    for p in problems:
        errors.add(
            "expression",
            p.code,
            f"expression, line {p.line}, column {p.column}: {p.message}",
            line=p.line,
            column=p.column,
        )
    return value.strip() if value and not problems else None


def _score(errors: _Errors, value: Any) -> float | None:
    if value is None:
        errors.add("score", "missing_field", "score is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors.add("score", "invalid_type", "score must be a number")
        return None
    if abs(value) > SCORE_LIMIT:
        errors.add(
            "score", "out_of_range", f"score must be between -{SCORE_LIMIT:g} and {SCORE_LIMIT:g}"
        )
        return None
    return float(value)


def _string_list(
    errors: _Errors, value: Any, name: str, pattern: re.Pattern[str], what: str
) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(name, "invalid_type", f"{name} must be a list")
        return []
    if len(value) > MAX_TAGS:
        errors.add(name, "too_many", f"{name} holds more than {MAX_TAGS} items")
        return []  # checking each item of a huge list would cost O(n^2) (the ``in`` below)
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not pattern.match(item):
            errors.add(f"{name}[{i}]", f"invalid_{what}", f"{name}[{i}] {item!r} is not a {what}")
        elif item not in out:
            out.append(item)
    return out


def validate_rule(
    session: Session,
    data: Mapping[str, Any],
    *,
    prefix: str = "",
    label: str = "",
    schema: compiler.Schema | None = None,
) -> RuleSpec:
    """Check a whole rule (name and content) and normalise it; 422 naming every problem.

    The expression comes first, so a rule that does not compile is refused with
    ``code="rule_invalid"`` and ``field="expression"`` whatever else is wrong."""
    errors = _Errors(prefix, label)
    schema = schema or compiler.current_schema()
    expression = _expression(errors, data, schema)

    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > NAME_MAX:
        errors.add(
            "name",
            "invalid_name",
            f"name must be a lower-case slug of at most "
            f"{NAME_MAX} characters, e.g. new_account_mass_messaging",
        )
    elif name in RESERVED_NAMES:
        errors.add("name", "invalid_name", f"'{name}' is reserved; choose another name")

    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        errors.add("description", "missing_field", "description is required (reviewers read it)")
    elif len(description.strip()) > MAX_DESCRIPTION:
        errors.add(
            "description", "too_long", f"description is longer than {MAX_DESCRIPTION} characters"
        )

    score = _score(errors, data.get("score"))

    outcome = data.get("outcome", RuleOutcome.allow.value)
    if not isinstance(outcome, str) or outcome not in {o.value for o in RuleOutcome}:
        errors.add("outcome", "invalid_outcome", "outcome must be allow, review or block")
        outcome = None

    queue = data.get("queue") or None
    if queue is not None:
        found = (
            session.scalar(select(Queue).where(Queue.slug == queue))
            if isinstance(queue, str) and len(queue) <= 64
            else None
        )
        if found is None or not found.active:
            errors.add("queue", "unknown_queue", f"queue '{queue}' is not an active queue")

    policy_code = data.get("policy_code") or None
    if policy_code is not None:
        if not isinstance(policy_code, str) or len(policy_code) > 64:
            errors.add("policy_code", "unknown_policy", "policy_code must name a policy")
        else:
            try:
                policies.resolve(session, policy_code, field="policy_code")
            except VigilError as exc:
                errors.add("policy_code", exc.code, exc.message)
    elif outcome in (RuleOutcome.review.value, RuleOutcome.block.value):
        errors.add(
            "policy_code",
            "missing_field",
            f"a rule whose outcome is {outcome} must cite the policy it enforces",
        )

    tags = _string_list(errors, data.get("tags"), "tags", TAG_PATTERN, "tag")
    known = known_event_types()
    event_types: list[str] = []
    raw_types = data.get("event_types")
    if not isinstance(raw_types, list) or not raw_types:
        errors.add(
            "event_types",
            "missing_field",
            f"event_types must name at least one of {', '.join(known)}",
        )
    else:
        for i, item in enumerate(raw_types):
            if item not in known:
                errors.add(
                    f"event_types[{i}]",
                    "unknown_event_type",
                    f"event_types[{i}] {item!r} is not one of {', '.join(known)}",
                )
            elif item not in event_types:
                event_types.append(item)

    errors.raise_if_any()
    assert isinstance(name, str) and expression is not None and score is not None
    return RuleSpec(
        name=name,
        content={
            "description": str(description).strip(),
            "expression": expression,
            "score": score,
            "outcome": str(outcome),
            "queue": queue,
            "policy_code": policy_code,
            "tags": sorted(tags),
            "event_types": sorted(event_types),
        },
    )


# --- API models -----------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Content(_Body):
    # Loosely typed on purpose: validate_rule reports each problem with its own code.
    description: Any = None
    expression: Any = None
    score: Any = None
    outcome: Any = None
    queue: Any = None
    policy_code: Any = None
    tags: Any = None
    event_types: Any = Field(default=None, description="The event types the rule runs on.")

    def fields_given(self) -> dict[str, Any]:
        return self.model_dump(
            exclude_unset=True, exclude={"change_reason", "expected_version", "name", "state"}
        )


class RuleCreate(_Content):
    name: Any = Field(default=None, description="Lower-case slug; never changes.")
    state: Any = Field(default=None, description="draft (default), shadow or active.")
    change_reason: str | None = Field(default=None, max_length=MAX_REASON)


class RuleUpdate(_Content):
    change_reason: str | None = Field(default=None, description="Why (kept with the version).")
    expected_version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class StateBody(_Body):
    state: Any = Field(default=None, description="draft, shadow, active or disabled.")
    reason: str | None = Field(default=None, max_length=MAX_REASON)


class ValidateBody(_Body):
    expression: Any = None


class TrialBody(_Body):
    expression: Any = None
    event_id: str | None = Field(
        default=None, max_length=200, description="Replay a stored event (its features)."
    )
    event: dict[str, Any] | None = Field(default=None, description="A sample event envelope.")
    account: dict[str, Any] | None = None
    features: dict[str, Any] | None = Field(
        default=None, description="Feature values; the ones left out are 0, false or empty."
    )


class BacktestCreate(_Body):
    since: datetime | None = None
    until: datetime | None = None
    target: Any = Field(
        default=None,
        description='{"kind": "active"} (default), {"kind": "revision", "revision": N} or '
        '{"kind": "rule", "name": ..., "version": N (default: current)}.',
    )
    compare: Any = Field(default=None, description="A second target, run side by side.")


class ProblemOut(BaseModel):
    line: int
    column: int
    message: str


class ValidateOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]
    variables: list[str] = Field(description="The declared variables the expression reads.")


class TrialOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]
    result: bool | None = None
    error: str | None = None
    values: dict[str, Any] = Field(default_factory=dict, description="What the expression read.")


class RuleVersionOut(BaseModel):
    name: str
    version: int
    description: str
    expression: str
    score: float
    outcome: str
    queue: str | None
    policy_code: str | None
    tags: list[str]
    event_types: list[str]
    created_at: datetime
    created_by: str
    change_reason: str

    @classmethod
    def of(cls, v: RuleVersion) -> RuleVersionOut:
        return cls(
            **version_content(v),
            name=v.name,
            version=v.version,
            created_at=v.created_at,
            created_by=v.created_by_label,
            change_reason=v.change_reason,
        )


class RuleOut(RuleVersionOut):
    state: str
    current_version: int
    state_changed_at: datetime

    @classmethod
    def of_rule(cls, rule: Rule, version: RuleVersion) -> RuleOut:
        return cls(
            **RuleVersionOut.of(version).model_dump(),
            state=RuleState(rule.state).value,
            current_version=rule.current_version,
            state_changed_at=rule.state_changed_at,
        )


class RulePage(BaseModel):
    items: list[RuleOut]
    next_cursor: str | None = None


class RuleVersionPage(BaseModel):
    items: list[RuleVersionOut]
    next_cursor: str | None = None


class RuleUpdateOut(BaseModel):
    changed: bool
    changed_fields: list[str]
    rule: RuleOut


class BacktestOut(BaseModel):
    id: int
    status: str
    target: dict[str, Any]
    compare: dict[str, Any] | None
    since: datetime
    until: datetime
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    events_scanned: int
    labels: dict[str, Any]
    results: list[dict[str, Any]] = Field(
        description="One entry per rule of the target: hits, accounts, errors, precision, "
        "recall... and sample_event_ids, the ids of the up to 5 newest events the rule hit "
        "in the range, newest first (absent from runs stored before samples were kept)."
    )
    comparison: dict[str, Any] | None
    error: str | None

    @classmethod
    def of(cls, b: Backtest) -> BacktestOut:
        return cls(
            id=b.id,
            status=b.status.value,
            target=b.target,
            compare=b.compare,
            since=b.since_at,
            until=b.until_at,
            requested_by=b.requested_by_label,
            created_at=b.created_at,
            started_at=b.started_at,
            finished_at=b.finished_at,
            events_scanned=b.events_scanned,
            labels=b.labels or {},
            results=b.results or [],
            comparison=b.comparison,
            error=b.error,
        )


class BacktestPage(BaseModel):
    items: list[BacktestOut]
    next_cursor: str | None = None
