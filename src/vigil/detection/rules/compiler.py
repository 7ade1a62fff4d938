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
    code: str = "rule_invalid"  # or "rule_too_costly" (see cost_problems)

    def as_detail(self) -> dict[str, Any]:
        return {
            "field": "expression",
            "code": self.code,
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
    costly = cost_problems(expression)
    if costly:
        return None, costly
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
            code=first.code,
            details=[p.as_detail() for p in problems],
        )
    return compiled


# --- cost bounds ----------------------------------------------------------------------------
#
# cel-expr-python (0.1.x) exposes no cost limit, comprehension iteration limit or evaluation
# deadline, and a native evaluation cannot be interrupted. The cost is therefore bounded when a
# rule is saved, from the expression's tokens (the parser already bounds its length, above,
# and its nesting depth). What can make one evaluation expensive, and the bound on each:
#
# - iteration: a comprehension (``all``, ``exists``, ``exists_one``, ``map``, ``filter``) walks
#   a list or map; one inside another multiplies the walks (a 10,000-character text split into
#   characters, nested three deep, is 10^12 steps). At most MAX_COMPREHENSIONS per expression;
#   in any chain of comprehensions nested in each other, at most one walks something that is
#   not a list literal written in the rule (``["fake ", "forged "].exists(a, ...)``), and the
#   literal lists' sizes multiplied together are at most MAX_LITERAL_PRODUCT. The work is then
#   linear in the size of the event: at most MAX_COMPREHENSIONS x MAX_LITERAL_PRODUCT walks.
# - growth by doubling: ``cel.bind(a, s + s, cel.bind(b, a + a, ...))`` doubles a value per
#   binding. At most MAX_BINDINGS per expression (a value grows at most 2**MAX_BINDINGS-fold).
# - growth by replacement: ``s.replace("", s)`` squares a text's length, and chained replaces
#   raise it to a power. At most MAX_REPLACES calls per expression, each replacing with a
#   string literal of at most MAX_REPLACEMENT_CHARS characters.
#
# Everything else CEL offers is linear in its inputs (``+`` and ``join`` sum lengths, ``split``
# and ``matches``, which runs RE2 in linear time, read them once).
MAX_COMPREHENSIONS = 4
MAX_LITERAL_PRODUCT = 1_000
MAX_BINDINGS = 4
MAX_REPLACES = 2
MAX_REPLACEMENT_CHARS = 32
_COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_TQ1, _TQ2 = "'" * 3, '"' * 3  # triple quotes
_TOKEN = re.compile(
    "|".join(
        [
            r"(?P<space>\s+|//[^\n]*)",
            # Raw strings first: a backslash escapes nothing in them, so r"\" ends at its quote.
            rf"(?P<raw>[bB]?[rR][bB]?(?:{_TQ1}[\s\S]*?{_TQ1}|{_TQ2}[\s\S]*?{_TQ2}"
            r"""|'[^'\n]*'|"[^"\n]*"))""",
            rf"(?P<string>[bB]?(?:{_TQ1}(?:\\[\s\S]|[\s\S])*?{_TQ1}"
            rf"|{_TQ2}(?:\\[\s\S]|[\s\S])*?{_TQ2}"
            r"""|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"))""",
            r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)",
            r"(?P<number>[0-9][0-9A-Za-z_.]*)",
            r"(?P<other>.)",
        ]
    )
)


@dataclass
class _Call:
    kind: str  # "comprehension", "replace" or "" (any other bracket)
    start: int  # token index of the opening bracket
    literal_size: int | None = None  # a comprehension over a list literal: its length


def _literal_list_size(tokens: list[tuple[str, str, int]], close: int) -> int | None:
    """The number of elements of the list literal ending at token ``close`` (a ``]``), or
    None when it is not a list literal (an index ``a[0]``, or anything else)."""
    if tokens[close][1] != "]":
        return None
    depth, commas, items = 0, 0, 0
    for j in range(close, -1, -1):
        text = tokens[j][1] if tokens[j][0] == "other" else ""
        if text in (")", "]", "}"):
            depth += 1
        elif text in ("(", "[", "{"):
            depth -= 1
            if depth == 0:
                before = tokens[j - 1] if j > 0 else ("other", "(", 0)
                if before[:2] == ("name", "in"):
                    before = ("other", "(", 0)  # ``x in [...]``: an operator
                if before[0] != "other" or before[1] in (")", "]", "}", "."):
                    return None  # indexing (a name, a call or a literal before the bracket)
                return commas + 1 if items else 0
        if depth == 1 and j != close:
            if text == ",":
                commas += 1
            else:
                items += 1
    return None


def _tokens(expression: str) -> list[tuple[str, str, int]]:
    found = []
    for match in _TOKEN.finditer(expression):
        kind = match.lastgroup or "other"
        kind = "string" if kind == "raw" else kind
        if kind != "space":
            found.append((kind, match.group(), match.start()))
    return found


def _literal_length(token: str) -> int:
    body = token.lstrip("rRbB")
    quote = 3 if body[:3] in ("'''", '"""') else 1
    return len(body) - 2 * quote


def cost_problems(expression: str) -> list[Problem]:
    """The cost bounds above, as problems (code ``rule_too_costly``) at the offending token.
    Assumes ``expression`` parses (it runs after the compiler accepted it)."""
    tokens = _tokens(expression)

    def problem(offset: int, message: str) -> Problem:
        line = expression.count("\n", 0, offset) + 1
        column = offset - (expression.rfind("\n", 0, offset) + 1) + 1
        return Problem(line, column, message, code="rule_too_costly")

    problems: list[Problem] = []
    stack: list[_Call] = []
    counts = {"comprehension": 0, "bind": 0, "replace": 0}
    for i, (kind, text, _offset) in enumerate(tokens):
        if kind == "other" and text in "([{":
            call = ""
            size: int | None = None
            if text == "(" and i >= 2 and tokens[i - 2][1] == "." and tokens[i - 1][0] == "name":
                name, where = tokens[i - 1][1], tokens[i - 1][2]
                if name in _COMPREHENSIONS:
                    call = "comprehension"
                    counts["comprehension"] += 1
                    size = _literal_list_size(tokens, i - 3) if i >= 3 else None
                    chain = [c.literal_size for c in stack if c.kind == "comprehension"]
                    chain.append(size)
                    product = math.prod(n for n in chain if n is not None)
                    if sum(n is None for n in chain) > 1:
                        problems.append(problem(where, (
                            f"'{name}' inside another comprehension over event data "
                            "multiplies the work by the size of each list; test the inner "
                            "list in a second comprehension, or with 'in'"
                        )))  # fmt: skip
                    elif product > MAX_LITERAL_PRODUCT:
                        problems.append(problem(where, (
                            "the lists written in these nested comprehensions have "
                            f"{product:,} combinations; at most {MAX_LITERAL_PRODUCT:,}"
                        )))  # fmt: skip
                    elif counts["comprehension"] == MAX_COMPREHENSIONS + 1:
                        problems.append(problem(where, (
                            f"at most {MAX_COMPREHENSIONS} comprehensions (all, exists, "
                            "exists_one, map, filter) in one rule"
                        )))  # fmt: skip
                elif name == "bind" and i >= 3 and tokens[i - 3][1] == "cel":
                    counts["bind"] += 1
                    if counts["bind"] == MAX_BINDINGS + 1:
                        problems.append(
                            problem(where, f"at most {MAX_BINDINGS} cel.bind in one rule")
                        )
                elif name == "replace":
                    call = "replace"
                    counts["replace"] += 1
                    if counts["replace"] == MAX_REPLACES + 1:
                        problems.append(
                            problem(where, f"at most {MAX_REPLACES} replace calls in one rule")
                        )
            stack.append(_Call(call, i, size if call == "comprehension" else None))
        elif kind == "other" and text in ")]}" and stack:
            closed = stack.pop()
            if closed.kind == "replace":
                problems.extend(_replacement_problem(tokens, closed.start, i, problem))
    return problems


def _replacement_problem(
    tokens: list[tuple[str, str, int]],
    start: int,
    end: int,
    problem: Callable[[int, str], Problem],
) -> list[Problem]:
    """The second argument of ``replace`` (tokens between ``start`` and ``end``) must be one
    short string literal."""
    args: list[list[tuple[str, str, int]]] = [[]]
    depth = 0
    for token in tokens[start + 1 : end]:
        if token[0] == "other" and token[1] in "([{":
            depth += 1
        elif token[0] == "other" and token[1] in ")]}":
            depth -= 1
        if depth == 0 and token[:2] == ("other", ","):
            args.append([])
        else:
            args[-1].append(token)
    new = args[1] if len(args) > 1 else []
    if (
        len(new) == 1
        and new[0][0] == "string"
        and _literal_length(new[0][1]) <= (MAX_REPLACEMENT_CHARS)
    ):
        return []
    where = new[0][2] if new else tokens[start][2]
    return [problem(where, (
        f"replace must replace with a string literal of at most {MAX_REPLACEMENT_CHARS} "
        "characters (replacing with a variable can square the text's length)"
    ))]  # fmt: skip


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
