"""Injected trend changes: known shifts in what a simulated marketplace reports, with a label
saying what each should move and from when, so the trend detector can be scored against them.

Two kinds:

- ``scam_wave``: from a given day, a crew of new scam accounts (a few sign-ups a day,
  disposable mail) blasts one new pitch (an "escrow verification" story, not one of the
  scammers' usual texts) to many buyers; some victims report them with near-identical words.
  It should raise ``report_reason = scam`` and surface a new cluster of similar texts.
- ``reason_spike``: for a couple of days, people in one country report one reason far more
  often than usual (a local press story, a competitor's campaign). It should raise
  ``report_reason = <reason>`` and ``country = <country>``.

A wave is plain data (:class:`Wave`) kept in ``Plan.waves``; its scam accounts are appended at
the end of ``Plan.accounts`` (so ``vigil simulate`` writes them and the ground truth lists
them) with ``details["wave"]`` set. :class:`Injector` hands the event generator the plan
without them and adds the waves' events after everything else, from a random stream of their
own: a run with waves has exactly the events of the same run without them, plus the waves'.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from random import Random
from typing import TYPE_CHECKING, Any

from vigil.accounts.models import IdentifierKind, Side
from vigil.simulate import pools
from vigil.simulate.plan import AccountPlan, Label, Plan, Sightings

if TYPE_CHECKING:
    from vigil.simulate.activity import Activity

K = IdentifierKind


class WaveKind(StrEnum):
    scam_wave = "scam_wave"
    reason_spike = "reason_spike"


@dataclass(frozen=True)
class Wave:
    """One injected change. ``moves`` lists the trend series it should raise, as (dimension,
    value) pairs in the trend rollup's dimension names; ``start`` is its first moment (the
    detection delay is measured from it)."""

    key: str
    kind: WaveKind
    start: datetime
    days: float
    moves: tuple[tuple[str, str], ...]
    # Extra events per day at full strength (reports for a spike, scam accounts for a wave).
    per_day: float
    reason: str = "scam"
    country: str | None = None
    cluster: bool = False  # should the text-cluster job find a new group

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


# A pitch the ordinary scammers never use, so its texts form a group of their own.
WAVE_PITCHES: dict[str, tuple[str, ...]] = {
    "en": (
        "Hello {name}, your payment of {amount} is held in escrow. Release it by confirming your "
        "card at {url} today, or the order is cancelled.",
        "Hi {name}, escrow notice: {amount} is waiting for you. Confirm your card at {url} to "
        "release the payment today.",
    ),
    "es": (
        "Hola {name}, tu pago de {amount} está retenido en garantía. Libéralo confirmando tu "
        "tarjeta en {url} hoy o se cancela el pedido.",
    ),
    "pt": (
        "Olá {name}, seu pagamento de {amount} está retido em garantia. Libere confirmando seu "
        "cartão em {url} hoje ou o pedido será cancelado.",
    ),
}
WAVE_REPORTS: dict[str, tuple[str, ...]] = {
    "en": (
        "Got a message saying my payment is held in escrow and asking me to confirm my card on "
        "a strange site.",
        "Fake escrow message asking me to confirm my card on an outside link to release a payment.",
    ),
    "es": (
        "Me llegó un mensaje diciendo que mi pago está retenido en garantía y que confirme mi "
        "tarjeta en un sitio raro.",
    ),
    "pt": (
        "Recebi uma mensagem dizendo que meu pagamento está retido em garantia e pedindo para "
        "confirmar meu cartão num site estranho.",
    ),
}
_DOMAINS = ("escrow-release.example", "safe-payment-hold.example", "release-funds.example")

DEFAULT_SPIKE_REASON = "quality"
DEFAULT_SPIKE_COUNTRY = "MX"


def scam_wave(start: datetime, *, days: float = 7.0, per_day: float = 3.0, key: str = "") -> Wave:
    return Wave(
        key or f"scam_wave-{start:%Y%m%d}",
        WaveKind.scam_wave,
        start,
        days,
        (("report_reason", "scam"),),
        per_day,
        cluster=True,
    )


def reason_spike(
    start: datetime,
    *,
    reason: str = DEFAULT_SPIKE_REASON,
    country: str = DEFAULT_SPIKE_COUNTRY,
    days: float = 2.0,
    per_day: float = 12.0,
    key: str = "",
) -> Wave:
    if reason not in pools.REPORT_WORDS:
        raise ValueError(f"reason must be one of {', '.join(sorted(pools.REPORT_WORDS))}")
    if country not in {c.code for c in pools.COUNTRIES}:
        raise ValueError(f"country must be one of {', '.join(c.code for c in pools.COUNTRIES)}")
    return Wave(
        key or f"reason_spike-{reason}-{country}-{start:%Y%m%d}",
        WaveKind.reason_spike,
        start,
        days,
        (("report_reason", reason), ("country", country)),
        per_day,
        reason=reason,
        country=country,
    )


_SPEC = re.compile(r"^(?P<kind>[a-z_]+)(?:@(?P<start>[^,]+))?(?P<rest>(?:,[a-z_]+=[^,]+)*)$")


def parse(spec: str, now: datetime) -> Wave:
    """A wave from the command line: ``KIND[@START][,key=value...]``. START is an ISO date
    (midnight UTC) or ``-N`` (N days before now, at a whole hour); options: ``days``,
    ``per_day``, and for a spike ``reason`` and ``country``. Example:
    ``reason_spike@-5,reason=quality,country=MX``."""
    m = _SPEC.match(spec.strip())
    if m is None or m["kind"] not in WaveKind.__members__:
        raise ValueError(
            f"--inject {spec!r}: expected KIND[@START][,key=value...] with KIND one of "
            f"{', '.join(WaveKind)}"
        )
    raw = m["start"] or "-7"
    if raw.startswith("-") and raw[1:].isdigit():
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=int(raw[1:]))
    else:
        try:
            start = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"--inject {spec!r}: START must be a date or -N days") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=now.tzinfo)
    opts: dict[str, Any] = dict(p.split("=", 1) for p in m["rest"].split(",") if p)
    allowed = {"days", "per_day"} | (
        {"reason", "country"} if m["kind"] == "reason_spike" else set()
    )
    if unknown := set(opts) - allowed:
        raise ValueError(f"--inject {spec!r}: unknown option {', '.join(sorted(unknown))}")
    for name in ("days", "per_day"):
        if name in opts:
            try:
                opts[name] = float(opts[name])
            except ValueError:
                raise ValueError(f"--inject {spec!r}: {name} must be a number") from None
            if opts[name] <= 0:
                raise ValueError(f"--inject {spec!r}: {name} must be positive")
    if m["kind"] == "scam_wave":
        return scam_wave(start, **opts)
    return reason_spike(start, **opts)


def apply(plan: Plan, waves: list[Wave]) -> Plan:
    """The plan with these waves: their scam accounts appended to ``plan.accounts`` (indices
    and external ids after everyone else's, so nobody else's change). Returns the same plan."""
    for wave in sorted(waves, key=lambda w: (w.start, w.key)):
        if any(w.key == wave.key for w in plan.waves):
            raise ValueError(f"two waves with the key {wave.key}")
        if not plan.start <= wave.start < plan.now:
            raise ValueError(f"wave {wave.key} starts outside the simulated window")
        plan.waves.append(wave)
        if wave.kind is WaveKind.scam_wave:
            _scam_accounts(plan, wave, Random(f"vigil-wave-accounts-{plan.seed}-{wave.key}"))
    return plan


def _scam_accounts(plan: Plan, wave: Wave, rng: Random) -> None:
    """``per_day`` new accounts a day during the wave, registered at random moments."""
    end = min(wave.end, plan.now - timedelta(hours=1))
    n = max(1, round(wave.per_day * (end - wave.start) / timedelta(days=1)))
    weights = [c.weight for c in pools.COUNTRIES]
    # The crew sells on the run's marketplace (a mixed one: on the freelance side).
    kind = plan.marketplace if plan.marketplace in pools.MARKETPLACE_SIDES else "freelance"
    side = Side(pools.MARKETPLACE_SIDES[kind][1])
    for i in range(n):
        c = rng.choices(pools.COUNTRIES, weights)[0]
        when = wave.start + (end - wave.start) * (i + rng.random()) / n
        when = when.replace(microsecond=0)
        first = pools.place(rng.choice(c.female + c.male))
        surname = pools.place(rng.choice(c.surnames))
        index = len(plan.accounts)
        device = f"android-{rng.getrandbits(64):016x}"
        ip = f"203.0.113.{rng.randint(1, 254)}"
        plan.accounts.append(
            AccountPlan(
                marketplace=kind,
                side=side,
                display_name=f"{first} {surname[0]}.",
                legal_name=f"{first} {surname}",
                date_of_birth=(when - timedelta(days=365 * rng.randint(19, 45))).date(),
                country=c.code,
                locale=c.locale,
                email=f"{rng.getrandbits(32):08x}@{rng.choice(pools.DISPOSABLE_DOMAINS)}",
                phone=c.phone(rng),
                registered_at=when,
                attributes={"marketplace": kind, "city": pools.place(c.cities[0])},
                sightings=[Sightings(when, [(K.device, device), (K.ip, ip)])],
                label=Label.scammer,
                group_key=wave.key,
                details={"wave": wave.key, "scheme": "escrow_phishing"},
                index=index,
                external_id=f"sim-{plan.seed}-w{index + 1:06d}",
            )
        )


@dataclass
class Injector:
    """Splits a plan for the event generator: ``base`` (the plan without the waves' accounts,
    what the ordinary simulation sees) and the waves, added by :meth:`inject` at the end."""

    plan: Plan
    base: Plan = field(init=False)
    accounts: list[AccountPlan] = field(init=False)

    def __post_init__(self) -> None:
        self.accounts = [a for a in self.plan.accounts if a.details.get("wave")]
        if self.accounts:
            ordinary = [a for a in self.plan.accounts if not a.details.get("wave")]
            self.base = dataclasses.replace(self.plan, accounts=ordinary)
        else:
            self.base = self.plan

    def inject(self, g: Activity) -> None:
        """Add every wave's events to ``g.drafts`` (after its sessions were placed: the waves'
        events carry their own device and address)."""
        for wave in self.plan.waves:
            rng = Random(f"vigil-wave-events-{self.plan.seed}-{wave.key}")
            if wave.kind is WaveKind.scam_wave:
                crew = [a for a in self.accounts if a.details.get("wave") == wave.key]
                for a in crew:
                    _crew_member(g, rng, wave, a)
            else:
                _spike(g, rng, wave)


def _add(
    g: Activity, at: datetime, account: AccountPlan, type_: str, data: dict[str, Any], **kw: Any
) -> None:
    """Like ``Activity.add`` but with the device and address set here (the sessions were
    placed already) and never touching the activity's random stream."""
    known = g.known.get(account.index)
    if known is not None and known.devices:
        kw.setdefault("device", known.devices[0][1])
    if known is not None and known.ips:
        kw.setdefault("ip", known.ips[0][1])
    if kw.get("device") is None:
        for k, v in account.sightings[0].items:
            if k is K.device:
                kw["device"] = v
                break
    if kw.get("ip") is None:
        for k, v in account.sightings[0].items:
            if k is K.ip:
                kw["ip"] = v
                break
    g.add(at, account, type_, data, **kw)


def _buyers(g: Activity, rng: Random, kind: str, t: datetime, n: int) -> list[AccountPlan]:
    """``n`` buyers of the marketplace active at ``t``, drawn from the wave's own stream."""
    people = [a for a in g.buyers.get((kind, "*"), []) if a.registered_at < t]
    people = [a for a in people if g.end[a.index] > t]
    return rng.sample(people, min(n, len(people)))


def _crew_member(g: Activity, rng: Random, wave: Wave, a: AccountPlan) -> None:
    """Sign up, blast the escrow pitch to 15-30 buyers within hours; a third of them report
    it within a day, in the wave's own words."""
    g.end[a.index] = min(g.last, a.registered_at + timedelta(days=2))
    g.actor[a.index] = a.label.value
    _add(
        g,
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
            "method": "email",
            "marketplace": a.marketplace,
        },
        policy="fraud_scams",
        what=f"wave {wave.key}: new scam account",
    )
    t = a.registered_at + timedelta(minutes=rng.randint(10, 90))
    for buyer in _buyers(g, rng, a.marketplace, t, rng.randint(15, 30)):
        t += timedelta(seconds=rng.randint(30, 400))
        lang = buyer.language if buyer.language in WAVE_PITCHES else "en"
        text = rng.choice(WAVE_PITCHES[lang]).format(
            name=buyer.display_name.split()[0],
            amount=f"${rng.randint(40, 900)}",
            url=f"https://{rng.choice(_DOMAINS)}/r/{rng.getrandbits(24):06x}",
        )
        conv = f"conv-w{rng.getrandbits(48):012x}"
        _add(
            g,
            t,
            a,
            "message_sent",
            {"conversation_id": conv, "text": text, "is_reply": False},
            counterparty=buyer,
            policy="fraud_scams",
            what=f"wave {wave.key}: escrow pitch",
        )
        if rng.random() < 0.35:
            when = t + timedelta(minutes=rng.uniform(20, 60 * 20))
            words = WAVE_REPORTS.get(buyer.language, WAVE_REPORTS["en"])
            _report(g, buyer, a, when, "scam", rng.choice(words), "fraud_scams", wave)


def _spike(g: Activity, rng: Random, wave: Wave) -> None:
    """``per_day`` extra reports a day of ``wave.reason`` from people in ``wave.country``,
    about sellers of the same country (a local story about the local market; any seller when
    the country has none); busier in the day than at night. Trends count a report under the
    reported account's country, so the spike moves ``country = <country>`` through them."""
    reporters = [
        a
        for a in g.plan.accounts
        if a.country == wave.country and a.label is Label.benign and not a.is_seller
    ]
    sellers = [a for a in g.plan.accounts if a.is_seller and a.label is Label.benign]
    local = [a for a in sellers if a.country == wave.country]
    end = min(wave.end, g.last)
    n = round(wave.per_day * (end - wave.start) / timedelta(days=1))
    words = pools.REPORT_WORDS[wave.reason]
    for _ in range(n):
        t = wave.start + (end - wave.start) * rng.random()
        if rng.random() < 0.7:  # mostly in the daytime, as people report
            day = t.replace(hour=rng.randint(9, 21))
            t = day if wave.start <= day < end else t
        alive = [a for a in reporters if a.registered_at < t and g.end[a.index] > t]
        subjects = [a for a in local if a.registered_at < t and g.end[a.index] > t] or [
            a for a in sellers if a.registered_at < t and g.end[a.index] > t
        ]
        if not alive or not subjects:
            continue
        who = rng.choice(alive)
        text = rng.choice(words.get(who.language, words["en"]))
        _report(g, who, rng.choice(subjects), t, wave.reason, text, None, wave)


def _report(
    g: Activity,
    reporter: AccountPlan,
    subject: AccountPlan,
    t: datetime,
    reason: str,
    text: str,
    policy: str | None,
    wave: Wave,
) -> None:
    _add(
        g,
        t,
        reporter,
        "report_filed",
        {"reason": reason, "text": text},
        counterparty=subject,
        policy=policy,
        subject=subject,
        what=f"wave {wave.key}: {reason} report",
    )


def wave_of(what: str) -> str | None:
    """The wave key an event label's ``what`` names, if any."""
    return what.split(":", 1)[0].removeprefix("wave ") if what.startswith("wave ") else None
