"""Ordinary behaviour on a simulated marketplace, day by day: sign-ups, profiles and listings,
buyers' needs turned into job posts, proposals, conversations, contracts, payments, payouts,
reviews and the odd report; then sessions, so every event carries the device and address of
the login it happened in. Off-platform solicitors and duplicate identities take part in this
flow (they look ordinary, apart from what they write and where they sign up from); the other
bad actors' scripts are in :mod:`vigil.simulate.schemes`.

One ``random.Random`` drives it all, seeded from the plan's seed and never from the clock, and
nothing iterates a set: the same plan gives the same drafts.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Any

from vigil.accounts.models import IdentifierKind
from vigil.simulate import chat, schemes, waves
from vigil.simulate.plan import AccountPlan, Label, Plan
from vigil.simulate.pools import REPORT_WORDS

K = IdentifierKind
HARASSER = "harasser"
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# A new session (and so a login) when an account was idle this long.
SESSION_GAP = 4 * HOUR
_RATINGS = ((5, 60), (4, 25), (3, 8), (2, 4), (1, 3))


@dataclass
class Draft:
    """One event as decided, before it gets its id; ``device`` and ``ip`` are filled from its
    session at the end unless set (a sign-up on a ring's shared device)."""

    at: datetime
    seq: int
    account: AccountPlan
    type: str
    data: dict[str, Any]
    counterparty: AccountPlan | None = None
    payment: str | None = None
    policy: str | None = None
    subject: AccountPlan | None = None
    what: str = ""
    device: str | None = None
    ip: str | None = None


@dataclass
class _Known:
    """An account's identifiers in the order they were first seen, with when."""

    devices: list[tuple[datetime, str]] = field(default_factory=list)
    ips: list[tuple[datetime, str]] = field(default_factory=list)
    payments: list[tuple[datetime, str]] = field(default_factory=list)

    @staticmethod
    def at(items: list[tuple[datetime, str]], t: datetime) -> list[str]:
        return [v for when, v in items if when <= t]


class Slots(dict[str, Any]):
    """A template's slot values, each drawn on first use (see :meth:`Activity.slots`)."""

    def __init__(
        self,
        activity: Activity,
        account: AccountPlan,
        other: AccountPlan | None,
        lang: str,
        extra: dict[str, Any],
    ) -> None:
        super().__init__(extra)
        self.activity, self.account, self.other, self.lang = activity, account, other, lang

    def __missing__(self, name: str) -> Any:
        value = self[name] = self.activity.slot(name, self.account, self.other, self.lang)
        return value


class Activity:
    """Decides every event of a plan as drafts; :mod:`vigil.simulate.events` turns them into
    envelopes with their labels."""

    def __init__(self, plan: Plan) -> None:
        # Injected waves act last, from their own random stream: the ordinary run sees the
        # plan without their accounts, so it is the same with or without them.
        self.waves = waves.Injector(plan)
        plan = self.waves.base
        self.plan = plan
        # Its own stream: the plan's random stream is not touched, so adding events to a run
        # changes nothing else about it.
        self.rng = Random(f"vigil-events-{plan.seed}")
        self.now = plan.now
        self.last = plan.now - MINUTE  # nothing happens at or after "now"
        self.drafts: list[Draft] = []
        self.speakers: dict[str, list[AccountPlan]] = {}
        self.seq = 0
        self.ids = {a.external_id: a for a in plan.accounts}
        self.known = {a.index: self._known(a) for a in plan.accounts}
        self.minted: dict[tuple[int, str], str] = {}
        self.end: dict[int, datetime] = {}
        for a in plan.accounts:
            banned = a.details.get("banned_at")
            self.end[a.index] = datetime.fromisoformat(banned) if banned else self.last
            if a.label in (Label.scammer, Label.fraud_ring):
                # Burnt after a spree: the stolen cards are reported, the victims complain.
                days = (
                    self.rng.uniform(1, 4) if a.label is Label.scammer else self.rng.uniform(2, 6)
                )
                self.end[a.index] = min(self.last, a.registered_at + timedelta(days=days))
        self.harassers = self._harassers()
        self.actor = {
            a.index: HARASSER if a.index in self.harassers else a.label.value for a in plan.accounts
        }
        # Sellers and buyers who take part in ordinary deals, by marketplace and language,
        # sorted by registration so "who existed at t" is a prefix.
        ordinary = (Label.benign, Label.duplicate_identity, Label.off_platform)
        self.sellers: dict[tuple[str, str], list[AccountPlan]] = {}
        self.buyers: dict[tuple[str, str], list[AccountPlan]] = {}
        for a in plan.accounts:  # already in registration order
            if a.label not in ordinary:
                continue
            pool = self.sellers if a.is_seller else self.buyers
            for key in ((a.marketplace, a.language), (a.marketplace, "*")):
                pool.setdefault(key, []).append(a)
        # Some sellers are busier than others; solicitors hustle for work (and then steer it
        # off the platform), so they answer more jobs than most.
        weight = {
            a.index: self.rng.lognormvariate(0, 0.9) * (3 if a.label is Label.off_platform else 1)
            for pool in self.sellers.values()
            for a in pool
        }
        self.seller_weights = {
            key: self._cumulative([weight[a.index] for a in pool])
            for key, pool in sorted(self.sellers.items())
        }
        self.seller_times = {
            key: [a.registered_at for a in pool] for key, pool in self.sellers.items()
        }

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _known(a: AccountPlan) -> _Known:
        known = _Known()
        seen: set[str] = set()
        for s in sorted(a.sightings, key=lambda s: s.at):
            for kind, value in s.items:
                if value in seen:
                    continue
                seen.add(value)
                if kind is K.device:
                    known.devices.append((s.at, value))
                elif kind is K.ip:
                    known.ips.append((s.at, value))
                elif kind is K.payment:
                    known.payments.append((s.at, value))
        return known

    @staticmethod
    def _cumulative(weights: list[float]) -> list[float]:
        out, total = [], 0.0
        for w in weights:
            total += w
            out.append(total)
        return out

    def _harassers(self) -> set[int]:
        if len(self.plan.accounts) < 30:
            return set()
        horizon = self.plan.start + (self.now - self.plan.start) * 0.7
        pool = [
            a.index
            for a in self.plan.accounts
            if a.label is Label.benign and a.registered_at < horizon
        ]
        n = max(1, round(len(self.plan.accounts) * 0.004))
        return set(self.rng.sample(pool, min(n, len(pool))))

    def gap(self, median_minutes: float, sigma: float = 1.0) -> timedelta:
        minutes = self.rng.lognormvariate(0, sigma) * median_minutes
        return timedelta(seconds=max(1, int(minutes * 60)))

    def add(
        self,
        at: datetime,
        account: AccountPlan,
        type_: str,
        data: dict[str, Any],
        *,
        counterparty: AccountPlan | None = None,
        payment: str | None = None,
        policy: str | None = None,
        subject: AccountPlan | None = None,
        what: str = "",
        device: str | None = None,
        ip: str | None = None,
        after_end: bool = False,
    ) -> Draft | None:
        """Record an event; dropped when it falls after "now", before the account existed or
        after it went quiet (``after_end``: unless others act on it, as a chargeback)."""
        at = at.replace(microsecond=0)
        if at < account.registered_at:  # the plan's moments may carry microseconds
            at += timedelta(seconds=1)
        if at > self.last or at < account.registered_at:
            return None
        if at > self.end[account.index] and not after_end:
            return None
        self.seq += 1
        draft = Draft(
            at,
            self.seq,
            account,
            type_,
            data,
            counterparty,
            payment,
            policy,
            subject,
            what,
            device,
            ip,
        )
        self.drafts.append(draft)
        return draft

    def first_name(self, a: AccountPlan) -> str:
        return a.display_name.split()[0]

    def price(self, marketplace: str) -> int:
        lo, hi = {"freelance": (40, 1500), "services": (30, 400), "courses": (10, 150)}[marketplace]
        return int(min(hi, lo * self.rng.lognormvariate(0.8, 0.7)))

    def offer(self, a: AccountPlan) -> str:
        headline = a.attributes.get("headline")
        if headline:
            return str(headline)
        return self.rng.choice(chat.TASKS["freelance"][a.language])

    def slots(self, a: AccountPlan, other: AccountPlan | None, lang: str, **extra: Any) -> Slots:
        """The values a template may use, drawn when a template first asks for them (so a
        message costs the random draws it needs, in the order its text uses them)."""
        return Slots(self, a, other, lang, extra)

    def slot(self, name: str, a: AccountPlan, other: AccountPlan | None, lang: str) -> Any:
        rng = self.rng
        if name == "name":
            return self.first_name(other) if other else ""
        if name == "task":
            return rng.choice(chat.TASKS[a.marketplace][lang])
        if name == "price":
            return f"${self.price(a.marketplace)}"
        if name == "day":
            return rng.choice(chat.DAYS[lang])
        if name == "years":
            return rng.randint(2, 15)
        if name in ("offer", "offer_lc"):
            offer = self.offer(a if a.is_seller else (other or a))
            # "Logo designer" reads "logo designer" mid-sentence; "SEO specialist" stays.
            lower = offer if offer[1:2].isupper() else offer[:1].lower() + offer[1:]
            return offer if name == "offer" else lower
        if name == "city":
            return a.attributes.get("city", "")
        if name == "discount":
            return rng.choice((10, 15, 20))
        if name == "pay":
            return rng.choice(chat.PAY_CHANNELS[lang])
        if name == "app":
            return rng.choice(chat.CHAT_APPS)
        if name == "url":
            return chat.scam_url(rng)
        raise KeyError(name)

    @staticmethod
    def task(buyer: AccountPlan, lang: str, need: int) -> str:
        tasks = chat.TASKS[buyer.marketplace][lang]
        return tasks[need % len(tasks)]

    def pick_seller(
        self, marketplace: str, lang: str, t: datetime, exclude: AccountPlan | None = None
    ) -> AccountPlan | None:
        key = (marketplace, lang if self.rng.random() < 0.85 else "*")
        if key not in self.sellers:
            key = (marketplace, "*")
        pool, cum = self.sellers.get(key, []), self.seller_weights.get(key, [])
        n = bisect_left(self.seller_times.get(key, []), t)
        if n == 0:
            return None
        for _ in range(4):
            i = min(bisect_right(cum, self.rng.random() * cum[n - 1]), n - 1)
            seller = pool[i]
            if seller is not exclude and self.end[seller.index] > t:
                return seller
        return None

    def pick_buyers(self, marketplace: str | None, t: datetime, n: int) -> list[AccountPlan]:
        """``n`` buyers of this marketplace (any, if it has none) active at ``t``."""
        pools = [
            p for (m, lang), p in sorted(self.buyers.items()) if lang == "*" and m == marketplace
        ] or [p for (m, lang), p in sorted(self.buyers.items()) if lang == "*"]
        people = [a for p in pools for a in p if a.registered_at < t and self.end[a.index] > t]
        return self.rng.sample(people, min(n, len(people)))

    def language(self, a: AccountPlan, b: AccountPlan) -> str:
        return a.language if a.language == b.language else "en"

    def buyer_payment(self, a: AccountPlan, t: datetime) -> str:
        cards = [
            v
            for v in _Known.at(self.known[a.index].payments, t)
            if v.startswith(("card:", "paypal:"))
        ]
        return cards[0] if cards else self.mint(a, "card:")

    def payout_account(self, a: AccountPlan, t: datetime) -> str:
        banks = [
            v for v in _Known.at(self.known[a.index].payments, t) if v.startswith(("bank:", "pix:"))
        ]
        return banks[0] if banks else self.mint(a, "bank:")

    def mint(self, a: AccountPlan, prefix: str) -> str:
        """A payment instrument the plan did not list (the account added it when paying)."""
        key = (a.index, prefix)
        if key not in self.minted:
            self.minted[key] = f"{prefix}{self.rng.getrandbits(64):016x}"
        return self.minted[key]

    def rating(self) -> int:
        return self.rng.choices([r for r, _ in _RATINGS], [w for _, w in _RATINGS])[0]

    # --- everyone ---------------------------------------------------------------------------

    def signups(self) -> None:
        for a in self.plan.accounts:
            device = ip = None
            policy, what = None, ""
            if a.label is Label.fraud_ring:
                device = a.details["shared_devices"][0]
                policy, what = "duplicate_accounts", "signup on the ring's shared device"
            elif a.label is Label.fake_reviewer:
                ip = a.details["shared_ip"]
                device = a.details.get("shared_device")
                if device:
                    policy, what = "duplicate_accounts", "signup on the review group's device"
            elif a.label is Label.duplicate_identity and a.details.get("role") == "duplicate":
                carried = [v for k, v in a.sightings[0].items if k is K.device]
                if "device" in a.details.get("carried", []):
                    device = carried[-1]
                policy, what = "duplicate_accounts", "new account for an existing person"
            self.add(
                a.registered_at,
                a,
                "signup",
                {
                    "side": a.side.value,
                    "country": a.country,
                    "locale": a.locale,
                    "email": a.email,
                    "phone": a.phone,
                    "display_name": a.display_name,
                    "method": self.rng.choices(("email", "google", "apple"), (6, 3, 1))[0],
                    "marketplace": a.marketplace,  # an extra field, kept as sent
                },
                device=device,
                ip=ip,
                policy=policy,
                what=what,
            )

    def profiles(self) -> None:
        """Sellers fill in a bio and publish listings in their first days."""
        for a in self.plan.accounts:
            if not a.is_seller or a.label is Label.scammer or a.label is Label.fraud_ring:
                continue
            lang = a.language
            t = a.registered_at + self.gap(30, 1.2)
            bio = a.attributes.get("bio")
            if bio:
                self.add(
                    t,
                    a,
                    "profile_update",
                    {"changed": ["bio"], "text": bio},
                    policy="fee_circumvention",
                    what="contact off the platform in the bio",
                )
            elif self.rng.random() < 0.7:
                # Some link their portfolio: allowed (no prices, no booking), a hard negative.
                portfolio = a.marketplace == "freelance" and self.rng.random() < 0.2
                pool = chat.PORTFOLIO_BIOS if portfolio else chat.BIOS
                slots = self.slots(
                    a, None, lang, site=chat.handle_for(a.display_name, self.rng)[1:]
                )
                text = chat.fill(self.rng.choice(pool[lang]), slots)
                self.add(t, a, "profile_update", {"changed": ["bio"], "text": text})
            if self.rng.random() < 0.5:  # identity verification, for the payouts
                self.add(
                    a.registered_at + self.gap(120, 1.5),
                    a,
                    "document_uploaded",
                    {
                        "document_type": self.rng.choice(("passport", "id_card", "driver_license")),
                        "issuing_country": a.country,
                    },
                )
            for _ in range(self.rng.choice((1, 1, 2, 3))):
                t = t + self.gap(90, 1.5)
                soliciting = a.label is Label.off_platform and self.rng.random() < 0.3
                pool = chat.SOLICITING_LISTINGS if soliciting else chat.LISTINGS
                slots = self.slots(a, None, lang)
                if soliciting:
                    slots["contact"] = self.contact(a, lang)[0]
                text = chat.fill(self.rng.choice(pool[lang]), slots)
                self.add(
                    t,
                    a,
                    "listing_created",
                    self.listing(a, text),
                    policy="fee_circumvention" if soliciting else None,
                    what="contact details in a listing" if soliciting else "",
                )

    def listing(self, a: AccountPlan, text: str) -> dict[str, Any]:
        return {
            "listing_id": f"lst-{self.rng.getrandbits(40):010x}",
            "title": self.offer(a),
            "text": text,
            "price": self.price(a.marketplace),
            "currency": "USD",
        }

    def contact(self, a: AccountPlan, lang: str) -> tuple[str, str]:
        return chat.contact(
            lang, self.rng, phone=a.phone, email=a.email, display_name=a.display_name
        )

    # --- ordinary deals ----------------------------------------------------------------------

    def deals(self) -> None:
        for a in self.plan.accounts:
            if a.is_seller or a.label not in (Label.benign, Label.duplicate_identity):
                continue
            rate = self.rng.lognormvariate(-2.6, 0.8)  # needs per day; median one a fortnight
            t = a.registered_at + timedelta(days=self.rng.expovariate(rate * 3))
            end = self.end[a.index]
            while t < end:
                self.deal(a, t)
                t += timedelta(days=self.rng.expovariate(rate))

    def deal(self, buyer: AccountPlan, t: datetime) -> None:
        rng, lang, kind = self.rng, buyer.language, buyer.marketplace
        # What the buyer needs, as an index: the same need reads right in whichever language
        # a seller answers.
        need = rng.randrange(1000)
        slots = self.slots(buyer, None, lang, task=self.task(buyer, lang, need))
        if kind == "courses":
            seller = self.pick_seller(kind, lang, t)
            if seller is None:
                return
            talk_at = t
        else:
            job_id = f"job-{rng.getrandbits(40):010x}"
            self.add(
                t,
                buyer,
                "job_posted",
                {
                    "job_id": job_id,
                    "title": slots["task"],
                    "text": chat.fill(rng.choice(chat.JOB_POSTS[lang]), slots),
                    "budget": self.price(kind),
                    "currency": "USD",
                },
            )
            proposers: list[tuple[datetime, AccountPlan]] = []
            for _ in range(rng.choice((1, 2, 3, 3, 4, 6))):
                seller = self.pick_seller(kind, lang, t)
                if seller is None or any(s is seller for _, s in proposers):
                    continue
                when = t + self.gap(45, 1.2)
                self.proposal(seller, buyer, when, job_id, need)
                proposers.append((when, seller))
            if not proposers or rng.random() < 0.25:
                return
            talk_at, seller = rng.choice(proposers)
            talk_at += self.gap(60)
        self.conversation(buyer, seller, talk_at, need)

    def proposal(
        self, seller: AccountPlan, buyer: AccountPlan, t: datetime, job_id: str, need: int
    ) -> None:
        """A seller's first words to a buyer. A solicitor's sometimes carry contact details
        already."""
        rng = self.rng
        lang = self.language(seller, buyer)
        slots = self.slots(seller, buyer, lang, task=self.task(buyer, lang, need))
        text = chat.fill(rng.choice(chat.PROPOSALS[lang]), slots)
        policy, what = None, ""
        if seller.label is Label.off_platform and rng.random() < 0.3:
            c, style = self.contact(seller, lang)
            slots["contact"] = c
            ask = chat.fill(rng.choice(chat.SOLICITATIONS[lang]), slots)
            text = f"{text} {ask}"
            policy, what = "fee_circumvention", f"contact details in a proposal ({style})"
        data = {"job_id": job_id, "text": text, "amount": self.price(seller.marketplace)}
        self.add(
            t,
            seller,
            "proposal_sent",
            {**data, "currency": "USD"},
            counterparty=buyer,
            policy=policy,
            what=what,
        )

    def say(
        self,
        at: datetime,
        who: AccountPlan,
        to: AccountPlan,
        conversation: str,
        text: str,
        *,
        policy: str | None = None,
        what: str = "",
    ) -> Draft | None:
        speakers = self.speakers.setdefault(conversation, [])
        reply = any(s is not who for s in speakers)
        if who not in speakers:
            speakers.append(who)
        return self.add(
            at,
            who,
            "message_sent",
            {"conversation_id": conversation, "text": text, "is_reply": reply},
            counterparty=to,
            policy=policy,
            what=what,
        )

    def conversation(self, buyer: AccountPlan, seller: AccountPlan, t: datetime, need: int) -> None:
        rng = self.rng
        lang = self.language(buyer, seller)
        conv = f"conv-{rng.getrandbits(48):012x}"
        turns = rng.choices((1, 2, 3, 4), (15, 25, 25, 35))[0]
        soliciting = seller.label is Label.off_platform and rng.random() < 0.75
        price = self.price(buyer.marketplace)
        common = {"task": self.task(buyer, lang, need), "price": f"${price}"}
        went_off = False
        for k in range(turns):
            # A few ask about paying with a wallet at the checkout: allowed, a hard negative.
            asks = k == 0 and rng.random() < 0.05
            pool = chat.PAYMENT_QUESTIONS[lang] if asks else chat.BUYER_TURNS[lang][k]
            text = chat.fill(rng.choice(pool), self.slots(buyer, seller, lang, **common))
            self.say(t, buyer, seller, conv, text)
            t += self.gap(25, 1.3)
            if soliciting and k < 2 and (k == 0 or rng.random() < 0.4):
                c, style = self.contact(seller, lang)
                slots = self.slots(seller, buyer, lang, contact=c, **common)
                text = chat.fill(rng.choice(chat.SOLICITATIONS[lang]), slots)
                self.say(
                    t,
                    seller,
                    buyer,
                    conv,
                    text,
                    policy="fee_circumvention",
                    what=f"off-platform request in an early message ({style})",
                )
                went_off = True
            else:
                text = chat.fill(
                    rng.choice(chat.SELLER_TURNS[lang][k]),
                    self.slots(seller, buyer, lang, **common),
                )
                self.say(t, seller, buyer, conv, text)
            t += self.gap(40, 1.3)
        if went_off:
            if rng.random() < 0.2:
                self.report(buyer, seller, t + self.gap(120), "off_platform", "fee_circumvention")
            if rng.random() < 0.7:
                return  # the deal moved off the platform
        if turns < 3:
            return
        paid, _ = self.contract(buyer, seller, t, price)
        if buyer.marketplace == "services" and rng.random() < 0.5:
            # The pro's number for the visit, after it was paid here: allowed, a hard negative.
            slots = self.slots(seller, buyer, lang, phone=seller.phone)
            self.say(
                paid + self.gap(30),
                seller,
                buyer,
                conv,
                chat.fill(rng.choice(chat.VISIT_CONTACT[lang]), slots),
            )

    def contract(
        self,
        buyer: AccountPlan,
        seller: AccountPlan,
        t: datetime,
        amount: int,
        *,
        card: str | None = None,
        policy: str | None = None,
        what: str = "",
        review: bool = True,
    ) -> tuple[datetime, str]:
        """A contract and its payment; then, usually, a payout and sometimes a review.
        Returns when it was paid, and the contract's id."""
        rng = self.rng
        contract_id = f"ctr-{rng.getrandbits(48):012x}"
        self.add(
            t,
            buyer,
            "contract_started",
            {"contract_id": contract_id, "amount": amount, "currency": "USD"},
            counterparty=seller,
            policy=policy,
            what=what,
        )
        paid = t + self.gap(3, 1.0)
        fingerprint = card or self.buyer_payment(buyer, paid)
        self.add(
            paid,
            buyer,
            "payment",
            {
                "contract_id": contract_id,
                "amount": amount,
                "currency": "USD",
                "method": fingerprint.split(":", 1)[0],
            },
            counterparty=seller,
            payment=fingerprint,
            policy=policy,
            what=what,
        )
        if not review:
            return paid, contract_id
        delivered = paid + timedelta(hours=rng.uniform(4, 24 * 7))
        if rng.random() < 0.8 and seller.label in (
            Label.benign,
            Label.duplicate_identity,
            Label.off_platform,
        ):
            when = delivered + self.gap(60 * 24, 1.0)
            self.payout(seller, when, amount)
        if rng.random() < 0.45:
            rating = self.rating()
            lang = buyer.language
            pool = chat.GOOD_REVIEWS if rating >= 4 else chat.BAD_REVIEWS
            text = chat.fill(rng.choice(pool[lang]), self.slots(buyer, seller, lang))
            self.add(
                delivered + self.gap(120, 1.5),
                buyer,
                "review_posted",
                {"contract_id": contract_id, "rating": rating, "text": text},
                counterparty=seller,
            )
            if rating <= 2 and rng.random() < 0.3:
                kind = rng.choice(("quality", "rude"))
                self.report(buyer, seller, delivered + self.gap(240), kind, None)
        return paid, contract_id

    def payout(
        self,
        seller: AccountPlan,
        t: datetime,
        amount: int,
        *,
        policy: str | None = None,
        what: str = "",
    ) -> None:
        account = self.payout_account(seller, t)
        # "Changed": not the payout account the seller registered with.
        registered = [v for k, v in seller.sightings[0].items if k is K.payment]
        self.add(
            t,
            seller,
            "payout_request",
            {
                "amount": amount,
                "currency": "USD",
                "method": account.split(":", 1)[0],
                "destination_changed": account not in registered,
            },
            payment=account,
            policy=policy,
            what=what,
        )

    def report(
        self,
        reporter: AccountPlan,
        subject: AccountPlan,
        t: datetime,
        kind: str,
        policy: str | None,
    ) -> None:
        lang = reporter.language
        if kind == "harassment":
            text = self.rng.choice(chat.HARASSMENT_REPORTS[lang])
        else:
            text = self.rng.choice(REPORT_WORDS[kind][lang])
        self.add(
            t,
            reporter,
            "report_filed",
            {"reason": kind, "text": text},
            counterparty=subject,
            policy=policy,
            subject=subject,
            what=f"{kind} report" if policy else "",
        )

    # --- sessions ---------------------------------------------------------------------------

    def sessions(self) -> None:
        """Logins: one before any activity after a quiet spell, plus visits that only browse;
        then every event gets the device and address of the session it happened in."""
        rng = self.rng
        by_account: dict[int, list[Draft]] = {}
        for d in self.drafts:
            by_account.setdefault(d.account.index, []).append(d)
        for a in self.plan.accounts:
            mine = by_account.get(a.index, [])
            # Visits that only browse, per day: most people drop in every week or so.
            rate = {"scammer": 6.0, "fraud_ring": 2.0}.get(
                a.label.value, 0.0
            ) or rng.lognormvariate(-2.0, 0.8)
            t = a.registered_at + timedelta(days=rng.expovariate(rate))
            while t < self.end[a.index] and t <= self.last:
                mine.append(self.login(a, t))
                t += timedelta(days=rng.expovariate(rate))
            mine.sort(key=lambda d: (d.at, d.seq))
            session: Draft | None = None
            extra: list[Draft] = []
            for d in mine:
                if d.type == "signup" or d.type == "login":
                    session = d
                elif session is None or d.at - session.at > SESSION_GAP:
                    when = max(a.registered_at, d.at - self.gap(4))
                    session = self.login(a, when)
                    self.place(a, session, session)
                    extra.append(session)
                self.place(a, d, session)
            mine.extend(extra)
        self.drafts = [d for d in self.drafts if d.at <= self.last]

    def login(self, a: AccountPlan, t: datetime) -> Draft:
        self.seq += 1
        draft = Draft(
            t.replace(microsecond=0),
            self.seq,
            a,
            "login",
            {"method": self.rng.choice(("password", "password", "google", "apple"))},
        )
        self.drafts.append(draft)
        return draft

    def place(self, a: AccountPlan, d: Draft, session: Draft | None) -> None:
        if session is not None and session is not d:
            d.device = d.device or session.device
            d.ip = d.ip or session.ip
            return
        known = self.known[a.index]
        devices = _Known.at(known.devices, d.at) or [v for _, v in known.devices[:1]]
        ips = _Known.at(known.ips, d.at) or [v for _, v in known.ips[:1]]
        if d.device is None and devices:
            d.device = devices[0] if self.rng.random() < 0.6 else self.rng.choice(devices)
        if d.ip is None and ips:
            d.ip = ips[0] if self.rng.random() < 0.5 else self.rng.choice(ips)

    # --- the whole run ------------------------------------------------------------------------

    def run(self) -> list[Draft]:
        """Every event, in time order (ties in the order they were decided)."""
        self.signups()
        self.profiles()
        self.deals()
        schemes.scammers(self)
        schemes.rings(self)
        schemes.review_bursts(self)
        schemes.harassment(self)
        self.sessions()
        self.waves.inject(self)
        self.drafts.sort(key=lambda d: (d.at, d.seq))
        return self.drafts
