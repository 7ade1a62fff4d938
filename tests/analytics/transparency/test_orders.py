"""Authority orders: recorded by legal, each with a legal-tier case; given effect once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.analytics.goals.conftest import at
from tests.analytics.transparency.conftest import Reported
from tests.enforcement.conftest import principal
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Tier
from vigil.cases.models import Case
from vigil.dsa import orders
from vigil.dsa.order_models import AuthorityOrder, OrderStatus
from vigil.kit.errors import Conflict, InvalidInput, PermissionDenied


def test_an_order_opens_a_legal_case_and_is_audited(db: Session, reported: Reported) -> None:
    order = reported.order
    case = db.get(Case, order.case_id)
    assert case is not None and case.tier is Tier.legal and case.priority == 1
    assert case.source_ref == f"order:{order.id}"
    assert order.status is OrderStatus.effected
    actions = set(
        db.scalars(select(AuditRecord.action).where(AuditRecord.target_type == "authority_order"))
    )
    assert actions == {"dsa.order.record", "dsa.order.acknowledge", "dsa.order.effect"}
    assert order.category == "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
    assert order.acknowledged_at == at(20, 7) + timedelta(minutes=30)
    with pytest.raises(Conflict) as caught:
        orders.acknowledge(db, principal(reported.legal), order.id, orders.AcknowledgeIn())
    assert caught.value.code == "order_already_acknowledged"
    with pytest.raises(Conflict) as caught:
        orders.give_effect(db, principal(reported.legal), order.id, orders.EffectIn())
    assert caught.value.code == "order_already_effected"


def test_refusals_change_nothing(db: Session, reported: Reported) -> None:
    legal = principal(reported.legal)
    base = {
        "kind": "provide_information",
        "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "authority": "Police",
        "member_state": "DE",
        "legal_reference": "Az 1",
        "received_at": at(20, 7),
    }
    bad = [
        ({"member_state": "US"}, "invalid_member_state", "member_state"),
        ({"received_at": at(22, 7)}, "time_in_future", "received_at"),
        ({"acknowledged_at": at(19, 7)}, "time_order", "acknowledged_at"),
    ]
    for change, code, field in bad:
        with pytest.raises(InvalidInput) as caught:
            orders.record_order(db, legal, orders.OrderIn.model_validate({**base, **change}))
        assert (caught.value.code, caught.value.field) == (code, field)
    with pytest.raises(PermissionDenied):
        orders.record_order(
            db, principal(reported.closed.agent), orders.OrderIn.model_validate(base)
        )
    with pytest.raises(ValidationError):  # the type of illegal content is required
        orders.OrderIn.model_validate({k: v for k, v in base.items() if k != "category"})
    with pytest.raises(ValidationError):
        orders.OrderIn.model_validate({**base, "category": "STATEMENT_CATEGORY_BAD_VIBES"})
    assert db.scalar(select(func.count()).select_from(AuthorityOrder)) == 1


def test_receipt_is_not_acknowledged_until_the_legal_team_says_so(
    db: Session, reported: Reported
) -> None:
    legal = principal(reported.legal)
    order = orders.record_order(
        db,
        legal,
        orders.OrderIn(
            kind="provide_information",
            category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
            authority="Polizei Berlin",
            member_state="DE",
            legal_reference="Az 2",
            received_at=at(21, 8),
        ),
    )
    assert order.acknowledged_at is None  # never "now" by default
    with pytest.raises(InvalidInput) as caught:
        orders.acknowledge(db, legal, order.id, orders.AcknowledgeIn(acknowledged_at=at(21, 7)))
    assert (caught.value.code, caught.value.field) == ("time_order", "acknowledged_at")
    orders.acknowledge(db, legal, order.id, orders.AcknowledgeIn())
    assert order.acknowledged_at == at(21, 9)
