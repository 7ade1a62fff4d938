"""Helpers for linked-accounts tests: accounts with identifiers seen at chosen times."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tests.conftest import FROZEN_AT
from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.principal import Principal

SYSTEM = Principal.system("tests")
T0 = FROZEN_AT - timedelta(days=10)

Item = tuple[str, str] | tuple[str, str, datetime]


def make_account(db: Session, external_id: str, *items: Item, side: str = "client") -> Account:
    """An account seen with ``items``: (kind, value) or (kind, value, seen_at); an item
    without a time is seen at ``T0``."""
    identifiers = [
        {"kind": it[0], "value": it[1], "seen_at": it[2] if len(it) > 2 else T0}  # type: ignore[misc]
        for it in items
    ]
    account, _ = accounts.upsert_account(
        db,
        SYSTEM,
        external_id,
        AccountUpsert.model_validate({"side": side, "identifiers": identifiers}),
    )
    return account
