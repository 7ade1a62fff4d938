"""Calibration sets end to end: gold cases, assignment, blind answers once, results with the
grey-area guidance of each miss."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tests.cases.conftest import new_case
from tests.quality.conftest import FEES_GREY, SYSTEM, case_of, counts, decided, staff
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case, Queue
from vigil.config import Settings
from vigil.kit.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vigil.policies import service as policies
from vigil.quality import service
from vigil.quality.models import CalibrationItem, CalibrationSet

NEW_GREY = [{"title": "Payment links", "guidance": "A link to an outside payment page is."}]


def test_a_calibration_set_end_to_end(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    lead_user, lead = staff(db, Role.policy_lead)
    author, _ = staff(db)
    first_user, first = staff(db)
    second_user, second = staff(db, Role.specialist)
    _, outsider = staff(db)
    _, qa = staff(db, Role.qa)
    lawyer, _ = staff(db, Role.legal)
    fee_case = case_of(db, decided(db, settings, author))
    clean_case = case_of(db, decided(db, settings, author, no_violation=True))
    open_case = new_case(db, title="Still open")
    legal_case = case_of(db, decided(db, settings, lawyer, tier=Tier.legal))

    gold = service.create_set(db, lead, "November: fees", "Hard fee-circumvention calls")
    with pytest.raises(Conflict) as taken:
        service.create_set(db, lead, "November: fees", "")
    assert taken.value.code == "name_taken"

    before = counts(db)
    with pytest.raises(Conflict) as still_open:
        service.add_item(
            db, lead, gold.id, case_id=open_case.id, expected_policy_code=None,
            expected_action="no_violation", rationale="Nothing there",
        )  # fmt: skip
    assert still_open.value.code == "case_not_closed"
    with pytest.raises(NotFound):
        service.add_item(
            db, lead, gold.id, case_id=legal_case.id, expected_policy_code=None,
            expected_action="no_violation", rationale="Nothing there",
        )  # fmt: skip
    with pytest.raises(InvalidInput) as bad_action:
        service.add_item(
            db, lead, gold.id, case_id=fee_case.id, expected_policy_code="fee_circumvention",
            expected_action="shame", rationale="Bank details",
        )  # fmt: skip
    assert (bad_action.value.field, bad_action.value.code) == ("expected_action", "invalid_action")
    with pytest.raises(InvalidInput) as no_why:
        service.add_item(
            db, lead, gold.id, case_id=fee_case.id, expected_policy_code="fee_circumvention",
            expected_action="warn", rationale=" ",
        )  # fmt: skip
    assert no_why.value.field == "rationale"
    with pytest.raises(Conflict) as empty:
        service.assign_set(db, lead, gold.id, [first_user.id])
    assert empty.value.code == "empty_set"
    assert counts(db) == before

    fee_item = service.add_item(
        db, lead, gold.id, case_id=fee_case.id, expected_policy_code="fee_circumvention",
        expected_action="warn", rationale="Bank details sent twice: a first warning.",
    )  # fmt: skip
    clean_item = service.add_item(
        db, lead, gold.id, case_id=clean_case.id, expected_policy_code=None,
        expected_action="no_violation", rationale="A marketplace invoice is allowed.",
    )  # fmt: skip
    with pytest.raises(Conflict) as dup:
        service.add_item(
            db, lead, gold.id, case_id=fee_case.id, expected_policy_code=None,
            expected_action="no_violation", rationale="Again",
        )  # fmt: skip
    assert dup.value.code == "item_exists"

    before = counts(db)
    qa_user_id = qa.staff_id
    assert qa_user_id is not None
    with pytest.raises(InvalidInput) as not_reviewer:
        service.assign_set(db, lead, gold.id, [first_user.id, qa_user_id])
    assert (not_reviewer.value.field, not_reviewer.value.code) == ("staff_ids", "not_a_reviewer")
    with pytest.raises(PermissionDenied):
        service.assign_set(db, first, gold.id, [first_user.id])
    assert counts(db) == before
    assigned = service.assign_set(db, lead, gold.id, [first_user.id, second_user.id])
    assert [a.staff_id for a in assigned] == sorted([first_user.id, second_user.id])
    assert [a.set_id for a in service.my_assignments(db, first)] == [gold.id]

    # A reviewer sees the items, not the expected answers, until they finish.
    view = service.get_set(db, first, gold.id, mine=True)
    assert [i.id for i in view.items] == [fee_item.id, clean_item.id]
    assert view.show_expected is False

    before = counts(db)
    with pytest.raises(PermissionDenied) as not_assigned:
        service.answer_item(db, outsider, gold.id, fee_item.id, policy_code=None, action="warn")
    assert not_assigned.value.code == "not_assigned"
    with pytest.raises(InvalidInput):
        service.answer_item(db, first, gold.id, fee_item.id, policy_code=None, action="warn")
    assert counts(db) == before

    # The first reviewer misses the fee case.
    service.answer_item(db, first, gold.id, fee_item.id, policy_code=None, action="no_violation")
    with pytest.raises(Conflict) as unfinished:
        service.set_results(db, first, gold.id, mine=True)
    assert unfinished.value.code == "set_not_finished"
    before = counts(db)
    with pytest.raises(Conflict) as twice:
        service.answer_item(
            db, first, gold.id, fee_item.id, policy_code="fee_circumvention", action="warn"
        )
    assert twice.value.code == "already_answered"
    assert counts(db) == before
    service.answer_item(db, first, gold.id, clean_item.id, policy_code=None, action="no_violation")
    assert service.get_set(db, first, gold.id, mine=True).show_expected is True

    # Items are fixed once answering has started.
    with pytest.raises(Conflict) as answered:
        service.remove_item(db, lead, gold.id, fee_item.id)
    assert answered.value.code == "item_answered"
    extra = case_of(db, decided(db, settings, author))
    with pytest.raises(Conflict) as in_use:
        service.add_item(
            db, lead, gold.id, case_id=extra.id, expected_policy_code=None,
            expected_action="no_violation", rationale="Late",
        )  # fmt: skip
    assert in_use.value.code == "set_in_use"

    # The second reviewer is a specialist: qa:read lets them read sets, but the set stays
    # blind to them while they answer it.
    assert service.get_set(db, second, gold.id).show_expected is False
    with pytest.raises(Conflict) as blind:
        service.set_results(db, second, gold.id)
    assert blind.value.code == "set_not_finished"

    # The second reviewer calls the clean case a violation.
    service.answer_item(
        db, second, gold.id, fee_item.id, policy_code="fee_circumvention", action="warn"
    )
    service.answer_item(
        db, second, gold.id, clean_item.id, policy_code="fee_circumvention", action="warn"
    )

    # The grey areas shown are the policy's current ones.
    policies.update_policy(
        db, SYSTEM, "fee_circumvention", {"grey_areas": FEES_GREY + NEW_GREY},
        change_reason="Payment links",
    )  # fmt: skip

    own = service.set_results(db, first, gold.id, mine=True)
    (me,) = own.reviewers
    assert (me.staff_id, me.answered, me.right_policy, me.right_action, me.right_both) == (
        first_user.id, 2, 1, 1, 1,
    )  # fmt: skip
    assert (me.policy_accuracy, me.action_accuracy, me.accuracy) == (0.5, 0.5, 0.5)
    (miss,) = me.missed
    assert (miss.item_id, miss.expected_policy_code, miss.expected_action) == (
        fee_item.id, "fee_circumvention", "warn",
    )  # fmt: skip
    assert (miss.policy_code, miss.action) == (None, "no_violation")
    assert miss.guidance_policy_code == "fee_circumvention"
    assert miss.grey_areas == FEES_GREY + NEW_GREY
    assert miss.rationale.startswith("Bank details")

    assert service.get_set(db, second, gold.id).show_expected is True
    everyone = service.set_results(db, lead, gold.id)
    by_staff = {r.staff_id: r for r in everyone.reviewers}
    assert by_staff[second_user.id].accuracy == 0.5
    (second_miss,) = by_staff[second_user.id].missed
    # Expected "no violation": the guidance is that of the policy wrongly applied.
    assert second_miss.guidance_policy_code == "fee_circumvention"
    items = {r.item.id: r for r in everyone.items}
    assert (items[fee_item.id].answers, items[fee_item.id].agreed) == (2, 1)
    assert [d.staff_id for d in items[fee_item.id].disagreements] == [first_user.id]
    assert items[fee_item.id].grey_areas == FEES_GREY + NEW_GREY
    assert [d.staff_id for d in items[clean_item.id].disagreements] == [second_user.id]
    assert items[clean_item.id].grey_areas == []
    del lead_user


def test_items_are_removed_while_unanswered_and_outsiders_see_nothing(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    author, _ = staff(db)
    _, outsider = staff(db)
    gold = service.create_set(db, lead, "Spare", "")
    item = service.add_item(
        db, lead, gold.id, case_id=case_of(db, decided(db, settings, author)).id,
        expected_policy_code="fee_circumvention", expected_action="warn", rationale="Warn.",
    )  # fmt: skip
    service.remove_item(db, lead, gold.id, item.id)
    assert service.get_set(db, lead, gold.id).items == []
    with pytest.raises(NotFound):
        service.remove_item(db, lead, gold.id, item.id)
    with pytest.raises(NotFound):
        service.get_set(db, outsider, gold.id)
    with pytest.raises(PermissionDenied) as not_assigned:
        service.set_results(db, outsider, gold.id)
    assert not_assigned.value.code == "not_assigned"


def _two_item_set(
    db: Session, settings: Settings, lead: Principal, author: StaffUser, name: str
) -> tuple[int, int, int]:
    gold = service.create_set(db, lead, name, "")
    items = [
        service.add_item(
            db,
            lead,
            gold.id,
            case_id=case_of(db, decided(db, settings, author)).id,
            expected_policy_code="fee_circumvention",
            expected_action="warn",
            rationale="Warn.",
        )
        for _ in range(2)
    ]
    return gold.id, items[0].id, items[1].id


def test_items_cannot_be_removed_once_anyone_has_answered_the_set(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    """Removing the one item a reviewer had left would leave them finished but never
    complete (no result, nothing to answer): removal stops with the first answer."""
    _, lead = staff(db, Role.policy_lead)
    author, _ = staff(db)
    reviewer_user, reviewer = staff(db)
    set_id, first, last = _two_item_set(db, settings, lead, author, "Strand")
    service.assign_set(db, lead, set_id, [reviewer_user.id])
    service.answer_item(db, reviewer, set_id, first, policy_code="fee_circumvention", action="warn")

    before = counts(db)
    with pytest.raises(Conflict) as in_use:
        service.remove_item(db, lead, set_id, last)
    assert in_use.value.code == "set_in_use"
    assert counts(db) == before
    # The reviewer finishes the set as it was and sees their result.
    service.answer_item(db, reviewer, set_id, last, policy_code="fee_circumvention", action="warn")
    (result,) = service.set_results(db, reviewer, set_id, mine=True).reviewers
    assert (result.items, result.answered, result.right_both) == (2, 2, 2)


def test_gold_answers_are_not_readable_before_the_set_is_assigned(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    author, _ = staff(db)
    spec_user, specialist = staff(db, Role.specialist)  # qa:read and calibration:answer
    _, qa = staff(db, Role.qa)  # qa:read, never answers sets
    set_id, _, _ = _two_item_set(db, settings, lead, author, "Gold")

    with pytest.raises(NotFound):
        service.get_set(db, specialist, set_id)
    with pytest.raises(PermissionDenied) as results:
        service.set_results(db, specialist, set_id)
    assert results.value.code == "not_assigned"
    assert [s.id for s in service.list_sets(db, specialist)] == [set_id]  # names only
    # The QA team reads the gold answers; the lead does.
    assert service.get_set(db, qa, set_id).show_expected is True
    assert service.get_set(db, lead, set_id).show_expected is True
    # Once assigned, the specialist sees it blind.
    service.assign_set(db, lead, set_id, [spec_user.id])
    assert service.get_set(db, specialist, set_id).show_expected is False


def test_a_legal_tier_case_cannot_be_a_gold_case(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, admin = staff(db, Role.admin)  # sees legal cases, so gets 422 rather than 404
    lawyer, _ = staff(db, Role.legal)
    gold = service.create_set(db, admin, "Legal", "")
    legal_case = case_of(db, decided(db, settings, lawyer, tier=Tier.legal))
    before = counts(db)
    with pytest.raises(InvalidInput) as legal:
        service.add_item(
            db, admin, gold.id, case_id=legal_case.id, expected_policy_code=None,
            expected_action="no_violation", rationale="Nothing there",
        )  # fmt: skip
    assert (legal.value.field, legal.value.code) == ("case_id", "legal_case")
    assert counts(db) == before


def test_an_item_whose_case_moves_to_legal_drops_out_for_reviewers(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    author, _ = staff(db)
    agent_user, agent = staff(db)
    lawyer_user, lawyer = staff(db, Role.legal)
    set_id, kept, moved = _two_item_set(db, settings, lead, author, "Moving")
    service.assign_set(db, lead, set_id, [agent_user.id, lawyer_user.id])
    moved_item = db.get(CalibrationItem, moved)
    assert moved_item is not None
    case = db.get(Case, moved_item.case_id)
    assert case is not None
    case.tier = Tier.legal  # reopened and escalated to legal after it was added
    db.flush()

    view = service.get_set(db, agent, set_id, mine=True)
    assert [i.id for i in view.items] == [kept]
    assert [i.id for i in service.get_set(db, lead, set_id).items] == [kept]
    (summary,) = service.assignment_summaries(db, agent)
    assert (summary.items, summary.answered) == (1, 0)
    before = counts(db)
    with pytest.raises(NotFound):
        service.answer_item(db, agent, set_id, moved, policy_code=None, action="no_violation")
    assert counts(db) == before
    # Completion counts only the items the reviewer may see.
    service.answer_item(db, agent, set_id, kept, policy_code="fee_circumvention", action="warn")
    (result,) = service.set_results(db, agent, set_id, mine=True).reviewers
    assert (result.items, result.answered, result.completed_at is not None) == (1, 1, True)
    assert [i.item.id for i in service.set_results(db, agent, set_id, mine=True).items] == [kept]
    # Legal still sees and answers both.
    assert [i.id for i in service.get_set(db, lawyer, set_id, mine=True).items] == [kept, moved]


def test_my_assignments_counts_in_a_fixed_number_of_queries(
    db: Session, settings: Settings, world: dict[str, Queue]
) -> None:
    _, lead = staff(db, Role.policy_lead)
    author, _ = staff(db)
    reviewer_user, reviewer = staff(db)
    first, item, _ = _two_item_set(db, settings, lead, author, "One")
    service.assign_set(db, lead, first, [reviewer_user.id])
    service.answer_item(db, reviewer, first, item, policy_code="fee_circumvention", action="warn")

    def queries() -> int:
        seen: list[str] = []

        def count(*args: object) -> None:
            seen.append(str(args[2]))

        engine = db.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            service.assignment_summaries(db, reviewer)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    db.flush()
    one = queries()
    for name in ("Two", "Three", "Four"):
        more, _, _ = _two_item_set(db, settings, lead, author, name)
        service.assign_set(db, lead, more, [reviewer_user.id])
    db.flush()
    assert queries() == one
    rows = service.assignment_summaries(db, reviewer)
    assert [(r.set_name, r.items, r.answered) for r in rows][-1] == ("One", 2, 1)
    assert len(rows) == 4


@pytest.mark.only_backend("postgresql")  # SQLite runs one writer at a time (BEGIN IMMEDIATE)
def test_answering_holds_the_set_against_edits(
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    world: dict[str, Queue],
) -> None:
    """An answer in flight keeps the set locked (FOR SHARE), so the lead's add or remove
    (FOR UPDATE) waits for it instead of missing it."""
    _, lead = staff(db, Role.policy_lead)
    author, _ = staff(db)
    reviewer_user, reviewer = staff(db)
    set_id, item, _ = _two_item_set(db, settings, lead, author, "Locked")
    service.assign_set(db, lead, set_id, [reviewer_user.id])
    db.commit()

    answering = session_factory()
    try:
        service.answer_item(
            answering, reviewer, set_id, item, policy_code="fee_circumvention", action="warn"
        )
        with pytest.raises(OperationalError):
            db.execute(
                select(CalibrationSet.id)
                .where(CalibrationSet.id == set_id)
                .with_for_update(nowait=True)
            )
        db.rollback()
    finally:
        answering.rollback()
        answering.close()
