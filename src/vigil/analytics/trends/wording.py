"""One alert in words, the same on the console, in the alert email and in an incident made
from it.

Invariants the wording keeps:
- the expected count, the ratio and the excess shown side by side are computed from the same
  number (``TrendAlert.expected``); when that number is the new-value floor rather than the
  baseline median, it is said: "at least 2.4 expected";
- "new" (and "none expected") is said only of a value with no history in its baseline weeks
  (``baseline_history == 0``);
- a day alert is a rolling 24 hours, never a calendar day: "73 in the 24 h to 22:00, 21 Nov";
- dates are the console's "21 Nov" style, times UTC.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from vigil.analytics.trends.models import Granularity, TrendAlert
from vigil.kit import clock

LABELS = {
    "report_reason": "report reason",
    "rule": "rule",
    "policy": "policy",
    "country": "country",
    "signup_cohort": "signup cohort",
    "payment_method": "payment method",
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def one_line(value: object) -> str:
    """A value on one line: a report reason is free text, and a line break in a header
    (or a forged line in the body) must not come from it."""
    return _CONTROL.sub(" ", str(value)).strip()


def label(dimension: str) -> str:
    return LABELS.get(dimension, dimension.replace("_", " "))


def when(at: datetime) -> str:
    """'21 Nov 14:00' (UTC)."""
    at = clock.as_utc(at)
    return f"{at.day} {at:%b %H:%M}"


def is_new(a: TrendAlert) -> bool:
    """No history at all in the baseline weeks. Rows written before the history was recorded
    fall back to a zero median."""
    if a.baseline_history is not None:
        return int(a.baseline_history) == 0
    return float(a.expected) < 0.05


def floored(a: TrendAlert) -> bool:
    """Whether the expected count is the new-value floor rather than the baseline median."""
    return a.baseline_median is not None and float(a.baseline_median) < float(a.expected) - 1e-9


def window(a: TrendAlert) -> str:
    """The bucket the figures describe: 'in the 24 h to 22:00, 21 Nov' for a (rolling) day
    alert, 'in the hour to 22:00, 21 Nov' for an hour alert."""
    end = clock.as_utc(a.last_seen_at)
    span = "24 h" if Granularity(a.granularity) is Granularity.day else "hour"
    return f"in the {span} to {end:%H:%M}, {end.day} {end:%b}"


def size(a: TrendAlert) -> str:
    """'4.2x', or 'new' for a value with no history in its baseline weeks."""
    if is_new(a) or not math.isfinite(float(a.ratio)):
        return "new"
    return f"{float(a.ratio):.1f}x"


def expected_text(a: TrendAlert) -> str:
    """'15.0 expected', 'at least 2.4 expected (baseline median 0)', or for a new value
    'none in the baseline weeks (judged against a floor of 2.4)'."""
    e = float(a.expected)
    if is_new(a):
        return f"none in the baseline weeks (judged against a floor of {e:.1f})"
    if floored(a):
        return f"at least {e:.1f} expected (baseline median {float(a.baseline_median or 0):.1f})"
    return f"{e:.1f} expected"


def sentence(a: TrendAlert) -> str:
    """'report reason = scam up 6.1x since 19 Nov 14:00: 73 in the 24 h to 22:00, 21 Nov vs
    12.0 expected'."""
    series = f"{label(a.dimension)} = {one_line(a.value)}"
    since = when(a.started_at)
    if is_new(a):
        return f"{series} is new since {since}: {a.observed} {window(a)}, {expected_text(a)}"
    return f"{series} up {size(a)} since {since}: {a.observed} {window(a)} vs {expected_text(a)}"
