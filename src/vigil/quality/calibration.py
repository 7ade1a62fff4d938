"""Calibration sets: gold cases with the decision a policy lead expects, answered blind by
the reviewers the set is assigned to.

Rules:
- Items are closed, non-legal cases (the reviewers answering them may not see legal cases).
- Items are added and removed only while nobody has answered the set: a set being answered
  stays the set everyone answers. Answering takes the set FOR SHARE and editing FOR UPDATE,
  so an answer never races an edit.
- An item whose case has since moved to the legal tier is left out (not shown, not
  answerable, not counted) for anyone without ``cases:legal``.
- Expected decisions and everyone's results are shown to ``qa:manage`` and to ``qa:read``
  holders who cannot answer sets; others see a set only once it is assigned to them.
- A reviewer answers each item once (409 ``already_answered``) and sees the expected
  decisions and their result only after answering every item.
- Results list each reviewer's accuracy (policy, action, both) and each item's
  disagreements; every missed item carries the grey-area guidance of the expected policy's
  current version (for an item whose expected answer is "no violation", that of the policy
  the reviewer wrongly applied), so a miss points at the guidance that settles it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission, Tier, role_has
from vigil.auth.principal import Principal
from vigil.cases.models import Case, CaseStatus
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vigil.policies.models import Policy, PolicyVersion
from vigil.quality.common import (
    as_dict,
    case_visible,
    check_form,
    optional_text,
    require_any,
    require_staff,
    required_text,
)
from vigil.quality.models import (
    CalibrationAnswer,
    CalibrationAssignment,
    CalibrationItem,
    CalibrationSet,
    Label,
)

NAME_MAX = 200


def _set(
    session: Session, set_id: int, *, lock: bool = False, share: bool = False
) -> CalibrationSet:
    """The set; ``lock`` takes it FOR UPDATE (editing items), ``share`` FOR SHARE (answering:
    answers run side by side but never alongside an edit of the items)."""
    query = select(CalibrationSet).where(CalibrationSet.id == set_id)
    if lock:
        query = query.with_for_update()
    elif share:
        query = query.with_for_update(read=True)
    found = session.scalar(query)
    if found is None:
        raise NotFound("no such calibration set", code="set_not_found")
    return found


def _shown(actor: Principal | None) -> ColumnElement[bool]:
    """Items whose case has since moved to the legal tier exist only for ``cases:legal``."""
    if actor is None or actor.can(Permission.legal_cases):
        return true()
    return ~exists().where(Case.id == CalibrationItem.case_id, Case.tier == Tier.legal)


def _items(session: Session, set_id: int, actor: Principal | None = None) -> list[CalibrationItem]:
    return list(
        session.scalars(
            select(CalibrationItem)
            .where(CalibrationItem.set_id == set_id, _shown(actor))
            .order_by(CalibrationItem.id)
        )
    )


def _assignment(session: Session, set_id: int, staff_id: int) -> CalibrationAssignment | None:
    return session.get(CalibrationAssignment, (set_id, staff_id))


def _managers(actor: Principal) -> bool:
    """Who sees every set's expected decisions and everyone's results: ``qa:manage``, and
    ``qa:read`` holders who are never asked to answer sets (the QA team). A ``qa:read``
    holder who can answer sets (specialists, legal) sees a set only as its reviewer, so gold
    answers cannot be read before the set is assigned to them."""
    if actor.can(Permission.qa_manage):
        return True
    return actor.can(Permission.qa_read) and not actor.can(Permission.calibration_answer)


def _still_answering(session: Session, set_id: int, actor: Principal) -> bool:
    """Assigned to the set and not finished: whatever else the actor may read (a specialist
    holds qa:read), the set stays blind to them until they finish."""
    if actor.staff_id is None:
        return False
    own = _assignment(session, set_id, actor.staff_id)
    return own is not None and own.completed_at is None


# --- managing sets ----------------------------------------------------------------------------


def create_set(
    session: Session, actor: Principal, name: str, description: str | None = ""
) -> CalibrationSet:
    """A new, empty set. Refuses: 422 ``name_required``; 409 ``name_taken``."""
    actor.require(Permission.qa_manage)
    clean = required_text(name, "name")
    if len(clean) > NAME_MAX:
        raise InvalidInput(
            f"name is longer than {NAME_MAX} characters", field="name", code="too_long"
        )
    about = optional_text(description, "description") or ""
    if session.scalar(select(CalibrationSet.id).where(CalibrationSet.name == clean)):
        raise Conflict("a calibration set has this name", code="name_taken")
    made = CalibrationSet(
        name=clean, description=about, created_by_id=actor.staff_id, created_at=clock.now()
    )
    session.add(made)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("a calibration set has this name", code="name_taken") from None
    audit.record(
        session, actor, "quality.calibration_set.create", "calibration_set", made.id,
        data={"name": clean},
    )  # fmt: skip
    return made


def list_sets(session: Session, actor: Principal) -> list[CalibrationSet]:
    """Every set, newest first (a handful per team: not paginated)."""
    require_any(actor, Permission.qa_manage, Permission.qa_read)
    return list(session.scalars(select(CalibrationSet).order_by(CalibrationSet.id.desc())))


@dataclass
class SetView:
    """A set with its items and assignments. ``show_expected`` says whether the viewer may
    see the expected decisions (managers always; a reviewer once they finished the set)."""

    set: CalibrationSet
    items: list[CalibrationItem]
    assignments: list[CalibrationAssignment]
    answered: dict[int, int]  # staff id -> items answered
    show_expected: bool
    my_answers: dict[int, CalibrationAnswer] = field(default_factory=dict)  # by item id


def get_set(session: Session, actor: Principal, set_id: int, *, mine: bool = False) -> SetView:
    """A set as the actor may see it: managers (qa:manage, qa:read) see everything; an
    assigned reviewer (or anyone with ``mine``) sees the items, their own answers, and the
    expected decisions once they finished. A manager who is assigned the set sees it as a
    reviewer until they finish. Not assigned: 404."""
    found = _set(session, set_id)
    items = _items(session, set_id, actor)
    if not mine and _managers(actor) and not _still_answering(session, set_id, actor):
        assignments = list(
            session.scalars(
                select(CalibrationAssignment)
                .where(CalibrationAssignment.set_id == set_id)
                .order_by(CalibrationAssignment.staff_id)
            )
        )
        answered = as_dict(
            session.execute(
                select(CalibrationAnswer.staff_id, func.count())
                .where(CalibrationAnswer.set_id == set_id)
                .group_by(CalibrationAnswer.staff_id)
            )
        )
        return SetView(found, items, assignments, answered, show_expected=True)
    actor.require(Permission.calibration_answer)
    me = require_staff(actor)
    own = _assignment(session, set_id, me)
    if own is None:
        raise NotFound("no such calibration set", code="set_not_found")
    shown = {i.id for i in items}
    answers = {
        a.item_id: a
        for a in session.scalars(
            select(CalibrationAnswer).where(
                CalibrationAnswer.set_id == set_id, CalibrationAnswer.staff_id == me
            )
        )
        if a.item_id in shown
    }
    return SetView(
        found,
        items,
        [own],
        {me: len(answers)},
        show_expected=own.completed_at is not None,
        my_answers=answers,
    )


def _no_answers_yet(session: Session, set_id: int) -> None:
    if session.scalar(
        select(CalibrationAnswer.id).where(CalibrationAnswer.set_id == set_id).limit(1)
    ):
        raise Conflict(
            "reviewers have started answering this set; make a new set instead",
            code="set_in_use",
        )


def add_item(
    session: Session,
    actor: Principal,
    set_id: int,
    *,
    case_id: int,
    expected_policy_code: str | None,
    expected_action: str,
    rationale: str,
) -> CalibrationItem:
    """Add a gold case with its expected decision. Refuses: 404 set or case; 409
    ``case_not_closed``, ``item_exists``, ``set_in_use``; 422 ``legal_case`` (field
    ``case_id``), the form (``expected_action``, ``expected_policy_code``),
    ``rationale_required``."""
    actor.require(Permission.qa_manage)
    found = _set(session, set_id, lock=True)
    case = session.get(Case, case_id)
    if case is None or not case_visible(actor, case):
        raise NotFound("no such case", code="case_not_found")
    if case.tier == Tier.legal:
        raise InvalidInput(
            "legal-tier cases cannot be calibration items (reviewers may not see them)",
            field="case_id",
            code="legal_case",
        )
    if case.status != CaseStatus.closed:
        raise Conflict("only closed cases can be gold cases", code="case_not_closed")
    form = check_form(
        session,
        expected_policy_code,
        expected_action,
        policy_field="expected_policy_code",
        action_field="expected_action",
    )
    why = required_text(rationale, "rationale")
    if session.scalar(
        select(CalibrationItem.id).where(
            CalibrationItem.set_id == set_id, CalibrationItem.case_id == case_id
        )
    ):
        raise Conflict("this case is already in the set", code="item_exists")
    _no_answers_yet(session, set_id)
    item = CalibrationItem(
        set_id=found.id,
        case_id=case.id,
        expected_policy_code=form.policy_code,
        expected_action=form.label,
        rationale=why,
        created_at=clock.now(),
    )
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor,
        "quality.calibration_item.add",
        "calibration_item",
        item.id,
        data={
            "set_id": set_id,
            "case_id": case.id,
            "expected_policy_code": form.policy_code,
            "expected_action": form.label.value,
        },
    )
    return item


def remove_item(session: Session, actor: Principal, set_id: int, item_id: int) -> None:
    """Remove an item while nobody has answered the set (removing the one item a reviewer
    had left would strand them, finished but never completed). Refuses: 404; 409
    ``item_answered``, ``set_in_use``."""
    actor.require(Permission.qa_manage)
    _set(session, set_id, lock=True)
    item = session.get(CalibrationItem, item_id)
    if item is None or item.set_id != set_id:
        raise NotFound("no such item in this set", code="item_not_found")
    if session.scalar(
        select(CalibrationAnswer.id).where(CalibrationAnswer.item_id == item_id).limit(1)
    ):
        raise Conflict("this item has answers; it stays", code="item_answered")
    _no_answers_yet(session, set_id)
    case_id = item.case_id
    session.execute(delete(CalibrationItem).where(CalibrationItem.id == item_id))
    session.flush()
    audit.record(
        session, actor, "quality.calibration_item.remove", "calibration_item", item_id,
        data={"set_id": set_id, "case_id": case_id},
    )  # fmt: skip


def assign_set(
    session: Session, actor: Principal, set_id: int, staff_ids: list[int]
) -> list[CalibrationAssignment]:
    """Ask reviewers to answer the set; returns their assignments (assigning someone again
    keeps their assignment and answers). Refuses: 404 set; 409 ``empty_set``; 422 on
    ``staff_ids`` (``staff_ids_required``, ``staff_not_found``, ``not_a_reviewer``: they
    must be active and hold calibration:answer)."""
    actor.require(Permission.qa_manage)
    _set(session, set_id, lock=True)
    wanted = sorted(set(staff_ids))
    if not wanted:
        raise InvalidInput(
            "name at least one reviewer", field="staff_ids", code="staff_ids_required"
        )
    users = {u.id: u for u in session.scalars(select(StaffUser).where(StaffUser.id.in_(wanted)))}
    for staff_id in wanted:
        user = users.get(staff_id)
        if user is None:
            raise InvalidInput(
                f"no staff member {staff_id}", field="staff_ids", code="staff_not_found"
            )
        if not user.active or not role_has(user.role, Permission.calibration_answer):
            raise InvalidInput(
                f"{user.name} cannot answer calibration sets (inactive, or role {user.role.value})",
                field="staff_ids",
                code="not_a_reviewer",
            )
    if not _items(session, set_id):
        raise Conflict("add gold cases to the set before assigning it", code="empty_set")
    out: list[CalibrationAssignment] = []
    added: list[int] = []
    for staff_id in wanted:
        existing = _assignment(session, set_id, staff_id)
        if existing is None:
            existing = CalibrationAssignment(
                set_id=set_id,
                staff_id=staff_id,
                assigned_by_id=actor.staff_id,
                assigned_at=clock.now(),
            )
            session.add(existing)
            added.append(staff_id)
        out.append(existing)
    session.flush()
    if added:
        audit.record(
            session, actor, "quality.calibration_set.assign", "calibration_set", set_id,
            data={"staff_ids": added},
        )  # fmt: skip
    return out


@dataclass(frozen=True)
class AssignmentSummary:
    """An assignment with its set's name, the items the reviewer may see, and how many of
    them they have answered."""

    assignment: CalibrationAssignment
    set_name: str
    items: int
    answered: int


def assignment_summaries(session: Session, actor: Principal) -> list[AssignmentSummary]:
    """:func:`my_assignments` with the counts, in three queries whatever the number of sets
    (items and answers are counted by one GROUP BY each)."""
    rows = my_assignments(session, actor)
    set_ids = [a.set_id for a in rows]
    if not set_ids:
        return []
    me = require_staff(actor)
    names = as_dict(
        session.execute(
            select(CalibrationSet.id, CalibrationSet.name).where(CalibrationSet.id.in_(set_ids))
        )
    )
    shown = select(CalibrationItem.set_id, CalibrationItem.id).where(
        CalibrationItem.set_id.in_(set_ids), _shown(actor)
    )
    visible_items = shown.subquery()
    items = as_dict(
        session.execute(
            select(visible_items.c.set_id, func.count()).group_by(visible_items.c.set_id)
        )
    )
    answered = as_dict(
        session.execute(
            select(CalibrationAnswer.set_id, func.count())
            .where(
                CalibrationAnswer.staff_id == me,
                CalibrationAnswer.set_id.in_(set_ids),
                CalibrationAnswer.item_id.in_(select(visible_items.c.id)),
            )
            .group_by(CalibrationAnswer.set_id)
        )
    )
    return [
        AssignmentSummary(a, names.get(a.set_id, ""), items.get(a.set_id, 0),
                          answered.get(a.set_id, 0))
        for a in rows
    ]  # fmt: skip


# --- answering --------------------------------------------------------------------------------


def my_assignments(session: Session, actor: Principal) -> list[CalibrationAssignment]:
    """The sets assigned to the actor, unfinished first, newest first."""
    actor.require(Permission.calibration_answer)
    me = require_staff(actor)
    rows = list(
        session.scalars(
            select(CalibrationAssignment)
            .where(CalibrationAssignment.staff_id == me)
            .order_by(CalibrationAssignment.set_id.desc())
        )
    )
    return sorted(rows, key=lambda a: a.completed_at is not None)


def answer_item(
    session: Session,
    actor: Principal,
    set_id: int,
    item_id: int,
    *,
    policy_code: str | None,
    action: str,
) -> CalibrationAnswer:
    """Answer one gold case, blind. The last answer completes the assignment. Refuses: 404
    set or item; 403 ``not_assigned``; 409 ``already_answered``; 422 on the form."""
    actor.require(Permission.calibration_answer)
    me = require_staff(actor)
    _set(session, set_id, share=True)
    mine = session.scalar(
        select(CalibrationAssignment)
        .where(CalibrationAssignment.set_id == set_id, CalibrationAssignment.staff_id == me)
        .with_for_update()
    )
    if mine is None:
        raise PermissionDenied("this set is not assigned to you", code="not_assigned")
    item = session.get(CalibrationItem, item_id)
    if item is None or item.set_id != set_id:
        raise NotFound("no such item in this set", code="item_not_found")
    if not case_visible(actor, session.get(Case, item.case_id)):
        raise NotFound("no such item in this set", code="item_not_found")
    if session.scalar(
        select(CalibrationAnswer.id).where(
            CalibrationAnswer.item_id == item_id, CalibrationAnswer.staff_id == me
        )
    ):
        raise Conflict("you already answered this item", code="already_answered")
    form = check_form(session, policy_code, action)
    answer = CalibrationAnswer(
        set_id=set_id,
        item_id=item_id,
        staff_id=me,
        policy_code=form.policy_code,
        action=form.label,
        right_policy=form.policy_code == item.expected_policy_code,
        right_action=form.label == item.expected_action,
        answered_at=clock.now(),
    )
    session.add(answer)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("you already answered this item", code="already_answered") from None
    # Items the reviewer may see (a case moved to the legal tier drops out) and their answers.
    shown = select(CalibrationItem.id).where(CalibrationItem.set_id == set_id, _shown(actor))
    total = session.scalar(select(func.count()).select_from(shown.subquery()))
    done = session.scalar(
        select(func.count())
        .select_from(CalibrationAnswer)
        .where(
            CalibrationAnswer.set_id == set_id,
            CalibrationAnswer.staff_id == me,
            CalibrationAnswer.item_id.in_(shown),
        )
    )
    if done is not None and total is not None and done >= total:
        mine.completed_at = clock.now()
        session.flush()
    audit.record(
        session,
        actor,
        "quality.calibration_item.answer",
        "calibration_item",
        item_id,
        data={
            "set_id": set_id,
            "policy_code": form.policy_code,
            "action": form.label.value,
            "completed": mine.completed_at is not None,
        },
    )
    return answer


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Miss:
    """An item a reviewer got wrong, with the guidance that settles it."""

    item_id: int
    case_id: int
    expected_policy_code: str | None
    expected_action: str
    rationale: str
    policy_code: str | None
    action: str
    right_policy: bool
    right_action: bool
    # The policy whose grey areas are listed (the expected one; for an expected "no
    # violation", the one the reviewer applied) and its current version's grey areas.
    guidance_policy_code: str | None
    grey_areas: list[dict[str, str]]


@dataclass
class ReviewerResult:
    staff_id: int
    name: str
    assigned_at: datetime
    completed_at: datetime | None
    items: int
    answered: int
    right_policy: int
    right_action: int
    right_both: int
    missed: list[Miss]

    @property
    def policy_accuracy(self) -> float | None:
        return self.right_policy / self.answered if self.answered else None

    @property
    def action_accuracy(self) -> float | None:
        return self.right_action / self.answered if self.answered else None

    @property
    def accuracy(self) -> float | None:
        """Both policy and action right."""
        return self.right_both / self.answered if self.answered else None


@dataclass(frozen=True)
class ItemAnswer:
    staff_id: int
    name: str
    policy_code: str | None
    action: str
    right_policy: bool
    right_action: bool


@dataclass
class ItemResult:
    item: CalibrationItem
    answers: int
    agreed: int  # answers with both policy and action right
    disagreements: list[ItemAnswer]
    grey_areas: list[dict[str, str]]  # of the expected policy (empty for no violation)


@dataclass
class SetResults:
    set: CalibrationSet
    reviewers: list[ReviewerResult]
    items: list[ItemResult]


def _grey_areas(session: Session, codes: set[str]) -> dict[str, list[dict[str, str]]]:
    if not codes:
        return {}
    rows = session.execute(
        select(Policy.code, PolicyVersion.grey_areas)
        .join(
            PolicyVersion,
            and_(
                PolicyVersion.policy_id == Policy.id,
                PolicyVersion.version == Policy.current_version,
            ),
        )
        .where(Policy.code.in_(codes))
    )
    return {code: list(areas or []) for code, areas in rows}


def set_results(
    session: Session, actor: Principal, set_id: int, *, mine: bool = False
) -> SetResults:
    """Scores per reviewer and per item. Managers (qa:manage, qa:read) see every reviewer; a
    reviewer (or anyone with ``mine``) sees their own result once they have answered every
    item (409 ``set_not_finished`` before; 403 ``not_assigned`` if the set is not theirs)."""
    found = _set(session, set_id)
    only: int | None = None
    if mine or not _managers(actor) or _still_answering(session, set_id, actor):
        actor.require(Permission.calibration_answer)
        me = require_staff(actor)
        own = _assignment(session, set_id, me)
        if own is None:
            raise PermissionDenied("this set is not assigned to you", code="not_assigned")
        if own.completed_at is None:
            raise Conflict(
                "answer every item of the set to see your result", code="set_not_finished"
            )
        only = me
    items = _items(session, set_id, actor)
    by_item = {i.id: i for i in items}
    assignments_q = select(CalibrationAssignment).where(CalibrationAssignment.set_id == set_id)
    answers_q = select(CalibrationAnswer).where(CalibrationAnswer.set_id == set_id)
    if only is not None:
        assignments_q = assignments_q.where(CalibrationAssignment.staff_id == only)
        answers_q = answers_q.where(CalibrationAnswer.staff_id == only)
    assignments = list(session.scalars(assignments_q.order_by(CalibrationAssignment.staff_id)))
    answers = list(session.scalars(answers_q.order_by(CalibrationAnswer.id)))
    names = as_dict(
        session.execute(
            select(StaffUser.id, StaffUser.name).where(
                StaffUser.id.in_({a.staff_id for a in assignments} | {a.staff_id for a in answers})
            )
        )
    )
    codes = {i.expected_policy_code for i in items if i.expected_policy_code}
    codes |= {a.policy_code for a in answers if a.policy_code}
    grey = _grey_areas(session, codes)

    reviewers: dict[int, ReviewerResult] = {
        a.staff_id: ReviewerResult(
            staff_id=a.staff_id,
            name=names.get(a.staff_id, f"#{a.staff_id}"),
            assigned_at=a.assigned_at,
            completed_at=a.completed_at,
            items=len(items),
            answered=0,
            right_policy=0,
            right_action=0,
            right_both=0,
            missed=[],
        )
        for a in assignments
    }
    per_item: dict[int, ItemResult] = {
        i.id: ItemResult(
            item=i,
            answers=0,
            agreed=0,
            disagreements=[],
            grey_areas=grey.get(i.expected_policy_code, []) if i.expected_policy_code else [],
        )
        for i in items
    }
    for answer in answers:
        item = by_item.get(answer.item_id)
        if item is None:
            continue
        both = answer.right_policy and answer.right_action
        result = per_item[item.id]
        result.answers += 1
        name = names.get(answer.staff_id, f"#{answer.staff_id}")
        if both:
            result.agreed += 1
        else:
            result.disagreements.append(
                ItemAnswer(
                    answer.staff_id,
                    name,
                    answer.policy_code,
                    answer.action.value,
                    answer.right_policy,
                    answer.right_action,
                )
            )
        reviewer = reviewers.get(answer.staff_id)
        if reviewer is None:
            continue
        reviewer.answered += 1
        reviewer.right_policy += int(answer.right_policy)
        reviewer.right_action += int(answer.right_action)
        reviewer.right_both += int(both)
        if not both:
            guide = item.expected_policy_code or answer.policy_code
            reviewer.missed.append(
                Miss(
                    item_id=item.id,
                    case_id=item.case_id,
                    expected_policy_code=item.expected_policy_code,
                    expected_action=Label(item.expected_action).value,
                    rationale=item.rationale,
                    policy_code=answer.policy_code,
                    action=answer.action.value,
                    right_policy=answer.right_policy,
                    right_action=answer.right_action,
                    guidance_policy_code=guide,
                    grey_areas=grey.get(guide, []) if guide else [],
                )
            )
    return SetResults(set=found, reviewers=list(reviewers.values()), items=list(per_item.values()))
