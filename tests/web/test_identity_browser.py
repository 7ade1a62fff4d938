"""The identity review screen in a real Chromium, driven by the keyboard as a Tier 1 agent
works it: next case, open the review, reveal, zoom and rotate, then reject with reasons (the
user's text previewed in their language), approve after confirming, or escalate. Nothing is
fetched from another host and the console logs no error (a CSP violation would be one)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, make_staff
from tests.web.test_identity_http import _checks, seed_review
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.cases.models import Case, CaseStatus
from vigil.config import Settings
from vigil.identity import messages
from vigil.identity.models import IdentityVerification
from vigil.identity.types import Reason, VerificationStatus

pytestmark = pytest.mark.browser


def _login(page: Page, email: str, start: str = "/") -> None:
    page.goto(start)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _keys_ready(page: Page) -> None:
    """The screen's keys answer once its script has run (it marks the page)."""
    expect(page.locator("html[data-identity-keys=ready]")).to_be_attached()


def _clean(page: Page) -> None:
    assert page.problems == []  # type: ignore[attr-defined]
    assert page.outside_requests == []  # type: ignore[attr-defined]


def _verification(db: Session, verification_id: int) -> tuple[str, list[str], int | None]:
    db.expire_all()
    v = db.get(IdentityVerification, verification_id)
    assert v is not None
    out = (v.status.value, list(v.user_reasons), v.case_id)
    db.rollback()
    return out


def test_agent_reviews_with_the_keyboard_and_rejects_with_reasons(
    page: Page, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    _login(page, s.agent.email)
    expect(page.get_by_role("heading", name="Queues")).to_be_visible()
    page.wait_for_load_state("domcontentloaded")  # the console's keys are live

    # n takes the identity case, i opens its verification.
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{s.case_id}$"))
    # The case page fetches its button (the case has a verification), then i works.
    expect(page.get_by_role("link", name=re.compile("Open the identity review"))).to_be_visible()
    page.keyboard.press("i")
    expect(page).to_have_url(re.compile(rf"/identity/verifications/{s.verification_id}$"))
    expect(
        page.get_by_role("heading", name=re.compile(r"Verification #\d+ · passport"))
    ).to_be_visible()
    _keys_ready(page)
    # Masked until revealed: three placeholders, no picture.
    expect(page.locator(".idv-image img")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Masked · Reveal front"))).to_be_visible()
    # The birth date differs from the profile, and the row says so.
    expect(page.locator("tr.idv-row-mismatch")).to_contain_text("Date of birth")

    # 1 reveals the front only; v reveals the rest.
    page.keyboard.press("1")
    expect(page.locator("#idv-image-front img")).to_be_visible()
    expect(page.locator(".idv-image img")).to_have_count(1)
    page.keyboard.press("v")
    expect(page.locator(".idv-image img")).to_have_count(3)

    # 1 again opens the front large; + zooms, ] rotates, → goes to the back, Esc closes.
    page.keyboard.press("1")
    viewer = page.locator("#idv-viewer")
    expect(viewer).to_be_visible()
    state = page.locator("#idv-viewer-state")
    expect(state).to_contain_text("0°")
    before = state.inner_text()
    page.keyboard.press("+")
    expect(state).not_to_have_text(before)
    page.keyboard.press("]")
    expect(state).to_contain_text("90°")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#viewer-title")).to_have_text("Back")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # r: the reason picker, the suggested reason ticked, the user's text in Portuguese.
    page.keyboard.press("r")
    dialog = page.locator("#idv-reject-dialog")
    expect(dialog).to_be_visible()
    preview = page.locator("#idv-preview-list")
    expect(preview).to_contain_text(messages.user_text(Reason.birth_date_mismatch, "pt"))
    expect(preview.locator("li")).to_have_count(1)
    # The second reason in the list is toggled with 2, and previewed at once.
    second = dialog.locator('input[name="reasons"]').nth(1)
    second_code = second.get_attribute("value")
    assert second_code is not None
    page.keyboard.press("2")
    expect(second).to_be_checked()
    expect(preview).to_contain_text(messages.user_text(Reason(second_code), "pt"))
    expect(preview.locator("li")).to_have_count(2)
    page.keyboard.press("Enter")

    # Nothing else waits: back to the list, saying what was decided.
    expect(page).to_have_url(
        re.compile(rf"/identity\?notice=rejected&decided={s.verification_id}$")
    )
    expect(page.get_by_role("status")).to_contain_text(
        f"Verification #{s.verification_id} rejected"
    )
    status, user_reasons, case_id = _verification(db, s.verification_id)
    assert status == VerificationStatus.rejected.value
    assert user_reasons == ["birth_date_mismatch", second_code]
    db.expire_all()
    case = db.get(Case, case_id)
    assert case is not None and case.status == CaseStatus.closed
    reveals = db.scalar(select(func.count()).where(AuditRecord.action == "identity.image.reveal"))
    db.rollback()
    assert reveals == 3  # the front once, then back and selfie... and the front again
    _clean(page)


def test_approve_asks_first_when_a_check_failed_and_wins_over_the_approvals_key(
    page: Page, db: Session, settings: Settings
) -> None:
    # A specialist has the header's "a" for Approvals; on this screen "a" approves.
    specialist = make_staff(db, role=Role.specialist, name="Sam Lee", languages=["pt", "en"])
    s = seed_review(db, settings, agent=specialist)
    _login(page, specialist.email, f"/identity/verifications/{s.verification_id}")
    expect(page.get_by_role("heading", name=re.compile(r"Verification #"))).to_be_visible()
    _keys_ready(page)

    page.keyboard.press("a")
    dialog = page.locator("#idv-approve-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Selfie vs portrait")
    expect(dialog.get_by_text("You have not revealed every image yet.")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(re.compile(rf"/identity/verifications/{s.verification_id}$"))
    assert _verification(db, s.verification_id)[0] == VerificationStatus.review.value

    page.keyboard.press("a")
    expect(dialog).to_be_visible()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/identity\?notice=approved&decided=\d+$"))
    assert _verification(db, s.verification_id)[0] == VerificationStatus.approved.value
    _clean(page)


def test_approve_asks_first_when_a_check_only_warns(
    page: Page, db: Session, settings: Settings
) -> None:
    # No check failed, but the name partly matches and the image shows editing signs: the
    # machine left those for a person, so "a" asks before approving.
    s = seed_review(db, settings, failed=False)
    v = db.get(IdentityVerification, s.verification_id)
    assert v is not None
    v.checks = [c for c in _checks(failed=False) if c["status"] != "failed"]
    db.commit()
    _login(page, s.agent.email, f"/identity/verifications/{s.verification_id}")
    _keys_ready(page)
    page.keyboard.press("a")
    dialog = page.locator("#idv-approve-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Approve although checks need a look?")
    expect(dialog.locator("li")).to_have_text(["Name vs profile", "Signs of editing"])
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert _verification(db, s.verification_id)[0] == VerificationStatus.review.value

    page.keyboard.press("a")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/identity\?notice=approved&decided=\d+$"))
    assert _verification(db, s.verification_id)[0] == VerificationStatus.approved.value
    _clean(page)


def test_escalate_with_a_note_and_the_list_opens_with_j_and_o(
    page: Page, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    second = seed_review(db, settings, external_id="u-idv-2", agent=s.agent)
    _login(page, s.agent.email, "/identity")
    expect(page.get_by_role("heading", name=re.compile("Identity reviews"))).to_be_visible()
    _keys_ready(page)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("a.idv-open").nth(1)).to_be_focused()
    page.keyboard.press("o")
    expect(page).to_have_url(re.compile(rf"/identity/verifications/{second.verification_id}$"))
    _keys_ready(page)

    page.keyboard.press("e")
    note = page.get_by_label("Why (the specialist reads this first)")
    expect(note).to_be_focused()
    # Keys typed into the note stay there (no shortcut fires).
    page.keyboard.type("Selfie looks like a printed photo; a specialist should decide.")
    expect(page.locator("#idv-reject-dialog")).to_be_hidden()
    page.keyboard.press("Control+Enter")
    # On to the next verification waiting for this agent: the first one.
    expect(page).to_have_url(
        re.compile(
            rf"/identity/verifications/{s.verification_id}"
            rf"\?notice=escalated&decided={second.verification_id}$"
        )
    )
    status, _, case_id = _verification(db, second.verification_id)
    assert status == VerificationStatus.review.value
    db.expire_all()
    case = db.get(Case, case_id)
    assert case is not None and case.tier.value == "specialist"
    db.rollback()
    _clean(page)


def test_n_opens_the_next_review_j_k_mark_the_row_and_a_decision_moves_on(
    page: Page, db: Session, settings: Settings
) -> None:
    first = seed_review(db, settings)
    second = seed_review(db, settings, external_id="u-idv-2", agent=first.agent)
    _login(page, first.agent.email, "/identity")
    expect(page.get_by_role("heading", name=re.compile("Identity reviews"))).to_be_visible()
    _keys_ready(page)

    # j / k: the current row is marked, not only focused.
    rows = page.locator("[data-identity-list] tbody tr")
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bidv-current\b"))
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bidv-current\b"))
    expect(rows.nth(0)).not_to_have_class(re.compile(r"\bidv-current\b"))
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_attribute("aria-current", "true")

    # ? shows this screen's keys, not the case page's.
    page.keyboard.press("?")
    help_ = page.locator("#idv-help")
    expect(help_).to_be_visible()
    expect(help_).to_contain_text("Open the next verification waiting for you")
    expect(help_).not_to_contain_text("Write a note")
    expect(page.locator("#help")).to_be_hidden()
    page.keyboard.press("Escape")
    expect(help_).to_be_hidden()

    # n: the oldest waiting verification, its case taken.
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/identity/verifications/{first.verification_id}$"))
    _keys_ready(page)
    # Approve (it asks first: checks failed); then the next one opens, saying what happened.
    page.keyboard.press("a")
    expect(page.locator("#idv-approve-dialog")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page).to_have_url(
        re.compile(
            rf"/identity/verifications/{second.verification_id}"
            rf"\?notice=approved&decided={first.verification_id}$"
        )
    )
    expect(page.get_by_role("status")).to_have_text(
        f"Verification #{first.verification_id} approved."
    )
    assert _verification(db, first.verification_id)[0] == VerificationStatus.approved.value
    _keys_ready(page)

    # From the identity queue, n opens the one this agent now holds, not a case of any type.
    page.goto("/")
    page.get_by_role("link", name="Identity reviews").first.click()
    expect(page.locator("[data-identity-queue]")).to_be_attached()
    _keys_ready(page)
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/identity/verifications/{second.verification_id}$"))
    _clean(page)
