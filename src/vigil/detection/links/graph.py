"""The link rule, pure: which accounts a shared identifier value ties together.

Everything here works on plain values (no database), so the service (one account at a time,
through the identifier index), ``vigil links stats`` and ``eval/linked_accounts.py`` (whole
graphs in memory) apply exactly the same rule.

The rule (see docs/linked-accounts.md for the reasons):

- A value held by more accounts than ``LinkPolicy.max_accounts`` allows for its kind is
  *crowded* and links nothing: a café's Wi-Fi, a carrier's NAT address, a VPN exit, a
  placeholder device id. It is reported, never followed.
- Any other shared device, payment fingerprint, phone, email or document links its holders.
- A shared IP address links two holders only with a second signal: they were first seen on
  it within ``ip_window`` of each other (sign-ups in one session), or they also share another
  value that is not crowded (any kind, a second address included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from vigil.accounts.models import IdentifierKind

# (kind, value) of one identifier value; kinds are plain strings so in-memory callers (the
# evaluation) need no enum.
ValueKey = tuple[str, str]

STRONG_KINDS: tuple[IdentifierKind, ...] = (
    IdentifierKind.device,
    IdentifierKind.payment,
    IdentifierKind.phone,
    IdentifierKind.email,
    IdentifierKind.document,
)
NETWORK_KINDS: tuple[IdentifierKind, ...] = (IdentifierKind.ip,)


def _default_caps() -> dict[str, int]:
    # 10 accounts on one address is already more than a household or a ring's VPN exit;
    # for the strong kinds only a placeholder or a farm reaches 50, and a farm is reported
    # as a crowded value on the account rather than drawn as a 500-account cluster.
    caps = {k.value: 50 for k in STRONG_KINDS}
    caps[IdentifierKind.ip.value] = 10
    return caps


@dataclass(frozen=True)
class LinkPolicy:
    """Tunables of the link rule. The defaults are what the product uses."""

    kinds: tuple[str, ...] = tuple(k.value for k in (*STRONG_KINDS, *NETWORK_KINDS))
    network_kinds: frozenset[str] = frozenset(k.value for k in NETWORK_KINDS)
    # A value held by more accounts than this (for its kind) is crowded and links nothing.
    max_accounts: Mapping[str, int] = field(default_factory=_default_caps)
    ip_window: timedelta = timedelta(hours=1)

    def cap(self, kind: str) -> int:
        return self.max_accounts.get(kind, 50)


DEFAULT_POLICY = LinkPolicy()


class Reason(StrEnum):
    """Why a shared value counts as a link between two accounts."""

    shared = "shared"  # a strong identifier: device, payment, phone, email, document
    same_window = "same_window"  # an address both were first seen on within ip_window
    second_signal = "second_signal"  # an address, and the pair shares another value too


@dataclass(frozen=True)
class Sighting:
    """One account holding one value, first seen at ``first_seen``."""

    account_id: int
    first_seen: datetime


@dataclass(frozen=True)
class Via:
    """A value through which two accounts are linked, and why it counts."""

    key: ValueKey
    reason: Reason


def crowded(policy: LinkPolicy, key: ValueKey, holders: int) -> bool:
    return holders > policy.cap(key[0])


def neighbours(
    account_id: int,
    holders: Mapping[ValueKey, Sequence[Sighting]],
    policy: LinkPolicy = DEFAULT_POLICY,
) -> dict[int, list[Via]]:
    """The accounts directly linked to ``account_id`` and the values that link them.

    ``holders`` maps each of the account's values to every account holding it (the account
    itself included); callers drop crowded values first, or pass them and let this skip
    them. Values are visited in sorted order, so the result does not depend on dict order.
    """
    usable = {
        key: sightings
        for key, sightings in holders.items()
        if key[0] in policy.kinds and not crowded(policy, key, len(sightings))
    }
    # Which values each other account shares with this one: the second signal for addresses.
    shared_with: dict[int, set[ValueKey]] = {}
    for key, sightings in usable.items():
        for s in sightings:
            if s.account_id != account_id:
                shared_with.setdefault(s.account_id, set()).add(key)
    out: dict[int, list[Via]] = {}
    for key in sorted(usable):
        sightings = usable[key]
        mine = next((s for s in sightings if s.account_id == account_id), None)
        if mine is None:
            continue
        network = key[0] in policy.network_kinds
        for s in sightings:
            if s.account_id == account_id:
                continue
            if not network:
                reason = Reason.shared
            elif abs(s.first_seen - mine.first_seen) <= policy.ip_window:
                reason = Reason.same_window
            elif len(shared_with[s.account_id]) > 1:
                reason = Reason.second_signal
            else:
                continue
            out.setdefault(s.account_id, []).append(Via(key, reason))
    return out


class UnionFind:
    """Disjoint sets over account ids, with path halving and union by size.

    Written here rather than taken from networkx: networkx is not installed, and connected
    components of an edge stream need only these twenty lines (near-constant time per edge,
    no graph object held in memory)."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.size: dict[int, int] = {}

    def add(self, item: int) -> None:
        if item not in self.parent:
            self.parent[item] = item
            self.size[item] = 1

    def find(self, item: int) -> int:
        self.add(item)
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra

    def component_size(self, item: int) -> int:
        return self.size[self.find(item)]

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for item in self.parent:
            out.setdefault(self.find(item), []).append(item)
        return out


def link_edges(
    holdings: Mapping[ValueKey, Sequence[Sighting]], policy: LinkPolicy = DEFAULT_POLICY
) -> Iterable[tuple[int, int, ValueKey, Reason]]:
    """Every qualified link of a whole graph, given every value with all its holders.

    Strong values yield a star (enough for connectivity: every holder is joined to the
    first); addresses yield each qualified pair, which the cap keeps to at most 45 per value.
    """
    by_account: dict[int, set[ValueKey]] = {}
    usable: dict[ValueKey, Sequence[Sighting]] = {}
    for key, sightings in holdings.items():
        if key[0] not in policy.kinds or len(sightings) < 2:
            continue
        if crowded(policy, key, len(sightings)):
            continue
        usable[key] = sightings
        for s in sightings:
            by_account.setdefault(s.account_id, set()).add(key)
    for key in sorted(usable):
        sightings = sorted(usable[key], key=lambda s: s.account_id)
        if key[0] not in policy.network_kinds:
            first = sightings[0].account_id
            for s in sightings[1:]:
                yield first, s.account_id, key, Reason.shared
            continue
        for i, a in enumerate(sightings):
            for b in sightings[i + 1 :]:
                if abs(a.first_seen - b.first_seen) <= policy.ip_window:
                    yield a.account_id, b.account_id, key, Reason.same_window
                elif len(by_account[a.account_id] & by_account[b.account_id]) > 1:
                    yield a.account_id, b.account_id, key, Reason.second_signal


def components(
    holdings: Mapping[ValueKey, Sequence[Sighting]],
    policy: LinkPolicy = DEFAULT_POLICY,
    accounts: Iterable[int] = (),
) -> UnionFind:
    """Connected components of the whole graph (``accounts`` adds the unlinked ones)."""
    uf = UnionFind()
    for account_id in accounts:
        uf.add(account_id)
    for a, b, _key, _reason in link_edges(holdings, policy):
        uf.union(a, b)
    return uf
