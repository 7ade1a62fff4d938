"""The console's case page: the account's personal data (legal name, email, phone, date of
birth, identifiers) is masked by default and shown only after a reveal with a reason, which is
audited with that reason; a reveal without a reason shows nothing and records no reveal."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import login_as
from tests.web.conftest import seed_case
from vigil.accounts import service as accounts
from vigil.accounts.schemas import AccountUpsert
from vigil.audit.models import AuditRecord
from vigil.auth.models import StaffUser
from vigil.auth.principal import Principal

SECRETS = ("María González", "maria@example.com", "+34600111222", "1990-04-12")


def _reveals(db: Session) -> list[str | None]:
    rows = db.scalars(
        select(AuditRecord.reason).where(AuditRecord.action == "accounts.account.reveal")
    ).all()
    db.rollback()  # SQLite: end the read before the app writes again
    return list(rows)


def test_case_page_masks_until_revealed_with_a_reason(client: TestClient, db: Session) -> None:
    email, case_id = seed_case(db)
    accounts.upsert_account(
        db, Principal.system("test"), "u-100", AccountUpsert(date_of_birth=date(1990, 4, 12))
    )
    agent = db.scalars(select(StaffUser).where(StaffUser.email == email)).one()
    db.commit()
    csrf = login_as(client, db, agent)

    default = client.get(f"/cases/{case_id}")
    assert default.status_code == 200
    for secret in SECRETS:
        assert secret not in default.text, secret

    refused = client.post(f"/cases/{case_id}/reveal", data={"csrf_token": csrf, "reason": " "})
    assert refused.status_code == 422
    for secret in SECRETS:
        assert secret not in refused.text, secret
    assert _reveals(db) == []

    revealed = client.post(
        f"/cases/{case_id}/reveal", data={"csrf_token": csrf, "reason": "payment check"}
    )
    assert revealed.status_code == 200
    for secret in SECRETS:
        assert secret in revealed.text, secret
    assert _reveals(db) == ["payment check"]
