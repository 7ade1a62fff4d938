"""The enforcement ladder: which action a policy proposes for a user's accumulated strikes.

A ladder is a list of steps sorted by strictly increasing ``strikes`` (validated when the
version is written). The proposal for a total of N strikes is the highest step whose
``strikes`` is at most N; below the first step there is no proposal. The total already counts
the violation being decided, so a first offence with weight 1 lands on a step at 1 strike.

Pure functions: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.policies.actions import ActionType, Scope


@dataclass(frozen=True)
class LadderStep:
    strikes: int
    action: ActionType
    scope: Scope
    duration_days: int | None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> LadderStep:
        duration = raw.get("duration_days")
        return cls(
            strikes=int(raw["strikes"]),
            action=ActionType(raw["action"]),
            scope=Scope(raw["scope"]),
            duration_days=None if duration is None else int(duration),
        )

    def describe(self) -> str:
        """``3 strikes: suspend account for 7 days``: for the CLI and the console."""
        noun = "strike" if self.strikes == 1 else "strikes"
        text = f"{self.strikes} {noun}: {self.action.value} {self.scope.value}"
        if self.duration_days:
            text += f" for {self.duration_days} day{'s' if self.duration_days != 1 else ''}"
        return text


class HasLadder(Protocol):
    @property
    def ladder(self) -> Sequence[dict[str, Any]]: ...


def steps(version: HasLadder) -> list[LadderStep]:
    """Every step of the version's ladder, lowest first."""
    return sorted((LadderStep.of(raw) for raw in version.ladder), key=lambda s: s.strikes)


def step_for(version: HasLadder, strikes: int) -> LadderStep | None:
    """The highest step whose ``strikes`` is at most ``strikes``; None below the first step."""
    found: LadderStep | None = None
    for step in steps(version):
        if step.strikes > strikes:
            break
        found = step
    return found
