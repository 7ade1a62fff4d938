"""The email that tells policy leads a trend alert was opened.

Sent by a job enqueued in the transaction that opened the alert, so it goes out only once
that transaction commits. One email to every active staff member with the ``policy_lead``
role. A job may run twice (a worker dying after sending): an alert email can then arrive
twice, never zero times.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.analytics.trends.models import TrendAlert
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.kit import clock

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")

LABELS = {
    "report_reason": "report reason",
    "rule": "rule",
    "policy": "policy",
    "country": "country",
    "signup_cohort": "account age",
    "payment_method": "payment method",
}


def one_line(value: object) -> str:
    """A value on one line: a report reason is free text, and a line break in a header
    (or a forged line in the body) must not come from it."""
    return _CONTROL.sub(" ", str(value)).strip()


def headline(alert: TrendAlert) -> str:
    """``report reason = scam up 4.2x since 2026-11-17T14 (63 vs 15.0 expected per hour)``,
    or ``... is new since ... (15 per hour, no history)`` for a value never seen."""
    label = LABELS.get(alert.dimension, alert.dimension)
    per = "hour" if alert.granularity.value == "hour" else "day"
    value = one_line(alert.value)
    if alert.expected < 0.05:
        return (
            f"{label} = {value} is new since {alert.start_bucket} "
            f"({alert.observed} per {per}, no history)"
        )
    return (
        f"{label} = {value} up {alert.ratio:.1f}x since {alert.start_bucket} "
        f"({alert.observed} vs {alert.expected:.1f} expected per {per})"
    )


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
