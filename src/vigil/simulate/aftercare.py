"""After the decisions: the demo's appeals and quality assurance, as timed actions of the
runner, on the same clock as the casework they look back on.

**Appeals.** At planned moments the marketplace submits a user's appeal (``POST
/v1/appeals``'s service, in the user's language) against a restrictive decision a reviewer
took some days before: applied, not a warning, not on a legal case, not appealed yet. The
appeals service recuses the decision's reviewer. Some appeals are left open in the appeals
queue (chosen among agents' decisions, so the demo specialist can hear them); the others are
heard a few hours to two days later by the specialist, or by the legal reviewer when the
specialist took the original decision: upheld, overturned (the restriction lifted) or
modified (replaced by a lighter decision on the appeal case). Users the ground truth calls
benign are the ones whose appeals are granted; the truth goes to ``simulation_truths``.

**QA.** The policy lead sets the sampling rates when the history begins (a default, a
higher rate for the user-reports queue and for the newest agent); the sampler runs every
night, as the periodic job would, with a key derived from the seed so the same seed samples
the same decisions; the QA reviewer reviews a few samples on most working days, blind, then
reveals and scores them, agreeing most of the time; the last day's samples wait. Three days
before "now" the policy lead builds a calibration set of gold cases (one of them a grey
area, where the expected decision is lighter than the one taken) and assigns it to the two
agents; the newest answers it the day before "now", missing the grey-area case.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from random import Random
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.appeals import hearing
from vigil.appeals import service as appeals
from vigil.appeals.models import Appeal, ContactPreference
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType, Queue, Resolution
from vigil.config import Settings
from vigil.enforcement.models import (
    Decision,
    DecisionAction,
    DecisionPolicy,
    DecisionStatus,
)
from vigil.enforcement.schemas import ActionIn, DecisionIn, StatementIn, ViolationIn
from vigil.kit import clock
from vigil.policies.actions import ActionType, Scope
from vigil.policies.models import Policy, PolicyVersion
from vigil.quality import service as quality
from vigil.quality.models import Label as QALabel
from vigil.simulate import aftercare_texts as texts
from vigil.simulate.cast import Cast
from vigil.simulate.models import SimulationLabel, SimulationTruth
from vigil.simulate.plan import Plan
from vigil.simulate.runner import Action

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
RESTRICTIVE = (ActionType.restrict, ActionType.suspend, ActionType.remove, ActionType.ban)

# Appeals dealt in this order (None: left open), so a small run has each outcome.
APPEAL_SLOTS: tuple[str | None, ...] = (
    "uphold",
    None,
    "overturn",
    "modify",
    None,
    "uphold",
    None,
    "overturn",
    "uphold",
    None,
    "modify",
    "uphold",
    None,
)


def appeal_count(accounts: int) -> int:
    """13 for the 1,000-account demo; at least one of each outcome."""
    return max(4, min(len(APPEAL_SLOTS), round(accounts / 75)))


def _u(rng: Random, lo: float, hi: float) -> timedelta:
    return timedelta(hours=rng.uniform(lo, hi))


def _language(account: Account) -> str:
    lang = (account.locale or "en").split("-", 1)[0].lower()
    return lang if lang in texts.APPEALS else "en"


class AppealDesk:
    def __init__(self, plan: Plan, cast: Cast, settings: Settings, count: int) -> None:
        self.plan = plan
        self.cast = cast
        self.settings = settings
        self.slots = APPEAL_SLOTS[:count]
        self.rng = Random(f"vigil-appeals-{plan.seed}")
        self.ids: dict[int, int] = {}  # slot -> appeal id

    def actions(self) -> list[tuple[datetime, Action]]:
        now, rng = self.plan.now, self.rng
        out: list[tuple[datetime, Action]] = []
        for k, outcome in enumerate(self.slots):
            if outcome is None:
                submit = now - _u(rng, 2, 60)
            else:
                submit = now - _u(rng, 30, 24 * min(6, self.plan.days / 3))
            out.append((submit, partial(self.submit, k=k)))
            if outcome is not None:
                hear = min(submit + _u(rng, 3, 40), now - HOUR)
                out.append((hear, partial(self.hear, k=k)))
        return out

    def _candidates(self, session: Session, open_slot: bool) -> list[tuple[Decision, str]]:
        """Restrictive decisions reviewers took 6 hours to 25 days ago, not appealed yet,
        with their account's ground-truth label; for an appeal left open, only agents'
        decisions (the demo specialist can then hear it)."""
        now = clock.now()
        rows = session.execute(
            select(Decision, SimulationLabel.label)
            .join(Case, Case.id == Decision.case_id)
            .join(SimulationLabel, SimulationLabel.account_id == Decision.account_id)
            .outerjoin(Appeal, Appeal.decision_id == Decision.id)
            .where(
                Decision.status == DecisionStatus.applied,
                Decision.decided_by_id.is_not(None),
                Decision.no_violation.is_(False),
                Decision.action.in_(RESTRICTIVE),
                Decision.applied_at <= now - 6 * HOUR,
                Decision.applied_at >= now - 25 * DAY,
                Case.tier != Tier.legal,
                Appeal.id.is_(None),
            )
            .order_by(Decision.id)
        ).all()
        found = [(d, str(label)) for d, label in rows]
        if open_slot:
            agents = {p.staff_id for p in self.cast.staff(session, Role.agent)}
            found = [(d, label) for d, label in found if d.decided_by_id in agents]
        return found

    def submit(self, session: Session, k: int) -> None:
        outcome = self.slots[k]
        found = self._candidates(session, outcome is None)
        if not found:
            return
        # Granted appeals come from accounts that did nothing wrong; upheld ones from bad
        # actors; either where the history offers one.
        want_benign = outcome in ("overturn", "modify")
        fitting = [x for x in found if (x[1] == "benign") == want_benign] or found
        decision, label = fitting[self.rng.randrange(len(fitting))]
        account = session.get(Account, decision.account_id)
        if account is None:
            return
        lang = _language(account)
        policy = session.scalar(
            select(DecisionPolicy.policy_code).where(
                DecisionPolicy.decision_id == decision.id, DecisionPolicy.position == 0
            )
        )
        pool = texts.APPEALS[lang].get(policy or "", ()) or texts.APPEALS[lang]["*"]
        statement = appeals.latest_statement(session, decision.id)
        by_reference = statement is not None and k % 3 == 2

        def step() -> None:
            made = appeals.submit_for_account(
                session,
                self.cast.marketplace(session),
                account_external_id=account.external_id,
                decision_id=None if by_reference else decision.id,
                reference=statement.reference if by_reference and statement else None,
                submission_text=self.rng.choice(pool),
                language=account.locale or lang,
                contact=ContactPreference.email,
                settings=self.settings,
            )
            self.ids[k] = made.appeal.id
            session.add(
                SimulationTruth(
                    run_seed=self.plan.seed,
                    subject_type="appeal",
                    subject_id=made.appeal.id,
                    label="appeal_justified" if label == "benign" else "appeal_unfounded",
                    details={"account_label": label, "planned_outcome": outcome or "open"},
                    created_at=clock.now(),
                )
            )

        self.cast.attempt("appeal.submit", session, step)

    def _hearer(self, session: Session, case_id: int, lang: str) -> Principal | None:
        """The specialist, unless they took the decision under appeal; then legal, then an
        administrator."""
        recused = set(cases.recused_staff(session, case_id))
        for role in (Role.specialist, Role.legal, Role.admin):
            for person in self.cast.staff(session, role):
                if person.staff_id not in recused:
                    return person
        return None

    def hear(self, session: Session, k: int) -> None:
        appeal_id = self.ids.get(k)
        outcome = self.slots[k]
        if appeal_id is None or outcome is None:
            return
        appeal = session.get(Appeal, appeal_id)
        if appeal is None:
            return
        lang = appeal.language if appeal.language in texts.OUTCOME_REASONS else "en"
        hearer = self._hearer(session, appeal.case_id, lang)
        if hearer is None:
            return
        reason = texts.OUTCOME_REASONS[lang][outcome]

        def step() -> None:
            cases.assign(session, hearer, appeal.case_id)
            new = self._lighter(session, appeal) if outcome == "modify" else None
            hearing.decide_appeal(
                session,
                hearer,
                appeal.id,
                outcome=hearing.Outcome(outcome),
                reason=reason,
                new_decision=new,
                settings=self.settings,
            )

        self.cast.attempt(f"appeal.{outcome}", session, step)

    def _lighter(self, session: Session, appeal: Appeal) -> DecisionIn:
        """A lighter measure under the same policy: a suspension a quarter as long (at most
        14 days), a restriction (or a removal) a warning."""
        decision = session.get(Decision, appeal.decision_id)
        assert decision is not None  # a foreign key
        policy = session.scalar(
            select(DecisionPolicy.policy_code).where(
                DecisionPolicy.decision_id == decision.id, DecisionPolicy.position == 0
            )
        )
        if decision.action is ActionType.suspend:
            days = session.scalar(
                select(DecisionAction.duration_days).where(
                    DecisionAction.decision_id == decision.id,
                    DecisionAction.type == ActionType.suspend,
                )
            )
            shorter = max(1, min(14, (days or 28) // 4))
            action = ActionIn(type=ActionType.suspend, scope=Scope.account, duration_days=shorter)
        else:
            action = ActionIn(type=ActionType.warn, scope=Scope.account)
        when = clock.as_utc(decision.applied_at or decision.created_at).date()
        return DecisionIn(
            violations=[ViolationIn(policy=policy or "spam")],
            actions=[action],
            departure_reason=texts.MODIFIED_REASONING,
            internal_reasoning=texts.MODIFIED_REASONING,
            statement=StatementIn(
                facts=texts.MODIFIED_REASONING,
                content_type=["CONTENT_TYPE_TEXT"],
                content_date=when,
            ),
        )


# --- quality assurance ----------------------------------------------------------------------

LADDER = (
    QALabel.no_violation,
    QALabel.warn,
    QALabel.restrict,
    QALabel.suspend,
    QALabel.remove,
    QALabel.ban,
)
# The demo's sampling rates: the default, the user-reports queue, the newest agent.
DEFAULT_RATE = 0.2
QUEUE_RATE = ("reports", 0.4)
NEW_AGENT_RATE = 0.5
CALIBRATION_ITEMS = 6


def sampling_settings(settings: Settings, seed: int) -> Settings:
    """The settings the demo's sampler runs with: its draw is keyed by the secret key, so a
    key derived from the seed makes the same seed sample the same decisions."""
    return settings.model_copy(update={"secret_key": SecretStr(f"vigil-demo-qa-{seed}")})


class QADesk:
    def __init__(self, plan: Plan, cast: Cast, settings: Settings) -> None:
        self.plan = plan
        self.cast = cast
        self.settings = sampling_settings(settings, plan.seed)
        self.rng = Random(f"vigil-qa-{plan.seed}")
        self.set_id: int | None = None
        self.reviewed = 0
        self.items: list[tuple[int, str | None, str]] = []  # item, policy, taken label

    def actions(self) -> list[tuple[datetime, Action]]:
        start, now, rng = self.plan.start, self.plan.now, self.rng
        out: list[tuple[datetime, Action]] = [(start + 2 * HOUR, self.rates)]
        day = start.replace(hour=0, minute=0, second=0, microsecond=0) + DAY
        while day < now:
            out.append((day + timedelta(hours=1, minutes=5), self.sample))
            # A QA session on most working days until the day before "now".
            if day.weekday() < 5 and day + 2 * DAY < now and rng.random() < 0.7:
                at = day + timedelta(hours=rng.choice((9.5, 10, 14, 15.5)))
                for n in range(rng.choice((2, 3, 3, 4))):
                    out.append((at + timedelta(minutes=9 * n), self.review))
            day += DAY
        out.append((now - timedelta(minutes=3), self.sample))
        made = now - 3 * DAY + timedelta(hours=rng.uniform(0, 3))
        out.append((made, self.calibration))
        answered = now - DAY + timedelta(hours=rng.uniform(0, 3))
        for n in range(CALIBRATION_ITEMS):
            out.append((answered + timedelta(minutes=6 * n), partial(self.answer, n=n)))
        return out

    # --- rates and the sampler --------------------------------------------------------------

    def rates(self, session: Session) -> None:
        lead = self.cast.one(session, Role.policy_lead)
        if lead is None:
            return
        queue_id = session.scalar(select(Queue.id).where(Queue.slug == QUEUE_RATE[0]))
        agents = self.cast.staff(session, Role.agent)

        def step() -> None:
            quality.set_rate(session, lead, queue_id=None, staff_id=None, rate=DEFAULT_RATE)
            if queue_id is not None:
                quality.set_rate(
                    session, lead, queue_id=queue_id, staff_id=None, rate=QUEUE_RATE[1]
                )
            if agents:
                newest = agents[-1]
                quality.set_rate(session, lead, queue_id=None, staff_id=newest.staff_id,
                                 rate=NEW_AGENT_RATE)  # fmt: skip

        self.cast.attempt("qa.rates", session, step)

    def sample(self, session: Session) -> None:
        def step() -> None:
            while quality.sample_decisions(session, self.settings) or self._behind(session):
                pass

        self.cast.attempt("qa.sample", session, step)

    @staticmethod
    def _behind(session: Session) -> bool:
        """Whether decisions remain past the sampler's high-water mark (a batch was full)."""
        from vigil.quality.models import QASamplerState

        mark = session.scalar(select(QASamplerState.last_decision_id)) or 0
        return session.scalar(select(Decision.id).where(Decision.id > mark).limit(1)) is not None

    # --- blind review and scoring -----------------------------------------------------------

    def _blind(
        self, n: int, label: QALabel, policy: str | None, reported: str | None, codes: set[str]
    ) -> tuple[str | None, QALabel]:
        """The QA reviewer's own decision for their ``n``-th review: the original's, except
        every fourth (one step up or down the ladder; for a case closed as no violation, a
        warning under the policy it was reported for) and every eighth (a neighbouring
        policy, the confusion reviewers actually make)."""
        rng = self.rng
        if n % 4 == 1:
            if label is QALabel.no_violation:
                return (reported if reported in codes else None) or "spam", QALabel.warn
            i = LADDER.index(label)
            j = i + 1 if i <= 1 else i - 1 if i == len(LADDER) - 1 else i + rng.choice((-1, 1))
            new = LADDER[j]
            return (None if new is QALabel.no_violation else policy), new
        if n % 8 == 3 and policy is not None:
            near = [c for c in texts.CONFUSED_WITH.get(policy, ()) if c in codes]
            if near:
                return rng.choice(near), label
        return policy, label

    def review(self, session: Session) -> None:
        qa = self.cast.one(session, Role.qa)
        if qa is None:
            return
        codes = set(session.scalars(select(Policy.code).where(Policy.retired.is_(False))))

        def step() -> None:
            sample = quality.next_sample(session, qa)
            if sample is None:
                return
            case = session.get(Case, sample.case_id)
            original, was = sample.original_policy_code, sample.original_label
            policy, label = self._blind(
                self.reviewed, was, original, case.policy_code if case else None, codes
            )
            self.reviewed += 1
            quality.blind_answer(session, qa, sample.id, policy_code=policy, action=label.value)
            revealed = quality.reveal(session, qa, sample.id)
            rng = self.rng
            # After seeing the original, a reviewer sometimes concedes it was right.
            right_policy = policy == original or rng.random() < 0.3
            right_action = label == was or rng.random() < 0.3
            comment: str | None = rng.choice(texts.QA_PRAISE) or None
            if not (right_policy and right_action):
                comment = texts.qa_comment(original, was.value, policy, label.value)
            quality_score = None
            if revealed.message_sent:
                quality_score = rng.choice((3, 4, 4, 5, 5)) if right_action else rng.choice((2, 3))
            quality.score(
                session,
                qa,
                sample.id,
                quality.ScoreIn(
                    right_policy=right_policy,
                    right_action=right_action,
                    message_quality=quality_score,
                    comment=comment,
                ),
            )
            session.add(
                SimulationTruth(
                    run_seed=self.plan.seed,
                    subject_type="qa_sample",
                    subject_id=sample.id,
                    label="agreed" if sample.agreed else "disagreed",
                    details={"blind_policy": policy, "blind_action": label.value},
                    created_at=clock.now(),
                )
            )

        self.cast.attempt("qa.review", session, step)

    # --- calibration ------------------------------------------------------------------------

    def _gold(self, session: Session, answerer: int | None) -> list[tuple[Case, str | None, str]]:
        """Closed cases for the set: reviewers' decisions, one per policy where possible and
        others' before ``answerer``'s own, then one case closed as no violation."""
        rows = session.execute(
            select(Case, DecisionPolicy.policy_code, Decision.action)
            .join(Decision, Decision.case_id == Case.id)
            .join(DecisionPolicy, DecisionPolicy.decision_id == Decision.id)
            .where(
                Decision.status == DecisionStatus.applied,
                Decision.decided_by_id.is_not(None),
                DecisionPolicy.position == 0,
                Case.status == CaseStatus.closed,
                Case.tier != Tier.legal,
                Case.type != CaseType.appeal,
            )
            .order_by(Decision.decided_by_id == (answerer or -1), Decision.id)
        ).all()
        picked: list[tuple[Case, str | None, str]] = []
        seen: set[str] = set()
        for case, code, action in rows:
            if code not in seen and action is not None:
                picked.append((case, code, ActionType(action).value))
                seen.add(code)
        for case, code, action in rows:  # fill up with repeats of a policy
            if len(picked) >= CALIBRATION_ITEMS - 1:
                break
            if action is not None and all(c.id != case.id for c, _, _ in picked):
                picked.append((case, code, ActionType(action).value))
        picked = picked[: CALIBRATION_ITEMS - 1]
        clean = session.scalar(
            select(Case)
            .where(
                Case.status == CaseStatus.closed,
                Case.resolution == Resolution.no_violation,
                Case.type == CaseType.user_report,
                Case.tier != Tier.legal,
            )
            .order_by(Case.id)
            .limit(1)
        )
        if clean is not None:
            picked.append((clean, None, QALabel.no_violation.value))
        return picked

    def _grey_area(self, session: Session, code: str) -> str | None:
        version = session.scalar(
            select(PolicyVersion)
            .join(Policy, Policy.id == PolicyVersion.policy_id)
            .where(Policy.code == code, PolicyVersion.version == Policy.current_version)
        )
        areas: list[dict[str, Any]] = list(version.grey_areas) if version else []
        return str(areas[0]["title"]) if areas else None

    def calibration(self, session: Session) -> None:
        lead = self.cast.one(session, Role.policy_lead)
        agents = self.cast.staff(session, Role.agent)
        if lead is None or not agents:
            return
        answerer = agents[-1].staff_id
        gold = self._gold(session, answerer)
        if len(gold) < 2:
            return
        # The grey area: the first restriction or suspension, where the lead expects less.
        grey = next((i for i, (_, _, a) in enumerate(gold) if a in ("restrict", "suspend")), None)
        month = f"{clock.now():%B %Y}"

        def step() -> None:
            made = quality.create_set(
                session,
                lead,
                f"Grey areas — {month}",
                "Recent cases the team decided, with the decisions we expect. Answer them "
                "without looking at the case history; the results show the grey-area guidance "
                "for every miss.",
            )
            self.set_id = made.id
            self.items = []
            for i, (case, code, action) in enumerate(gold):
                expected, rationale = action, "Clear case under the policy; the ladder's step."
                if code is None:
                    rationale = "Ordinary friction between users: no policy is broken."
                elif i == grey:
                    area = self._grey_area(session, code) or "the policy's grey areas"
                    expected = QALabel.warn.value
                    rationale = (
                        f"Grey area: '{area}'. A first occurrence with an honest explanation "
                        "calls for a warning, not a restriction."
                    )
                item = quality.add_item(
                    session,
                    lead,
                    made.id,
                    case_id=case.id,
                    expected_policy_code=code,
                    expected_action=expected,
                    rationale=rationale,
                )
                self.items.append((item.id, code, action))
            quality.assign_set(session, lead, made.id, [p.staff_id for p in agents if p.staff_id])

        self.cast.attempt("qa.calibration", session, step)

    def answer(self, session: Session, n: int) -> None:
        agents = self.cast.staff(session, Role.agent)
        if self.set_id is None or n >= len(self.items) or not agents:
            return
        item_id, code, action = self.items[n]
        newest = agents[-1]
        # The taken decision, which matches the gold answer except on the grey area, where
        # the newest agent goes for the restriction the gold case calls too heavy.
        set_id = self.set_id
        self.cast.attempt(
            "qa.calibration_answer",
            session,
            lambda: quality.answer_item(
                session, newest, set_id, item_id, policy_code=code, action=action
            ),
        )
