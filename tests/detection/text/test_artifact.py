"""The artifact format: a round trip keeps every number, and a malformed or tampered file is
refused with an error naming the field, without ever running code from it."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vigil.detection.text import artifact as fmt
from vigil.detection.text import classifiers
from vigil.detection.text.artifact import ArtifactError


def doc_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_signed(doc: dict[str, Any], path: Path) -> Path:
    """Write ``doc`` with a checksum that matches it: what a careful forger would do."""
    body = {k: v for k, v in doc.items() if k != "sha256"}
    doc = body | {"sha256": hashlib.sha256(fmt.canonical(body)).hexdigest()}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_round_trip_keeps_every_number(trained_dir: Path) -> None:
    original = fmt.read(trained_dir / "scam-v1.json")
    again = fmt.loads(fmt.dumps(original))
    assert again.sha256 == original.sha256
    assert np.array_equal(again.coef, original.coef)
    assert again.intercept == original.intercept
    for a, b in zip(again.features, original.features, strict=True):
        assert a.vocabulary == b.vocabulary
        assert np.array_equal(a.idf, b.idf)
    assert again.weights_digest() == original.weights_digest()


def test_an_edited_file_is_refused(trained_dir: Path, tmp_path: Path) -> None:
    doc = doc_of(trained_dir / "scam-v1.json")
    doc["coef"][0] += 1.0
    path = tmp_path / "scam-v1.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ArtifactError, match="sha256: does not match the content") as info:
        classifiers.load_file(path)
    assert info.value.field == "sha256"
    assert str(path) in str(info.value)


def test_a_pickle_is_refused_without_being_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
            return (Path.touch, (marker,))

    path = tmp_path / "scam-v1.json"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ArtifactError, match="not valid JSON"):
        classifiers.load_file(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.pop("coef"), "coef"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d.update(format="sklearn-pickle"), "format"),
        (lambda d: d.update(format_version=2), "format_version"),
        (lambda d: d.update(name="Scam!"), "name"),
        (lambda d: d.update(version=0), "version"),
        (lambda d: d.update(threshold=1.5), "threshold"),
        (lambda d: d.update(intercept="1"), "intercept"),
        (lambda d: d.update(preprocess=["eval"]), "preprocess[0]"),
        (lambda d: d["coef"].pop(), "coef"),
        (lambda d: d["coef"].__setitem__(0, "x"), "coef"),
        (lambda d: d["features"][0].update(token_pattern="(a+)+$"), "features[0].token_pattern"),
        (lambda d: d["features"][0].update(analyzer="callable"), "features[0].analyzer"),
        (lambda d: d["features"][0].update(ngram_range=[3, 1]), "features[0].ngram_range"),
        (lambda d: d["features"][0]["idf"].pop(), "features[0].idf"),
        (lambda d: d["features"][0]["idf"].__setitem__(0, 0.5), "features[0].idf"),
        (
            lambda d: d["features"][1]["vocabulary"].__setitem__(
                1, d["features"][1]["vocabulary"][0]
            ),
            "features[1].vocabulary",
        ),
        (lambda d: d["features"][0].update(lowercase="yes"), "features[0].lowercase"),
        (lambda d: d["features"][0].update(norm="l1"), "features[0].norm"),
        (lambda d: d.update(features=[]), "features"),
        (lambda d: d["metrics"].update(bad={"a": {"b": {"c": {"d": {"e": 1}}}}}), "metrics.bad"),
    ],
)
def test_malformed_content_is_refused_by_field(
    trained_dir: Path, tmp_path: Path, edit: Any, field: str
) -> None:
    doc = doc_of(trained_dir / "scam-v1.json")
    edit(doc)
    path = write_signed(doc, tmp_path / "scam-v1.json")
    with pytest.raises(ArtifactError) as info:
        classifiers.load_file(path)
    assert info.value.field.startswith(field), str(info.value)


def test_non_finite_numbers_are_refused(trained_dir: Path, tmp_path: Path) -> None:
    text = (trained_dir / "scam-v1.json").read_text(encoding="utf-8")
    path = tmp_path / "scam-v1.json"
    path.write_text(text.replace('"intercept": ', '"intercept": NaN, "x": ', 1), encoding="utf-8")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        classifiers.load_file(path)


def test_the_file_name_must_match_the_content(trained_dir: Path, tmp_path: Path) -> None:
    shutil.copy(trained_dir / "scam-v1.json", tmp_path / "scam-v2.json")
    with pytest.raises(ArtifactError, match="the file says scam v1"):
        classifiers.load_file(tmp_path / "scam-v2.json")


def test_a_missing_file_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot read it"):
        classifiers.load_file(tmp_path / "scam-v1.json")


def test_an_invalid_newest_version_is_not_quietly_skipped(
    trained_dir: Path, tmp_path: Path
) -> None:
    shutil.copy(trained_dir / "scam-v1.json", tmp_path / "scam-v1.json")
    (tmp_path / "scam-v2.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ArtifactError):
        classifiers.load("scam", tmp_path)
