"""Case lifecycle through the service: create, dedup, visibility, pull, assign, release,
escalate, hold, resume, close, reopen, notes and the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.cases.conftest import SYSTEM, event_kinds, new_case, staff
from vigil.accounts.models import Account, Side
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role, Tier
from vigil.cases import queues as queue_service
from vigil.cases import service, timeline
from vigil.cases.models import Case, CaseStatus, CaseType, Queue, Resolution, Severity
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    VersionConflict,
)

S = CaseStatus


def audit_actions(db: Session, case_id: int) -> list[str]:
    return list(
        db.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_type == "case", AuditRecord.target_id == str(case_id))
            .order_by(AuditRecord.id)
        )
    )


# --- create -----------------------------------------------------------------------------------


def test_create_routes_and_sets_the_sla(
    db: Session, queues: dict[str, Queue], frozen: FrozenClock
) -> None:
    case = new_case(db, type=CaseType.identity_review, priority=2)
    assert case.queue_id == queues["identity"].id
    assert case.status == S.open
    assert case.opened_at == case.queued_at == clock.now()
    assert case.sla_due_at == clock.now() + timedelta(hours=8)
    assert case.source == "system"
    assert event_kinds(db, case.id) == ["created"]
    assert audit_actions(db, case.id) == ["cases.case.create"]


def test_dedup_key_returns_the_live_case_and_notes_the_repeat(
    db: Session, queues: dict[str, Queue]
) -> None:
    first = service.create_case(
        db, SYSTEM, service.NewCase(CaseType.detection, "Ring", dedup_key="acct:7:fraud")
    )
    again = service.create_case(
        db,
        SYSTEM,
        service.NewCase(
            CaseType.detection, "Ring again", dedup_key="acct:7:fraud", source_ref="e2"
        ),
    )
    assert first.created and not again.created
    assert again.case.id == first.case.id
    assert event_kinds(db, first.case.id) == ["created", "deduplicated"]
    # Once closed, the same key opens a new case.
    service.close(db, SYSTEM, first.case.id, resolution=Resolution.actioned, note="banned the ring")
    third = service.create_case(
        db, SYSTEM, service.NewCase(CaseType.detection, "Ring back", dedup_key="acct:7:fraud")
    )
    assert third.created and third.case.id != first.case.id


def test_create_links_the_account_by_id_or_external_id(
    db: Session, queues: dict[str, Queue]
) -> None:
    account = Account(external_id="mkt-42", side=Side.freelancer)
    db.add(account)
    db.flush()
    assert new_case(db, account_id=account.id).account_id == account.id
    assert new_case(db, account_external_id="mkt-42").account_id == account.id
    with pytest.raises(NotFound) as info:
        new_case(db, account_id=account.id + 1000)
    assert info.value.field == "account_id"
    with pytest.raises(NotFound) as info:
        new_case(db, account_external_id="nobody")
    assert info.value.field == "account_external_id"


def test_bad_create_input(db: Session, queues: dict[str, Queue]) -> None:
    with pytest.raises(InvalidInput) as info:
        new_case(db, title="   ")
    assert info.value.field == "title"
    with pytest.raises(InvalidInput) as info:
        new_case(db, priority=9)
    assert info.value.field == "priority"
    _, agent = staff(db)
    with pytest.raises(PermissionDenied) as denied:
        new_case(db, agent, tier=Tier.legal)
    assert denied.value.field == "tier"


# --- visibility and lists ---------------------------------------------------------------------


def test_legal_cases_do_not_exist_for_others(db: Session, queues: dict[str, Queue]) -> None:
    legal_case = new_case(db, tier=Tier.legal)
    normal = new_case(db)
    _, agent = staff(db)
    _, specialist = staff(db, Role.specialist)
    _, lawyer = staff(db, Role.legal)
    for who in (agent, specialist):
        with pytest.raises(NotFound):
            service.get_case(db, who, legal_case.id)
        rows, _ = service.list_cases(db, who, service.CaseFilter())
        assert [c.id for c in rows] == [normal.id]
    assert service.get_case(db, lawyer, legal_case.id).id == legal_case.id
    rows, _ = service.list_cases(db, lawyer, service.CaseFilter())
    assert [c.id for c in rows] == [normal.id, legal_case.id]


def test_list_filters_and_keyset_pages(db: Session, queues: dict[str, Queue]) -> None:
    made = [new_case(db, type=CaseType.appeal, policy_code="scam") for _ in range(5)]
    other = new_case(db, type=CaseType.dispute)
    rows, cursor = service.list_cases(db, SYSTEM, service.CaseFilter(type=CaseType.appeal), limit=2)
    seen = [c.id for c in rows]
    while cursor:
        rows, cursor = service.list_cases(
            db, SYSTEM, service.CaseFilter(type=CaseType.appeal), cursor=cursor, limit=2
        )
        seen += [c.id for c in rows]
    assert seen == sorted((c.id for c in made), reverse=True)
    rows, _ = service.list_cases(db, SYSTEM, service.CaseFilter(queue_id=queues["disputes"].id))
    assert [c.id for c in rows] == [other.id]
    rows, _ = service.list_cases(
        db, SYSTEM, service.CaseFilter(policy_code="scam", status=[S.open])
    )
    assert len(rows) == 5


# --- pull -------------------------------------------------------------------------------------


def test_pull_takes_priority_then_sla_then_age(
    db: Session, queues: dict[str, Queue], frozen: FrozenClock
) -> None:
    low = new_case(db, type=CaseType.user_report, priority=4)  # due in 24 h
    late_p2 = new_case(db, type=CaseType.dispute, priority=2)  # due in 48 h
    soon_p2 = new_case(db, type=CaseType.identity_review, priority=2)  # due in 8 h
    frozen.advance(timedelta(minutes=1))
    soon_p2_b = new_case(db, type=CaseType.identity_review, priority=2)  # due a minute later
    urgent = new_case(db, type=CaseType.detection, priority=1)
    user, agent = staff(db)
    order = [service.pull_next(db, agent) for _ in range(5)]
    assert [c.id for c in order if c] == [urgent.id, soon_p2.id, soon_p2_b.id, late_p2.id, low.id]
    assert all(c and c.status == S.assigned and c.assignee_id == user.id for c in order)
    assert service.pull_next(db, agent) is None
    assert event_kinds(db, urgent.id) == ["created", "assigned"]
    assert audit_actions(db, urgent.id) == ["cases.case.create", "cases.case.pull"]


def test_pull_stays_in_the_workers_tier_and_languages(
    db: Session, queues: dict[str, Queue]
) -> None:
    spanish = new_case(db, language="es")
    escalated = new_case(db, tier=Tier.specialist)
    legal_case = new_case(db, tier=Tier.legal)
    _, agent = staff(db)  # speaks English only
    _, bilingual = staff(db, languages=("en", "es"))
    _, specialist = staff(db, Role.specialist)
    _, lawyer = staff(db, Role.legal)
    _, qa = staff(db, Role.qa)
    assert service.pull_next(db, agent) is None
    assert service.pull_next(db, specialist).id == escalated.id  # type: ignore[union-attr]
    assert service.pull_next(db, specialist) is None  # never the legal case
    assert service.pull_next(db, bilingual).id == spanish.id  # type: ignore[union-attr]
    assert service.pull_next(db, lawyer).id == legal_case.id  # type: ignore[union-attr]
    with pytest.raises(PermissionDenied):
        service.pull_next(db, qa)


def test_pull_with_memberships_works_only_those_queues(
    db: Session, queues: dict[str, Queue]
) -> None:
    report = new_case(db, type=CaseType.user_report)
    appeal = new_case(db, type=CaseType.appeal, priority=1)
    user, agent = staff(db)
    queue_service.set_members(db, SYSTEM, queues["reports"].id, [user.id])
    assert service.pull_next(db, agent).id == report.id  # type: ignore[union-attr]
    assert service.pull_next(db, agent) is None  # the urgent appeal is not their queue
    assert service.get_case(db, SYSTEM, appeal.id).status == S.open


def test_pull_cap(db: Session, queues: dict[str, Queue]) -> None:
    new_case(db)
    new_case(db)
    _, agent = staff(db)
    assert service.pull_next(db, agent, max_held=1) is not None
    with pytest.raises(Conflict) as info:
        service.pull_next(db, agent, max_held=1)
    assert info.value.code == "too_many_cases"


# --- assign and release -----------------------------------------------------------------------


def test_assign_rules(db: Session, queues: dict[str, Queue]) -> None:
    case = new_case(db)
    me, agent = staff(db)
    other, other_agent = staff(db)
    _, lead = staff(db, Role.specialist)
    assert service.assign(db, agent, case.id).assignee_id == me.id  # self-take an open case
    with pytest.raises(PermissionDenied):
        service.assign(db, other_agent, case.id)  # taking someone else's needs cases:assign
    with pytest.raises(PermissionDenied):
        service.assign(db, agent, case.id, staff_id=other.id)
    assert service.assign(db, lead, case.id, staff_id=other.id).assignee_id == other.id
    with pytest.raises(NotFound) as missing:
        service.assign(db, lead, case.id, staff_id=other.id + 999)
    assert missing.value.field == "staff_id"
    escalated = new_case(db, tier=Tier.specialist)
    with pytest.raises(InvalidInput) as info:
        service.assign(db, lead, escalated.id, staff_id=me.id)
    assert (info.value.field, info.value.code) == ("staff_id", "cannot_work_tier")
    assert event_kinds(db, case.id) == ["created", "assigned", "assigned"]


def test_release_returns_the_case_to_its_place(db: Session, queues: dict[str, Queue]) -> None:
    case = new_case(db)
    due = case.sla_due_at
    _, agent = staff(db)
    _, other = staff(db)
    service.pull_next(db, agent)
    with pytest.raises(PermissionDenied):
        service.release(db, other, case.id)
    released = service.release(db, agent, case.id, reason="conflict of interest")
    assert (released.status, released.assignee_id, released.sla_due_at) == (S.open, None, due)
    with pytest.raises(IllegalTransition):
        service.release(db, agent, case.id)
    assert service.pull_next(db, other).id == case.id  # type: ignore[union-attr]


# --- escalation -------------------------------------------------------------------------------


def test_escalation_ladder(db: Session, queues: dict[str, Queue], frozen: FrozenClock) -> None:
    case = new_case(db, severity=Severity.medium, priority=3)
    _, agent = staff(db)
    specialist_user, specialist = staff(db, Role.specialist)
    _, lawyer = staff(db, Role.legal)
    service.pull_next(db, agent)
    with pytest.raises(InvalidInput) as info:
        service.escalate(db, agent, case.id, reason="  ")
    assert info.value.field == "reason"
    with pytest.raises(InvalidInput) as info:
        service.escalate(db, agent, case.id, reason="x", severity=Severity.low)
    assert info.value.field == "severity"
    frozen.advance(timedelta(hours=1))
    up = service.escalate(
        db, agent, case.id, reason="threats of violence", severity=Severity.high, priority=2
    )
    assert (up.tier, up.queue_id, up.status, up.assignee_id) == (
        Tier.specialist,
        queues["escalations"].id,
        S.open,
        None,
    )
    assert (up.severity, up.priority) == (Severity.high, 2)
    assert up.escalated_at == up.queued_at == clock.now()
    assert up.sla_due_at == clock.now() + timedelta(hours=24)
    assert service.pull_next(db, specialist).id == case.id  # type: ignore[union-attr]
    assert case.assignee_id == specialist_user.id
    service.escalate(db, specialist, case.id, reason="subpoena received")
    assert (case.tier, case.queue_id) == (Tier.legal, queues["legal"].id)
    with pytest.raises(NotFound):
        service.get_case(db, specialist, case.id)  # now out of the specialist's sight
    service.pull_next(db, lawyer)
    with pytest.raises(IllegalTransition) as top:
        service.escalate(db, lawyer, case.id, reason="higher?")
    assert top.value.code == "no_higher_tier"
    assert event_kinds(db, case.id) == [
        "created",
        "assigned",
        "escalated",
        "assigned",
        "escalated",
        "assigned",
    ]


def test_closed_cases_cannot_be_escalated(db: Session, queues: dict[str, Queue]) -> None:
    case = new_case(db)
    service.close(db, SYSTEM, case.id, resolution=Resolution.duplicate, note="dup of 1")
    with pytest.raises(IllegalTransition):
        service.escalate(db, SYSTEM, case.id, reason="why not")


# --- holds ------------------------------------------------------------------------------------


def test_hold_and_resume(db: Session, queues: dict[str, Queue], frozen: FrozenClock) -> None:
    case = new_case(db)
    me, agent = staff(db)
    service.pull_next(db, agent)
    with pytest.raises(InvalidInput) as info:
        service.hold(db, agent, case.id, until=clock.now() - timedelta(minutes=1), reason="x")
    assert info.value.field == "until"
    with pytest.raises(InvalidInput) as info:
        service.hold(db, agent, case.id, until=clock.now() + timedelta(days=1), reason="")
    assert info.value.field == "reason"
    held = service.hold(
        db, agent, case.id, until=clock.now() + timedelta(days=1), reason="waiting for ID"
    )
    assert (held.status, held.assignee_id, held.held_at) == (S.on_hold, None, clock.now())
    assert held.hold_until == clock.now() + timedelta(days=1)
    assert service.pull_next(db, agent) is None  # held cases are not pulled
    resumed = service.resume(db, agent, case.id, reason="documents arrived")
    assert (resumed.status, resumed.assignee_id, resumed.hold_until) == (S.assigned, me.id, None)
    with pytest.raises(IllegalTransition):
        service.resume(db, agent, case.id)


# --- close and reopen -------------------------------------------------------------------------


def test_close_and_reopen(db: Session, queues: dict[str, Queue], frozen: FrozenClock) -> None:
    case = new_case(db)
    _, agent = staff(db)
    _, other = staff(db)
    _, lead = staff(db, Role.specialist)
    service.pull_next(db, agent)
    with pytest.raises(PermissionDenied):
        service.close(db, other, case.id, resolution=Resolution.actioned, note="not mine")
    with pytest.raises(InvalidInput) as info:
        service.close(db, agent, case.id, resolution=Resolution.actioned, note=" ")
    assert info.value.field == "note"
    closed = service.close(db, agent, case.id, resolution=Resolution.actioned, note="suspended")
    assert (closed.status, closed.resolution, closed.resolution_note) == (
        S.closed,
        Resolution.actioned,
        "suspended",
    )
    assert closed.closed_at == clock.now() and closed.assignee_id is None
    with pytest.raises(IllegalTransition):
        service.close(db, lead, case.id, resolution=Resolution.other, note="again")
    with pytest.raises(PermissionDenied):
        service.reopen(db, agent, case.id, reason="new evidence")
    frozen.advance(timedelta(days=3))
    reopened = service.reopen(db, lead, case.id, reason="new evidence")
    assert (reopened.status, reopened.resolution, reopened.closed_at) == (S.open, None, None)
    assert reopened.reopened_at == reopened.queued_at == clock.now()
    assert reopened.sla_due_at == clock.now() + timedelta(hours=24)


def test_reopen_refuses_when_the_same_thing_is_open_again(
    db: Session, queues: dict[str, Queue]
) -> None:
    first = new_case(db, dedup_key="k1")
    service.close(db, SYSTEM, first.id, resolution=Resolution.no_violation, note="fine")
    new_case(db, dedup_key="k1")
    with pytest.raises(Conflict) as info:
        service.reopen(db, SYSTEM, first.id, reason="look again")
    assert info.value.code == "duplicate_open_case"


# --- versions ---------------------------------------------------------------------------------


def test_stale_expected_version_is_refused(db: Session, queues: dict[str, Queue]) -> None:
    case = new_case(db)
    _, agent = staff(db)
    seen = case.version
    service.pull_next(db, agent)
    with pytest.raises(VersionConflict) as info:
        service.release(db, agent, case.id, expected_version=seen)
    assert info.value.status_code == 409
    assert case.status == S.assigned
    assert service.release(db, agent, case.id, expected_version=seen + 1).status == S.open


# --- notes and the timeline -------------------------------------------------------------------


def test_notes_and_timeline_in_order(
    db: Session, queues: dict[str, Queue], frozen: FrozenClock
) -> None:
    case = new_case(db)
    user, agent = staff(db)
    service.pull_next(db, agent)
    frozen.advance(timedelta(minutes=5))
    note = timeline.add_note(db, agent, case.id, body="User sent a second screenshot.")
    frozen.advance(timedelta(minutes=5))
    service.close(db, agent, case.id, resolution=Resolution.no_violation, note="all fine")
    with pytest.raises(InvalidInput):
        timeline.add_note(db, agent, case.id, body="")
    entries, cursor = timeline.timeline(db, agent, case.id)
    assert cursor is None
    assert [e.kind for e in entries] == ["created", "assigned", "note", "closed"]
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert entries[2].note == "User sent a second screenshot." == note.body
    assert entries[2].actor_id == user.id
    assert (entries[3].from_status, entries[3].to_status, entries[3].reason) == (
        "assigned",
        "closed",
        "all fine",
    )
    first, cursor = timeline.timeline(db, agent, case.id, limit=3)
    rest, end = timeline.timeline(db, agent, case.id, cursor=cursor, limit=3)
    assert [e.id for e in first + rest] == [e.id for e in entries] and end is None


def test_a_recused_reviewer_never_pulls_nor_is_given_the_case(
    db: Session, queues: dict[str, Queue]
) -> None:
    appeal = new_case(db, type=CaseType.appeal, priority=1)
    assert appeal.tier == Tier.specialist  # an appeal goes above Tier 1
    other = new_case(db, type=CaseType.user_report, tier=Tier.specialist, priority=4)
    decider, decider_p = staff(db, role=Role.specialist)
    hearer, hearer_p = staff(db, role=Role.specialist)
    _lead, lead_p = staff(db, role=Role.specialist)
    service.recuse(db, appeal, [decider.id, None], "made the decision under appeal")
    service.recuse(db, appeal, [decider.id], "repeated: changes nothing")
    assert service.recused_staff(db, appeal.id) == [decider.id]

    pulled = service.pull_next(db, decider_p)
    assert pulled is not None and pulled.id == other.id  # the appeal is skipped for them
    with pytest.raises(PermissionDenied) as refused:
        service.assign(db, lead_p, appeal.id, staff_id=decider.id)
    assert (refused.value.code, refused.value.field) == ("recused", "staff_id")
    assert db.get(Case, appeal.id).status == CaseStatus.open  # type: ignore[union-attr]

    got = service.pull_next(db, hearer_p)
    assert got is not None and got.id == appeal.id
    # Recusing the person who holds it sends the case back to its queue.
    service.recuse(db, appeal, [hearer.id], "a conflict of interest came to light")
    assert appeal.status == CaseStatus.open and appeal.assignee_id is None
    assert event_kinds(db, appeal.id)[-1] == "released"
