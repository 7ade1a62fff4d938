"""Policy leads hear of a new alert by email, through a real SMTP server, after commit."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from tests.analytics.trends.conftest import MONDAY, quick_alert
from tests.factories import make_staff
from tests.servers import SmtpServer
from vigil.analytics.trends import tasks  # noqa: F401  (registers the email job)
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.jobs.worker import Worker
from vigil.kit.clock import FrozenClock


def test_policy_leads_get_an_email(
    db: Session,
    frozen: FrozenClock,
    mail_settings: Settings,
    smtp_server: SmtpServer,
    session_factory: sessionmaker[Session],
) -> None:
    make_staff(db, Role.policy_lead, email="lead.one@staff.example")
    make_staff(db, Role.policy_lead, email="lead.gone@staff.example", active=False)
    make_staff(db, Role.agent, email="agent.x@staff.example")
    alert_id = quick_alert(db)
    assert smtp_server.messages == []
    db.commit()  # the job exists only once the detector's transaction commits
    frozen.set(MONDAY + timedelta(hours=12, minutes=6))
    Worker(mail_settings, session_factory, name="trends-mailer").drain()
    (mail,) = smtp_server.wait_for(1)
    assert mail.recipients == ["lead.one@staff.example"]
    text = mail.text
    assert f"Trend alert #{alert_id}: report reason = crypto_giveaway" in mail.subject
    # A reason never reported before: no ratio against nothing, it is new.
    assert (
        "crypto_giveaway is new since 23 Nov 11:00: 15 in the hour to 12:00, 23 Nov, "
        "none in the baseline weeks"
    ) in text
    assert f"/trends/alerts/{alert_id}" in text


def test_a_reason_with_a_line_break_still_reaches_the_leads_on_one_subject_line(
    db: Session,
    frozen: FrozenClock,
    mail_settings: Settings,
    smtp_server: SmtpServer,
    session_factory: sessionmaker[Session],
) -> None:
    """Report reasons are the marketplace's free text: a line break in one must neither break
    the email (the job failed and retried forever) nor add a header."""
    make_staff(db, Role.policy_lead, email="lead.one@staff.example")
    alert_id = quick_alert(db, reason="scam\r\nBcc: someone@elsewhere.example")
    db.commit()
    frozen.set(MONDAY + timedelta(hours=12, minutes=6))
    Worker(mail_settings, session_factory, name="trends-mailer").drain()
    (mail,) = smtp_server.wait_for(1)
    assert mail.recipients == ["lead.one@staff.example"]
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.subject.strip() == (
        f"[Vigil] Trend alert #{alert_id}: report reason = scam Bcc: someone@elsewhere.example"
    )
