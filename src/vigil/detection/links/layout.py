"""Positions for the picture of a cluster, computed in Python: the console draws it as SVG
with no JavaScript.

The picture is bipartite: account nodes and the shared values between them, so an edge
always reads "this account holds this value" and the reviewer sees *why* two accounts are
linked. Every drawn holding is an edge, so a value shared by three accounts shows three.

Layout: the cluster's account in the centre; the other accounts evenly on a circle, in the
order a breadth-first walk from the centre finds them (so accounts reached through the same
value sit side by side, and a chain runs round the circle); each value between its holders,
at the mean angle of their positions: half-way out when the centre account holds it, near the
rim otherwise. A value whose holders are spread all round the circle (a device the whole ring
used) has no meaningful angle; those are spaced evenly close to the centre instead.

Deterministic: same cluster, same picture; ties are broken by ids and values, never by dict
order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vigil.accounts.models import AccountStatus
from vigil.detection.links.service import Cluster

MAX_DRAWN_ACCOUNTS = 30
MAX_DRAWN_VALUES = 40
LABEL_CHARS = 16

STATUS_CLASS = {
    AccountStatus.active: "active",
    AccountStatus.restricted: "restricted",
    AccountStatus.suspended: "banned",
    AccountStatus.removed: "banned",
    AccountStatus.closed: "closed",
}


@dataclass(frozen=True)
class AccountNode:
    account_id: int
    x: float
    y: float
    label: str
    title: str
    status: str  # CSS suffix: active, restricted, banned, closed
    root: bool
    href: str | None  # the account's latest case the viewer may open


@dataclass(frozen=True)
class ValueNode:
    x: float
    y: float
    kind: str
    label: str
    title: str


@dataclass(frozen=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    kind: str


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    accounts: list[AccountNode]
    values: list[ValueNode]
    edges: list[Edge]
    hidden_accounts: int  # in the cluster but not drawn
    hidden_values: int


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def arrange(
    root: str,
    adjacency: Mapping[str, Sequence[str]],
    *,
    width: float,
    height: float,
    margin: float = 46.0,
) -> dict[str, tuple[float, float]]:
    """Positions for every node reachable from ``root`` in a bipartite graph whose account
    keys start with ``a`` and value keys with ``v``; ``adjacency`` lists neighbours in a
    stable order."""
    order = [root]
    seen = {root}
    for node in order:  # grows while iterating: a breadth-first queue
        for nxt in adjacency.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                order.append(nxt)
    cx, cy = width / 2, height / 2
    rim = min(width, height) / 2 - margin
    out = {root: (round(cx, 1), round(cy, 1))}
    others = [n for n in order if n.startswith("a") and n != root]
    angle = {a: -math.pi / 2 + 2 * math.pi * i / len(others) for i, a in enumerate(others)}

    def at(theta: float, radius: float) -> tuple[float, float]:
        return round(cx + radius * math.cos(theta), 1), round(cy + radius * math.sin(theta), 1)

    for a, theta in angle.items():
        out[a] = at(theta, rim)
    spread: list[str] = []
    # Values with the same holders would land on one spot: group them, then fan each group
    # out across its spoke, 36 px apart.
    spots: dict[tuple[float, float], list[str]] = {}
    for v in (n for n in order if n.startswith("v")):
        holders = [angle[a] for a in adjacency.get(v, ()) if a in angle]
        base = 0.5 if root in adjacency.get(v, ()) else 0.8
        if not holders:
            spread.append(v)
            continue
        x = sum(math.cos(t) for t in holders) / len(holders)
        y = sum(math.sin(t) for t in holders) / len(holders)
        if math.hypot(x, y) < 0.5:
            spread.append(v)
        else:
            spots.setdefault((round(math.atan2(y, x), 2), base), []).append(v)
    for (theta, base), group in spots.items():
        x0, y0 = at(theta, base * rim)
        for j, v in enumerate(group):
            shift = (j - (len(group) - 1) / 2) * 36
            out[v] = (
                round(x0 - shift * math.sin(theta), 1),
                round(y0 + shift * math.cos(theta), 1),
            )
    # Half an account's step off the first account, so no spread value sits on a spoke.
    offset = -math.pi / 2 + math.pi / max(len(others), 1)
    for i, v in enumerate(spread):
        base = 0.36 if root in adjacency.get(v, ()) else 0.6
        out[v] = at(offset + 2 * math.pi * i / len(spread), base * rim)
    return out


def picture(
    cluster: Cluster,
    *,
    case_links: Mapping[int, int] | None = None,
    width: int = 640,
    height: int = 440,
    max_accounts: int = MAX_DRAWN_ACCOUNTS,
    max_values: int = MAX_DRAWN_VALUES,
) -> Picture:
    """Lay out ``cluster`` (its nearest ``max_accounts`` accounts and the values shared
    between them). ``case_links`` maps account ids to a case id to link each node to.
    Values are always masked here: the console shows the picture to anyone who may read
    the case."""
    case_links = case_links or {}
    drawn = cluster.accounts[:max_accounts]
    drawn_ids = {m.account.id for m in drawn}
    links = [(link, [i for i in link.account_ids if i in drawn_ids]) for link in cluster.links]
    links = [(link, holders) for link, holders in links if len(holders) >= 2]
    hidden_values = max(0, len(links) - max_values)
    links = links[:max_values]

    def account_key(i: int) -> str:
        return f"a{i}"

    adjacency: dict[str, list[str]] = {account_key(m.account.id): [] for m in drawn}
    for n, (_link, holders) in enumerate(links):
        key = f"v{n}"
        adjacency[key] = [account_key(i) for i in holders]
        for i in holders:
            adjacency[account_key(i)].append(key)
    root = account_key(cluster.account_id)
    positions = arrange(root, adjacency, width=width, height=height)

    accounts = []
    for m in drawn:
        key = account_key(m.account.id)
        if key not in positions:  # linked only through accounts that are not drawn
            continue
        x, y = positions[key]
        a = m.account
        status = "banned" if m.banned else STATUS_CLASS.get(a.status, "active")
        title = f"{a.external_id} · {a.side.value} · {a.status.value}"
        if m.banned and a.status not in (AccountStatus.suspended, AccountStatus.removed):
            title += " (suspension in force)"
        case_id = case_links.get(a.id)
        accounts.append(
            AccountNode(
                account_id=a.id,
                x=x,
                y=y,
                label=_short(a.external_id),
                title=title,
                status=status,
                root=a.id == cluster.account_id,
                href=f"/cases/{case_id}" if case_id is not None else None,
            )
        )
    values, edges = [], []
    for n, (link, holders) in enumerate(links):
        vx, vy = positions[f"v{n}"]
        values.append(
            ValueNode(
                x=vx,
                y=vy,
                kind=link.kind.value,
                label=link.kind.value,
                title=f"{link.kind.value} {link.value} · {len(link.account_ids)} accounts",
            )
        )
        for i in holders:
            ax, ay = positions[account_key(i)]
            edges.append(Edge(x1=ax, y1=ay, x2=vx, y2=vy, kind=link.kind.value))
    return Picture(
        width=width,
        height=height,
        accounts=accounts,
        values=values,
        edges=edges,
        hidden_accounts=cluster.size - len(accounts),
        hidden_values=hidden_values,
    )
