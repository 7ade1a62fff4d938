"""The cluster picture's layout: every account once, inside the box, the same every time."""

from __future__ import annotations

import math

import pytest
from sqlalchemy.orm import Session

from tests.detection.links.conftest import make_account
from vigil.detection.links import layout, service
from vigil.detection.links.layout import arrange

pytestmark = pytest.mark.usefixtures("frozen")


def test_arrange_puts_the_root_in_the_centre_and_values_between_holders() -> None:
    adjacency = {
        "a1": ["v0", "v1"],
        "v0": ["a1", "a2", "a3"],
        "v1": ["a1", "a4"],
        "v2": ["a4", "a5"],
        "a2": ["v0"],
        "a3": ["v0"],
        "a4": ["v1", "v2"],
        "a5": ["v2"],
    }
    pos = arrange("a1", adjacency, width=600, height=400)
    assert pos == arrange("a1", adjacency, width=600, height=400)
    assert pos["a1"] == (300.0, 200.0)
    assert set(pos) == set(adjacency)
    rim = {round(math.dist(pos[a], pos["a1"]), 1) for a in ("a2", "a3", "a4", "a5")}
    assert len(rim) == 1  # the other accounts on one circle
    for x, y in pos.values():
        assert 0 <= x <= 600 and 0 <= y <= 400
    # v1 (root and a4) sits on a4's spoke, half-way out.
    mid = ((pos["a1"][0] + pos["a4"][0]) / 2, (pos["a1"][1] + pos["a4"][1]) / 2)
    assert math.dist(pos["v1"], mid) < 1
    # Values never share a spot.
    spots = [pos[v] for v in ("v0", "v1", "v2")]
    assert len(set(spots)) == 3


def test_values_with_the_same_holders_are_fanned_out() -> None:
    adjacency = {
        "a1": ["v0", "v1"],
        "a2": ["v0", "v1"],
        "v0": ["a1", "a2"],
        "v1": ["a1", "a2"],
    }
    pos = arrange("a1", adjacency, width=400, height=400)
    assert math.dist(pos["v0"], pos["v1"]) >= 30


def test_the_picture_of_a_large_cluster_is_capped(db: Session) -> None:
    hub = make_account(db, "hub", ("payment", "card:shared"))
    for i in range(40):
        make_account(db, f"member-{i:02d}", ("payment", "card:shared"), ("device", f"d-{i // 2}"))
    cluster = service.cluster_for(db, hub.id)
    assert cluster.size == 41
    picture = layout.picture(cluster, case_links={cluster.accounts[1].account.id: 77})
    assert len(picture.accounts) == layout.MAX_DRAWN_ACCOUNTS
    assert picture.hidden_accounts == 41 - layout.MAX_DRAWN_ACCOUNTS
    assert picture.accounts[0].root and picture.accounts[0].label == "hub"
    assert picture.accounts[1].href == "/cases/77"
    assert all(a.href is None for a in picture.accounts[2:])
    # The shared card, and each device whose two holders are both drawn.
    kinds = sorted(v.kind for v in picture.values)
    assert kinds.count("payment") == 1 and kinds.count("device") >= 14
    assert len({(a.x, a.y) for a in picture.accounts}) == len(picture.accounts)
    assert picture == layout.picture(cluster, case_links={cluster.accounts[1].account.id: 77})
