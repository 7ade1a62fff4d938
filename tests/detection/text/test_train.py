"""Training: the data it accepts, the versions it writes, and that the JSON scorer agrees with
scikit-learn."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.detection.text.synthetic import write_data
from vigil.detection.text import artifact as fmt
from vigil.detection.text import classifiers
from vigil.detection.text import train as training


def test_trained_models_score_like_scikit_learn(text_data: Path, trained_dir: Path) -> None:
    for name in training.TRAINING_SETS:
        spec = training.TRAINING_SETS[name]
        model = classifiers.load_file(trained_dir / f"{name}-v1.json")
        assert model.metrics["parity_max_abs_diff"] <= training.PARITY_TOLERANCE
        # Refit the same pipeline independently and compare on the held-out messages.
        config = training.TrainConfig()
        corpus = training.read_training_set(spec, text_data)
        train_idx, test_idx = training.split(corpus, config)
        prepared = [classifiers.preprocess(t, spec.preprocess) for t in corpus.texts]
        pipeline = training.make_pipeline(config).fit(
            [prepared[i] for i in train_idx], corpus.labels[train_idx]
        )
        theirs = pipeline.predict_proba([prepared[i] for i in test_idx])[:, 1]
        ours = model.score_many(corpus.texts[i] for i in test_idx)
        assert np.max(np.abs(ours - theirs)) < 1e-6


def test_artifact_records_where_the_model_came_from(trained_dir: Path) -> None:
    model = classifiers.load_file(trained_dir / "scam-v1.json")
    art = model.artifact
    assert art.name == "scam" and art.version == 1
    assert art.data["licence"] == "CC BY 4.0" and "Almeida" in art.data["attribution"]
    assert art.data["rows"] == 101 and art.data["duplicates_dropped"] == 1
    assert art.training["seed"] == training.TrainConfig().seed
    held = art.metrics["held_out"]
    assert held["rows"] == 20 and 0.0 <= held["f1"] <= 1.0
    assert 0.0 < art.threshold < 1.0
    assert art.trained_at.startswith("20")
    abuse = classifiers.load_file(trained_dir / "abuse-v1.json").artifact
    assert abuse.preprocess == ("html_unescape", "mask_urls", "mask_mentions")
    assert abuse.data["licence"] == "MIT"


def test_trained_models_learn_the_obvious(trained_dir: Path) -> None:
    scam = classifiers.load("scam", trained_dir)
    abuse = classifiers.load("abuse", trained_dir)
    assert scam is not None and abuse is not None
    assert scam.score("WINNER!! claim your cash prize now, call 09061701461") > 0.5
    assert scam.score("are we still meeting at the station tomorrow?") < 0.5
    assert abuse.score("shut up you stupid idiot") > abuse.score("watching the game tonight")


def test_retraining_on_the_same_data_writes_nothing(
    text_data: Path, trained_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "artifacts"
    shutil.copytree(trained_dir, out)
    result = training.train_model("scam", text_data, out)
    assert result.path is None and result.previous == 1
    assert classifiers.available(out)["scam"] == [1]


def test_new_data_writes_the_next_version(trained_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    shutil.copytree(trained_dir, out)
    other = write_data(tmp_path / "other-data", seed=99)
    result = training.train_model("scam", other, out)
    assert result.path == out / "scam-v2.json"
    assert classifiers.available(out)["scam"] == [1, 2]
    newest = classifiers.load("scam", out)
    assert newest is not None and newest.version == 2


def test_duplicates_and_contradictions_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "sms_spam" / "SMSSpamCollection"
    path.parent.mkdir(parents=True)
    path.write_text(
        "Label\tSMS\nham\thello there\nham\thello  there\nspam\tfree prize\nham\tfree prize\n"
        "spam\twin cash\n",
        encoding="utf-8",
    )
    corpus = training.read_training_set(training.TRAINING_SETS["scam"], tmp_path)
    assert corpus.texts == ["hello there", "win cash"]
    assert corpus.labels.tolist() == [0, 1]
    assert corpus.stats["duplicates_dropped"] == 2
    assert corpus.stats["conflicting_dropped"] == 1


def test_evaluation_only_data_never_trains(tmp_path: Path) -> None:
    spec = training.TrainingSet(
        model="scam",
        path="smishing/Dataset_5971.csv",
        reader=training.read_uci_sms,
        description="",
        positive="spam",
        negative="ham",
        source="",
        licence="",
        attribution="",
        preprocess=(),
    )
    with pytest.raises(training.TrainingError, match="evaluation-only"):
        training.read_training_set(spec, tmp_path)
    assert all(
        Path(s.path).parts[0] not in training.EVALUATION_ONLY
        for s in training.TRAINING_SETS.values()
    )


def test_bad_training_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(training.TrainingError, match="no training data"):
        training.train_model("scam", tmp_path, tmp_path / "out")
    path = tmp_path / "sms_spam" / "SMSSpamCollection"
    path.parent.mkdir(parents=True)
    path.write_text("Label\tSMS\nmaybe\tsome text\n", encoding="utf-8")
    with pytest.raises(training.TrainingError, match=r"ham\|spam"):
        training.train_model("scam", tmp_path, tmp_path / "out")
    csv_path = tmp_path / "offensive" / "labeled_data.csv"
    csv_path.parent.mkdir(parents=True)
    csv_path.write_text("id,text\n1,hello\n", encoding="utf-8")
    with pytest.raises(training.TrainingError, match="'class' and 'tweet'"):
        training.train_model("abuse", tmp_path, tmp_path / "out")
    with pytest.raises(training.TrainingError, match="no training set"):
        training.train_model("reviews", tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_written_file_is_plain_json_with_one_line_per_key(trained_dir: Path) -> None:
    text = (trained_dir / "scam-v1.json").read_text(encoding="utf-8")
    assert text.startswith('{\n  "format": "vigil.text-model"')
    assert len(text.splitlines()) == len(fmt._TOP_KEYS) + 2
