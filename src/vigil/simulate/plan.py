"""The plan of a simulated run: plain data, decided up front by the generator and replayed
by the runner. Accounts are referred to by their index in ``Plan.accounts``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from vigil.accounts.models import IdentifierKind, RestrictionKind, Side
from vigil.auth.permissions import Role
from vigil.cases.models import CaseType, Resolution, Severity

if TYPE_CHECKING:
    from vigil.simulate.waves import Wave

SELLER_SIDES = frozenset({Side.freelancer, Side.pro, Side.instructor})


class Label(StrEnum):
    benign = "benign"
    fraud_ring = "fraud_ring"
    scammer = "scammer"
    off_platform = "off_platform"
    duplicate_identity = "duplicate_identity"
    fake_reviewer = "fake_reviewer"


@dataclass
class Sightings:
    """Identifiers the marketplace reported for an account at one moment."""

    at: datetime
    items: list[tuple[IdentifierKind, str]]


@dataclass
class AccountPlan:
    marketplace: str
    side: Side
    display_name: str
    legal_name: str
    date_of_birth: date
    country: str
    locale: str
    email: str
    phone: str
    registered_at: datetime
    attributes: dict[str, Any]
    # The first batch is sent with the account; later ones arrive at their own time.
    sightings: list[Sightings]
    label: Label = Label.benign
    group_key: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    index: int = -1
    external_id: str = ""

    @property
    def language(self) -> str:
        return self.locale.split("-", 1)[0]

    @property
    def is_seller(self) -> bool:
        return self.side in SELLER_SIDES

    def values(self, kind: IdentifierKind) -> list[str]:
        return [v for s in self.sightings for k, v in s.items if k is kind]


@dataclass
class RestrictionPlan:
    account: int  # index into Plan.accounts
    kind: RestrictionKind
    reason: str
    policy_code: str
    days: int | None = None  # None: until lifted


@dataclass
class StepPlan:
    """One thing the team did to a case. ``role`` names who does it (the case's holder for
    notes, holds, escalations and closings); ``pick`` chooses among staff of that role."""

    at: datetime
    action: str  # take | note | escalate | hold | close
    role: Role | None = None
    pick: int = 0
    text: str = ""
    resolution: Resolution | None = None
    hold_days: float = 0.0
    severity: Severity | None = None
    priority: int | None = None
    restrictions: list[RestrictionPlan] = field(default_factory=list)


@dataclass
class CasePlan:
    opened_at: datetime
    account: int
    type: CaseType
    title: str
    summary: str
    priority: int
    severity: Severity
    language: str
    policy_code: str
    source: str
    dedup_key: str
    source_ref: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    steps: list[StepPlan] = field(default_factory=list)


@dataclass
class Plan:
    seed: int
    marketplace: str
    days: int
    now: datetime
    accounts: list[AccountPlan]
    cases: list[CasePlan]
    # Restrictions placed outside any case (used when cases are not simulated).
    restrictions: list[tuple[datetime, RestrictionPlan]] = field(default_factory=list)
    # Injected trend changes (vigil.simulate.waves.apply); empty for an ordinary run.
    waves: list[Wave] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return self.now - timedelta(days=self.days)

    def digest(self) -> str:
        """A hash of the whole plan, for checking determinism."""
        body = json.dumps(asdict(self), sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()
