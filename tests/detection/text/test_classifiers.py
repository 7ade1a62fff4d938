# ruff: noqa: RUF001
"""Loading and scoring: the shipped models, the null model, and that the numpy scorer's
n-grams are scikit-learn's exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vigil.detection.text import classifiers
from vigil.detection.text.artifact import FeatureBlock


def test_shipped_models_load_and_say_where_they_came_from() -> None:
    shipped = classifiers.available()
    assert set(shipped) == {"scam", "abuse"}
    for name in classifiers.MODEL_NAMES:
        model = classifiers.load(name)
        assert model is not None and model.version == shipped[name][-1]
        data = model.artifact.data
        assert data["licence"] in ("CC BY 4.0", "MIT") and data["attribution"]
        held = model.metrics["held_out"]
        assert held["f1"] > 0.9 and held["rows"] > 1000
        assert model.metrics["parity_max_abs_diff"] < 1e-6
        size = (classifiers.shipped_dir() / f"{name}-v{model.version}.json").stat().st_size
        assert size < 5_000_000


def test_shipped_scam_model_on_obvious_examples() -> None:
    scam = classifiers.load("scam")
    assert scam is not None
    assert scam.score("WINNER!! claim your free prize now call 09061701461") > 0.9
    assert scam.score("see you at the meeting tomorrow") < 0.1
    assert scam.flags("URGENT! You have won a 1 week FREE membership, txt WIN to 80086")
    assert not scam.flags("Can you send me the final logo files when you're done?")


def test_shipped_abuse_model_on_obvious_examples() -> None:
    abuse = classifiers.load("abuse")
    assert abuse is not None
    assert abuse.score("shut up you stupid bitch") > 0.9
    assert abuse.score("thanks, the logo looks great") < 0.2
    assert abuse.score("see you at the meeting tomorrow") < abuse.threshold


def test_score_helper_and_the_null_model(tmp_path: Path) -> None:
    assert classifiers.score("scam", "WINNER!! claim your prize, call 09061701461") > 0.9
    assert classifiers.load("reviews") is None
    assert classifiers.load("scam", tmp_path) is None  # an empty folder: no model
    assert classifiers.available(tmp_path / "missing") == {}
    with pytest.raises(ValueError, match="not a model name"):
        classifiers.load("../scam")


def test_load_takes_the_newest_version_once(trained_dir: Path, tmp_path: Path) -> None:
    shutil.copy(trained_dir / "abuse-v1.json", tmp_path / "abuse-v1.json")
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    first = classifiers.load("abuse", tmp_path)
    assert first is not None and first.version == 1
    assert classifiers.load("abuse", tmp_path) is first  # cached


@pytest.mark.parametrize(
    "text",
    [
        "Hello  World!! Ça va?  Olá, ação… ｆｕｌｌ width & tabs\tand\nnewlines",
        "a",
        "",
        "WINNER!! 09061701461 £1000 T&C's",
        "ñandú cañón pingüino",
        "x" * 300,
    ],
)
def test_ngrams_are_scikit_learns(text: str) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    for analyzer, ngrams in (("word", (1, 3)), ("char_wb", (2, 5)), ("char_wb", (1, 1))):
        kwargs = {"token_pattern": r"(?u)\b\w\w+\b"} if analyzer == "word" else {}
        theirs = TfidfVectorizer(
            analyzer=analyzer, ngram_range=ngrams, strip_accents="unicode", **kwargs
        ).build_analyzer()(text)
        block = FeatureBlock(
            analyzer=analyzer,
            ngram_range=ngrams,
            lowercase=True,
            strip_accents="unicode",
            token_pattern=kwargs.get("token_pattern"),
            sublinear_tf=True,
            norm="l2",
            vocabulary=("a",),
            idf=np.ones(1),
        )
        assert sorted(classifiers.analyze(block, text)) == sorted(theirs)
