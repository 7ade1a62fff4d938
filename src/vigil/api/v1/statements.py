"""HTTP API: DSA statements of reasons, and a validator for integrators.

Statements are written by enforcement when a restrictive decision is applied; here they are
only read. ``POST /v1/statements/validate`` checks a field set (or a whole batch) against the
DSA Transparency Database's rules and stores nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from vigil.api.deps import DB, AppSettings, StatementsRead
from vigil.dsa import service
from vigil.dsa.rules import validate_batch, validate_fields
from vigil.dsa.schemas import (
    StatementOut,
    StatementPage,
    StatementSummaryOut,
    ValidationOut,
    ViolationOut,
)

router = APIRouter(tags=["statements"])

StatementId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The statement's id.")]
DecisionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The decision's id.")]


@router.get("/statements", response_model=StatementPage, summary="List statements, newest first")
def list_statements(
    db: DB,
    settings: AppSettings,
    actor: StatementsRead,
    since: Annotated[date | None, Query(description="Created on or after this day (UTC).")] = None,
    until: Annotated[date | None, Query(description="Created on or before this day (UTC).")] = None,
    category: Annotated[
        str | None, Query(max_length=100, description="A STATEMENT_CATEGORY_* key.")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> StatementPage:
    size = min(limit or settings.page_size_default, settings.page_size_max)
    filters = service.StatementFilter(since=since, until=until, category=category)
    rows, next_cursor = service.list_statements(db, actor, filters, cursor=cursor, limit=size)
    return StatementPage(items=[StatementSummaryOut.of(s) for s in rows], next_cursor=next_cursor)


@router.post(
    "/statements/validate",
    response_model=ValidationOut,
    summary="Check a statement (or a batch) against the Transparency Database's rules",
    description=(
        'Send one statement\'s fields, or a batch body `{"statements": [...]}` as the '
        "database's multiple-statement endpoint takes it. Answers 200 with every violation; "
        "nothing is stored."
    ),
)
def validate(
    actor: StatementsRead,
    body: Annotated[dict[str, Any], Body(description="A statement, or a batch body.")],
) -> ValidationOut:
    if "statements" in body:
        errors = validate_batch(body)
        statements = body["statements"]
        count = len(statements) if isinstance(statements, list) else 0
        violations = [ViolationOut(**e.as_dict()) for e in errors]
    else:
        count = 1
        violations = [ViolationOut(index=None, **e.as_dict()) for e in validate_fields(body)]
    return ValidationOut(valid=not violations, statements=count, violations=violations)


@router.get("/statements/{statement_id}", response_model=StatementOut, summary="One statement")
def get_statement(statement_id: StatementId, db: DB, actor: StatementsRead) -> StatementOut:
    return StatementOut.of(service.get_statement(db, actor, statement_id))


@router.get(
    "/decisions/{decision_id}/statements",
    response_model=list[StatementOut],
    summary="The statements of reasons of a decision, oldest first",
)
def decision_statements(
    decision_id: DecisionId, db: DB, actor: StatementsRead
) -> list[StatementOut]:
    return [StatementOut.of(s) for s in service.statements_for(db, decision_id, actor=actor)]
