"""What became of an appeal (vigil.enforcement.appeal_state), read from the appeal case's
resolution and the decision's status: a withdrawn or duplicate appeal is not an upheld one,
and the precedent says the same as the case page."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.enforcement.conftest import SUSPEND_7, body, decide, held_case, make_account, staff
from vigil.accounts.models import Account
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseType, Resolution
from vigil.config import Settings
from vigil.enforcement import service
from vigil.enforcement.appeal_state import AppealState, appeal_states
from vigil.enforcement.models import Decision
from vigil.enforcement.precedent import similar_decisions
from vigil.enforcement.schemas import DecisionIn

pytestmark = pytest.mark.usefixtures("fees")

SYSTEM = Principal.system("tests")
CODE = "fee_circumvention"


def _decided(
    db: Session, settings: Settings, reviewer: tuple[StaffUser, Principal], account: Account,
    *, suspend: bool = False,
) -> Decision:  # fmt: skip
    user, actor = reviewer
    case = held_case(db, user, account, title="Bizum in a message", policy_code=CODE)
    if suspend:
        return decide(db, actor, case, settings, actions=SUSPEND_7, departure_reason="Twice.")
    return decide(db, actor, case, settings, departure_reason="Same account, a test.")


def _appeal(db: Session, decision: Decision, *, tier: Tier = Tier.specialist) -> Case:
    return cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.appeal,
            title=f"Appeal against decision {decision.id}",
            tier=tier,
            policy_code=CODE,
            account_id=decision.account_id,
            attributes={"appeal": {"decision_id": decision.id}},
        ),
    ).case


def _close(db: Session, case: Case, holder: StaffUser, resolution: Resolution) -> None:
    cases.assign(db, SYSTEM, case.id, staff_id=holder.id)
    cases.close(db, SYSTEM, case.id, resolution=resolution, note="Done.")


def test_each_state_of_an_appeal(db: Session, settings: Settings) -> None:
    reviewer = staff(db, Role.specialist)
    senior_user, senior = staff(db, Role.specialist)
    account = make_account(db)
    upheld, withdrawn, open_, duplicate_only, after_duplicate, never = (
        _decided(db, settings, reviewer, account) for _ in range(6)
    )
    overturned = _decided(db, settings, reviewer, account, suspend=True)
    modified = _decided(db, settings, reviewer, account, suspend=True)

    _close(db, _appeal(db, upheld), senior_user, Resolution.no_violation)
    _close(db, _appeal(db, withdrawn), senior_user, Resolution.withdrawn)
    _appeal(db, open_)
    _close(db, _appeal(db, duplicate_only), senior_user, Resolution.duplicate)
    # An appeal heard and upheld, then a later one closed as its duplicate: the heard one counts.
    heard = _appeal(db, after_duplicate)
    _close(db, heard, senior_user, Resolution.actioned)
    _close(db, _appeal(db, after_duplicate), senior_user, Resolution.duplicate)

    appeal = _appeal(db, overturned)
    service.reverse_decision(db, senior, overturned.id, "A joke.", settings=settings)
    _close(db, appeal, senior_user, Resolution.actioned)
    # Reversed, and a lighter decision (a warning) taken on the appeal case instead.
    appeal = _appeal(db, modified)
    service.reverse_decision(db, senior, modified.id, "A warning is enough.", settings=settings)
    cases.assign(db, SYSTEM, appeal.id, staff_id=senior_user.id)
    db.flush()
    # As the appeals service does when it hears a modification (vigil.appeals.hearing).
    service.decide(
        db, senior, appeal.id, DecisionIn(**body(departure_reason="A warning is enough.")),
        settings=settings, hearing_appeal=True,
    )  # fmt: skip

    ids = [d.id for d in (upheld, withdrawn, open_, duplicate_only, after_duplicate, never,
                          overturned, modified)]  # fmt: skip
    states = {i: a.state for i, a in appeal_states(db, ids).items()}
    assert states == {
        upheld.id: AppealState.upheld,
        withdrawn.id: AppealState.withdrawn,
        open_.id: AppealState.under_appeal,
        after_duplicate.id: AppealState.upheld,
        overturned.id: AppealState.overturned,
        modified.id: AppealState.modified,
    }
    assert appeal_states(db, [after_duplicate.id])[after_duplicate.id].case_id == heard.id
    assert appeal_states(db, []) == {}


def test_legal_tier_appeals_are_left_out_on_request(db: Session, settings: Settings) -> None:
    reviewer = staff(db, Role.specialist)
    decision = _decided(db, settings, reviewer, make_account(db))
    appeal = _appeal(db, decision, tier=Tier.legal)
    assert appeal_states(db, [decision.id])[decision.id].case_id == appeal.id
    assert appeal_states(db, [decision.id], include_legal=False) == {}


def test_the_precedent_does_not_call_a_withdrawn_appeal_upheld(
    db: Session, settings: Settings
) -> None:
    reviewer_user, reviewer = staff(db, Role.specialist)
    withdrawn = _decided(db, settings, (reviewer_user, reviewer), make_account(db))
    upheld = _decided(db, settings, (reviewer_user, reviewer), make_account(db))
    _close(db, _appeal(db, withdrawn), reviewer_user, Resolution.withdrawn)
    _close(db, _appeal(db, upheld), reviewer_user, Resolution.insufficient_evidence)
    case = held_case(db, reviewer_user, make_account(db), title="Bizum again", policy_code=CODE)
    _, agent = staff(db)

    found = {p.decision_id: p for p in similar_decisions(db, agent, case, limit=10)}
    assert (found[withdrawn.id].appealed, found[withdrawn.id].appeal_outcome) == (
        True,
        "withdrawn",
    )
    assert found[upheld.id].appeal_outcome == "upheld"
