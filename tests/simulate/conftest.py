"""Helpers for the simulator tests: small runs, a canonical digest of what a run wrote."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts.models import Account, Identifier
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.kit import clock
from vigil.simulate.generator import make_plan
from vigil.simulate.models import SimulationLabel
from vigil.simulate.runner import Summary, run

SMALL = 120


def simulate(
    factory: sessionmaker[Session],
    seed: int = 11,
    accounts: int = SMALL,
    days: int = 20,
    marketplace: str = "freelance",
    with_cases: bool = True,
) -> Summary:
    plan = make_plan(seed, accounts, days, clock.now(), marketplace, with_cases=with_cases)
    return run(factory, plan)


def rows_digest(session: Session) -> str:
    """Accounts, their identifiers and labels in a form that compares across databases."""
    accounts = session.execute(
        select(
            Account.external_id,
            Account.side,
            Account.display_name,
            Account.legal_name,
            Account.country,
            Account.locale,
            Account.email,
            Account.phone,
            Account.registered_at,
            Account.status,
            Account.attributes,
        ).order_by(Account.external_id)
    ).all()
    identifiers = session.execute(
        select(
            Account.external_id,
            Identifier.kind,
            Identifier.value,
            Identifier.first_seen_at,
            Identifier.last_seen_at,
            Identifier.seen_count,
        )
        .join(Account, Account.id == Identifier.account_id)
        .order_by(Account.external_id, Identifier.kind, Identifier.value)
    ).all()
    labels = session.execute(
        select(
            Account.external_id,
            SimulationLabel.label,
            SimulationLabel.group_key,
            SimulationLabel.details,
        )
        .join(Account, Account.id == SimulationLabel.account_id)
        .order_by(Account.external_id)
    ).all()
    # The date of birth is sealed (random nonce): compared as read through the model.
    births = [
        (a.external_id, a.date_of_birth)
        for a in session.scalars(select(Account).order_by(Account.external_id))
    ]
    body = json.dumps(
        [[list(r) for r in rows] for rows in (accounts, identifiers, labels, births)],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def fresh_sqlite(template: Path, path: Path) -> tuple[Engine, sessionmaker[Session]]:
    """Another migrated SQLite database next to the one the test runs on."""
    path.write_bytes(template.read_bytes())
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"))
    return engine, make_sessionmaker(engine)
