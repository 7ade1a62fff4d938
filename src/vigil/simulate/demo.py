"""``vigil demo-data``: queues, demo staff and a simulated marketplace, on an empty database.

The team's casework is replayed together with the marketplace's events, on one clock: the
events of the last ``feed_days`` days go through the real detection pipeline (rules fire,
detection cases open, automated decisions are taken), every user report the team works
arrives as a ``report_filed`` event linked to its case, and the cases the plan closes as
actioned or as no violation are closed by a real decision (the policy and the plan's measure
or the ladder's, or no violation; a short reasoning), so strikes, prior decisions, precedent
and appealable restrictions exist. On the same clock, buyers and sellers of paid contracts
open disputes that the agents mediate (``vigil.simulate.disputes``), users appeal some of the
restrictive decisions and the specialists hear them, and the QA reviewer and the policy lead
check the team's decisions (``vigil.simulate.aftercare``). The same seed gives the same demo.

The demo passwords are public (they are printed and documented): demo databases only.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from random import Random
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts.models import Account, RestrictionKind
from vigil.appeals.models import Appeal
from vigil.auth import service as auth
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases.models import Case, CaseType, Resolution
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.db import transaction
from vigil.detection import service as detection
from vigil.detection.events import EventIn
from vigil.detection.features import VelocityStore
from vigil.detection.models import Event
from vigil.detection.rules.pack import load_pack as load_rules
from vigil.disputes.models import Dispute
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import Decision
from vigil.enforcement.schemas import ActionIn, DecisionIn, StatementIn, ViolationIn
from vigil.kit import clock
from vigil.kit.errors import NotFound, VigilError
from vigil.policies.actions import ActionType, Scope
from vigil.policies.pack import load_pack
from vigil.quality.models import CalibrationAnswer, QASample
from vigil.simulate import waves
from vigil.simulate.aftercare import AppealDesk, QADesk, appeal_count
from vigil.simulate.cast import Cast
from vigil.simulate.disputes import DisputeDesk, DisputePlan, plan_disputes
from vigil.simulate.events import SimEvent, generate
from vigil.simulate.feed import FeedSummary
from vigil.simulate.generator import make_plan
from vigil.simulate.identity import submit_documents
from vigil.simulate.plan import CasePlan, Plan, RestrictionPlan, StepPlan
from vigil.simulate.runner import SIMULATOR, Action, Summary, run

DEMO_ACCOUNTS = 1000
DEMO_DAYS = 30
DEMO_SEED = 7
# Only the last days of the marketplace's events go through the detection pipeline (about
# 17 ms of CPU per event): all 30 days (about 20,000 events for 1,000 accounts, growing
# over the month) would take six minutes; the last 4 days are about 6,900. The user reports the team
# works are fed whatever their date.
DEMO_FEED_DAYS = 4
# The trend and clusters jobs are replayed hour by hour over the last days (as the periodic
# jobs would have run), so the scam wave injected into the demo raises its alerts on time.
TREND_REPLAY_HOURS = 48
CLUSTER_EVERY_HOURS = 6
WAVE_KEY = "demo-scam-wave"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role
    languages: tuple[str, ...]

    @property
    def password(self) -> str:
        # "vigil-demo-" and the mailbox name: easy to guess on purpose, never for real data.
        return "vigil-demo-" + self.email.split("@", 1)[0]


DEMO_STAFF = (
    DemoUser("admin@vigil.example", "Alex Morgan", Role.admin, ("en",)),
    DemoUser("agent@vigil.example", "Sam Rivera", Role.agent, ("en", "pt")),
    DemoUser("agent.es@vigil.example", "Lucía Romero", Role.agent, ("es", "en")),
    DemoUser("specialist@vigil.example", "Priya Nair", Role.specialist, ("en", "es", "pt")),
    DemoUser("legal@vigil.example", "Daniel Okafor", Role.legal, ("en", "es", "pt")),
    DemoUser("qa@vigil.example", "Mei Tan", Role.qa, ("en",)),
    DemoUser("lead@vigil.example", "Jordan Lee", Role.policy_lead, ("en",)),
    DemoUser("head@vigil.example", "Morgan Blake", Role.leadership, ("en",)),
)


@dataclass(frozen=True)
class DemoResult:
    summary: Summary
    staff_created: list[str]
    feed: FeedSummary
    feed_days: int
    events_generated: int  # the whole history's events, fed or not
    events_in_window: int  # those of the last ``feed_days`` days, fed
    automated: int  # automated decisions (no reviewer), taken on the fed events' blocks
    reports_linked: int  # report_filed events linked to the user-report case they opened
    decisions: int  # reviewers' decisions taken on the team's cases
    # Disputes by status, appeals by status, QA samples by status, calibration answers;
    # and the steps a service refused (kind:code -> count), which a healthy run has none of.
    disputes: dict[str, int] = field(default_factory=dict)
    appeals: dict[str, int] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    calibration_answers: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    # Analytics: events kept as history before the fed window, trend alerts and text
    # clusters the replayed jobs left open, goals set by leadership.
    history_events: int = 0
    alerts: dict[str, int] = field(default_factory=dict)  # "dimension=value" -> observed
    clusters: int = 0
    goals: int = 0

    def lines(self) -> list[str]:
        def fmt(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"

        return [
            *self.summary.lines(),
            f"events       fed the last {self.feed_days} days: {self.events_in_window} of "
            f"{self.events_generated} events, plus the {self.feed.events - self.events_in_window}"
            f" reports the team worked ({self.reports_linked} linked to their case)",
            *("  " + line for line in self.feed.lines()[:2]),
            f"  cases        {len(self.feed.cases)} opened or added to by detection",
            "  rules        "
            + (", ".join(f"{k} {v}" for k, v in self.feed.rule_hits.most_common(6)) or "-"),
            f"decisions    {self.decisions} by reviewers on the team's cases "
            f"(plus {self.automated} automated)",
            f"disputes     {sum(self.disputes.values())}: {fmt(self.disputes)}",
            f"appeals      {sum(self.appeals.values())}: {fmt(self.appeals)}",
            f"QA samples   {sum(self.samples.values())}: {fmt(self.samples)}; "
            f"calibration answers {self.calibration_answers}",
            f"trends       {self.history_events} earlier events kept as history; "
            f"{len(self.alerts)} alerts open ({', '.join(list(self.alerts)[:4]) or '-'}); "
            f"{self.clusters} new text clusters; {self.goals} goals",
            *([f"refused      {fmt(self.refused)}"] if self.refused else []),
        ]


def has_accounts(session: Session) -> bool:
    return session.scalar(select(Account.id).limit(1)) is not None


class _Feed:
    """The marketplace's events as timed actions of the runner, and the decider it calls
    where the plan closes an actioned case."""

    def __init__(self, plan: Plan, settings: Settings, feed_days: int) -> None:
        self.plan = plan
        self.settings = settings
        self.store: VelocityStore = detection.store_for(settings)
        self.summary = FeedSummary()
        self.linked = 0
        self.decisions = 0
        stream = generate(plan)
        self.generated = len(stream.events)
        since = plan.now - timedelta(days=feed_days)
        self.envelopes: list[tuple[datetime, dict[str, Any]]] = [
            (e.at, e.envelope) for e in stream.events if e.at >= since
        ]
        # The events before the window are kept as history for the trend baseline (see
        # _history); the ground truth of the fed ones tells which verdicts they can borrow.
        self.history: list[SimEvent] = baseline_history(stream.events, plan.now, since)
        self.truth = {
            e.envelope["event_id"]: e.label.policy_code for e in stream.events if e.at >= since
        }
        self.in_window = len(self.envelopes)
        self.envelopes += [(c.opened_at, _report(plan, c)) for c in plan.cases if _reported(c)]
        # Disputes come from contracts the stream paid (the whole history's, fed or not).
        self.disputes: list[DisputePlan] = plan_disputes(plan, stream, settings)

    def actions(self) -> list[tuple[datetime, Action]]:
        return [(at, partial(self.ingest, envelope=env)) for at, env in self.envelopes]

    def ingest(self, session: Session, envelope: dict[str, Any]) -> None:
        begun = time.perf_counter()
        result = detection.ingest(
            session,
            self.settings,
            EventIn.model_validate(envelope),
            actor=SIMULATOR,
            store=self.store,
        )
        self.summary.seconds += time.perf_counter() - begun
        self.summary.count(result)
        if envelope["type"] != "report_filed" or result.case_id is not None:
            return
        # A report the team works: it opened the user-report case (opened a moment before,
        # with the event's id as its source_ref), so it belongs to that case.
        case_id = session.scalar(
            select(Case.id).where(
                Case.source_ref == envelope["event_id"], Case.type == CaseType.user_report
            )
        )
        if case_id is not None:
            session.execute(update(Event).where(Event.id == result.id).values(case_id=case_id))
            self.linked += 1

    def decide(
        self, session: Session, holder: Principal, case_id: int, c: CasePlan, st: StepPlan
    ) -> bool:
        """Where the plan closes a case as actioned or as no violation, the agent who holds
        it decides instead, as a reviewer would: no violation, with the closing note as the
        reasoning; or the case's policy with the plan's own measure on the case's account
        (a 90-day suspension, a restriction for the plan's days or 30), departing from the
        ladder with the plan's reason when the ladder proposes something else; the ladder's
        suggestion when the plan restricts nobody on this account or the policy does not
        allow its measure. Not when the action needs a second approver (the demo's cases
        are all closed alone); a refused decision falls back to the plan's closing."""
        bodies: list[DecisionIn] = []
        if st.resolution is Resolution.no_violation:
            bodies.append(DecisionIn(no_violation=True, internal_reasoning=st.text))
        elif st.resolution is Resolution.actioned:
            try:
                suggested = enforcement.suggestion_for(session, holder, case_id, [c.policy_code])
            except VigilError:
                return False
            ladder = ActionIn(
                type=suggested.action,
                scope=suggested.scope,
                duration_days=suggested.duration_days,
            )
            own = next((r for r in st.restrictions if r.account == c.account), None)
            measure = _measure(own) if own is not None else None
            choices: list[tuple[ActionIn, str | None]] = [(ladder, None)]
            if own is not None and measure is not None and measure != ladder:
                choices.insert(0, (measure, own.reason))
            for action, departure in choices:
                if _needs_second_approver(action.type, action.duration_days, self.settings):
                    continue
                bodies.append(
                    DecisionIn(
                        violations=[ViolationIn(policy=c.policy_code)],
                        actions=[action],
                        departure_reason=departure,
                        internal_reasoning=st.text,
                        statement=_statement(st.text, action, c.opened_at.date()),
                    )
                )
        for body in bodies:
            try:
                with session.begin_nested():
                    enforcement.decide(session, holder, case_id, body, settings=self.settings)
            except VigilError:
                continue
            self.decisions += 1
            return True
        return False


def _statement(facts: str, action: ActionIn, day: date) -> StatementIn:
    """The reviewer's part of the statement of reasons: a restriction of messages is about
    text; anything else about the account's conduct."""
    if action.scope is Scope.message:
        return StatementIn(facts=facts, content_type=["CONTENT_TYPE_TEXT"], content_date=day)
    return StatementIn(
        facts=facts,
        content_type=["CONTENT_TYPE_OTHER"],
        content_type_other="account activity",
        content_date=day,
    )


# The plan's restriction of a case's account as a decision's action (None: no such action).
_SCOPES = {
    RestrictionKind.messaging: Scope.message,
    RestrictionKind.listing: Scope.listing,
    RestrictionKind.payouts: Scope.payouts,
    RestrictionKind.profile: Scope.profile,
}
SUSPENSION_DAYS = 90


def _measure(r: RestrictionPlan) -> ActionIn | None:
    if r.kind is RestrictionKind.suspension:
        return ActionIn(type=ActionType.suspend, scope=Scope.account, duration_days=SUSPENSION_DAYS)
    scope = _SCOPES.get(r.kind)
    if scope is None:
        return None
    return ActionIn(type=ActionType.restrict, scope=scope, duration_days=r.days or 30)


# Weeks of trend baseline kept before the fed window (the detector's default four, and one
# more for the days the replay looks back).
HISTORY_WEEKS = 4


def baseline_history(events: list[SimEvent], now: datetime, since: datetime) -> list[SimEvent]:
    """The history stored before the fed window: the marketplace *at its current size*.

    The simulated marketplace grows over the month (from a few dozen events a day to a few
    thousand), so its real early weeks would make every series look new against a baseline
    near zero. Instead, the last week's ordinary events (an injected wave's left out) are
    repeated 1, 2, ... weeks back, keeping their hour of the week, down to
    ``HISTORY_WEEKS`` weeks and a day before ``since``; the days between the last week's
    start and ``since`` are kept as they were. Each copy gets its own event id
    (``<id>~w<k>``). So the trend baseline is the marketplace as it is now, and an injected
    wave stands out among few other alerts."""
    week = timedelta(days=7)
    last_week = [e for e in events if e.at >= now - week and not _in_wave(e)]
    kept = [e for e in events if now - week <= e.at < since]
    floor = since - HISTORY_WEEKS * week - timedelta(days=1)
    out = list(kept)
    k = 1
    while now - week - (k - 1) * week > floor:
        shift = k * week
        for e in last_week:
            at = e.at - shift
            if at < floor or at >= since:
                continue
            env = dict(e.envelope)
            env["event_id"] = f"{env['event_id']}~w{k}"
            env["occurred_at"] = at.isoformat()
            out.append(SimEvent(at, env, e.label))
        k += 1
    out.sort(key=lambda e: (e.at, e.envelope["event_id"]))
    return out


def _in_wave(e: SimEvent) -> bool:
    return waves.wave_of(e.label.what) is not None


def _reported(c: CasePlan) -> bool:
    return c.type is CaseType.user_report and bool(c.source_ref)


def _report(plan: Plan, c: CasePlan) -> dict[str, Any]:
    """The ``report_filed`` event behind a user-report case: the reporter's words about the
    case's account."""
    return {
        "event_id": c.source_ref,
        "type": "report_filed",
        "account_id": c.attributes["reporter_external_id"],
        "occurred_at": c.opened_at.isoformat(),
        "counterparty_id": plan.accounts[c.account].external_id,
        "data": {
            "reason": c.attributes.get("report_kind", "other"),
            "target_type": "account",
            "text": c.attributes.get("report_text", ""),
        },
    }


def _needs_second_approver(action: ActionType, days: int | None, settings: Settings) -> bool:
    if action.value in settings.four_eyes:
        return True
    if action not in (ActionType.suspend, ActionType.restrict):
        return False
    if days is None:
        return action is ActionType.restrict
    return days > settings.four_eyes_over_days


def load_demo(
    factory: sessionmaker[Session],
    *,
    accounts: int = DEMO_ACCOUNTS,
    days: int = DEMO_DAYS,
    seed: int = DEMO_SEED,
    marketplace: str = "freelance",
    feed_days: int = DEMO_FEED_DAYS,
    settings: Settings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult | None:
    """Load the demo into an empty database; ``None`` (and nothing written) when any account
    exists already, so running it again is harmless."""
    settings = settings or Settings()
    plan = make_plan(seed, accounts, days, clock.now(), marketplace)
    if feed_days >= 2 and days >= 8:
        # A scam wave over the last two days, decided by the real pipeline: the trend and
        # clusters pages have something to show (see docs/simulator.md, injected trends).
        start = plan.now.replace(minute=0, second=0) - timedelta(hours=44)
        per_day = max(3.0, accounts / 150)
        waves.apply(plan, [waves.scam_wave(start, days=3, per_day=per_day, key=WAVE_KEY)])
    created: list[str] = []
    with transaction(factory) as session:
        if has_accounts(session):
            return None
        # The team was there before the marketplace's history began.
        with clock.frozen(plan.start - timedelta(hours=2)):
            ensure_default_queues(session, SIMULATOR)
            # The default policy catalog, so cases can be decided in the console.
            load_pack(session, SIMULATOR)
            # And the default detection ruleset, so the Rules page and backtests have rules.
            load_rules(session, SIMULATOR)
            for user in DEMO_STAFF:
                try:
                    auth.get_staff_by_email(session, user.email)
                    continue
                except NotFound:
                    pass
                auth.create_staff(
                    session,
                    SIMULATOR,
                    email=user.email,
                    name=user.name,
                    role=user.role,
                    password=user.password,
                    languages=list(user.languages),
                )
                created.append(user.email)
    feed = _Feed(plan, settings, feed_days)
    cast = Cast()
    extra: list[tuple[datetime, Action]] = [
        *feed.actions(),
        # The marketplace's API key, before it acts for its users.
        (plan.start - timedelta(minutes=30), cast.setup),
        *DisputeDesk(plan, feed.disputes, cast, settings).actions(),
        *AppealDesk(plan, cast, settings, appeal_count(accounts)).actions(),
        *QADesk(plan, cast, settings).actions(),
    ]
    summary = run(factory, plan, extra=extra, decider=feed.decide, progress=progress)
    # Some sellers verify their identity: submitted now, read and decided by the worker.
    submit_documents(factory, plan)
    with factory() as session:
        automated = session.scalar(
            select(func.count()).select_from(Decision).where(Decision.decided_by_id.is_(None))
        )
        by_status = {
            name: {
                str(status): int(n)
                for status, n in session.execute(
                    select(table.status, func.count()).group_by(table.status)
                )
            }
            for name, table in (("disputes", Dispute), ("appeals", Appeal), ("qa", QASample))
        }
        answers = session.scalar(select(func.count()).select_from(CalibrationAnswer))
    history = _history(factory, feed)
    alerts, clusters = _trend_jobs(factory, plan, settings) if history else ({}, 0)
    goals = _goals(factory)
    return DemoResult(
        summary,
        created,
        feed.summary,
        feed_days,
        feed.generated,
        feed.in_window,
        int(automated or 0),
        feed.linked,
        feed.decisions,
        disputes=by_status["disputes"],
        appeals=by_status["appeals"],
        samples=by_status["qa"],
        calibration_answers=int(answers or 0),
        refused=dict(cast.ledger.refused),
        history_events=history,
        alerts=alerts,
        clusters=clusters,
        goals=goals,
    )


# --- analytics: history, the trend jobs, goals ---------------------------------------------------


def _history(factory: sessionmaker[Session], feed: _Feed) -> int:
    """Store the events before the fed window, so the trend job has weeks of baseline. No
    rule runs on them (that is what costs time): each borrows the verdict (outcome and rule
    hits) of a random fed event of the same type and the same ground truth, so flag rates and
    rule names match the fed days. ``source`` is ``history`` and they belong to no case."""
    if not feed.history:
        return 0
    rng = Random(f"vigil-demo-history-{feed.plan.seed}")
    with transaction(factory) as session:
        ids = {str(x): int(i) for x, i in session.execute(select(Account.external_id, Account.id))}
        verdicts: dict[tuple[str, str | None], list[tuple[str, list[Any]]]] = {}
        fed = session.execute(select(Event.event_id, Event.type, Event.outcome, Event.hits))
        for event_id, type_, outcome, hits in fed:
            key = (type_, feed.truth.get(event_id))
            verdicts.setdefault(key, []).append((str(outcome), hits))
        rows = []
        for e in feed.history:
            env = e.envelope
            pool = verdicts.get((e.type, e.label.policy_code))
            outcome, hits = rng.choice(pool) if pool else ("allow", [])
            body = json.dumps(env, sort_keys=True, separators=(",", ":"))
            rows.append(
                {
                    "event_id": env["event_id"],
                    "payload_sha256": hashlib.sha256(body.encode()).hexdigest(),
                    "type": e.type,
                    "account_id": ids.get(env["account_id"]),
                    "account_external_id": env["account_id"],
                    "counterparty_external_id": env.get("counterparty_id"),
                    "occurred_at": e.at,
                    "received_at": e.at,
                    "source": "history",
                    "payload": env,
                    "features": {},
                    "outcome": outcome,
                    "score": 0.0,
                    "hits": hits,
                    "errors": [],
                }
            )
        for i in range(0, len(rows), 2000):
            session.execute(insert(Event), rows[i : i + 2000])
    return len(rows)


def _trend_jobs(
    factory: sessionmaker[Session], plan: Plan, settings: Settings
) -> tuple[dict[str, int], int]:
    """Count everything once, then replay trend detection hourly (and the clusters job every
    few hours) over the last ``TREND_REPLAY_HOURS`` with the clock at each hour, as the
    periodic jobs would have run. Detection reads only counts of hours before its "now", so
    counting all at once first changes nothing."""
    from vigil.analytics.clusters import service as clusters
    from vigil.analytics.clusters.models import ClusterStatus, TextCluster
    from vigil.analytics.trends import detect, rollup
    from vigil.analytics.trends.models import AlertStatus, TrendAlert

    end = plan.now.replace(minute=0, second=0)
    # Past the roll-up's settle lag: the last fed events were received moments before
    # ``plan.now``, and the mark never passes an unsettled event, so counting at ``plan.now``
    # would stop below them and leave out the history stored after them (the baseline).
    counted_at = plan.now + rollup.SETTLE_LAG + timedelta(seconds=1)
    with transaction(factory) as session, clock.frozen(counted_at):
        rollup.run(session, now=counted_at)
    for h in range(TREND_REPLAY_HOURS, -1, -1):
        at = end - timedelta(hours=h) + timedelta(minutes=1)
        with transaction(factory) as session, clock.frozen(at):
            detect.run(session, now=at, settings=settings)
            if h % CLUSTER_EVERY_HOURS == 0:
                clusters.detect(session, settings, now=at)
    with factory() as session:
        open_alerts = session.execute(
            select(TrendAlert.dimension, TrendAlert.value, TrendAlert.observed)
            .where(TrendAlert.status == AlertStatus.open)
            .order_by(TrendAlert.observed.desc())
        )
        alerts = {f"{d}={v}": int(n) for d, v, n in open_alerts}
        new = session.scalar(
            select(func.count())
            .select_from(TextCluster)
            .where(TextCluster.status == ClusterStatus.new)
        )
    return alerts, int(new or 0)


# Leadership's targets on the catalog's metrics: one met, one at risk, in the usual mix.
DEMO_GOALS = (
    ("sla_attainment", ">=", 0.95, "month", "Commitment to the marketplace: 95% within SLA."),
    ("overturn_rate", "<=", 0.05, "quarter", "Appeals overturn at most one decision in 20."),
    ("automation_rate", ">=", 0.3, "week", "Automate the clear-cut third of decisions."),
    ("time_to_decision_median", "<=", 4 * 3600.0, "week", "Median case decided within 4 h."),
)


def _goals(factory: sessionmaker[Session]) -> int:
    """The head of T&S sets the demo's goals (through the goals service, audited)."""
    from vigil.analytics.goals import service as goals
    from vigil.analytics.goals.schemas import GoalIn
    from vigil.analytics.metrics.catalog import METRICS

    with transaction(factory) as session:
        head = auth.get_staff_by_email(session, "head@vigil.example")
        actor = Principal.staff(head.id, head.name, Role.leadership)
        made = 0
        for metric, comparator, target, period, notes in DEMO_GOALS:
            if metric not in METRICS:
                continue
            goals.create_goal(
                session,
                actor,
                GoalIn.model_validate(
                    {
                        "metric": metric,
                        "comparator": comparator,
                        "target": target,
                        "period": period,
                        "notes": notes,
                    }
                ),
            )
            made += 1
    return made
