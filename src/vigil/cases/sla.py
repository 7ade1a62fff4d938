"""SLA state, the breach sweep and the end of holds.

A case's SLA runs from when it entered its current queue (``queued_at``) to ``sla_due_at``
(``queued_at`` + the queue's ``sla_minutes``); an escalation or a reopen starts a new one.
Holds do not stop it. The sweep (job ``cases.sla_sweep``) flags breaches with
``sla_breached_at`` and a timeline entry; figures and the console also count a case whose due
time has passed but that the sweep has not reached yet.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.cases import states
from vigil.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus
from vigil.kit import clock

WARNING_FRACTION = 0.75


def sla_state(case: Case, now: datetime | None = None) -> str:
    """``breached`` past the due time (or flagged), ``warning`` once 75% of the window since
    the case entered its queue is used, else ``ok``. Closed cases report how they ended."""
    now = now or clock.now()
    if case.sla_breached_at is not None:
        return "breached"
    end = case.closed_at if case.status == CaseStatus.closed and case.closed_at else now
    if end >= case.sla_due_at:
        return "breached"
    window = (case.sla_due_at - case.queued_at).total_seconds()
    used = (end - case.queued_at).total_seconds()
    return "warning" if window > 0 and used >= WARNING_FRACTION * window else "ok"


SWEEP_BATCH = 500


def sweep_sla_breaches(session: Session, *, batch: int = SWEEP_BATCH) -> list[int]:
    """Flag every live case past its due time that is not flagged yet, and put the breach on
    its timeline. Idempotent: a flagged case is never flagged again, and two sweeps running at
    once flag each case once (the UPDATE re-checks ``sla_breached_at IS NULL`` under the row
    lock and only the rows it changed get an entry). Reads ``ix_cases_sla_due``.

    The flag is a plain UPDATE that does not bump the case's version: a breach noticed by the
    system must not turn an agent's next save into a version conflict.
    """
    actor = Principal.system("cases.sla_sweep")
    now = clock.now()
    flagged: list[int] = []
    while True:
        due = (
            select(Case.id)
            .where(
                Case.status != CaseStatus.closed,
                Case.sla_breached_at.is_(None),
                Case.sla_due_at <= now,
            )
            .order_by(Case.sla_due_at)
            .limit(batch)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(session.scalars(due))
        if not ids:
            break
        rows = session.execute(
            update(Case)
            .where(Case.id.in_(ids), Case.sla_breached_at.is_(None))
            .values(sla_breached_at=now)
            .returning(Case.id, Case.sla_due_at, Case.queue_id)
            .execution_options(synchronize_session=False)
        ).all()
        for case_id, due_at, queue_id in rows:
            session.add(
                CaseEvent(
                    case_id=case_id,
                    at=now,
                    kind=CaseEventKind.sla_breached.value,
                    actor_label=actor.label,
                    data={"due_at": clock.as_utc(due_at).isoformat(), "queue_id": queue_id},
                )
            )
        session.flush()
        changed = [r[0] for r in rows]
        flagged.extend(changed)
        if changed:
            audit.record(
                session, actor, "cases.case.sla_breach", "case", None, data={"case_ids": changed}
            )
        if len(ids) < batch:
            break
    return flagged


def resume_expired_holds(session: Session, *, batch: int = SWEEP_BATCH) -> list[int]:
    """Put every on-hold case whose hold has run out back in its queue. Reads
    ``ix_cases_hold_until``; each case is locked and re-checked, so a second run (or a person
    resuming it at the same moment) does nothing twice."""
    actor = Principal.system("cases.resume_holds")
    now = clock.now()
    resumed: list[int] = []
    while True:
        query = (
            select(Case)
            .where(Case.status == CaseStatus.on_hold, Case.hold_until <= now)
            .order_by(Case.hold_until)
            .limit(batch)
            .execution_options(populate_existing=True)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        cases = list(session.scalars(query))
        for case in cases:
            states.transition(
                session,
                case,
                CaseStatus.open,
                actor=actor,
                kind=CaseEventKind.resumed,
                reason="the hold ran out",
            )
        session.flush()
        for case in cases:
            audit.record(session, actor, "cases.case.resume", "case", case.id)
        resumed.extend(c.id for c in cases)
        if len(cases) < batch:
            break
    return resumed
