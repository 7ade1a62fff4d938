"""The feature registry: every feature declared once, with the type rules see it as.

A :class:`Feature` has a snake_case name, a CEL type (``int``, ``double``, ``bool``,
``string``, ``list_string``), a description for rule authors, what it needs
(:class:`~vigil.detection.features.inputs.Need`) and a ``compute`` over the gathered
:class:`~vigil.detection.features.inputs.Inputs`. Names are checked unique and well formed
when the built-in features are imported, so a clash fails at start-up, not in a rule.

Every feature always has a value of its declared type (``compute`` results are coerced),
so a rule never meets a missing key or a type the checker did not expect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args

from vigil.detection.features.inputs import Inputs, Need

CelType = Literal["int", "double", "bool", "string", "list_string"]
CEL_TYPES: tuple[str, ...] = get_args(CelType)
NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value]


_COERCE: dict[str, Callable[[Any], Any]] = {
    "int": int,
    "double": float,
    "bool": bool,
    "string": str,
    "list_string": _strings,
}


def default_for(cel_type: str) -> Any:
    """The value a feature takes when it does not apply: 0, 0.0, false, "" or []."""
    return {"int": 0, "double": 0.0, "bool": False, "string": "", "list_string": []}[cel_type]


@dataclass(frozen=True)
class Feature:
    name: str
    cel_type: CelType
    description: str
    compute: Callable[[Inputs], Any]
    need: Need = Need.event

    def value(self, inputs: Inputs) -> Any:
        return _COERCE[self.cel_type](self.compute(inputs))


class Registry:
    def __init__(self, features: Iterable[Feature]) -> None:
        self.features: tuple[Feature, ...] = tuple(features)
        seen: set[str] = set()
        for f in self.features:
            if not NAME.match(f.name):
                raise ValueError(f"feature name {f.name!r} is not snake_case")
            if f.name in seen:
                raise ValueError(f"feature {f.name!r} is declared twice")
            if f.cel_type not in CEL_TYPES:
                raise ValueError(f"feature {f.name!r}: unknown CEL type {f.cel_type!r}")
            if not f.description.strip():
                raise ValueError(f"feature {f.name!r} has no description")
            seen.add(f.name)
        self.needs: frozenset[Need] = frozenset(f.need for f in self.features)
        self._declared = {f.name: f.cel_type for f in self.features}

    def declared(self) -> dict[str, str]:
        return dict(self._declared)

    def by_need(self) -> dict[Need, tuple[Feature, ...]]:
        return {n: tuple(f for f in self.features if f.need is n) for n in Need}

    def defaults(self) -> dict[str, Any]:
        return {f.name: default_for(f.cel_type) for f in self.features}

    def __getitem__(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.features)


@cache
def registry() -> Registry:
    """The built-in features (imported on first use: they import this module)."""
    from vigil.detection.features.builtin import REGISTRY

    return REGISTRY


def declared() -> dict[str, str]:
    """Feature name → CEL type, for the rules engine to declare to CEL."""
    return registry().declared()


def described() -> list[tuple[str, str, str]]:
    """(name, CEL type, description) of every feature, in declaration order (docs, console)."""
    return [(f.name, f.cel_type, f.description) for f in registry().features]
