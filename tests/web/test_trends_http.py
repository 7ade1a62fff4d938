"""The trends console over HTTP, on both databases: the inbox of trend alerts and emerging
clusters, an alert's page with its chart data, contributors, sample cases and history, and the
triage actions (acknowledge, dismiss with a reason, escalate into an incident) with their
refusals.

Alerts and clusters are not inserted by hand: a scam wave is written as events (four quiet
Mondays, then one loud hour of reports about Brazilian accounts) and the real roll-up, trend
detection and cluster detection run over it with a frozen clock."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, logout, make_staff
from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.accounts.schemas import AccountUpsert
from vigil.analytics.clusters import service as clusters
from vigil.analytics.clusters.models import ClusterStatus, TextCluster
from vigil.analytics.incidents.models import Incident, IncidentCase
from vigil.analytics.trends import detect, rollup
from vigil.analytics.trends.models import AlertStatus, TrendAlert
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseType
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.detection.models import Event, Outcome
from vigil.kit.clock import FrozenClock

SYSTEM = Principal.system("test")
# A Monday, 15:05 UTC: the 14:00 hour is complete and its events have settled.
NOW = datetime(2026, 11, 23, 15, 5, tzinfo=UTC)
WAVE_HOUR = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
SCAM = (
    "Hi, the platform fee is too high. Pay me directly by Wise and I give you {pct}% discount, "
    "write me at deal{n}@example.com"
)
QUIET = [
    "the logo colours are not what we agreed in the brief",
    "delivery was three days late and nobody answered",
    "rude review after the lesson was cancelled by the tutor",
]


@dataclass
class Wave:
    alert_id: int  # the report_reason = scam alert
    case_ids: list[int]  # the cases some of the wave's reports were filed on
    cluster_id: int | None


def _account(db: Session, external_id: str, country: str, registered: str) -> Account:
    account, _ = accounts.upsert_account(
        db,
        SYSTEM,
        external_id,
        AccountUpsert.model_validate(
            {"side": "client", "display_name": external_id, "country": country,
             "registered_at": f"{registered}T10:00:00Z"}
        ),
    )  # fmt: skip
    return account


_seq = iter(range(1, 10_000_000))


def _report(
    db: Session,
    reporter: Account,
    about: Account,
    at: datetime,
    reason: str,
    text: str,
    case_id: int | None = None,
) -> None:
    """A report filed by ``reporter`` about ``about`` (the reported account: trends count a
    report under the reported account's country and age)."""
    n = next(_seq)
    db.add(
        Event(
            event_id=f"trend-evt-{n}-{at:%Y%m%d%H%M}",
            payload_sha256=f"{n:064d}",
            type="report_filed",
            account_id=reporter.id,
            account_external_id=reporter.external_id,
            counterparty_external_id=about.external_id,
            occurred_at=at,
            received_at=at,
            payload={"data": {"reason": reason, "text": text}},
            outcome=Outcome.review,
            case_id=case_id,
        )
    )


def scam_wave(db: Session, settings: Settings, frozen: FrozenClock) -> Wave:
    """Four quiet Mondays (three scam reports between 14:00 and 15:00, by Spanish users about
    Spanish accounts), then this Monday 40 scam reports in that hour, 32 of them about new
    Brazilian accounts, three filed on cases. The roll-up and both detectors run at 15:05;
    everything is committed."""
    frozen.set(WAVE_HOUR - 5 * WEEK)
    ensure_default_queues(db, SYSTEM)
    spain = [_account(db, f"es-{i}", "ES", "2025-01-07") for i in range(4)]
    # New Brazilian accounts, from two signup weeks: the country stands out, not a cohort.
    brazil = [_account(db, f"br-{i}", "BR", f"2026-11-{10 + i % 2 * 7}") for i in range(8)]
    for week in range(1, 5):
        hour = WAVE_HOUR - week * WEEK
        for i in range(3):
            _report(db, spain[i], spain[i + 1], hour + timedelta(minutes=10 + i), "scam", QUIET[i])
    frozen.set(WAVE_HOUR)
    case_ids = [
        cases.create_case(
            db,
            SYSTEM,
            cases.NewCase(
                type=CaseType.user_report,
                title=f"Asked to pay by Wise outside the platform ({n})",
                account_id=brazil[n].id,
            ),
        ).case.id
        for n in range(3)
    ]
    for i in range(40):
        about = brazil[i % 8] if i < 32 else spain[i % 4]
        case_id = case_ids[i] if i < 3 else None
        text = SCAM.format(pct=10 + i % 3 * 5, n=i)
        at = WAVE_HOUR + timedelta(minutes=i)
        _report(db, spain[(i + 1) % 4], about, at, "scam", text, case_id)
    db.flush()
    frozen.set(NOW)
    rollup.run(db, now=NOW)
    detect.run(db, now=NOW, settings=settings)
    clusters.detect(db, settings, now=NOW)
    alert_id = db.scalar(
        select(TrendAlert.id).where(
            TrendAlert.dimension == "report_reason", TrendAlert.value == "scam"
        )
    )
    cluster_id = db.scalar(select(TextCluster.id).order_by(TextCluster.id.desc()).limit(1))
    db.commit()
    assert alert_id is not None, "the scam wave raised no report_reason alert"
    return Wave(alert_id, case_ids, cluster_id)


def fresh(db: Session, model: type, row_id: int) -> Any:
    db.expire_all()
    row = db.get(model, row_id)
    if row is not None:
        db.expunge(row)
    db.rollback()
    return row


def field_error(html: str, key: str) -> str:
    found = re.search(rf'id="err-{key}"[^>]*>(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


def audits(db: Session, action: str) -> int:
    db.expire_all()
    n = db.scalar(select(func.count()).where(AuditRecord.action == action))
    db.rollback()
    return int(n or 0)


def _form(client: TestClient, url: str, token: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=False)


@pytest.fixture
def wave(db: Session, settings: Settings, frozen: FrozenClock) -> Wave:
    return scam_wave(db, settings, frozen)


# --- the inbox --------------------------------------------------------------------------------


def test_the_inbox_says_what_is_rising_by_how_much_since_when_and_who_drives_it(
    client: TestClient, db: Session, wave: Wave
) -> None:
    lead = make_staff(db, role=Role.policy_lead, name="Lucía Policy")
    login_as(client, db, lead)
    page = client.get("/trends")
    assert page.status_code == 200
    html = page.text
    row = re.search(rf'<a href="/trends/alerts/{wave.alert_id}">(.*?)</a>', html)
    assert row is not None
    # 40 observed against the four quiet Mondays' 3 expected, since Monday 14:00; the
    # expected count is the one the ratio uses, and the bucket is named.
    assert re.fullmatch(
        r"report reason = scam up 13\.3x since \d+ \w{3} 14:00: 40 in the hour to "
        r"\d\d:00, \d+ \w{3} vs 3\.0 expected",
        row.group(1),
    ), row.group(1)
    assert "country = BR (86%)" in html  # the top contributor
    open_section = html.split('id="alerts-open"')[1].split("</section>")[0]
    assert f"/trends/alerts/{wave.alert_id}" in open_section
    # The header's badge counts the untriaged alerts.
    badge = client.get("/trends/count")
    assert re.search(r'id="trends-badge">\d+<span class="skip"> open alert', badge.text)
    # The emerging cluster of the scam texts, with an example.
    assert wave.cluster_id is not None
    assert f'href="/trends/clusters/{wave.cluster_id}"' in html
    assert "Pay me directly by Wise" in html
    # The counts explorer charts report reasons against their baseline.
    assert 'id="explorer-chart-data"' in html
    data = json.loads(re.search(r'id="explorer-chart-data">(.*?)</script>', html, re.S).group(1))
    assert [s["label"] for s in data["series"]] == ["scam"]
    # This Monday's 40 and the previous Monday's 3 are within the last 14 days.
    assert sum(data["series"][0]["values"]) == 40 + 3
    # The reports link is there for policy leads (reports:read).
    assert 'href="/reports/transparency"' in html


def test_filters_and_explorer_choices_are_checked(
    client: TestClient, db: Session, wave: Wave
) -> None:
    agent = make_staff(db, role=Role.agent)
    login_as(client, db, agent)
    page = client.get("/trends", params={"dimension": "country"})
    assert page.status_code == 200
    assert f'/trends/alerts/{wave.alert_id}"' not in page.text  # a report_reason alert
    assert 'href="/reports/transparency"' not in page.text  # agents hold no reports:read
    bad = client.get("/trends", params={"status": "nope", "dimension": "planet"})
    assert bad.status_code == 422
    assert field_error(bad.text, "status") == "Choose a status from the list."
    assert field_error(bad.text, "dimension") == "Choose a dimension from the list."
    bad = client.get("/trends", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert "cursor is not valid" in field_error(bad.text, "cursor").lower()
    one = client.get("/trends", params={"explore": "country", "interval": "day", "value": "BR"})
    assert one.status_code == 200
    data = json.loads(
        re.search(r'id="explorer-chart-data">(.*?)</script>', one.text, re.S).group(1)
    )
    assert [s["role"] for s in data["series"]] == ["expected", "observed"]
    assert sum(data["series"][1]["values"]) == 32
    bad = client.get("/trends", params={"explore": "moon", "interval": "week"})
    assert bad.status_code == 422
    assert field_error(bad.text, "explore") and field_error(bad.text, "interval")


def test_staff_without_trends_read_and_logged_out_visitors_are_kept_out(
    client: TestClient, db: Session, wave: Wave
) -> None:
    assert client.get("/trends", follow_redirects=False).status_code == 303
    assert client.get(f"/trends/alerts/{wave.alert_id}", follow_redirects=False).status_code == 303


# --- one alert --------------------------------------------------------------------------------


def test_the_alert_page_charts_the_series_and_lists_contributors_cases_and_history(
    client: TestClient, db: Session, wave: Wave
) -> None:
    agent = make_staff(db, role=Role.agent)
    login_as(client, db, agent)
    page = client.get(f"/trends/alerts/{wave.alert_id}")
    assert page.status_code == 200
    html = page.text
    data = json.loads(
        re.search(rf'id="alert-{wave.alert_id}-chart-data">(.*?)</script>', html, re.S).group(1)
    )
    roles = [s["role"] for s in data["series"]]
    assert roles == ["upper", "expected", "observed"]
    observed = data["series"][2]["values"]
    assert observed[-1] == 40 and max(observed[:-1]) <= 3
    assert data["start"] == int(WAVE_HOUR.timestamp())
    assert 'id="alert-size">13.3x' in html
    contributors = html.split('id="contributors"')[1].split("</section>")[0]
    assert "country = BR" in contributors
    assert "80%" in contributors or "%" in contributors
    for case_id in wave.case_ids:
        assert f'href="/cases/{case_id}">C-{case_id}</a>' in html
    assert "raised the alert" in html
    # An agent may escalate (incidents:write) but not acknowledge or dismiss.
    assert 'id="escalate-form"' in html
    assert 'id="ack-form"' not in html and 'id="dismiss-form"' not in html


def test_an_agent_cannot_dismiss_and_qa_cannot_escalate(
    client: TestClient, db: Session, wave: Wave
) -> None:
    agent = make_staff(db, role=Role.agent)
    qa = make_staff(db, role=Role.qa)
    token = login_as(client, db, agent)
    refused = _form(client, f"/trends/alerts/{wave.alert_id}/dismiss", token, reason="noise")
    assert refused.status_code == 403
    refused = _form(client, f"/trends/alerts/{wave.alert_id}/acknowledge", token)
    assert refused.status_code == 403
    logout(client)
    token = login_as(client, db, qa)
    page = client.get(f"/trends/alerts/{wave.alert_id}")
    assert page.status_code == 200 and 'id="escalate-form"' not in page.text
    refused = _form(client, f"/trends/alerts/{wave.alert_id}/escalate", token, title="Wave")
    assert refused.status_code == 403
    assert fresh(db, TrendAlert, wave.alert_id).status == AlertStatus.open
    assert audits(db, "trends.alert.dismiss") == 0


def test_dismissing_needs_a_reason_shown_under_the_field_then_is_recorded(
    client: TestClient, db: Session, wave: Wave
) -> None:
    lead = make_staff(db, role=Role.policy_lead, name="Lucía Policy")
    token = login_as(client, db, lead)
    refused = _form(client, f"/trends/alerts/{wave.alert_id}/dismiss", token, reason="  ")
    assert refused.status_code == 422
    assert field_error(refused.text, "dismiss-reason") == "Give the reason for dismissing it"
    assert 'aria-invalid="true" aria-describedby="err-dismiss-reason"' in refused.text
    assert fresh(db, TrendAlert, wave.alert_id).status == AlertStatus.open
    done = _form(
        client, f"/trends/alerts/{wave.alert_id}/dismiss", token,
        reason="A known phishing campaign, already blocked at the mail gateway",
    )  # fmt: skip
    assert done.status_code == 303
    page = client.get(done.headers["location"])
    assert "Alert dismissed" in page.text
    assert (
        'id="alert-status">dismissed' in page.text.replace('class="chip "', "")
        or "dismissed" in page.text
    )
    history = page.text.split('id="history"')[1]
    assert "Lucía Policy</strong> dismissed" in history
    assert "A known phishing campaign" in history
    alert = fresh(db, TrendAlert, wave.alert_id)
    assert alert.status == AlertStatus.dismissed and alert.dismissed_by_id == lead.id
    assert audits(db, "trends.alert.dismiss") == 1
    # Nothing is left to do on a dismissed alert.
    assert 'id="dismiss-form"' not in page.text and 'id="escalate-form"' not in page.text


def test_acknowledging_leaves_the_badge_and_is_shown_in_the_history(
    client: TestClient, db: Session, wave: Wave
) -> None:
    lead = make_staff(db, role=Role.leadership, name="Hana Head")
    token = login_as(client, db, lead)
    before = client.get("/trends/count").text
    done = _form(client, f"/trends/alerts/{wave.alert_id}/acknowledge", token, note="Looking at BR")
    assert done.status_code == 303
    page = client.get(done.headers["location"])
    assert "Hana Head</strong> acknowledged" in page.text and "Looking at BR" in page.text
    assert 'id="ack-form"' not in page.text  # only once
    after = client.get("/trends/count").text
    assert before != after
    again = _form(client, f"/trends/alerts/{wave.alert_id}/acknowledge", token)
    assert again.status_code == 409  # illegal move, shown on the page
    assert field_error(again.text, "ack").startswith("This can no longer be done")


def test_escalating_opens_an_incident_with_the_sample_cases(
    client: TestClient, db: Session, wave: Wave
) -> None:
    lead = make_staff(db, role=Role.policy_lead)
    token = login_as(client, db, lead)
    page = client.get(f"/trends/alerts/{wave.alert_id}")
    prefilled = re.search(
        r'id="escalate-title" name="title" maxlength="200" value="([^"]*)"', page.text
    )
    assert prefilled is not None
    assert re.fullmatch(r"Report reason = scam up 13\.3x since \d+ \w{3} 14:00", prefilled.group(1))
    blank = _form(client, f"/trends/alerts/{wave.alert_id}/escalate", token, title=" ")
    assert blank.status_code == 422
    assert field_error(blank.text, "escalate-title") == "Give the incident a title"
    done = _form(
        client, f"/trends/alerts/{wave.alert_id}/escalate", token, title=prefilled.group(1)
    )
    assert done.status_code == 303
    found = re.match(r"/incidents/(\d+)\?notice=escalated", done.headers["location"])
    assert found is not None
    incident_id = int(found.group(1))
    db.expire_all()
    linked = set(
        db.scalars(select(IncidentCase.case_id).where(IncidentCase.incident_id == incident_id))
    )
    title = db.scalar(select(Incident.title).where(Incident.id == incident_id))
    db.rollback()
    assert linked == set(wave.case_ids)
    assert title == prefilled.group(1)
    assert fresh(db, TrendAlert, wave.alert_id).status == AlertStatus.escalated
    incident = client.get(done.headers["location"])
    assert "Incident opened from the alert" in incident.text
    assert f'href="/trends/alerts/{wave.alert_id}"' in incident.text
    alert_page = client.get(f"/trends/alerts/{wave.alert_id}")
    assert f'href="/incidents/{incident_id}">INC-{incident_id}</a>' in alert_page.text


def test_unknown_alerts_and_clusters_are_404_pages(client: TestClient, db: Session) -> None:
    agent = make_staff(db, role=Role.agent)
    token = login_as(client, db, agent)
    for url in (
        "/trends/alerts/999999",
        "/trends/clusters/999999",
        "/trends/alerts/99999999999999999999",
    ):
        page = client.get(url, headers={"Accept": "text/html"})
        assert page.status_code == 404 and "Not found" in page.text
    refused = _form(client, "/trends/alerts/999999/escalate", token, title="x")
    assert refused.status_code == 404


# --- clusters ---------------------------------------------------------------------------------


def test_a_cluster_shows_its_examples_and_can_be_dismissed_or_escalated(
    client: TestClient, db: Session, wave: Wave
) -> None:
    assert wave.cluster_id is not None
    lead = make_staff(db, role=Role.policy_lead, name="Lucía Policy")
    token = login_as(client, db, lead)
    url = f"/trends/clusters/{wave.cluster_id}"
    page = client.get(url)
    assert page.status_code == 200
    examples = page.text.split('id="examples"')[1].split("</section>")[0]
    assert "Pay me directly by Wise" in examples
    assert "deal" not in examples or "@example.com" not in examples  # contacts masked
    size = re.search(r'id="cluster-accounts">(\d+)<', page.text)
    assert size is not None and int(size.group(1)) >= 3
    for case_id in wave.case_ids:
        assert f'href="/cases/{case_id}"' in page.text
    refused = _form(client, f"{url}/dismiss", token, reason="")
    assert refused.status_code == 422
    assert field_error(refused.text, "dismiss-reason") == "Give the reason for dismissing it"
    done = _form(client, f"{url}/acknowledge", token, note="Same wave as the alert")
    assert done.status_code == 303
    assert fresh(db, TextCluster, wave.cluster_id).status == ClusterStatus.acknowledged
    done = _form(client, f"{url}/escalate", token, title="Wise scam wave (texts)")
    assert done.status_code == 303
    assert re.match(r"/incidents/\d+\?notice=escalated_cluster", done.headers["location"])
    assert fresh(db, TextCluster, wave.cluster_id).status == ClusterStatus.escalated
    assert audits(db, "analytics.cluster.acknowledge") == 1
