"""Quality assurance in a real Chromium, end to end: an agent's decisions are sampled at the
configured rate; a QA reviewer takes the next sample with ``n``, decides it blind, disagrees
(another action), sees the original side by side, scores it (right policy yes, right action
no, with a comment); the scorecard shows the agent's agreement below 100% and the kappa of
the known set; a policy lead reads a calibration set's results with the grey-area guidance
of a missed case. Every screen passes the console's checks (axe, no horizontal scroll,
focus ring, nothing from another host, no console error)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, Response, expect
from sqlalchemy.orm import Session

from tests.factories import make_staff
from tests.web.e2e import assert_screen, login, logout
from tests.web.test_qa_http import SYSTEM, _principal, _review, decided
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.quality import service as qa

pytestmark = pytest.mark.browser


def _seed(db: Session, settings: Settings) -> dict[str, str]:
    """Four decisions by Elena (warn, suspend, suspend, warn) sampled at a 100% rate; the
    first three already reviewed blind by Quinn, in agreement. The fourth waits. A
    calibration set of two gold cases that Rita answered, missing the second. Committed."""
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["es", "en"])
    quinn = make_staff(db, role=Role.qa, name="Quinn Auditor")
    lead = make_staff(db, role=Role.policy_lead, name="Pat Lead")
    rita = make_staff(db, role=Role.agent, name="Rita Reviewer", languages=["es", "en"])
    sam = make_staff(db, role=Role.specialist, name="Sam Specialist", languages=["es", "en"])
    emails = {"qa": quinn.email, "lead": lead.email, "specialist": sam.email}
    for action in ("warn", "suspend", "suspend", "warn"):
        decided(db, settings, agent, action=action)
    qa.set_rate(db, SYSTEM, queue_id=None, staff_id=None, rate=1.0)
    # The sampler waits for decisions to settle; these are final already.
    assert qa.sample_decisions(db, settings, settle=timedelta(0)) == 4
    db.commit()
    for blind in ("warn", "suspend", "suspend"):
        taken = qa.next_sample(db, _principal(quinn))
        assert taken is not None
        _review(db, quinn, taken.id, "fee_circumvention", blind)

    gold_link = decided(db, settings, agent, action="warn", title="A portfolio link with prices")
    gold_work = decided(db, settings, agent, policy=None, title="A link to past work only")
    made = qa.create_set(
        db, SYSTEM, "Off-platform links", "Portfolio links with and without prices."
    )
    first = qa.add_item(
        db, SYSTEM, made.id, case_id=gold_link.case_id,
        expected_policy_code="fee_circumvention", expected_action="warn",
        rationale="Prices and a checkout on the linked page make it an outside checkout.",
    )  # fmt: skip
    second = qa.add_item(
        db, SYSTEM, made.id, case_id=gold_work.case_id, expected_policy_code=None,
        expected_action="no_violation", rationale="A page with work only is allowed.",
    )  # fmt: skip
    qa.assign_set(db, SYSTEM, made.id, [rita.id, sam.id])
    me = _principal(rita)
    for item in (first, second):
        qa.answer_item(db, me, made.id, item.id, policy_code="fee_circumvention", action="warn")
    emails["set"] = str(made.id)
    db.commit()
    return emails


def guidance(response: Response) -> bool:
    return "/qa/guidance" in response.url


def test_a_qa_reviewer_disagrees_blind_and_the_scorecard_shows_it(
    page: Page, db: Session, settings: Settings
) -> None:
    seeded = _seed(db, settings)
    login(page, seeded["qa"], "/qa")
    expect(page.get_by_role("heading", name="Quality assurance")).to_be_visible()
    expect(page.locator("[data-count=samples]")).to_have_text("1")
    assert_screen(page, "qa-home")

    # n: the next sample, blind.
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/qa/samples/\d+$"))
    expect(page.locator("#qa-stage")).to_have_text("blind review")
    expect(page.get_by_text("Me pidió que le pagara por fuera de la plataforma.")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Elena Ruiz")
    expect(page.locator("#qa-compare")).to_have_count(0)
    assert_screen(page, "qa-blind")

    # d: the policy picker; the answer differs from the original warning.
    page.keyboard.press("d")
    expect(page.get_by_label("Policy violated")).to_be_focused()
    # The form keeps policy and action from contradicting each other: "No violation" as the
    # policy takes the action "No violation" and locks the others, and back again.
    # (Each change fetches the policy's guidance: let it arrive before the next.)
    picker = page.get_by_label("Policy violated")
    with page.expect_response(guidance):
        picker.select_option("no_violation")
    expect(page.get_by_role("radio", name="No violation")).to_be_checked()
    expect(page.get_by_role("radio", name="Suspend")).to_be_disabled()
    with page.expect_response(guidance):
        picker.select_option("fee_circumvention")
    expect(page.get_by_role("radio", name="Suspend")).to_be_enabled()
    expect(page.get_by_role("radio", name="No violation")).not_to_be_checked()
    with page.expect_response(guidance):
        page.get_by_role("radio", name="No violation").check()
    expect(picker).to_have_value("no_violation")

    page.get_by_label("Policy violated").select_option("fee_circumvention")
    # The policy's guidance and grey areas come with the choice.
    expect(page.locator("#qa-guidance")).to_contain_text("Sharing a portfolio link")
    page.get_by_role("radio", name="Suspend").check()
    page.get_by_role("button", name="Record my answer and show the original").click()

    expect(page.locator("#qa-agreement")).to_have_text("you differ on the action")
    compare = page.locator("#qa-compare")
    expect(compare.locator("#compare-action")).to_contain_text("differs")
    expect(compare.locator("#compare-action")).to_contain_text("Suspend")
    expect(compare.locator("#compare-action")).to_contain_text("Warn")
    expect(compare.locator("#compare-policy")).to_contain_text("same")
    expect(compare.locator("#compare-who")).to_contain_text("Elena Ruiz")
    assert_screen(page, "qa-reveal")
    # The score form is within reach at 1280x800 without scrolling, next to the comparison;
    # on a narrow screen it comes first.
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.get_by_role("button", name="Record score")).to_be_in_viewport(ratio=1)
    page.set_viewport_size({"width": 900, "height": 800})
    form_top = page.locator("#qa-score-form").bounding_box()
    reveal_top = page.locator("#reveal").bounding_box()
    assert form_top is not None and reveal_top is not None
    assert form_top["y"] < reveal_top["y"]
    page.set_viewport_size({"width": 1280, "height": 800})

    form = page.locator("#qa-score-form")
    form.get_by_role("group", name="Right policy?").get_by_label("Yes").check()
    form.get_by_role("group", name="Right action?").get_by_label("No").check()
    form.get_by_label("Message quality").select_option("4")
    form.get_by_label("Comment").fill("Bank details in two messages: a suspension, not a warning.")
    form.get_by_role("button", name="Record score").click()
    expect(page.get_by_role("status")).to_contain_text("Score recorded.")
    expect(page.locator("#qa-score")).to_contain_text("no")

    # The scorecard: Elena agreed with QA on 3 of 4; kappa of the known table is 0.50.
    page.goto("/qa/scorecards")
    row = page.locator("#scorecard-reviewer tr", has_text="Elena Ruiz")
    expect(row.locator(".qa-agreement")).to_have_text("75%")
    expect(row.locator(".qa-kappa")).to_have_text("0.50")
    expect(row.locator(".qa-kappa-note")).to_have_text("few samples")
    expect(row).to_contain_text("4.0 / 5")
    # The days show only for "these dates…"; a fixed period applies as soon as it is chosen.
    expect(page.get_by_label("From")).to_be_hidden()
    assert_screen(page, "qa-scorecards")
    page.get_by_label("Decisions made in").select_option("dates")
    expect(page.get_by_label("From")).to_be_visible()
    page.get_by_label("Decisions made in").select_option("7")
    expect(page).to_have_url(re.compile(r"period=7"))
    expect(page.locator("#scorecard-reviewer")).to_contain_text("Elena Ruiz")
    logout(page)

    # The policy lead reads the calibration results: Rita's miss links to the grey areas.
    login(page, seeded["lead"], f"/qa/calibration/{seeded['set']}")
    items = page.locator("#qa-results-items")
    expect(items).to_contain_text("Rita Reviewer")
    expect(items).to_contain_text("0 of 1 agree")
    expect(page.locator("#qa-results-reviewers")).to_contain_text("50%")
    expect(items.get_by_text("wrong policy")).to_be_visible()
    assert_screen(page, "qa-calibration")
    logout(page)

    # A specialist answers the set blind: the first gold case, without its expected decision.
    login(page, seeded["specialist"], "/")
    expect(page.locator("#qa-home")).to_contain_text("Off-platform links")
    page.locator("#qa-home").get_by_role("link", name="Off-platform links").click()
    expect(page.locator("#qa-progress")).to_have_text("case 1 of 2")
    expect(page.locator("main")).not_to_contain_text("Prices and a checkout")
    assert_screen(page, "qa-calibration-answer")
    page.keyboard.press("d")
    expect(page.get_by_label("Policy violated")).to_be_focused()
    page.get_by_label("Policy violated").select_option("fee_circumvention")
    page.get_by_role("radio", name="Warn").check()
    page.get_by_role("button", name="Record my answer").click()
    expect(page.locator("#qa-progress")).to_have_text("case 2 of 2")
