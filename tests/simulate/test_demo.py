"""``load_demo``: the casework, the marketplace's events through detection, and real decisions."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts.models import Account
from vigil.cases.models import Case, CaseStatus, CaseType
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.enforcement.models import Decision, DecisionPolicy, DecisionStatus, Strike
from vigil.simulate.demo import load_demo


def test_demo_feeds_events_links_reports_and_decides(
    session_factory: sessionmaker[Session], db: Session, settings: Settings
) -> None:
    result = load_demo(
        session_factory, accounts=100, days=10, seed=7, feed_days=10, settings=settings
    )
    assert result is not None
    assert result.feed.events > result.events_generated // 2  # the whole history, plus reports

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

    # Reviewers decided some actioned cases under a policy: applied, the case closed, with
    # the reviewer named and strikes on the account's record.
    decided = db.execute(
        select(Decision, DecisionPolicy.policy_code)
        .join(DecisionPolicy, DecisionPolicy.decision_id == Decision.id)
        .where(Decision.decided_by_id.is_not(None))
    ).all()
    assert len(decided) == result.decisions >= 1
    assert result.automated == db.scalar(
        select(func.count()).select_from(Decision).where(Decision.decided_by_id.is_(None))
    )
    for decision, policy_code in decided:
        case = db.get(Case, decision.case_id)
        assert case is not None
        assert decision.status is DecisionStatus.applied and case.status is CaseStatus.closed
        assert policy_code == case.policy_code and decision.action is not None
        assert decision.internal_reasoning
    assert (db.scalar(select(func.count()).select_from(Strike)) or 0) >= 1

    # Cases the team opened by hand claim no rule or model that left no record.
    for case in db.scalars(select(Case).where(Case.source_ref.is_(None))):
        if case.type is CaseType.detection and not case.attributes.get("rules"):
            assert "Rule " not in case.summary and "Model " not in case.summary
