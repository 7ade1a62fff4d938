"""The email that tells policy leads a trend alert was opened.

Sent by a job enqueued in the transaction that opened the alert, so it goes out only once
that transaction commits. One email to every active staff member with the ``policy_lead``
role. A job may run twice (a worker dying after sending): an alert email can then arrive
twice, never zero times.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.analytics.trends import wording
from vigil.analytics.trends.models import TrendAlert
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.kit import clock

LABELS = wording.LABELS
one_line = wording.one_line


def headline(alert: TrendAlert) -> str:
    """The alert's sentence (``wording.sentence``): ``report reason = scam up 6.1x since
    19 Nov 14:00: 73 in the 24 h to 22:00, 21 Nov vs 12.0 expected``."""
    return wording.sentence(alert)


def recipients(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(StaffUser.email)
            .where(StaffUser.role == Role.policy_lead, StaffUser.active.is_(True))
            .order_by(StaffUser.id)
        )
    )


def build(settings: Settings, alert: TrendAlert, to: list[str]) -> EmailMessage:
    link = f"{settings.base_url.rstrip('/')}/trends/alerts/{alert.id}"
    lines = [
        "A trend alert was opened in Vigil.",
        "",
        headline(alert),
        "",
    ]
    if alert.contributors:
        lines.append("Top contributors:")
        for c in alert.contributors[:5]:
            label = LABELS.get(c["dimension"], c["dimension"])
            share = round(100 * c["share"])
            lines.append(f"  - {label} = {one_line(c['value'])}: {share}% of the rise")
        lines.append("")
    if alert.sample_case_ids:
        lines.append(f"{len(alert.sample_case_ids)} sample case(s) are linked to it.")
    if alert.granularity.value == "day":
        lines.append(
            "A day alert counts a rolling 24 hours (UTC), not a calendar day: the hourly counts"
            " of that span add up to its figure."
        )
    lines += [f"Open it: {link}", "", "Acknowledge, dismiss or escalate it from the console."]
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = ", ".join(to)
    label = LABELS.get(alert.dimension, alert.dimension)
    email["Subject"] = f"[Vigil] Trend alert #{alert.id}: {label} = {one_line(alert.value)}"[:200]
    email["Date"] = format_datetime(clock.now())
    email["Auto-Submitted"] = "auto-generated"
    email.set_content("\n".join(lines), subtype="plain", charset="utf-8")
    return email
