"""``vigil models``: train, list, score and scan, as a user runs them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from vigil.detection.text.cli import cli

runner = CliRunner()


def plain(output: str) -> str:
    """Click's error box wraps long lines (a temporary path is long): read it unwrapped."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_train_then_list_then_score(text_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "models"
    trained = runner.invoke(cli, ["train", "--data", str(text_data), "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    assert f"scam: wrote {out / 'scam-v1.json'}" in trained.output
    assert f"abuse: wrote {out / 'abuse-v1.json'}" in trained.output
    assert "parity" in trained.output

    again = runner.invoke(
        cli, ["train", "--data", str(text_data), "--out", str(out), "--model", "scam"]
    )
    assert again.exit_code == 0, again.output
    assert "scam: unchanged, same weights as v1" in again.output
    assert "abuse" not in again.output

    listed = runner.invoke(cli, ["list", "--dir", str(out)])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split()[:3] == ["model", "ver", "trained"]
    assert any(line.startswith("scam") and "CC BY 4.0 *" in line for line in lines)
    assert any(line.startswith("abuse") and "MIT *" in line for line in lines)

    scored = runner.invoke(
        cli,
        ["score", "scam", "WINNER!! claim your cash prize, call 09061701461", "--dir", str(out)],
    )
    assert scored.exit_code == 0, scored.output
    assert scored.output.startswith("scam v1: ")
    assert "above its threshold" in scored.output


def test_list_marks_an_invalid_file(trained_dir: Path, tmp_path: Path) -> None:
    shutil.copy(trained_dir / "scam-v1.json", tmp_path / "scam-v1.json")
    (tmp_path / "scam-v2.json").write_text('{"format": 1}', encoding="utf-8")
    listed = runner.invoke(cli, ["list", "--dir", str(tmp_path)])
    assert listed.exit_code == 0
    assert "scam       2  INVALID" in listed.output


def test_list_of_the_shipped_models() -> None:
    listed = runner.invoke(cli, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "scam" in listed.output and "abuse" in listed.output


def test_score_errors(tmp_path: Path) -> None:
    missing = runner.invoke(cli, ["score", "reviews", "hello"])
    assert missing.exit_code == 1
    assert "no model named 'reviews'" in missing.output
    bad_name = runner.invoke(cli, ["score", "../scam", "hello"])
    assert bad_name.exit_code == 1 and "not a model name" in bad_name.output
    (tmp_path / "scam-v1.json").write_text("not json", encoding="utf-8")
    broken = runner.invoke(cli, ["score", "scam", "hello", "--dir", str(tmp_path)])
    assert broken.exit_code == 1 and "not valid JSON" in broken.output
    no_dir = runner.invoke(cli, ["score", "scam", "hello", "--dir", str(tmp_path / "nope")])
    assert no_dir.exit_code == 2 and "is not a folder" in plain(no_dir.output)


def test_train_errors(tmp_path: Path) -> None:
    no_data = runner.invoke(cli, ["train", "--data", str(tmp_path / "nowhere")])
    assert no_data.exit_code == 1 and "No data folder" in no_data.output
    unknown = runner.invoke(cli, ["train", "--data", str(tmp_path), "--model", "reviews"])
    assert unknown.exit_code == 2 and "unknown model 'reviews'" in plain(unknown.output)
    empty = runner.invoke(cli, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert empty.exit_code == 1 and "no training data" in empty.output
    assert not (tmp_path / "o").exists()


def test_scan_human_and_json() -> None:
    text = "pay me directly, whatsapp nine one seven five five five zero one two three"
    human = runner.invoke(cli, ["scan", text])
    assert human.exit_code == 0, human.output
    assert "(flagged)" in human.output
    assert "phones: 9175550123" in human.output
    assert "disguised" in human.output
    assert "scam " in human.output and "abuse " in human.output

    as_json = runner.invoke(cli, ["scan", "see you at 5", "--json"])
    assert as_json.exit_code == 0
    payload = json.loads(as_json.output)
    assert payload["score"] == 0.0 and payload["flagged"] is False
    assert set(payload["models"]) == {"scam", "abuse"}
