"""The quality assurance console over HTTP: the blind review never shows the original
decision until the blind answer is in, the reveal and the scoring form with its refusals,
scorecards with known figures, calibration sets end to end, and who may open what."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, logout, make_staff
from tests.web.test_decision_http import FACTS, decision_case
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.config import Settings
from vigil.enforcement import service as enforcement
from vigil.enforcement.schemas import DecisionIn
from vigil.quality import service as qa
from vigil.quality.models import (
    CalibrationAnswer,
    CalibrationAssignment,
    CalibrationItem,
    QASample,
    QASamplingRate,
    SampleStatus,
)
from vigil.quality.scores import ScoreRow
from vigil.web.quality import FEW_SAMPLES, _score_row, verdict

SYSTEM = Principal.system("test")
REASONING = "Bank details sent twice in one thread; the client was pushed to pay by transfer."
SUSPEND_REASON = "Second request in a week, with a threat to leave bad reviews."


def _principal(user: StaffUser) -> Principal:
    return auth_service.principal_for(user)


class Decided(NamedTuple):
    id: int
    case_id: int


def decided(
    db: Session,
    settings: Settings,
    holder: StaffUser,
    *,
    action: str = "suspend",
    policy: str | None = "fee_circumvention",
    title: str = "Asked to pay outside the platform",
) -> Decided:
    """A case about a new account held by ``holder`` and ``holder``'s applied decision on it
    (committed): ``suspend`` 7 days, ``warn``, or ``no_violation``. Ids only: reading a
    committed row again would open a transaction that holds SQLite's write lock."""
    _, _, case_id = decision_case(db, holder=holder, title=title)
    body: dict[str, Any] = {"internal_reasoning": REASONING}
    if policy is None:
        body.update(no_violation=True, message={"channels": []})
    else:
        body["violations"] = [{"policy": policy}]
        if action == "suspend":
            body.update(
                actions=[{"type": "suspend", "scope": "account", "duration_days": 7}],
                departure_reason=SUSPEND_REASON,
                statement={
                    "facts": FACTS,
                    "content_type": ["CONTENT_TYPE_TEXT"],
                    "content_date": "2026-11-20",
                },
            )
        else:
            body["actions"] = [{"type": action, "scope": "account"}]
    decision = enforcement.decide(
        db, _principal(holder), case_id, DecisionIn.model_validate(body), settings=settings
    )
    made = Decided(decision.id, decision.case_id)
    db.commit()
    return made


def sampled(db: Session, decision: Decided) -> int:
    sample_id = qa.sample_decision(db, SYSTEM, decision.id, "picked for the test").id
    db.commit()
    return sample_id


def count(db: Session, model: type) -> int:
    db.expire_all()
    n = int(db.scalar(select(func.count()).select_from(model)) or 0)
    db.rollback()
    return n


def fresh(db: Session, model: type, row_id: Any) -> Any:
    """The row as the database has it now, detached (readable after the read ends)."""
    db.expire_all()
    row = db.get(model, row_id)
    if row is not None:
        db.expunge(row)
    db.rollback()
    return row


def field_error(html: str, key: str) -> str:
    found = re.search(rf'id="err-{key}"[^>]*>(.*?)</div>', html, re.S)
    return found.group(1) if found else ""


def _story(client: TestClient, db: Session, settings: Settings) -> tuple[str, int, Decided]:
    """An agent's 7-day suspension, sampled; a QA reviewer logged in holding it."""
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["es", "en"])
    decision = decided(db, settings, agent)
    sample = sampled(db, decision)
    reviewer = make_staff(db, role=Role.qa, name="Quinn Auditor")
    csrf = login_as(client, db, reviewer)
    taken = client.post("/qa/next", data={"csrf_token": csrf}, follow_redirects=False)
    assert taken.status_code == 303
    assert taken.headers["location"] == f"/qa/samples/{sample}"
    return csrf, sample, decision


# --- blind, then the reveal ------------------------------------------------------------------


def test_the_blind_page_never_shows_the_original_decision(
    client: TestClient, db: Session, settings: Settings
) -> None:
    csrf, sample, decision = _story(client, db, settings)
    html = client.get(f"/qa/samples/{sample}").text
    assert "blind review" in html
    # The evidence is there: the account, the case's summary, the form.
    assert "María G." in html
    assert "Me pidió que le pagara por fuera de la plataforma." in html
    assert 'id="qa-decision-form"' in html
    # Nothing of the decision: who made it, why, what it did, what the user was told.
    assert "Elena Ruiz" not in html
    assert REASONING not in html and SUSPEND_REASON not in html
    assert "7 days" not in html
    assert "suspended" not in html  # the account's status, the restriction
    assert 'id="qa-compare"' not in html and "Original decision" not in html
    assert "Pagos fuera de la plataforma" not in html  # the message's subject (Spanish)
    assert f"/cases/{decision.case_id}/decision" not in html
    # Nor does asking for the reveal out of turn.
    early = client.post(f"/qa/samples/{sample}/reveal", data={"csrf_token": csrf})
    assert early.status_code == 409
    assert "record your own decision" in early.text
    assert "Elena Ruiz" not in early.text and REASONING not in early.text
    assert fresh(db, QASample, sample).status == SampleStatus.assigned


def test_answering_blind_reveals_the_original_side_by_side(
    client: TestClient, db: Session, settings: Settings
) -> None:
    csrf, sample, _ = _story(client, db, settings)
    sent = client.post(
        f"/qa/samples/{sample}/answer",
        data={"csrf_token": csrf, "policy": "fee_circumvention", "action": "warn"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"].startswith(f"/qa/samples/{sample}?notice=answered")
    html = client.get(sent.headers["location"]).text
    compare = re.search(r'id="qa-compare".*?</table>', html, re.S)
    assert compare is not None
    table = compare.group(0)
    assert "Elena Ruiz" in table and REASONING in table
    action_row = re.search(r'id="compare-action".*?</tr>', table, re.S)
    policy_row = re.search(r'id="compare-policy".*?</tr>', table, re.S)
    assert action_row is not None and policy_row is not None
    assert "differs" in action_row.group(0) and "Warn" in action_row.group(0)
    assert "Suspend" in action_row.group(0) and "7 days" in action_row.group(0)
    assert "same" in policy_row.group(0) and "differs" not in policy_row.group(0)
    # The policy once, with the version applied; the action with its scope and length.
    assert "Fee circumvention and off-platform payment v1" in policy_row.group(0)
    assert "(fee_circumvention)" not in policy_row.group(0)
    assert "Suspend · account · 7 days" in action_row.group(0)
    # The finding is neutral: it says what differs, in no alarm colour.
    verdict = re.search(r'<span class="chip qa-verdict (\w+)" id="qa-agreement">([^<]*)<', html)
    assert verdict is not None and verdict.groups() == ("differs", "you differ on the action")
    reveal = re.search(r'id="reveal".*?</section>', html, re.S)
    assert reveal is not None and "chip bad" not in reveal.group(0)
    # The comparison heads the left column, next to the score form (not above both).
    assert html.index('class="case-main"') < html.index('id="reveal"')
    assert html.index('id="reveal"') < html.index('id="qa-score-form"')
    assert "Pagos fuera de la plataforma" in html  # the message the user got
    assert 'id="qa-score-form"' in html
    row = fresh(db, QASample, sample)
    assert row.status == SampleStatus.revealed and row.agreed is False


def test_a_sample_answered_through_the_api_is_revealed_by_a_button(
    client: TestClient, db: Session, settings: Settings
) -> None:
    csrf, sample, _ = _story(client, db, settings)
    reviewer = db.scalar(select(QASample.reviewer_id).where(QASample.id == sample))
    user = db.get(StaffUser, reviewer)
    assert user is not None
    qa.blind_answer(db, _principal(user), sample, policy_code="fee_circumvention", action="ban")
    db.commit()
    html = client.get(f"/qa/samples/{sample}").text
    assert "Show the original decision" in html and "Ban" in html
    assert "Elena Ruiz" not in html and REASONING not in html and 'id="qa-compare"' not in html
    shown = client.post(
        f"/qa/samples/{sample}/reveal", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert shown.status_code == 303
    html = client.get(f"/qa/samples/{sample}").text
    assert 'id="qa-compare"' in html and "Elena Ruiz" in html
    assert fresh(db, QASample, sample).status == SampleStatus.revealed


def test_a_blind_answer_out_of_shape_is_refused_on_its_field(
    client: TestClient, db: Session, settings: Settings
) -> None:
    csrf, sample, _ = _story(client, db, settings)
    url = f"/qa/samples/{sample}/answer"
    missing = client.post(url, data={"csrf_token": csrf, "policy": "", "action": ""})
    assert missing.status_code == 422
    assert "Choose the policy violated" in field_error(missing.text, "policy")
    assert "Choose an action" in field_error(missing.text, "action")
    mixed = client.post(url, data={"csrf_token": csrf, "policy": "no_violation", "action": "ban"})
    assert mixed.status_code == 422
    assert "takes no action" in field_error(mixed.text, "action")
    assert 'aria-invalid="true"' in mixed.text
    violation_without_action = client.post(
        url, data={"csrf_token": csrf, "policy": "fee_circumvention", "action": "no_violation"}
    )
    assert violation_without_action.status_code == 422
    assert "A violation needs an action" in field_error(violation_without_action.text, "action")
    action_without_policy = client.post(
        url, data={"csrf_token": csrf, "policy": "", "action": "warn"}
    )
    assert action_without_policy.status_code == 422
    assert "Choose the policy violated" in field_error(action_without_policy.text, "policy")
    assert field_error(action_without_policy.text, "action") == ""
    unknown = client.post(url, data={"csrf_token": csrf, "policy": "nope", "action": "warn"})
    assert unknown.status_code == 422
    assert "no policy &#39;nope&#39;" in field_error(unknown.text, "policy")
    # Still blind: nothing was recorded, nothing revealed.
    for response in (missing, mixed, violation_without_action, action_without_policy, unknown):
        assert "Elena Ruiz" not in response.text and REASONING not in response.text
    row = fresh(db, QASample, sample)
    assert row.status == SampleStatus.assigned and row.blind_label is None


def test_scoring_refusals_are_shown_on_their_fields_and_write_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    csrf, sample, _ = _story(client, db, settings)
    client.post(
        f"/qa/samples/{sample}/answer",
        data={"csrf_token": csrf, "policy": "fee_circumvention", "action": "warn"},
    )
    url = f"/qa/samples/{sample}/score"
    nothing = client.post(url, data={"csrf_token": csrf})
    assert nothing.status_code == 422
    assert "right policy" in field_error(nothing.text, "right_policy")
    assert "right action" in field_error(nothing.text, "right_action")
    assert "Rate the message" in field_error(nothing.text, "message_quality")
    no_comment = client.post(
        url,
        data={
            "csrf_token": csrf,
            "right_policy": "yes",
            "right_action": "no",
            "message_quality": "4",
            "comment": "  ",
        },
    )
    assert no_comment.status_code == 422
    assert "comment is required" in field_error(no_comment.text, "comment")
    # A message was sent, so "no message" is the service's refusal, on the same field.
    unrated = client.post(
        url,
        data={
            "csrf_token": csrf,
            "right_policy": "yes",
            "right_action": "yes",
            "message_quality": "na",
        },
    )
    assert unrated.status_code == 422
    assert "rate the message" in field_error(unrated.text, "message_quality")
    assert fresh(db, QASample, sample).status == SampleStatus.revealed

    done = client.post(
        url,
        data={
            "csrf_token": csrf,
            "right_policy": "yes",
            "right_action": "no",
            "message_quality": "4",
            "comment": "A first offence: the ladder says warn.",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    row = fresh(db, QASample, sample)
    assert row.status == SampleStatus.scored
    assert (row.right_policy, row.right_action, row.message_quality) == (True, False, 4)
    assert row.comment == "A first offence: the ladder says warn."
    page = client.get(done.headers["location"]).text
    assert "Score recorded." in page and 'id="qa-next"' in page
    again = client.post(
        url,
        data={
            "csrf_token": csrf,
            "right_policy": "yes",
            "right_action": "yes",
            "message_quality": "5",
        },
    )
    assert again.status_code == 409
    assert "already scored" in again.text
    assert fresh(db, QASample, sample).right_action is False


def test_next_sample_with_nothing_waiting_goes_home_and_says_so(
    client: TestClient, db: Session
) -> None:
    csrf = login_as(client, db, make_staff(db, role=Role.qa))
    response = client.post("/qa/next", data={"csrf_token": csrf})
    assert response.status_code == 200
    assert "No sample is waiting for review" in response.text


# --- scorecards ------------------------------------------------------------------------------


def _review(db: Session, qa_user: StaffUser, sample: int, policy: str, action: str) -> None:
    """``qa_user`` takes ``sample``, answers it blind, reveals and scores it (the action is
    marked wrong exactly when the blind answer differs)."""
    p = _principal(qa_user)
    taken = qa.next_sample(db, p)
    assert taken is not None and taken.id == sample
    answered = qa.blind_answer(db, p, sample, policy_code=policy, action=action)
    qa.reveal(db, p, sample)
    agreed = bool(answered.agreed)
    qa.score(
        db,
        p,
        sample,
        qa.ScoreIn(
            right_policy=True,
            right_action=agreed,
            message_quality=4,
            comment=None if agreed else "Another action.",
        ),
    )
    db.commit()


def test_scorecards_show_agreement_and_kappa_of_a_known_set(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """Four warnings and suspensions by one agent, re-decided blind: originals
    warn, warn, suspend, suspend; blind warn, suspend, suspend, suspend. Agreement 3/4;
    p_e = (2·1 + 2·3) / 16 = 1/2, so kappa = (3/4 - 1/2) / (1 - 1/2) = 0.50."""
    agent = make_staff(db, role=Role.agent, name="Ana Agent", languages=["es", "en"])
    qa_user = make_staff(db, role=Role.qa, name="Quinn Auditor")
    plan = [("warn", "warn"), ("warn", "suspend"), ("suspend", "suspend"), ("suspend", "suspend")]
    for original, blind in plan:
        sample = sampled(db, decided(db, settings, agent, action=original))
        _review(db, qa_user, sample, "fee_circumvention", blind)
    login_as(client, db, qa_user)
    html = client.get("/qa/scorecards").text
    table = re.search(r'id="scorecard-reviewer".*?</table>', html, re.S)
    assert table is not None
    row = re.search(
        r"<tr[^>]*>\s*<th scope=\"row\"[^>]*>Ana Agent</th>.*?</tr>", table.group(0), re.S
    )
    assert row is not None
    cells = row.group(0)
    assert re.search(r'class="num">4</td>\s*<td class="num">3</td>', cells)
    assert '<span class="qa-agreement">75%</span>' in cells
    assert '<span class="qa-kappa">0.50</span>' in cells
    # Four samples: the kappa carries a caution, and the figures are greyed.
    assert '<span class="hint qa-kappa-note">few samples</span>' in cells
    assert "qa-few" in cells
    # Message quality with its scale.
    assert '<td class="num">4.0 / 5</td>' in cells
    assert "Agent reviewed" in table.group(0)
    policy_table = re.search(r'id="scorecard-policy".*?</table>', html, re.S)
    assert policy_table is not None
    assert (
        '<a href="/policies/fee_circumvention">Fee circumvention and off-platform payment</a>'
        in policy_table.group(0)
    )
    # A period before any decision: nothing to show, and no made-up figures. Days are
    # written as the console writes them (ISO is accepted too) and shown back that way.
    empty = client.get("/qa/scorecards?period=dates&since=1 Jan 2020&until=2020-01-31").text
    assert "No scored sample in this period." in empty and "75%" not in empty
    assert 'value="1 Jan 2020"' in empty and 'value="31 Jan 2020"' in empty
    bad = client.get("/qa/scorecards?period=dates&since=30 Nov 2026&until=1 Nov 2026")
    assert bad.status_code == 422
    assert "before the start day" in field_error(bad.text, "until")
    unreadable = client.get("/qa/scorecards?period=dates&since=11/01/2026")
    assert unreadable.status_code == 422
    assert "like 1 Nov 2026" in field_error(unreadable.text, "since")


def test_kappa_is_a_dash_with_its_reason_when_undefined(
    client: TestClient, db: Session, settings: Settings
) -> None:
    agent = make_staff(db, role=Role.agent, name="Solo Agent", languages=["es", "en"])
    qa_user = make_staff(db, role=Role.qa)
    sample = sampled(db, decided(db, settings, agent, action="warn"))
    _review(db, qa_user, sample, "fee_circumvention", "warn")
    login_as(client, db, qa_user)
    html = client.get("/qa/scorecards?period=7").text
    row = re.search(r"Solo Agent</th>.*?</tr>", html, re.S)
    assert row is not None
    assert '<span class="qa-kappa">—</span>' in row.group(0)
    assert "fewer than 2 scored samples" in row.group(0)


# --- sampling rates --------------------------------------------------------------------------


def test_a_policy_lead_sets_a_rate_and_a_bad_rate_is_refused_on_its_field(
    client: TestClient, db: Session
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    csrf = login_as(client, db, lead)
    home = client.get("/qa").text
    assert 'id="qa-rate-form"' in home
    for value, message in (("1.5", "between 0 and 1"), ("lots", "a share from 0 to 1")):
        refused = client.post(
            "/qa/rates", data={"csrf_token": csrf, "scope": "default", "rate": value}
        )
        assert refused.status_code == 422
        assert message in field_error(refused.text, "rate")
        assert 'aria-invalid="true"' in refused.text
    assert count(db, QASamplingRate) == 0
    saved = client.post(
        "/qa/rates",
        data={"csrf_token": csrf, "scope": "default", "rate": "10%"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    rates = qa.list_rates(db, SYSTEM)
    assert [(r.queue_id, r.staff_id, r.rate) for r in rates] == [(None, None, 0.1)]
    db.rollback()
    assert "10.0%" in client.get("/qa?notice=rate_saved").text


# --- calibration -----------------------------------------------------------------------------


def test_calibration_from_creation_to_results_with_grey_area_guidance(
    client: TestClient, db: Session, settings: Settings
) -> None:
    holder = make_staff(db, role=Role.agent, name="Case Holder", languages=["es", "en"])
    gold_warn = decided(db, settings, holder, action="warn", title="A portfolio link with prices")
    gold_none = decided(db, settings, holder, policy=None, title="A link to past work only")
    answerer = make_staff(db, role=Role.agent, name="Rita Reviewer", languages=["en"])
    lead = make_staff(db, role=Role.policy_lead, name="Pat Lead")
    answerer_id = answerer.id
    db.commit()

    csrf = login_as(client, db, lead)
    made = client.post(
        "/qa/calibration",
        data={"csrf_token": csrf, "name": "Off-platform links", "description": "Portfolio links."},
        follow_redirects=False,
    )
    assert made.status_code == 303
    set_url = made.headers["location"].split("?")[0]
    set_id = int(set_url.rsplit("/", 1)[1])
    # An item needs a rationale, and a closed case.
    refused = client.post(
        f"{set_url}/items",
        data={"csrf_token": csrf, "case_id": str(gold_warn.case_id), "policy": "fee_circumvention",
              "action": "warn", "rationale": ""},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "rationale" in field_error(refused.text, "rationale")
    assert count(db, CalibrationItem) == 0
    for decision, policy, action, why in (
        (gold_warn, "fee_circumvention", "warn", "Prices on the linked page make it a checkout."),
        (gold_none, "no_violation", "no_violation", "A page with work only is allowed."),
    ):
        added = client.post(
            f"{set_url}/items",
            data={"csrf_token": csrf, "case_id": str(decision.case_id), "policy": policy,
                  "action": action, "rationale": why},
            follow_redirects=False,
        )  # fmt: skip
        assert added.status_code == 303, added.text
    nobody = client.post(f"{set_url}/assign", data={"csrf_token": csrf})
    assert nobody.status_code == 422
    assert "at least one reviewer" in field_error(nobody.text, "staff_ids")
    assigned = client.post(
        f"{set_url}/assign",
        data={"csrf_token": csrf, "staff_ids": [str(answerer_id)]},
        follow_redirects=False,
    )
    assert assigned.status_code == 303
    assert count(db, CalibrationAssignment) == 1
    listed = client.get("/qa/calibration").text
    assert "Off-platform links" in listed and "built-in method" not in listed
    assert re.search(r'<td class="num">\s*2\s*</td>', listed)  # the set's two gold cases
    logout(client)

    # The reviewer answers blind, item by item.
    csrf = login_as(client, db, answerer)
    mine = client.get("/qa").text
    assert "Off-platform links" in mine and "0 of 2" in mine and "built-in method" not in mine
    first = client.get(set_url).text
    assert "case 1 of 2" in first
    assert "Prices on the linked page" not in first  # the expected decision stays hidden
    assert REASONING not in first and "Case Holder" not in first
    items = list(
        db.scalars(
            select(CalibrationItem.id)
            .where(CalibrationItem.set_id == set_id)
            .order_by(CalibrationItem.id)
        )
    )
    db.rollback()
    # Both answered as fee circumvention with a warning: the second is a miss.
    for item in items:
        answered = client.post(
            f"{set_url}/items/{item}/answer",
            data={"csrf_token": csrf, "policy": "fee_circumvention", "action": "warn"},
            follow_redirects=False,
        )
        assert answered.status_code == 303
    twice = client.post(
        f"{set_url}/items/{items[0]}/answer",
        data={"csrf_token": csrf, "policy": "fee_circumvention", "action": "warn"},
    )
    assert twice.status_code == 409 and "already answered" in twice.text
    assert count(db, CalibrationAnswer) == 2
    results = client.get(f"{set_url}?notice=set_done").text
    mine = re.search(r'id="qa-my-result".*?</section>', results, re.S)
    assert mine is not None and "50%" in mine.group(0)
    misses = re.search(r'id="qa-misses".*?</section>', results, re.S)
    assert misses is not None
    assert f"Case #{gold_none.case_id}" in misses.group(0)
    assert "Sharing a portfolio link" in misses.group(0)  # the grey area that settles it
    assert 'href="/policies/fee_circumvention"' in misses.group(0)
    logout(client)

    # The policy lead sees the results per reviewer and per item.
    login_as(client, db, lead)
    overview = client.get(set_url).text
    per_item = re.search(r'id="qa-results-items".*?</section>', overview, re.S)
    assert per_item is not None
    assert "Rita Reviewer</strong> answered" in per_item.group(0)
    assert "0 of 1 agree" in per_item.group(0) and "1 of 1 agree" in per_item.group(0)
    # A miss says what was wrong, in words; each gold case links to its case.
    assert '<span class="chip warning">wrong policy</span>' in per_item.group(0)
    assert '<span class="chip warning">wrong action</span>' in per_item.group(0)
    assert f'<a href="/cases/{gold_none.case_id}">Case #{gold_none.case_id}</a>' in per_item.group(
        0
    )
    # One reviewers table: progress and accuracy together.
    reviewers = re.search(r'id="qa-results-reviewers".*?</table>', overview, re.S)
    assert reviewers is not None
    row = re.search(r"Rita Reviewer.*?</tr>", reviewers.group(0), re.S)
    assert row is not None and "2 of 2" in row.group(0) and "50%" in row.group(0)
    assert overview.count("2 of 2") == 1


# --- who may open what -----------------------------------------------------------------------


def test_an_agent_cannot_open_samples_or_scorecards(
    client: TestClient, db: Session, settings: Settings
) -> None:
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["es", "en"])
    sample = sampled(db, decided(db, settings, agent))
    csrf = login_as(client, db, agent)
    page = client.get(f"/qa/samples/{sample}")
    assert page.status_code == 403
    assert REASONING not in page.text
    assert client.get("/qa/scorecards").status_code == 403
    assert client.post("/qa/next", data={"csrf_token": csrf}).status_code == 403
    refused = client.post("/qa/rates", data={"csrf_token": csrf, "scope": "default", "rate": "1"})
    assert refused.status_code == 403
    assert count(db, QASamplingRate) == 0
    # Their own QA home has only what they may do: calibration sets.
    home = client.get("/qa").text
    assert "Calibration sets assigned to me" in home
    assert 'id="qa-next"' not in home and 'id="qa-rate-form"' not in home


def test_a_qa_reviewer_has_no_calibration_management_and_a_stranger_no_set(
    client: TestClient, db: Session
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    set_id = qa.create_set(db, _principal(lead), "Hidden", "").id
    outsider = make_staff(db, role=Role.agent)
    reviewer = make_staff(db, role=Role.qa)
    db.commit()
    csrf = login_as(client, db, reviewer)
    denied = client.post("/qa/calibration", data={"csrf_token": csrf, "name": "Mine"})
    assert denied.status_code == 403
    logout(client)
    login_as(client, db, outsider)
    assert client.get(f"/qa/calibration/{set_id}").status_code == 404


def test_forms_without_the_csrf_token_are_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    _, sample, _ = _story(client, db, settings)
    client.headers.pop("X-CSRF-Token", None)
    response = client.post(
        f"/qa/samples/{sample}/answer", data={"policy": "fee_circumvention", "action": "warn"}
    )
    assert response.status_code == 403
    assert fresh(db, QASample, sample).status == SampleStatus.assigned


def test_the_case_is_never_the_qa_reviewers_to_touch(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """The blind page offers no reveal of personal data (it would render the case page, with
    its decision) and no case actions."""
    _, sample, decision = _story(client, db, settings)
    html = client.get(f"/qa/samples/{sample}").text
    assert f'action="/cases/{decision.case_id}/reveal"' not in html
    assert f"/cases/{decision.case_id}/cluster" not in html
    case = fresh(db, Case, decision.case_id)
    assert case is not None and case.closed_at is not None


# --- the home page's QA block and the guidance panel ---------------------------------------


def test_home_shows_samples_waiting_and_the_sets_to_answer(
    client: TestClient, db: Session, settings: Settings
) -> None:
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["es", "en"])
    sampled(db, decided(db, settings, agent))
    gold = decided(db, settings, agent, action="warn", title="A gold case")
    lead = _principal(make_staff(db, role=Role.policy_lead))
    made = qa.create_set(db, lead, "Links, round 2", "")
    qa.add_item(
        db, lead, made.id, case_id=gold.case_id, expected_policy_code="fee_circumvention",
        expected_action="warn", rationale="Prices on the page.",
    )  # fmt: skip
    qa.assign_set(db, lead, made.id, [agent.id])
    reviewer = make_staff(db, role=Role.qa)
    db.commit()

    login_as(client, db, reviewer)
    assert 'hx-get="/qa/home-panel"' in client.get("/").text
    panel = client.get("/qa/home-panel").text
    assert 'data-count="qa-samples">1<' in panel and "Review next sample" in panel
    logout(client)
    login_as(client, db, agent)
    assert 'hx-get="/qa/home-panel"' in client.get("/").text
    panel = client.get("/qa/home-panel").text
    assert "Links, round 2" in panel and "0 of 1 answered" in panel
    assert "Samples waiting" not in panel


def test_choosing_a_policy_shows_its_grey_areas(client: TestClient, db: Session) -> None:
    decision_case(db)  # the policy pack
    login_as(client, db, make_staff(db, role=Role.qa))
    html = client.get("/qa/guidance", params={"policy": "fee_circumvention"}).text
    assert "Grey areas" in html and "Sharing a portfolio link" in html
    assert "Grey areas" not in client.get("/qa/guidance", params={"policy": "no_violation"}).text
    assert client.get("/qa/guidance", params={"policy": "nope"}).status_code == 200


# --- how figures and findings are worded -----------------------------------------------------


def _row(samples: int, kappa: float | None, note: str | None) -> ScoreRow:
    return ScoreRow(
        key="7", label="Elena Ruiz", samples=samples, agreed=samples - 1,
        agreement_rate=(samples - 1) / samples, kappa=kappa, kappa_note=note,
        right_policy_rate=1.0, right_action_rate=0.5, message_quality_mean=3.25,
        confusion={},
    )  # fmt: skip


def test_a_scorecard_row_cautions_below_twenty_samples_and_rates_quality_out_of_five() -> None:
    few = _score_row(_row(19, 0.4, None), "reviewer", {})
    assert few["few"] is True and few["kappa_note"] == "few samples"
    assert few["message_quality"] == "3.2 / 5"
    enough = _score_row(_row(FEW_SAMPLES, 0.4, None), "reviewer", {})
    assert enough["few"] is False and enough["kappa_note"] is None
    # An undefined kappa keeps its own reason.
    undefined = _score_row(_row(30, None, "both raters used a single label"), "reviewer", {})
    assert undefined["kappa_note"] == "both raters used a single label"
    # A reviewer removed since is named as such, never by a number.
    gone = _score_row(ScoreRow(**{**_row(3, None, None).__dict__, "label": "#7"}), "reviewer", {})
    assert gone["label"] == "A former staff member"


def test_the_reveal_finding_is_worded_neutrally() -> None:
    assert verdict(True, True) == "you agree"
    assert verdict(True, False) == "you differ on the action"
    assert verdict(False, True) == "you differ on the policy"
    assert verdict(False, False) == "you differ on the policy and the action"
