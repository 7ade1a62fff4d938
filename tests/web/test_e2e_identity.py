"""Story: an agent works two identity reviews with the keyboard, rejecting one with a reason and
approving the other; the marketplace's real webhook receiver hears both outcomes, each once,
with the reasons the user can act on in the user's language."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests.servers import WebhookReceiver
from tests.web.e2e import assert_clean, login, screenshot
from tests.web.test_identity_http import seed_review
from vigil.auth.principal import Principal
from vigil.cases.models import Case, CaseStatus
from vigil.config import Settings
from vigil.identity import messages
from vigil.identity.models import IdentityVerification
from vigil.identity.types import Reason, VerificationStatus
from vigil.integrations import service as integrations
from vigil.integrations import signing
from vigil.jobs.worker import Worker

pytestmark = pytest.mark.browser

SYSTEM = Principal.system("test")


@pytest.fixture
def hooked(db: Session, webhook_receiver: WebhookReceiver) -> Iterator[tuple[WebhookReceiver, str]]:
    """The marketplace's endpoint, registered as Vigil's integration, and its secret."""
    issued = integrations.create_integration(
        db, SYSTEM, name="marketplace", url=webhook_receiver.url
    )
    db.commit()
    yield webhook_receiver, issued.secret


def _status(db: Session, verification_id: int) -> tuple[VerificationStatus, list[str]]:
    db.expire_all()
    v = db.get(IdentityVerification, verification_id)
    assert v is not None
    out = (v.status, list(v.user_reasons))
    db.rollback()
    return out


def _keys_ready(page: Page) -> None:
    expect(page.locator("html[data-identity-keys=ready]")).to_be_attached()


def test_an_agent_rejects_one_document_with_a_reason_and_approves_the_next(
    page: Page,
    db: Session,
    settings: Settings,
    session_factory: sessionmaker[Session],
    hooked: tuple[WebhookReceiver, str],
) -> None:
    receiver, secret = hooked
    first = seed_review(db, settings)
    second = seed_review(db, settings, external_id="u-idv-2", agent=first.agent)
    login(page, first.agent.email)
    expect(page.get_by_role("heading", name="Queues")).to_be_visible()

    # n takes the oldest identity case and opens its working screen, the identity review
    # (or its case page, where i opens the review).
    page.keyboard.press("n")
    review = re.compile(rf"/identity/verifications/{first.verification_id}$")
    expect(page).to_have_url(re.compile(rf"(/cases/{first.case_id}|{review.pattern})"))
    if re.search(rf"/cases/{first.case_id}$", page.url):
        expect(
            page.get_by_role("link", name=re.compile("Open the identity review"))
        ).to_be_visible()
        page.keyboard.press("i")
    expect(page).to_have_url(review)
    _keys_ready(page)
    screenshot(page, "identity-review")

    # r: the reasons, the suggested one ticked, the user's words previewed in Portuguese.
    page.keyboard.press("r")
    dialog = page.locator("#idv-reject-dialog")
    expect(dialog).to_be_visible()
    preview = page.locator("#idv-preview-list")
    expect(preview).to_contain_text(messages.user_text(Reason.birth_date_mismatch, "pt"))
    screenshot(page, "identity-reject-dialog")
    page.keyboard.press("Enter")

    # The second review opens at once, saying what happened to the first.
    expect(page).to_have_url(
        re.compile(
            rf"/identity/verifications/{second.verification_id}"
            rf"\?notice=rejected&decided={first.verification_id}$"
        )
    )
    expect(page.get_by_role("status")).to_contain_text(
        f"Verification #{first.verification_id} rejected"
    )
    assert _status(db, first.verification_id) == (
        VerificationStatus.rejected,
        [Reason.birth_date_mismatch.value],
    )
    _keys_ready(page)

    # a: checks failed, so it asks first; Enter confirms.
    page.keyboard.press("a")
    approve = page.locator("#idv-approve-dialog")
    expect(approve).to_be_visible()
    screenshot(page, "identity-approve-dialog")
    page.keyboard.press("Enter")
    expect(page).to_have_url(
        re.compile(rf"/identity\?notice=approved&decided={second.verification_id}$")
    )
    assert _status(db, second.verification_id)[0] == VerificationStatus.approved
    db.expire_all()
    for case_id in (first.case_id, second.case_id):
        case = db.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.closed
    db.rollback()
    screenshot(page, "identity-list")
    assert_clean(page)

    # The marketplace hears each outcome once, signed, with the user's reasons in Portuguese.
    Worker(settings, session_factory, name="e2e-identity").drain()
    arrived = receiver.wait_for(2)
    outcomes = {
        r.json()["data"]["verification_id"]: r.json()["data"]
        for r in arrived
        if r.headers["vigil-event"] == "identity.verification.completed"
    }
    assert set(outcomes) == {first.verification_id, second.verification_id}
    rejected = outcomes[first.verification_id]
    assert rejected["status"] == "rejected" and rejected["decided_by"] == "person"
    assert rejected["locale"].startswith("pt")
    assert [r["code"] for r in rejected["user_reasons"]] == ["birth_date_mismatch"]
    assert rejected["user_reasons"][0]["text"] == messages.user_text(
        Reason.birth_date_mismatch, "pt"
    )
    assert outcomes[second.verification_id]["status"] == "approved"
    for r in arrived:
        signing.verify(secret, r.headers["vigil-signature"], r.body)
