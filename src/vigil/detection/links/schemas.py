"""API models for clusters of linked accounts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from vigil.accounts.models import IdentifierKind
from vigil.accounts.schemas import AccountBrief
from vigil.detection.links.graph import Reason
from vigil.detection.links.service import Cluster

REASON_TEXT = {
    Reason.shared: "the same value on each account",
    Reason.same_window: "first seen on this address within the same hour",
    Reason.second_signal: "this address, and another value in common",
}


class ClusterMember(BaseModel):
    account: AccountBrief
    depth: int = Field(description="links from the requested account (0: the account itself)")
    banned: bool = Field(description="removed, suspended, or under a suspension in force")


class ClusterLink(BaseModel):
    kind: IdentifierKind
    value: str = Field(description="masked for staff unless revealed")
    accounts: list[str] = Field(description="external ids of the cluster's accounts sharing it")
    reasons: list[Reason]


class CrowdedOut(BaseModel):
    kind: IdentifierKind
    value: str
    accounts_at_least: int = Field(description="accounts holding it; counting stops past the cap")


class ClusterOut(BaseModel):
    """The accounts linked to one account, directly or through others, and the shared values
    that explain why. Values held by too many accounts (``crowded``) link nothing."""

    account: AccountBrief
    size: int
    banned_accounts: int
    truncated: bool = Field(description="more accounts are linked than max_accounts")
    max_accounts: int
    accounts: list[ClusterMember]
    links: list[ClusterLink]
    crowded: list[CrowdedOut]
    masked: bool

    @classmethod
    def build(cls, cluster: Cluster, *, masked: bool) -> ClusterOut:
        external = {m.account.id: m.account.external_id for m in cluster.accounts}
        return cls(
            account=AccountBrief.build(cluster.accounts[0].account),
            size=cluster.size,
            banned_accounts=cluster.banned,
            truncated=cluster.truncated,
            max_accounts=cluster.max_accounts,
            accounts=[
                ClusterMember(account=AccountBrief.build(m.account), depth=m.depth, banned=m.banned)
                for m in cluster.accounts
            ],
            links=[
                ClusterLink(
                    kind=link.kind,
                    value=link.value if masked else link.raw_value,
                    accounts=[external[i] for i in link.account_ids],
                    reasons=list(link.reasons),
                )
                for link in cluster.links
            ],
            crowded=[
                CrowdedOut(
                    kind=c.kind,
                    value=c.value if masked else c.raw_value,
                    accounts_at_least=c.at_least,
                )
                for c in cluster.crowded
            ],
            masked=masked,
        )
