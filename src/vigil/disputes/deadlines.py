"""The deadlines of disputes, run by the periodic job ``disputes.sweep``: reminders before the
response deadline, defaults at it, and lapses of proposals nobody answered in time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases import states as case_states
from vigil.cases.models import Case, CaseEventKind, CaseStatus
from vigil.config import Settings
from vigil.disputes import states
from vigil.disputes.access import (
    open_proposal,
)
from vigil.disputes.models import (
    Dispute,
    DisputeEvent,
    DisputeEventKind,
    DisputeProposal,
    DisputeStatus,
    Party,
    ProposalStatus,
)
from vigil.disputes.outbound import (
    emit_updated,
    notify,
)
from vigil.kit import clock

SWEEPER = Principal.system("disputes.sweep")
log = logging.getLogger("vigil.disputes")


def _locked(query: Any, session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def _isolated(session: Session, dispute_id: int, step: str, work: Callable[[], bool]) -> int:
    """Run one dispute's step in a savepoint: a failure (bad data, a refused message) rolls
    back that dispute's step only, is logged, and the rest of the batch goes on. The failed
    dispute stays due and is tried again by the next sweep."""
    try:
        with session.begin_nested():
            moved = work()
            session.flush()
    except Exception:
        log.exception(
            "dispute %s: the %s step failed; the next sweep tries again", dispute_id, step
        )
        return 0
    return 1 if moved else 0


def sweep(session: Session, settings: Settings, *, batch: int = 100) -> int:
    """Run the deadlines (the periodic job ``disputes.sweep``): reminders before the
    response deadline, defaults at it, lapses of proposals nobody answered in time. Rows are
    taken under lock (``SKIP LOCKED`` on PostgreSQL: two sweeps share the work), each
    precondition re-checked, so running it twice does nothing more. Each dispute's step runs
    in its own savepoint, so one failure does not undo the others (the job commits the rest).
    Returns how many disputes it moved or reminded."""
    now = clock.now()
    done = 0
    remind_before = timedelta(hours=settings.dispute_reminder_hours)

    def remind(dispute: Dispute) -> bool:
        if dispute.status != DisputeStatus.awaiting_response or dispute.reminded_at is not None:
            return False
        dispute.reminded_at = now
        states.record(
            session,
            dispute,
            DisputeEventKind.reminder,
            actor=SWEEPER,
            party=None,
            data={"due_at": dispute.response_due_at, "to": dispute.respondent.value},
        )
        session.flush()
        notify(session, settings, dispute, [dispute.respondent], "reminder")
        audit.record(session, SWEEPER, "disputes.dispute.remind", "dispute", dispute.id)
        return True

    def default(dispute: Dispute) -> bool:
        if dispute.status != DisputeStatus.awaiting_response:
            return False
        apply_default(session, settings, dispute, SWEEPER)
        return True

    def lapse(dispute: Dispute) -> bool:
        proposal = open_proposal(session, dispute, lock=True)
        if proposal is None or proposal.due_at > now:
            return False
        states.close_proposal(proposal, ProposalStatus.lapsed)
        silent = [p.value for p in (Party.buyer, Party.seller) if proposal.answer_of(p) is None]
        event = states.transition(
            session,
            dispute,
            DisputeStatus.in_mediation,
            DisputeEventKind.lapsed,
            actor=SWEEPER,
            data={"proposal_id": proposal.id, "silent": silent},
        )
        session.flush()
        audit.record(
            session,
            SWEEPER,
            "disputes.proposal.lapse",
            "dispute",
            dispute.id,
            data={"proposal_id": proposal.id, "silent": silent},
        )
        notify(
            session,
            settings,
            dispute,
            [Party.buyer, Party.seller],
            "proposal_closed",
            {"proposal": proposal, "closed_reason": "lapsed", "by_party": None},
        )
        emit_updated(session, dispute, event)
        return True

    # 1. Reminders: the deadline is near and no reminder went out yet.
    due = list(
        session.scalars(
            _locked(
                select(Dispute)
                .where(
                    Dispute.status == DisputeStatus.awaiting_response,
                    Dispute.response_due_at > now,
                    Dispute.response_due_at <= now + remind_before,
                    Dispute.reminded_at.is_(None),
                )
                .order_by(Dispute.response_due_at)
                .limit(batch)
                .execution_options(populate_existing=True),
                session,
            )
        )
    )
    for dispute in due:
        done += _isolated(session, dispute.id, "reminder", partial(remind, dispute))

    # 2. Defaults: the deadline passed without the respondent's side.
    late = list(
        session.scalars(
            _locked(
                select(Dispute)
                .where(
                    Dispute.status == DisputeStatus.awaiting_response,
                    Dispute.response_due_at <= now,
                )
                .order_by(Dispute.response_due_at)
                .limit(batch)
                .execution_options(populate_existing=True),
                session,
            )
        )
    )
    for dispute in late:
        done += _isolated(session, dispute.id, "default", partial(default, dispute))

    # 3. Lapses: an open proposal past its deadline counts as rejected.
    overdue = list(
        session.scalars(
            select(DisputeProposal.dispute_id)
            .where(DisputeProposal.status == ProposalStatus.open, DisputeProposal.due_at <= now)
            .order_by(DisputeProposal.due_at)
            .limit(batch)
        )
    )
    for dispute_id in overdue:
        dispute = session.scalar(
            _locked(
                select(Dispute)
                .where(Dispute.id == dispute_id)
                .execution_options(populate_existing=True),
                session,
            )
        )
        if dispute is None:
            continue  # another sweep holds it
        done += _isolated(session, dispute.id, "lapse", partial(lapse, dispute))
    session.flush()
    return done


def apply_default(
    session: Session, settings: Settings, dispute: Dispute, actor: Principal = SWEEPER
) -> DisputeEvent:
    """The respondent's deadline passed without their side: move on to mediation without it
    (``respondent_defaulted``), raise the case's priority, tell both parties. Called by the
    sweep, and by a submission that arrives after the deadline but before the sweep ran (so
    a default never depends on when the job last ran)."""
    now = clock.now()
    dispute.respondent_defaulted = True
    dispute.defaulted_at = now
    event = states.transition(
        session,
        dispute,
        DisputeStatus.in_mediation,
        DisputeEventKind.defaulted,
        actor=SWEEPER,
        data={"respondent": dispute.respondent.value, "due_at": dispute.response_due_at},
    )
    session.flush()
    _raise_priority(session, dispute)
    audit.record(
        session,
        SWEEPER,
        "disputes.dispute.default",
        "dispute",
        dispute.id,
        data={"respondent": dispute.respondent.value, "noticed_by": actor.label},
    )
    notify(session, settings, dispute, [Party.buyer, Party.seller], "defaulted")
    emit_updated(session, dispute, event)
    return event


def _raise_priority(session: Session, dispute: Dispute) -> None:
    """A default makes the case one step more urgent (the mediator decides on one side).

    A plain UPDATE that does not bump the case's version (as the SLA sweep does): a change the
    system makes must not turn the holder's next save into a version conflict."""
    case = cases.get_case(session, SWEEPER, dispute.case_id, lock=True)
    if case.status == CaseStatus.closed or case.priority <= 1:
        return
    before = case.priority
    session.execute(
        update(Case)
        .where(Case.id == case.id, Case.priority == before)
        .values(priority=before - 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(case, ["priority"])
    case_states.record_event(
        session,
        case,
        CaseEventKind.updated,
        actor=SWEEPER,
        reason="the respondent did not answer by the deadline",
        data={"priority": {"from": before, "to": case.priority}},
    )
    session.flush()
    audit.record(
        session,
        SWEEPER,
        "cases.case.reprioritize",
        "case",
        case.id,
        reason="dispute respondent defaulted",
        data={"from": before, "to": case.priority, "dispute_id": dispute.id},
    )
