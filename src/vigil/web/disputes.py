"""Console: disputes between two users, both sides on one screen."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.cases.models import Case

router = APIRouter(include_in_schema=False)


def case_panel(db: Session, principal: Principal, case: Case) -> dict[str, Any] | None:
    """What the case page shows of a dispute case (``partials/case_dispute.html``); None for
    any other case."""
    return None
