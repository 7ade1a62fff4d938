"""Clusters and link features on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.detection.links.conftest import SYSTEM, T0, make_account
from vigil.accounts import service as accounts
from vigil.accounts.models import AccountStatus, IdentifierKind, RestrictionKind
from vigil.detection.links import service
from vigil.detection.links.graph import Reason
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import NotFound

pytestmark = pytest.mark.usefixtures("frozen")

STRONG = [
    ("device", "android-7f3a9c21e0"),
    ("payment", "card:9d8e7f6a5b"),
    ("phone", "+5511987654321"),
    ("email", "maria@mail.example"),
    ("document", "ES:X1234567L"),
]


@pytest.mark.parametrize(("kind", "value"), STRONG, ids=[k for k, _ in STRONG])
def test_each_strong_kind_links_accounts_into_one_cluster(
    db: Session, kind: str, value: str
) -> None:
    a = make_account(db, "a", (kind, value))
    b = make_account(db, "b", (kind, value), ("ip", "100.64.1.1"))
    c = make_account(db, "c", (kind, value))
    make_account(db, "stranger", ("device", "other-device"))
    cluster = service.cluster_for(db, a.id)
    assert [m.account.external_id for m in cluster.accounts] == ["a", "b", "c"]
    assert [m.depth for m in cluster.accounts] == [0, 1, 1]
    (link,) = cluster.links
    assert link.kind is IdentifierKind(kind)
    assert link.raw_value == value
    assert link.value == accounts.mask_identifier(IdentifierKind(kind), value)
    assert link.value != value
    assert link.account_ids == (a.id, b.id, c.id)
    assert link.reasons == (Reason.shared,)
    assert not cluster.truncated
    features = service.link_features(db, b.id)
    assert (features.linked_accounts, features.linked_by) == (2, [kind])


def test_a_document_reported_in_another_spelling_is_the_same_document(db: Session) -> None:
    a = make_account(db, "a", ("document", "es:x-1234567.l"))
    b = make_account(db, "b", ("document", "ES X1234567L".replace(" ", ":", 1)))
    assert [m.account.id for m in service.cluster_for(db, a.id).accounts] == [a.id, b.id]
    assert service.cluster_for(db, a.id).links[0].value == "ES:*******7L"


def test_a_cafe_address_shared_by_thirty_accounts_makes_no_cluster(db: Session) -> None:
    cafe = "192.0.2.44"
    people = [
        make_account(db, f"guest-{i}", ("ip", cafe, T0 + timedelta(minutes=i))) for i in range(30)
    ]
    for person in (people[0], people[17]):
        cluster = service.cluster_for(db, person.id)
        assert cluster.size == 1 and cluster.links == []
        (crowded,) = cluster.crowded
        assert (crowded.kind, crowded.value, crowded.at_least) == (
            IdentifierKind.ip,
            "192.0.2.*",
            11,  # counting stops past the cap of 10
        )
        assert service.link_features(db, person.id) == service.LinkFeatures()
    # Two of them also share a laptop: that links them, the café still does not.
    make_account(db, "guest-0", ("device", "web-shared-laptop"))
    make_account(db, "guest-5", ("device", "web-shared-laptop"))
    cluster = service.cluster_for(db, people[0].id)
    assert [m.account.external_id for m in cluster.accounts] == ["guest-0", "guest-5"]
    assert [link.kind for link in cluster.links] == [IdentifierKind.device]


def test_an_address_links_sign_ups_in_one_hour_or_with_a_second_signal(db: Session) -> None:
    vpn, home = "203.0.113.9", "2001:db8:1::7"
    a = make_account(db, "a", ("ip", vpn, T0))
    b = make_account(db, "b", ("ip", vpn, T0 + timedelta(minutes=40)))
    c = make_account(db, "c", ("ip", vpn, T0 + timedelta(hours=5)))
    cluster = service.cluster_for(db, a.id)
    assert [m.account.id for m in cluster.accounts] == [a.id, b.id]
    assert cluster.links[0].reasons == (Reason.same_window,)
    assert service.cluster_for(db, c.id).size == 1
    # c and a share a second address, days apart: two addresses in common is a signal.
    make_account(db, "a", ("ip", home, T0 + timedelta(days=2)))
    make_account(db, "c", ("ip", home, T0 + timedelta(days=5)))
    cluster = service.cluster_for(db, c.id)
    assert [m.account.external_id for m in cluster.accounts] == ["c", "a", "b"]
    reasons = {link.raw_value: link.reasons for link in cluster.links}
    assert reasons[home] == (Reason.second_signal,)
    assert set(reasons[vpn]) == {Reason.same_window, Reason.second_signal}
    assert service.link_features(db, c.id).linked_by == ["ip"]


def test_clusters_are_transitive_and_capped(db: Session) -> None:
    # A chain: a0 -device- a1 -payment- a2 -device- a3 ... 12 accounts.
    chain = []
    for i in range(12):
        items = []
        if i > 0:
            items.append(("device" if i % 2 else "payment", f"link-{i - 1}-{i}"))
        if i < 11:
            items.append(("device" if (i + 1) % 2 else "payment", f"link-{i}-{i + 1}"))
        chain.append(make_account(db, f"chain-{i:02d}", *items))
    full = service.cluster_for(db, chain[0].id)
    assert full.size == 12 and not full.truncated
    assert [m.depth for m in full.accounts] == list(range(12))
    assert len(full.links) == 11
    assert all(len(link.account_ids) == 2 for link in full.links)

    middle = service.cluster_for(db, chain[6].id, max_accounts=5)
    assert middle.truncated and middle.size == 5
    assert sorted(m.account.external_id for m in middle.accounts) == [
        f"chain-{i:02d}" for i in range(4, 9)
    ]
    # Links explain only the accounts in the cluster.
    shown = {i for link in middle.links for i in link.account_ids}
    assert shown == {m.account.id for m in middle.accounts}
    # Direct links only for the features.
    assert service.link_features(db, chain[6].id).linked_accounts == 2


def test_link_features_count_banned_neighbours(db: Session, frozen: FrozenClock) -> None:
    me = make_account(db, "me", ("device", "d-shared"), ("payment", "card:1"))
    removed = make_account(db, "removed", ("device", "d-shared"))
    suspended = make_account(db, "suspended", ("payment", "card:1"))
    closed_suspended = make_account(db, "closed", ("device", "d-shared"))
    ended = make_account(db, "ended", ("device", "d-shared"))
    restricted = make_account(db, "restricted", ("device", "d-shared"))
    make_account(db, "unlinked-removed", ("device", "elsewhere"))

    accounts.mark_removed(db, SYSTEM, removed, "chargeback ring")
    accounts.mark_removed(db, SYSTEM, accounts.account_by_external_id(db, "unlinked-removed"), "x")
    accounts.place_restriction(db, SYSTEM, suspended, RestrictionKind.suspension, "fraud")
    accounts.upsert_account(
        db, SYSTEM, "closed", accounts.AccountUpsert.model_validate({"status": "closed"})
    )
    accounts.place_restriction(db, SYSTEM, closed_suspended, RestrictionKind.suspension, "fraud")
    accounts.place_restriction(
        db,
        SYSTEM,
        ended,
        RestrictionKind.suspension,
        "short",
        ends_at=frozen.advance(timedelta(0)) + timedelta(hours=1),
    )
    accounts.place_restriction(db, SYSTEM, restricted, RestrictionKind.messaging, "spam")
    assert closed_suspended.status is AccountStatus.closed
    assert suspended.status is AccountStatus.suspended

    features = service.link_features(db, me.id)
    assert features.linked_accounts == 5
    # removed, suspended, closed with a suspension in force, the short suspension.
    assert features.linked_banned_accounts == 4
    assert features.linked_by == ["device", "payment"]

    frozen.advance(timedelta(hours=2))  # the short suspension ends; its status lags
    db.expire_all()
    assert service.link_features(db, me.id).linked_banned_accounts == 4
    accounts.refresh_status(db, SYSTEM, accounts.account_by_external_id(db, "ended"))
    assert service.link_features(db, me.id).linked_banned_accounts == 3

    cluster = service.cluster_for(db, me.id)
    assert cluster.banned == 3
    assert {m.account.external_id for m in cluster.accounts if m.banned} == {
        "removed",
        "suspended",
        "closed",
    }


def test_an_account_without_identifiers_has_no_links(db: Session) -> None:
    lone = make_account(db, "lone")
    assert service.link_features(db, lone.id) == service.LinkFeatures(0, 0, [])
    cluster = service.cluster_for(db, lone.id)
    assert cluster.size == 1 and cluster.links == [] and cluster.crowded == []
    with pytest.raises(NotFound):
        service.cluster_for(db, lone.id + 1000)


def test_clusters_match_the_whole_graph_components(db: Session) -> None:
    """The breadth-first cluster of every account is its component in the in-memory graph
    that `vigil links stats` and the evaluation build: one rule, two implementations."""
    made = []
    for i in range(40):
        items = [("device", f"dev-{i // 3}")] if i % 3 != 2 else [("device", f"own-{i}")]
        if i % 5 == 0:
            items.append(("payment", f"card-{i // 10}"))
        items.append(("ip", f"198.51.100.{i % 4}", T0 + timedelta(minutes=13 * i)))
        made.append(make_account(db, f"acc-{i:02d}", *items))
    stats = service.graph_stats(db)
    assert stats.accounts == 40
    sizes = {m.id: service.cluster_for(db, m.id).size for m in made}
    expected = sum(1 for s in sizes.values() if s > 1)
    assert stats.linked_accounts == expected
    by_size = {k: v for k, v in stats.by_size.items() if v[0]}
    assert sum(accounts_ for _c, accounts_, _b in by_size.values()) == 40
    for m in made:
        members = {x.account.id for x in service.cluster_for(db, m.id).accounts}
        assert all(sizes[x] == len(members) for x in members)


def test_a_document_without_its_issuing_country_is_refused(db: Session) -> None:
    from vigil.accounts.schemas import IdentifierIn
    from vigil.kit.errors import InvalidInput

    account = make_account(db, "a")
    with pytest.raises(InvalidInput) as refused:
        accounts.add_identifiers(
            db, SYSTEM, account, [IdentifierIn(kind=IdentifierKind.document, value="X1234567L")]
        )
    assert (refused.value.code, refused.value.field) == (
        "invalid_identifier",
        "identifiers.0.value",
    )
