"""Searching accounts by device, identity document and marketplace id (``accounts.search``)."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlalchemy.orm import Session

from tests.accounts.conftest import audit_actions, staff_principal, upsert
from vigil.accounts import search
from vigil.accounts.models import Account
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseType, Resolution
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.identity import service as identity
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind
from vigil.kit.errors import InvalidInput, PermissionDenied

AGENT = staff_principal(Role.agent)


def _verified(db: Session, account: Account, fingerprint: str) -> IdentityVerification:
    v = IdentityVerification(
        account_id=account.id,
        kind=DocumentKind.id_card,
        issuing_country="ES",
        request_sha256="0" * 64,
        submitted_by="test",
        document_fingerprint=fingerprint,
    )
    db.add(v)
    db.flush()
    return v


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_accounts_by_device_pages_in_id_order_and_audits_the_hash(
    db: Session, system: Principal
) -> None:
    shared = [{"kind": "device", "value": "dev-ring-1"}]
    a, _ = upsert(db, system, "ring-a", identifiers=shared)
    b, _ = upsert(db, system, "ring-b", identifiers=shared)
    upsert(db, system, "other", identifiers=[{"kind": "device", "value": "dev-other"}])

    first, cursor = search.accounts_by_device(db, AGENT, " dev-ring-1 ", limit=1)
    assert [x.external_id for x in first] == ["ring-a"]
    assert cursor is not None
    second, end = search.accounts_by_device(db, AGENT, "dev-ring-1", cursor=cursor, limit=1)
    assert [x.external_id for x in second] == ["ring-b"]
    assert end is None

    records = audit_actions(db, "accounts.account.list")
    assert len(records) == 2
    assert records[0].data == {
        "filters": ["device"],
        "search_sha256": {"device": _sha("dev-ring-1")},
        "account_ids": [a.id],
    }
    assert records[1].data["account_ids"] == [b.id]
    assert "dev-ring-1" not in str([r.data for r in records])


def test_a_device_search_with_a_bad_cursor_or_value_is_refused(
    db: Session, system: Principal
) -> None:
    with pytest.raises(InvalidInput) as bad_cursor:
        search.accounts_by_device(db, AGENT, "dev-1", cursor="not-a-cursor")
    assert bad_cursor.value.field == "cursor"
    with pytest.raises(InvalidInput) as empty:
        search.accounts_by_device(db, AGENT, "   ")
    assert empty.value.field == "device"
    assert audit_actions(db, "accounts.account.list") == []


def test_accounts_by_fingerprint_accepts_upper_case_and_refuses_other_text(
    db: Session, system: Principal
) -> None:
    one, _ = upsert(db, system, "doc-1")
    two, _ = upsert(db, system, "doc-2")
    upsert(db, system, "doc-3")
    print_ = "ab" * 32
    _verified(db, one, print_)
    _verified(db, two, print_)
    _verified(db, two, print_)  # a second submission of the same document
    _verified(db, two, "cd" * 32)

    rows, cursor = search.accounts_by_fingerprint(db, AGENT, print_.upper())
    assert [r.external_id for r in rows] == ["doc-1", "doc-2"]
    assert cursor is None
    (record,) = audit_actions(db, "accounts.account.list")
    assert record.data["search_sha256"] == {"fingerprint": _sha(print_)}

    with pytest.raises(InvalidInput) as bad:
        search.accounts_by_fingerprint(db, AGENT, "abc123")
    assert bad.value.field == "fingerprint"


def test_accounts_by_document_number_match_identifiers_and_verified_documents(
    db: Session, system: Principal, settings: Settings
) -> None:
    store = identity.blob_store(settings)
    sent, _ = upsert(
        db, system, "sent-doc", identifiers=[{"kind": "document", "value": "ES:X1234567L"}]
    )
    verified, _ = upsert(db, system, "verified-doc")
    born = date(1990, 1, 2)
    _verified(db, verified, identity.fingerprint(store, number="X1234567L", issuer="ES",
                                                 birth_date=born))  # fmt: skip
    stranger, _ = upsert(db, system, "stranger")
    _verified(db, stranger, identity.fingerprint(store, number="X1234567L", issuer="ES",
                                                 birth_date=date(1990, 1, 3)))  # fmt: skip

    # Separators, case and the passport's alpha-3 issuer do not matter; the birth date does.
    rows, _ = search.accounts_by_document(
        db, AGENT, store, country="esp", number="x-1234567.l", birth_date=born
    )
    assert [r.external_id for r in rows] == ["sent-doc", "verified-doc"]
    rows, _ = search.accounts_by_document(db, AGENT, store, country="ES", number="X1234567L")
    assert [r.external_id for r in rows] == ["sent-doc"]

    records = audit_actions(db, "accounts.account.list")
    assert records[0].data["filters"] == ["birth_date", "document"]
    assert records[0].data["search_sha256"] == {
        "document": _sha("ES:X1234567L"),
        "birth_date": _sha("1990-01-02"),
    }
    assert records[0].data["account_ids"] == [sent.id, verified.id]
    assert "X1234567L" not in str([r.data for r in records])


def test_a_document_search_needs_pii_reveal_and_a_real_country(
    db: Session, settings: Settings
) -> None:
    store = identity.blob_store(settings)
    with pytest.raises(PermissionDenied) as denied:
        search.accounts_by_document(
            db, staff_principal(Role.policy_lead), store, country="ES", number="X1234567L"
        )
    assert denied.value.field == "document_number"
    with pytest.raises(InvalidInput) as country:
        search.accounts_by_document(db, AGENT, store, country="Spain", number="X1234567L")
    assert country.value.field == "document_country"
    with pytest.raises(InvalidInput) as number:
        search.accounts_by_document(db, AGENT, store, country="ES", number="x")
    assert number.value.field == "document_number"
    assert audit_actions(db, "accounts.account.list") == []


def test_a_bare_word_finds_a_marketplace_id_or_a_device(db: Session, system: Principal) -> None:
    by_id, _ = upsert(db, system, "u-777")
    by_device, _ = upsert(db, system, "u-888", identifiers=[{"kind": "device", "value": "u-777"}])
    upsert(db, system, "u-999")
    rows = search.accounts_by_id_or_device(db, AGENT, "u-777")
    assert [r.id for r in rows] == [by_id.id, by_device.id]
    assert search.accounts_by_external_id(db, AGENT, "u-888") == [by_device]
    assert search.accounts_by_external_id(db, AGENT, "nobody") == []
    assert len(audit_actions(db, "accounts.account.list")) == 3


def test_describe_counts_open_cases_and_hides_legal_ones(db: Session, system: Principal) -> None:
    ensure_default_queues(db, system)
    account, _ = upsert(db, system, "with-cases")
    quiet, _ = upsert(db, system, "no-cases")

    def case(title: str, tier: Tier = Tier.tier1) -> int:
        spec = cases.NewCase(type=CaseType.account_review, title=title, account_id=account.id,
                             tier=tier)  # fmt: skip
        return cases.create_case(db, system, spec).case.id

    first = case("first")
    second = case("second")
    legal = case("legal hold", Tier.legal)
    cases.close(db, system, first, resolution=Resolution.no_violation, note="fine")

    agent = {h.account.id: h for h in search.describe(db, AGENT, [account, quiet])}
    assert (agent[account.id].open_cases, agent[account.id].latest_case_id) == (1, second)
    assert (agent[quiet.id].open_cases, agent[quiet.id].latest_case_id) == (0, None)
    lawyer = search.describe(db, staff_principal(Role.legal), [account])[0]
    assert (lawyer.open_cases, lawyer.latest_case_id) == (2, legal)
