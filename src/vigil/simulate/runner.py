"""Replay a plan through the services, in time order, and write the ground truth.

Everything goes through the accounts and cases services, so routing, SLAs, timelines,
restrictions and the audit chain are the real thing. The plan's history is replayed on the
Vigil clock: each step runs with the clock set to the moment it happened, so a case closed
three weeks ago carries that date on its timeline and in the audit log. The clock is
process-wide, which is why a run belongs in its own process (the CLI), never inside a server.

Like a CLI command, the runner owns its transactions: it commits every ``batch`` events so a
large run neither holds one huge transaction nor pays a commit per row. If a run fails, the
batches before the failure stay; the seed guard then refuses to load the same seed again
(load it into a fresh database, or pick another seed).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.accounts.schemas import AccountUpsert, IdentifierIn
from vigil.audit import service as audit
from vigil.auth import service as auth
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case
from vigil.cases.routing import ensure_default_queues
from vigil.cases.timeline import add_note
from vigil.db import transaction
from vigil.kit import clock
from vigil.kit.errors import Conflict, VigilError
from vigil.simulate.models import SimulationLabel
from vigil.simulate.plan import AccountPlan, CasePlan, Label, Plan, RestrictionPlan, StepPlan

SIMULATOR = Principal.system("simulator")
DEFAULT_BATCH = 200


@dataclass
class Summary:
    """What a run wrote. ``counts()`` leaves out timing, so two runs can be compared."""

    seed: int
    marketplace: str
    days: int
    accounts: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    identifiers: int = 0
    restrictions: int = 0
    cases_by_type: dict[str, int] = field(default_factory=dict)
    cases_by_status: dict[str, int] = field(default_factory=dict)
    escalations: int = 0
    notes: int = 0
    staff_used: int = 0
    elapsed_seconds: float = 0.0

    def counts(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.pop("elapsed_seconds")
        return out

    def lines(self) -> list[str]:
        def fmt(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))

        bad = sum(v for k, v in self.labels.items() if k != Label.benign)
        share = 100 * bad / self.accounts if self.accounts else 0.0
        return [
            f"seed {self.seed}, {self.marketplace} marketplace, {self.days} days",
            f"accounts     {self.accounts} ({bad} bad actors, {share:.1f} %)",
            f"labels       {fmt(self.labels)}",
            f"groups       {fmt(self.groups) or 'none'}",
            f"identifiers  {self.identifiers} sightings",
            f"restrictions {self.restrictions}",
            f"cases        {sum(self.cases_by_type.values())}: {fmt(self.cases_by_type) or '-'}",
            f"  by status  {fmt(self.cases_by_status) or '-'}",
            f"  escalated  {self.escalations}, internal notes {self.notes}"
            + ("" if self.staff_used else " (no staff yet: notes need staff members)"),
            f"took         {self.elapsed_seconds:.1f} s",
        ]


class Crew:
    """The staff who work the simulated cases: whoever exists, by role. Without staff the
    system actor takes the steps (and no notes are written: notes are written by people)."""

    def __init__(self, by_role: dict[Role, list[Principal]]) -> None:
        self.by_role = by_role

    @classmethod
    def load(cls, session: Session) -> Crew:
        by_role: dict[Role, list[Principal]] = {}
        for role in (Role.agent, Role.specialist, Role.legal):
            rows, _ = auth.list_staff(session, role=role, active=True, limit=500)
            by_role[role] = [auth.principal_for(u) for u in rows]
        return cls(by_role)

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.by_role.values())

    def pick(self, role: Role | None, n: int, language: str) -> Principal | None:
        people = self.by_role.get(role, []) if role else []
        speakers = [p for p in people if language in {x.lower() for x in p.languages}]
        pool = speakers or people
        return pool[n % len(pool)] if pool else None


Action = Callable[[Session], None]
# Decides a case at its planned "close" step instead of closing it: called with the case's
# holder, the case's id, its plan and the step; True when it decided (and so closed) the case.
Decider = Callable[[Session, Principal, int, CasePlan, StepPlan], bool]


class _Replay:
    def __init__(
        self,
        plan: Plan,
        crew: Crew,
        actor: Principal,
        summary: Summary,
        extra: Sequence[tuple[datetime, Action]] = (),
        decider: Decider | None = None,
    ) -> None:
        self.plan = plan
        self.crew = crew
        self.actor = actor
        self.summary = summary
        self.extra = extra
        self.decider = decider
        self.account_ids: dict[int, int] = {}
        self.case_ids: dict[int, int] = {}
        self.holders: dict[int, Principal | None] = {}
        self.status: dict[int, str] = {}
        self.sightings = 0
        self.restrictions = 0

    def events(self) -> list[tuple[datetime, int, Action]]:
        out: list[tuple[datetime, int, Action]] = []
        seq = 0

        def add(at: datetime, action: Action) -> None:
            nonlocal seq
            seq += 1
            out.append((at, seq, action))

        for a in self.plan.accounts:
            add(a.registered_at, partial(self.register, a=a))
            for batch in a.sightings[1:]:
                add(batch.at, partial(self.sight, a=a, items=batch.items))
        for at, r in self.plan.restrictions:
            add(at, partial(self.restrict, r=r, case_id=None))
        for k, c in enumerate(self.plan.cases):
            add(c.opened_at, partial(self.open, k=k, c=c))
            for step in c.steps:
                add(step.at, partial(self.step, k=k, c=c, st=step))
        # After the plan's own actions: at the same moment, a case opens before an event
        # that links to it.
        for at, action in self.extra:
            add(at, action)
        out.sort(key=lambda e: (e[0], e[1]))
        return out

    # --- accounts ------------------------------------------------------------------------

    def register(self, session: Session, a: AccountPlan) -> None:
        first = a.sightings[0]
        data = AccountUpsert(
            side=a.side,
            display_name=a.display_name,
            legal_name=a.legal_name,
            date_of_birth=a.date_of_birth,
            country=a.country,
            locale=a.locale,
            email=a.email,
            phone=a.phone,
            registered_at=a.registered_at,
            attributes=a.attributes,
            identifiers=[IdentifierIn(kind=k, value=v, seen_at=first.at) for k, v in first.items],
        )
        account, _ = accounts.upsert_account(
            session, self.actor, a.external_id, data, expected_version=0
        )
        self.account_ids[a.index] = account.id
        self.sightings += len(first.items) + 2  # with the profile's email and phone
        session.add(
            SimulationLabel(
                run_seed=self.plan.seed,
                account_id=account.id,
                label=a.label.value,
                group_key=a.group_key,
                details={"external_id": a.external_id, **a.details},
                created_at=clock.now(),
            )
        )

    def account(self, session: Session, index: int) -> Account:
        found = session.get(Account, self.account_ids[index])
        assert found is not None
        return found

    def sight(self, session: Session, a: AccountPlan, items: list[Any]) -> None:
        account = self.account(session, a.index)
        accounts.add_identifiers(
            session,
            self.actor,
            account,
            [IdentifierIn(kind=k, value=v, seen_at=clock.now()) for k, v in items],
        )
        self.sightings += len(items)

    def restrict(self, session: Session, r: RestrictionPlan, case_id: int | None) -> None:
        account = self.account(session, r.account)
        if r.kind in accounts.in_force_kinds(session, account):
            return  # already restricted this way (another case about the same account)
        ends_at = clock.now() + timedelta(days=r.days) if r.days else None
        # Enforcement is applied by the platform on the case's decision, not by the agent.
        accounts.place_restriction(
            session,
            self.actor,
            account,
            r.kind,
            r.reason,
            ends_at=ends_at,
            policy_code=r.policy_code,
            case_id=case_id,
        )
        self.restrictions += 1

    # --- cases ---------------------------------------------------------------------------

    def open(self, session: Session, k: int, c: CasePlan) -> None:
        result = cases.create_case(
            session,
            self.actor,
            cases.NewCase(
                type=c.type,
                title=c.title,
                summary=c.summary,
                priority=c.priority,
                severity=c.severity,
                language=c.language,
                policy_code=c.policy_code,
                account_id=self.account_ids[c.account],
                source=c.source,
                source_ref=c.source_ref,
                dedup_key=c.dedup_key,
                attributes=c.attributes,
            ),
        )
        self.case_ids[k] = result.case.id
        self.holders[k] = None
        self.track(k, result.case)

    def track(self, k: int, case: Case) -> None:
        self.status[k] = str(case.status)

    def step(self, session: Session, k: int, c: CasePlan, st: StepPlan) -> None:
        case_id = self.case_ids[k]
        holder = self.holders[k]
        if st.action == "take":
            person = self.crew.pick(st.role, st.pick, c.language)
            if person is None:
                return
            self.track(k, cases.assign(session, person, case_id))
            self.holders[k] = person
        elif st.action == "note":
            person = holder or self.crew.pick(st.role, st.pick, c.language)
            if person is not None:
                add_note(session, person, case_id, body=st.text)
                self.summary.notes += 1
        elif st.action == "escalate":
            self.track(
                k,
                cases.escalate(
                    session,
                    holder or self.actor,
                    case_id,
                    reason=st.text,
                    severity=st.severity,
                    priority=st.priority,
                ),
            )
            self.holders[k] = None
            self.summary.escalations += 1
        elif st.action == "hold":
            until = clock.now() + timedelta(days=st.hold_days)
            self.track(
                k, cases.hold(session, holder or self.actor, case_id, until=until, reason=st.text)
            )
            self.holders[k] = None
        elif st.action == "close":
            assert st.resolution is not None
            if (
                self.decider is not None
                and holder is not None
                and self.decider(session, holder, case_id, c, st)
            ):
                decided = session.get(Case, case_id)
                assert decided is not None
                self.track(k, decided)
                self.holders[k] = None
                # The decision restricted the case's account; the plan's restrictions of
                # other accounts (a ring's members) are still placed, linked to the case.
                for r in st.restrictions:
                    if r.account != c.account:
                        self.restrict(session, r, case_id)
                return
            closed = cases.close(
                session, holder or self.actor, case_id, resolution=st.resolution, note=st.text
            )
            self.track(k, closed)
            self.holders[k] = None
            for r in st.restrictions:
                self.restrict(session, r, case_id)
        else:  # pragma: no cover - the planner writes only the actions above
            raise ValueError(f"unknown step {st.action!r}")


def seed_loaded(session: Session, seed: int) -> bool:
    found = session.scalar(
        select(SimulationLabel.id).where(SimulationLabel.run_seed == seed).limit(1)
    )
    return found is not None


def run(
    factory: sessionmaker[Session],
    plan: Plan,
    *,
    actor: Principal = SIMULATOR,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
    extra: Sequence[tuple[datetime, Action]] = (),
    decider: Decider | None = None,
) -> Summary:
    """Write ``plan`` into the database. Refuses (409 ``seed_loaded``) when this seed's
    accounts are already there: their external ids would collide.

    ``extra`` are more timed actions, replayed in the same order on the same clock (the demo
    feeds the marketplace's events through the detection pipeline this way, between the
    team's steps). ``decider``, when given, may take a real decision on a case where the plan
    closes it (it then places the decision's restrictions instead of the plan's)."""
    started = time.perf_counter()
    summary = Summary(plan.seed, plan.marketplace, plan.days)
    with transaction(factory) as session:
        if seed_loaded(session, plan.seed):
            raise Conflict(
                f"seed {plan.seed} is already loaded in this database; use another seed",
                field="seed",
                code="seed_loaded",
            )
        if plan.cases:
            with clock.frozen(plan.start - timedelta(hours=1)):
                ensure_default_queues(session, actor)
        crew = Crew.load(session)
    replay = _Replay(plan, crew, actor, summary, extra, decider)
    events = replay.events()
    for first in range(0, len(events), batch):
        with transaction(factory) as session:
            for at, _, action in events[first : first + batch]:
                with clock.frozen(at):
                    try:
                        action(session)
                    except VigilError as exc:
                        exc.add_note(f"while replaying the simulation at {at.isoformat()}")
                        raise
        if progress is not None:
            progress(min(first + batch, len(events)), len(events))

    keys = {a.group_key for a in plan.accounts if a.group_key}
    summary.accounts = len(plan.accounts)
    summary.labels = dict(Counter(a.label.value for a in plan.accounts))
    # Group keys read "<kind>-<seed>-<n>": count the groups of each kind.
    summary.groups = dict(Counter(k.rsplit("-", 2)[0] for k in keys))
    summary.identifiers = replay.sightings
    summary.restrictions = replay.restrictions
    summary.cases_by_type = dict(Counter(c.type.value for c in plan.cases))
    summary.cases_by_status = dict(Counter(replay.status.values()))
    summary.staff_used = crew.size
    with transaction(factory) as session, clock.frozen(plan.now):
        audit.record(
            session,
            actor,
            "simulate.run.finish",
            "simulation",
            plan.seed,
            data={k: v for k, v in summary.counts().items() if k != "staff_used"},
        )
    summary.elapsed_seconds = time.perf_counter() - started
    return summary
