"""Rule precision and identity outcomes on a few known rows."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session
from tests.analytics.metrics.conftest import Week, at
from tests.enforcement.conftest import SYSTEM, make_account

from vigil.analytics.metrics import service
from vigil.cases import service as cases
from vigil.cases.models import Resolution
from vigil.detection.models import Event, Outcome
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind, VerificationStatus
from vigil.identity.types import Outcome as IdOutcome


def run(db: Session, metric: str, group_by: str | None = None, **filters):  # type: ignore[no-untyped-def]
    query = service.parse_query(metric, "2026-11-18", "2026-11-22", "day", filters, group_by)
    return service.series(db, SYSTEM, query)


def _event(db: Session, n: int, case_id: int, hits: list[dict[str, object]]) -> None:
    db.add(
        Event(
            event_id=f"evt-metrics-{n}", payload_sha256="0" * 64, type="message_sent",
            account_id=None, account_external_id="x", occurred_at=at(19, 9), received_at=at(19, 9),
            source="tests", payload={}, features={}, outcome=Outcome.review, score=50.0,
            hits=hits, errors=[], case_id=case_id,
        )
    )  # fmt: skip


def test_rule_precision(db: Session, week: Week) -> None:
    # A was actioned, B closed with a warning (actioned too); C closed as no violation; D is
    # still open, so its hit is not judged yet.
    cases.close(db, SYSTEM, week.c.id, resolution=Resolution.no_violation, note="fine")
    off = {"name": "off_platform_payment", "policy_code": "fee_circumvention", "shadow": False}
    shadow = {"name": "shadow_rule", "policy_code": "fee_circumvention", "shadow": True}
    _event(db, 1, week.a.id, [off, shadow])
    _event(db, 2, week.b.id, [off])
    _event(db, 3, week.c.id, [off, {"name": "links", "policy_code": "spam"}])
    _event(db, 4, week.d.id, [off])
    db.flush()
    precision = run(db, "rule_precision", group_by="rule")
    by_rule = {g.key: (g.total.numerator, g.total.denominator) for g in precision.groups}
    assert by_rule == {"off_platform_payment": (2, 3), "links": (0, 1)}  # no shadow_rule
    only = run(db, "rule_precision", rule="off_platform_payment")
    assert [p.value for p in only.buckets] == [None, 2 / 3, None, None]
    assert run(db, "rule_precision", policy="spam").total.denominator == 1


def test_identity_outcomes_and_reasons(db: Session, week: Week) -> None:
    account = make_account(db, side="customer")
    rows = [
        (VerificationStatus.approved, IdOutcome.approve, [], None),
        (VerificationStatus.rejected, IdOutcome.reject, ["mrz_check_digit", "expired"], None),
        # Sent to review by the pipeline, then approved by a person.
        (VerificationStatus.approved, IdOutcome.approve, ["face_mismatch"], at(20, 11)),
        (VerificationStatus.failed, None, [], None),
    ]
    for n, (status, outcome, reasons, decided) in enumerate(rows):
        db.add(
            IdentityVerification(
                account_id=account.id, kind=DocumentKind.passport, status=status,
                outcome=outcome, reasons=reasons, request_sha256=f"{n}" * 64,
                submitted_by="tests", processed_at=at(20, 10), decided_at=decided,
            )
        )  # fmt: skip
    db.flush()
    by_outcome = run(db, "identity_verifications", group_by="outcome")
    assert {g.key: g.total.value for g in by_outcome.groups} == {
        "approve": 1,
        "reject": 1,
        "review": 1,
    }
    assert run(db, "identity_pass_rate").total.value == 1 / 3
    review = run(db, "identity_review_rate", side="customer")
    assert [p.value for p in review.buckets] == [None, None, 1 / 3, None]
    reasons = run(db, "identity_reasons", group_by="reason")
    assert {g.key: g.total.value for g in reasons.groups} == {
        "mrz_check_digit": 1,
        "expired": 1,
        "face_mismatch": 1,
    }
    assert reasons.buckets[2].start == date(2026, 11, 20)
    assert reasons.buckets[2].value == 3
