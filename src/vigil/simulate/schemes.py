"""The bad actors' scripts: what scammers, fraud rings, fake reviewers and harassers do, on
top of the ordinary behaviour of :mod:`vigil.simulate.activity` (solicitors and duplicate
identities live there: they behave like everyone else, apart from what they write and where
they sign up from). Every event that is evidence of a violation names its policy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from vigil.simulate import chat
from vigil.simulate.plan import AccountPlan, Label

if TYPE_CHECKING:
    from vigil.simulate.activity import Activity


def scammers(g: Activity) -> None:
    for a in g.plan.accounts:
        if a.label is not Label.scammer:
            continue
        if a.is_seller:
            non_delivery(g, a)
        else:
            fake_payments(g, a)


def non_delivery(g: Activity, a: AccountPlan) -> None:
    """A fresh seller: a too-good listing, the same pitch to dozens of buyers within hours,
    a victim or two who pay, a payout request at once, reports later."""
    rng, lang = g.rng, a.language
    t = a.registered_at + g.gap(20)
    text = chat.fill(rng.choice(chat.SCAM_LISTINGS[lang]), g.slots(a, None, lang))
    g.add(
        t,
        a,
        "listing_created",
        g.listing(a, text),
        policy="fraud_scams",
        what="scam listing",
    )
    victims: list[tuple[datetime, AccountPlan]] = []  # who fell for it, when pitched
    for blast in range(rng.choice((1, 2, 2, 3))):
        t = a.registered_at + timedelta(hours=rng.uniform(0.5, 6) + 24 * blast)
        template = rng.choice(chat.SCAM_PITCHES[lang])
        for buyer in g.pick_buyers(a.marketplace, t, rng.randint(12, 40)):
            t += timedelta(seconds=rng.randint(20, 240))
            sl = g.language(a, buyer)
            pitch = template if sl == lang else rng.choice(chat.SCAM_PITCHES[sl])
            g.say(
                t,
                a,
                buyer,
                f"conv-{rng.getrandbits(48):012x}",
                chat.fill(pitch, g.slots(a, buyer, sl)),
                policy="fraud_scams",
                what="the same scam pitch to many buyers",
            )
            if rng.random() < 0.08:
                victims.append((t, buyer))
    first_payment: datetime | None = None
    for pitched, victim in victims[:3]:
        paid, _ = g.contract(victim, a, pitched + g.gap(90), g.price(a.marketplace), review=False)
        first_payment = first_payment or paid
        if rng.random() < 0.7:
            g.report(victim, a, paid + timedelta(days=rng.uniform(1, 3)), "scam", "fraud_scams")
    if first_payment is not None:
        g.payout(
            a,
            first_payment + g.gap(15),
            g.price(a.marketplace) * len(victims[:3]),
            policy="fraud_scams",
            what="payout right after signup",
        )
    elif rng.random() < 0.5:
        g.payout(
            a,
            a.registered_at + g.gap(60),
            g.price(a.marketplace),
            policy="fraud_scams",
            what="payout right after signup",
        )


def fake_payments(g: Activity, a: AccountPlan) -> None:
    """A fresh buyer who tells sellers it has paid and sends them to a phishing page."""
    rng = g.rng
    t = a.registered_at + g.gap(30)
    for _ in range(rng.randint(5, 15)):
        seller = g.pick_seller(a.marketplace, a.language, t, exclude=a)
        if seller is None:
            break
        lang = g.language(a, seller)
        conv = f"conv-{rng.getrandbits(48):012x}"
        opening = chat.fill(rng.choice(chat.BUYER_TURNS[lang][0]), g.slots(a, seller, lang))
        g.say(t, a, seller, conv, opening)
        t += g.gap(10)
        text = chat.fill(rng.choice(chat.FAKE_PAYMENT[lang]), g.slots(a, seller, lang))
        g.say(t, a, seller, conv, text, policy="fraud_scams", what="fake payment confirmation")
        if rng.random() < 0.25:
            g.report(seller, a, t + g.gap(120), "scam", "fraud_scams")
        t += g.gap(25)


def rings(g: Activity) -> None:
    groups: dict[str, list[AccountPlan]] = {}
    for a in g.plan.accounts:
        if a.label is Label.fraud_ring and a.group_key:
            groups.setdefault(a.group_key, []).append(a)
    for members in groups.values():
        scheme = members[0].details["scheme"]
        cards = members[0].details["shared_payments"]
        sellers = [m for m in members if m.is_seller]
        own = sellers[0] if scheme == "collusion" and sellers else None
        if own is not None:
            text = chat.fill(
                g.rng.choice(chat.LISTINGS[own.language]),
                g.slots(own, None, own.language),
            )
            g.add(
                own.registered_at + g.gap(20),
                own,
                "listing_created",
                g.listing(own, text),
            )
        for m in members:
            if m is own:
                continue
            ring_purchases(g, m, own, cards)


def ring_purchases(g: Activity, m: AccountPlan, own: AccountPlan | None, cards: list[str]) -> None:
    rng = g.rng
    t = m.registered_at + g.gap(90, 1.2)
    for _ in range(rng.randint(1, 3)):
        seller = own or g.pick_seller(m.marketplace, m.language, t)
        if seller is None:
            return
        if own is not None:
            t = max(t, own.registered_at + g.gap(30))
        lang = g.language(m, seller)
        conv = f"conv-{rng.getrandbits(48):012x}"
        g.say(t, m, seller, conv, rng.choice(chat.RUSHED[lang]))
        card = cards[0] if rng.random() < 0.8 else rng.choice(cards)
        amount = g.price(m.marketplace)
        paid, contract_id = g.contract(
            m,
            seller,
            t + g.gap(5),
            amount,
            card=card,
            review=False,
            policy="fraud_scams",
            what="paid with a card shared across the ring",
        )
        if rng.random() < 0.7:
            # The card's owner disputes the charge days later, after the ring went quiet.
            g.add(
                paid + timedelta(days=rng.uniform(2, 10)),
                m,
                "payment",
                {
                    "contract_id": contract_id,
                    "amount": amount,
                    "currency": "USD",
                    "method": "card",
                    "status": "disputed",
                },
                counterparty=seller,
                payment=card,
                policy="payment_abuse" if own is not None else "fraud_scams",
                what="chargeback on a card shared across the ring",
                after_end=True,
            )
        if own is not None:
            g.payout(
                own,
                paid + g.gap(20),
                amount,
                policy="fraud_scams",
                what="ring's seller cashes out at once",
            )
        t = paid + g.gap(300, 1.0)


def review_bursts(g: Activity) -> None:
    groups: dict[str, list[AccountPlan]] = {}
    for a in g.plan.accounts:
        if a.label is Label.fake_reviewer and a.group_key:
            groups.setdefault(a.group_key, []).append(a)
    rng = g.rng
    for members in groups.values():
        target = g.ids.get(members[0].details.get("reviewed") or "")
        if target is None:
            continue
        burst = max(m.registered_at for m in members) + g.gap(120)
        template = rng.choice(chat.FAKE_REVIEWS[target.language])
        for m in members:
            at = burst + timedelta(minutes=rng.randint(0, 120))
            if rng.random() < 0.5:
                g.contract(
                    m,
                    target,
                    at - timedelta(minutes=rng.randint(10, 40)),
                    rng.randint(5, 15),
                    review=False,
                )
            text = (
                template if rng.random() < 0.6 else rng.choice(chat.FAKE_REVIEWS[target.language])
            )
            g.add(
                at,
                m,
                "review_posted",
                {
                    "contract_id": f"ctr-{rng.getrandbits(48):012x}",
                    "rating": 5,
                    "text": chat.fill(text, g.slots(target, m, target.language)),
                },
                counterparty=target,
                policy="fake_reviews",
                what="one of a burst of five-star reviews for one seller",
            )


def harassment(g: Activity) -> None:
    rng = g.rng
    for a in g.plan.accounts:
        if a.index not in g.harassers:
            continue
        for _ in range(rng.choice((1, 2, 2, 3))):
            t = a.registered_at + timedelta(
                seconds=rng.uniform(0.1, 1.0) * (g.last - a.registered_at).total_seconds()
            )
            if a.is_seller:
                others = g.pick_buyers(a.marketplace, t, 1)
                other = others[0] if others else None
            else:
                other = g.pick_seller(a.marketplace, a.language, t)
            if other is None:
                continue
            lang = g.language(a, other)
            conv = f"conv-{rng.getrandbits(48):012x}"
            g.say(
                t,
                other,
                a,
                conv,
                chat.fill(
                    rng.choice(
                        chat.SELLER_TURNS[lang][3] if other.is_seller else chat.BUYER_TURNS[lang][3]
                    ),
                    g.slots(other, a, lang),
                ),
            )
            for _ in range(rng.randint(2, 4)):
                t += g.gap(8)
                g.say(
                    t,
                    a,
                    other,
                    conv,
                    chat.fill(rng.choice(chat.ABUSE[lang]), g.slots(a, other, lang)),
                    policy="harassment_threats",
                    what="abuse and threats after a job",
                )
            if rng.random() < 0.5:
                g.report(other, a, t + g.gap(60), "harassment", "harassment_threats")
