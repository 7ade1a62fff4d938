"""Fixtures for the text models: a data folder written by the tests, and models trained on it
once per test session (scikit-learn is only needed for training, never for scoring)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.detection.text.synthetic import write_data
from vigil.detection.text import classifiers
from vigil.detection.text import train as training


@pytest.fixture(scope="session")
def text_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data(tmp_path_factory.mktemp("text-data"))


@pytest.fixture(scope="session")
def trained_dir(text_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both models trained on the synthetic data (v1 of each). Tests must not write here."""
    out = tmp_path_factory.mktemp("artifacts")
    for name in training.TRAINING_SETS:
        training.train_model(name, text_data, out)
    return out


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> None:
    # ``load`` caches per (name, folder); tests that write new versions into their own
    # folders must not see a model cached by another test.
    classifiers.load.cache_clear()
