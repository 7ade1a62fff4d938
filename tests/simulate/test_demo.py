"""``load_demo``: the casework, the marketplace's events through detection, real decisions, and
on the same clock the disputes, appeals and QA the demo shows."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts.models import Account
from vigil.appeals.models import Appeal, AppealStatus
from vigil.auth import service as auth
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.disputes.models import (
    Dispute,
    DisputeProposal,
    DisputeReview,
    DisputeStatus,
    DisputeSubmission,
    Outcome,
    Party,
    ProposalStatus,
    ResolvedBy,
    SubmissionKind,
)
from vigil.enforcement.models import Decision, DecisionPolicy, DecisionStatus, Strike
from vigil.quality import service as quality
from vigil.quality.models import (
    CalibrationAnswer,
    CalibrationAssignment,
    CalibrationItem,
    QASample,
    QASamplingRate,
    SampleStatus,
)
from vigil.simulate import aftercare_texts, dispute_texts
from vigil.simulate.demo import DemoResult, load_demo
from vigil.simulate.models import SimulationTruth

# Big enough for every dispute story, each appeal outcome and a QA history; only the last
# two days of events go through detection, which is what costs time.
ACCOUNTS, DAYS, FEED_DAYS = 300, 20, 2


def _written_from(text: str, templates: tuple[str, ...] | list[str]) -> bool:
    """Whether ``text`` is one of ``templates`` with its ``{slots}`` filled."""
    for template in templates:
        parts = re.split(r"\{[a-z_]+\}", template)
        if re.fullmatch(".+?".join(re.escape(p) for p in parts), text, flags=re.S):
            return True
    return False


def _language(account: Account) -> str:
    lang = account.locale.split("-", 1)[0]
    return lang if lang in dispute_texts.DAYS else "en"


def test_demo_feeds_events_decides_and_fills_disputes_appeals_and_qa(
    session_factory: sessionmaker[Session], db: Session, settings: Settings
) -> None:
    result = load_demo(
        session_factory, accounts=ACCOUNTS, days=DAYS, seed=7, feed_days=FEED_DAYS,
        settings=settings,
    )  # fmt: skip
    assert result is not None
    assert result.refused == {}, "a service refused a step of the demo"
    _check_feed_and_decisions(db, result)
    _check_disputes(db, result)
    _check_appeals(db, result)
    _check_quality(db, result)


def _check_feed_and_decisions(db: Session, result: DemoResult) -> None:
    assert result.feed.events >= result.events_in_window

    # Rules fired, and the events that made them fire sit on the cases they opened.
    on_cases = db.scalars(
        select(Event).where(Event.case_id.is_not(None), Event.type != "report_filed")
    ).all()
    with_hits = [e for e in on_cases if e.hits]
    assert with_hits, "no event with rule hits is linked to a case"
    for event in with_hits[:20]:
        case = db.get(Case, event.case_id)
        assert case is not None and case.account_id == event.account_id
        assert all(h["name"] for h in event.hits)

    # Every user report the team worked arrived as a report_filed event, and the ones that
    # opened nothing else are linked to their case, with the reporter's words.
    reports = db.scalars(
        select(Case).where(Case.type == CaseType.user_report, Case.source_ref.is_not(None))
    ).all()
    assert reports
    linked = 0
    for case in reports:
        event = db.scalar(select(Event).where(Event.event_id == case.source_ref))
        assert event is not None and event.type == "report_filed"
        account = db.get(Account, case.account_id)
        assert account is not None
        assert event.counterparty_external_id == account.external_id
        assert event.payload["data"]["text"] == case.attributes["report_text"]
        assert event.payload["data"]["text"] in case.summary
        linked += event.case_id == case.id
    assert linked >= 1 and linked == result.reports_linked

    # Reviewers decided cases the plan closed: applied, the case closed, with the reviewer
    # named; actioned ones under the case's policy with an action (some restrictive, as the
    # plan's measure), the others as no violation.
    # (Decisions on appeal cases are the appeals' modifications, counted below.)
    on_team_cases = db.scalars(
        select(Decision)
        .join(Case, Case.id == Decision.case_id)
        .where(Decision.decided_by_id.is_not(None), Case.type != CaseType.appeal)
    ).all()
    assert len(on_team_cases) == result.decisions >= 1
    assert result.automated == db.scalar(
        select(func.count()).select_from(Decision).where(Decision.decided_by_id.is_(None))
    )
    kinds = Counter[str]()
    for decision in on_team_cases:
        case = db.get(Case, decision.case_id)
        assert case is not None and case.status is CaseStatus.closed
        assert decision.status in (DecisionStatus.applied, DecisionStatus.reversed)
        assert decision.internal_reasoning
        if decision.no_violation:
            kinds["no_violation"] += 1
            continue
        policy = db.scalar(
            select(DecisionPolicy.policy_code).where(DecisionPolicy.decision_id == decision.id)
        )
        assert policy == case.policy_code and decision.action is not None
        kinds[decision.action.value] += 1
    assert kinds["no_violation"] >= 1
    assert kinds["suspend"] + kinds["restrict"] >= 1, kinds
    assert (db.scalar(select(func.count()).select_from(Strike)) or 0) >= 1

    # Cases the team opened by hand claim no rule or model that left no record.
    for case in db.scalars(select(Case).where(Case.source_ref.is_(None))):
        if case.type is CaseType.detection and not case.attributes.get("rules"):
            assert "Rule " not in case.summary and "Model " not in case.summary


def _check_disputes(db: Session, result: DemoResult) -> None:
    disputes = db.scalars(select(Dispute).order_by(Dispute.id)).all()
    assert len(disputes) >= 14
    assert sum(result.disputes.values()) == len(disputes)
    by_status = Counter(d.status for d in disputes)
    for status in DisputeStatus:
        assert by_status[status] >= 1, f"no dispute {status}"

    awaiting = [d for d in disputes if d.status is DisputeStatus.awaiting_response]
    assert any(d.reminded_at is not None for d in awaiting), "no reminder near the deadline"
    defaulted = [d for d in disputes if d.respondent_defaulted]
    assert any(d.status is DisputeStatus.in_mediation for d in defaulted)
    assert any(d.status is DisputeStatus.resolved for d in defaulted)
    resolved = [d for d in disputes if d.status is DisputeStatus.resolved]
    assert {d.resolved_by for d in resolved} == set(ResolvedBy)
    partial = [d for d in resolved if d.outcome is Outcome.partial_refund]
    assert partial and all(
        d.refund_minor and d.release_minor and d.refund_minor + d.release_minor == d.amount_minor
        for d in partial
    )
    assert {Outcome.full_refund, Outcome.release} <= {d.outcome for d in resolved}

    # A proposal waits with one party's answer; another lapsed in silence.
    proposed = [d for d in disputes if d.status is DisputeStatus.proposed]
    for d in proposed:
        open_ = db.scalar(
            select(DisputeProposal).where(
                DisputeProposal.dispute_id == d.id, DisputeProposal.status == ProposalStatus.open
            )
        )
        assert open_ is not None
        assert (open_.buyer_answer is None) != (open_.seller_answer is None)
    assert db.scalar(
        select(DisputeProposal.id).where(DisputeProposal.status == ProposalStatus.lapsed)
    )

    # Both sides, in their own language; excerpts from the conversation; some files.
    for d in disputes:
        subs = db.scalars(select(DisputeSubmission).where(DisputeSubmission.dispute_id == d.id))
        sides = {s.party for s in subs if s.kind is SubmissionKind.statement}
        assert d.opened_by in sides
        if d.responded_at is not None:
            assert sides == set(Party)
    for sub in db.scalars(
        select(DisputeSubmission).where(DisputeSubmission.kind == SubmissionKind.statement)
    ):
        d = db.get(Dispute, sub.dispute_id)
        assert d is not None and sub.statement
        account = db.get(
            Account, d.buyer_account_id if sub.party is Party.buyer else d.seller_account_id
        )
        assert account is not None
        lang = _language(account)
        pools = [*dispute_texts.OPENER[lang].values(), *dispute_texts.RESPONDENT[lang].values()]
        assert _written_from(sub.statement, [t for pool in pools for t in pool]), sub.statement
    excerpts = db.scalars(
        select(DisputeSubmission).where(DisputeSubmission.kind == SubmissionKind.excerpts)
    ).all()
    assert excerpts and all(
        {e["author"] for e in s.excerpts} == {"buyer", "seller"} for s in excerpts
    )
    files = db.scalars(
        select(DisputeSubmission).where(DisputeSubmission.kind == SubmissionKind.file)
    ).all()
    assert files and all(f.content_type == "text/plain" and f.size_bytes for f in files)

    # A mediator opened an account review of a seller, linked to the dispute.
    review = db.scalar(select(DisputeReview))
    assert review is not None
    review_case = db.get(Case, review.case_id)
    assert review_case is not None and review_case.type is CaseType.account_review
    assert review_case.attributes["dispute_id"] == review.dispute_id

    # The ground truth sits beside each dispute.
    truths = db.scalars(select(SimulationTruth).where(SimulationTruth.subject_type == "dispute"))
    assert {t.subject_id for t in truths} == {d.id for d in disputes}


def _check_appeals(db: Session, result: DemoResult) -> None:
    appeals = db.scalars(select(Appeal).order_by(Appeal.id)).all()
    assert sum(result.appeals.values()) == len(appeals)
    statuses = Counter(a.status for a in appeals)
    for status in (
        AppealStatus.open,
        AppealStatus.upheld,
        AppealStatus.overturned,
        AppealStatus.modified,
    ):
        assert statuses[status] >= 1, f"no appeal {status}"
    specialist = auth.get_staff_by_email(db, "specialist@vigil.example")
    for appeal in appeals:
        decision = db.get(Decision, appeal.decision_id)
        account = db.get(Account, appeal.account_id)
        assert decision is not None and account is not None
        # The user wrote in their language; the reviewer who decided is kept off it.
        lang = _language(account)
        assert appeal.language == lang
        assert _written_from(
            appeal.text, [t for pool in aftercare_texts.APPEALS[lang].values() for t in pool]
        )
        recused = cases.recused_staff(db, appeal.case_id)
        assert decision.decided_by_id in recused
        case = db.get(Case, appeal.case_id)
        assert case is not None
        if appeal.status is AppealStatus.open:
            assert case.status is CaseStatus.open and specialist.id not in recused
            continue
        assert appeal.decided_by_id is not None
        assert appeal.decided_by_id != decision.decided_by_id
        assert appeal.decided_at is not None and appeal.decided_at >= appeal.submitted_at
        if appeal.status is AppealStatus.upheld:
            assert decision.status is DecisionStatus.applied
        else:
            assert decision.status is DecisionStatus.reversed
        if appeal.status is AppealStatus.modified:
            new = db.get(Decision, appeal.new_decision_id)
            assert new is not None and new.case_id == appeal.case_id
            assert new.status is DecisionStatus.applied
    truths = db.scalars(select(SimulationTruth).where(SimulationTruth.subject_type == "appeal"))
    assert {t.subject_id for t in truths} == {a.id for a in appeals}


def _check_quality(db: Session, result: DemoResult) -> None:
    rates = db.scalars(select(QASamplingRate)).all()
    assert {r.scope_key.split(":")[0] for r in rates} == {"default", "queue", "staff"}

    samples = db.scalars(select(QASample)).all()
    assert sum(result.samples.values()) == len(samples)
    statuses = Counter(s.status for s in samples)
    assert statuses[SampleStatus.scored] >= 2 and statuses[SampleStatus.queued] >= 1
    scored = [s for s in samples if s.status is SampleStatus.scored]
    assert any(s.agreed for s in scored) and any(not s.agreed for s in scored)
    assert all(s.comment for s in scored if not (s.right_policy and s.right_action))
    qa = auth.principal_for(auth.get_staff_by_email(db, "qa@vigil.example"))
    # Samples are never of the QA reviewer's own decisions, and scoring came after the
    # decision; waiting ones are the most recent.
    assert all(s.decided_by_id != qa.staff_id for s in samples)
    newest_scored = max(s.sampled_at for s in scored)
    assert any(s.sampled_at >= newest_scored for s in samples if s.status is SampleStatus.queued)

    # The scorecards show the reviewers' agreement below 100 % and a kappa.
    rows = quality.scorecards(db, qa, group_by="reviewer")
    assert sum(r.samples for r in rows) == len(scored)
    assert 0 < sum(r.agreed for r in rows) < len(scored)
    assert any(r.kappa is not None for r in rows)

    # One calibration set, assigned to both agents; the newest answered it all and missed the
    # grey-area case (the only item whose expected decision is lighter than the one taken).
    items = db.scalars(select(CalibrationItem)).all()
    assert 5 <= len(items) <= 8
    assignments = db.scalars(select(CalibrationAssignment)).all()
    agents = {a.staff_id for a in assignments}
    assert len(agents) == 2
    answers = db.scalars(select(CalibrationAnswer)).all()
    assert result.calibration_answers == len(answers) == len(items)
    assert len({a.staff_id for a in answers}) == 1
    missed = [a for a in answers if not (a.right_policy and a.right_action)]
    assert len(missed) == 1
    grey = db.get(CalibrationItem, missed[0].item_id)
    assert grey is not None and grey.rationale.startswith("Grey area")
    assert sum(1 for a in assignments if a.completed_at is not None) == 1
