"""schemathesis against the OpenAPI document, on a small budget: every /v1 operation gets a
few generated requests (a fixed seed, so a run is repeatable), sent by a logged-in admin (so
they reach the handlers, not the 401), and not one may answer 5xx or contradict the schema.

Runs on both databases (about 400 requests each, half a minute to a minute): the 5xx it exists
to catch are often a driver's (PostgreSQL refusing a NUL or an out-of-range integer that
SQLite stores). ``bench/schemathesis.py`` runs the same at full budget."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from tests.security import api_fuzz
from vigil.app import create_app
from vigil.auth.permissions import Role
from vigil.config import Settings

EXAMPLES = 2


def test_generated_requests_get_no_5xx_and_no_schema_violation(
    settings: Settings, db: Session
) -> None:
    with TestClient(
        create_app(settings, run_worker=False), raise_server_exceptions=False
    ) as client:
        login_as(client, db, make_staff(db, role=Role.admin))
        report = api_fuzz.run(client, max_examples=EXAMPLES)
    assert len(report.operations) > 100
    assert report.generation_errors == []
    assert report.server_errors == [], api_fuzz.table(report)
    assert report.schema_violations == [], api_fuzz.table(report)
