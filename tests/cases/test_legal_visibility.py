"""Legal-tier cases exist only for those who hold ``cases:legal``, whatever door is tried."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.cases.conftest import SYSTEM, event_kinds, new_case, staff
from vigil.accounts import service as accounts
from vigil.accounts.models import RestrictionKind
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.permissions import Role, Tier
from vigil.cases import service
from vigil.cases.models import CaseType, Queue
from vigil.kit.errors import Conflict, NotFound


def test_a_dedup_key_does_not_hand_out_a_legal_case(db: Session, queues: dict[str, Queue]) -> None:
    legal_case = new_case(db, tier=Tier.legal, dedup_key="court-order-17", title="Court order")
    _, agent = staff(db, Role.agent)
    before = event_kinds(db, legal_case.id)

    with pytest.raises(Conflict) as err:
        service.create_case(
            db,
            agent,
            service.NewCase(type=CaseType.user_report, title="Same", dedup_key="court-order-17"),
        )
    assert err.value.code == "duplicate_case_restricted"
    assert "Court order" not in err.value.message
    assert event_kinds(db, legal_case.id) == before

    _, lawyer = staff(db, Role.legal)
    again = service.create_case(
        db,
        lawyer,
        service.NewCase(type=CaseType.user_report, title="Same", dedup_key="court-order-17"),
    )
    assert again.created is False
    assert again.case.id == legal_case.id


def test_a_restriction_cannot_cite_a_legal_case_the_actor_cannot_see(
    db: Session, queues: dict[str, Queue]
) -> None:
    account, _ = accounts.upsert_account(
        db, SYSTEM, "u-7", AccountUpsert.model_validate({"side": "pro"})
    )
    legal_case = new_case(db, tier=Tier.legal, account_id=account.id)
    _, specialist = staff(db, Role.specialist)
    with pytest.raises(NotFound) as err:
        accounts.place_restriction(
            db, specialist, account, RestrictionKind.payouts, "hold payouts",
            case_id=legal_case.id,
        )  # fmt: skip
    assert err.value.field == "case_id"
    _, lawyer = staff(db, Role.legal)
    restriction = accounts.place_restriction(
        db, lawyer, account, RestrictionKind.payouts, "hold payouts", case_id=legal_case.id
    )
    assert restriction.case_id == legal_case.id
