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
from tests.web.test_identity_http import seed_review
from vigil.accounts import service as accounts
from vigil.accounts.schemas import AccountUpsert
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.config import Settings

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


# --- the identity pages (R1 #5, tester A3) ------------------------------------------------


def _identity_reveals(db: Session) -> list[tuple[str | None, object]]:
    rows = db.execute(
        select(AuditRecord.reason, AuditRecord.data)
        .where(AuditRecord.action == "accounts.account.reveal")
        .order_by(AuditRecord.id)
    ).all()
    db.rollback()
    return [(r.reason, r.data) for r in rows]


def test_account_page_masks_until_revealed_with_a_typed_reason(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    csrf = login_as(client, db, s.agent)
    default = client.get("/identity/accounts/u-idv-1")
    assert default.status_code == 200
    assert "Maria Eduarda Souza" not in default.text and "1990-04-12" not in default.text
    assert "data-reveal-data" in default.text and "data-pii-masked" in default.text
    assert _identity_reveals(db) == []
    # Not by a link: a GET with a reason in the query string reveals nothing.
    assert "Maria Eduarda Souza" not in client.get("/identity/accounts/u-idv-1?reason=x").text
    refused = client.post(
        "/identity/accounts/u-idv-1/reveal", data={"csrf_token": csrf, "reason": "  "}
    )
    assert refused.status_code == 422 and "needs a reason" in refused.text
    assert "Maria Eduarda Souza" not in refused.text
    assert _identity_reveals(db) == []
    shown = client.post(
        "/identity/accounts/u-idv-1/reveal",
        data={"csrf_token": csrf, "reason": "case 12: compare with passport"},
    )
    assert shown.status_code == 200
    assert "Maria Eduarda Souza" in shown.text and "1990-04-12" in shown.text
    assert shown.headers["cache-control"].startswith("no-store")
    assert _identity_reveals(db) == [
        ("case 12: compare with passport", {"view": "identity_review"})
    ]


def test_review_screen_reveals_by_itself_only_for_the_assigned_reviewer(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = seed_review(db, settings)
    csrf = login_as(client, db, s.agent)
    url = f"/identity/verifications/{s.verification_id}"
    # Not assigned to them: masked, with a Reveal form.
    browsing = client.get(url).text
    assert "Maria Eduarda Souza" not in browsing and "data-reveal-data" in browsing
    assert _identity_reveals(db) == []
    refused = client.post(f"{url}/reveal-data", data={"csrf_token": csrf, "reason": ""})
    assert refused.status_code == 422 and "Maria Eduarda Souza" not in refused.text
    typed = client.post(f"{url}/reveal-data", data={"csrf_token": csrf, "reason": "QA sample"})
    assert typed.status_code == 200 and "Maria Eduarda Souza" in typed.text
    assert _identity_reveals(db)[-1] == ("QA sample", {"view": "identity_review"})
    # Assigned to them (they are deciding it): the purpose-bound reveal of the screen.
    cases.assign(db, auth_service.principal_for(s.agent), s.case_id)
    db.commit()
    working = client.get(url).text
    assert "Maria Eduarda Souza" in working and "data-reveal-data" not in working
    assert _identity_reveals(db)[-1][0] == (
        f"identity review of verification {s.verification_id} (case {s.case_id}, assigned to me)"
    )
