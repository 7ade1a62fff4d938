"""HTTP API for linked accounts: the cluster around an account and why its accounts are
linked. Read like an account: staff see identifier values masked unless they reveal them
with a reason (``pii:reveal``), and the view is audited as ``accounts.account.view`` (or
``.reveal``) with ``view=cluster``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from vigil.accounts import service as accounts
from vigil.api.deps import DB, AccountsRead
from vigil.detection.links import service
from vigil.detection.links.schemas import ClusterOut

router = APIRouter(tags=["links"])

MAX_ACCOUNTS_LIMIT = 1000


@router.get(
    "/accounts/{external_id}/cluster",
    response_model=ClusterOut,
    summary="The cluster of accounts linked to an account, with the shared values behind it",
)
def get_cluster(
    external_id: Annotated[
        str,
        Path(min_length=1, max_length=200, description="the marketplace's own id for the account"),
    ],
    db: DB,
    actor: AccountsRead,
    max_accounts: Annotated[
        int, Query(ge=1, le=MAX_ACCOUNTS_LIMIT, description="stop after this many accounts")
    ] = 200,
    reveal: Annotated[
        bool, Query(description="staff: show values unmasked (needs pii:reveal and a reason)")
    ] = False,
    reason: Annotated[
        str | None, Query(max_length=500, description="why you look (a case id, a ticket); audited")
    ] = None,
) -> ClusterOut:
    account, unmasked = accounts.get_account(
        db, actor, external_id=external_id, reveal=reveal, reason=reason, view="cluster"
    )
    cluster = service.cluster_for(db, account.id, max_accounts=max_accounts)
    return ClusterOut.build(cluster, masked=not unmasked)
