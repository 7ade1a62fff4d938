"""Who acts in the demo's disputes, appeals and QA: the simulated marketplace (an API key,
as a real integration would be) and the staff members by role.

Both are looked up when first needed, inside the replay's transaction, so the demo stays one
deterministic sequence of service calls. Steps are taken through the services, each in a
savepoint: a step a service refuses is skipped and counted (``Ledger``), never written half.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from vigil.auth import service as auth
from vigil.auth.permissions import Permission, Role
from vigil.auth.principal import Principal
from vigil.kit.errors import VigilError
from vigil.simulate.runner import SIMULATOR

MARKETPLACE_KEY_NAME = "Simulated marketplace"
MARKETPLACE_SCOPES = (
    Permission.disputes_read,
    Permission.disputes_write,
    Permission.appeals_read,
    Permission.appeals_write,
)


@dataclass
class Ledger:
    """What the demo's steps did: done per kind, and the refusals (kind and code)."""

    done: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = []
        if self.refused:
            out.append(
                "  refused    " + ", ".join(f"{k} {v}" for k, v in sorted(self.refused.items()))
            )
        return out


class Cast:
    """The marketplace's principal and the staff, by role (in the order they were created)."""

    def __init__(self) -> None:
        self._marketplace: Principal | None = None
        self._staff: dict[Role, list[Principal]] | None = None
        self.ledger = Ledger()

    def marketplace(self, session: Session) -> Principal:
        """The marketplace's API key, created on first use (its secret is not kept: the
        simulator acts with the key's principal directly)."""
        if self._marketplace is None:
            issued = auth.create_api_key(
                session,
                SIMULATOR,
                name=MARKETPLACE_KEY_NAME,
                scopes=[p.value for p in MARKETPLACE_SCOPES],
            )
            self._marketplace = Principal.api_key(
                issued.key.id, issued.key.name, frozenset(MARKETPLACE_SCOPES)
            )
        return self._marketplace

    def setup(self, session: Session) -> None:
        """Create the marketplace's key (a timed action, before it first acts)."""
        self.marketplace(session)

    def staff(self, session: Session, role: Role) -> list[Principal]:
        if self._staff is None:
            self._staff = {}
            for r in Role:
                rows, _ = auth.list_staff(session, role=r, active=True, limit=100)
                self._staff[r] = [auth.principal_for(u) for u in sorted(rows, key=lambda u: u.id)]
        return self._staff.get(role, [])

    def one(self, session: Session, role: Role, n: int = 0, language: str = "") -> Principal | None:
        """The ``n``-th member of ``role`` (wrapping), preferring speakers of ``language``."""
        people = self.staff(session, role)
        speakers = [p for p in people if language and language in p.languages]
        pool = speakers or people
        return pool[n % len(pool)] if pool else None

    def attempt(self, kind: str, session: Session, step: Callable[[], object]) -> bool:
        """Run ``step`` in a savepoint; a refusal (any ``VigilError``) undoes it and is
        counted under ``kind`` and its code."""
        try:
            with session.begin_nested():
                step()
        except VigilError as exc:
            self.ledger.refused[f"{kind}:{exc.code}"] += 1
            return False
        self.ledger.done[kind] += 1
        return True
