"""Console: the policy catalog, its versions and their guidance.

Read-only pages for anyone holding ``policies:read``: the catalog, a policy as it stands (or
as one of its versions said it), its history with who, when and why, and a readable diff
between two versions. Writing stays in the API and in policy packs, where every edit is
validated whole and written as a new version.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from vigil.api.deps import DB
from vigil.auth.permissions import Permission
from vigil.dsa.vocabulary import CATEGORY_LABELS
from vigil.kit.errors import NotFound
from vigil.policies import ladder, service
from vigil.policies.diff import diff_versions
from vigil.policies.models import CODE_MAX, Policy, PolicyVersion
from vigil.web.auth import Console, ConsoleUser
from vigil.web.common import page

router = APIRouter(include_in_schema=False)

Code = Annotated[str, Path(max_length=CODE_MAX)]
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
CATALOG_PAGE = 100
HISTORY_PAGE = 50
LANGUAGES = {"en": "English", "es": "Spanish", "pt": "Portuguese"}


def _need(who: ConsoleUser) -> None:
    who.principal.require(Permission.policies_read)


_GROUND_LABELS = {
    "DECISION_GROUND_ILLEGAL_CONTENT": "Illegal content",
    "DECISION_GROUND_INCOMPATIBLE_CONTENT": "Incompatible with the terms",
}


def _readable(value: str, prefix: str) -> str:
    """``KEYWORD_ONLINE_BULLYING_INTIMIDATION`` → ``Online bullying intimidation``."""
    return value.removeprefix(prefix).replace("_", " ").capitalize()


@router.get("/policies")
def catalog_page(
    request: Request, db: DB, who: Console, retired: str = "", cursor: str | None = None
) -> HTMLResponse:
    _need(who)
    include_retired = retired == "1"
    rows, next_cursor = service.list_page(
        db, include_retired=include_retired, cursor=cursor or None, limit=CATALOG_PAGE
    )
    return page(
        request,
        who,
        "policies.html",
        rows=rows,
        include_retired=include_retired,
        next_cursor=next_cursor,
    )


def _version_number(raw: str | None, label: str) -> int | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip().removeprefix("v")
    if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise NotFound(f"{label} '{raw[:20]}' is not a version number", code="not_found")
    return int(text)


def _detail(
    request: Request,
    db: Session,
    who: ConsoleUser,
    policy: Policy,
    shown: PolicyVersion,
    history_cursor: str | None,
) -> HTMLResponse:
    history, next_history = service.history_page(
        db, policy.code, cursor=history_cursor or None, limit=HISTORY_PAGE
    )
    return page(
        request,
        who,
        "policies_detail.html",
        policy=policy,
        version=shown,
        is_current=shown.version == policy.current_version,
        history=history,
        next_history=next_history,
        steps=ladder.steps(shown),
        languages=LANGUAGES,
        locales=sorted(shown.user_title, key=lambda loc: (loc not in LANGUAGES, loc)),
        dsa_category=CATEGORY_LABELS.get(shown.dsa_category)
        or _readable(shown.dsa_category, "STATEMENT_CATEGORY_"),
        dsa_ground=_GROUND_LABELS.get(shown.dsa_ground, shown.dsa_ground),
        dsa_keywords=[(k, _readable(k, "KEYWORD_")) for k in shown.dsa_keywords],
    )


@router.get("/policies/{code}")
def policy_page(
    request: Request, db: DB, who: Console, code: Code, history: str | None = None
) -> HTMLResponse:
    _need(who)
    policy, current = service.get_current(db, code)
    return _detail(request, db, who, policy, current, history)


@router.get("/policies/{code}/versions/{version}")
def version_page(
    request: Request,
    db: DB,
    who: Console,
    code: Code,
    version: VersionNumber,
    history: str | None = None,
) -> HTMLResponse:
    _need(who)
    policy = service.get_policy(db, code)
    shown = service.get_version(db, code, version)
    return _detail(request, db, who, policy, shown, history)


@router.get("/policies/{code}/diff")
def diff_page(request: Request, db: DB, who: Console, code: Code) -> HTMLResponse:
    """``?from=N&to=M``; without them, the current version against the one before it."""
    _need(who)
    policy = service.get_policy(db, code)
    to_number = _version_number(request.query_params.get("to"), "to") or policy.current_version
    from_number = _version_number(request.query_params.get("from"), "from")
    if from_number is None:
        from_number = max(to_number - 1, 1)
    old = service.get_version(db, code, from_number)
    new = service.get_version(db, code, to_number)
    history, _ = service.history_page(db, code, limit=HISTORY_PAGE)
    return page(
        request,
        who,
        "policies_diff.html",
        policy=policy,
        old=old,
        new=new,
        changes=diff_versions(old, new),
        history=history,
    )
