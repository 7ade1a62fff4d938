"""``vigil dsa export`` and ``vigil dsa validate``: batch files the Transparency Database takes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.dsa.conftest import make_account, spec_for, valid_fields
from vigil.audit.models import AuditRecord
from vigil.auth.principal import Principal
from vigil.cli import app
from vigil.config import Settings
from vigil.dsa import export, service
from vigil.dsa.models import Statement
from vigil.dsa.rules import validate_batch
from vigil.kit import clock

ACTOR = Principal.system("test")


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    return CliRunner()


def _make(db: Session, settings: Settings, at: datetime, n: int = 1) -> list[Statement]:
    account = make_account(db)
    with clock.frozen(at):
        return [
            service.create_statement(db, spec_for(account), settings=settings) for _ in range(n)
        ]


def _read(path: Path) -> dict[str, object]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_205_statements_make_three_valid_batches(
    db: Session, settings: Settings, tmp_path: Path
) -> None:
    made = _make(db, settings, datetime(2026, 11, 10, 12, tzinfo=UTC), 205)
    with clock.frozen(datetime(2026, 12, 1, 8, tzinfo=UTC)):
        result = export.export_statements(
            db, ACTOR, since=date(2026, 11, 1), until=date(2026, 11, 30), out_dir=tmp_path
        )
    assert [(f.path.name, f.count) for f in result.files] == [
        ("sor-2026-11-01-2026-11-30-001.json", 100),
        ("sor-2026-11-01-2026-11-30-002.json", 100),
        ("sor-2026-11-01-2026-11-30-003.json", 5),
    ]
    puids = []
    for f in result.files:
        body = _read(f.path)
        assert validate_batch(body) == []
        assert set(body) == {"statements"}
        puids += [s["puid"] for s in body["statements"]]  # type: ignore[attr-defined, index]
    # Every statement once, in the order made, exactly as stored.
    assert puids == [s.puid for s in made]
    assert _read(result.files[2].path)["statements"][-1] == made[-1].fields  # type: ignore[index]
    db.expire_all()
    assert {s.exported_at for s in db.scalars(select(Statement))} == {
        datetime(2026, 12, 1, 8, tzinfo=UTC)
    }
    [record] = db.scalars(select(AuditRecord).where(AuditRecord.action == "dsa.statement.export"))
    assert record.data["count"] == 205 and len(record.data["files"]) == 3


def test_the_window_takes_whole_days_in_utc(
    db: Session, settings: Settings, tmp_path: Path
) -> None:
    before = _make(db, settings, datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC))
    first = _make(db, settings, datetime(2026, 11, 21, 0, 0, tzinfo=UTC))
    last = _make(db, settings, datetime(2026, 11, 23, 23, 59, 59, 999999, tzinfo=UTC))
    after = _make(db, settings, datetime(2026, 11, 24, 0, 0, tzinfo=UTC))
    result = export.export_statements(
        db, ACTOR, since=date(2026, 11, 21), until=date(2026, 11, 23), out_dir=tmp_path
    )
    [only] = result.files
    exported = [s["puid"] for s in _read(only.path)["statements"]]  # type: ignore[attr-defined]
    assert exported == [first[0].puid, last[0].puid]
    assert before[0].exported_at is None and after[0].exported_at is None


def test_pending_skips_what_was_exported_before(
    db: Session, settings: Settings, tmp_path: Path
) -> None:
    old = _make(db, settings, datetime(2026, 11, 21, 10, tzinfo=UTC), 2)
    window = {"since": date(2026, 11, 21), "until": date(2026, 11, 21)}
    export.export_statements(db, ACTOR, **window, out_dir=tmp_path / "a")
    new = _make(db, settings, datetime(2026, 11, 21, 18, tzinfo=UTC))
    again = export.export_statements(db, ACTOR, **window, out_dir=tmp_path / "b", only_pending=True)
    [only] = again.files
    assert [s["puid"] for s in _read(only.path)["statements"]] == [new[0].puid]  # type: ignore[attr-defined]
    everything = export.export_statements(db, ACTOR, **window, out_dir=tmp_path / "c")
    assert everything.total == len(old) + 1


def test_an_empty_window_writes_nothing(db: Session, settings: Settings, tmp_path: Path) -> None:
    _make(db, settings, datetime(2026, 11, 21, 10, tzinfo=UTC))
    result = export.export_statements(
        db, ACTOR, since=date(2026, 10, 1), until=date(2026, 10, 31), out_dir=tmp_path / "out"
    )
    assert result.files == [] and result.total == 0
    assert not (tmp_path / "out").exists()


def test_a_statement_the_database_would_refuse_stops_the_export(
    db: Session, settings: Settings, tmp_path: Path
) -> None:
    good, bad = _make(db, settings, datetime(2026, 11, 21, 10, tzinfo=UTC), 2)
    broken = {**bad.fields, "category": "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT"}
    db.execute(update(Statement).where(Statement.id == bad.id).values(fields=broken))
    db.expire_all()
    with pytest.raises(export.ExportRefused) as caught:
        export.export_statements(
            db, ACTOR, since=date(2026, 11, 21), until=date(2026, 11, 21), out_dir=tmp_path / "out"
        )
    assert list(caught.value.invalid) == [bad.reference]
    assert caught.value.field == "statement.category"
    assert not (tmp_path / "out").exists()
    assert db.get(Statement, good.id).exported_at is None  # type: ignore[union-attr]


def test_a_window_ending_before_it_starts_is_refused(db: Session, tmp_path: Path) -> None:
    with pytest.raises(export.InvalidInput) as caught:
        export.export_statements(
            db, ACTOR, since=date(2026, 11, 2), until=date(2026, 11, 1), out_dir=tmp_path
        )
    assert caught.value.field == "until"


# --- the commands -----------------------------------------------------------------------------


def test_export_command_prints_files_and_counts(
    runner: CliRunner, db: Session, settings: Settings, tmp_path: Path
) -> None:
    _make(db, settings, datetime(2026, 11, 21, 10, tzinfo=UTC), 3)
    db.commit()
    out = tmp_path / "batches"
    done = runner.invoke(
        app,
        ["dsa", "export", "--since", "2026-11-21", "--until", "2026-11-21", "--out", str(out)],
    )
    assert done.exit_code == 0, done.output
    assert "sor-2026-11-21-2026-11-21-001.json  3 statements" in done.output
    assert "3 statements in 1 files" in done.output
    checked = runner.invoke(
        app, ["dsa", "validate", str(out / "sor-2026-11-21-2026-11-21-001.json")]
    )
    assert checked.exit_code == 0, checked.output
    assert "3 statements, all valid" in checked.output
    db.expire_all()
    assert all(s.exported_at is not None for s in db.scalars(select(Statement)))


def test_export_command_with_nothing_in_the_window(runner: CliRunner, tmp_path: Path) -> None:
    done = runner.invoke(
        app,
        [
            "dsa",
            "export",
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-31",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "no statements created from 2026-01-01 to 2026-01-31" in done.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "21/11/2026", "--until", "2026-11-30"],
        ["--since", "2026-11-30", "--until", "2026-11-01"],
    ],
    ids=["bad date", "until before since"],
)
def test_export_command_refuses_a_bad_window(
    runner: CliRunner, tmp_path: Path, args: list[str]
) -> None:
    done = runner.invoke(app, ["dsa", "export", *args, "--out", str(tmp_path / "out")])
    assert done.exit_code != 0
    assert not (tmp_path / "out").exists()


def test_validate_command_lists_every_violation(runner: CliRunner, tmp_path: Path) -> None:
    body = {
        "statements": [
            valid_fields(puid="a-1"),
            valid_fields(puid="a-1", category="Scams and/or fraud"),
            valid_fields(puid="a-3", decision_ground=..., content_date="2026-13-01"),
        ]
    }
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    done = runner.invoke(app, ["dsa", "validate", str(path)])
    assert done.exit_code == 1
    lines = done.output.strip().splitlines()
    assert lines[:-1] == [
        "statement_1.category: invalid_choice: The selected category is invalid.",
        "statement_1.puid: duplicate: The puid is not unique within this call (statement_0).",
        "statement_2.decision_ground: required: The decision ground field is required.",
        "statement_2.content_date: invalid_format: "
        "The content date does not match the format YYYY-MM-DD.",
    ]
    assert lines[-1].endswith("4 violations in 2 of 3 statements")


def test_validate_command_on_a_file_that_is_not_json(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text("{statements: }", encoding="utf-8")
    done = runner.invoke(app, ["dsa", "validate", str(path)])
    assert done.exit_code == 1 and "is not JSON" in done.output
    missing = runner.invoke(app, ["dsa", "validate", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_window_is_inclusive_in_utc() -> None:
    start, end = service.window(date(2026, 11, 21), date(2026, 11, 21))
    assert (start, end) == (
        datetime(2026, 11, 21, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC) + timedelta(days=1),
    )


def test_statements_are_read_in_order_across_chunks(db: Session, settings: Settings) -> None:
    made = _make(db, settings, datetime(2026, 11, 21, 10, tzinfo=UTC), 3)
    made += _make(db, settings, datetime(2026, 11, 21, 9, tzinfo=UTC), 2)  # created earlier
    rows = list(export._rows(db, date(2026, 11, 21), date(2026, 11, 21), False, chunk=2))
    assert rows == made[3:] + made[:3]
