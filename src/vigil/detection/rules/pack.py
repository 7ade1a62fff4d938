"""Rule packs: a ruleset written as YAML, loaded with ``vigil rules load``.

A pack is validated whole before anything is written (every expression compiled and
type-checked against the feature registry, every policy and queue looked up): one bad rule and
nothing changes, with an error naming it (``rules[3].expression``, line and column in
``details``). Loading is idempotent: a rule the database holds word for word writes nothing; a
changed one gets a new version whose ``change_reason`` is ``rule pack <name> loaded``. A new
rule starts in the pack's ``state`` (default ``active``); an existing rule keeps the state its
owners gave it, and loading never disables or deletes anything.

Format::

    pack: marketplace
    description: ...
    rules:
      - name: new_account_mass_messaging
        description: ...            # what reviewers read when it fires
        event_types: [message_sent]
        expression: account.age_days < 3 && features.messages_1h >= 20
        score: 60
        outcome: review             # allow (score only), review or block
        policy_code: spam
        queue: detection
        tags: [spam]
        state: active               # draft, shadow or active (new rules only)

The policies the pack cites come from ``vigil policies load``, the queues from
``vigil queues bootstrap``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.detection.rules import compiler, service
from vigil.detection.rules.models import RuleState
from vigil.detection.rules.schemas import NAME_PATTERN, RuleSpec, validate_rule
from vigil.kit.errors import InvalidInput

DEFAULT_PACK = Path(__file__).parent / "packs" / "marketplace.yaml"
PACK_FIELDS = {"pack", "description", "rules"}
RULE_FIELDS = {
    "name",
    "description",
    "expression",
    "score",
    "outcome",
    "queue",
    "policy_code",
    "tags",
    "event_types",
    "state",
}
MAX_PACK_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class PackRule:
    spec: RuleSpec
    state: RuleState


@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    rules: list[PackRule]


@dataclass(frozen=True)
class LoadResult:
    name: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _fail(message: str, where: str, code: str = "invalid_pack") -> InvalidInput:
    return InvalidInput(message, field=where, code=code)


def read_text(path: Path | str | None = None) -> tuple[str, str]:
    location = Path(path) if path is not None else DEFAULT_PACK
    try:
        if location.stat().st_size > MAX_PACK_BYTES:
            raise _fail(f"{location} is larger than {MAX_PACK_BYTES} bytes", "file")
        return location.read_text(encoding="utf-8"), str(location)
    except FileNotFoundError:
        raise _fail(f"no rule pack at {location}", "file", "pack_not_found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {location}: {exc}", "file") from None


def parse_pack(session: Session, text: str, *, source: str = "<pack>") -> Pack:
    """Parse and validate a pack against the database's policies and queues."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _fail(f"{source} is not valid YAML{where}: {exc}", "file") from None
    if not isinstance(data, dict):
        raise _fail(f"{source}: a pack is a mapping with 'pack' and 'rules'", "file")
    for key in data:
        if key not in PACK_FIELDS:
            raise _fail(f"{source}: '{key}' is not a field of a pack", str(key), "unknown_field")
    name = data.get("pack")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise _fail(f"{source}: 'pack' must name the pack with a lower-case slug", "pack")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise _fail(f"{source}: 'description' must be text", "description")
    raw = data.get("rules")
    if not isinstance(raw, list) or not raw:
        raise _fail(f"{source}: 'rules' must be a non-empty list", "rules")

    schema = compiler.current_schema()
    rules: list[PackRule] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        where = f"rules[{i}]"
        if not isinstance(item, dict):
            raise _fail(f"{where}: a rule must be a mapping of fields", where)
        rule_name = item.get("name")
        label = f"rule {rule_name}: " if isinstance(rule_name, str) else f"{where}: "
        for key in item:
            if key not in RULE_FIELDS:
                raise _fail(
                    f"{label}'{key}' is not a field of a rule", f"{where}.{key}", "unknown_field"
                )
        spec = validate_rule(session, item, prefix=f"{where}.", label=label, schema=schema)
        try:
            state = RuleState(item.get("state", RuleState.active.value))
        except ValueError:
            state = RuleState.disabled
        if state is RuleState.disabled:
            raise _fail(
                f"{label}state must be draft, shadow or active", f"{where}.state", "invalid_state"
            )
        if spec.name in seen:
            raise _fail(
                f"{label}the name is also used by rules[{seen[spec.name]}]",
                f"{where}.name",
                "duplicate_rule",
            )
        seen[spec.name] = i
        rules.append(PackRule(spec, state))
    return Pack(name=name, description=description.strip(), rules=rules)


def read_pack(session: Session, path: Path | str | None = None) -> Pack:
    text, source = read_text(path)
    return parse_pack(session, text, source=source)


def load_pack(session: Session, actor: Principal, path: Path | str | None = None) -> LoadResult:
    """Write a pack's rules (the shipped pack when ``path`` is None). The caller commits."""
    pack = read_pack(session, path)
    reason = f"rule pack {pack.name} loaded"
    result = LoadResult(name=pack.name)
    for item in pack.rules:
        outcome = service.save_spec(
            session, actor, item.spec, state=item.state, change_reason=reason
        )
        getattr(result, outcome).append(item.spec.name)
    return result
