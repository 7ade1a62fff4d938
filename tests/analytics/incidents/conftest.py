"""Helpers for incident tests: staff principals, cases, trend alerts and events on cases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.analytics.clusters.conftest import add_event
from tests.factories import make_staff
from vigil.analytics.trends.models import TrendAlert
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import routing
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseType
from vigil.kit import clock

SYSTEM = Principal.system("tests")


@pytest.fixture
def queues(db: Session) -> None:
    routing.ensure_default_queues(db)
    db.flush()


def actor(db: Session, role: Role) -> Principal:
    return auth_service.principal_for(make_staff(db, role=role))


def new_case(db: Session, title: str = "A user reported a scam", **kw: Any) -> Case:
    spec = cases.NewCase(type=CaseType.user_report, title=title, **kw)
    return cases.create_case(db, SYSTEM, spec).case


def legal_case(db: Session) -> Case:
    return new_case(db, "Court order about a seller", tier=Tier.legal)


def event_on(db: Session, case: Case | None, text: str = "pay me by wise") -> int:
    return add_event(
        db,
        text,
        account="acct-1",
        at=clock.now() - timedelta(hours=1),
        case_id=case.id if case else None,
    ).id


def make_alert(db: Session, sample_case_ids: list[int], **kw: Any) -> TrendAlert:
    now = clock.now()
    alert = TrendAlert(
        dimension="report_reason",
        value="scam",
        granularity="hour",
        status="open",
        observed=42,
        expected=6.0,
        ratio=7.0,
        excess=36.0,
        p_value=1e-9,
        peak_ratio=7.0,
        start_bucket="2026-11-21T06",
        started_at=now - timedelta(hours=3),
        last_bucket="2026-11-21T08",
        last_seen_at=now,
        contributors=[],
        sample_case_ids=sample_case_ids,
        opened_at=now,
        updated_at=now,
    )
    for key, value in kw.items():
        setattr(alert, key, value)
    db.add(alert)
    db.flush()
    return alert
