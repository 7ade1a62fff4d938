"""Hand-computed values for QA, appeals, disputes and enforcement by policy; handle time
across a hold; the team's decisions per hour; backlog age in a bounded number of statements;
the line beside more than 50 groups; out-of-range input. Both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session
from tests.analytics.metrics.conftest import Week, at
from tests.enforcement.conftest import SUSPEND_7, SYSTEM, decide, principal, statement
from tests.factories import make_staff

from vigil.accounts.models import Account
from vigil.analytics.metrics import service
from vigil.analytics.metrics.base import Ctx
from vigil.analytics.metrics.cases import _age_source
from vigil.appeals.models import Appeal, AppealChannel, AppealStatus
from vigil.auth.permissions import Role
from vigil.cases import service as cases
from vigil.cases import timeline
from vigil.config import Settings
from vigil.disputes.models import (
    Dispute,
    DisputeStatus,
    Outcome,
    Party,
    PaymentStatus,
    ReasonCode,
    ResolvedBy,
    SubjectType,
)
from vigil.enforcement.models import Decision
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind, VerificationStatus
from vigil.identity.types import Outcome as IdOutcome
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import InvalidInput
from vigil.quality.models import Label, QASample, SampleSource, SampleStatus

H = 3600.0


def run(db: Session, metric: str, group_by: str | None = None, actor=SYSTEM, **filters):  # type: ignore[no-untyped-def]
    query = service.parse_query(metric, "2026-11-18", "2026-11-22", "day", filters, group_by)
    return service.series(db, actor, query)


def values(s: service.Series) -> list[float | None]:
    return [p.value for p in s.buckets]


def nd(point: service.Point) -> tuple[float | None, float | None, float | None]:
    return (point.value, point.numerator, point.denominator)


def _decision(db: Session, case_id: int) -> Decision:
    found = db.scalars(select(Decision).where(Decision.case_id == case_id)).one()
    return found


def _sample(db: Session, decision: Decision, qa: int, **fields: Any) -> None:
    case = cases.get_case(db, SYSTEM, decision.case_id)
    db.add(
        QASample(
            decision_id=decision.id, case_id=case.id, queue_id=case.queue_id,
            source=SampleSource.sampled, decided_by_id=decision.decided_by_id,
            decided_at=decision.created_at, status=SampleStatus.scored, reviewer_id=qa,
            assigned_at=at(21, 8), answered_at=at(21, 8), revealed_at=at(21, 8),
            scored_at=at(21, 8), **fields,
        )
    )  # fmt: skip


def test_qa_scores_and_agreement(db: Session, week: Week) -> None:
    qa = make_staff(db, role=Role.qa, name="Quinn")
    # A (Ana, 19th): suspend, QA agrees, right policy and action, message 4/5.
    _sample(
        db, _decision(db, week.a.id), qa.id, original_label=Label.suspend,
        original_policy_code="fee_circumvention", blind_label=Label.suspend,
        blind_policy_code="fee_circumvention", agreed=True, right_policy=True,
        right_action=True, message_quality=4,
    )  # fmt: skip
    # B (Ben, 20th): warn, QA says no violation; wrong policy and action, message 2/5.
    _sample(
        db, _decision(db, week.b.id), qa.id, original_label=Label.warn,
        original_policy_code="fee_circumvention", blind_label=Label.no_violation,
        blind_policy_code=None, agreed=False, right_policy=False, right_action=False,
        message_quality=2,
    )  # fmt: skip
    db.flush()
    agreement = run(db, "qa_agreement_rate")
    assert values(agreement) == [None, 1.0, 0.0, None]
    assert nd(agreement.total) == (0.5, 1, 2)
    assert nd(run(db, "qa_right_policy_rate").total) == (0.5, 1, 2)
    assert nd(run(db, "qa_right_action_rate").total) == (0.5, 1, 2)
    quality = run(db, "qa_message_quality")
    assert values(quality) == [None, 4.0, 2.0, None]
    assert nd(quality.total) == (3.0, 6, 2)
    # Kappa of {(suspend, suspend), (warn, no_violation)}: po = 1/2, pe = 1/2 * 1/2 = 1/4,
    # (1/2 - 1/4) / (1 - 1/4) = 1/3; a single sample per day has none.
    kappa = run(db, "qa_kappa")
    assert kappa.total.value == pytest.approx(1 / 3)
    assert values(kappa) == [None, None, None, None]
    assert nd(run(db, "qa_agreement_rate", reviewer=week.ben.id).total) == (0.0, 0, 1)
    by_queue = run(db, "qa_agreement_rate", group_by="queue")
    assert {g.key: g.total.value for g in by_queue.groups} == {"reports": 1.0, "es": 0.0}
    assert run(db, "qa_message_quality", policy="spam").total.denominator == 0


def test_appeals_and_enforcement_by_policy(
    db: Session, week: Week, frozen: FrozenClock, settings: Settings
) -> None:
    # A second restrictive decision: Ana suspends D's account on the 20th; nobody appeals it.
    frozen.set(at(20, 9))
    cases.assign(db, principal(week.ana), week.d.id, staff_id=week.ana.id)
    frozen.set(at(20, 10))
    decide(
        db, principal(week.ana), week.d, settings, actions=SUSPEND_7,
        departure_reason="Repeated.", statement=statement(content_date="2026-11-15"),
    )  # fmt: skip
    # A's suspension (19th) is appealed and overturned; B's warning is not restrictive.
    a = _decision(db, week.a.id)
    db.add(
        Appeal(
            decision_id=a.id, case_id=week.c.id, original_case_id=week.a.id,
            account_id=a.account_id, reference="APL-METRICS-1", text="I did nothing wrong.",
            channel=AppealChannel.form, submitted_at=at(20, 8), window_ends_at=at(30, 8),
            status=AppealStatus.overturned, decided_at=at(21, 8), reason="Misread.",
        )
    )  # fmt: skip
    frozen.set(at(21, 9))
    db.flush()
    appealed = run(db, "appeal_rate")
    assert values(appealed) == [None, 1.0, 0.0, None]
    assert nd(appealed.total) == (0.5, 1, 2)
    overturned = run(db, "overturn_rate")
    assert values(overturned) == [None, 1.0, None, None]
    assert nd(overturned.total) == (1.0, 1, 1)
    assert run(db, "appeal_rate", reviewer=week.ben.id).total.denominator == 0
    assert nd(run(db, "appeal_rate", side="freelancer").total) == (0.5, 1, 2)
    # Enforcement by policy: A (19th), B (20th) and D (20th), all under fee_circumvention.
    by_policy = run(db, "enforcement_actions", group_by="policy")
    assert [(g.key, [p.value for p in g.buckets]) for g in by_policy.groups] == [
        ("fee_circumvention", [0, 1, 2, 0])
    ]
    assert values(run(db, "enforcement_actions", policy="fee_circumvention")) == [0, 1, 2, 0]
    assert values(run(db, "enforcement_actions", policy="spam")) == [0, 0, 0, 0]


def _dispute(db: Session, case_id: int, n: int, opened: Any, **fields: Any) -> None:
    buyer = db.scalars(select(Account).where(Account.side == "client")).first()
    seller = db.scalars(select(Account).where(Account.side == "freelancer")).first()
    assert buyer is not None and seller is not None
    db.add(
        Dispute(
            case_id=case_id, subject_type=SubjectType.contract, subject_ref=f"c-{n}",
            buyer_account_id=buyer.id, seller_account_id=seller.id, opened_by=Party.buyer,
            reason_code=fields.pop("reason_code", ReasonCode.not_delivered), amount_minor=5000,
            currency="EUR", opened_at=opened, response_due_at=opened + timedelta(days=3),
            **fields,
        )
    )  # fmt: skip


def test_disputes(db: Session, week: Week) -> None:
    resolved = {"status": DisputeStatus.resolved}
    _dispute(
        db, week.a.id, 1, at(18, 10), resolved_at=at(19, 10), resolution_seconds=86400,
        outcome=Outcome.full_refund, resolved_by=ResolvedBy.ruling,
        payment_status=PaymentStatus.refunded, **resolved,
    )  # fmt: skip
    _dispute(
        db, week.b.id, 2, at(18, 12), resolved_at=at(20, 12), resolution_seconds=172800,
        outcome=Outcome.release, resolved_by=ResolvedBy.agreement,
        payment_status=PaymentStatus.released, reason_code=ReasonCode.quality, **resolved,
    )  # fmt: skip
    _dispute(db, week.c.id, 3, at(20, 9), status=DisputeStatus.awaiting_response,
             payment_status=PaymentStatus.held)  # fmt: skip
    db.flush()
    assert values(run(db, "disputes_opened")) == [2, 0, 1, 0]
    by_reason = run(db, "disputes_opened", group_by="reason")
    assert {g.key: g.total.value for g in by_reason.groups} == {"not_delivered": 2, "quality": 1}
    assert values(run(db, "disputes_resolved")) == [0, 1, 1, 0]
    outcomes = run(db, "disputes_resolved", group_by="outcome")
    assert {g.key: g.total.value for g in outcomes.groups} == {"full_refund": 1, "release": 1}
    median = run(db, "dispute_resolution_median")
    assert values(median) == [None, 86400, 172800, None]
    assert nd(median.total) == (129600, None, 2)
    assert run(db, "dispute_resolution_p90").total.value == pytest.approx(86400 + 0.9 * 86400)


def test_handle_time_does_not_restart_at_a_resume(
    db: Session, week: Week, frozen: FrozenClock, settings: Settings
) -> None:
    # Ana takes D at 08:10, works until 09:00, holds it (waiting on the user), resumes at
    # 15:00 and decides at 15:10: 50 + 10 minutes of work.
    ana = principal(week.ana)
    frozen.set(at(21, 8) + timedelta(minutes=10))
    cases.assign(db, ana, week.d.id, staff_id=week.ana.id)
    frozen.set(at(21, 9))
    cases.hold(db, ana, week.d.id, until=at(21, 18), reason="Waiting on the user")
    frozen.set(at(21, 15))
    cases.resume(db, ana, week.d.id)
    frozen.set(at(21, 15) + timedelta(minutes=10))
    db.refresh(week.d)
    decide(db, ana, week.d, settings, departure_reason="Reviewed.")
    db.flush()
    assert values(run(db, "handle_time_median", reviewer=week.ana.id)) == [
        None, 2 * H, None, 1 * H,
    ]  # fmt: skip


def test_team_hours_count_only_staff_who_decided(
    db: Session, week: Week, frozen: FrozenClock
) -> None:
    admin = principal(make_staff(db, role=Role.admin, name="Admin"))
    for hour in range(10, 16):
        frozen.set(at(20, hour))
        timeline.add_note(db, admin, week.d.id, body=f"checked at {hour}")
    frozen.set(at(21, 9))
    db.flush()
    team = run(db, "decisions_per_hour")
    # Ana: 2 active hours on the 19th, Ben: 1 on the 20th; the admin decided nothing.
    assert nd(team.total) == (2 / 3, 2, 3)
    assert values(team) == [None, 0.5, 1.0, None]
    grouped = run(db, "decisions_per_hour", group_by="reviewer")
    assert {g.key for g in grouped.groups} == {str(week.ana.id), str(week.ben.id)}


def test_backlog_age_takes_a_bounded_number_of_statements(db: Session, week: Week) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    bind = db.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        for metric, group_by in (
            ("backlog_age_median", None),
            ("backlog_age_max", "queue"),
            ("backlog", "age_band"),
        ):
            for start in ("2026-11-18", "2025-11-01"):
                statements.clear()
                query = service.parse_query(metric, start, "2026-11-22", "day", {}, group_by)
                service.series(db, SYSTEM, query)
                # The longest closed case, then the ages (and the queues' names).
                assert len(statements) <= 3, (metric, start, len(statements))
    finally:
        event.remove(bind, "before_cursor_execute", count)
    median = service.series(
        db, SYSTEM, service.parse_query("backlog_age_median", "2025-11-01", "2026-11-22")
    )
    assert median.buckets[-1].value == (1 * H + 6 * 24 * H) / 2  # same as the short window
    # And the ages are read through index ranges, never a walk over every case.
    query = service.parse_query("backlog_age_median", "2026-11-18", "2026-11-22")
    source = _age_source(Ctx(db, SYSTEM, query))
    if bind.dialect.name == "sqlite":
        compiled = str(source.compile(bind, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(str(r[3]) for r in db.execute(text("EXPLAIN QUERY PLAN " + compiled)))
        assert "SCAN cases" not in plan, plan
        assert "ix_cases_unclosed_opened_at" in plan, plan
    else:
        statement = source.compile(bind)
        db.execute(text("SET LOCAL enable_seqscan = off"))
        rows = db.connection().exec_driver_sql("EXPLAIN " + str(statement), statement.params)
        plan = " | ".join(r[0] for r in rows)
        db.execute(text("SET LOCAL enable_seqscan = on"))
        assert "Seq Scan on cases" not in plan, plan


def test_the_line_beside_the_groups_adds_up_every_group(db: Session, week: Week) -> None:
    from tests.enforcement.conftest import make_account

    account = make_account(db, side="customer")
    db.add(
        IdentityVerification(
            account_id=account.id, kind=DocumentKind.passport,
            status=VerificationStatus.rejected, outcome=IdOutcome.reject,
            reasons=[f"reason_{i:02d}" for i in range(60)], request_sha256="f" * 64,
            submitted_by="tests", processed_at=at(20, 10),
        )
    )  # fmt: skip
    db.flush()
    reasons = run(db, "identity_reasons", group_by="reason")
    assert len(reasons.groups) == 50
    assert reasons.total.value == 60
    assert values(reasons) == [0, 0, 60, 0]
    reject = run(db, "identity_reject_rate")
    assert values(reject) == [None, None, 1.0, None]
    assert nd(reject.total) == (1.0, 1, 1)


def test_out_of_range_input_names_its_field() -> None:
    for kwargs, field in (
        ({"end": "0001-01-01"}, "end"),
        ({"start": "9999-12-31"}, "start"),
        ({"start": "0001-01-01T00:00:00+01:00", "end": "0001-01-05"}, "start"),
        ({"start": "9999-12-20", "end": "9999-12-31", "interval": "week"}, "start"),
    ):
        with pytest.raises(InvalidInput) as refused:
            service.parse_query("cases_opened", **kwargs)  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.field) == ("invalid_datetime", field)
    with pytest.raises(InvalidInput) as refused:
        service.parse_query("cases_opened", filters={"queue": "\x00"})
    assert (refused.value.code, refused.value.field) == ("invalid_filter", "queue")
