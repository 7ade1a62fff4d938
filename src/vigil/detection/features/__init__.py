"""Features computed once per event before the rules: velocity, account age, linked
accounts, text scores and contact details (docs/features.md).

``compute`` is the one entry point ingestion calls; ``registry.declared()`` tells the
rules engine every feature's name and CEL type.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.config import Settings
from vigil.detection.features import velocity
from vigil.detection.features.inputs import EventLike, Inputs, Need, gather_links, gather_text
from vigil.detection.features.registry import declared, registry
from vigil.detection.features.store import (
    MemoryStore,
    RedisStore,
    VelocityStore,
    VelocityUnavailable,
    make_store,
)
from vigil.kit import clock

__all__ = [
    "MemoryStore",
    "RedisStore",
    "VelocityStore",
    "VelocityUnavailable",
    "compute",
    "declared",
    "make_store",
]


def compute(
    session: Session,
    settings: Settings,
    store: VelocityStore,
    event: EventLike,
    account: Account | None,
) -> dict[str, Any]:
    """Every declared feature for ``event``, each with a value of its declared type.

    Records the event in the velocity store as a side effect (idempotent per event_id), so
    call it once per accepted event. ``account`` is the Vigil account the event's
    ``account_id`` names, or None when Vigil does not know it; ``session`` is used read-only
    (linked accounts). Raises :class:`VelocityUnavailable` when the store cannot answer.
    """
    features = registry()
    at = clock.as_utc(event.occurred_at) if event.occurred_at is not None else clock.now()
    inputs = Inputs(event, account, at)
    needs = features.needs
    if Need.velocity in needs:
        inputs.velocity = velocity.measure(store, event, at)
    if Need.links in needs:
        inputs.links = gather_links(session, account)
    if Need.text in needs:
        inputs.text = gather_text(event)
    return {f.name: f.value(inputs) for f in features.features}
