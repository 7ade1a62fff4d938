"""The link rule on plain values (no database): crowded values, addresses, components."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigil.detection.links.graph import (
    DEFAULT_POLICY,
    LinkPolicy,
    Reason,
    Sighting,
    UnionFind,
    components,
    link_edges,
    neighbours,
)

T = datetime(2026, 1, 1, tzinfo=UTC)


def at(account_id: int, minutes: int = 0) -> Sighting:
    return Sighting(account_id, T + timedelta(minutes=minutes))


def test_a_shared_device_links_its_holders() -> None:
    linked = neighbours(1, {("device", "d1"): [at(1), at(2, 60 * 24 * 30), at(3)]})
    assert sorted(linked) == [2, 3]
    assert linked[2][0].reason is Reason.shared


def test_a_value_held_by_more_accounts_than_its_cap_links_nothing() -> None:
    cafe = [at(i, i * 600) for i in range(1, 12)]  # 11 accounts > the address cap of 10
    assert neighbours(1, {("ip", "192.0.2.7"): cafe}) == {}
    farm = [at(i) for i in range(1, 52)]  # 51 > the device cap of 50
    assert neighbours(1, {("device", "unknown"): farm}) == {}
    assert len(neighbours(1, {("device", "d"): farm[:50]})) == 49


def test_an_address_links_only_within_the_window_or_with_a_second_signal() -> None:
    holders = {("ip", "203.0.113.5"): [at(1), at(2, 59), at(3, 61), at(4, 600)]}
    linked = neighbours(1, holders)
    assert sorted(linked) == [2]
    assert linked[2] == [linked[2][0]] and linked[2][0].reason is Reason.same_window
    # Account 4 also shares a second address (far apart in time too): a second signal.
    holders[("ip", "198.51.100.9")] = [at(1, 5000), at(4, 9000)]
    linked = neighbours(1, holders)
    assert sorted(linked) == [2, 4]
    assert {v.reason for v in linked[4]} == {Reason.second_signal}
    assert len(linked[4]) == 2  # both addresses explain the link


def test_a_crowded_value_is_no_second_signal() -> None:
    crowd = [at(i, i * 600) for i in range(1, 60)]
    holders = {("ip", "203.0.113.5"): [at(1), at(2, 600)], ("device", "placeholder"): crowd}
    assert neighbours(1, holders) == {}


def test_a_wider_window_is_a_policy_choice() -> None:
    policy = LinkPolicy(ip_window=timedelta(hours=12))
    assert sorted(neighbours(1, {("ip", "x"): [at(1), at(2, 600)]}, policy)) == [2]


def test_components_follow_the_same_rule_as_neighbours() -> None:
    holdings = {
        ("device", "d1"): [at(1), at(2)],
        ("payment", "p1"): [at(2), at(3)],
        ("ip", "a"): [at(3), at(4, 30)],  # within the window
        ("ip", "b"): [at(5), at(6, 500)],  # outside, no second signal
        ("ip", "cafe"): [at(i, i) for i in range(7, 20)],  # crowded
    }
    uf = components(holdings, DEFAULT_POLICY, accounts=range(1, 20))
    groups = sorted(sorted(g) for g in uf.groups().values() if len(g) > 1)
    assert groups == [[1, 2, 3, 4]]
    assert uf.component_size(5) == 1 and uf.component_size(8) == 1
    reasons = {(a, b): r for a, b, _k, r in link_edges(holdings)}
    assert reasons[(3, 4)] is Reason.same_window


def test_union_find_merges_by_size() -> None:
    uf = UnionFind()
    for a, b in [(1, 2), (3, 4), (2, 4), (5, 5)]:
        uf.union(a, b)
    assert uf.find(1) == uf.find(3)
    assert uf.component_size(4) == 4 and uf.component_size(5) == 1
