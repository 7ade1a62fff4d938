"""The QA API: a sample reviewed blind where the QA reviewer disagrees, scorecards with
Cohen's kappa on a known set, calibration sets, and the refusals (each writing nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from tests.quality.conftest import FEES_GREY, case_of, counts, decided, setup_world
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.kit.clock import FrozenClock

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def world(db: Session) -> Any:
    return setup_world(db)


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _refused(response: Any, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    if field is not None:
        assert body["field"] == field


def test_rates_through_the_api(client: TestClient, db: Session, world: Any) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    agent = make_staff(db)
    login_as(client, db, lead)
    before = counts(db)
    for bad in (1.5, -0.2):
        _refused(client.put("/v1/qa/rates", json={"rate": bad}), 422, "rate_out_of_range", "rate")
    assert counts(db) == before

    _ok(client.put("/v1/qa/rates", json={"rate": 0.1}))
    row = _ok(client.put("/v1/qa/rates", json={"staff_id": agent.id, "rate": 0.25}))
    assert (row["scope"], row["staff_id"], row["rate"]) == ("staff", agent.id, 0.25)
    listed = _ok(client.get("/v1/qa/rates"))
    assert [(r["scope"], r["rate"]) for r in listed["items"]] == [("default", 0.1), ("staff", 0.25)]
    assert listed["fallback_rate"] == 0.05

    login_as(client, db, make_staff(db, role=Role.qa))
    before = counts(db)
    _refused(client.put("/v1/qa/rates", json={"rate": 0.5}), 403, "permission_denied")
    assert counts(db) == before


def _review(
    client: TestClient, policy: str | None, action: str, *, right: bool = True
) -> dict[str, Any]:
    sample = _ok(client.post("/v1/qa/samples/next"))
    assert sample["original"] is None  # blind
    _ok(client.post(f"/v1/qa/samples/{sample['id']}/answer",
                    json={"policy_code": policy, "action": action}))  # fmt: skip
    shown = _ok(client.post(f"/v1/qa/samples/{sample['id']}/reveal"))
    body: dict[str, Any] = {"right_policy": right, "right_action": right}
    if shown["message_sent"]:
        body["message_quality"] = 4
    if not right:
        body["comment"] = "The messages only quote a marketplace invoice."
    return dict(_ok(client.post(f"/v1/qa/samples/{sample['id']}/score", json=body)))


def test_a_sample_where_the_qa_reviewer_disagrees_and_kappa_on_a_known_set(
    client: TestClient, db: Session, settings: Settings, world: Any, frozen: FrozenClock
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    agent = make_staff(db)
    qa = make_staff(db, role=Role.qa)
    other_qa = make_staff(db, role=Role.qa)
    # Four decisions by the agent: two warnings, two of no violation.
    made = [
        decided(db, settings, agent),
        decided(db, settings, agent),
        decided(db, settings, agent, no_violation=True),
        decided(db, settings, agent, no_violation=True),
    ]
    db.commit()
    login_as(client, db, lead)
    _refused(client.post("/v1/qa/samples", json={"decision_id": made[0].id, "reason": ""}),
             422, "reason_required", "reason")  # fmt: skip
    for d in made:
        _ok(client.post("/v1/qa/samples", json={"decision_id": d.id, "reason": "Audit"}), 201)
    _refused(client.post("/v1/qa/samples", json={"decision_id": made[0].id, "reason": "x"}),
             409, "already_sampled")  # fmt: skip

    # The QA reviewer takes the first sample and decides blind: no violation.
    login_as(client, db, qa)
    sample = _ok(client.post("/v1/qa/samples/next"))
    # Blind: neither the original nor its decision id (the decisions API would show it).
    assert sample["decision_id"] is None and sample["original"] is None
    sid = sample["id"]
    # Filters on the original match nothing before the reveal, whatever the original was.
    for probe in ({"policy_code": "fee_circumvention"}, {"decided_by_id": agent.id}):
        listed = _ok(client.get("/v1/qa/samples", params={"reviewer_id": qa.id, **probe}))
        assert listed["items"] == []
    before = counts(db)
    _refused(client.post(f"/v1/qa/samples/{sid}/reveal"), 409, "blind_answer_required")
    _refused(client.post(f"/v1/qa/samples/{sid}/answer", json={"action": "warn"}),
             422, "policy_required", "policy_code")  # fmt: skip
    assert counts(db) == before
    answered = _ok(client.post(f"/v1/qa/samples/{sid}/answer",
                               json={"policy_code": None, "action": "no_violation"}))  # fmt: skip
    assert answered["blind_label"] == "no_violation" and answered["agreed"] is None
    before = counts(db)
    _refused(client.post(f"/v1/qa/samples/{sid}/answer", json={"action": "no_violation"}),
             409, "already_answered")  # fmt: skip
    assert counts(db) == before

    # Another QA reviewer cannot work it.
    login_as(client, db, other_qa)
    before = counts(db)
    _refused(client.post(f"/v1/qa/samples/{sid}/reveal"), 403, "not_assigned")
    _refused(client.post(f"/v1/qa/samples/{sid}/score",
                         json={"right_policy": True, "right_action": True}),
             403, "not_assigned")  # fmt: skip
    assert counts(db) == before

    login_as(client, db, qa)
    shown = _ok(client.post(f"/v1/qa/samples/{sid}/reveal"))
    assert shown["label"] == "warn" and shown["sample"]["agreed"] is False
    assert shown["sample"]["decision_id"] == made[0].id == shown["decision_id"]
    assert [p["code"] for p in shown["policies"]] == ["fee_circumvention"]
    assert shown["decided_by_id"] == agent.id and shown["message_sent"] is True
    score = {"right_policy": False, "right_action": False, "message_quality": 3}
    _refused(client.post(f"/v1/qa/samples/{sid}/score", json=score), 422, "comment_required",
             "comment")  # fmt: skip
    score["comment"] = "A phone number alone is not fee circumvention."
    scored = _ok(client.post(f"/v1/qa/samples/{sid}/score", json=score))
    assert scored["status"] == "scored" and scored["original"]["label"] == "warn"
    before = counts(db)
    _refused(client.post(f"/v1/qa/samples/{sid}/score", json=score), 409, "already_scored")
    assert counts(db) == before

    # The three others: agrees on the warning and on both cases of no violation.
    _review(client, "fee_circumvention", "warn")
    _review(client, None, "no_violation")
    _review(client, None, "no_violation")
    assert client.post("/v1/qa/samples/next").status_code == 204

    login_as(client, db, lead)
    card = _ok(client.get("/v1/qa/scorecards", params={"group_by": "reviewer"}))
    (row,) = card["rows"]
    # warn/none, warn/warn, none/none, none/none: p_o = 3/4, p_e = (2*1 + 2*3)/16 = 1/2,
    # kappa = (3/4 - 1/2)/(1/2) = 0.5.
    assert (row["key"], row["samples"], row["agreed"]) == (str(agent.id), 4, 3)
    assert row["agreement_rate"] == 0.75
    assert row["kappa"] == pytest.approx(0.5, abs=1e-12)
    assert row["right_policy_rate"] == 0.75 and row["message_quality_mean"] == 3.5
    assert row["confusion"] == {
        "no_violation": {"no_violation": 2},
        "warn": {"no_violation": 1, "warn": 1},
    }
    disagreed = _ok(client.get("/v1/qa/samples", params={"agreed": "false"}))
    assert [s["id"] for s in disagreed["items"]] == [sid]
    page = _ok(client.get("/v1/qa/samples", params={"limit": 3}))
    rest = _ok(client.get("/v1/qa/samples", params={"limit": 3, "cursor": page["next_cursor"]}))
    assert len(page["items"]) == 3 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    _refused(client.get("/v1/qa/scorecards", params={"group_by": "weekday"}), 422,
             "invalid_group_by", "group_by")  # fmt: skip


def test_calibration_through_the_api(
    client: TestClient, db: Session, settings: Settings, world: Any
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    author = make_staff(db)
    reviewer = make_staff(db)
    outsider = make_staff(db)
    fee_case = case_of(db, decided(db, settings, author))
    db.commit()

    login_as(client, db, lead)
    gold = _ok(client.post("/v1/qa/calibration-sets", json={"name": "Fees", "description": ""}),
               201)  # fmt: skip
    base = f"/v1/qa/calibration-sets/{gold['id']}"
    item = _ok(client.post(f"{base}/items", json={
        "case_id": fee_case.id, "expected_policy_code": "fee_circumvention",
        "expected_action": "warn", "rationale": "Bank details: a first warning.",
    }), 201)  # fmt: skip
    _ok(client.post(f"{base}/assignments", json={"staff_ids": [reviewer.id]}))

    login_as(client, db, outsider)
    before = counts(db)
    _refused(client.post(f"{base}/items/{item['id']}/answer", json={"action": "no_violation"}),
             403, "not_assigned")  # fmt: skip
    assert counts(db) == before

    login_as(client, db, reviewer)
    (mine,) = _ok(client.get("/v1/qa/calibration/assignments"))
    assert (mine["set_name"], mine["items"], mine["answered"]) == ("Fees", 1, 0)
    view = _ok(client.get(f"/v1/qa/calibration/assignments/{gold['id']}"))
    assert view["items"][0]["expected_action"] is None  # blind until finished
    answer = _ok(client.post(f"{base}/items/{item['id']}/answer",
                             json={"action": "no_violation"}), 201)  # fmt: skip
    assert answer["right_action"] is False  # the set is finished: the result shows
    before = counts(db)
    _refused(client.post(f"{base}/items/{item['id']}/answer",
                         json={"policy_code": "fee_circumvention", "action": "warn"}),
             409, "already_answered")  # fmt: skip
    assert counts(db) == before
    result = _ok(client.get(f"/v1/qa/calibration/assignments/{gold['id']}/results"))
    (me,) = result["reviewers"]
    assert me["accuracy"] == 0.0
    (miss,) = me["missed"]
    assert miss["grey_areas"] == FEES_GREY
    _refused(client.get(f"{base}/results"), 403, "permission_denied")  # agents lack qa:read

    login_as(client, db, lead)
    everyone = _ok(client.get(f"{base}/results"))
    (item_result,) = everyone["items"]
    assert [d["staff_id"] for d in item_result["disagreements"]] == [reviewer.id]
    assert item_result["grey_areas"] == FEES_GREY
    _refused(client.delete(f"{base}/items/{item['id']}"), 409, "item_answered")


def test_release_through_the_api(
    client: TestClient, db: Session, settings: Settings, world: Any
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    agent = make_staff(db)
    qa = make_staff(db, role=Role.qa)
    other_qa = make_staff(db, role=Role.qa)
    decision = decided(db, settings, agent)
    db.commit()
    login_as(client, db, lead)
    _ok(client.post("/v1/qa/samples", json={"decision_id": decision.id, "reason": "Audit"}), 201)

    login_as(client, db, qa)
    sid = _ok(client.post("/v1/qa/samples/next"))["id"]
    released = _ok(client.post(f"/v1/qa/samples/{sid}/release", json={"reason": "My cousin"}))
    assert (released["status"], released["reviewer_id"]) == ("queued", None)
    assert client.post("/v1/qa/samples/next").status_code == 204  # never back to them

    login_as(client, db, other_qa)
    assert _ok(client.post("/v1/qa/samples/next"))["id"] == sid
    # The holder is away: a QA manager takes it back, with a reason.
    login_as(client, db, lead)
    before = counts(db)
    _refused(client.post(f"/v1/qa/samples/{sid}/take-back", json={}), 422, "reason_required",
             "reason")  # fmt: skip
    assert counts(db) == before
    back = _ok(client.post(f"/v1/qa/samples/{sid}/take-back", json={"reason": "On leave"}))
    assert back["status"] == "queued"
    login_as(client, db, make_staff(db, role=Role.specialist))
    before = counts(db)
    _refused(client.post(f"/v1/qa/samples/{sid}/take-back", json={"reason": "x"}), 403,
             "permission_denied")  # fmt: skip
    assert counts(db) == before


def test_calibration_refusals_that_protect_reviewers(
    client: TestClient, db: Session, settings: Settings, world: Any
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    author = make_staff(db)
    reviewer = make_staff(db)
    specialist = make_staff(db, role=Role.specialist)
    cases = [case_of(db, decided(db, settings, author)) for _ in range(2)]
    db.commit()
    login_as(client, db, lead)
    gold = _ok(client.post("/v1/qa/calibration-sets", json={"name": "Guarded"}), 201)
    base = f"/v1/qa/calibration-sets/{gold['id']}"
    items = [
        _ok(client.post(f"{base}/items", json={
            "case_id": c.id, "expected_policy_code": "fee_circumvention",
            "expected_action": "warn", "rationale": "Bank details.",
        }), 201)
        for c in cases
    ]  # fmt: skip
    _ok(client.post(f"{base}/assignments", json={"staff_ids": [reviewer.id]}))

    # A specialist holds qa:read but is not assigned: no gold answers, no results.
    login_as(client, db, specialist)
    _refused(client.get(base), 404, "set_not_found")
    _refused(client.get(f"{base}/results"), 403, "not_assigned")

    login_as(client, db, reviewer)
    _ok(client.post(f"{base}/items/{items[0]['id']}/answer",
                    json={"policy_code": "fee_circumvention", "action": "warn"}), 201)  # fmt: skip
    (mine,) = _ok(client.get("/v1/qa/calibration/assignments"))
    assert (mine["items"], mine["answered"], mine["completed_at"]) == (2, 1, None)

    # Removing the item the reviewer has left would strand them: refused once answering began.
    login_as(client, db, lead)
    before = counts(db)
    _refused(client.delete(f"{base}/items/{items[1]['id']}"), 409, "set_in_use")
    assert counts(db) == before
