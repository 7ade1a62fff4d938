"""HTTP API: detection rules, their versions and state, expression checks, and backtests.

Reads (and trying an expression, which writes nothing) need ``rules:read``; creating,
editing, changing state and running backtests need ``rules:write`` (policy leads). A save
whose expression does not compile or type-check answers 422 ``rule_invalid`` with
``field: "expression"`` and each problem's ``line`` and ``column`` in ``details``.
``POST /v1/rules/backtests`` answers 201 with the results when the range was small enough to
run at once, or 202 with ``status: "queued"`` (poll ``GET /v1/rules/backtests/{id}``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel

from vigil.api.deps import DB, AppSettings, RulesRead, RulesWrite
from vigil.auth.permissions import Permission
from vigil.detection.rules import backtest, compiler, service
from vigil.detection.rules.models import BacktestStatus
from vigil.detection.rules.schemas import (
    BacktestCreate,
    BacktestOut,
    BacktestPage,
    ProblemOut,
    RuleCreate,
    RuleOut,
    RulePage,
    RuleUpdate,
    RuleUpdateOut,
    RuleVersionOut,
    RuleVersionPage,
    StateBody,
    TrialBody,
    TrialOut,
    ValidateBody,
    ValidateOut,
)

router = APIRouter(tags=["rules"])

Name = Annotated[str, Path(max_length=200, description="The rule's name.")]
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
BacktestId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int | None, Query(ge=1)]


class RevisionOut(BaseModel):
    revision: int
    created_at: str
    actor: str
    change: str
    rules: int


def _limit(settings: AppSettings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


def _problems(problems: list[compiler.Problem]) -> list[ProblemOut]:
    return [ProblemOut(line=p.line, column=p.column, message=p.message) for p in problems]


@router.get("/rules", response_model=RulePage, summary="Rules with their current version")
def list_rules(
    db: DB,
    settings: AppSettings,
    _actor: RulesRead,
    state: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> RulePage:
    rows, next_cursor = service.list_page(
        db, state=state, cursor=cursor, limit=_limit(settings, limit)
    )
    return RulePage(items=[RuleOut.of_rule(r, v) for r, v in rows], next_cursor=next_cursor)


@router.post(
    "/rules",
    response_model=RuleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a rule (version 1; draft unless state says shadow or active)",
)
def create_rule(body: RuleCreate, db: DB, actor: RulesWrite) -> RuleOut:
    rule, version = service.create_rule(
        db,
        actor,
        {"name": body.name, **body.fields_given()},
        state=body.state,
        change_reason=body.change_reason,
    )
    return RuleOut.of_rule(rule, version)


@router.post(
    "/rules/validate",
    response_model=ValidateOut,
    summary="Compile and type-check an expression (nothing is saved)",
)
def validate_expression(body: ValidateBody, _actor: RulesRead) -> ValidateOut:
    compiled, problems = compiler.check(body.expression if isinstance(body.expression, str) else "")
    return ValidateOut(
        valid=compiled is not None,
        problems=_problems(problems),
        variables=list(compiled.referenced) if compiled else [],
    )


@router.post(
    "/rules/test",
    response_model=TrialOut,
    summary="Evaluate an expression on a stored event or a sample event (nothing is saved)",
)
def test_expression(body: TrialBody, db: DB, actor: RulesRead) -> TrialOut:
    trial = service.try_expression(
        db,
        body.expression,
        event_id=body.event_id,
        event=body.event,
        account=body.account,
        features=body.features,
        reveal=actor.can(Permission.pii_reveal),
    )
    return TrialOut(
        valid=not trial.problems,
        problems=_problems(trial.problems),
        result=trial.result,
        error=trial.error,
        values=trial.values or {},
    )


@router.get(
    "/rules/revisions",
    response_model=list[RevisionOut],
    summary="The newest ruleset revisions (what changed in the live rules, and when)",
)
def list_revisions(
    db: DB, _actor: RulesRead, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[RevisionOut]:
    return [
        RevisionOut(
            revision=r.revision,
            created_at=r.created_at.isoformat(),
            actor=r.actor_label,
            change=r.change,
            rules=len(r.rules),
        )
        for r in service.recent_revisions(db, limit)
    ]


@router.post(
    "/rules/backtests",
    response_model=BacktestOut,
    status_code=status.HTTP_201_CREATED,
    summary="Backtest a ruleset or one rule over stored events (201 done, 202 queued)",
    responses={202: {"description": "A large range: the backtest runs as a job"}},
)
def create_backtest(
    body: BacktestCreate, response: Response, db: DB, settings: AppSettings, actor: RulesWrite
) -> BacktestOut:
    run = backtest.create(
        db,
        actor,
        settings,
        since=body.since,
        until=body.until,
        target=body.target,
        compare=body.compare,
    )
    if run.status is BacktestStatus.queued:
        response.status_code = status.HTTP_202_ACCEPTED
    return BacktestOut.of(run)


@router.get("/rules/backtests", response_model=BacktestPage, summary="Backtests, newest first")
def list_backtests(
    db: DB, settings: AppSettings, _actor: RulesRead, cursor: Cursor = None, limit: Limit = None
) -> BacktestPage:
    rows, next_cursor = backtest.list_page(db, cursor=cursor, limit=_limit(settings, limit))
    return BacktestPage(items=[BacktestOut.of(b) for b in rows], next_cursor=next_cursor)


@router.get(
    "/rules/backtests/{backtest_id}", response_model=BacktestOut, summary="One backtest run"
)
def get_backtest(backtest_id: BacktestId, db: DB, _actor: RulesRead) -> BacktestOut:
    return BacktestOut.of(backtest.get(db, backtest_id))


@router.get("/rules/{name}", response_model=RuleOut, summary="A rule as it stands")
def get_rule(name: Name, db: DB, _actor: RulesRead) -> RuleOut:
    rule, version = service.get_current(db, name)
    return RuleOut.of_rule(rule, version)


@router.patch(
    "/rules/{name}",
    response_model=RuleUpdateOut,
    summary="Edit a rule: the fields sent change, and a new version is written",
)
def update_rule(name: Name, body: RuleUpdate, db: DB, actor: RulesWrite) -> RuleUpdateOut:
    result = service.update_rule(
        db,
        actor,
        name,
        body.fields_given(),
        change_reason=body.change_reason,
        expected_version=body.expected_version,
    )
    return RuleUpdateOut(
        changed=result.changed,
        changed_fields=result.changed_fields,
        rule=RuleOut.of_rule(result.rule, result.version),
    )


@router.get(
    "/rules/{name}/versions",
    response_model=RuleVersionPage,
    summary="Every version of a rule, newest first",
)
def list_versions(
    name: Name,
    db: DB,
    settings: AppSettings,
    _actor: RulesRead,
    cursor: Cursor = None,
    limit: Limit = None,
) -> RuleVersionPage:
    rows, next_cursor = service.history_page(db, name, cursor=cursor, limit=_limit(settings, limit))
    return RuleVersionPage(items=[RuleVersionOut.of(v) for v in rows], next_cursor=next_cursor)


@router.get(
    "/rules/{name}/versions/{version}",
    response_model=RuleVersionOut,
    summary="One version of a rule, exactly as it was written",
)
def get_version(name: Name, version: VersionNumber, db: DB, _actor: RulesRead) -> RuleVersionOut:
    return RuleVersionOut.of(service.get_version(db, name, version))


@router.post(
    "/rules/{name}/state",
    response_model=RuleOut,
    summary="Move a rule to draft, shadow, active or disabled (409 when the move is illegal)",
)
def change_state(name: Name, body: StateBody, db: DB, actor: RulesWrite) -> RuleOut:
    rule = service.change_state(db, actor, name, body.state, reason=body.reason)
    return RuleOut.of_rule(rule, service.current(db, rule))
