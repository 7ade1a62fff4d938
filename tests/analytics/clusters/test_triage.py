"""Triaging a cluster: acknowledged or dismissed by those who may, recorded and audited;
refusals change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.analytics.clusters.conftest import make_cluster
from tests.factories import make_staff
from vigil.analytics.clusters import service
from vigil.analytics.clusters.models import ClusterStatus
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import IllegalTransition, InvalidInput, NotFound, PermissionDenied


def _actor(db: Session, role: Role):  # type: ignore[no-untyped-def]
    return auth_service.principal_for(make_staff(db, role=role))


def _audit(db: Session) -> list[tuple[str, str | None]]:
    return [
        (r.action, r.reason)
        for r in db.scalars(
            select(AuditRecord)
            .where(AuditRecord.action.like("analytics.cluster.%"))
            .order_by(AuditRecord.id)
        )
    ]


def test_acknowledge_is_recorded_with_who_and_when(db: Session, frozen: FrozenClock) -> None:
    lead = _actor(db, Role.policy_lead)
    cluster = make_cluster(db)

    service.acknowledge(db, lead, cluster.id, "looking into the Wise payments")

    assert cluster.status == ClusterStatus.acknowledged
    assert cluster.acknowledged_at == clock.now()
    assert cluster.acknowledged_by_id == lead.staff_id
    assert cluster.acknowledged_by_label == lead.label
    assert _audit(db) == [("analytics.cluster.acknowledge", "looking into the Wise payments")]


def test_dismiss_needs_a_reason_and_is_final_for_triage(db: Session, frozen: FrozenClock) -> None:
    specialist = _actor(db, Role.specialist)
    cluster = make_cluster(db)

    with pytest.raises(InvalidInput) as err:
        service.dismiss(db, specialist, cluster.id, "   ")
    assert err.value.code == "reason_required" and err.value.field == "reason"
    assert cluster.status == ClusterStatus.new

    service.dismiss(db, specialist, cluster.id, "our own onboarding template")
    assert cluster.status == ClusterStatus.dismissed
    assert cluster.dismiss_reason == "our own onboarding template"

    with pytest.raises(IllegalTransition):
        service.acknowledge(db, specialist, cluster.id)
    assert cluster.status == ClusterStatus.dismissed
    assert [a for a, _ in _audit(db)] == ["analytics.cluster.dismiss"]


def test_agents_read_clusters_but_may_not_triage_them(db: Session, frozen: FrozenClock) -> None:
    agent = _actor(db, Role.agent)
    cluster = make_cluster(db)

    assert service.get_cluster(db, agent, cluster.id).id == cluster.id
    assert service.new_count(db, agent) == 1
    with pytest.raises(PermissionDenied):
        service.acknowledge(db, agent, cluster.id)
    with pytest.raises(PermissionDenied):
        service.dismiss(db, agent, cluster.id, "no")
    assert cluster.status == ClusterStatus.new and _audit(db) == []


def test_unknown_cluster_is_404(db: Session) -> None:
    lead = _actor(db, Role.policy_lead)
    with pytest.raises(NotFound) as err:
        service.acknowledge(db, lead, 999_999)
    assert err.value.code == "cluster_not_found"


def test_list_is_newest_first_by_keyset(db: Session, frozen: FrozenClock) -> None:
    lead = _actor(db, Role.leadership)
    made = [make_cluster(db).id for _ in range(3)]
    service.dismiss(db, lead, made[0], "noise")

    first, cursor = service.list_clusters(db, lead, limit=2)
    rest, end = service.list_clusters(db, lead, limit=2, cursor=cursor)
    assert [c.id for c in first + rest] == made[::-1] and end is None
    new, _ = service.list_clusters(db, lead, status=ClusterStatus.new)
    assert [c.id for c in new] == made[:0:-1]
