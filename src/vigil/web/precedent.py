"""Console: precedent on the case page, how reviewers decided cases like this one before.

An htmx fragment (``GET /cases/{case_id}/precedent``) loaded after the case page has
rendered, so ranking the candidates never slows the page. The ranking and what a precedent
holds are in :mod:`vigil.enforcement.precedent`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vigil.api.deps import DB
from vigil.enforcement import precedent
from vigil.web.auth import Console
from vigil.web.common import CaseId
from vigil.web.render import templates

router = APIRouter(include_in_schema=False)

# How many precedents the case page shows: enough to see a pattern, few enough to read.
SHOWN = 5


@router.get("/cases/{case_id}/precedent")
def precedent_panel(request: Request, db: DB, who: Console, case_id: CaseId) -> HTMLResponse:
    """Similar past decisions under the case's policy (404 for a case the viewer may not
    see, as for the case page itself)."""
    p = who.principal
    case = precedent.visible_case(db, p, case_id)
    found = precedent.similar_decisions(db, p, case, limit=SHOWN)
    context = {"case": case, "precedents": found}
    return templates.TemplateResponse(request, "partials/precedent.html", context)
