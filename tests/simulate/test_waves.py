"""Injected trend changes: a run with a wave is the same run plus the wave's events, and those
events move exactly what the wave's label says, from its start."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli import app
from vigil.config import Settings
from vigil.kit import clock
from vigil.simulate import waves
from vigil.simulate.events import EventStream, SimEvent, generate, read_events
from vigil.simulate.generator import make_plan
from vigil.simulate.plan import Label

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
WAVE_START = NOW - timedelta(days=8)
SPIKE_START = NOW - timedelta(days=4)


@cache
def clean() -> EventStream:
    return generate(make_plan(8, 1500, 28, NOW, with_cases=False))


@cache
def injected() -> EventStream:
    plan = make_plan(8, 1500, 28, NOW, with_cases=False)
    waves.apply(
        plan,
        [
            waves.scam_wave(WAVE_START, days=5, per_day=3),
            waves.reason_spike(SPIKE_START, reason="quality", country="MX", days=2, per_day=12),
        ],
    )
    return generate(plan)


def _key(e: SimEvent) -> str:
    # Event ids are numbered in time order, so they shift when events are added.
    body = {k: v for k, v in e.envelope.items() if k != "event_id"}
    return repr(sorted(body.items()))


def _reports(stream: EventStream, reason: str, lo: datetime, hi: datetime) -> list[SimEvent]:
    return [
        e
        for e in stream.events
        if e.type == "report_filed" and e.envelope["data"]["reason"] == reason and lo <= e.at < hi
    ]


def test_a_run_with_waves_is_the_same_run_plus_the_labelled_wave_events() -> None:
    before, after = Counter(map(_key, clean().events)), Counter(map(_key, injected().events))
    assert not before - after  # nothing of the ordinary run is lost or changed
    added = after - before
    labelled = [e for e in injected().events if waves.wave_of(e.label.what)]
    assert sum(added.values()) == len(labelled) > 0
    assert Counter(map(_key, labelled)) == added
    assert {waves.wave_of(e.label.what) for e in labelled} == {
        f"scam_wave-{WAVE_START:%Y%m%d}",
        f"reason_spike-quality-MX-{SPIKE_START:%Y%m%d}",
    }
    # The rest of the run keeps its accounts: the crew is appended with ids of its own.
    ids = [e.envelope["account_id"] for e in labelled if e.type == "signup"]
    assert ids and all("-w" in i for i in ids)
    assert set(clean().accounts) < set(injected().accounts)


def test_the_scam_wave_raises_scam_reports_from_its_start_in_its_own_words() -> None:
    day = timedelta(days=1)
    quiet = len(_reports(clean(), "scam", WAVE_START, WAVE_START + 5 * day))
    loud = _reports(injected(), "scam", WAVE_START, WAVE_START + 5 * day)
    assert len(loud) >= quiet + 5 * 5  # several a day more than usual
    assert (
        not [  # nothing of the wave before it starts
            e for e in injected().events if waves.wave_of(e.label.what) and e.at < WAVE_START
        ]
    )
    pitches = [
        e.envelope["data"]["text"]
        for e in injected().events
        if e.type == "message_sent" and waves.wave_of(e.label.what)
    ]
    # A new group of similar texts: every pitch is the escrow story, sent by new accounts.
    assert len(pitches) >= 50 and all(
        any(w in t for w in ("escrow", "garantía", "garantia")) for t in pitches
    )
    crew = {a.external_id: a for a in injected().accounts.values() if "-w" in a.external_id}
    assert crew and all(a.actor == Label.scammer and a.bad for a in crew.values())


def test_the_spike_moves_one_reason_in_one_country_and_nothing_else() -> None:
    lo, hi = SPIKE_START, SPIKE_START + timedelta(days=2)
    spike = [e for e in injected().events if (w := waves.wave_of(e.label.what)) and "spike" in w]
    assert len(spike) >= 20
    assert {e.type for e in spike} == {"report_filed"}
    assert {e.envelope["data"]["reason"] for e in spike} == {"quality"}
    assert all(lo <= e.at < hi for e in spike)
    plan = make_plan(8, 1500, 28, NOW, with_cases=False)
    country = {a.external_id: a.country for a in plan.accounts}
    assert {country[e.envelope["account_id"]] for e in spike} == {"MX"}
    assert len(_reports(injected(), "quality", lo, hi)) == len(
        _reports(clean(), "quality", lo, hi)
    ) + len(spike)


def test_specs_from_the_command_line() -> None:
    wave = waves.parse("reason_spike@-5,reason=rude,country=BR,days=1.5", NOW)
    assert wave.kind is waves.WaveKind.reason_spike
    assert wave.start == NOW - timedelta(days=5)
    assert wave.moves == (("report_reason", "rude"), ("country", "BR"))
    assert wave.days == 1.5
    scam = waves.parse("scam_wave@2026-11-10", NOW)
    assert scam.start == datetime(2026, 11, 10, tzinfo=UTC)
    assert scam.moves == (("report_reason", "scam"),) and scam.cluster
    for bad in ("flood", "scam_wave@soon", "scam_wave,reason=rude", "reason_spike,country=ZZ"):
        with pytest.raises(ValueError):
            waves.parse(bad, NOW)
    plan = make_plan(8, 50, 7, NOW, with_cases=False)
    with pytest.raises(ValueError, match="outside"):
        waves.apply(plan, [waves.scam_wave(NOW - timedelta(days=30))])


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    return CliRunner()


def test_cli_injects_a_wave_into_the_written_events(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    args = ["simulate", "events", "--accounts", "200", "--days", "10", "--seed", "4"]
    with clock.frozen(NOW):
        result = cli.invoke(app, [*args, "--out", str(out), "--inject", "scam_wave@-3,per_day=2"])
        bad = cli.invoke(app, [*args, "--out", str(out), "--inject", "tsunami"])
    assert result.exit_code == 0, result.output
    assert "injecting scam_wave-" in result.output and "report_reason=scam" in result.output
    escrow = [
        e for e in read_events(out) if e["type"] == "message_sent" and "escrow" in e["data"]["text"]
    ]
    assert escrow and min(e["occurred_at"] for e in escrow) >= (NOW - timedelta(days=3)).isoformat()
    assert bad.exit_code == 2 and "KIND" in bad.output


def test_a_scam_wave_works_on_every_kind_of_marketplace() -> None:
    for marketplace in ("services", "courses"):
        plan = make_plan(9, 400, 14, NOW, marketplace, with_cases=False)
        waves.apply(plan, [waves.scam_wave(NOW - timedelta(days=3), days=2, per_day=2)])
        injected_ = [e for e in generate(plan).events if waves.wave_of(e.label.what)]
        pitches = [e for e in injected_ if e.type == "message_sent"]
        crew = [a for a in plan.accounts if a.details.get("wave")]
        assert crew and all(a.marketplace == marketplace and a.is_seller for a in crew)
        assert len(pitches) >= 15 * len(crew) // 2  # they found buyers of their marketplace
