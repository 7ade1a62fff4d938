"""The rules around hearing an appeal: a modification takes effect at once or not at all, the
appeal case closes only by the appeal's outcome, recusal follows the decision through a second
appeal and into approvals, and the marketplace can follow an appeal on a legal-tier decision."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.appeals.conftest import appealable, counts, hearer, hold, submit
from tests.enforcement.conftest import FACTS, SYSTEM, decide, held_case, principal
from tests.factories import login_as, make_staff
from vigil.accounts.models import Account, AccountStatus
from vigil.appeals.models import Appeal, AppealStatus
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role, Tier
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus
from vigil.config import Settings
from vigil.dsa.models import Statement
from vigil.enforcement.models import Decision, DecisionStatus


def _appeal(db: Session, appeal_id: int) -> Appeal:
    found = db.get(Appeal, appeal_id, populate_existing=True)
    assert found is not None
    db.commit()
    return found


def _modify(actions: list[dict[str, Any]], content_date: str = "2026-11-20") -> dict[str, Any]:
    return {
        "outcome": "modify",
        "reason": "Otra medida se ajusta mejor a lo que pasó.",
        "decision": {
            "violations": [{"policy": "fee_circumvention"}],
            "actions": actions,
            "departure_reason": "A different measure fits better.",
            "internal_reasoning": "Heard on appeal.",
            "statement": {
                "facts": FACTS,
                "content_type": ["CONTENT_TYPE_TEXT"],
                "content_date": content_date,
            },
        },
    }


PAYOUTS_14 = [{"type": "restrict", "scope": "payouts", "duration_days": 14}]
REMOVE_LISTING = [{"type": "remove", "scope": "listing", "target_ref": "L-1"}]


def test_a_modification_needing_a_second_approver_is_refused_before_anything_changes(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings)
    appeal_id = submit(client, a).json()["id"]
    hold(db, _appeal(db, appeal_id).case_id, hearer(db, client))
    before = counts(db)

    answer = client.post(f"/v1/appeals/{appeal_id}/decide", json=_modify(REMOVE_LISTING))

    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "modification_needs_approval"
    assert answer.json()["field"] == "decision.actions"
    assert counts(db) == before
    decision = db.get(Decision, a.decision.id, populate_existing=True)
    account = db.get(Account, a.account.id, populate_existing=True)
    assert decision is not None and decision.status == DecisionStatus.applied
    assert account is not None and account.status == AccountStatus.suspended
    assert _appeal(db, appeal_id).status == AppealStatus.open
    # Upholding or overturning is still open to the hearer.
    overturned = client.post(
        f"/v1/appeals/{appeal_id}/decide", json={"outcome": "overturn", "reason": "Too harsh."}
    )
    assert overturned.status_code == 200, overturned.text


def test_a_recused_specialist_cannot_approve_a_decision_on_the_case(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings)
    agent = make_staff(db, role=Role.agent)
    recused = make_staff(db, role=Role.specialist)
    case = held_case(db, agent, a.account)
    cases.recuse(db, case, [recused.id], "decided an earlier decision on this matter")
    pending = decide(
        db, principal(agent), case, settings, actions=REMOVE_LISTING,
        departure_reason="A listing, not the account.",
    )  # fmt: skip
    assert pending.status == DecisionStatus.pending_approval
    db.commit()
    login_as(client, db, recused)
    before = counts(db)

    answer = client.post(f"/v1/decisions/{pending.id}/approve", json={"reason": "Fine."})

    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "recused"
    assert counts(db) == before
    login_as(client, db, make_staff(db, role=Role.specialist))
    db.commit()
    assert client.post(f"/v1/decisions/{pending.id}/approve", json={}).status_code == 200


def test_the_appeal_case_is_not_closed_by_hand_while_the_appeal_is_open(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings)
    appeal_id = submit(client, a).json()["id"]
    case_id = _appeal(db, appeal_id).case_id
    holder = hearer(db, client)
    hold(db, case_id, holder)
    before = counts(db)

    answer = client.post(
        f"/v1/cases/{case_id}/close", json={"resolution": "other", "note": "Looked at it."}
    )

    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "appeal_open"
    assert counts(db) == before
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None and case.status == CaseStatus.assigned
    db.commit()
    # The outcome closes it.
    decided = client.post(
        f"/v1/appeals/{appeal_id}/decide", json={"outcome": "uphold", "reason": "It stands."}
    )
    assert decided.status_code == 200, decided.text
    case = db.get(Case, case_id, populate_existing=True)
    assert case is not None and case.status == CaseStatus.closed
    db.commit()
    # The statement's revision is audited as the person who heard the appeal.
    revised = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "dsa.statement.revise")
    ).one()
    assert (revised.actor_type, revised.actor_id) == ("staff", str(holder.id))
    db.commit()


def test_a_modification_keeps_the_content_date_of_the_original_statement(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings)
    assert a.statement is not None
    original_date = a.statement.fields["content_date"]
    appeal_id = submit(client, a).json()["id"]
    hold(db, _appeal(db, appeal_id).case_id, hearer(db, client))

    answer = client.post(
        f"/v1/appeals/{appeal_id}/decide", json=_modify(PAYOUTS_14, content_date="2026-11-21")
    )

    assert answer.status_code == 200, answer.text
    new_statement = db.scalar(
        select(Statement).where(Statement.decision_id == answer.json()["new_decision_id"])
    )
    assert new_statement is not None
    assert new_statement.fields["content_date"] == original_date == "2026-11-20"
    db.commit()


def test_a_second_appeal_recuses_everyone_who_decided_along_the_chain(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings)
    first_id = submit(client, a).json()["id"]
    first_hearer = hearer(db, client)
    hold(db, _appeal(db, first_id).case_id, first_hearer)
    modified = client.post(f"/v1/appeals/{first_id}/decide", json=_modify(PAYOUTS_14))
    assert modified.status_code == 200, modified.text
    replacement_id = modified.json()["new_decision_id"]

    second = submit(client, a, decision_id=replacement_id)

    assert second.status_code == 201, second.text
    recused = cases.recused_staff(db, second.json()["case_id"])
    db.commit()
    assert sorted(recused) == sorted([a.agent.id, first_hearer.id])


def test_the_marketplace_follows_and_withdraws_an_appeal_on_a_legal_tier_decision(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings)
    original = db.get(Case, a.decision.case_id)
    assert original is not None
    original.tier = Tier.legal
    db.commit()

    submitted = submit(client, a)

    assert submitted.status_code == 201, submitted.text
    body = submitted.json()
    assert body["decided_by"] is None
    seen = client.get(f"/v1/appeals/{body['id']}", headers=a.headers)
    assert seen.status_code == 200 and seen.json() == body
    listed = client.get("/v1/appeals", headers=a.headers).json()["items"]
    assert [x["id"] for x in listed] == [body["id"]]
    # Staff outside the legal tier do not see it.
    login_as(client, db, hearer(db))
    assert client.get(f"/v1/appeals/{body['id']}").status_code == 404
    withdrawn = client.post(
        f"/v1/appeals/{body['id']}/withdraw", json={"reason": "Ya no hace falta."},
        headers=a.headers,
    )  # fmt: skip
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert cases.get_case(db, SYSTEM, body["case_id"]).status == CaseStatus.closed
    db.commit()
