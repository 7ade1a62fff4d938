"""Four-eyes for what takes as much as a ban: a suspension or restriction longer than
``four_eyes_over_days``, or a restriction without an end, waits for a second approver; longer
than ``max_suspension_days`` is refused (that is a ban)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import body, counts, decide, held_case, make_account, staff
from vigil.accounts.models import Restriction
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.enforcement import service
from vigil.enforcement.models import Approval, DecisionStatus
from vigil.enforcement.schemas import DecisionIn
from vigil.kit import clock
from vigil.kit.errors import InvalidInput

pytestmark = pytest.mark.usefixtures("fees", "webhook")

WHY = "Repeated off-platform payments over a year; the ladder's step is too light."


def _decide(db: Session, settings: Settings, actions: list[dict[str, Any]]) -> Any:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    return decide(db, actor, case, settings, actions=actions, departure_reason=WHY)


@pytest.mark.parametrize(
    "action",
    [
        {"type": "suspend", "scope": "account", "duration_days": 365},
        {"type": "suspend", "scope": "account", "duration_days": 91},
        {"type": "restrict", "scope": "payouts", "duration_days": 200},
        {"type": "restrict", "scope": "payouts"},  # until someone lifts it
        {"type": "suspend", "scope": "account", "ends_at": "2027-06-01T00:00:00Z"},
    ],
    ids=["suspend-365", "suspend-91", "restrict-200", "restrict-open-ended", "suspend-until"],
)
def test_a_long_or_open_ended_restriction_waits_for_a_second_approver(
    db: Session, settings: Settings, action: dict[str, Any]
) -> None:
    decision = _decide(db, settings, [action])
    assert decision.status == DecisionStatus.pending_approval
    (approval,) = db.scalars(select(Approval))
    assert approval.required_for == [action["type"]]
    assert db.scalars(select(Restriction)).all() == []
    # A specialist's approval applies it, as for a ban.
    _, specialist = staff(db, Role.specialist)
    applied = service.approve(db, specialist, decision.id, settings=settings)
    assert applied.status == DecisionStatus.applied
    assert len(db.scalars(select(Restriction)).all()) == 1


@pytest.mark.parametrize("days", [7, 90])
def test_up_to_four_eyes_over_days_one_reviewer_decides(
    db: Session, settings: Settings, days: int
) -> None:
    decision = _decide(
        db, settings, [{"type": "suspend", "scope": "account", "duration_days": days}]
    )
    assert decision.status == DecisionStatus.applied
    assert db.scalars(select(Approval)).all() == []


def test_the_limits_follow_the_settings(db: Session, settings: Settings) -> None:
    strict = settings.model_copy(update={"four_eyes_over_days": 7, "max_suspension_days": 30})
    seven = {"type": "suspend", "scope": "account", "duration_days": 7}
    assert _decide(db, strict, [seven]).status == DecisionStatus.applied
    eight = {**seven, "duration_days": 8}
    assert _decide(db, strict, [eight]).status == DecisionStatus.pending_approval
    before = counts(db)
    ends = (clock.now() + timedelta(days=31)).isoformat()
    with pytest.raises(InvalidInput) as refused:
        _decide(db, strict, [{"type": "suspend", "scope": "account", "ends_at": ends}])
    assert (refused.value.code, refused.value.field) == ("duration_too_long", "actions.0.ends_at")
    db.rollback()
    assert counts(db) == before


def test_the_preview_names_the_long_suspension_as_four_eyes(
    db: Session, settings: Settings
) -> None:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    draft = service.preview(
        db, actor, case.id,
        DecisionIn(**body(actions=[{"type": "suspend", "scope": "account", "duration_days": 180}],
                          departure_reason=WHY)),
        settings=settings,
    )  # fmt: skip
    assert draft.four_eyes == ["suspend"]
