"""The transparency report's figures on a known period, by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from tests.analytics.transparency.conftest import Reported
from tests.enforcement.conftest import principal
from tests.factories import make_staff
from vigil.analytics.transparency import service
from vigil.auth.permissions import Role
from vigil.kit.errors import InvalidInput, PermissionDenied

NOV = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def _figures(db: Session, reported: Reported) -> dict[tuple[str, str, str], object]:
    head = principal(reported.closed.head)
    r = service.report(db, head, *NOV)
    assert [s.key for s in r.sections] == [
        "orders",
        "notices",
        "own_initiative",
        "complaints",
        "automated_means",
        "article_24",
        "to_be_completed",
    ]
    return {(f.section, f.figure, f.breakdown): f.value for f in service.figures(r)}


def test_orders_notices_and_recipients(db: Session, reported: Reported) -> None:
    f = _figures(db, reported)
    assert f["orders", "orders_received", ""] == 1
    assert f["orders", "orders_received", "kind=act_against_content, member_state=FR"] == 1
    counterfeit = "category=STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"
    assert f["orders", "orders_received", counterfeit] == 1
    assert f["orders", "orders_given_effect", ""] == 1
    assert f["orders", "median_seconds_to_give_effect", ""] == pytest.approx(7200)
    # Art. 15(1)(a) also asks how fast the authority was told of the receipt.
    assert f["orders", "median_seconds_to_inform_receipt", ""] == pytest.approx(1800)
    assert f["orders", "median_seconds_to_inform_receipt", "kind=act_against_content"] == 1800
    assert f["orders", "orders_acknowledgement_not_recorded", ""] == 0

    assert f["notices", "notices_received", ""] == 3
    assert f["notices", "notices_received", "category=STATEMENT_CATEGORY_SCAMS_AND_FRAUD"] == 2
    assert f["notices", "notices_received", "category=STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE"] == 1
    # A reason outside the mapping is folded, never published in the marketplace's words.
    assert f["notices", "notices_received", "reason=scam"] == 1
    assert f["notices", "notices_received", "reason=other"] == 1
    assert not any("weird_vibes" in key[2] for key in f)
    # What Vigil does not record is said, not left out.
    assert ("notices", "notices_from_trusted_flaggers", "") in f
    assert f["notices", "notices_from_trusted_flaggers", ""] is None
    # Case A's suspension on a report about the terms: a notice acted on under the T&C.
    assert f["notices", "actions_on_notices", ""] == 1
    assert f["notices", "actions_on_notices", "basis=terms_and_conditions"] == 1
    assert f["notices", "actions_on_notices", "source=SOURCE_TYPE_OTHER_NOTIFICATION"] == 1
    assert f["notices", "notices_by_outcome", "outcome=actioned"] == 2
    assert f["notices", "notices_by_outcome", "outcome=no_case"] == 1
    assert f["notices", "notices_handled_by_automated_means", ""] == 0
    # A: 18th 09:00 -> closed 19th 12:00 (27 h); B: 18th 11:00 -> 20th 13:00 (50 h).
    assert f["notices", "median_seconds_to_action", ""] == pytest.approx((27 + 50) / 2 * 3600)

    # Case C: suspended by detection on its own initiative, then overturned on appeal.
    assert f["own_initiative", "statements", ""] == 1
    assert f["own_initiative", "statements", "category=STATEMENT_CATEGORY_SCAMS_AND_FRAUD"] == 1
    assert f["own_initiative", "statements", "basis=terms_and_conditions"] == 1
    assert f["own_initiative", "statements", "restriction=suspend"] == 1
    assert f["own_initiative", "statements", "automated_detection=yes"] == 1

    assert f["complaints", "complaints_received", ""] == 1
    assert f["complaints", "complaints_received", "policy=fee_circumvention"] == 1
    assert f["complaints", "complaints_by_outcome", "outcome=overturned"] == 1
    assert f["complaints", "median_seconds_to_decision", ""] == pytest.approx(3600)
    assert f["complaints", "decisions_reversed", ""] == 1

    assert f["automated_means", "statements", "automated_decision=AUTOMATED_DECISION_FULLY"] == 1
    assert f["automated_means", "decisions", ""] == 3
    assert f["automated_means", "decisions", "automated=yes"] == 1
    assert f["automated_means", "automation_rate", ""] == pytest.approx(1 / 3)
    assert f["automated_means", "automated_overturn_rate", ""] == 1.0

    assert f["article_24", "out_of_court_disputes", ""] == 0
    assert f["article_24", "suspensions_for_misuse", ""] is None
    # In the Union: R1 (FR) and R2 (DE); the US account is left out, the one without a
    # country is shown on its own row.
    assert f["article_24", "average_monthly_active_recipients", ""] == 2.0
    assert f["article_24", "average_monthly_active_recipients", "country=unknown"] == 1.0

    assert f["to_be_completed", "moderator_training_and_assistance", ""] is None
    assert f["to_be_completed", "automated_means_description", ""] is None


def test_recipients_are_averaged_over_full_months_only(db: Session, reported: Reported) -> None:
    head = principal(reported.closed.head)
    mid = service.report(
        db, head, datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 12, 15, tzinfo=UTC)
    )
    figure = next(x for x in service.figures(mid) if x.figure.startswith("average_monthly"))
    assert figure.value is None  # no full calendar month: not a halved figure
    assert "no full calendar month" in figure.note
    longer = service.report(
        db, head, datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 12, 10, tzinfo=UTC)
    )
    f = {(x.figure, x.breakdown): x.value for x in service.figures(longer)}
    assert f["average_monthly_active_recipients", ""] == 2.0  # November alone


def test_a_period_outside_the_data_reports_zeros_not_gaps(db: Session, reported: Reported) -> None:
    r = service.report(
        db,
        principal(reported.closed.head),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 7, 1, tzinfo=UTC),
    )
    f = {(x.section, x.figure, x.breakdown): x.value for x in service.figures(r)}
    assert f["orders", "orders_received", ""] == 0
    assert f["notices", "notices_received", ""] == 0
    assert f["notices", "median_seconds_to_action", ""] is None
    # Months before Vigil's first record hold no data, not zero activity: not recorded.
    assert f["article_24", "average_monthly_active_recipients", ""] is None
    note = next(x.note for x in service.figures(r) if x.figure.startswith("average_monthly"))
    assert "6 earlier month(s)" in note and "first record" in note


def test_recipients_leave_out_months_before_the_first_record(
    db: Session, reported: Reported
) -> None:
    # Six months to the end of November; the first event is in November: May-October are not
    # averaged in as zeros (which would divide November's 2 by 7), and the note says so.
    r = service.report(
        db,
        principal(reported.closed.head),
        datetime(2026, 5, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    figure = next(
        x for x in service.figures(r) if x.figure.startswith("average_monthly") and not x.breakdown
    )
    assert figure.value == 2.0
    assert "over the 1 full calendar month(s) from 2026-11-01" in figure.note
    assert "6 earlier month(s) of the period are left out" in figure.note
    assert "2026-11 began before that first record and may be low" in figure.note


def test_refusals(db: Session, reported: Reported) -> None:
    head = principal(reported.closed.head)
    with pytest.raises(InvalidInput) as caught:
        service.report(db, head, NOV[1], NOV[0])
    assert (caught.value.code, caught.value.field) == ("invalid_window", "start")
    with pytest.raises(InvalidInput) as caught:
        service.report(db, head, datetime(2024, 1, 1, tzinfo=UTC), NOV[1])
    assert caught.value.code == "window_too_long"
    with pytest.raises(InvalidInput) as caught:
        service.report(db, head, datetime(2026, 11, 1), NOV[1])
    assert caught.value.code == "naive_datetime"
    with pytest.raises(PermissionDenied):
        service.report(db, principal(make_staff(db, role=Role.agent)), *NOV)
