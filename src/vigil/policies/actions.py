"""The vocabulary of enforcement, shared by policies (what a policy allows), enforcement (what
a decision does), communications (which template) and the DSA statement (how it is declared).

This module imports nothing from Vigil so that every domain can use it.
"""

from __future__ import annotations

from enum import StrEnum


class ActionType(StrEnum):
    """What a decision does to the user. Ordered from mildest to most severe."""

    warn = "warn"  # a strike and a message; nothing is taken away
    restrict = "restrict"  # one capability taken away (listing, profile, messages, payouts)
    suspend = "suspend"  # the whole account, until an end date
    remove = "remove"  # a piece of content (listing, profile, message) taken down
    ban = "ban"  # the account removed for good

    @property
    def rank(self) -> int:
        return list(ActionType).index(self)

    @property
    def restrictive(self) -> bool:
        """Restrictive actions need a DSA statement of reasons (Art. 17)."""
        return self is not ActionType.warn


class ReversalType(StrEnum):
    """How an action is undone, when it expires or its decision is overturned."""

    lift = "lift"  # a restriction ends
    reinstate = "reinstate"  # a suspended or banned account, or removed content, comes back


class Scope(StrEnum):
    """What an action applies to."""

    account = "account"
    listing = "listing"
    profile = "profile"
    message = "message"
    payouts = "payouts"


# Which scopes each action may take. Suspensions and bans take the whole account; removals
# take content; a restriction takes one capability.
ALLOWED_SCOPES: dict[ActionType, frozenset[Scope]] = {
    ActionType.warn: frozenset({Scope.account}),
    ActionType.restrict: frozenset({Scope.listing, Scope.profile, Scope.message, Scope.payouts}),
    ActionType.suspend: frozenset({Scope.account}),
    ActionType.remove: frozenset({Scope.listing, Scope.profile, Scope.message}),
    ActionType.ban: frozenset({Scope.account}),
}

# Whether an action may (True), must (None never happens) or must not carry an end date.
TAKES_END_DATE: dict[ActionType, bool] = {
    ActionType.warn: False,
    ActionType.restrict: True,  # optional: without one it lasts until lifted
    ActionType.suspend: True,  # required
    ActionType.remove: False,
    ActionType.ban: False,
}

REVERSAL: dict[ActionType, ReversalType | None] = {
    ActionType.warn: None,
    ActionType.restrict: ReversalType.lift,
    ActionType.suspend: ReversalType.reinstate,
    ActionType.remove: ReversalType.reinstate,
    ActionType.ban: ReversalType.reinstate,
}
