"""Disputes of the demo, between real buyer/seller pairs of the simulated marketplace.

:func:`plan_disputes` picks contracts that were paid (the ``payment`` events of
:mod:`vigil.simulate.events`) and gives each a *story*: who opens it and why, when the other
side answers (or not), what the mediator proposes or rules, who accepts. The stories are
dealt in a fixed order, so even a small run has a dispute in every state:

====================  ===================================================================
story                 where it ends
====================  ===================================================================
``agreed_partial``    both accepted a partial refund (resolved by agreement)
``awaiting``          opened in the last two days; the respondent has not answered
``mediation``         both sides in; a mediator holds it
``defaulted``         the respondent let the deadline pass (the sweep moved it on)
``proposed_half``     a proposal is out; one party accepted, the other has not answered
``ruled``             the mediator ruled without a proposal
``withdrawn``         the opener withdrew it
``review``            the excerpts show the seller asking for payment off the platform;
                      the mediator opened an account review of the seller
``agreed_full``       both accepted a full refund
``awaiting_near``     the response deadline is hours away (a reminder went out)
``agreed_release``    both accepted releasing the payment to the seller
``rejected_ruled``    a party rejected the proposal; the mediator ruled
``lapsed``            nobody answered the proposal in time; back in mediation
``defaulted_ruled``   the respondent defaulted and the mediator ruled a full refund
====================  ===================================================================

:class:`DisputeDesk` turns the plans into timed actions of the runner: the marketplace (an
API key) opens disputes and relays the parties' sides and answers, the agents of the demo
take the cases from the ``disputes`` queue and mediate, and the deadline sweep runs a couple
of minutes after every deadline, as the periodic job would. The simulator's ground truth
(who was in the right, the fair outcome) goes to ``simulation_truths``, beside the product.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from random import Random
from typing import Any

from sqlalchemy.orm import Session

from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.config import Settings
from vigil.disputes import service as disputes
from vigil.disputes.models import Outcome, Party, ReasonCode, SubjectType
from vigil.disputes.schemas import MoneyIn, OpenDispute, ProposalIn, RulingIn, SubmissionIn
from vigil.kit import clock
from vigil.simulate import chat
from vigil.simulate import dispute_texts as texts
from vigil.simulate.cast import Cast
from vigil.simulate.events import EventStream
from vigil.simulate.models import SimulationTruth
from vigil.simulate.plan import AccountPlan, Label, Plan
from vigil.simulate.runner import Action

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

STORIES = (
    "agreed_partial",
    "awaiting",
    "mediation",
    "defaulted",
    "proposed_half",
    "ruled",
    "withdrawn",
    "review",
    "agreed_full",
    "awaiting_near",
    "agreed_release",
    "rejected_ruled",
    "lapsed",
    "defaulted_ruled",
    # A second round, then a third, for larger demos.
    "mediation",
    "agreed_partial",
    "awaiting",
    "proposed_half",
    "ruled",
    "agreed_partial",
    "defaulted",
    "review",
    "withdrawn",
    "agreed_full",
    "mediation",
    "awaiting_near",
    "rejected_ruled",
    "agreed_release",
    "proposed_half",
    "awaiting",
    "ruled",
    "agreed_partial",
    "mediation",
    "lapsed",
)


def dispute_count(accounts: int) -> int:
    """About one dispute per 30 accounts: 33 for the 1,000-account demo, at least the 14
    stories of one round, at most one per story slot."""
    return max(14, min(len(STORIES), round(accounts / 30)))


@dataclass(frozen=True)
class Paid:
    """A paid contract of the event stream."""

    at: datetime
    buyer: AccountPlan
    seller: AccountPlan
    contract_id: str
    amount: int  # whole USD, as the events carry it


@dataclass
class Step:
    at: datetime
    kind: str  # open | respond | file | take | propose | answer | rule | withdraw | review
    party: Party | None = None
    outcome: Outcome | None = None
    amount: Decimal | None = None
    accept: bool = True
    text: str = ""


@dataclass
class DisputePlan:
    story: str
    paid: Paid
    opener: Party
    reason: str  # a key of the texts: a ReasonCode, or "cancellation_seller"
    amount: Decimal
    language: str  # of the conversation: the buyer's when both speak it, else English
    truth: str  # simulation_truths.label
    fair: Outcome
    steps: list[Step] = field(default_factory=list)

    @property
    def opened_at(self) -> datetime:
        return self.steps[0].at

    def lang(self, party: Party) -> str:
        account = self.paid.buyer if party is Party.buyer else self.paid.seller
        return account.language if account.language in texts.DAYS else "en"

    def external(self, party: Party) -> str:
        account = self.paid.buyer if party is Party.buyer else self.paid.seller
        return account.external_id


def paid_contracts(stream: EventStream, plan: Plan) -> list[Paid]:
    """Every paid contract between an ordinary buyer and an ordinary seller (or an
    off-platform solicitor, whose disputes can reveal it), oldest first: the stories are
    about honest misunderstandings and late work, not about the fraud rings' purchases."""
    accounts = {a.external_id: a for a in plan.accounts}
    out = []
    for e in stream.events:
        env = e.envelope
        if env["type"] != "payment" or not env.get("counterparty_id"):
            continue
        buyer, seller = accounts.get(env["account_id"]), accounts.get(env["counterparty_id"])
        if (
            buyer is None
            or seller is None
            or buyer.is_seller
            or not seller.is_seller
            or buyer.label is not Label.benign
            or seller.label not in (Label.benign, Label.off_platform)
        ):
            continue
        out.append(
            Paid(e.at, buyer, seller, env["data"]["contract_id"], int(env["data"]["amount"]))
        )
    return out


# Reasons per story, dealt in turn: (opener, reason key, truth, fair outcome).
_REASONS: dict[str, tuple[tuple[Party, str, str, Outcome], ...]] = {
    "agreed_partial": (
        (Party.buyer, "quality", "both_at_fault", Outcome.partial_refund),
        (Party.buyer, "not_as_described", "both_at_fault", Outcome.partial_refund),
        (Party.seller, "cancellation_seller", "both_at_fault", Outcome.partial_refund),
    ),
    "agreed_full": (
        (Party.buyer, "not_delivered", "seller_at_fault", Outcome.full_refund),
        (Party.buyer, "cancellation", "seller_at_fault", Outcome.full_refund),
    ),
    "agreed_release": (
        (Party.seller, "payment_not_received", "buyer_at_fault", Outcome.release),
        (Party.buyer, "quality", "buyer_at_fault", Outcome.release),
    ),
    "ruled": (
        (Party.seller, "payment_not_received", "buyer_at_fault", Outcome.release),
        (Party.buyer, "not_as_described", "both_at_fault", Outcome.redo),
        (Party.buyer, "quality", "both_at_fault", Outcome.partial_refund),
    ),
    "rejected_ruled": (
        (Party.buyer, "not_as_described", "both_at_fault", Outcome.partial_refund),
        (Party.seller, "payment_not_received", "buyer_at_fault", Outcome.release),
    ),
    "defaulted": (
        (Party.buyer, "not_delivered", "seller_at_fault", Outcome.full_refund),
        (Party.seller, "payment_not_received", "buyer_at_fault", Outcome.release),
    ),
    "defaulted_ruled": ((Party.buyer, "not_delivered", "seller_at_fault", Outcome.full_refund),),
    "review": (
        (Party.buyer, "not_delivered", "seller_at_fault", Outcome.full_refund),
        (Party.buyer, "not_as_described", "seller_at_fault", Outcome.full_refund),
    ),
    "withdrawn": (
        (Party.buyer, "not_delivered", "misunderstanding", Outcome.release),
        (Party.buyer, "quality", "misunderstanding", Outcome.release),
    ),
}
_ANY: tuple[tuple[Party, str, str, Outcome], ...] = (
    (Party.buyer, "not_delivered", "seller_at_fault", Outcome.full_refund),
    (Party.buyer, "quality", "both_at_fault", Outcome.partial_refund),
    (Party.seller, "payment_not_received", "buyer_at_fault", Outcome.release),
    (Party.buyer, "cancellation", "seller_at_fault", Outcome.full_refund),
    (Party.buyer, "not_as_described", "both_at_fault", Outcome.partial_refund),
)


def _u(rng: Random, lo: float, hi: float) -> timedelta:
    return timedelta(hours=rng.uniform(lo, hi))


class _Planner:
    def __init__(self, plan: Plan, settings: Settings, paid: list[Paid]) -> None:
        self.rng = Random(f"vigil-disputes-{plan.seed}")
        self.now = plan.now
        self.plan = plan
        self.respond_h = settings.dispute_response_hours
        self.propose_h = settings.dispute_proposal_hours
        self.paid = paid
        self.used: set[str] = set()  # contracts and accounts already in a dispute
        self.turn: dict[str, int] = {}

    def reason(self, story: str) -> tuple[Party, str, str, Outcome]:
        pool = _REASONS.get(story, _ANY)
        n = self.turn.get(story, 0)
        self.turn[story] = n + 1
        return pool[n % len(pool)]

    def pick(self, opened_at: datetime, story: str) -> Paid | None:
        """An unused contract paid between 8 hours and 12 days before ``opened_at``; for a
        ``review``, preferably one with an off-platform solicitor as the seller."""
        fits = [
            p
            for p in self.paid
            if opened_at - 12 * DAY <= p.at <= opened_at - 8 * HOUR
            and not {p.contract_id, p.buyer.external_id, p.seller.external_id} & self.used
        ]
        if story == "review":
            fits = [p for p in fits if p.seller.label is Label.off_platform] or fits
        if not fits:
            return None
        found = fits[self.rng.randrange(len(fits))]
        self.used |= {found.contract_id, found.buyer.external_id, found.seller.external_id}
        return found

    def timeline(self, story: str) -> list[Step]:
        """The story's steps, placed backwards from "now" so each lands in its state."""
        rng, now = self.rng, self.now
        resp = self.respond_h
        steps: list[Step] = []

        def mediated(take_at: datetime) -> None:
            respond = take_at - _u(rng, 2, 20)
            opened = respond - _u(rng, 4, min(60, resp - 6))
            steps.extend(
                [
                    Step(opened, "open"),
                    Step(respond, "respond"),
                    Step(take_at, "take"),
                ]
            )

        if story == "awaiting":
            steps.append(Step(now - _u(rng, 3, 40), "open"))
        elif story == "awaiting_near":
            steps.append(Step(now - _u(rng, resp - 20, resp - 8), "open"))
        elif story in ("defaulted", "defaulted_ruled"):
            back = (resp + 4, resp + 40) if story == "defaulted" else (resp + 60, resp + 150)
            opened = now - _u(rng, *back)
            steps.append(Step(opened, "open"))
            if story == "defaulted_ruled":
                take = opened + timedelta(hours=resp) + _u(rng, 2, 12)
                steps += [
                    Step(take, "take"),
                    Step(take + _u(rng, 1, 5), "rule", outcome=Outcome.full_refund),
                ]
        elif story == "mediation":
            mediated(now - _u(rng, 3, 60))
        elif story in ("review", "ruled"):
            take = now - _u(rng, 30, 200)
            mediated(take)
            if story == "review":
                steps.append(Step(take + _u(rng, 1, 6), "review", party=Party.seller))
            else:
                steps.append(Step(take + _u(rng, 2, 12), "rule"))
        elif story == "proposed_half":
            propose = now - _u(rng, 12, self.propose_h - 12)
            mediated(propose - _u(rng, 1, 6))
            steps += [
                Step(propose, "propose"),
                Step(propose + _u(rng, 2, 10), "answer", accept=True),
            ]
        elif story == "lapsed":
            propose = now - _u(rng, self.propose_h + 6, self.propose_h + 60)
            mediated(propose - _u(rng, 1, 6))
            steps += [
                Step(propose, "propose"),
                Step(propose + _u(rng, 2, 20), "answer", accept=True),
            ]
        elif story.startswith("agreed") or story == "rejected_ruled":
            settled = now - _u(rng, 10, 24 * 9)
            first = settled - _u(rng, 1, 30)
            propose = first - _u(rng, 1, 20)
            mediated(propose - _u(rng, 1, 6))
            steps.append(Step(propose, "propose"))
            if story == "rejected_ruled":
                steps += [
                    Step(first, "answer", accept=False),
                    Step(settled, "rule"),
                ]
            else:
                steps += [
                    Step(first, "answer", accept=True),
                    Step(settled, "answer", accept=True),
                ]
        elif story == "withdrawn":
            opened = now - _u(rng, resp + 2, 24 * 10)
            steps += [
                Step(opened, "open"),
                Step(opened + _u(rng, 3, min(40, resp - 4)), "respond"),
                Step(opened + _u(rng, resp - 3, resp - 1), "withdraw"),
            ]
        return sorted(steps, key=lambda s: s.at)

    def make(self, story: str) -> DisputePlan | None:
        steps = self.timeline(story)
        paid = self.pick(steps[0].at, story)
        if paid is None:
            return None
        opener, reason, truth, fair = self.reason(story)
        amount = Decimal(paid.amount).quantize(Decimal("0.01"))
        if reason in ("quality", "cancellation_seller") and self.rng.random() < 0.5:
            # Only part of the price is in question.
            amount = (amount * Decimal(self.rng.choice((50, 60, 75))) / 100).quantize(
                Decimal("0.01")
            )
        buyer, seller = paid.buyer, paid.seller
        language = buyer.language if buyer.language == seller.language else "en"
        if language not in texts.DAYS:
            language = "en"
        d = DisputePlan(story, paid, opener, reason, amount, language, truth, fair, steps)
        self.fill(d)
        return d

    def fill(self, d: DisputePlan) -> None:
        """Parties, outcomes and amounts of the steps."""
        rng = self.rng
        respondent = d.opener.other
        refund = (d.amount * Decimal(rng.choice((30, 40, 50, 60))) / 100).quantize(Decimal("0.01"))
        answered: list[Party] = []
        for st in d.steps:
            if st.kind in ("open", "withdraw"):
                st.party = d.opener
            elif st.kind == "respond":
                st.party = respondent
            elif st.kind in ("propose", "rule") and st.outcome is None:
                st.outcome = d.fair
            elif st.kind == "answer":
                # The one who gains by the proposal answers first, then the other.
                first = Party.buyer if d.fair in (Outcome.full_refund,) else Party.seller
                st.party = first if not answered else first.other
                if d.story == "rejected_ruled":
                    st.party = Party.seller if d.fair is Outcome.partial_refund else Party.buyer
                answered.append(st.party)
            if st.outcome is Outcome.partial_refund:
                st.amount = refund


def plan_disputes(
    plan: Plan, stream: EventStream, settings: Settings, count: int | None = None
) -> list[DisputePlan]:
    """The demo's disputes, in the order they are dealt (deterministic for the plan)."""
    planner = _Planner(plan, settings, paid_contracts(stream, plan))
    out = []
    for story in STORIES[: count if count is not None else dispute_count(len(plan.accounts))]:
        made = planner.make(story)
        if made is not None:
            out.append(made)
    return out


class DisputeDesk:
    """The demo's disputes as timed actions of the runner."""

    def __init__(
        self, plan: Plan, plans: list[DisputePlan], cast: Cast, settings: Settings
    ) -> None:
        self.plan = plan
        self.plans = plans
        self.cast = cast
        self.settings = settings
        self.ids: dict[int, int] = {}  # plan index -> dispute id
        self.proposals: dict[int, int] = {}  # plan index -> the open proposal's id
        self.mediators: dict[int, int] = {}  # plan index -> the mediator's staff id
        self.rng = Random(f"vigil-dispute-desk-{plan.seed}")

    def actions(self) -> list[tuple[datetime, Action]]:
        out: list[tuple[datetime, Action]] = []
        sweeps: set[datetime] = set()
        resp = timedelta(hours=self.settings.dispute_response_hours)
        remind = timedelta(hours=self.settings.dispute_reminder_hours)
        prop = timedelta(hours=self.settings.dispute_proposal_hours)
        late = self.plan.now - timedelta(minutes=2)
        for k, d in enumerate(self.plans):
            for n, st in enumerate(d.steps):
                out.append((st.at, partial(self.step, k=k, n=n)))
                # The periodic sweep, a couple of minutes after each deadline this dispute
                # meets: the reminder, the response deadline, the proposal's deadline.
                if st.kind == "open":
                    sweeps |= {st.at + resp - remind, st.at + resp}
                elif st.kind == "propose":
                    sweeps.add(st.at + prop)
        for at in sorted(sweeps):
            when = at + timedelta(minutes=2)
            if when < late:
                out.append((when, self.sweep))
        out.append((late, self.sweep))
        return out

    def sweep(self, session: Session) -> None:
        self.cast.attempt("sweep", session, lambda: disputes.sweep(session, self.settings))

    def step(self, session: Session, k: int, n: int) -> None:
        d = self.plans[k]
        st = d.steps[n]
        if st.kind != "open" and k not in self.ids:
            return  # the opening was refused: nothing to continue
        handler = getattr(self, f"_{st.kind}")
        self.cast.attempt(f"dispute.{st.kind}", session, lambda: handler(session, k, d, st))

    # --- the parties, through the marketplace -------------------------------------------

    def _slots(self, d: DisputePlan, lang: str) -> dict[str, Any]:
        task_pool = chat.TASKS[d.paid.buyer.marketplace][lang]
        return {
            "task": task_pool[int(d.paid.contract_id[-4:], 16) % len(task_pool)],
            "buyer": d.paid.buyer.display_name.split()[0],
            "seller": d.paid.seller.display_name.split()[0],
            "price": texts.price(str(d.amount), lang),
            "refund": texts.price(str((d.amount / 4).quantize(Decimal("1"))), lang),
            "day": texts.DAYS[lang][int(d.paid.contract_id[-2:], 16) % 5],
            "contract": d.paid.contract_id,
            "paid": f"{d.paid.at:%Y-%m-%d %H:%M} UTC",
        }

    def _excerpts(self, d: DisputePlan) -> list[dict[str, Any]]:
        lang = d.language
        lines = list(texts.EXCERPTS[lang][texts.EXCERPTS_FOR[d.reason]])
        if d.story == "review":
            lines += texts.EXCERPTS[lang]["off_platform"]
        start, end = d.paid.at + 20 * timedelta(minutes=1), d.opened_at - HOUR
        gap = (end - start) / max(1, len(lines))
        slots = self._slots(d, lang)
        return [
            {
                "sent_at": (start + gap * i).isoformat(),
                "author": author,
                "text": texts.fill(line, slots),
            }
            for i, (author, line) in enumerate(lines)
        ]

    def _open(self, session: Session, k: int, d: DisputePlan, st: Step) -> None:
        lang = d.lang(d.opener)
        statement = texts.fill(self.rng.choice(texts.OPENER[lang][d.reason]), self._slots(d, lang))
        reason = ReasonCode.cancellation if d.reason == "cancellation_seller" else d.reason
        spec = OpenDispute(
            subject_type=SubjectType.contract,
            subject_ref=d.paid.contract_id,
            buyer_external_id=d.paid.buyer.external_id,
            seller_external_id=d.paid.seller.external_id,
            opened_by=d.opener,
            reason_code=ReasonCode(reason),
            amount=MoneyIn(amount=d.amount, currency="USD"),
            statement=statement,
            idempotency_key=f"sim-{self.plan.seed}-dispute-{k}",
        )
        market = self.cast.marketplace(session)
        dispute = disputes.open_dispute(session, market, spec, settings=self.settings)
        self.ids[k] = dispute.id
        disputes.submit(
            session,
            market,
            dispute.id,
            d.external(d.opener),
            SubmissionIn.model_validate({"excerpts": self._excerpts(d)}),
            settings=self.settings,
        )
        if k % 3 == 0:
            self._file(session, k, d, st)
        session.add(
            SimulationTruth(
                run_seed=self.plan.seed,
                subject_type="dispute",
                subject_id=dispute.id,
                label=d.truth,
                details={
                    "story": d.story,
                    "fair_outcome": d.fair.value,
                    "contract_id": d.paid.contract_id,
                    "buyer": d.paid.buyer.external_id,
                    "seller": d.paid.seller.external_id,
                    "seller_label": d.paid.seller.label.value,
                },
                created_at=clock.now(),
            )
        )

    def _file(self, session: Session, k: int, d: DisputePlan, st: Step) -> None:
        party = st.party or d.opener
        lang = d.lang(party)
        name, body = texts.FILES[lang][party.value]
        disputes.add_file(
            session,
            self.cast.marketplace(session),
            self.ids[k],
            d.external(party),
            name,
            "text/plain",
            texts.fill(body, self._slots(d, lang)).encode(),
            settings=self.settings,
        )

    def _respond(self, session: Session, k: int, d: DisputePlan, st: Step) -> None:
        party = d.opener.other
        lang = d.lang(party)
        kind = "admit" if d.truth in ("seller_at_fault", "both_at_fault") else "defend"
        if party is Party.buyer:
            kind = "buyer_admit" if d.truth == "buyer_at_fault" else "buyer_defend"
        statement = texts.fill(self.rng.choice(texts.RESPONDENT[lang][kind]), self._slots(d, lang))
        disputes.submit(
            session,
            self.cast.marketplace(session),
            self.ids[k],
            d.external(party),
            SubmissionIn(statement=statement),
            settings=self.settings,
        )
        if k % 4 == 1:
            self._file(session, k, d, Step(st.at, "file", party=party))

    def _answer(self, session: Session, k: int, d: DisputePlan, st: Step) -> None:
        if st.party is None or k not in self.proposals:
            return  # no proposal was made (no mediator)
        lang = d.lang(st.party)
        pool = texts.ACCEPT if st.accept else texts.REJECT
        disputes.answer(
            session,
            self.cast.marketplace(session),
            self.ids[k],
            self.proposals[k],
            d.external(st.party),
            st.accept,
            self.rng.choice(pool[lang]) or None,
            settings=self.settings,
        )

    def _withdraw(self, session: Session, k: int, d: DisputePlan, st: Step) -> None:
        lang = d.lang(d.opener)
        disputes.withdraw(
            session,
            self.cast.marketplace(session),
            self.ids[k],
            d.external(d.opener),
            texts.fill(self.rng.choice(texts.WITHDRAW[lang]), self._slots(d, lang)),
            settings=self.settings,
        )

    # --- the mediator -------------------------------------------------------------------

    def _mediator(self, session: Session, k: int, d: DisputePlan) -> Principal | None:
        """The agent who took the case, else an agent who speaks the case's language (the
        respondent's)."""
        staff_id = self.mediators.get(k)
        agents = self.cast.staff(session, Role.agent)
        for p in agents:
            if p.staff_id == staff_id:
                return p
        return self.cast.one(session, Role.agent, k, d.lang(d.opener.other))

    def _take(self, session: Session, k: int, d: DisputePlan, st: Step) -> None:
        mediator = self._mediator(session, k, d)
        if mediator is None:
            return  # no agents (a plain simulation): the case waits in the queue
        dispute = disputes.get_dispute(session, mediator, self.ids[k])
        cases.assign(session, mediator, dispute.case_id)
        if mediator.staff_id is not None:
            self.mediators[k] = mediator.staff_id

    def _note(self, table: dict[str, dict[str, str]], d: DisputePlan, st: Step) -> str:
        lang = d.lang(d.opener.other)
        assert st.outcome is not None
        slots = self._slots(d, lang)
        slots["refund"] = texts.price(str(st.amount or 0), lang)
        return texts.fill(table[lang][st.outcome.value], slots)

    def _propose(self, session: Session, k: int, d: DisputePlan, st: Step) -> None:
        mediator = self._mediator(session, k, d)
        if mediator is None or st.outcome is None:
            return
        proposal = disputes.propose(
            session,
            mediator,
            self.ids[k],
            ProposalIn(
                outcome=st.outcome, amount=st.amount, note=self._note(texts.PROPOSAL, d, st)
            ),
            settings=self.settings,
        )
        self.proposals[k] = proposal.id

    def _rule(self, session: Session, k: int, d: DisputePlan, st: Step) -> None:
        mediator = self._mediator(session, k, d)
        if mediator is None or st.outcome is None:
            return
        disputes.rule(
            session,
            mediator,
            self.ids[k],
            RulingIn(outcome=st.outcome, amount=st.amount, reason=self._note(texts.RULING, d, st)),
            settings=self.settings,
        )

    def _review(self, session: Session, k: int, d: DisputePlan, st: Step) -> None:
        mediator = self._mediator(session, k, d)
        if mediator is None:
            return
        disputes.open_review(
            session, mediator, self.ids[k], Party.seller.value, "fee_circumvention", texts.REVIEW
        )
