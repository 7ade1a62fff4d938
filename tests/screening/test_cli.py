"""``vigil screening load / lists / screen / remove``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from vigil.cli import app
from vigil.config import Settings
from vigil.screening.models import ScreeningEntry


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)


def _entries(db: Session) -> int:
    db.rollback()  # see what the CLI committed
    count = int(db.scalar(select(func.count()).select_from(ScreeningEntry)) or 0)
    db.rollback()  # and hold no lock while the CLI writes (SQLite begins IMMEDIATE)
    return count


def test_load_list_screen_and_remove(db: Session, env: None, tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["screening", "lists"])
    assert empty.exit_code == 0 and "no screening lists loaded" in empty.output

    loaded = runner.invoke(app, ["screening", "load", "--sample", "--list", "demo"])
    assert loaded.exit_code == 0, loaded.output
    assert "list demo: 12 entries loaded from sample.csv" in loaded.output

    ftm = tmp_path / "people.ftm.jsonl"
    ftm.write_text(
        '{"id": "p1", "schema": "Person", "properties": {"name": ["Petra Quellfeld"]}}\n'
        '{"id": "c1", "schema": "Company", "properties": {"name": ["Quellfeld AG"]}}\n',
        encoding="utf-8",
    )
    other = runner.invoke(app, ["screening", "load", str(ftm), "--list", "pep"])
    assert other.exit_code == 0, other.output
    assert "list pep: 1 entries loaded from people.ftm.jsonl, 1 other entities skipped" in (
        other.output
    )
    assert _entries(db) == 13

    listed = runner.invoke(app, ["screening", "lists"])
    assert listed.exit_code == 0
    rows = listed.output.splitlines()
    assert rows[1].split()[:3] == ["demo", "12", "csv"]
    assert rows[2].split()[:3] == ["pep", "1", "ftm"]

    hit = runner.invoke(
        app, ["screening", "screen", "JURGEN OBERHOLTZ KRAMMER", "--birth-date", "1959-11-02"]
    )
    assert hit.exit_code == 0, hit.output
    assert "100.0  hit       demo/vgl-sample-002" in hit.output
    assert "birth date agrees" in hit.output
    assert runner.invoke(app, ["screening", "screen", "Nobody Atall"]).output == "no hits\n"

    removed = runner.invoke(app, ["screening", "remove", "pep"])
    assert removed.exit_code == 0 and _entries(db) == 12


def test_a_bad_file_changes_nothing(db: Session, env: None, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["screening", "load", "--sample", "--list", "demo"]).exit_code == 0
    bad = tmp_path / "list.csv"
    bad.write_text("id,name,birth_date\n1,Ana Ruiz,1970-01-01\n2,Bea Sanz,yesterday\n")
    result = runner.invoke(app, ["screening", "load", str(bad), "--list", "demo"])
    assert result.exit_code == 1
    assert "error (birth_date): line 3: birth date 'yesterday'" in result.output
    assert _entries(db) == 12  # the old list is intact

    unknown = tmp_path / "list.xlsx"
    unknown.write_bytes(b"PK")
    guessed = runner.invoke(app, ["screening", "load", str(unknown), "--list", "demo"])
    assert guessed.exit_code == 1 and "error (format)" in guessed.output


def test_screen_labels_entries_as_the_identity_check_does(db: Session, env: None) -> None:
    """A full name match is a hit only with the birth date agreeing; unknown or differing, it
    is a possible hit (docs/screening.md), as ``identity.checks.screening`` classifies it."""
    runner = CliRunner()
    assert runner.invoke(app, ["screening", "load", "--sample", "--list", "demo"]).exit_code == 0
    name = "JURGEN OBERHOLTZ KRAMMER"

    def line(*extra: str) -> str:
        out = runner.invoke(app, ["screening", "screen", name, *extra])
        assert out.exit_code == 0, out.output
        return next(x for x in out.output.splitlines() if "demo/vgl-sample-002" in x)

    agrees = line("--birth-date", "1959-11-02")
    assert agrees.startswith("100.0  hit ") and "birth date agrees" in agrees
    unknown = line()
    assert unknown.startswith("100.0  possible ") and "birth date unknown" in unknown
    differs = line("--birth-date", "1961-01-01")
    assert differs.startswith("100.0  possible ") and "birth date differs" in differs
