"""Each metric on the known week of tests/analytics/metrics/conftest.py, by hand."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.analytics.metrics.conftest import Week, at
from tests.enforcement.conftest import SYSTEM, principal

from vigil.analytics.metrics import catalog, service
from vigil.audit.models import AuditRecord
from vigil.kit.errors import InvalidInput, NotFound, PermissionDenied

DAYS = [date(2026, 11, d) for d in (18, 19, 20, 21)]
H = 3600.0


def run(db: Session, metric: str, group_by: str | None = None, actor=SYSTEM, **filters):  # type: ignore[no-untyped-def]
    query = service.parse_query(metric, "2026-11-18", "2026-11-22", "day", filters, group_by)
    return service.series(db, actor, query)


def values(s: service.Series) -> list[float | None]:
    assert [p.start for p in s.buckets] == DAYS  # every bucket present, in order
    return [p.value for p in s.buckets]


def group(s: service.Series, key: str) -> list[float | None]:
    found = [g for g in s.groups if g.key == key]
    assert found, [g.key for g in s.groups]
    return [p.value for p in found[0].buckets]


def test_case_flow(db: Session, week: Week) -> None:
    opened = run(db, "cases_opened")
    assert values(opened) == [2, 0, 0, 1]
    assert opened.total.value == 3
    assert values(run(db, "cases_closed")) == [0, 1, 1, 0]
    # Open at each day's end (now, 09:00, for the 21st): D+A+B, D+B, D, D+C.
    backlog = run(db, "backlog")
    assert values(backlog) == [3, 2, 1, 2]
    assert backlog.total.value == 2
    # Only client cases: B, open on the 18th and 19th.
    assert values(run(db, "cases_opened", side="client")) == [1, 0, 0, 0]
    assert values(run(db, "backlog", side="client")) == [1, 1, 0, 0]
    assert values(run(db, "cases_opened", locale="es")) == [1, 0, 0, 0]


def test_open_past_sla_shows_the_late_backlog_attainment_cannot(db: Session, week: Week) -> None:
    # D is due on the 19th at 00:00 and never closed; C is due 21st 08:30, still open at 09:00.
    week.d.sla_due_at = at(19, 0)
    week.c.sla_due_at = at(21, 8).replace(minute=30)
    db.flush()
    late = run(db, "backlog_past_sla")
    # 18th's end: A (due 20:00, closed next day). 19th, 20th: D. Now (21st 09:00): D and C.
    assert values(late) == [1, 1, 1, 2]
    assert late.total.value == 2  # a snapshot: the late backlog now
    # Meanwhile attainment, over closed cases only, shows one of two on time.
    assert run(db, "sla_attainment").total.value == 0.5
    assert values(run(db, "backlog_past_sla", side="client")) == [0, 0, 0, 0]
    by_side = run(db, "backlog_past_sla", group_by="side")
    assert group(by_side, "freelancer") == [1, 1, 1, 1]


def test_backlog_age(db: Session, week: Week) -> None:
    by_band = run(db, "backlog", group_by="age_band")
    # At the 18th's end D is 3 d 15 h old, A 14 h, B 12 h; at the 19th's end B is 36 h old;
    # at 21st 09:00 D is 6 d, C 1 h.
    assert group(by_band, ">3d") == [1, 1, 1, 1]  # D, all along
    assert group(by_band, "4-24h") == [2, 0, 0, 0]
    assert group(by_band, "1-3d") == [0, 1, 0, 0]  # B at the 19th's end
    assert group(by_band, "1-4h") == [0, 0, 0, 1]
    assert values(by_band) == [3, 2, 1, 2]  # the bands add up to the backlog
    median = run(db, "backlog_age_median")
    assert values(median)[0] == 14 * H
    assert values(median)[3] == (1 * H + 6 * 24 * H) / 2
    assert median.total.value == (1 * H + 6 * 24 * H) / 2  # a snapshot: the last bucket
    assert median.total.denominator == 2
    oldest = run(db, "backlog_age_max")
    assert values(oldest)[0] == (3 * 24 + 15) * H
    assert oldest.total.value == 6 * 24 * H


def test_sla_and_times(db: Session, week: Week) -> None:
    sla = run(db, "sla_attainment")
    assert values(sla) == [None, 0.0, 1.0, None]
    assert (sla.total.value, sla.total.numerator, sla.total.denominator) == (0.5, 1, 2)
    assert sla.buckets[0].denominator == 0  # "n=0" where nothing closed
    first = run(db, "time_to_first_action_median")
    assert values(first) == [None, 24 * H, 48 * H, None]
    assert first.total.value == 36 * H
    assert run(db, "time_to_first_action_p90").total.value == pytest.approx(24 * H + 0.9 * 24 * H)
    assert values(run(db, "time_to_decision_median")) == [None, 26 * H, 49 * H, None]
    assert values(run(db, "handle_time_median")) == [None, 2 * H, 1 * H, None]
    assert run(db, "handle_time_p90").total.value == pytest.approx(1 * H + 0.9 * H)


def test_decisions(db: Session, week: Week) -> None:
    automation = run(db, "automation_rate")
    assert values(automation) == [None, 0.0, 0.0, None]
    assert automation.total.denominator == 2
    actions = run(db, "enforcement_actions", group_by="action")
    assert group(actions, "suspend") == [0, 1, 0, 0]
    assert group(actions, "warn") == [0, 0, 1, 0]
    assert values(actions) == [0, 1, 1, 0]
    by_policy = run(db, "enforcement_actions", group_by="policy")
    assert [g.key for g in by_policy.groups] == ["fee_circumvention"]
    # Ana: one decision; active on the 19th at 10:00 (took the case) and 12:00 (decided).
    # Ben: one decision at 13:00 on the 20th (the assignment was not his own doing).
    per_hour = run(db, "decisions_per_hour", group_by="reviewer")
    assert group(per_hour, str(week.ana.id)) == [None, 0.5, None, None]
    assert group(per_hour, str(week.ben.id)) == [None, None, 1.0, None]
    labels = {g.key: g.label for g in per_hour.groups}
    assert labels[str(week.ana.id)] == "Ana"
    team = run(db, "decisions_per_hour")
    assert (team.total.numerator, team.total.denominator) == (2, 3)
    assert values(run(db, "time_to_decision_median", reviewer=week.ben.id)) == [
        None,
        None,
        49 * H,
        None,
    ]


def test_every_metric_runs_on_both_databases(db: Session, week: Week) -> None:
    for name, definition in catalog.METRICS.items():
        s = run(db, name)
        assert len(s.buckets) == 4, name
        for group_by in sorted(definition.group_by):
            grouped = run(db, name, group_by=group_by)
            assert all(len(g.buckets) == 4 for g in grouped.groups), (name, group_by)
        columns, rows = service.table(s)
        assert [c.key for c in columns][-3:] == ["value", "numerator", "denominator"]
        assert len(rows) == 5


def test_weeks(db: Session, week: Week) -> None:
    query = service.parse_query("cases_opened", "2026-11-09", "2026-11-23", "week")
    s = service.series(db, SYSTEM, query)
    assert [(p.start, p.value) for p in s.buckets] == [
        (date(2026, 11, 9), 1),  # D, on Sunday the 15th
        (date(2026, 11, 16), 3),
    ]


def test_refusals_change_nothing(db: Session, week: Week) -> None:
    audit_before = db.scalar(select(func.count()).select_from(AuditRecord))
    with pytest.raises(NotFound) as e:
        service.parse_query("no_such_metric", None, None)
    assert e.value.code == "unknown_metric"
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"start": "2026-11-20", "end": "2026-11-20"}, "invalid_window", "start"),
        ({"start": "2025-01-01", "end": "2026-11-20"}, "window_too_long", "start"),
        ({"filters": {"rule": "x"}}, "filter_not_supported", "rule"),
        ({"group_by": "rule"}, "group_by_not_supported", "group_by"),
        ({"interval": "hour"}, "invalid_interval", "interval"),
        ({"start": "2026-11-20T09:00:00"}, "naive_datetime", "start"),
        ({"filters": {"side": "seller"}}, "invalid_filter", "side"),
    ]
    for kwargs, code, field in cases:
        with pytest.raises(InvalidInput) as refused:
            service.parse_query("cases_opened", **kwargs)  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.field) == (code, field), kwargs
    # Three years by week is fine, by day it is not.
    service.parse_query("cases_opened", "2024-01-01", "2026-11-20", "week")
    agent = principal(week.ana)
    with pytest.raises(PermissionDenied) as denied:
        run(db, "handle_time_median", actor=agent, reviewer=week.ben.id)
    assert (denied.value.code, denied.value.field) == ("reviewer_metrics_forbidden", "reviewer")
    with pytest.raises(PermissionDenied) as denied:
        run(db, "handle_time_median", group_by="reviewer", actor=agent)
    assert denied.value.field == "group_by"
    # One's own figures are always readable.
    own = run(db, "handle_time_median", actor=agent, reviewer=week.ana.id)
    assert values(own) == [None, 2 * H, None, None]
    assert db.scalar(select(func.count()).select_from(AuditRecord)) == audit_before
    assert at(21, 9)  # the window above is read at the frozen time
