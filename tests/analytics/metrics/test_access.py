"""Who sees what: legal-tier work only for those who hold cases:legal, and figures from
another domain (QA, rules, appeals, disputes, identity) only with that domain's read
permission. Both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.analytics.metrics.conftest import Week, at
from tests.analytics.metrics.test_outcomes import _event
from tests.enforcement.conftest import SYSTEM, principal
from tests.factories import auth_header, login_as, make_api_key, make_staff

from vigil.analytics.metrics import service
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role, Tier
from vigil.cases import service as cases
from vigil.cases.models import CaseType, Queue, Resolution
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import PermissionDenied


def run(db: Session, metric: str, actor=SYSTEM, group_by: str | None = None, **filters):  # type: ignore[no-untyped-def]
    query = service.parse_query(metric, "2026-11-18", "2026-11-22", "day", filters, group_by)
    return service.series(db, actor, query)


def totals(s: service.Series) -> dict[str, float | None]:
    return {g.key: g.total.value for g in s.groups}


def test_legal_tier_work_is_counted_only_for_those_who_may_see_it(
    db: Session, week: Week, frozen: FrozenClock
) -> None:
    # A court order opens a legal-tier case; case B (decided by Ben) moves to the legal tier.
    frozen.set(at(21, 8))
    cases.create_case(
        db, SYSTEM,
        cases.NewCase(type=CaseType.user_report, title="Court order", tier=Tier.legal,
                      policy_code="legal_order"),
    )  # fmt: skip
    legal_queue = db.scalar(select(Queue).where(Queue.slug == "legal"))
    assert legal_queue is not None
    week.b.tier = Tier.legal
    week.b.queue_id = legal_queue.id
    cases.close(db, SYSTEM, week.c.id, resolution=Resolution.no_violation, note="fine")
    off = {"name": "off_platform_payment", "policy_code": "fee_circumvention", "shadow": False}
    _event(db, 1, week.a.id, [off])
    _event(db, 2, week.b.id, [off])
    _event(db, 3, week.c.id, [off])
    frozen.set(at(21, 9))
    db.flush()
    agent = principal(week.ana)
    lawyer = principal(make_staff(db, role=Role.legal, name="Lia"))
    lead = principal(make_staff(db, role=Role.policy_lead, name="Lee"))

    by_queue = run(db, "cases_opened", agent, "queue")
    assert "legal" not in totals(by_queue)
    assert sum(v or 0 for v in totals(by_queue).values()) == 2  # A and C (B is hidden)
    assert run(db, "cases_opened", lawyer, "queue").total.value == 4
    assert run(db, "cases_opened", agent, queue="legal").total.value == 0
    assert run(db, "cases_opened", lawyer, queue="legal").total.value == 2
    assert "legal_order" not in totals(run(db, "backlog", agent, "policy"))
    assert totals(run(db, "backlog", lawyer, "policy"))["legal_order"] == 1
    # Open at each end: D+A, D, D, D (B hidden, C closed at 08:00, the order hidden).
    assert [p.value for p in run(db, "backlog", lead).buckets] == [2, 1, 1, 1]
    assert run(db, "backlog_age_max", agent, "queue").groups
    assert "legal" not in totals(run(db, "backlog_age_median", agent, "queue"))

    # Ben's decision (case B) is legal-tier work now.
    assert totals(run(db, "enforcement_actions", lead, "policy")) == {"fee_circumvention": 1}
    assert totals(run(db, "enforcement_actions", lawyer, "policy")) == {"fee_circumvention": 2}
    assert run(db, "automation_rate", lead).total.denominator == 1
    assert run(db, "time_to_decision_median", lead).total.denominator == 1
    assert run(db, "handle_time_median", lead).total.denominator == 1
    team = run(db, "decisions_per_hour", lead)
    assert (team.total.numerator, team.total.denominator) == (1, 2)  # Ana's two hours only
    assert str(week.ben.id) not in totals(run(db, "decisions_per_hour", lead, "reviewer"))
    # Rule precision: A actioned, C not; B's hit is hidden.
    hidden = run(db, "rule_precision", lead).total
    assert (hidden.numerator, hidden.denominator) == (1, 2)
    shown = run(db, "rule_precision", lawyer).total
    assert (shown.numerator, shown.denominator) == (2, 3)


def test_domain_metrics_need_the_domain_permission(db: Session, week: Week) -> None:
    agent = principal(week.ana)  # no qa:read
    for metric in ("qa_agreement_rate", "qa_kappa", "qa_message_quality"):
        try:
            run(db, metric, agent)
        except PermissionDenied as refused:
            assert refused.code == "metric_forbidden"
        else:
            raise AssertionError(f"{metric} was readable without qa:read")
    assert run(db, "rule_precision", agent).total.denominator == 0  # agents hold rules:read
    # Leadership holds every domain's read permission the dashboard needs.
    leader = principal(make_staff(db, role=Role.leadership))
    assert run(db, "identity_reasons", leader).total.value == 0
    assert run(db, "qa_kappa", leader).total.denominator == 0


def test_api_key_with_metrics_read_alone(client: TestClient, db: Session, week: Week) -> None:
    _, secret = make_api_key(db, scopes=["metrics:read"])
    db.commit()
    key = auth_header(secret)
    listed = {m["name"]: m for m in client.get("/v1/metrics", headers=key).json()["items"]}
    assert "backlog" in listed
    assert not {n for n in listed if n.startswith("qa_") or n == "rule_precision"}
    assert not {n for n in listed if n.startswith(("appeal", "overturn", "dispute", "identity"))}
    for url in (
        "/v1/metrics/qa_agreement_rate?group_by=queue",
        "/v1/metrics/rule_precision?group_by=rule",
        "/v1/metrics/appeal_rate",
        "/v1/metrics/disputes_opened",
        "/v1/metrics/identity_reject_rate",
    ):
        r = client.get(url, headers=key)
        assert r.status_code == 403, (url, r.text)
        assert r.json()["code"] == "metric_forbidden"
    _, wider = make_api_key(db, scopes=["metrics:read", "appeals:read", "identity:read"])
    db.commit()
    assert client.get("/v1/metrics/appeal_rate", headers=auth_header(wider)).status_code == 200
    listed = client.get("/v1/metrics", headers=auth_header(wider)).json()["items"]
    assert {m["name"]: m["requires"] for m in listed}["identity_reject_rate"] == "identity:read"


def test_console_shows_a_refusal_on_the_panel(client: TestClient, db: Session, week: Week) -> None:
    login_as(client, db, week.ana)
    db.commit()
    page = client.get("/metrics?start=2026-11-18&end=2026-11-21")
    assert page.status_code == 200, page.text[:500]
    assert "qa:read" in page.text  # the QA panels say why they are empty
    detail = client.get("/metrics/qa_kappa?start=2026-11-18&end=2026-11-21")
    assert detail.status_code == 200
    assert "qa:read" in detail.text


def test_a_download_is_audited(client: TestClient, db: Session, week: Week) -> None:
    login_as(client, db, make_staff(db, role=Role.policy_lead))
    before = db.scalar(select(func.count()).select_from(AuditRecord)) or 0
    db.commit()  # end the read, so SQLite lets the request write
    r = client.get(
        "/v1/metrics/handle_time_median?start=2026-11-18&end=2026-11-22&group_by=reviewer"
        "&format=csv"
    )
    assert r.status_code == 200
    db.expire_all()
    record = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "metrics.series.export")
    ).one()
    assert record.data["group_by"] == "reviewer"
    assert record.data["format"] == "csv"
    assert db.scalar(select(func.count()).select_from(AuditRecord)) == before + 1
    db.commit()
    client.get("/v1/metrics/handle_time_median?start=2026-11-18&end=2026-11-22")  # JSON: not
    assert db.scalar(select(func.count()).select_from(AuditRecord)) == before + 1
