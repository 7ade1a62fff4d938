"""The work loop in a real Chromium, without the mouse: search with /, help with ?, next
case with n, note with c, back to the case's queue with q, escalate with e and the next case
opens; the focus ring is visible wherever Tab lands; a page's own key wins over the header's
Approvals key; keys leave form controls and half-filled forms alone; single-key shortcuts
can be turned off; a refused note says why; the identity screen opens its approve / reject
dialog from the URL."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, make_staff
from tests.web.test_identity_http import seed_review
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseType, Severity
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings

pytestmark = pytest.mark.browser

SYSTEM = Principal.system("test")

# The focused element's ring, as the browser draws it.
RING = """() => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  return {tag: el.tagName, style: s.outlineStyle, width: parseFloat(s.outlineWidth),
          color: s.outlineColor, visible: el.matches(':focus-visible')};
}"""


def _login(page: Page, email: str) -> None:
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Home", exact=True)).to_be_visible()
    _keys_ready(page)


def _keys_ready(page: Page, state: str = "on") -> None:
    expect(page.locator(f"html[data-console-keys={state}]")).to_be_attached()


def _clean(page: Page) -> None:
    assert page.problems == []  # type: ignore[attr-defined]
    assert page.outside_requests == []  # type: ignore[attr-defined]


def _seed(db: Session) -> tuple[str, list[int]]:
    """Two Spanish reports waiting in Tier 1, the first more urgent; an agent. Committed."""
    ensure_default_queues(db, SYSTEM)
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["es", "en"])
    ids = []
    for priority, title in ((1, "Pide pagos por fuera"), (2, "Reseñas falsas")):
        ids.append(
            cases.create_case(
                db,
                SYSTEM,
                cases.NewCase(
                    type=CaseType.user_report,
                    title=title,
                    summary="Me pidió que le pagara por fuera de la plataforma.",
                    language="es",
                    severity=Severity.high,
                    priority=priority,
                ),
            ).case.id
        )
    db.commit()
    return agent.email, ids


def _ring_is_visible(page: Page) -> None:
    ring = page.evaluate(RING)
    assert ring["visible"], ring
    assert ring["style"] != "none" and ring["width"] >= 2, ring


def test_an_agent_works_the_loop_with_the_keyboard_only(page: Page, db: Session) -> None:
    email, (first, second) = _seed(db)
    _login(page, email)

    # / goes to the search box; Esc leaves it and the keys work again.
    page.keyboard.press("/")
    expect(page.get_by_role("searchbox", name="Search")).to_be_focused()
    page.keyboard.type("q")  # typed into the box, not "back to the queue"
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("q")
    expect(page).to_have_url(re.compile(r"/$"))
    page.keyboard.press("Escape")

    # ? lists every key.
    page.keyboard.press("?")
    help_ = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_).to_be_visible()
    for row in ("Next case from your queues", "Search", "Decide", "Escalate", "Write a note"):
        expect(help_).to_contain_text(row)
    page.keyboard.press("Escape")
    expect(help_).to_be_hidden()

    # Tab: the focus ring shows on every stop of the header.
    for _ in range(4):
        page.keyboard.press("Tab")
        _ring_is_visible(page)

    page.keyboard.press("Escape")
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{first}$"))
    _keys_ready(page)
    queue_url = page.locator("#case-root").get_attribute("data-queue-url")
    assert queue_url and re.fullmatch(r"/queues/\d+", queue_url)

    page.keyboard.press("c")
    note = page.get_by_label("Note (never shown to the user)")
    expect(note).to_be_focused()
    _ring_is_visible(page)
    page.keyboard.type("Pide transferencia bancaria en el chat.")
    page.keyboard.press("Tab")  # to "Add note"
    _ring_is_visible(page)
    page.keyboard.press("Enter")
    expect(page.locator("#timeline")).to_contain_text("Pide transferencia bancaria en el chat.")

    # e: write the reason, Tab to the button, Enter: the next case opens.
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    expect(page.locator("[data-key-focus=e]")).to_be_focused()
    page.keyboard.type("Threatens the client: needs a specialist.")
    page.keyboard.press("Tab")
    _ring_is_visible(page)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/cases/{second}\?notice=escalated&loop=next$"))
    expect(page.get_by_role("status")).to_contain_text("Case escalated. This is your next case.")
    _keys_ready(page)

    # q: back to this case's queue; there, q goes home.
    page.keyboard.press("q")
    expect(page).to_have_url(re.compile(re.escape(queue_url) + "$"))
    _keys_ready(page)
    page.keyboard.press("q")
    expect(page).to_have_url(re.compile(r"/$"))
    _clean(page)


def test_a_pages_own_a_wins_over_the_headers_approvals(page: Page, db: Session) -> None:
    ensure_default_queues(db, SYSTEM)
    specialist = make_staff(db, role=Role.specialist, name="Sam Specialist")
    db.commit()
    _login(page, specialist.email)

    # Nothing on the page claims a: the header's Approvals link takes it.
    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(r"/approvals$"))
    _keys_ready(page)

    # A page control marked data-key="a" (as the case page's "approve the document" is)
    # takes it instead.
    page.goto("/my-cases")
    _keys_ready(page)
    page.evaluate(
        """() => {
          const a = document.createElement('a');
          a.href = '/?mine=a'; a.textContent = 'Approve'; a.dataset.key = 'a';
          document.querySelector('main').appendChild(a);
        }"""
    )
    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(r"/\?mine=a$"))
    _clean(page)


def test_the_identity_screen_opens_reject_or_approve_from_the_address(
    page: Page, db: Session, settings: Settings
) -> None:
    seeded = seed_review(db, settings)  # failed checks: approving asks first
    _login(page, seeded.agent.email)

    page.goto(f"/identity/verifications/{seeded.verification_id}#reject")
    expect(page.locator("html[data-identity-keys=ready]")).to_be_attached()
    expect(page.get_by_role("dialog", name="Reject: tell the user why")).to_be_visible()
    assert page.evaluate("() => window.location.hash") == ""  # a reload does not reopen it

    page.goto(f"/identity/verifications/{seeded.verification_id}#approve")
    expect(page.locator("html[data-identity-keys=ready]")).to_be_attached()
    expect(page.get_by_role("dialog", name=re.compile("^Approve although"))).to_be_visible()
    _clean(page)


def _on_a_case(page: Page, db: Session) -> tuple[int, int]:
    """Log the seeded agent in and open their first case with n; the decision panel is in."""
    email, (first, second) = _seed(db)
    _login(page, email)
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{first}$"))
    _keys_ready(page)
    expect(page.locator("#decision-policy")).to_be_attached()
    return first, second


def test_keys_leave_form_controls_and_changed_forms_alone(page: Page, db: Session) -> None:
    first, second = _on_a_case(page, db)
    here = re.compile(rf"/cases/{first}$")

    # On a message channel's tick box: n and q would throw the decision away.
    channel = page.locator("#decision-channels input[type=checkbox]:not([disabled])").first
    channel.focus()
    page.keyboard.press("n")
    page.keyboard.press("q")
    expect(channel).to_be_focused()
    expect(page).to_have_url(here)

    # On a button of the decision form (Preview): its own p does nothing either.
    preview = page.get_by_role("button", name=re.compile("Preview message"))
    preview.focus()
    for key in ("n", "q", "p"):
        page.keyboard.press(key)
    expect(preview).to_be_focused()
    expect(page.locator("#decision-preview")).to_be_empty()
    expect(page).to_have_url(here)

    # Change the form (untick the channel), then stand on the form itself: still nothing.
    channel.focus()
    page.keyboard.press("Space")
    page.evaluate(
        """() => { const f = document.getElementById('decision-form');
                   f.tabIndex = -1; f.focus(); }"""
    )
    page.keyboard.press("n")
    expect(page).to_have_url(here)

    # Esc leaves the control; from the page itself, n works again.
    channel.focus()
    page.keyboard.press("Escape")
    expect(channel).not_to_be_focused()
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{second}$"))
    _clean(page)


def test_single_key_shortcuts_can_be_turned_off_and_stay_off(page: Page, db: Session) -> None:
    email, (first, _) = _seed(db)
    _login(page, email)

    page.keyboard.press("?")
    help_ = page.get_by_role("dialog", name="Keyboard shortcuts")
    switch = help_.get_by_role("checkbox", name="Single-key shortcuts")
    expect(switch).to_be_checked()
    switch.focus()
    page.keyboard.press("Space")
    expect(switch).not_to_be_checked()
    _keys_ready(page, "off")
    page.keyboard.press("Escape")
    expect(help_).to_be_hidden()

    # Off: no one-character key does anything, not even ? and /.
    for key in ("n", "q", "?", "/", "a"):
        page.keyboard.press(key)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(help_).to_be_hidden()
    expect(page.get_by_role("searchbox", name="Search")).not_to_be_focused()

    # Remembered by this browser: a new page load keeps them off.
    page.reload()
    _keys_ready(page, "off")
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/$"))

    # Back on from the Keys button (Tab and Enter reach it).
    keys = page.get_by_role("button", name=re.compile("^Keys"))
    keys.focus()
    page.keyboard.press("Enter")
    expect(help_).to_be_visible()
    expect(switch).not_to_be_checked()
    switch.focus()
    page.keyboard.press("Space")
    _keys_ready(page)
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(rf"/cases/{first}$"))
    _clean(page)


def test_a_refused_note_says_why_and_keeps_the_text(page: Page, db: Session) -> None:
    _on_a_case(page, db)
    page.keyboard.press("c")
    note = page.get_by_label("Note (never shown to the user)")
    expect(note).to_be_focused()
    page.keyboard.type("   ")  # blank: the browser's "required" lets it through, Vigil does not
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    form = page.locator("form:has(#note-body)")
    alert = form.get_by_role("alert")
    expect(alert).to_have_text("body is required")
    expect(note).to_have_value("   ")
    # The history is still there, untouched.
    expect(page.locator("#timeline ol.timeline")).to_be_visible()
    expect(page.locator("#timeline [role=alert]")).to_have_count(0)

    # Again: one message, not two.
    page.keyboard.press("Enter")
    expect(form.get_by_role("alert")).to_have_count(1)

    # A good note: written, the message goes, the field is cleared.
    note.fill("Pide transferencia bancaria.")
    form.get_by_role("button", name=re.compile("Add note")).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#timeline")).to_contain_text("Pide transferencia bancaria.")
    expect(form.get_by_role("alert")).to_have_count(0)
    expect(note).to_have_value("")
    # The browser reports the two refused requests; nothing else went wrong.
    assert all("422" in p for p in page.problems), page.problems  # type: ignore[attr-defined]
    assert len(page.problems) == 2, page.problems  # type: ignore[attr-defined]
    assert page.outside_requests == []  # type: ignore[attr-defined]
