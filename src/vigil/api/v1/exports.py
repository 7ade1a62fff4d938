"""HTTP API: CSV / XLSX downloads of the case list and the decision list.

``GET /v1/cases/export`` and ``GET /v1/decisions/export`` take the same filters as the lists
(``GET /v1/cases``, ``GET /v1/decisions``) plus ``format=csv|xlsx``. They need ``data:export``
and the list's own read permission (``cases:read``).

Invariants:
- The rows come from the list services themselves, page by page (keyset on id), so an export
  shows exactly what the list would: legal-tier cases and their decisions only for
  ``cases:legal``, staff-only fields only for staff; nothing is held in memory beyond a page.
- Columns are those the list shows: the case title is kept as the list shows it (it can be
  any text the creator gave); the other free text users or staff wrote (case summaries,
  resolution notes, attributes, internal reasoning, departure reasons) is left out: an
  export travels further than a screen.
- Each export is audited once (who, which filters, format, how many rows), after the file is
  written; the pages read are audited by the list service as views, like the list is.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from vigil.analytics import export
from vigil.api.deps import DB, require
from vigil.audit.service import record
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseStatus, CaseType
from vigil.cases.sla import sla_state
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import DecisionStatus
from vigil.kit import clock
from vigil.kit.errors import InvalidInput

router = APIRouter(tags=["exports"])

PAGE = 500

Exporter = Annotated[Principal, Depends(require(Permission.data_export))]
IdQuery = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
Format = Annotated[str, Query(max_length=8, description="csv or xlsx")]

CASE_COLUMNS = [
    export.Column("id", "Case"),
    export.Column("type", "Type"),
    export.Column("status", "Status"),
    export.Column("title", "Title"),
    export.Column("priority", "Priority"),
    export.Column("severity", "Severity"),
    export.Column("tier", "Tier"),
    export.Column("language", "Language"),
    export.Column("policy_code", "Policy"),
    export.Column("source", "Source"),
    export.Column("account_id", "Account"),
    export.Column("queue_id", "Queue"),
    export.Column("assignee_id", "Assignee"),
    export.Column("opened_at", "Opened"),
    export.Column("first_assigned_at", "First assigned"),
    export.Column("closed_at", "Closed"),
    export.Column("sla_due_at", "SLA due"),
    export.Column("sla_breached_at", "SLA breached"),
    export.Column("sla_state", "SLA state"),
    export.Column("resolution", "Resolution"),
]

DECISION_COLUMNS = [
    export.Column("id", "Decision"),
    export.Column("case_id", "Case"),
    export.Column("account_id", "Account"),
    export.Column("account_external_id", "Account external id"),
    export.Column("status", "Status"),
    export.Column("no_violation", "No violation"),
    export.Column("action", "Action"),
    export.Column("policies", "Policies"),
    export.Column("locale", "Locale"),
    export.Column("automated", "Automated"),
    export.Column("decided_by_id", "Decided by"),
    export.Column("approved_by_id", "Approved by"),
    export.Column("created_at", "Created"),
    export.Column("applied_at", "Applied"),
    export.Column("reversed_at", "Reversed"),
]


def _value(v: Any) -> Any:
    return v.value if hasattr(v, "value") and not isinstance(v, (int, float, str)) else v


class _Counter:
    def __init__(self) -> None:
        self.rows = 0


def _audited(
    db: Any, actor: Principal, what: str, fmt: str, filters: dict[str, Any], counter: _Counter
) -> None:
    record(
        db,
        actor,
        f"{what}.export",
        what.split(".")[-1],
        None,
        data={
            "format": fmt,
            "rows": counter.rows,
            "filters": {k: v for k, v in filters.items() if v not in (None, [], "")},
        },
    )


@router.get(
    "/cases/export",
    summary="Download the case list (CSV or XLSX) with the list's filters",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, export._MEDIA["xlsx"]: {}}}},
)
def export_cases(
    db: DB,
    actor: Exporter,
    format: Format,
    status_: Annotated[list[CaseStatus] | None, Query(alias="status")] = None,
    queue_id: IdQuery = None,
    assignee_id: IdQuery = None,
    type_: Annotated[CaseType | None, Query(alias="type")] = None,
    account_id: IdQuery = None,
    policy_code: Annotated[str | None, Query(max_length=100)] = None,
    tier: Tier | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> Response:
    actor.require(Permission.cases_read)
    fmt = export.check_format(format)
    filters = cases.CaseFilter(
        status=status_,
        queue_id=queue_id,
        assignee_id=assignee_id,
        type=type_,
        account_id=account_id,
        policy_code=policy_code,
        tier=tier,
        created_from=created_from,
        created_to=created_to,
    )
    # Refuse bad filters before the download starts (a refusal mid-stream cannot be a 422).
    # Checked here, not by a trial call of the list service, which would audit a list view.
    _check_times(created_from=created_from, created_to=created_to)
    counter = _Counter()

    def rows() -> Iterator[list[Any]]:
        cursor: str | None = None
        while True:
            page, cursor = cases.list_cases(db, actor, filters, cursor=cursor, limit=PAGE)
            for c in page:
                counter.rows += 1
                yield [
                    _value(getattr(c, col.key)) if col.key != "sla_state" else sla_state(c)
                    for col in CASE_COLUMNS
                ]
            if cursor is None:
                return

    response = export.response(fmt, "cases", CASE_COLUMNS, rows(), sheet="Cases")
    _audited(
        db,
        actor,
        "cases.case",
        fmt,
        {
            "status": [s.value for s in status_ or []],
            "queue_id": queue_id,
            "assignee_id": assignee_id,
            "type": type_.value if type_ else None,
            "account_id": account_id,
            "policy_code": policy_code,
            "tier": tier.value if tier else None,
            "created_from": created_from.isoformat() if created_from else None,
            "created_to": created_to.isoformat() if created_to else None,
        },
        counter,
    )
    return response


def _check_times(**times: datetime | None) -> None:
    """The list service's own checks on its time filters: a zone, and a UTC value in range."""
    for name, value in times.items():
        if value is None:
            continue
        if value.tzinfo is None:
            raise InvalidInput(
                "give a time zone (e.g. 2026-11-21T09:00:00Z)", field=name, code="naive_datetime"
            )
        try:
            clock.as_utc(value)
        except OverflowError:
            raise InvalidInput(
                "this time is out of range", field=name, code="invalid_datetime"
            ) from None


@router.get(
    "/decisions/export",
    summary="Download the decision list (CSV or XLSX) with the list's filters",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, export._MEDIA["xlsx"]: {}}}},
)
def export_decisions(
    db: DB,
    actor: Exporter,
    format: Format,
    status_: Annotated[list[DecisionStatus] | None, Query(alias="status")] = None,
    case_id: IdQuery = None,
    account: Annotated[
        str | None, Query(min_length=1, max_length=200, description="account external id")
    ] = None,
) -> Response:
    actor.require(Permission.cases_read)
    fmt = export.check_format(format)
    filters = enforcement.DecisionFilter(
        status=status_, case_id=case_id, account_external_id=account
    )
    counter = _Counter()
    internal = actor.is_staff

    def rows() -> Iterator[list[Any]]:
        cursor: str | None = None
        while True:
            page, cursor = enforcement.list_decisions(db, actor, filters, cursor=cursor, limit=PAGE)
            for view in page:
                d = view.decision
                counter.rows += 1
                yield [
                    d.id,
                    d.case_id,
                    d.account_id,
                    view.account_external_id,
                    _value(d.status),
                    d.no_violation,
                    _value(d.action),
                    " ".join(f"{p.code}:{p.version}" for p in view.policies),
                    d.locale,
                    d.decided_by_id is None,
                    d.decided_by_id if internal else None,
                    d.approved_by_id if internal else None,
                    d.created_at,
                    d.applied_at,
                    d.reversed_at,
                ]
            if cursor is None:
                return

    response = export.response(fmt, "decisions", DECISION_COLUMNS, rows(), sheet="Decisions")
    _audited(
        db,
        actor,
        "enforcement.decision",
        fmt,
        {"status": [s.value for s in status_ or []], "case_id": case_id, "account": account},
        counter,
    )
    return response
