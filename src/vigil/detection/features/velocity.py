"""Velocity: how much of something happened in a sliding window before an event.

Two declarations drive everything, and the store only ever sees sorted sets:

- a :class:`Series` says what an event records and under which key: the set of events of
  a type by an account, the set of accounts seen on a device, ...;
- a :class:`Window` is one feature read from a series: a count over the last hour, a
  distinct count over seven days; a :class:`FirstSeen` asks whether this event is the
  first sighting of a pair (a message to a counterparty, a device for an account).

Time is the event's ``occurred_at`` (epoch milliseconds), never the wall clock, so a
backfill counts in the window it happened in. Counts include the event itself.

Semantics, for a window ``w`` and an event at ``t``:

- *count* (members are event ids, first write wins): events scored in ``(t - w, t]``.
  Exact whatever order events arrive in; a replayed event id is not counted again.
- *distinct* (members are values, scored by their latest sighting): values whose latest
  sighting is after ``t - w``. For events that arrive in time order (live traffic, an
  ordered backfill) that is exactly the values seen in ``(t - w, t]``; an event that
  arrives late also counts values first seen after it. Keeping every sighting would make
  the answer exact at a cost per event proportional to the window's traffic.
- *first seen* (members are values, scored by their earliest sighting, kept while the
  pair is active and for ``keep`` after): the event is the first sighting when no earlier
  one is known. A replay of the first message is still the first message.

Entries older than a series' longest window are trimmed on every write, so an event more
than that far behind the newest one sees only part of its history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

from vigil.detection.features.inputs import EventLike
from vigil.detection.features.store import Count, Mode, Read, Score, VelocityStore, Write

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# How long a key outlives its last write beyond its longest window: room for late events.
GRACE = DAY


# The envelope fields a series can be keyed by or count (name -> attribute). Empty strings
# count as absent.
FIELDS: dict[str, str] = {
    "event": "event_id",
    "type": "type",
    "account": "account_id",
    "ip": "ip",
    "device": "device_id",
    "payment": "payment_fingerprint",
    "counterparty": "counterparty_id",
}


@dataclass(frozen=True)
class Series:
    """A family of sorted sets: one per ``subject`` value (and per event type when
    ``per_type``). Events of ``types`` (all when None) that carry both the subject and the
    member are recorded. ``code`` is part of the Redis key: renaming it orphans the data."""

    code: str
    subject: str  # a FIELDS name: whose set
    member: str  # a FIELDS name: "event" counts events; anything else counts distinct values
    mode: Mode
    horizon: timedelta  # the longest window read; older entries are trimmed
    types: frozenset[str] | None = None
    per_type: bool = False
    keep: timedelta | None = None  # first-seen sets: how long an idle pair is remembered

    def key(self, subject: str, event_type: str | None) -> str:
        # The subject goes last: it is the only part a client chooses, so keys cannot collide.
        if self.per_type:
            return f"{self.code}:{event_type}:{subject}"
        return f"{self.code}:{subject}"

    @property
    def ttl(self) -> timedelta:
        return (self.keep or self.horizon) + GRACE


@dataclass(frozen=True)
class Window:
    """A count (or distinct count) feature: entries of ``series`` for the event's
    ``subject`` field (the series' own subject unless given) in the last ``window``."""

    feature: str
    series: Series
    window: timedelta
    description: str
    subject: str | None = None
    of_type: str | None = None  # per-type series: this type; None: the event's own type

    @property
    def read_subject(self) -> str:
        return self.subject or self.series.subject


@dataclass(frozen=True)
class FirstSeen:
    """True when this event is the earliest known sighting of its (subject, member) pair
    in an earliest-mode series; false when the series does not record this event."""

    feature: str
    series: Series
    description: str


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    firsts: list[tuple[str, int]] = field(default_factory=list)  # (feature, read index)


# --- the series --------------------------------------------------------------------------

COUNT, DISTINCT, FIRST = Mode.first, Mode.latest, Mode.earliest
EVENTS = "event"

BY_ACCOUNT = Series("a", "account", EVENTS, COUNT, DAY)
BY_ACCOUNT_TYPE = Series("at", "account", EVENTS, COUNT, WEEK, per_type=True)
TO_TARGET_TYPE = Series(
    "ct",
    "counterparty",
    EVENTS,
    COUNT,
    WEEK,
    types=frozenset({"review_posted", "report_filed"}),
    per_type=True,
)
BY_IP = Series("i", "ip", EVENTS, COUNT, HOUR)
BY_IP_TYPE = Series("it", "ip", EVENTS, COUNT, DAY, types=frozenset({"signup"}), per_type=True)
BY_PAYMENT = Series("p", "payment", EVENTS, COUNT, DAY)

MESSAGED = Series("am", "account", "counterparty", DISTINCT, DAY, frozenset({"message_sent"}))
ACCOUNT_IPS = Series("ai", "account", "ip", DISTINCT, DAY)
ACCOUNT_DEVICES = Series("ad", "account", "device", DISTINCT, WEEK)
ACCOUNT_PAYMENTS = Series("ap", "account", "payment", DISTINCT, WEEK)
IP_ACCOUNTS = Series("ia", "ip", "account", DISTINCT, WEEK)
DEVICE_ACCOUNTS = Series("da", "device", "account", DISTINCT, WEEK)
PAYMENT_ACCOUNTS = Series("pa", "payment", "account", DISTINCT, WEEK)
REVIEWERS = Series("cr", "counterparty", "account", DISTINCT, DAY, frozenset({"review_posted"}))
REPORTERS = Series("cp", "counterparty", "account", DISTINCT, WEEK, frozenset({"report_filed"}))

FIRST_MESSAGE = Series(
    "fm", "account", "counterparty", FIRST, DAY, frozenset({"message_sent"}), keep=90 * DAY
)
FIRST_DEVICE = Series("fd", "account", "device", FIRST, DAY, keep=90 * DAY)
FIRST_IP = Series("fi", "account", "ip", FIRST, DAY, keep=30 * DAY)

SERIES: tuple[Series, ...] = (
    BY_ACCOUNT,
    BY_ACCOUNT_TYPE,
    TO_TARGET_TYPE,
    BY_IP,
    BY_IP_TYPE,
    BY_PAYMENT,
    MESSAGED,
    ACCOUNT_IPS,
    ACCOUNT_DEVICES,
    ACCOUNT_PAYMENTS,
    IP_ACCOUNTS,
    DEVICE_ACCOUNTS,
    PAYMENT_ACCOUNTS,
    REVIEWERS,
    REPORTERS,
    FIRST_MESSAGE,
    FIRST_DEVICE,
    FIRST_IP,
)


def _typed(feature: str, of_type: str, window: timedelta, what: str) -> Window:
    return Window(
        feature,
        BY_ACCOUNT_TYPE,
        window,
        f"{what} by this account in the last {_label(window)} (this event included)",
        of_type=of_type,
    )


def _label(window: timedelta) -> str:
    if window >= DAY:
        days = window // DAY
        return "24 hours" if days == 1 else f"{days} days"
    return "hour" if window == HOUR else f"{window // timedelta(minutes=1)} minutes"


WINDOWS: tuple[Window, ...] = (
    Window(
        "account_events_1h",
        BY_ACCOUNT,
        HOUR,
        "Events of any type by this account in the last hour (this event included).",
    ),
    Window(
        "account_events_24h",
        BY_ACCOUNT,
        DAY,
        "Events of any type by this account in the last 24 hours (this event included).",
    ),
    Window(
        "account_type_events_1h",
        BY_ACCOUNT_TYPE,
        HOUR,
        "Events of this event's type by this account in the last hour (this event included).",
    ),
    Window(
        "account_type_events_24h",
        BY_ACCOUNT_TYPE,
        DAY,
        "Events of this event's type by this account in the last 24 hours (this event included).",
    ),
    Window(
        "account_type_events_7d",
        BY_ACCOUNT_TYPE,
        WEEK,
        "Events of this event's type by this account in the last 7 days (this event included).",
    ),
    _typed("messages_1h", "message_sent", HOUR, "Messages sent"),
    _typed("messages_24h", "message_sent", DAY, "Messages sent"),
    _typed("logins_24h", "login", DAY, "Logins"),
    _typed("profile_updates_24h", "profile_update", DAY, "Profile updates"),
    _typed("listings_24h", "listing_created", DAY, "Listings created"),
    _typed("jobs_posted_24h", "job_posted", DAY, "Jobs posted"),
    _typed("proposals_1h", "proposal_sent", HOUR, "Proposals sent"),
    _typed("proposals_24h", "proposal_sent", DAY, "Proposals sent"),
    _typed("contracts_24h", "contract_started", DAY, "Contracts started"),
    _typed("payments_1h", "payment", HOUR, "Payments"),
    _typed("payments_24h", "payment", DAY, "Payments"),
    _typed("payouts_24h", "payout_request", DAY, "Payout requests"),
    _typed("payouts_7d", "payout_request", WEEK, "Payout requests"),
    _typed("reviews_posted_24h", "review_posted", DAY, "Reviews posted"),
    _typed("reports_filed_24h", "report_filed", DAY, "Reports filed"),
    _typed("documents_24h", "document_uploaded", DAY, "Documents uploaded"),
    Window(
        "distinct_counterparties_1h",
        MESSAGED,
        HOUR,
        "Distinct counterparties this account messaged in the last hour.",
    ),
    Window(
        "distinct_counterparties_24h",
        MESSAGED,
        DAY,
        "Distinct counterparties this account messaged in the last 24 hours.",
    ),
    Window(
        "distinct_ips_24h",
        ACCOUNT_IPS,
        DAY,
        "Distinct IP addresses this account used in the last 24 hours.",
    ),
    Window(
        "distinct_devices_7d",
        ACCOUNT_DEVICES,
        WEEK,
        "Distinct devices this account used in the last 7 days.",
    ),
    Window(
        "distinct_payments_7d",
        ACCOUNT_PAYMENTS,
        WEEK,
        "Distinct payment instruments this account used in the last 7 days.",
    ),
    Window(
        "ip_events_1h",
        BY_IP,
        HOUR,
        "Events from this event's IP address in the last hour, any account.",
    ),
    Window(
        "ip_signups_1h",
        BY_IP_TYPE,
        HOUR,
        "Signups from this event's IP address in the last hour.",
        of_type="signup",
    ),
    Window(
        "ip_signups_24h",
        BY_IP_TYPE,
        DAY,
        "Signups from this event's IP address in the last 24 hours.",
        of_type="signup",
    ),
    Window(
        "ip_accounts_1h",
        IP_ACCOUNTS,
        HOUR,
        "Distinct accounts seen on this event's IP in the last hour (this one included).",
    ),
    Window(
        "ip_accounts_24h",
        IP_ACCOUNTS,
        DAY,
        "Distinct accounts seen on this event's IP in the last 24 hours (this one included).",
    ),
    Window(
        "ip_accounts_7d",
        IP_ACCOUNTS,
        WEEK,
        "Distinct accounts seen on this event's IP in the last 7 days (this one included).",
    ),
    Window(
        "accounts_on_device_24h",
        DEVICE_ACCOUNTS,
        DAY,
        "Distinct accounts seen on this event's device in the last 24 hours (this one included).",
    ),
    Window(
        "accounts_on_device_7d",
        DEVICE_ACCOUNTS,
        WEEK,
        "Distinct accounts seen on this event's device in the last 7 days (this one included).",
    ),
    Window(
        "accounts_on_payment_24h",
        PAYMENT_ACCOUNTS,
        DAY,
        "Distinct accounts seen with this event's payment instrument in the last 24 hours "
        "(this one included).",
    ),
    Window(
        "accounts_on_payment_7d",
        PAYMENT_ACCOUNTS,
        WEEK,
        "Distinct accounts seen with this event's payment instrument in the last 7 days "
        "(this one included).",
    ),
    Window(
        "payment_uses_1h",
        BY_PAYMENT,
        HOUR,
        "Events with this event's payment instrument in the last hour, any account.",
    ),
    Window(
        "payment_uses_24h",
        BY_PAYMENT,
        DAY,
        "Events with this event's payment instrument in the last 24 hours, any account.",
    ),
    Window(
        "reviews_1h_for_counterparty",
        TO_TARGET_TYPE,
        HOUR,
        "Reviews of this event's counterparty posted in the last hour, by anyone.",
        of_type="review_posted",
    ),
    Window(
        "reviews_24h_for_counterparty",
        TO_TARGET_TYPE,
        DAY,
        "Reviews of this event's counterparty posted in the last 24 hours, by anyone.",
        of_type="review_posted",
    ),
    Window(
        "reviewers_24h_for_counterparty",
        REVIEWERS,
        DAY,
        "Distinct accounts that reviewed this event's counterparty in the last 24 hours.",
    ),
    Window(
        "reports_24h_against_counterparty",
        TO_TARGET_TYPE,
        DAY,
        "Reports filed against this event's counterparty in the last 24 hours.",
        of_type="report_filed",
    ),
    Window(
        "reports_7d_against_account",
        TO_TARGET_TYPE,
        WEEK,
        "Reports filed against this event's account in the last 7 days.",
        subject="account",
        of_type="report_filed",
    ),
    Window(
        "reporters_7d_against_account",
        REPORTERS,
        WEEK,
        "Distinct accounts that reported this event's account in the last 7 days.",
        subject="account",
    ),
)

FIRSTS: tuple[FirstSeen, ...] = (
    FirstSeen(
        "is_first_message",
        FIRST_MESSAGE,
        "A message to a counterparty this account "
        "had not messaged before (as far as the last 90 days of messages tell).",
    ),
    FirstSeen(
        "is_new_device",
        FIRST_DEVICE,
        "A device this account had not been seen on "
        "(as far as the last 90 days tell); false when the event has no device.",
    ),
    FirstSeen(
        "is_new_ip",
        FIRST_IP,
        "An IP address this account had not been seen on (as "
        "far as the last 30 days tell); false when the event has no IP.",
    ),
)


def _check() -> None:
    codes = [s.code for s in SERIES]
    if len(codes) != len(set(codes)):
        raise ValueError("two velocity series share a key code")
    for w in WINDOWS:
        if w.series not in SERIES:
            raise ValueError(f"{w.feature}: its series is not declared")
        if w.window > w.series.horizon:
            raise ValueError(f"{w.feature}: window longer than the series keeps")
        if w.of_type is not None and not w.series.per_type:
            raise ValueError(f"{w.feature}: of_type given for a series not kept per type")
        types = w.series.types
        if w.of_type is not None and types is not None and w.of_type not in types:
            raise ValueError(f"{w.feature}: its series never records {w.of_type}")
    for name in {n for s in SERIES for n in (s.subject, s.member)} - set(FIELDS):
        raise ValueError(f"a series names an unknown event field {name!r}")
    for f in FIRSTS:
        if f.series.mode is not Mode.earliest:
            raise ValueError(f"{f.feature}: first-seen needs an earliest-mode series")


_check()


def millis(at: datetime) -> int:
    """Epoch milliseconds, exact (no float rounding), never negative."""
    return max(0, (at - EPOCH) // MS)


@dataclass(frozen=True, slots=True)
class _HotSeries:
    """A series with everything the per-event path needs precomputed (plain ints, C getters)."""

    code: str
    subject: Callable[[Any], str | None]
    member: Callable[[Any], str | None]
    mode: Mode
    types: frozenset[str] | None
    per_type: bool
    horizon_ms: int | None  # None: never trimmed (first-seen sets)
    ttl_ms: int
    first_feature: str | None


@dataclass(frozen=True, slots=True)
class _HotWindow:
    feature: str
    code: str
    per_type: bool
    subject: Callable[[Any], str | None]
    of_type: str | None
    window_ms: int
    bounded: bool  # counts stop at the event's time; distinct counts do not


def _getter(name: str) -> Callable[[Any], str | None]:
    return attrgetter(FIELDS[name])


_FIRST_OF = {f.series: f.feature for f in FIRSTS}
_HOT_SERIES = tuple(
    _HotSeries(
        s.code,
        _getter(s.subject),
        _getter(s.member),
        s.mode,
        s.types,
        s.per_type,
        None if s.mode is Mode.earliest else s.horizon // MS,
        s.ttl // MS,
        _FIRST_OF.get(s),
    )
    for s in SERIES
)
_HOT_WINDOWS = tuple(
    _HotWindow(
        w.feature,
        w.series.code,
        w.series.per_type,
        _getter(w.read_subject),
        w.of_type,
        w.window // MS,
        w.series.mode is Mode.first,
    )
    for w in WINDOWS
)


def plan(event: EventLike, at: datetime) -> Plan:
    """What this event writes and reads, in the order the store answers: one score read
    per first-seen write, then the window counts."""
    t = millis(at)
    event_type = event.type
    p = Plan()
    writes, reads = p.writes, p.reads
    for s in _HOT_SERIES:
        if s.types is not None and event_type not in s.types:
            continue
        subject = s.subject(event)
        member = s.member(event)
        if not subject or not member:
            continue
        key = f"{s.code}:{event_type}:{subject}" if s.per_type else f"{s.code}:{subject}"
        trim = None if s.horizon_ms is None else t - s.horizon_ms
        writes.append(Write(key, member, t, s.mode, trim, s.ttl_ms))
        if s.first_feature is not None:
            p.firsts.append((s.first_feature, len(reads)))
            reads.append(Score(key, member))
    for w in _HOT_WINDOWS:
        subject = w.subject(event)
        if not subject:
            continue
        if w.per_type:
            key = f"{w.code}:{w.of_type or event_type}:{subject}"
        else:
            key = f"{w.code}:{subject}"
        p.names.append(w.feature)
        reads.append(Count(key, t - w.window_ms, t if w.bounded else None))
    return p


def measure(store: VelocityStore, event: EventLike, at: datetime) -> dict[str, Any]:
    """Record the event and read every velocity feature: one store call. Features whose
    subject the event lacks (no device, no counterparty...) are 0 / false."""
    p = plan(event, at)
    out: dict[str, Any] = dict.fromkeys(DEFAULTS_COUNTS, 0)
    out.update(dict.fromkeys(DEFAULTS_FIRSTS, False))
    if not p.writes and not p.reads:
        return out
    answers = store.apply(p.writes, p.reads)
    t = millis(at)
    offset = len(p.reads) - len(p.names)
    # Score reads come first in the plan (one per first-seen write), then the counts.
    for i, name in enumerate(p.names):
        out[name] = answers[offset + i] or 0
    for name, index in p.firsts:
        out[name] = answers[index] == t
    return out


DEFAULTS_COUNTS: tuple[str, ...] = tuple(w.feature for w in WINDOWS)
DEFAULTS_FIRSTS: tuple[str, ...] = tuple(f.feature for f in FIRSTS)
