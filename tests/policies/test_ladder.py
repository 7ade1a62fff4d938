"""The ladder's proposal for a number of strikes. Pure: no database."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from vigil.policies.actions import ActionType, Scope
from vigil.policies.ladder import LadderStep, step_for, steps
from vigil.policies.pack import read_pack


@dataclass
class Version:
    """Anything with a ``ladder`` will do: the function only reads it."""

    ladder: list[dict[str, Any]] = field(default_factory=list)


FEE = Version(
    [
        {"strikes": 1, "action": "warn", "scope": "account", "duration_days": None},
        {"strikes": 2, "action": "restrict", "scope": "message", "duration_days": 14},
        {"strikes": 3, "action": "suspend", "scope": "account", "duration_days": 7},
        {"strikes": 4, "action": "ban", "scope": "account", "duration_days": None},
    ]
)


@pytest.mark.parametrize(
    ("strikes", "expected"),
    [
        (1, LadderStep(1, ActionType.warn, Scope.account, None)),
        (2, LadderStep(2, ActionType.restrict, Scope.message, 14)),
        (3, LadderStep(3, ActionType.suspend, Scope.account, 7)),
        (4, LadderStep(4, ActionType.ban, Scope.account, None)),
        (5, LadderStep(4, ActionType.ban, Scope.account, None)),  # past the top: the top
        (250, LadderStep(4, ActionType.ban, Scope.account, None)),
    ],
)
def test_each_total_lands_on_the_highest_step_reached(strikes: int, expected: LadderStep) -> None:
    assert step_for(FEE, strikes) == expected


@pytest.mark.parametrize("strikes", [0, -1, -100])
def test_below_the_first_step_there_is_no_proposal(strikes: int) -> None:
    assert step_for(FEE, strikes) is None


def test_gaps_between_steps_keep_the_lower_step() -> None:
    harassment = Version(
        [
            {"strikes": 2, "action": "warn", "scope": "account", "duration_days": None},
            {"strikes": 4, "action": "suspend", "scope": "account", "duration_days": 7},
            {"strikes": 6, "action": "ban", "scope": "account", "duration_days": None},
        ]
    )
    assert step_for(harassment, 1) is None
    assert [step_for(harassment, n).action for n in (2, 3, 4, 5, 6, 9)] == [  # type: ignore[union-attr]
        "warn",
        "warn",
        "suspend",
        "suspend",
        "ban",
        "ban",
    ]


def test_a_one_step_ladder_applies_from_its_step_on() -> None:
    fraud = Version([{"strikes": 1, "action": "ban", "scope": "account", "duration_days": None}])
    assert step_for(fraud, 0) is None
    assert (
        step_for(fraud, 1)
        == step_for(fraud, 30)
        == LadderStep(1, ActionType.ban, Scope.account, None)
    )


def test_an_empty_ladder_never_proposes() -> None:
    assert step_for(Version([]), 10) is None


def test_steps_are_read_in_strike_order_whatever_the_stored_order() -> None:
    shuffled = Version(list(reversed(FEE.ladder)))
    assert [s.strikes for s in steps(shuffled)] == [1, 2, 3, 4]
    assert step_for(shuffled, 3) == step_for(FEE, 3)


def test_steps_are_typed_and_frozen() -> None:
    step = step_for(FEE, 2)
    assert step is not None
    assert isinstance(step.action, ActionType) and isinstance(step.scope, Scope)
    with pytest.raises(FrozenInstanceError):
        step.strikes = 9  # type: ignore[misc]


def test_a_step_reads_like_a_sentence() -> None:
    assert [s.describe() for s in steps(FEE)] == [
        "1 strike: warn account",
        "2 strikes: restrict message for 14 days",
        "3 strikes: suspend account for 7 days",
        "4 strikes: ban account",
    ]


def test_the_shipped_pack_ladders_propose_for_a_first_offence() -> None:
    """A first offence on a clean account adds the policy's weight: it must land on a step
    (else the reviewer gets only the default action), unless the policy counts no strike."""
    for spec in read_pack().policies:
        version = Version(spec.content["ladder"])
        weight = spec.content["strike_weight"]
        first = step_for(version, max(weight, 1))
        assert first is not None, spec.code
        assert first.action in spec.content["allowed_actions"], spec.code
