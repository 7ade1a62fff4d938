"""The events of a simulated marketplace: what every planned account does, day by day, in the
envelope ``POST /v1/events`` takes, each with its ground truth on the side.

Given a :class:`~vigil.simulate.plan.Plan`, :func:`generate` decides every sign-up, login,
listing, job post, proposal, message, contract, payment, payout request, review and report
up to the plan's "now". The same plan gives the same events, byte for byte (one
``random.Random`` seeded from the plan's seed, no clock, no set iteration), and a plan made
later with the same seed gives the same events shifted in time.

What the detectors should find, and the noise around it:

- benign users dominate: buyers post jobs, sellers send proposals, they talk (en/es/pt), sign
  contracts, pay, request payouts and review each other; ordinary talk mentions PayPal on the
  checkout or a phone number "in the order" without leaving the platform;
- off-platform solicitors put contact details (plain, spaced, spelled out, obfuscated e-mail,
  chat handles) and off-platform payment requests in their first messages to a new buyer;
- scammers, days old, post a too-good listing, blast the same pitch (phishing links, gift-card
  deposits) to dozens of buyers within hours, take a victim's payment and ask for a payout at
  once; buyer-side scammers send sellers fake payment confirmations;
- fraud rings sign up within hours on one device and pay with one card; in the collusion
  scheme they buy from their own seller, who cashes out right away;
- fake reviewers, sharing an address, post near-identical five-star reviews for one seller in a
  burst; duplicate identities sign up again, often on the suspended account's device;
- harassers: the plan has no such label, so a few benign accounts (drawn here, from the
  events' own random stream) turn abusive after a job; they are labelled ``harasser``.

The ground truth lives beside each event (:class:`EventLabel`), never in it: which kind of
actor the account is, and which policy of the shipped pack this event is evidence of (None for
ordinary behaviour, even a bad actor's).
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vigil.simulate.activity import HARASSER, Activity, Draft
from vigil.simulate.plan import Label, Plan

# The actor kinds of the ground truth: the plan's labels, plus harassers drawn here.
ACTORS = (*(label.value for label in Label), HARASSER)

# Which policies each kind of account breaks, in the shipped pack's codes. An account-level
# rule hit with one of these codes on such an account is a true positive for that policy.
ACCOUNT_POLICIES: dict[str, tuple[str, ...]] = {
    Label.benign: (),
    Label.fraud_ring: ("fraud_scams", "duplicate_accounts"),
    Label.scammer: ("fraud_scams", "spam"),
    Label.off_platform: ("fee_circumvention",),
    Label.duplicate_identity: ("duplicate_accounts",),
    Label.fake_reviewer: ("fake_reviews", "duplicate_accounts"),
    HARASSER: ("harassment_threats",),
}


@dataclass(frozen=True)
class EventLabel:
    """The ground truth of one event. ``policy_code`` is set when this event is evidence of
    a violation; ``subject_id`` names whom the evidence is about (the reported account for a
    report, else the event's account)."""

    event_id: str
    account_id: str
    actor: str
    group_key: str | None
    policy_code: str | None
    subject_id: str | None
    what: str


@dataclass(frozen=True)
class AccountTruth:
    external_id: str
    actor: str
    policies: tuple[str, ...]
    group_key: str | None

    @property
    def bad(self) -> bool:
        return self.actor != Label.benign


@dataclass
class SimEvent:
    at: datetime
    envelope: dict[str, Any]  # JSON-ready, in the shape ``vigil.detection.events.EventIn`` takes
    label: EventLabel

    @property
    def type(self) -> str:
        return str(self.envelope["type"])


@dataclass
class EventStream:
    seed: int
    start: datetime
    now: datetime
    events: list[SimEvent]
    accounts: dict[str, AccountTruth]

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "types": dict(Counter(e.type for e in self.events)),
            "actors": dict(Counter(e.label.actor for e in self.events)),
            "policies": dict(Counter(e.label.policy_code or "-" for e in self.events)),
        }

    def lines(self) -> list[str]:
        def fmt(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))

        c = self.counts()
        evidence = sum(v for k, v in c["policies"].items() if k != "-")
        return [
            f"seed {self.seed}: {len(self.events)} events from {len(self.accounts)} accounts, "
            f"{self.start:%Y-%m-%d} to {self.now:%Y-%m-%d}",
            f"types     {fmt(c['types'])}",
            f"actors    {fmt(c['actors'])}",
            f"evidence  {evidence} events: "
            + fmt({k: v for k, v in c["policies"].items() if k != "-"}),
        ]


def generate(plan: Plan) -> EventStream:
    """Every event of the plan's accounts up to its "now", in time order, with ground truth.
    Event ids read ``sim-<seed>-e<n>``, numbered in time order."""
    # Millions of small objects and no cycles: with the cyclic collector on, its full passes
    # over an ever larger heap make a large run quadratic (10,000 accounts: 45 s, not 10).
    enabled = gc.isenabled()
    gc.disable()
    try:
        activity = Activity(plan)
        drafts = activity.run()
        events = [
            _event(f"sim-{plan.seed}-e{n:07d}", d, activity.actor[d.account.index])
            for n, d in enumerate(drafts, start=1)
        ]
        truth = account_truth(plan, activity)
    finally:
        if enabled:
            gc.enable()
    return EventStream(plan.seed, plan.start, plan.now, events, truth)


def _event(event_id: str, d: Draft, actor: str) -> SimEvent:
    envelope: dict[str, Any] = {
        "event_id": event_id,
        "type": d.type,
        "account_id": d.account.external_id,
        "occurred_at": d.at.isoformat(),
        "ip": d.ip,
        "device_id": d.device,
        "payment_fingerprint": d.payment,
        "counterparty_id": d.counterparty.external_id if d.counterparty else None,
        "data": d.data,
    }
    subject = d.subject or (d.account if d.policy else None)
    label = EventLabel(
        event_id=event_id,
        account_id=d.account.external_id,
        actor=actor,
        group_key=d.account.group_key,
        policy_code=d.policy,
        subject_id=subject.external_id if subject else None,
        what=d.what,
    )
    return SimEvent(d.at, envelope, label)


def account_truth(plan: Plan, activity: Activity) -> dict[str, AccountTruth]:
    out = {}
    for a in plan.accounts:
        actor = activity.actor[a.index]
        policies = list(ACCOUNT_POLICIES[actor])
        if a.label is Label.fraud_ring and a.details.get("scheme") == "collusion":
            policies.append("payment_abuse")  # cards charged back on their own seller
        if a.label is Label.duplicate_identity and a.details.get("banned"):
            policies.append("fraud_scams")  # the original was suspended for chargebacks
        out[a.external_id] = AccountTruth(a.external_id, actor, tuple(policies), a.group_key)
    return out


# --- files --------------------------------------------------------------------------------------


def _line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def write_events(events: Iterable[SimEvent], path: Path) -> int:
    """One envelope per line (JSON Lines), the body ``POST /v1/events`` takes."""
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for e in events:
            out.write(_line(e.envelope) + "\n")
            n += 1
    return n


def write_labels(stream: EventStream, path: Path) -> int:
    """The ground truth: one line per event (``"kind": "event"``), then one per account
    (``"kind": "account"``)."""
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for e in stream.events:
            out.write(_line({"kind": "event", **asdict(e.label)}) + "\n")
            n += 1
        for truth in stream.accounts.values():
            out.write(_line({"kind": "account", **asdict(truth)}) + "\n")
            n += 1
    return n


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
