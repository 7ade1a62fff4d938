"""Console: the picture of the linked-accounts cluster on the case page.

Fetched by htmx after the case page has rendered, so a large cluster never slows the page.
Values are always masked here (a reveal on the case page is for that one view), and the view
is audited like any account view, as ``accounts.account.view`` with ``view=cluster``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.api.deps import DB
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.detection.links import layout
from vigil.detection.links import service as links
from vigil.detection.links.schemas import REASON_TEXT
from vigil.web.auth import Console
from vigil.web.common import CaseId
from vigil.web.render import templates

router = APIRouter(include_in_schema=False)

# Enough to see a ring and what ties it together; the API gives the whole cluster.
CONSOLE_MAX_ACCOUNTS = 100


def _latest_cases(
    db: Session, principal: Principal, account_ids: list[int], skip: int
) -> dict[int, int]:
    """Each account's newest case the viewer may open (legal-tier cases stay hidden from
    those who may not see them), through the cases service and its (account_id, id) index."""
    out: dict[int, int] = {}
    for account_id in account_ids:
        found, _ = cases.list_cases(db, principal, cases.CaseFilter(account_id=account_id), limit=2)
        other = next((c.id for c in found if c.id != skip), None)
        if other is not None:
            out[account_id] = other
    return out


@router.get("/cases/{case_id}/cluster")
def cluster_panel(request: Request, db: DB, who: Console, case_id: CaseId) -> HTMLResponse:
    """The cluster of the case's account: a picture and the table of shared values."""
    p = who.principal
    p.require(Permission.accounts_read)
    case = cases.get_case(db, p, case_id)  # 404 for a case the viewer may not see
    context: dict[str, object] = {"case": case, "cluster": None}
    if case.account_id is not None:
        accounts.get_account(db, p, account_id=case.account_id, view="cluster")
        cluster = links.cluster_for(db, case.account_id, max_accounts=CONSOLE_MAX_ACCOUNTS)
        drawn = [m.account.id for m in cluster.accounts[: layout.MAX_DRAWN_ACCOUNTS]]
        external = {m.account.id: m.account.external_id for m in cluster.accounts}
        context.update(
            cluster=cluster,
            picture=layout.picture(cluster, case_links=_latest_cases(db, p, drawn, case.id)),
            rows=[
                {
                    "kind": link.kind.value,
                    "value": link.value,
                    "accounts": [external[i] for i in link.account_ids],
                    "why": "; ".join(REASON_TEXT[r] for r in link.reasons),
                }
                for link in cluster.links
            ],
        )
    return templates.TemplateResponse(request, "partials/cluster.html", context)
