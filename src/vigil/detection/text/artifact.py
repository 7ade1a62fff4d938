"""The on-disk format of a text model: one JSON document that cannot run code when loaded.

A pickled scikit-learn pipeline (or a joblib file) executes arbitrary code when unpickled, so
a model file would be as dangerous as a script. A Vigil text model is plain data instead:
the TF-IDF settings, the vocabulary, the IDF weights, the logistic-regression coefficients,
the decision threshold, and where the model came from (data, licence, attribution, metrics).
:mod:`vigil.detection.text.classifiers` scores text from this data with numpy alone.

Loading is strict, because an artifact may come from outside (a user's ``--out`` folder, a
package someone patched): every key is checked for its type and range, unknown keys are
refused, numbers must be finite, the token pattern must be one of a few known regexes (a
crafted regex could make scoring hang), and a SHA-256 over the canonical form of the content
must match the one stored, so an edited file is refused as changed. (The checksum catches
mistakes and casual tampering; it is not a signature: anyone who can write the file can
recompute it.) Every refusal is an :class:`ArtifactError` that names the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT = "vigil.text-model"
FORMAT_VERSION = 1
MAX_BYTES = 32 * 1024 * 1024
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
FILE_NAME = re.compile(r"^([a-z][a-z0-9_]{0,39})-v([1-9][0-9]{0,5})\.json$")

ANALYZERS = ("word", "char_wb")
# scikit-learn's default word pattern, the only one Vigil trains with. A token pattern is a
# regex run on every scored message, so it is never taken from the file as written.
WORD_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
TOKEN_PATTERNS = (WORD_TOKEN_PATTERN,)
PREPROCESS_STEPS = ("html_unescape", "mask_urls", "mask_mentions")
MAX_NGRAM = 6
MAX_BLOCKS = 4

_TOP_KEYS = {
    "format",
    "format_version",
    "name",
    "version",
    "description",
    "trained_at",
    "labels",
    "data",
    "training",
    "metrics",
    "preprocess",
    "threshold",
    "features",
    "coef",
    "intercept",
    "sha256",
}
_BLOCK_KEYS = {
    "analyzer",
    "ngram_range",
    "lowercase",
    "strip_accents",
    "token_pattern",
    "sublinear_tf",
    "norm",
    "vocabulary",
    "idf",
}


class ArtifactError(ValueError):
    """A model file that is not a valid Vigil text model; ``field`` names what is wrong."""

    def __init__(self, source: str, field: str, message: str) -> None:
        super().__init__(f"{source}: {field}: {message}")
        self.source = source
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FeatureBlock:
    """One TF-IDF vectorizer's worth of features (scikit-learn ``TfidfVectorizer``)."""

    analyzer: str
    ngram_range: tuple[int, int]
    lowercase: bool
    strip_accents: str | None
    token_pattern: str | None
    sublinear_tf: bool
    norm: str | None
    vocabulary: tuple[str, ...]
    idf: npt.NDArray[np.float64]

    def to_json(self) -> dict[str, Any]:
        return {
            "analyzer": self.analyzer,
            "ngram_range": list(self.ngram_range),
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "token_pattern": self.token_pattern,
            "sublinear_tf": self.sublinear_tf,
            "norm": self.norm,
            "vocabulary": list(self.vocabulary),
            "idf": [float(x) for x in self.idf],
        }


@dataclass(frozen=True)
class Artifact:
    name: str
    version: int
    description: str
    trained_at: str
    labels: dict[str, str]
    data: dict[str, Any]
    training: dict[str, Any]
    metrics: dict[str, Any]
    preprocess: tuple[str, ...]
    threshold: float
    features: tuple[FeatureBlock, ...]
    coef: npt.NDArray[np.float64]
    intercept: float
    sha256: str = field(default="")

    def body(self) -> dict[str, Any]:
        """Everything but the checksum, in JSON types."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "trained_at": self.trained_at,
            "labels": self.labels,
            "data": self.data,
            "training": self.training,
            "metrics": self.metrics,
            "preprocess": list(self.preprocess),
            "threshold": self.threshold,
            "features": [block.to_json() for block in self.features],
            "coef": [float(x) for x in self.coef],
            "intercept": self.intercept,
        }

    def weights_digest(self) -> str:
        """A digest of what decides the scores only (not the dates or metrics): two
        trainings that produce the same model have the same weights digest."""
        body = self.body()
        parts = {k: body[k] for k in ("preprocess", "threshold", "features", "coef", "intercept")}
        return hashlib.sha256(canonical(parts)).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.name}-v{self.version}.json"


def canonical(value: Any) -> bytes:
    """The bytes the checksum is computed over: sorted keys, no spaces, UTF-8, floats in
    Python's shortest round-trip form (so dump → load → dump is stable)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def dumps(artifact: Artifact) -> str:
    body = artifact.body()
    body["sha256"] = hashlib.sha256(canonical(body)).hexdigest()
    # One line per top-level key keeps a diff of two versions readable; arrays stay on one
    # line each (they are long).
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in body.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save(artifact: Artifact, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / artifact.file_name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(dumps(artifact), encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a model
    return path


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read(path: Path) -> Artifact:
    source = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ArtifactError(source, "file", f"cannot read it ({exc.strerror})") from None
    if size > MAX_BYTES:
        raise ArtifactError(source, "file", f"{size} bytes is more than {MAX_BYTES}")
    raw = path.read_bytes()
    return loads(raw, source=source)


def loads(raw: bytes | str, *, source: str = "<artifact>") -> Artifact:
    try:
        doc = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(source, "file", f"not valid JSON ({exc})") from None
    return _parse(doc, source)


class _Check:
    """Type and range checks that raise an ArtifactError naming the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, message: str) -> ArtifactError:
        return ArtifactError(self.source, field, message)

    def obj(self, value: Any, field: str, keys: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, "must be an object")
        if keys is not None:
            missing = sorted(keys - value.keys())
            extra = sorted(value.keys() - keys)
            if missing:
                raise self.fail(f"{field}.{missing[0]}" if field else missing[0], "is missing")
            if extra:
                raise self.fail(f"{field}.{extra[0]}" if field else extra[0], "is not allowed")
        return value

    def text(self, value: Any, field: str, max_len: int = 10_000) -> str:
        if not isinstance(value, str) or len(value) > max_len:
            raise self.fail(field, f"must be a string of at most {max_len} characters")
        return value

    def integer(self, value: Any, field: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(field, f"must be an integer from {low} to {high}")
        return value

    def flag(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field, "must be true or false")
        return value

    def number(self, value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, "must be a number")
        if not math.isfinite(value):
            raise self.fail(field, "must be finite")
        return float(value)

    def choice(self, value: Any, field: str, allowed: tuple[Any, ...]) -> Any:
        if value not in allowed:
            raise self.fail(field, f"must be one of {list(allowed)}")
        return value

    def floats(self, value: Any, field: str, length: int) -> npt.NDArray[np.float64]:
        if not isinstance(value, list) or len(value) != length:
            raise self.fail(field, f"must be a list of {length} numbers")
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in value):
            raise self.fail(field, "must hold numbers only")
        array = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise self.fail(field, "must hold finite numbers only")
        return array

    def scalars(self, value: Any, field: str, depth: int = 0) -> Any:
        """Free-form metadata: JSON objects, lists and scalars, nothing deeper than 4."""
        if depth > 4:
            raise self.fail(field, "is nested too deeply")
        if isinstance(value, dict):
            for k, v in value.items():
                self.scalars(v, f"{field}.{k}", depth + 1)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.scalars(v, f"{field}[{i}]", depth + 1)
        elif isinstance(value, float) and not math.isfinite(value):
            raise self.fail(field, "must be finite")
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise self.fail(field, "is not a JSON value")
        return value


def _parse(doc: Any, source: str) -> Artifact:
    c = _Check(source)
    top = c.obj(doc, "", _TOP_KEYS)
    if top["format"] != FORMAT:
        raise c.fail("format", f"is {top['format']!r}, not a Vigil text model ({FORMAT!r})")
    c.integer(top["format_version"], "format_version", FORMAT_VERSION, FORMAT_VERSION)
    digest = c.text(top["sha256"], "sha256", 64)
    body = {k: v for k, v in top.items() if k != "sha256"}
    if hashlib.sha256(canonical(body)).hexdigest() != digest:
        raise c.fail("sha256", "does not match the content: the file was changed after training")

    name = c.text(top["name"], "name", 40)
    if not NAME.match(name):
        raise c.fail("name", "must be lower case letters, digits and underscores")
    labels = c.obj(top["labels"], "labels", {"positive", "negative"})
    for key in ("positive", "negative"):
        c.text(labels[key], f"labels.{key}", 100)
    preprocess = top["preprocess"]
    if not isinstance(preprocess, list):
        raise c.fail("preprocess", "must be a list")
    for i, step in enumerate(preprocess):
        c.choice(step, f"preprocess[{i}]", PREPROCESS_STEPS)
    threshold = c.number(top["threshold"], "threshold")
    if not 0.0 < threshold < 1.0:
        raise c.fail("threshold", "must be between 0 and 1")

    blocks_doc = top["features"]
    if not isinstance(blocks_doc, list) or not 1 <= len(blocks_doc) <= MAX_BLOCKS:
        raise c.fail("features", f"must be a list of 1 to {MAX_BLOCKS} feature blocks")
    blocks = tuple(_parse_block(c, b, f"features[{i}]") for i, b in enumerate(blocks_doc))
    width = sum(len(b.vocabulary) for b in blocks)
    return Artifact(
        name=name,
        version=c.integer(top["version"], "version", 1, 999_999),
        description=c.text(top["description"], "description"),
        trained_at=c.text(top["trained_at"], "trained_at", 40),
        labels=labels,
        data=c.scalars(c.obj(top["data"], "data"), "data"),
        training=c.scalars(c.obj(top["training"], "training"), "training"),
        metrics=c.scalars(c.obj(top["metrics"], "metrics"), "metrics"),
        preprocess=tuple(preprocess),
        threshold=threshold,
        features=blocks,
        coef=c.floats(top["coef"], "coef", width),
        intercept=c.number(top["intercept"], "intercept"),
        sha256=digest,
    )


def _parse_block(c: _Check, doc: Any, where: str) -> FeatureBlock:
    block = c.obj(doc, where, _BLOCK_KEYS)
    analyzer = c.choice(block["analyzer"], f"{where}.analyzer", ANALYZERS)
    ngrams = block["ngram_range"]
    if not isinstance(ngrams, list) or len(ngrams) != 2:
        raise c.fail(f"{where}.ngram_range", "must be [min, max]")
    low = c.integer(ngrams[0], f"{where}.ngram_range", 1, MAX_NGRAM)
    high = c.integer(ngrams[1], f"{where}.ngram_range", low, MAX_NGRAM)
    token_pattern = block["token_pattern"]
    if analyzer == "word":
        c.choice(token_pattern, f"{where}.token_pattern", TOKEN_PATTERNS)
    elif token_pattern is not None:
        raise c.fail(f"{where}.token_pattern", "must be null for character n-grams")
    vocabulary = block["vocabulary"]
    if not isinstance(vocabulary, list) or not vocabulary:
        raise c.fail(f"{where}.vocabulary", "must be a non-empty list of strings")
    if not all(isinstance(term, str) and 0 < len(term) <= 200 for term in vocabulary):
        raise c.fail(f"{where}.vocabulary", "must hold strings of 1 to 200 characters")
    if len(set(vocabulary)) != len(vocabulary):
        raise c.fail(f"{where}.vocabulary", "has duplicate terms")
    idf = c.floats(block["idf"], f"{where}.idf", len(vocabulary))
    if np.any(idf < 1.0):
        raise c.fail(f"{where}.idf", "smoothed IDF weights are at least 1")
    return FeatureBlock(
        analyzer=analyzer,
        ngram_range=(low, high),
        lowercase=c.flag(block["lowercase"], f"{where}.lowercase"),
        strip_accents=c.choice(block["strip_accents"], f"{where}.strip_accents", (None, "unicode")),
        token_pattern=token_pattern,
        sublinear_tf=c.flag(block["sublinear_tf"], f"{where}.sublinear_tf"),
        norm=c.choice(block["norm"], f"{where}.norm", (None, "l2")),
        vocabulary=tuple(vocabulary),
        idf=idf,
    )
