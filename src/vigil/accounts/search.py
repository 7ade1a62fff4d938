"""Finding accounts by what they were seen with: a device, an identity document (its
fingerprint, or its number), the marketplace's id; and the summary a results list shows.

``accounts.service.list_accounts`` already searches the profile (email, phone, name); this
module adds the searches that go through other tables, with the same rules:

- Staff need ``accounts:read``. A search by a document number is a search by personal data
  (a hit confirms a guess), so it also needs ``pii:reveal``, like email, phone and name.
  A device id or a document fingerprint is an opaque value that only comes from Vigil's own
  screens, so ``accounts:read`` suffices.
- Every search by staff writes ``accounts.account.list`` in the caller's transaction, shaped
  like ``list_accounts``' record (``filters``, ``search_sha256``, ``account_ids``): the audit
  log keeps the SHA-256 of the search term, never the term.
- Every query is a keyset page over an index: ``ix_identifiers_kind_value`` (kind, value,
  account_id), ``ix_identity_verifications_fingerprint`` (fingerprint, account_id) and
  ``ix_cases_account`` (account_id, id) for the summaries. Nothing loads unbounded rows.
- Nothing commits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, union
from sqlalchemy.orm import Session

from vigil.accounts import normalize
from vigil.accounts.models import Account, Identifier, IdentifierKind
from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case, CaseStatus
from vigil.identity import mrz
from vigil.identity import service as identity
from vigil.identity.models import IdentityVerification
from vigil.kit.blobs import BlobStore
from vigil.kit.errors import InvalidInput, PermissionDenied
from vigil.kit.pagination import decode_cursor, encode_cursor

__all__ = [
    "AccountHit",
    "accounts_by_device",
    "accounts_by_document",
    "accounts_by_external_id",
    "accounts_by_fingerprint",
    "accounts_by_id_or_device",
    "describe",
    "is_fingerprint",
]

TARGET = "account"
MAX_LIMIT = 100
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_fingerprint(value: str) -> bool:
    """A document fingerprint as ``identity_verifications.document_fingerprint`` holds it:
    64 lower-case hex digits (upper case is accepted and folded)."""
    return bool(_FINGERPRINT.match(value.strip().lower()))


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _check(actor: Principal, *, personal: str | None = None) -> None:
    actor.require(Permission.accounts_read)
    if personal is not None and actor.is_staff and not actor.can(Permission.pii_reveal):
        raise PermissionDenied(
            "searching accounts by a document number needs the 'pii:reveal' permission",
            field=personal,
            code="permission_denied",
        )


def _page(
    session: Session,
    ids: Select[Any],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[Account], str | None]:
    """One page of accounts (id order) out of ``ids``, a select of one column of account ids
    already restricted to what was searched for."""
    limit = max(1, min(limit, MAX_LIMIT))
    found = ids.subquery()
    column = found.c[0]
    stmt = select(column).distinct()
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int) or isinstance(after, bool):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        stmt = stmt.where(column > after)
    page = [int(i) for i in session.scalars(stmt.order_by(column).limit(limit + 1))]
    next_cursor = encode_cursor([page[limit - 1]]) if len(page) > limit else None
    page = page[:limit]
    by_id = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(page)))}
    return [by_id[i] for i in page if i in by_id], next_cursor


def _audit(
    session: Session,
    actor: Principal,
    filters: Sequence[str],
    terms: dict[str, str],
    rows: Sequence[Account],
) -> None:
    if not actor.is_staff:
        return
    audit.record(
        session, actor, "accounts.account.list", TARGET, None,
        data={
            "filters": list(filters),
            "search_sha256": {name: _sha256(value) for name, value in terms.items()},
            "account_ids": [a.id for a in rows],
        },
    )  # fmt: skip


def accounts_by_external_id(session: Session, actor: Principal, external_id: str) -> list[Account]:
    """The account with the marketplace's id (zero or one), audited as a search."""
    _check(actor)
    value = external_id.strip()
    if not value or len(value) > 200:
        raise InvalidInput(
            "a marketplace id is 1 to 200 characters", field="external_id", code="invalid_input"
        )
    rows = list(session.scalars(select(Account).where(Account.external_id == value)))
    _audit(session, actor, ["external_id"], {"external_id": value}, rows)
    return rows


def accounts_by_id_or_device(
    session: Session, actor: Principal, value: str, *, limit: int = 20
) -> list[Account]:
    """What a bare word in the search box most likely is: the marketplace's id of an account
    or a device id. One query, one audit record."""
    _check(actor)
    term = value.strip()
    if not term or len(term) > 200 or _CONTROL.search(term):
        raise InvalidInput("search for 1 to 200 printable characters", field="q",
                           code="invalid_input")  # fmt: skip
    ids = union(
        select(Account.id.label("account_id")).where(Account.external_id == term),
        select(Identifier.account_id.label("account_id")).where(
            Identifier.kind == IdentifierKind.device, Identifier.value == term
        ),
    )
    rows, _ = _page(session, select(ids.subquery().c.account_id), cursor=None, limit=limit)
    _audit(session, actor, ["external_id", "device"], {"external_id": term, "device": term}, rows)
    return rows


def accounts_by_device(
    session: Session,
    actor: Principal,
    device: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Account], str | None]:
    """Accounts seen with this device id (exact, as the marketplace sent it)."""
    _check(actor)
    try:
        value = normalize.normalize_identifier(IdentifierKind.device, device)
    except ValueError as exc:
        raise InvalidInput(f"device id {exc}", field="device", code="invalid_device") from None
    ids = select(Identifier.account_id).where(
        Identifier.kind == IdentifierKind.device, Identifier.value == value
    )
    rows, next_cursor = _page(session, ids, cursor=cursor, limit=limit)
    _audit(session, actor, ["device"], {"device": value}, rows)
    return rows, next_cursor


def accounts_by_fingerprint(
    session: Session,
    actor: Principal,
    fingerprint: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Account], str | None]:
    """Accounts with a verification whose document has this fingerprint (the hex shown on
    the identity screens and in the ``identity_verified`` event)."""
    _check(actor)
    value = fingerprint.strip().lower()
    if not _FINGERPRINT.match(value):
        raise InvalidInput(
            "a document fingerprint is 64 hexadecimal characters",
            field="fingerprint",
            code="invalid_fingerprint",
        )
    ids = select(IdentityVerification.account_id).where(
        IdentityVerification.document_fingerprint == value
    )
    rows, next_cursor = _page(session, ids, cursor=cursor, limit=limit)
    _audit(session, actor, ["fingerprint"], {"fingerprint": value}, rows)
    return rows, next_cursor


def _issuer(country: str) -> str:
    """ISO alpha-2 (``ES``) or ICAO alpha-3 (``ESP``, as in a passport's MRZ) -> alpha-2."""
    code = country.strip().upper()
    if len(code) == 3:
        code = mrz.country_alpha2(code) or code
    try:
        return normalize.normalize_country(code)
    except ValueError:
        raise InvalidInput(
            "give the issuing country as a two-letter code such as ES (or ESP)",
            field="document_country",
            code="invalid_country",
        ) from None


def accounts_by_document(
    session: Session,
    actor: Principal,
    store: BlobStore,
    *,
    country: str,
    number: str,
    birth_date: date | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Account], str | None]:
    """Accounts that hold this identity document: as a ``document`` identifier the
    marketplace sent (``CC:NUMBER``), or as a verified document whose fingerprint is the one
    this number, issuer and birth date make (``identity.service.fingerprint``). The pipeline
    fingerprints the birth date it read, so a verified document matches only when the birth
    date given is the one printed on it; the identifier matches without it."""
    _check(actor, personal="document_number")
    issuer = _issuer(country)
    try:
        value = normalize.normalize_document(f"{issuer}:{number}")
    except ValueError as exc:
        raise InvalidInput(str(exc), field="document_number", code="invalid_document") from None
    print_ = identity.fingerprint(
        store, number=value.partition(":")[2], issuer=issuer, birth_date=birth_date
    )
    ids = union(
        select(Identifier.account_id.label("account_id")).where(
            Identifier.kind == IdentifierKind.document, Identifier.value == value
        ),
        select(IdentityVerification.account_id.label("account_id")).where(
            IdentityVerification.document_fingerprint == str(print_)
        ),
    )
    rows, next_cursor = _page(session, select(ids.subquery().c.account_id), cursor=cursor,
                              limit=limit)  # fmt: skip
    terms = {"document": value}
    if birth_date is not None:
        terms["birth_date"] = birth_date.isoformat()
    _audit(session, actor, sorted(terms), terms, rows)
    return rows, next_cursor


# --- what a results row shows -------------------------------------------------------------


@dataclass(frozen=True)
class AccountHit:
    account: Account
    open_cases: int  # cases not closed, that the actor may see
    latest_case_id: int | None  # the newest case the actor may see


def describe(session: Session, actor: Principal, rows: Sequence[Account]) -> list[AccountHit]:
    """Open-case counts and the latest case of each listed account, in two grouped queries
    (``ix_cases_account``). Legal-tier cases count only for those who may see them, so a
    count never admits that a hidden case exists."""
    ids = [a.id for a in rows]
    open_counts: dict[int, int] = {}
    latest: dict[int, int] = {}
    if ids:
        visible: list[ColumnElement[bool]] = [Case.account_id.in_(ids)]
        if not actor.can(Permission.legal_cases):
            visible.append(Case.tier != Tier.legal)
        open_counts = {
            int(a or 0): int(n)
            for a, n in session.execute(
                select(Case.account_id, func.count())
                .where(*visible, Case.status != CaseStatus.closed)
                .group_by(Case.account_id)
            )
        }
        latest = {
            int(a or 0): int(c or 0)
            for a, c in session.execute(
                select(Case.account_id, func.max(Case.id)).where(*visible).group_by(Case.account_id)
            )
        }
    return [AccountHit(a, open_counts.get(a.id, 0), latest.get(a.id)) for a in rows]
