"""The rule state machine.

The moves are data (:data:`ALLOWED`); :func:`transition` is the only code that changes
``Rule.state``. It refuses a move the table does not hold (409 ``illegal_transition``) and
stamps the step's timestamp. Auditing and the ruleset revision are the service's job (it knows
why the move was made).

==========  ==================================
from        to
==========  ==================================
draft       shadow, active, disabled
shadow      draft, active, disabled
active      shadow, disabled
disabled    draft, shadow, active
==========  ==================================

An active rule never goes back to draft: it has produced decisions, so it is shadowed (to
watch a change) or disabled. A disabled rule comes back through draft, shadow or straight to
active.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from vigil.detection.rules.models import Rule, RuleState
from vigil.kit import clock
from vigil.kit.errors import IllegalTransition

S = RuleState

ALLOWED: dict[RuleState, frozenset[RuleState]] = {
    S.draft: frozenset({S.shadow, S.active, S.disabled}),
    S.shadow: frozenset({S.draft, S.active, S.disabled}),
    S.active: frozenset({S.shadow, S.disabled}),
    S.disabled: frozenset({S.draft, S.shadow, S.active}),
}


def is_allowed(from_state: RuleState, to_state: RuleState) -> bool:
    return to_state in ALLOWED[from_state]


def check(rule: Rule, to: RuleState) -> None:
    current = RuleState(rule.state)
    if current is to:
        raise IllegalTransition(
            f"rule '{rule.name}' is already {to.value}", field="state", code="illegal_transition"
        )
    if not is_allowed(current, to):
        raise IllegalTransition(
            f"a rule cannot go from {current.value} to {to.value}",
            field="state",
            code="illegal_transition",
        )


def transition(session: Session, rule: Rule, to: RuleState) -> RuleState:
    """Move ``rule`` to ``to``; returns the state it left."""
    check(rule, to)
    previous = RuleState(rule.state)
    now = clock.now()
    rule.state = to
    rule.state_changed_at = now
    if to is S.shadow:
        rule.shadowed_at = now
    elif to is S.active:
        rule.activated_at = now
    elif to is S.disabled:
        rule.disabled_at = now
    session.flush()
    return previous
