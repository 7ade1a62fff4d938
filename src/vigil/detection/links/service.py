"""Linked accounts: the features a rule reads on every event, and clusters for reviewers.

Built on the accounts domain: identifiers are the ``identifiers`` table (canonical values,
unique per account), read through ``ix_identifiers_kind_value (kind, value, account_id)`` and
the ``(account_id, kind, value)`` unique index; statuses and restrictions come from the
accounts service. ``vigil.accounts.service.linked_accounts`` lists every direct neighbour
for an investigator, crowded values included; this module applies the link rule of
:mod:`vigil.detection.links.graph` (crowded values link nothing, addresses need a second
signal) and follows links transitively.

Nothing is materialized: a cluster id kept per account would have to be rewritten whenever
an identifier arrives (in the accounts and events write paths), and a value that becomes
crowded would split clusters, which union-find cannot undo. Computing on demand costs a
bounded number of index reads instead (see ``bench/link_features.py``):

- :func:`link_features`, per event: 2 queries (a third, which neighbours are banned, when
  the account has links), each value read at most ``cap + 1`` index entries deep.
- :func:`cluster_for`, per review: 2 queries per breadth-first level, at most
  ``max_accounts`` accounts.

Reads only; nothing here writes, so nothing needs a flush.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    exists,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from vigil.accounts import service as accounts
from vigil.accounts.models import (
    Account,
    AccountStatus,
    Identifier,
    IdentifierKind,
    Restriction,
    RestrictionKind,
)
from vigil.detection.links.graph import (
    DEFAULT_POLICY,
    LinkPolicy,
    Reason,
    Sighting,
    ValueKey,
    components,
    crowded,
    neighbours,
)
from vigil.kit import clock
from vigil.kit.errors import NotFound

__all__ = [
    "Cluster",
    "ClusterAccount",
    "CrowdedValue",
    "Link",
    "LinkFeatures",
    "banned_among",
    "cluster_for",
    "graph_stats",
    "link_features",
]

BANNED_STATUSES = frozenset({AccountStatus.removed, AccountStatus.suspended})
# SQLite refuses compound statements of more than 500 parts.
_VALUES_PER_QUERY = 200


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkFeatures:
    """What rules see: ``linked_accounts`` other accounts directly linked (one hop, by the
    link rule), ``linked_banned_accounts`` of them banned (removed, suspended, or under a
    suspension in force), and ``linked_by`` the kinds of the links, sorted."""

    linked_accounts: int = 0
    linked_banned_accounts: int = 0
    linked_by: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClusterAccount:
    account: Account
    depth: int  # links from the cluster's account (0 for itself)
    banned: bool


@dataclass(frozen=True)
class Link:
    """One shared value that explains the cluster: which of its accounts hold it, and why
    it counts. ``value`` is masked for display; ``raw_value`` is for who may see it."""

    kind: IdentifierKind
    value: str
    raw_value: str
    account_ids: tuple[int, ...]
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class CrowdedValue:
    """A value of the cluster's account held by too many accounts to link any of them."""

    kind: IdentifierKind
    value: str
    raw_value: str
    at_least: int  # accounts holding it (counting stops past the cap)


@dataclass(frozen=True)
class Cluster:
    account_id: int
    accounts: list[ClusterAccount]  # breadth-first: the account itself first
    links: list[Link]  # most accounts first
    crowded: list[CrowdedValue]
    truncated: bool  # more accounts are linked than max_accounts
    max_accounts: int

    @property
    def size(self) -> int:
        return len(self.accounts)

    @property
    def banned(self) -> int:
        return sum(1 for a in self.accounts if a.banned)


# --- reading the index -------------------------------------------------------------------
#
# The statements are built once and cached (by the number of values they look up): building
# a UNION of subqueries with SQLAlchemy costs far more than running it, and this runs on every
# event. Only bind parameters change between calls.

_IDS = Identifier.__table__.c


def _values_stmt() -> Select[Any]:
    return (
        select(_IDS.account_id, _IDS.kind, _IDS.value, _IDS.first_seen_at)
        .where(
            _IDS.account_id.in_(bindparam("ids", expanding=True)),
            _IDS.kind.in_(bindparam("kinds", expanding=True)),
        )
        .order_by(_IDS.account_id, _IDS.kind, _IDS.value)
    )


_VALUES = _values_stmt()


@functools.lru_cache(maxsize=_VALUES_PER_QUERY)
def _holders_stmt(n: int) -> Executable:
    """``n`` limited index range scans, one per value, as one UNION ALL. Each part is wrapped
    in a subquery because SQLite refuses LIMIT directly on the parts of a compound select."""
    parts: list[Select[Any]] = []
    for i in range(n):
        limited = (
            select(_IDS.account_id, _IDS.first_seen_at)
            .where(_IDS.kind == bindparam(f"k{i}"), _IDS.value == bindparam(f"v{i}"))
            .limit(bindparam(f"n{i}", type_=Integer))
            .subquery()
        )
        parts.append(select(literal_column(str(i), Integer).label("idx"), *limited.c))
    return parts[0] if n == 1 else union_all(*parts)


def _values_of(
    session: Session, account_ids: Sequence[int], policy: LinkPolicy
) -> dict[int, dict[ValueKey, Sighting]]:
    """The link-kind values each account holds, from the (account_id, kind, value) index."""
    out: dict[int, dict[ValueKey, Sighting]] = {i: {} for i in account_ids}
    if not account_ids:
        return out
    rows = session.execute(_VALUES, {"ids": list(account_ids), "kinds": list(policy.kinds)})
    for account_id, kind, value, first_seen in rows:
        out[account_id][(str(kind), value)] = Sighting(account_id, clock.as_utc(first_seen))
    return out


def _holders(
    session: Session, keys: Iterable[ValueKey], policy: LinkPolicy
) -> dict[ValueKey, list[Sighting]]:
    """Every holder of each value, but at most ``cap + 1`` of them: enough to tell a crowded
    value, and a NAT address with 50,000 accounts costs as little as one with two. One
    statement per 200 values."""
    ordered = sorted(set(keys))
    out: dict[ValueKey, list[Sighting]] = {k: [] for k in ordered}
    for start in range(0, len(ordered), _VALUES_PER_QUERY):
        chunk = ordered[start : start + _VALUES_PER_QUERY]
        params: dict[str, Any] = {}
        for i, (kind, value) in enumerate(chunk):
            params.update({f"k{i}": kind, f"v{i}": value, f"n{i}": policy.cap(kind) + 1})
        for idx, account_id, first_seen in session.execute(_holders_stmt(len(chunk)), params):
            key = chunk[int(idx)]
            out[key].append(Sighting(int(account_id), clock.as_utc(first_seen)))
    return out


_ACCOUNTS = Account.__table__.c
_RESTRICTIONS = Restriction.__table__.c
# "In force" as ``vigil.accounts.repository`` defines it (not lifted, started, not ended),
# restated here so the whole check is one cached statement: it runs on every event that
# has links. ``ix_restrictions_in_force`` (account_id, ends_at WHERE lifted_at IS NULL)
# answers the EXISTS.
_BANNED = select(_ACCOUNTS.id).where(
    _ACCOUNTS.id.in_(bindparam("ids", expanding=True)),
    or_(
        _ACCOUNTS.status.in_([s.value for s in BANNED_STATUSES]),
        exists().where(
            _RESTRICTIONS.account_id == _ACCOUNTS.id,
            _RESTRICTIONS.kind == RestrictionKind.suspension.value,
            _RESTRICTIONS.lifted_at.is_(None),
            _RESTRICTIONS.starts_at <= bindparam("at"),
            or_(_RESTRICTIONS.ends_at.is_(None), _RESTRICTIONS.ends_at > bindparam("at")),
        ),
    ),
)


def banned_among(session: Session, account_ids: Iterable[int]) -> set[int]:
    """Which of these accounts are banned: status ``removed`` or ``suspended``, or under a
    suspension in force (a status can lag its restrictions until the status sweep runs, and
    a closed account keeps ``closed`` under a suspension)."""
    ids = sorted(set(account_ids))
    if not ids:
        return set()
    return set(session.scalars(_BANNED, {"ids": ids, "at": clock.now()}))


# --- per event -------------------------------------------------------------------------------


def link_features(
    session: Session, account_id: int, *, policy: LinkPolicy = DEFAULT_POLICY
) -> LinkFeatures:
    """The link features of one account, for the rules. Direct links only: a second hop
    multiplies the cost and a banned account three links away says little about this one
    (reviewers see the whole cluster with :func:`cluster_for`)."""
    mine = _values_of(session, [account_id], policy)[account_id]
    if not mine:
        return LinkFeatures()
    linked = neighbours(account_id, _holders(session, mine, policy), policy)
    if not linked:
        return LinkFeatures()
    kinds = sorted({via.key[0] for vias in linked.values() for via in vias})
    return LinkFeatures(
        linked_accounts=len(linked),
        linked_banned_accounts=len(banned_among(session, linked)),
        linked_by=kinds,
    )


# --- clusters -------------------------------------------------------------------------------


def cluster_for(
    session: Session,
    account_id: int,
    *,
    max_accounts: int = 200,
    policy: LinkPolicy = DEFAULT_POLICY,
) -> Cluster:
    """The connected component of ``account_id`` under the link rule, breadth first and
    capped at ``max_accounts`` accounts (``truncated`` says more were linked), with the
    shared values that explain it. Raises ``NotFound`` for an unknown account.

    Nothing is audited here: who shows a cluster to a person audits that view (the API and
    the console go through ``accounts.get_account``)."""
    if max_accounts < 1:
        raise ValueError("max_accounts must be at least 1")
    root = session.get(Account, account_id)
    if root is None:
        raise NotFound(f"no account with id {account_id}", code="account_not_found")

    depth: dict[int, int] = {account_id: 0}
    holders: dict[ValueKey, list[Sighting]] = {}
    # value -> (cluster accounts it links, reasons it counted)
    explained: dict[ValueKey, tuple[set[int], set[Reason]]] = {}
    root_values: dict[ValueKey, Sighting] = {}
    truncated = False
    frontier = [account_id]
    level = 0
    while frontier:
        values = _values_of(session, frontier, policy)
        if level == 0:
            root_values = values[account_id]
        missing = {k for held in values.values() for k in held if k not in holders}
        holders.update(_holders(session, missing, policy))
        following: list[int] = []
        for u in frontier:
            linked = neighbours(u, {k: holders[k] for k in values[u]}, policy)
            for w in sorted(linked):
                if w not in depth:
                    if len(depth) >= max_accounts:
                        truncated = True
                        continue
                    depth[w] = level + 1
                    following.append(w)
                for via in linked[w]:
                    members, reasons = explained.setdefault(via.key, (set(), set()))
                    members.update((u, w))
                    reasons.add(via.reason)
        frontier = following
        level += 1

    rows = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(list(depth))))}
    banned = banned_among(session, depth)
    order = sorted(depth, key=lambda i: (depth[i], i))
    links = [
        Link(
            kind=IdentifierKind(kind),
            value=accounts.mask_identifier(IdentifierKind(kind), value),
            raw_value=value,
            account_ids=tuple(sorted(members, key=lambda i: (depth[i], i))),
            reasons=tuple(sorted(reasons)),
        )
        for (kind, value), (members, reasons) in explained.items()
    ]
    links.sort(key=lambda link: (-len(link.account_ids), link.kind.value, link.raw_value))
    crowded_values = [
        CrowdedValue(
            kind=IdentifierKind(kind),
            value=accounts.mask_identifier(IdentifierKind(kind), value),
            raw_value=value,
            at_least=len(holders[(kind, value)]),
        )
        for kind, value in sorted(root_values)
        if crowded(policy, (kind, value), len(holders[(kind, value)]))
    ]
    return Cluster(
        account_id=account_id,
        accounts=[ClusterAccount(rows[i], depth[i], i in banned) for i in order],
        links=links,
        crowded=crowded_values,
        truncated=truncated,
        max_accounts=max_accounts,
    )


# --- the whole graph (offline: `vigil links stats`) --------------------------------------

SIZE_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("1", 1, 1),
    ("2", 2, 2),
    ("3", 3, 3),
    ("4-5", 4, 5),
    ("6-10", 6, 10),
    (">10", 11, 10**12),
)


def size_bucket(size: int) -> str:
    return next(label for label, lo, hi in SIZE_BUCKETS if lo <= size <= hi)


@dataclass(frozen=True)
class GraphStats:
    accounts: int
    linked_accounts: int  # in a cluster of two or more
    by_size: dict[str, tuple[int, int, int]]  # bucket -> (clusters, accounts, banned accounts)
    shared_values: dict[str, int]  # kind -> values on two or more accounts, not crowded
    crowded_values: dict[str, int]  # kind -> values held by too many accounts to link
    largest: list[tuple[int, int, int]]  # (size, banned, smallest account id), biggest first


def graph_stats(
    session: Session, *, policy: LinkPolicy = DEFAULT_POLICY, top: int = 10
) -> GraphStats:
    """Clusters of every account, computed in memory from one pass over the identifiers.
    For operators sizing the rule on their data, not for requests: it reads the whole table
    (about 100 MB of memory per million identifiers)."""
    holdings: dict[ValueKey, list[Sighting]] = {}
    rows = session.execute(
        select(Identifier.account_id, Identifier.kind, Identifier.value, Identifier.first_seen_at)
        .where(Identifier.kind.in_(policy.kinds))
        .execution_options(yield_per=10_000)
    )
    for account_id, kind, value, first_seen in rows:
        holdings.setdefault((str(kind), value), []).append(
            Sighting(int(account_id), clock.as_utc(first_seen))
        )
    all_ids = list(session.scalars(select(Account.id)))
    uf = components(holdings, policy, all_ids)
    groups = uf.groups()
    banned = banned_among(session, [i for g in groups.values() if len(g) > 1 for i in g])
    by_size = {label: (0, 0, 0) for label, _lo, _hi in SIZE_BUCKETS}
    largest = []
    for members in groups.values():
        label = size_bucket(len(members))
        bad = sum(1 for i in members if i in banned)
        clusters, count, banned_count = by_size[label]
        by_size[label] = (clusters + 1, count + len(members), banned_count + bad)
        if len(members) > 1:
            largest.append((len(members), bad, min(members)))
    largest.sort(key=lambda t: (-t[0], t[2]))
    shared: dict[str, int] = {}
    crowded_count: dict[str, int] = {}
    for key, sightings in holdings.items():
        if crowded(policy, key, len(sightings)):
            crowded_count[key[0]] = crowded_count.get(key[0], 0) + 1
        elif len(sightings) > 1:
            shared[key[0]] = shared.get(key[0], 0) + 1
    return GraphStats(
        accounts=len(all_ids),
        linked_accounts=sum(len(g) for g in groups.values() if len(g) > 1),
        by_size=by_size,
        shared_values=dict(sorted(shared.items())),
        crowded_values=dict(sorted(crowded_count.items())),
        largest=largest[:top],
    )
