"""Tables of detection (links): none. Clusters are computed on demand from the accounts
domain's ``identifiers`` table and its indexes (see docs/linked-accounts.md for why no
cluster id is materialized)."""

from __future__ import annotations
