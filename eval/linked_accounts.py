"""Evaluate linked accounts on real e-commerce data: is "linked to a fraudster" a signal?

Data: ``../shared/data/fraud/Fraud_Data.csv`` (30,189 sign-ups, each with one purchase, a
``device_id``, an ``ip_address`` given as a number, times and a fraud label; evaluation
only, never copied into the project). Skipped with a message when absent.

The graph is built in memory with the product's own link rule
(:mod:`vigil.detection.links.graph`, the code ``cluster_for`` and ``link_features`` run),
over the two identifiers the dataset has: the device (a strong link) and the IP address (a
network link, counted only within an hour or with a second signal; crowded values link
nothing). Each account is first seen at its sign-up time. Three graphs are compared:

- ``device``: device links only;
- ``device+ip (raw)``: every shared IP links too, no care for shared networks;
- ``device+ip (rule)``: the product's rule for addresses.

Tables printed:

1. Fraud rate by cluster size (1, 2, 3, 4-5, 6-10, >10), per graph.
2. Fraud rate by "shares a device with N others" (the README's own figure, as a check).
3. Precision and recall of "in a cluster with a known fraudster", with a time-respecting
   split: accounts that signed up in the first 70 % of the period are the training part,
   whose labels are known; the remaining 30 % are predicted. Two ways to predict:
   - ``online``: each test account is scored when it signs up, against the graph of the
     accounts seen so far (exactly what ``link_features`` sees on a sign-up event; strictly
     no look-ahead);
   - ``sweep``: the test accounts are scored at the end of the period against the final
     graph (a nightly batch review); links through later test accounts count, labels of
     test accounts never do.
   Baselines that use no labels: "in any cluster of two or more" and "shares a device".
4. The same rule with a 5-fold split of the accounts (labels known outside the fold): the
   easier question of finding the rest of a ring once some of it is caught.
5. With ``--simulated DATABASE_URL`` (a database filled by ``vigil simulate``): the address
   rule against the simulator's ground truth, which has the shared networks this dataset
   lacks (cafés, carrier NAT, households, VPN exits).

    .venv/bin/python eval/linked_accounts.py [--data PATH] [--train-share 0.7] [--folds 5]
        [--simulated sqlite:///var/sim.db]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil.detection.links.graph import (
    DEFAULT_POLICY,
    LinkPolicy,
    Sighting,
    UnionFind,
    ValueKey,
    components,
    neighbours,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fraud" / "Fraud_Data.csv"
BUCKETS = (
    ("1", 1, 1),
    ("2", 2, 2),
    ("3", 3, 3),
    ("4-5", 4, 5),
    ("6-10", 6, 10),
    (">10", 11, 10**9),
)

NO_CAP = {"device": 10**9, "ip": 10**9}
GRAPHS: dict[str, LinkPolicy] = {
    "device": LinkPolicy(kinds=("device",)),
    "device+ip (raw)": LinkPolicy(
        kinds=("device", "ip"), max_accounts=NO_CAP, ip_window=timedelta(days=10**5)
    ),
    "device+ip (rule)": DEFAULT_POLICY,
}


@dataclass(frozen=True)
class Row:
    user: int
    signup: datetime
    device: str
    ip: str
    fraud: bool


def load(path: Path) -> list[Row]:
    def when(text: str) -> datetime:
        return datetime.strptime(text, "%m/%d/%Y %H:%M").replace(tzinfo=UTC)

    # The file starts with a byte-order mark.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [
            Row(
                user=int(r["user_id"]),
                signup=when(r["signup_time"]),
                device=r["device_id"],
                ip=r["ip_address"],  # as the dataset gives it: a number, kept as text
                fraud=r["class"] == "1",
            )
            for r in csv.DictReader(handle)
        ]


def holdings_of(rows: Iterable[Row]) -> dict[ValueKey, list[Sighting]]:
    out: dict[ValueKey, list[Sighting]] = {}
    for r in rows:
        out.setdefault(("device", r.device), []).append(Sighting(r.user, r.signup))
        out.setdefault(("ip", r.ip), []).append(Sighting(r.user, r.signup))
    return out


def bucket(size: int) -> str:
    return next(label for label, lo, hi in BUCKETS if lo <= size <= hi)


def rate(fraud: int, total: int) -> str:
    return f"{fraud / total:6.1%}" if total else "     -"


# --- tables ---------------------------------------------------------------------------------


def by_cluster_size(rows: list[Row], graphs: dict[str, UnionFind]) -> None:
    print("\n1. Fraud rate by cluster size (accounts, fraud rate)")
    header = f"{'size':<7}" + "".join(f"{name:>26}" for name in graphs)
    print(header)
    counts = {name: {label: [0, 0] for label, _lo, _hi in BUCKETS} for name in graphs}
    for r in rows:
        for name, uf in graphs.items():
            cell = counts[name][bucket(uf.component_size(r.user))]
            cell[0] += 1
            cell[1] += r.fraud
    for label, _lo, _hi in BUCKETS:
        line = f"{label:<7}"
        for name in graphs:
            total, fraud = counts[name][label]
            line += f"{total:>18} {rate(fraud, total):>7}"
        print(line)


def by_device_sharing(rows: list[Row]) -> None:
    print("\n2. Fraud rate by how many other accounts share the device")
    holders: dict[str, int] = {}
    for r in rows:
        holders[r.device] = holders.get(r.device, 0) + 1
    table: dict[int, list[int]] = {}
    for r in rows:
        others = min(holders[r.device] - 1, 7)
        cell = table.setdefault(others, [0, 0])
        cell[0] += 1
        cell[1] += r.fraud
    print(f"{'others':<8}{'accounts':>9}{'fraud':>7}{'rate':>8}")
    for others in sorted(table):
        total, fraud = table[others]
        label = f"{others}+" if others == 7 else str(others)
        print(f"{label:<8}{total:>9}{fraud:>7}{rate(fraud, total):>8}")


@dataclass
class Score:
    flagged: int = 0
    hits: int = 0

    def line(self, name: str, positives: int) -> str:
        precision = self.hits / self.flagged if self.flagged else 0.0
        recall = self.hits / positives if positives else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return f"{name:<52}{self.flagged:>8}{self.hits:>6}{precision:>8.1%}{recall:>8.1%}{f1:>7.3f}"


def online_flags(
    rows: list[Row], known: set[int], test: set[int], policy: LinkPolicy
) -> dict[int, tuple[bool, bool]]:
    """Per test account, at its sign-up: (in a cluster with a known fraudster, in any
    cluster). The graph holds only the accounts seen so far; each new account is linked by
    :func:`neighbours`, as ``link_features`` would on its sign-up event."""
    uf = UnionFind()
    seen: dict[ValueKey, list[Sighting]] = {}
    bad_roots: set[int] = set()
    out: dict[int, tuple[bool, bool]] = {}
    for r in sorted(rows, key=lambda r: (r.signup, r.user)):
        me = Sighting(r.user, r.signup)
        keys = [k for k in (("device", r.device), ("ip", r.ip)) if k[0] in policy.kinds]
        holders = {k: [*seen.get(k, []), me] for k in keys}
        uf.add(r.user)
        roots = {uf.find(r.user)} | {
            uf.find(other) for other in neighbours(r.user, holders, policy)
        }
        tainted = bool(roots & bad_roots)
        for other in neighbours(r.user, holders, policy):
            uf.union(r.user, other)
        root = uf.find(r.user)
        if tainted or r.user in known:
            bad_roots.add(root)
        if r.user in test:
            out[r.user] = (tainted, uf.component_size(r.user) > 1)
        for k in keys:
            seen.setdefault(k, []).append(me)
    return out


def known_fraudster_rule(rows: list[Row], train_share: float) -> None:
    ordered = sorted(rows, key=lambda r: (r.signup, r.user))
    cut = ordered[int(len(ordered) * train_share)].signup
    train = [r for r in ordered if r.signup < cut]
    test = [r for r in ordered if r.signup >= cut]
    known = {r.user for r in train if r.fraud}
    test_ids = {r.user for r in test}
    fraud = {r.user for r in test if r.fraud}
    print(
        f'\n3. "In a cluster with a known fraudster": time split at {cut:%Y-%m-%d %H:%M} '
        f"(train {len(train)} accounts, {len(known)} known fraudsters; "
        f"test {len(test)}, {len(fraud)} fraud, base rate {len(fraud) / len(test):.1%})"
    )
    print(f"{'rule':<52}{'flagged':>8}{'hits':>6}{'prec':>8}{'recall':>8}{'F1':>7}")
    holders = holdings_of(rows)
    device_holders: dict[str, int] = {}
    for r in rows:
        device_holders[r.device] = device_holders.get(r.device, 0) + 1
    for name, policy in GRAPHS.items():
        online = online_flags(rows, known, test_ids, policy)
        for label, pick in (
            ("known fraudster", lambda f: f[0]),
            ("any cluster >= 2 (no labels)", lambda f: f[1]),
        ):
            score = Score()
            for user, flags in online.items():
                if pick(flags):
                    score.flagged += 1
                    score.hits += user in fraud
            print(score.line(f"online  {name}: {label}", len(fraud)))
        uf = components(holders, policy, (r.user for r in rows))
        bad_roots = {uf.find(u) for u in known}
        score = Score()
        for user in test_ids:
            if uf.find(user) in bad_roots:
                score.flagged += 1
                score.hits += user in fraud
        print(score.line(f"sweep   {name}: known fraudster", len(fraud)))
    score = Score()
    shares: Callable[[Row], bool] = lambda r: device_holders[r.device] > 1  # noqa: E731
    for r in test:
        if shares(r):
            score.flagged += 1
            score.hits += r.fraud
    print(score.line("sweep   shares a device (no labels)", len(fraud)))


def kfold_rule(rows: list[Row], folds: int, seed: int) -> None:
    """The same rule with labels known outside a random fold of accounts: how well a link
    finds the rest of a ring once some of its members are caught (the time split asks
    whether fraudsters come back later, a harder question)."""
    rng = random.Random(seed)
    users = sorted(r.user for r in rows)
    rng.shuffle(users)
    fold_of = {u: i % folds for i, u in enumerate(users)}
    fraud = {r.user for r in rows if r.fraud}
    print(
        f'\n4. "In a cluster with a known fraudster": {folds}-fold split of the accounts '
        f"(labels known outside the fold; final graph; every account predicted once)"
    )
    print(f"{'rule':<52}{'flagged':>8}{'hits':>6}{'prec':>8}{'recall':>8}{'F1':>7}")
    holders = holdings_of(rows)
    for name, policy in GRAPHS.items():
        uf = components(holders, policy, (r.user for r in rows))
        score = Score()
        for fold in range(folds):
            bad_roots = {uf.find(u) for u in fraud if fold_of[u] != fold}
            for u in users:
                if fold_of[u] == fold and uf.find(u) in bad_roots:
                    score.flagged += 1
                    score.hits += u in fraud
        print(score.line(f"{name}: known fraudster", len(fraud)))
    uf = components(holders, GRAPHS["device"], (r.user for r in rows))
    score = Score()
    for u in users:
        if uf.component_size(u) > 1:
            score.flagged += 1
            score.hits += u in fraud
    print(score.line("device: any cluster >= 2 (no labels)", len(fraud)))


def simulated(database_url: str) -> None:
    """The address rule against the simulator's ground truth, where shared networks exist
    (cafés, carrier NAT, households, VPN exits): who ends up linked under each policy."""
    from sqlalchemy import select

    from vigil.accounts.models import Identifier
    from vigil.config import Settings
    from vigil.db import make_engine, make_sessionmaker
    from vigil.kit import clock
    from vigil.simulate.models import SimulationLabel

    engine = make_engine(Settings(database_url=database_url))
    session = make_sessionmaker(engine)()
    try:
        held: dict[ValueKey, list[Sighting]] = {}
        for account_id, kind, value, first_seen in session.execute(
            select(
                Identifier.account_id, Identifier.kind, Identifier.value, Identifier.first_seen_at
            )
        ):
            held.setdefault((str(kind), value), []).append(
                Sighting(account_id, clock.as_utc(first_seen))
            )
        labels = {
            account_id: (label, group, details)
            for account_id, label, group, details in session.execute(
                select(
                    SimulationLabel.account_id,
                    SimulationLabel.label,
                    SimulationLabel.group_key,
                    SimulationLabel.details,
                )
            )
        }
    finally:
        session.close()
        engine.dispose()
    if not labels:
        print(f"\n5. skipped: {database_url} holds no simulation labels")
        return
    groups: dict[str, list[int]] = {}
    for account_id, (label, group, _details) in labels.items():
        if group and label in ("fraud_ring", "fake_reviewer"):
            groups.setdefault(group, []).append(account_id)
    strong = tuple(k for k in DEFAULT_POLICY.kinds if k != "ip")
    policies = {
        "strong kinds only": LinkPolicy(kinds=strong),
        "ip: second signal only": LinkPolicy(ip_window=timedelta(0)),
        "ip: 1 h or second signal (rule)": DEFAULT_POLICY,
        "ip: 6 h or second signal": LinkPolicy(ip_window=timedelta(hours=6)),
        "ip: any shared address (raw)": LinkPolicy(
            max_accounts=dict.fromkeys(DEFAULT_POLICY.kinds, 10**9),
            ip_window=timedelta(days=10**5),
        ),
    }
    print(
        f"\n5. The address rule on a simulated marketplace ({len(labels)} accounts, "
        f"{len(groups)} rings and review groups): accounts in a cluster of two or more"
    )
    print(
        f"{'policy':<34}{'bad actors':>11}{'benign':>8}{'of them noise':>14}"
        f"{'groups whole':>14}{'largest':>9}"
    )
    for name, policy in policies.items():
        uf = components(held, policy, labels)
        linked = [a for a in labels if uf.component_size(a) > 1]
        bad = sum(1 for a in linked if labels[a][0] != "benign")
        benign = [a for a in linked if labels[a][0] == "benign"]
        noise = sum(1 for a in benign if labels[a][2].get("noise"))
        whole = sum(1 for members in groups.values() if len({uf.find(a) for a in members}) == 1)
        largest = max(uf.component_size(a) for a in labels)
        print(
            f"{name:<34}{bad:>11}{len(benign):>8}{noise:>14}"
            f"{f'{whole}/{len(groups)}':>14}{largest:>9}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--train-share", type=float, default=0.7)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--simulated",
        metavar="DATABASE_URL",
        help="also score the address rule on a database filled by `vigil simulate`",
    )
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} is not here (evaluation data lives beside the project)")
        if args.simulated:
            simulated(args.simulated)
        return 0
    rows = load(args.data)
    frauds = sum(r.fraud for r in rows)
    print(f"{args.data.name}: {len(rows)} accounts, {frauds} fraud ({frauds / len(rows):.1%})")
    holders = holdings_of(rows)
    graphs = {
        name: components(holders, policy, (r.user for r in rows)) for name, policy in GRAPHS.items()
    }
    by_cluster_size(rows, graphs)
    by_device_sharing(rows)
    known_fraudster_rule(rows, args.train_share)
    kfold_rule(rows, args.folds, args.seed)
    if args.simulated:
        simulated(args.simulated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
