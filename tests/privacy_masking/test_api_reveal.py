"""Personal data in the API is masked for staff by default and shown only through a reveal
with a reason, which is audited with that reason. One test per surface: the unmasked value is
absent from the default answer and present after the reveal."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from tests.identity.conftest import give_results, make_account
from vigil.accounts import service as accounts
from vigil.accounts.models import IdentifierKind
from vigil.accounts.schemas import IdentifierIn
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind

EMAIL, PHONE, DOB = "anna.eriksson@example.se", "+46701234567", "1974-08-12"
DOC = "D23145890"


@pytest.fixture
def person(db: Session) -> int:
    """An account with every kind of personal data, and a verification of its document."""
    account = make_account(db, "acct-p", email=EMAIL, phone=PHONE, date_of_birth=date(1974, 8, 12))
    accounts.add_identifiers(
        db, Principal.system("test"), account,
        [IdentifierIn(kind=IdentifierKind.document, value=f"SE:{DOC}")],
    )  # fmt: skip
    v = IdentityVerification(
        account_id=account.id, kind=DocumentKind.id_card, issuing_country="SE",
        request_sha256="0" * 64, submitted_by="test",
    )  # fmt: skip
    db.add(v)
    db.flush()
    give_results(v)
    db.commit()
    return v.id


def _reveals(db: Session, action: str) -> list[tuple[str | None, str | None]]:
    """(reason, target id) of each audit record of ``action``."""
    rows = db.execute(
        select(AuditRecord.reason, AuditRecord.target_id).where(AuditRecord.action == action)
    ).all()
    db.rollback()  # SQLite: end the read before the app writes again
    return [(r[0], r[1]) for r in rows]


@pytest.mark.parametrize(
    ("path", "secrets"),
    [
        ("/v1/accounts/acct-p", (EMAIL, PHONE, DOB, "Eriksson")),
        ("/v1/accounts/acct-p/identifiers", (DOC,)),
    ],
)
def test_account_surfaces_mask_until_revealed(
    client: TestClient, db: Session, person: int, path: str, secrets: tuple[str, ...]
) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    default = client.get(path)
    assert default.status_code == 200, default.text
    for secret in secrets:
        assert secret not in default.text, secret
    refused = client.get(f"{path}?reveal=true")
    assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (
        422, "reason_required", "reason",
    )  # fmt: skip
    revealed = client.get(f"{path}?reveal=true&reason=case+41")
    assert revealed.status_code == 200, revealed.text
    for secret in secrets:
        assert secret in revealed.text, secret
    assert [reason for reason, _ in _reveals(db, "accounts.account.reveal")] == ["case 41"]


def test_identity_verification_masks_until_revealed(
    client: TestClient, db: Session, person: int
) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    url = f"/v1/identity/verifications/{person}"
    default = client.get(url)
    assert default.status_code == 200, default.text
    for secret in (DOC, DOB, "ERIKSSON", "I<SWE"):
        assert secret not in default.text, secret
    # A reveal without a reason is refused, and nothing is revealed or recorded as one.
    for query in ("?reveal=true", "?reveal=true&reason=%20"):
        refused = client.get(url + query)
        assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (
            422, "reason_required", "reason",
        )  # fmt: skip
        assert DOC not in refused.text
    assert _reveals(db, "identity.verification.reveal") == []
    revealed = client.get(url + "?reveal=true&reason=ticket+T-9")
    assert revealed.status_code == 200, revealed.text
    for secret in (DOC, DOB, "ERIKSSON", "I<SWE"):
        assert secret in revealed.text, secret
    assert _reveals(db, "identity.verification.reveal") == [("ticket T-9", str(person))]


def test_staff_without_pii_reveal_cannot_reveal(
    client: TestClient, db: Session, person: int
) -> None:
    login_as(client, db, make_staff(db, role=Role.qa))
    r = client.get(f"/v1/identity/verifications/{person}?reveal=true&reason=curious")
    assert r.status_code == 403, r.text
    assert DOC not in r.text
    assert _reveals(db, "identity.verification.reveal") == []


def test_lists_stay_masked(client: TestClient, db: Session, person: int) -> None:
    login_as(client, db, make_staff(db, role=Role.admin))
    for path in ("/v1/accounts/acct-p/documents", "/v1/identity/verifications?status=pending"):
        r = client.get(path)
        assert r.status_code == 200, r.text
        assert DOC not in r.text and DOB not in r.text, path
