"""Grouping under hard conditions: waves bridged by edited copies, one huge wave of
near-copies, a steady ordinary mix, legal-tier texts."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import numpy as np
from fastapi.testclient import TestClient
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.analytics.clusters.conftest import add_event, make_cluster, ordinary_texts, scam_text
from tests.analytics.incidents.conftest import legal_case
from tests.factories import login_as, make_staff
from vigil.analytics.clusters import grouping, service
from vigil.analytics.clusters.models import TextCluster
from vigil.analytics.incidents import service as incidents
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.cases import routing
from vigil.config import Settings
from vigil.kit import clock
from vigil.kit.clock import FrozenClock

A = (
    "Hi {name}, the platform fee is too high, pay me directly by Wise and I give you 10% "
    "discount, write me at deal{i}@gmail.com"
)
B = (
    "Hi {name}, your parcel is held at customs, pay the release fee by gift card today, send "
    "the code to deal{i}@gmail.com"
)
# Edited copies half-way between the two: each is a neighbour of both waves.
BRIDGES = [
    "Hi {name}, the platform fee is too high, pay the release fee by gift card today, send "
    "the code to deal{i}@gmail.com",
    "Hi {name}, the platform fee is too high, pay me directly by gift card today, send the "
    "code to deal{i}@gmail.com",
    "Hi {name}, your parcel is held at customs, pay me directly by Wise and I give you 10% "
    "discount, write me at deal{i}@gmail.com",
    "Hi {name}, the platform fee is held at customs, pay me by Wise and give you 10% discount, "
    "send the code to deal{i}@gmail.com",
]
NAMES = ["Ana", "Bruno", "Carla", "Diego"]


def _wave(db: Session, template: str, n: int, prefix: str) -> set[int]:
    return {
        add_event(
            db,
            template.format(i=i, name=NAMES[i % 4]),
            account=f"{prefix}-{i % 5}",
            at=clock.now() - timedelta(hours=1 + i * 0.3),
        ).id
        for i in range(n)
    }


def _steady_mix(db: Session, per_day: int, days: int = 8) -> None:
    """The same ordinary mix every day, each text from its own account."""
    rng = random.Random(3)
    for day in range(days):
        for k, body in enumerate(ordinary_texts(per_day, seed=day)):
            add_event(
                db,
                body,
                type="report_filed" if k % 3 else "message_sent",
                account=f"u{day}-{k}",
                at=clock.now() - timedelta(hours=day * 24 + rng.random() * 23.9 + 0.05),
            )


def _members(db: Session) -> list[set[int]]:
    return [
        set(c.member_event_ids) for c in db.scalars(select(TextCluster).order_by(TextCluster.id))
    ]


def test_two_waves_bridged_by_edited_copies_stay_two_clusters(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    wave_a = _wave(db, A, 10, "a")
    wave_b = _wave(db, B, 10, "b")
    for i, bridge in enumerate(BRIDGES * 2):
        add_event(
            db, bridge.format(i=90 + i, name="Eva"), account=f"x{i}", at=clock.now() - timedelta(2)
        )
    _steady_mix(db, 40)

    result = service.detect(db, settings)

    assert len(result.created) == 2
    found = _members(db)
    # Each cluster is one wave (a bridge may join the side it is nearer to), never both.
    assert any(wave_a <= m and not (m & wave_b) for m in found)
    assert any(wave_b <= m and not (m & wave_a) for m in found)


def test_a_long_chain_of_edited_copies_still_yields_its_waves() -> None:
    """A component too loose to be one topic is split, not dropped (six waves joined by
    many edited copies used to give no cluster at all)."""
    templates = [
        A,
        B,
        "Dear {name}, you won a prize in our lottery, pay the small tax by bitcoin now to "
        "receive it, contact deal{i}@gmail.com",
        "Congratulations {name}! Your account was selected for a free upgrade, verify your card "
        "number on our page",
        "Urgent {name}: suspicious login detected on your account, confirm your password within "
        "24 hours here",
    ]
    docs: list[str] = []
    for t in templates:
        docs += [t.format(i=i, name=NAMES[i % 4]) for i in range(10)]
    for a, b in itertools.pairwise(templates):
        wa, wb = a.split(), b.split()
        docs += [" ".join(wa[:cut] + wb[cut:]) for cut in range(1, min(len(wa), len(wb)), 2)]
    matrix = service._vectorizer().fit_transform([service._key(d) for d in docs]).tocsr()
    parts = [
        p
        for comp in grouping.components(matrix, 0.6)
        for p in grouping.split(matrix, comp, 0.6, 0.5)
    ]
    waves = [set(range(w * 10, w * 10 + 10)) for w in range(len(templates))]
    # Every wave is (nearly) whole inside one part, and no part holds two waves.
    for wave in waves:
        assert any(len(wave & set(p)) >= 9 for p in parts)
    for p in parts:
        assert sum(1 for wave in waves if wave & set(p)) <= 1


def test_block_by_block_components_equal_the_whole_graph() -> None:
    rng = np.random.default_rng(5)
    dense = rng.random((300, 40)) * (rng.random((300, 40)) < 0.15)
    dense /= np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
    matrix = csr_matrix(dense)
    graph = (matrix @ matrix.T).toarray() >= 0.5 - 1e-9
    count, labels = connected_components(csr_matrix(graph), directed=False)
    expected = sorted(
        (sorted(np.flatnonzero(labels == k).tolist()) for k in range(count)),
        key=lambda g: (-len(g), g[0]),
    )
    # 300 cells a block: one row at a time, every row's edges folded in separately.
    assert grouping.components(matrix, 0.5, block_cells=300) == expected
    assert grouping.components(matrix, 0.5) == expected


def test_one_huge_wave_of_near_copies_is_one_cluster(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    """More distinct texts than average linkage takes at once: the rest join their part."""
    settings = settings.model_copy(update={"cluster_min_accounts": 3})
    rng = random.Random(2)
    words = [
        "apple", "brick", "cloud", "delta", "ember", "frost", "grove", "haven", "ivory",
        "jolly", "karma", "lemon", "maple", "noble", "ocean", "pearl", "quartz", "river",
    ]  # fmt: skip
    planted = set()
    total = grouping.LINK_ROWS + 300
    for i in range(total):
        a, b, c = rng.sample(words, 3)
        body = (
            f"Hi {a} {b}, your order is on hold, confirm your card at shop {c} and pay the "
            f"release fee today {a}{c}{b}"
        )
        planted.add(add_event(db, body, account=f"w{i % 40}", at=clock.now() - timedelta(0, i)).id)
    _steady_mix(db, 30)

    service.detect(db, settings)

    (cluster,) = db.scalars(select(TextCluster))
    assert cluster.size == total
    assert set(cluster.member_event_ids) <= planted


def test_the_steady_ordinary_mix_makes_no_cluster(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    _steady_mix(db, 60)
    assert service.detect(db, settings).created == []


def test_a_wave_in_the_ordinary_mix_is_found_alone(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    _steady_mix(db, 60)
    planted = {
        add_event(db, scam_text(i), account=f"s{i % 4}", at=clock.now() - timedelta(hours=i)).id
        for i in range(8)
    }
    assert len(service.detect(db, settings).created) == 1
    assert _members(db) == [planted]


def test_legal_tier_texts_never_feed_a_cluster(
    db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    routing.ensure_default_queues(db)
    case = legal_case(db)
    for i in range(8):
        add_event(
            db,
            scam_text(i) + " (court order ref 2026/77)",
            account=f"s{i % 4}",
            at=clock.now() - timedelta(hours=1 + i),
            case_id=case.id,
        )
    assert service.detect(db, settings).created == []


def test_texts_moved_onto_a_legal_case_later_do_not_leak(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    """A stored cluster whose member event is now on a legal-tier case: its example and id
    are hidden from those without ``cases:legal``, and from the incident summary."""
    routing.ensure_default_queues(db)
    case = legal_case(db)
    secret = add_event(db, "court order 2026/77: pay me by Wise", account="s", at=clock.now())
    public = add_event(db, "pay me by Wise, write me at [email]", account="t", at=clock.now())
    secret.case_id = case.id
    example = {"type": "message_sent", "occurred_at": clock.now().isoformat()}
    cluster = make_cluster(
        db,
        member_event_ids=[secret.id, public.id],
        examples=[
            {**example, "event_id": secret.id, "text": "court order 2026/77: pay me by Wise"},
            {**example, "event_id": public.id, "text": "pay me by Wise, write me at [email]"},
        ],
    )
    legal = auth_service.principal_for(make_staff(db, Role.legal))
    lead = auth_service.principal_for(make_staff(db, Role.policy_lead))
    agent = make_staff(db, Role.agent)
    login_as(client, db, agent)
    db.commit()

    one = client.get(f"/v1/clusters/{cluster.id}").json()
    for body in (one, client.get("/v1/clusters").json()["items"][0]):
        assert body["member_event_ids"] == [public.id]
        assert "court order" not in str(body)
    r = client.post(f"/v1/clusters/{cluster.id}/escalate", json={})
    assert r.status_code == 201
    assert "court order" not in r.json()["summary"]
    assert "pay me by Wise" in r.json()["summary"]

    # The stored row is unchanged, and legal staff still see everything.
    db.expire_all()
    assert db.get(TextCluster, cluster.id).member_event_ids == [secret.id, public.id]
    assert len(service.get_cluster(db, legal, cluster.id).examples) == 2
    assert "court order" not in incidents.get_incident(db, lead, r.json()["id"]).summary
