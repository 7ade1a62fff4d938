"""Plan a simulated marketplace: who registers when, with which identifiers, who the bad
actors are, and how the team's cases about them unfold.

Planning is pure and deterministic: the same seed, size and "now" give the same plan, byte
for byte (one ``random.Random(seed)``, no global random, no network, no database). The
writer (:mod:`vigil.simulate.writer`) replays the plan through the services in time order.

Structures a detector should find, and the noise it should not fall for:

- fraud rings: 3 to 8 accounts registered within hours of each other, all seen with one
  device and one payment instrument (often a second of each, often one VPN address);
- scammers: accounts a few days old on disposable mail, churning devices, addresses, phones
  and cards;
- off-platform solicitors: ordinary-looking sellers who ask buyers to pay outside;
- duplicate identities: the same legal name and date of birth under new email and phone,
  often after the original was suspended;
- fake reviewers: small groups of new buyers sharing an address, all reviewing one seller;
- benign noise: households share a home address (sometimes a laptop, rarely a card) and
  many people pass through the same café Wi-Fi, so a shared IP alone proves nothing.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime, timedelta
from random import Random
from typing import Any

from vigil.accounts.models import IdentifierKind, RestrictionKind, Side
from vigil.simulate import pools
from vigil.simulate.casework import plan_cases
from vigil.simulate.plan import AccountPlan, Label, Plan, RestrictionPlan, Sightings

MARKETPLACES = ("freelance", "services", "courses")
MIXED = "mixed"
MARKETPLACE_CHOICES = (*MARKETPLACES, MIXED)
K = IdentifierKind
# Below this size the run still gets one of each bad-actor structure (so small runs and tests
# see them all), which pushes the bad share above the usual 5-8 %.
MIN_SIZE_FOR_EVERY_KIND = 30
GROWTH = 1.2


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


# People register more in the day and evening than at night (weights by hour, UTC-ish).
_HOURLY = (1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 6, 4, 3, 2)


class _Planner:
    def __init__(self, seed: int, size: int, days: int, now: datetime, marketplace: str) -> None:
        self.rng = Random(seed)
        self.seed = seed
        self.size = size
        self.now = now
        self.start = now - timedelta(days=days)
        self.window = now - self.start
        self.marketplace = marketplace
        self.used: set[str] = set()
        self.groups = 0
        self.days = days
        # Originals of duplicate identities that were suspended, and when.
        self.bans: list[tuple[datetime, AccountPlan]] = []
        self.country_weights = [c.weight for c in pools.COUNTRIES]

    # --- small draws -----------------------------------------------------------------------

    def at(self, frac: float) -> datetime:
        """A moment at ``frac`` of the window; never at or after now."""
        moment = self.start + self.window * min(max(frac, 0.0), 1.0)
        return min(moment, self.now - timedelta(minutes=1))

    def registration_time(self, lo: float = 0.0, hi: float = 1.0) -> datetime:
        # A growing marketplace: sign-ups per day rise over the window (the last day sees
        # about three times the first), so recent days are busier, as on a real one.
        u = self.rng.random()
        frac = math.log1p(u * math.expm1(GROWTH)) / GROWTH
        base = self.at(lo + (hi - lo) * frac)
        # More by day than by night. Days count from the window's start, not from midnight,
        # so the plan is the same whatever time "now" is, only shifted.
        day = (base - self.start) // timedelta(days=1)
        hour = self.rng.choices(range(24), weights=_HOURLY)[0]
        moment = self.start + timedelta(days=day, hours=hour, minutes=self.rng.randrange(60))
        if moment >= self.now:
            moment = self.now - timedelta(minutes=self.rng.randint(2, 180))
        return max(moment, self.start)

    def token(self, prefix: str, n: int = 16) -> str:
        return f"{prefix}{self.rng.getrandbits(n * 4):0{n}x}"

    def device(self) -> str:
        return self.token(self.rng.choices(("android-", "ios-", "web-"), (5, 3, 2))[0])

    def payment(self, seller: bool, country: str) -> str:
        if seller:
            kind = "pix:" if country == "BR" and self.rng.random() < 0.6 else "bank:"
        else:
            kind = self.rng.choices(("card:", "paypal:"), (8, 2))[0]
        return self.token(kind)

    def home_ip(self, country: str) -> str:
        if self.rng.random() < 0.55:  # fixed broadband, IPv6 documentation prefix
            region = [c.code for c in pools.COUNTRIES].index(country) + 1
            return (
                f"2001:db8:{region:x}:{self.rng.getrandbits(16):x}:"
                f"{self.rng.getrandbits(16):x}::{self.rng.randrange(1, 255):x}"
            )
        return self.mobile_ip()

    def mobile_ip(self) -> str:
        # Carrier-grade NAT: many subscribers behind few addresses, as in real mobile data.
        return (
            f"100.{self.rng.randint(64, 127)}.{self.rng.randrange(256)}.{self.rng.randint(1, 254)}"
        )

    def vpn_ip(self) -> str:
        block = self.rng.choice(("198.51.100", "203.0.113"))
        return f"{block}.{self.rng.randint(1, 254)}"

    def unique(self, make: Any) -> str:
        for _ in range(50):
            value = str(make())
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("could not draw a unique value")  # pools far larger than needed

    def group_key(self, kind: str) -> str:
        self.groups += 1
        return f"{kind}-{self.seed}-{self.groups}"

    # --- people ----------------------------------------------------------------------------

    def country(self) -> pools.Country:
        return self.rng.choices(pools.COUNTRIES, self.country_weights)[0]

    def kind_of_marketplace(self) -> str:
        if self.marketplace != MIXED:
            return self.marketplace
        return self.rng.choices(MARKETPLACES, (5, 3, 2))[0]

    def email_for(self, first: str, surname: str, language: str, disposable: bool) -> str:
        domains = pools.DISPOSABLE_DOMAINS if disposable else pools.MAIL_DOMAINS[language]

        def make() -> str:
            f, s = ascii_fold(first).replace(" ", ""), ascii_fold(surname).replace(" ", "")
            style = self.rng.randrange(5)
            local = (
                f"{f}.{s}",
                f"{f}{s}{self.rng.randint(1, 99)}",
                f"{f[0]}{s}",
                f"{f}_{s}{self.rng.randint(70, 99)}",
                f"{f}{self.rng.randint(100, 9999)}",
            )[style]
            if disposable:
                local = self.token("", 8)
            return f"{local}@{self.rng.choice(domains)}"

        return self.unique(make)

    def person(
        self,
        *,
        side_kind: str = "buyer",
        lo: float = 0.0,
        hi: float = 1.0,
        country: pools.Country | None = None,
        disposable: bool = False,
        registered_at: datetime | None = None,
    ) -> AccountPlan:
        rng = self.rng
        c = country or self.country()
        female = rng.random() < 0.5
        first = pools.place(rng.choice(c.female if female else c.male))
        surname = pools.place(rng.choice(c.surnames))
        legal = f"{first} {surname}"
        if c.two_surnames or (c.language == "pt" and rng.random() < 0.6):
            legal += " " + pools.place(rng.choice(c.surnames))
        age = 18 + int(rng.betavariate(2, 4) * 50)
        born = self.now.date() - timedelta(days=age * 365 + rng.randrange(365))
        kind = self.kind_of_marketplace()
        buyer_side, seller_side = pools.MARKETPLACE_SIDES[kind]
        seller = side_kind == "seller"
        side = Side(seller_side if seller else buyer_side)
        when = registered_at or self.registration_time(lo, hi)
        city = pools.place(rng.choice(c.cities))
        attributes: dict[str, Any] = {"marketplace": kind, "city": city}
        if seller:
            attributes["headline"] = rng.choice(pools.SELLER_OFFERS[kind][c.language])
            attributes["rating"] = round(rng.uniform(3.9, 5.0), 1)
            attributes["completed_orders"] = rng.randint(0, 40)
        else:
            attributes["orders"] = rng.randint(0, 12)
        items: list[tuple[IdentifierKind, str]] = [
            (K.device, self.unique(self.device)),
            (K.ip, self.home_ip(c.code)),
        ]
        if rng.random() < 0.3:
            items.append((K.device, self.unique(self.device)))
        if rng.random() < (0.7 if seller else 0.85):
            items.append((K.payment, self.unique(lambda: self.payment(seller, c.code))))
        return AccountPlan(
            marketplace=kind,
            side=side,
            display_name=f"{first} {surname[0]}.",
            legal_name=legal,
            date_of_birth=born,
            country=c.code,
            locale=c.locale,
            email=self.email_for(first, surname, c.language, disposable),
            phone=self.unique(lambda: c.phone(rng)),
            registered_at=when,
            attributes=attributes,
            sightings=[Sightings(when, items)],
        )

    def later(self, account: AccountPlan, items: list[tuple[IdentifierKind, str]]) -> None:
        """A sighting some time after registration (skipped when that would be after now)."""
        span = (self.now - account.registered_at).total_seconds()
        if span < 600:
            return
        moment = account.registered_at + timedelta(seconds=self.rng.uniform(300, span - 60))
        account.sightings.append(Sightings(moment, items))

    # --- bad actors --------------------------------------------------------------------------

    def budget(self) -> dict[Label, int]:
        total = round(self.size * self.rng.uniform(0.05, 0.08))
        floor = self.size >= MIN_SIZE_FOR_EVERY_KIND
        share = {
            Label.fraud_ring: (0.40, 3),
            Label.duplicate_identity: (0.15, 2),
            Label.fake_reviewer: (0.10, 2),
            Label.off_platform: (0.15, 1),
        }
        out = {
            label: max(minimum if floor else 0, round(total * part))
            for label, (part, minimum) in share.items()
        }
        out[Label.scammer] = max(1 if floor else 0, total - sum(out.values()))
        return out

    def ring(self, size: int) -> list[AccountPlan]:
        rng = self.rng
        key = self.group_key("ring")
        country = self.country() if rng.random() < 0.7 else None
        first = self.registration_time(0.1, 0.9)
        devices = [self.unique(self.device) for _ in range(rng.choice((1, 2)))]
        cards = [self.unique(lambda: self.token("card:")) for _ in range(rng.choice((1, 1, 2)))]
        vpn = self.vpn_ip() if rng.random() < 0.6 else None
        scheme = "stolen_cards" if rng.random() < 0.7 else "collusion"
        members = []
        for i in range(size):
            when = min(
                first + timedelta(minutes=rng.randint(5, 360)), self.now - timedelta(minutes=2)
            )
            seller = scheme == "collusion" and i == 0
            m = self.person(
                side_kind="seller" if seller else "buyer", country=country, registered_at=when
            )
            # Every member carries the ring's first device and card; the rest come and go.
            items: list[tuple[IdentifierKind, str]] = [
                (K.device, devices[0]),
                (K.payment, cards[0]),
            ]
            items += [(K.device, d) for d in devices[1:] if rng.random() < 0.6]
            items += [(K.payment, c) for c in cards[1:] if rng.random() < 0.6]
            items.append((K.ip, vpn or self.mobile_ip()))
            if rng.random() < 0.4:
                items.append((K.device, self.unique(self.device)))
            m.sightings = [Sightings(when, items)]
            m.label, m.group_key = Label.fraud_ring, key
            m.details = {
                "ring_size": size,
                "scheme": scheme,
                "shared_devices": devices,
                "shared_payments": cards,
                "shared_ip": vpn,
            }
            members.append(m)
        return members

    def scammer(self) -> AccountPlan:
        rng = self.rng
        # New accounts: the last three days, or the last 15 % of a long window.
        lo = max(0.0, 1 - max(3 / self.days, 0.15))
        m = self.person(
            side_kind="seller" if rng.random() < 0.6 else "buyer", lo=lo, disposable=True
        )
        m.sightings[0].items = [
            (K.device, self.unique(self.device)),
            (K.ip, self.vpn_ip()),
            (K.device, self.unique(self.device)),
            (K.ip, self.vpn_ip()),
        ]
        for _ in range(rng.randint(2, 4)):
            batch = [(K.device, self.unique(self.device)), (K.ip, self.vpn_ip())]
            if rng.random() < 0.5:
                batch.append((K.phone, self.unique(lambda: self.country().phone(rng))))
            if rng.random() < 0.4:
                batch.append((K.email, self.email_for("x", "x", "en", disposable=True)))
            if rng.random() < 0.6:
                batch.append((K.payment, self.unique(lambda: self.token("card:"))))
            self.later(m, batch)
        m.label = Label.scammer
        m.details = {"scheme": "non_delivery" if m.is_seller else "fake_payment"}
        return m

    def solicitor(self) -> AccountPlan:
        m = self.person(side_kind="seller", hi=0.8)
        channels = self.rng.sample(["whatsapp", "telegram", "bank_transfer", "cash", "pix"], 2)
        if self.rng.random() < 0.5:
            m.attributes["bio"] = {
                "en": "Message me on WhatsApp for better prices.",
                "es": "Escríbeme por WhatsApp y te hago mejor precio.",
                "pt": "Me chama no WhatsApp que faço preço melhor.",
            }[m.language]
        m.label = Label.off_platform
        m.details = {"channels": channels}
        return m

    def duplicates(self, size: int) -> list[AccountPlan]:
        rng = self.rng
        key = self.group_key("dup")
        original = self.person(side_kind="seller" if rng.random() < 0.5 else "buyer", hi=0.4)
        banned = rng.random() < 0.6
        after = original.registered_at + timedelta(hours=rng.uniform(12, 120))
        after = min(after, self.now - timedelta(hours=2))
        original.label, original.group_key = Label.duplicate_identity, key
        original.details = {"role": "original", "banned": banned}
        if banned:
            original.details["banned_at"] = after.isoformat()
            self.bans.append((after, original))
        country = next(c for c in pools.COUNTRIES if c.code == original.country)
        group = [original]
        for _ in range(size - 1):
            span = (self.now - after).total_seconds()
            when = after + timedelta(seconds=rng.uniform(0.1, 0.9) * span)
            dup = self.person(
                side_kind="seller" if original.is_seller else "buyer",
                country=country,
                registered_at=when,
            )
            dup.side, dup.marketplace = original.side, original.marketplace
            dup.attributes["marketplace"] = original.marketplace
            dup.legal_name, dup.date_of_birth = original.legal_name, original.date_of_birth
            first = original.legal_name.split()[0]
            dup.display_name = rng.choice((first, f"{first[0]}. {original.legal_name.split()[-1]}"))
            carried = []
            if rng.random() < 0.4:  # careless: the old phone or laptop again
                carried.append((K.device, original.values(K.device)[0]))
            if rng.random() < 0.3 and original.values(K.payment):
                carried.append((K.payment, original.values(K.payment)[0]))
            dup.sightings[0].items += carried
            dup.label, dup.group_key = Label.duplicate_identity, key
            dup.details = {
                "role": "duplicate",
                "banned_original": banned,
                "carried": [k.value for k, _ in carried],
            }
            group.append(dup)
        return group

    def reviewers(self, size: int) -> list[AccountPlan]:
        rng = self.rng
        key = self.group_key("reviews")
        first = self.registration_time(0.3, 0.95)
        ip = self.vpn_ip()
        device = self.unique(self.device) if rng.random() < 0.5 else None
        group = []
        for _ in range(size):
            when = min(
                first + timedelta(minutes=rng.randint(1, 600)), self.now - timedelta(minutes=2)
            )
            m = self.person(side_kind="buyer", registered_at=when)
            m.sightings[0].items.append((K.ip, ip))
            if device:
                m.sightings[0].items.append((K.device, device))
            m.label, m.group_key = Label.fake_reviewer, key
            m.details = {"shared_ip": ip, "shared_device": device}
            group.append(m)
        return group

    # --- noise ------------------------------------------------------------------------------

    def households_and_cafes(self, benign: list[AccountPlan]) -> None:
        rng = self.rng
        pool = benign[:]
        rng.shuffle(pool)
        n_households = max(1, round(len(benign) * 0.025))
        for _ in range(n_households):
            size = rng.choice((2, 2, 2, 3))
            if len(pool) < size:
                break
            members = [pool.pop() for _ in range(size)]
            key = self.group_key("household")
            home = members[0].values(K.ip)[0]
            shares = ["ip"]
            extra: list[tuple[IdentifierKind, str]] = []
            if rng.random() < 0.2:
                extra.append((K.device, members[0].values(K.device)[0]))
                shares.append("device")
            if rng.random() < 0.05 and members[0].values(K.payment):
                extra.append((K.payment, members[0].values(K.payment)[0]))
                shares.append("payment")
            for m in members[1:]:
                m.sightings[0].items.append((K.ip, home))
                m.sightings[0].items += extra
            for m in members:
                m.details = {"noise": ["household"], "household": key, "shares": shares}
        cafes = [f"192.0.2.{rng.randint(1, 254)}" for _ in range(max(2, len(benign) // 120))]
        for m in benign:
            roll = rng.random()
            if roll < 0.10:
                self.later(m, [(K.ip, rng.choice(cafes))])
                m.details.setdefault("noise", []).append("cafe_wifi")
            elif roll < 0.45:
                batch = [(K.ip, self.mobile_ip())]
                if rng.random() < 0.2:
                    batch.append((K.device, self.unique(self.device)))
                self.later(m, batch)


def make_plan(
    seed: int,
    accounts: int,
    days: int,
    now: datetime,
    marketplace: str = "freelance",
    *,
    with_cases: bool = True,
) -> Plan:
    """The whole run, decided up front. ``now`` is the end of the window (the Vigil clock)."""
    if marketplace not in MARKETPLACE_CHOICES:
        raise ValueError(f"marketplace must be one of {', '.join(MARKETPLACE_CHOICES)}")
    if accounts < 1 or days < 1:
        raise ValueError("accounts and days must be at least 1")
    # Whole seconds: every moment in the plan is then a whole number of seconds from now.
    now = now.replace(microsecond=0)
    p = _Planner(seed, accounts, days, now, marketplace)
    budget = p.budget() if accounts >= 10 else dict.fromkeys(Label, 0)
    bad: list[AccountPlan] = []
    left = budget[Label.fraud_ring]
    while left >= 3:
        size = min(p.rng.randint(3, 8), left)
        rest = left - size
        if 0 < rest < 3:  # never leave a remainder too small to be a ring
            size = size + rest if size + rest <= 8 else size - (3 - rest)
        bad += p.ring(size)
        left -= size
    left = budget[Label.duplicate_identity]
    while left >= 2:
        size = min(p.rng.choice((2, 2, 3)), left)
        if left - size == 1:
            size = left if left <= 3 else 2
        bad += p.duplicates(size)
        left -= size
    solicitors = [p.solicitor() for _ in range(budget[Label.off_platform])]
    bad += solicitors
    bad += [p.scammer() for _ in range(budget[Label.scammer])]
    review_groups: list[list[AccountPlan]] = []
    left = budget[Label.fake_reviewer]
    while left >= 2:
        size = min(p.rng.randint(2, 4), left)
        if left - size == 1:
            size = left if left <= 4 else 2
        review_groups.append(p.reviewers(size))
        bad += review_groups[-1]
        left -= size
    benign = [
        p.person(side_kind="seller" if p.rng.random() < 0.35 else "buyer")
        for _ in range(max(0, accounts - len(bad)))
    ]
    p.households_and_cafes(benign)

    everyone = sorted(bad + benign, key=lambda a: a.registered_at)
    for i, account in enumerate(everyone):
        account.index = i
        account.external_id = f"sim-{seed}-{i + 1:06d}"
    # Each review group boosts one seller who registered before the reviews came in.
    for group in review_groups:
        first = min(m.registered_at for m in group)
        sellers = [a for a in benign + solicitors if a.is_seller and a.registered_at < first]
        target = p.rng.choice(sellers) if sellers else None
        for m in group:
            m.details["reviewed"] = target.external_id if target else None
    bans = [
        (
            at,
            RestrictionPlan(
                original.index,
                RestrictionKind.suspension,
                "Chargebacks on orders paid with a stolen card",
                "fraud_scams",
            ),
        )
        for at, original in p.bans
    ]
    plan = Plan(seed, marketplace, days, now, everyone, [], bans)
    if with_cases:
        # Cases draw from their own stream, so switching them off leaves the accounts as
        # they were; the suspensions are then placed by the cases that decided them.
        plan.cases = plan_cases(plan, Random(p.rng.getrandbits(64)))
        plan.restrictions = []
    return plan
