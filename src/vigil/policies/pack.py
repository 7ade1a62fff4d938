"""Policy packs: a catalog written as YAML, loaded with ``vigil policies load``.

A pack is validated whole before anything is written: one bad policy and nothing changes,
with an error that names the policy and the field (``policies[3].ladder[2].scope``). Loading
is idempotent: a policy the catalog already holds word for word writes nothing; a changed one
gets a new version whose ``change_reason`` is ``policy pack <name> loaded``. Loading never
retires, restores or deletes anything; a policy left out of the pack is left alone.

Format::

    pack: marketplace              # the pack's name (a lower-case slug)
    description: ...               # optional
    policies:
      - code: fee_circumvention
        title: ...
        ...                        # every field of a policy version (see docs/policies.md)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.kit.errors import InvalidInput
from vigil.policies import service
from vigil.policies.schemas import CODE_PATTERN, PolicySpec, validate_policy

DEFAULT_PACK = Path(__file__).parent / "packs" / "marketplace.yaml"
PACK_FIELDS = {"pack", "description", "policies"}
MAX_PACK_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    policies: list[PolicySpec]


@dataclass(frozen=True)
class LoadResult:
    """Codes of the pack's policies by what loading did to them."""

    name: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Policies of the pack that the catalog holds as retired: loaded, but still retired.
    retired: list[str] = field(default_factory=list)


def _fail(message: str, field: str, code: str = "invalid_pack") -> InvalidInput:
    return InvalidInput(message, field=field, code=code)


def read_pack(path: Path | str | None = None) -> Pack:
    """Parse and validate a pack file without touching the database."""
    location = Path(path) if path is not None else DEFAULT_PACK
    try:
        if location.stat().st_size > MAX_PACK_BYTES:
            raise _fail(f"{location} is larger than {MAX_PACK_BYTES} bytes", "file")
        text = location.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(f"no policy pack at {location}", "file", "pack_not_found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {location}: {exc}", "file") from None
    return parse_pack(text, source=str(location))


def parse_pack(text: str, *, source: str = "<pack>") -> Pack:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _fail(f"{source} is not valid YAML{where}: {exc}", "file") from None
    if not isinstance(data, dict):
        raise _fail(f"{source}: a pack is a mapping with 'pack' and 'policies'", "file")
    for key in data:
        if key not in PACK_FIELDS:
            raise _fail(f"{source}: '{key}' is not a field of a pack", str(key), "unknown_field")
    name = data.get("pack")
    if not isinstance(name, str) or not CODE_PATTERN.match(name):
        raise _fail(f"{source}: 'pack' must name the pack with a lower-case slug", "pack")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise _fail(f"{source}: 'description' must be text", "description")
    raw = data.get("policies")
    if not isinstance(raw, list) or not raw:
        raise _fail(f"{source}: 'policies' must be a non-empty list", "policies")

    specs: list[PolicySpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        code = item.get("code") if isinstance(item, dict) else None
        label = f"policy {code}: " if isinstance(code, str) else f"policies[{i}]: "
        if not isinstance(item, dict):
            raise _fail(f"{label}a policy must be a mapping of fields", f"policies[{i}]")
        spec = validate_policy(item, prefix=f"policies[{i}].", label=label)
        if spec.code in seen:
            raise _fail(
                f"{label}the code is also used by policies[{seen[spec.code]}]",
                f"policies[{i}].code",
                "duplicate_policy",
            )
        seen[spec.code] = i
        specs.append(spec)
    return Pack(name=name, description=description.strip(), policies=specs)


def load_pack(session: Session, actor: Principal, path: Path | str | None = None) -> LoadResult:
    """Write a pack's policies into the catalog (the shipped pack when ``path`` is None).

    Validation happens before the first write, so an invalid pack changes nothing. The caller
    commits.
    """
    pack = read_pack(path)
    reason = f"policy pack {pack.name} loaded"
    result = LoadResult(name=pack.name)
    for spec in pack.policies:
        outcome = service.save_spec(session, actor, spec, change_reason=reason)
        getattr(result, outcome).append(spec.code)
        if service.get_policy(session, spec.code).retired:
            result.retired.append(spec.code)
    return result
