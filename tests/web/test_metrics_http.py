"""The metrics dashboard and a metric's detail page over HTTP: the figures for known cases,
filters carried in the URL, the notice on a panel that cannot honour a filter, what an agent
may see of other reviewers, and downloads that read back to the page's numbers."""

from __future__ import annotations

import csv
import io
import logging
import re
import time
import zipfile
from datetime import UTC, datetime
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from vigil.analytics.metrics import catalog
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseType, Resolution
from vigil.cases.routing import ensure_default_queues
from vigil.kit.clock import FrozenClock

SYSTEM = Principal.system("test")
log = logging.getLogger(__name__)


def _case(db: Session, kind: CaseType, title: str, language: str = "en") -> int:
    made = cases.create_case(
        db, SYSTEM, cases.NewCase(type=kind, title=title, language=language)
    ).case
    return made.id


def world(db: Session, frozen: FrozenClock) -> StaffUser:
    """Three cases opened in the last week (two user reports, one account review), one of
    the reports closed; and the agent who closed it. Committed; the clock back at 21 Nov."""
    ensure_default_queues(db, SYSTEM)
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz")
    frozen.set(datetime(2026, 11, 17, 10, 0, tzinfo=UTC))
    first = _case(db, CaseType.user_report, "Asked to pay outside the platform")
    _case(db, CaseType.user_report, "Fake review ring")
    frozen.set(datetime(2026, 11, 19, 10, 0, tzinfo=UTC))
    _case(db, CaseType.account_review, "Duplicate identity", language="es")
    me = auth_service.principal_for(agent)
    cases.assign(db, me, first)
    frozen.set(datetime(2026, 11, 19, 11, 0, tzinfo=UTC))
    cases.close(
        db, me, first, resolution=Resolution.no_violation, note="Checked: a misunderstanding."
    )
    frozen.set(datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    db.commit()
    return agent


def panel(html: str, name: str) -> str:
    found = re.search(
        rf'<article class="panel mx-panel" id="panel-{name}".*?</article>', html, re.S
    )
    assert found, f"no panel {name}"
    return found.group(0)


def headline(fragment: str) -> str:
    found = re.search(r"<strong data-headline>(.*?)</strong>", fragment, re.S)
    assert found, "no headline"
    return unescape(found.group(1)).strip()


def selected(html: str, select_id: str) -> str:
    block = re.search(rf'<select id="{select_id}".*?</select>', html, re.S)
    assert block, select_id
    chosen = re.search(r'<option value="([^"]*)" selected', block.group(0))
    return chosen.group(1) if chosen else ""


def options(html: str, select_id: str) -> list[str]:
    block = re.search(rf'<select id="{select_id}".*?</select>', html, re.S)
    assert block, select_id
    return re.findall(r'<option value="([^"]+)"', block.group(0))


def leader(client: TestClient, db: Session) -> StaffUser:
    head = make_staff(db, role=Role.leadership, name="Hana Okoro")
    login_as(client, db, head)
    return head


def timed_get(client: TestClient, url: str) -> str:
    started = time.perf_counter()
    response = client.get(url)
    log.info("GET %s: %.0f ms", url, (time.perf_counter() - started) * 1000)
    assert response.status_code == 200, response.text[:2000]
    return response.text


# --- the dashboard ------------------------------------------------------------------------


def test_dashboard_counts_the_window_and_the_queue_filter_narrows_it(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    world(db, frozen)
    leader(client, db)
    html = timed_get(client, "/metrics?period=7")
    assert headline(panel(html, "cases_opened")) == "3"
    assert headline(panel(html, "cases_closed")) == "1"
    # Every theme is there, each panel with its chart data and its table.
    for theme in ("Workload", "Speed", "People", "Outcomes", "Identity", "Disputes"):
        assert f">{theme}</h2>" in html
    opened = panel(html, "cases_opened")
    assert 'type="application/json"' in opened and "<table>" in opened

    narrowed = timed_get(client, "/metrics?period=7&queue=reports&interval=week")
    assert headline(panel(narrowed, "cases_opened")) == "2"
    # The URL is the view: the bar shows what it asked for, and links keep it.
    assert selected(narrowed, "mx-queue") == "reports"
    assert selected(narrowed, "mx-interval") == "week"
    assert selected(narrowed, "mx-period") == "7"
    assert 'href="/metrics/cases_opened?period=7&amp;interval=week&amp;queue=reports"' in narrowed
    assert "week of 16 Nov 2026" in panel(narrowed, "cases_opened")


def test_custom_dates_choose_the_window_and_bad_ones_are_field_errors(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    world(db, frozen)
    leader(client, db)
    html = timed_get(client, "/metrics?period=custom&start=2026-11-18&end=2026-11-20")
    assert headline(panel(html, "cases_opened")) == "1"
    assert "18 Nov 2026 to 20 Nov 2026" in html

    bad = client.get("/metrics?period=custom&start=2026-11-20&end=2026-11-18&interval=month")
    assert bad.status_code == 422
    assert 'id="err-end"' in bad.text and "before the first day" in bad.text
    assert 'id="err-interval"' in bad.text

    too_long = client.get("/metrics?period=custom&start=2024-01-01&end=2026-11-20")
    assert too_long.status_code == 422
    assert "At most 400 days by day" in too_long.text
    # The figures fall back to the last 28 days rather than failing panel by panel.
    assert headline(panel(too_long.text, "cases_opened")) == "3"


def test_a_panel_that_cannot_honour_a_filter_says_so(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    world(db, frozen)
    leader(client, db)
    html = timed_get(client, "/metrics?period=7&rule=off_platform_payment")
    by_rule = [n for n in catalog.METRICS if "rule" in catalog.METRICS[n].filters]
    not_by_rule = [n for n in catalog.METRICS if "rule" not in catalog.METRICS[n].filters]
    shown = [n for n in not_by_rule if f'id="panel-{n}"' in html]
    assert shown, "some dashboard metric ignores the rule filter"
    for name in shown:
        assert "Not broken down by rule" in panel(html, name)
    # The figure is still there: all cases, whatever rule.
    if "cases_opened" in shown:
        assert headline(panel(html, "cases_opened")) == "3"
    for name in by_rule:
        if f'id="panel-{name}"' in html:
            assert "Not broken down by rule" not in panel(html, name)


def test_unknown_metric_is_404_and_every_page_needs_a_login(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    response = client.get("/metrics", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    leader(client, db)
    assert client.get("/metrics/no_such_metric").status_code == 404


# --- reviewers' own figures -----------------------------------------------------------------


def test_an_agent_sees_the_team_and_only_their_own_reviewer_figures(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    agent = world(db, frozen)
    other = make_staff(db, role=Role.agent, name="Tomás Vidal")
    login_as(client, db, agent)
    html = timed_get(client, "/metrics?period=7")
    assert headline(panel(html, "cases_opened")) == "3"
    assert options(html, "mx-reviewer") == [str(agent.id)]
    # Legal-tier cases never count for an agent: the legal queue is not offered.
    assert "legal" not in options(html, "mx-queue") and options(html, "mx-queue")
    assert timed_get(client, f"/metrics?period=7&reviewer={agent.id}")

    refused = client.get(f"/metrics?period=7&reviewer={other.id}")
    assert refused.status_code == 422
    assert "You can see your own figures only." in refused.text
    assert "Tomás Vidal" not in refused.text
    grouped = client.get("/metrics/decisions_per_hour?period=7&group_by=reviewer")
    assert grouped.status_code == 422
    assert "You can see your own figures only." in grouped.text


def test_leadership_may_pick_any_reviewer(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    agent = world(db, frozen)
    leader(client, db)
    html = timed_get(client, f"/metrics?period=7&reviewer={agent.id}")
    assert str(agent.id) in options(html, "mx-reviewer")
    assert selected(html, "mx-reviewer") == str(agent.id)


# --- one metric in detail, and its downloads ------------------------------------------------


def _rows_of_totals(html: str) -> dict[str, str]:
    table = re.search(r'<table class="mx-totals".*?</table>', html, re.S)
    assert table, "no totals table"
    return {
        unescape(k).strip(): unescape(v).strip()
        for k, v in re.findall(
            r'<th scope="row">(.*?)</th><td class="num">(.*?)</td>', table.group(0)
        )
    }


def test_detail_splits_by_a_group_and_downloads_read_back(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    world(db, frozen)
    leader(client, db)
    definition = catalog.METRICS["cases_opened"]
    assert "type" in definition.group_by
    html = timed_get(client, "/metrics/cases_opened?period=7&group_by=type")
    assert headline(html) == "3"
    totals = _rows_of_totals(html)
    assert sorted(totals.values()) == ["1", "2"]
    assert selected(html, "mx-group-by") == "type"
    # "Split by" words its choices as the filter bar does, not as raw keys.
    split = re.search(r'<select id="mx-group-by".*?</select>', html, re.S).group(0)  # type: ignore[union-attr]
    assert ">Case type</option>" in split and ">Language</option>" in split
    assert ">locale</option>" not in split

    csv_href = unescape(re.search(r'href="([^"]+format=csv)"', html).group(1))  # type: ignore[union-attr]
    xlsx_href = unescape(re.search(r'href="([^"]+format=xlsx)"', html).group(1))  # type: ignore[union-attr]
    assert "group_by=type" in csv_href
    got = client.get(csv_href)
    assert got.status_code == 200, got.text[:500]
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    # Columns: bucket, group, its label, the value, numerator, denominator.
    value = len(header) - 3
    by_type: dict[str, float] = {}
    for r in body:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", r[0]):
            continue  # a whole-period row
        by_type[r[1]] = by_type.get(r[1], 0) + float(r[value] or 0)
    assert by_type == {"user_report": 2, "account_review": 1}

    book = client.get(xlsx_href)
    assert book.status_code == 200
    with zipfile.ZipFile(io.BytesIO(book.content)) as z:
        sheet = z.read(next(n for n in z.namelist() if n.startswith("xl/worksheets/sheet")))
    numbers = [float(v) for v in re.findall(rb"<c [^>]*><v>([-0-9.eE]+)</v>", sheet)]
    assert 2.0 in numbers and 1.0 in numbers


def test_detail_refuses_a_split_the_metric_does_not_have(
    client: TestClient, db: Session, frozen: FrozenClock
) -> None:
    world(db, frozen)
    leader(client, db)
    response = client.get("/metrics/sla_attainment?period=7&group_by=nonsense")
    assert response.status_code == 422
    assert 'id="err-group_by"' in response.text
    # The figure is still drawn, unsplit.
    assert "<strong data-headline>" in response.text


@pytest.mark.parametrize("path", ["/metrics", "/metrics/sla_attainment"])
def test_pages_render_with_no_data_at_all(
    client: TestClient, db: Session, frozen: FrozenClock, path: str
) -> None:
    ensure_default_queues(db, SYSTEM)
    leader(client, db)
    html = timed_get(client, path + "?period=90&interval=week")
    assert "Metrics" in html
