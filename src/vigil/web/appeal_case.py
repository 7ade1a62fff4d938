"""Console: hearing an appeal: the original decision and its evidence next to the appeal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.cases.models import Case

router = APIRouter(include_in_schema=False)


def case_panel(db: Session, principal: Principal, case: Case) -> dict[str, Any] | None:
    """What the case page shows of an appeal case (``partials/case_appeal.html``); None for
    any other case."""
    return None
