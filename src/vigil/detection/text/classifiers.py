"""Text classifiers (scam/spam, abuse/harassment): loading and scoring.

A model is TF-IDF features (word and character n-grams) and a logistic regression, trained by
``vigil models train`` (:mod:`vigil.detection.text.train`) and shipped as JSON in
``artifacts/`` (:mod:`vigil.detection.text.artifact`). Scoring re-implements exactly what
scikit-learn's ``TfidfVectorizer`` and ``LogisticRegression.predict_proba`` compute, with
numpy only: loading a model never unpickles anything and scoring needs no scikit-learn.
Training checks the two agree to 1e-6 on its held-out messages before it writes a file.

``load(name)`` returns the newest shipped version, cached, or ``None`` when there is none:
the null model. Features built on a model default to 0 when it is absent.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vigil.detection.text import artifact as fmt
from vigil.detection.text.artifact import Artifact, ArtifactError, FeatureBlock

__all__ = [
    "MODEL_NAMES",
    "ArtifactError",
    "LinearTextModel",
    "TextModel",
    "analyze",
    "available",
    "load",
    "load_file",
    "score",
    "shipped_dir",
]

MODEL_NAMES = ("scam", "abuse")

# Longer texts are scored on their first MAX_CHARS characters: a model's view of a message
# does not improve past a few pages, and the cost grows with the length.
MAX_CHARS = 5_000


class TextModel(Protocol):
    """What features and rules need from a text model."""

    name: str
    version: int
    threshold: float
    metrics: dict[str, Any]

    def score(self, text: str) -> float:
        """Probability in [0, 1] that ``text`` belongs to the model's positive class."""
        ...


_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's, for character n-grams


def preprocess(text: str, steps: Iterable[str]) -> str:
    """The named clean-up steps an artifact lists, applied before vectorizing (training
    applies the same function, so both sides see the same text)."""
    for step in steps:
        if step == "html_unescape":
            text = html.unescape(text)
        elif step == "mask_urls":
            text = _URL.sub(" URL ", text)
        elif step == "mask_mentions":
            text = _MENTION.sub(" @USER ", text)
        else:  # artifact validation only lets known steps through
            raise ValueError(f"unknown preprocessing step {step!r}")
    return text


def _strip_accents(text: str) -> str:
    # scikit-learn's strip_accents_unicode, character for character.
    if text.isascii():
        return text
    normalized = unicodedata.normalize("NFKD", text)
    return "".join(c for c in normalized if not unicodedata.combining(c))


class _Block:
    """One feature block ready to score: the vocabulary as a dict, the analyzer bound."""

    def __init__(self, block: FeatureBlock, offset: int) -> None:
        self.block = block
        self.offset = offset
        self.index = {term: i for i, term in enumerate(block.vocabulary)}
        self.idf = block.idf
        low, high = block.ngram_range
        self.low, self.high = low, high
        self.token = re.compile(block.token_pattern) if block.token_pattern else None

    def ngrams(self, text: str) -> list[str]:
        if self.block.lowercase:
            text = text.lower()
        if self.block.strip_accents == "unicode":
            text = _strip_accents(text)
        if self.block.analyzer == "word":
            assert self.token is not None
            return _word_ngrams(self.token.findall(text), self.low, self.high)
        return _char_wb_ngrams(text, self.low, self.high)

    def vector(self, text: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """The non-zero TF-IDF values of ``text``: column indexes and values."""
        index = self.index
        found: list[int] = []
        tallies: list[int] = []
        for gram, n in Counter(self.ngrams(text)).items():
            i = index.get(gram)
            if i is not None:
                found.append(i)
                tallies.append(n)
        if not found:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
        columns = np.asarray(found, dtype=np.intp)
        values = np.asarray(tallies, dtype=np.float64)
        if self.block.sublinear_tf:
            values = np.log(values) + 1.0
        values = values * self.idf[columns]
        if self.block.norm == "l2":
            norm = np.sqrt(np.dot(values, values))
            if norm > 0.0:
                values = values / norm
        return columns, values


def analyze(block: FeatureBlock, text: str) -> list[str]:
    """The n-grams ``block`` sees in ``text`` (in or out of its vocabulary): scikit-learn's
    ``build_analyzer()`` for the same settings, which the tests check."""
    return _Block(block, 0).ngrams(text)


def _word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
    # scikit-learn's _word_ngrams without stop words.
    if high == 1:
        return tokens
    out = list(tokens) if low == 1 else []
    n_tokens = len(tokens)
    for n in range(max(low, 2), min(high + 1, n_tokens + 1)):
        for i in range(n_tokens - n + 1):
            out.append(" ".join(tokens[i : i + n]))
    return out


def _char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    # scikit-learn's _char_wb_ngrams: n-grams inside words padded with one space.
    text = _WHITE_SPACES.sub(" ", text)
    out: list[str] = []
    append = out.append
    for word in text.split():
        w = " " + word + " "
        w_len = len(w)
        for n in range(low, high + 1):
            offset = 0
            append(w[offset : offset + n])
            while offset + n < w_len:
                offset += 1
                append(w[offset : offset + n])
            if offset == 0:  # a short word is counted once
                break
    return out


class LinearTextModel:
    """A TF-IDF + logistic regression model scored from its artifact."""

    def __init__(self, artifact: Artifact, *, path: Path | None = None) -> None:
        self.artifact = artifact
        self.path = path
        self.name = artifact.name
        self.version = artifact.version
        self.threshold = artifact.threshold
        self.metrics = artifact.metrics
        self.coef = artifact.coef
        self.intercept = artifact.intercept
        self.steps = artifact.preprocess
        self.blocks: list[_Block] = []
        offset = 0
        for block in artifact.features:
            self.blocks.append(_Block(block, offset))
            offset += len(block.vocabulary)

    def __repr__(self) -> str:
        return f"<LinearTextModel {self.name} v{self.version}>"

    def decision(self, text: str) -> float:
        """The logistic regression's raw score (log-odds)."""
        text = preprocess(text[:MAX_CHARS], self.steps)
        total = self.intercept
        for block in self.blocks:
            columns, values = block.vector(text)
            if columns.size:
                total += float(np.dot(values, self.coef[columns + block.offset]))
        return total

    def score(self, text: str) -> float:
        return _sigmoid(self.decision(text))

    def score_many(self, texts: Iterable[str]) -> npt.NDArray[np.float64]:
        return np.fromiter((self.score(t) for t in texts), dtype=np.float64)

    def flags(self, text: str) -> bool:
        return self.score(text) >= self.threshold


def _sigmoid(x: float) -> float:
    # scipy.special.expit, which scikit-learn uses, computed stably on both sides of 0.
    if x >= 0:
        return float(1.0 / (1.0 + np.exp(-x)))
    e = float(np.exp(x))
    return e / (1.0 + e)


def shipped_dir() -> Path:
    """The folder of the artifacts that ship inside the package."""
    return Path(str(resources.files("vigil.detection.text") / "artifacts"))


def available(directory: Path | None = None) -> dict[str, list[int]]:
    """Model name → versions present in ``directory`` (default: shipped), ascending."""
    folder = directory or shipped_dir()
    found: dict[str, list[int]] = {}
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        m = fmt.FILE_NAME.match(path.name)
        if m:
            found.setdefault(m.group(1), []).append(int(m.group(2)))
    return {name: sorted(versions) for name, versions in sorted(found.items())}


def load_file(path: Path) -> LinearTextModel:
    """Load one artifact file; :class:`ArtifactError` when it is not a valid model or its
    name and version disagree with the file name."""
    artifact = fmt.read(path)
    m = fmt.FILE_NAME.match(path.name)
    if m and (m.group(1) != artifact.name or int(m.group(2)) != artifact.version):
        raise ArtifactError(str(path), "name", f"the file says {artifact.name} v{artifact.version}")
    return LinearTextModel(artifact, path=path)


@functools.lru_cache(maxsize=32)
def load(name: str, directory: Path | None = None) -> LinearTextModel | None:
    """The newest version of model ``name`` in ``directory`` (default: the shipped
    artifacts), loaded once per process; ``None`` when there is none.

    A file that is present but invalid raises :class:`ArtifactError` rather than quietly
    turning the model off: a broken shipped model is a bug to see, not a 0 to trust.
    """
    if not fmt.NAME.match(name):
        raise ValueError(f"not a model name: {name!r}")
    versions = available(directory).get(name)
    if not versions:
        return None
    folder = directory or shipped_dir()
    return load_file(folder / f"{name}-v{versions[-1]}.json")


def score(name: str, text: str) -> float:
    """The newest shipped model's score for ``text``, or 0.0 when the model is absent."""
    model = load(name)
    return model.score(text) if model is not None else 0.0
