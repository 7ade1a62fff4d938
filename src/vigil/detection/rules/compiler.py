"""The CEL environment rules are written in, type-checking with positions, and the activation.

Typed variables. Every value a rule can read is declared to CEL as its own *qualified*
variable: ``event.type``, ``event.occurred_at``, ``account.age_days``,
``features.messages_1h``... CEL's checker resolves a dotted name against declared variables
before it treats the dots as field selection, so ``features.messages_1h > 20`` checks as an
``int`` comparison, ``features.no_such_thing`` is an undeclared reference (refused at save
time, with its line and column), and ``features.scam_score > "x"`` is a type error. The other
designs were worse: ``features`` as ``map(string, dyn)`` checks nothing (typos surface as run
time errors on every event); a protobuf message type would need a descriptor pool generated
from the feature registry. A second reason to flatten: cel-expr-python cannot carry a
``datetime`` *inside* a map, so ``event.occurred_at`` must be a top-level variable to be a
timestamp at all.

Only ``event.data`` (the type's payload) and ``account.attributes`` stay ``map(string, dyn)``:
their keys differ by event type and marketplace. Use ``event.data.?field.orValue(default)``
(the ``optional`` extension) or ``has(event.data.field)`` for keys that may be missing.

Callers hand :func:`flatten` the nested activation of the contract (``{"event": {...},
"account": {...} | None, "features": {...}}``); it fills every declared variable, coerces it
to its declared type and uses the type's zero value for anything missing, so a rule never sees
a missing variable (an event of an unknown account has ``account.known == false``).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_math, ext_optional, ext_strings

from vigil.detection.features.registry import declared
from vigil.kit import clock
from vigil.kit.errors import InvalidInput

MAX_EXPRESSION = 4_000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The variables of the event and its account, by kind. Feature kinds come from the registry.
EVENT_VARIABLES: dict[str, str] = {
    "event_id": "string",
    "type": "string",
    "account_id": "string",  # the marketplace's id of the account
    "occurred_at": "timestamp",
    "ip": "string",  # "" when the event had none (as for the other optional identifiers)
    "device_id": "string",
    "payment_fingerprint": "string",
    "counterparty_id": "string",
    "text": "string",  # the type's text field (message, review, listing...), "" when none
    "data": "map",  # the type's validated payload
}
ACCOUNT_VARIABLES: dict[str, str] = {
    "known": "bool",  # false when the event names an account Vigil has not seen
    "external_id": "string",
    "side": "string",
    "country": "string",
    "status": "string",
    "locale": "string",
    "age_days": "int",  # whole days from registration to the event
    "attributes": "map",
}

_CEL_TYPES: dict[str, cel.Type] = {
    "int": cel.Type.INT,
    "double": cel.Type.DOUBLE,
    "bool": cel.Type.BOOL,
    "string": cel.Type.STRING,
    "list_string": cel.Type.List(cel.Type.STRING),
    "timestamp": cel.Type.TIMESTAMP,
    "map": cel.Type.Map(cel.Type.STRING, cel.Type.DYN),
}


def declared_features() -> dict[str, str]:
    """Feature name → kind, from the feature registry (every feature has a value per event)."""
    return dict(declared())


# --- the schema and its environment -------------------------------------------------------


@dataclass(frozen=True)
class Schema:
    """Every variable a rule may read: qualified name → kind."""

    variables: tuple[tuple[str, str], ...]

    @property
    def kinds(self) -> dict[str, str]:
        return dict(self.variables)

    def features(self) -> list[str]:
        return [n.removeprefix("features.") for n, _ in self.variables if n.startswith("features.")]


def make_schema(features: Mapping[str, str]) -> Schema:
    out = [(f"event.{k}", v) for k, v in EVENT_VARIABLES.items()]
    out += [(f"account.{k}", v) for k, v in ACCOUNT_VARIABLES.items()]
    for name, kind in sorted(features.items()):
        if kind not in _CEL_TYPES or kind in ("timestamp", "map"):
            raise ValueError(f"feature {name!r} has kind {kind!r}, which rules cannot read")
        out.append((f"features.{name}", kind))
    return Schema(tuple(out))


def current_schema() -> Schema:
    return make_schema(declared_features())


@lru_cache(maxsize=8)
def environment(schema: Schema) -> cel.Env:
    return cel.NewEnv(
        variables={name: _CEL_TYPES[kind] for name, kind in schema.variables},
        extensions=[
            ext_strings.ExtStrings(),
            ext_optional.ExtOptional(),
            ext_math.ExtMath(),
            ext_bindings.ExtBindings(),  # cel.bind: compute a value once (a lower-cased text)
        ],
    )


# --- compiling and type-checking ----------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One compile or type error, at a 1-based line and column of the expression."""

    line: int
    column: int
    message: str

    def as_detail(self) -> dict[str, Any]:
        return {
            "field": "expression",
            "code": "rule_invalid",
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


@dataclass(frozen=True)
class Compiled:
    program: cel.Expression
    # The declared variables the expression reads, in order of appearance (for reasons).
    referenced: tuple[str, ...]


_ERROR = re.compile(r"ERROR: <input>:(-?\d+):(-?\d+): (.*)")
_UNDECLARED = re.compile(r"undeclared reference to '([^']+)'")
_STRINGS = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')""")
# Whitespace around the dot is legal CEL; it is folded away before matching.
_IDENT = re.compile(r"\b(event|account|features)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")


# The parser lists every token it could have accepted ("expecting {'[', '{', '(', '.', '-',
# '!', 'true', ... NUM_FLOAT, NUM_INT}"): true, and no help to a policy lead.
_EXPECTING = re.compile(r"\s*expecting \{[^}]*\}")
_MISMATCHED_EOF = re.compile(r"^(Syntax error: )?mismatched input '<EOF>'$")


def _hint(message: str, schema: Schema) -> str:
    message = message.replace(" (in container '')", "")
    message = _EXPECTING.sub("", message)
    if _MISMATCHED_EOF.match(message):
        message = (
            "Syntax error: the expression ends too early (a value or a closing bracket is missing)"
        )
    undeclared = _UNDECLARED.search(message)
    if undeclared:
        name = undeclared.group(1)
        group, _, rest = name.partition(".")
        names = [n.partition(".")[2] for n, _ in schema.variables if n.startswith(f"{group}.")]
        if names:
            close = [f"{group}.{n}" for n in difflib.get_close_matches(rest, names, n=3)]
            what = {"features": "feature", "event": "event field", "account": "account field"}
            kind = what.get(group, "variable")
            message = f"no {kind} '{rest or group}'"
            if close:
                message += f"; did you mean {', '.join(close)}?"
    if "(double, int)" in message or "(int, double)" in message:
        # CEL never mixes int and double silently; the fix is nearly always a literal.
        message += " (CEL does not compare int with double: write 20.0 for a double, or int(x))"
    return message


def problems_of(exc: Exception, schema: Schema) -> list[Problem]:
    found = []
    for match in _ERROR.finditer(str(exc)):
        line, column = int(match.group(1)), int(match.group(2))
        # Some parser limits (nesting depth) have no position: point at the start.
        found.append(Problem(max(line, 1), max(column, 1), _hint(match.group(3).strip(), schema)))
    if not found:
        found.append(Problem(1, 1, str(exc).strip() or "the expression does not compile"))
    return found


def referenced(expression: str, schema: Schema) -> tuple[str, ...]:
    known = schema.kinds
    seen: dict[str, None] = {}
    for group, key in _IDENT.findall(_STRINGS.sub('""', expression)):
        name = f"{group}.{key}"
        if name in known:
            seen.setdefault(name)
    return tuple(seen)


def check(expression: str, schema: Schema | None = None) -> tuple[Compiled | None, list[Problem]]:
    """Compile and type-check one rule expression; it must give a bool."""
    schema = schema or current_schema()
    if not isinstance(expression, str) or not expression.strip():
        return None, [Problem(1, 1, "write an expression that is true when the rule fires")]
    if len(expression) > MAX_EXPRESSION:
        return None, [Problem(1, 1, f"an expression has at most {MAX_EXPRESSION} characters")]
    try:
        program = environment(schema).compile(expression)
    except RuntimeError as exc:
        return None, problems_of(exc, schema)
    result = program.return_type()
    if result != cel.Type.BOOL:
        kind = result.name().lower()
        return None, [
            Problem(
                1,
                1,
                f"a rule must give true or false, and this gives {kind}"
                + (" (compare it: `... == true`)" if kind == "dyn" else ""),
            )
        ]
    return Compiled(program, referenced(expression, schema)), []


def compile_rule(expression: str, schema: Schema | None = None) -> Compiled:
    """:func:`check`, refusing a bad expression with 422 ``rule_invalid`` (``field`` is
    ``expression``; ``details`` hold every problem's line, column and message)."""
    compiled, problems = check(expression, schema)
    if compiled is None:
        first = problems[0]
        raise InvalidInput(
            f"line {first.line}, column {first.column}: {first.message}",
            field="expression",
            code="rule_invalid",
            details=[p.as_detail() for p in problems],
        )
    return compiled


def compile_list(expressions: Sequence[str], schema: Schema) -> cel.Expression:
    """All of an event type's rules as one CEL list of bools: one native call per event.

    Each expression has been checked alone, so the list checks too; parentheses keep each
    element whole whatever its operators."""
    return environment(schema).compile("[" + ",\n".join(f"({e})" for e in expressions) + "]")


# --- the activation -----------------------------------------------------------------------


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return min(max(value, _INT64_MIN), _INT64_MAX)
    if isinstance(value, float | Decimal) and math.isfinite(value):
        return min(max(int(value), _INT64_MIN), _INT64_MAX)
    if isinstance(value, str):
        return _int(float(value))
    return 0


def _double(value: Any) -> float:
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        return float(value)
    return 0.0


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _string(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _list_string(value: Any) -> list[str]:
    if isinstance(value, list | tuple | set | frozenset):
        return [_string(v) for v in value]
    return []


def to_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return clock.as_utc(value)
    if isinstance(value, str) and value:
        return clock.as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return _EPOCH


def plain(value: Any, depth: int = 0) -> Any:
    """A value CEL can hold inside a map: JSON-like, string keys, int64 ints.

    cel-expr-python converts a whole map when a rule reads any key of it, and refuses a
    datetime, a set or an int key anywhere inside, which would fail every rule reading
    ``event.data``; so payloads are normalised here once per event."""
    if value is None or isinstance(value, str | bool | float):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    if depth > 16:
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _map(value: Any) -> dict[str, Any]:
    return plain(value) if isinstance(value, Mapping) else {}


_COERCE: dict[str, Callable[[Any], Any]] = {
    "int": _int,
    "double": _double,
    "bool": _bool,
    "string": _string,
    "list_string": _list_string,
    "timestamp": to_timestamp,
    "map": _map,
}
_ZERO: dict[str, Callable[[], Any]] = {
    "int": lambda: 0,
    "double": lambda: 0.0,
    "bool": lambda: False,
    "string": lambda: "",
    "list_string": list,
    "timestamp": lambda: _EPOCH,
    "map": dict,
}


@lru_cache(maxsize=256)
def _plan(
    schema: Schema, only: frozenset[str] | None = None
) -> tuple[tuple[str, str, str, str], ...]:
    out = []
    for name, kind in schema.variables:
        if only is None or name in only:
            group, _, key = name.partition(".")
            out.append((name, group, key, kind))
    return tuple(out)


def flatten(
    activation: Mapping[str, Any], schema: Schema, only: frozenset[str] | None = None
) -> dict[str, Any]:
    """The nested activation as CEL's qualified variables, each present and typed.

    ``only`` limits the result to the variables some rule reads (an engine knows them):
    cel-expr-python converts every variable it is handed on every call, so an event type whose
    rules read a dozen variables should not pay for all ninety."""
    return flatten_plan(activation, plan(schema, only))


Plan = tuple[tuple[str, str, str, str], ...]


def plan(schema: Schema, only: frozenset[str] | None = None) -> Plan:
    """What :func:`flatten` fills, computed once (an engine keeps its own)."""
    return _plan(schema, only)


def flatten_plan(activation: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    groups: dict[str, Mapping[str, Any]] = {}
    for group in ("event", "account", "features"):
        value = activation.get(group)
        groups[group] = value if isinstance(value, Mapping) else {}
    out: dict[str, Any] = {}
    for name, group, key, kind in plan:
        source = groups[group]
        value = source.get(key)
        if value is None or (value == "" and name == "event.text"):
            value = _derived(name, activation, groups)
        if value is not None:
            try:
                out[name] = _COERCE[kind](value)
                continue
            except (TypeError, ValueError, OverflowError):
                pass  # a value of the wrong shape reads as the type's zero, like a missing one
        out[name] = _ZERO[kind]()
    return out


def _derived(name: str, activation: Mapping[str, Any], groups: Mapping[str, Any]) -> Any:
    """Variables with a meaning when the caller left them out."""
    if name == "account.known":
        account = activation.get("account")
        return isinstance(account, Mapping) and bool(account)
    if name == "event.text":
        # The contract names every text-bearing payload field ``text``.
        data = groups["event"].get("data")
        return data.get("text") if isinstance(data, Mapping) else None
    return None
