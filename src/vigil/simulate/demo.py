"""``vigil demo-data``: queues, demo staff and a simulated marketplace, on an empty database.

The demo passwords are public (they are printed and documented): demo databases only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts.models import Account
from vigil.auth import service as auth
from vigil.auth.permissions import Role
from vigil.cases.routing import ensure_default_queues
from vigil.db import transaction
from vigil.detection.rules.pack import load_pack as load_rules
from vigil.kit import clock
from vigil.kit.errors import NotFound
from vigil.policies.pack import load_pack
from vigil.simulate.generator import make_plan
from vigil.simulate.identity import submit_documents
from vigil.simulate.runner import SIMULATOR, Summary, run

DEMO_ACCOUNTS = 1000
DEMO_DAYS = 30
DEMO_SEED = 7


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
)


@dataclass(frozen=True)
class DemoResult:
    summary: Summary
    staff_created: list[str]


def has_accounts(session: Session) -> bool:
    return session.scalar(select(Account.id).limit(1)) is not None


def load_demo(
    factory: sessionmaker[Session],
    *,
    accounts: int = DEMO_ACCOUNTS,
    days: int = DEMO_DAYS,
    seed: int = DEMO_SEED,
    marketplace: str = "freelance",
) -> DemoResult | None:
    """Load the demo into an empty database; ``None`` (and nothing written) when any account
    exists already, so running it again is harmless."""
    plan = make_plan(seed, accounts, days, clock.now(), marketplace)
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
    summary = run(factory, plan)
    # Some sellers verify their identity: submitted now, read and decided by the worker.
    submit_documents(factory, plan)
    return DemoResult(summary, created)
