"""Training the text models with scikit-learn, and writing them as safe JSON artifacts.

Only data whose licence allows a shipped model is used (see ``../shared/data/README.md``):
the UCI SMS Spam Collection (CC BY 4.0) for ``scam`` and the Davidson et al. tweets (MIT)
for ``abuse``. The smishing, fake reviews and fake jobs sets are evaluation-only: there is
no training set definition for them, and :func:`read_training_set` refuses any path inside
their folders.

One training run, per model:

1. read the file, drop exact duplicate texts (the same SMS appears dozens of times in UCI;
   a copy on both sides of the split would flatter the held-out figures);
2. split 80/20, stratified, with a fixed seed (stored in the artifact, so
   ``eval/text_models.py`` can rebuild the same held-out set);
3. pick the decision threshold that maximises F1 on out-of-fold predictions of the training
   part (cross-validation: the held-out part is never looked at to choose anything);
4. fit TF-IDF (word 1-2-grams and character 2-5-grams inside word boundaries) and a
   class-balanced logistic regression on the training part;
5. measure precision, recall, F1, ROC AUC and average precision on the held-out part;
6. export to JSON and check that the numpy scorer reproduces ``predict_proba`` on every
   held-out message to 1e-6 (the file is not written otherwise).

The shipped model is the one fitted on the training part, so the metrics in the file are
exactly the shipped model's.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.detection.text import artifact as fmt
from vigil.detection.text.artifact import Artifact, FeatureBlock
from vigil.detection.text.classifiers import LinearTextModel, available, preprocess
from vigil.kit import clock

# Folders under ../shared/data/text that may never train a shipped model.
EVALUATION_ONLY = ("smishing", "fake_reviews", "fake_jobs")
PARITY_TOLERANCE = 1e-6


class TrainingError(Exception):
    """Training cannot go on (data missing or refused, scorer disagrees with sklearn)."""


Reader = Callable[[Path], list[tuple[str, int]]]


def read_uci_sms(path: Path) -> list[tuple[str, int]]:
    """``label<TAB>text`` lines, a header first; spam → 1, ham → 0."""
    rows: list[tuple[str, int]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            label, _, text = line.rstrip("\n").partition("\t")
            if number == 0 and label.lower() == "label":
                continue
            if label not in ("ham", "spam") or not text.strip():
                raise TrainingError(f"{path}:{number + 1}: expected 'ham|spam<TAB>text'")
            rows.append((text, int(label == "spam")))
    return rows


def read_davidson(path: Path) -> list[tuple[str, int]]:
    """CSV with ``class`` (0 hate, 1 offensive, 2 neither) and ``tweet``: hate and offensive
    are both abusive (1), neither is 0."""
    rows: list[tuple[str, int]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"class", "tweet"} <= set(reader.fieldnames):
            raise TrainingError(f"{path}: expected the columns 'class' and 'tweet'")
        for row in reader:
            if row["class"] not in ("0", "1", "2"):
                raise TrainingError(f"{path}: line {reader.line_num}: class must be 0, 1 or 2")
            rows.append((row["tweet"], int(row["class"] in ("0", "1"))))
    return rows


@dataclass(frozen=True)
class TrainingSet:
    """A data set that may train a shipped model, and what to say about it in the artifact."""

    model: str
    path: str  # relative to the data folder (../shared/data/text)
    reader: Reader
    description: str
    positive: str
    negative: str
    source: str
    licence: str
    attribution: str
    preprocess: tuple[str, ...]


TRAINING_SETS: dict[str, TrainingSet] = {
    "scam": TrainingSet(
        model="scam",
        path="sms_spam/SMSSpamCollection",
        reader=read_uci_sms,
        description="Scam and spam messages (unsolicited offers, prizes, premium numbers).",
        positive="spam",
        negative="ham",
        source="SMS Spam Collection v.1, UCI Machine Learning Repository",
        licence="CC BY 4.0",
        attribution=(
            "Tiago A. Almeida, José María Gómez Hidalgo and Akebo Yamakami (2011), "
            "'Contributions to the Study of SMS Spam Filtering: New Collection and Results', "
            "ACM DocEng 2011. SMS Spam Collection v.1, UCI Machine Learning Repository, "
            "https://doi.org/10.24432/C5CC84, licensed CC BY 4.0. Used to train this model; "
            "the data is not redistributed."
        ),
        preprocess=("html_unescape",),
    ),
    "abuse": TrainingSet(
        model="abuse",
        path="offensive/labeled_data.csv",
        reader=read_davidson,
        description="Abusive language: insults, slurs and harassment (hate or offensive).",
        positive="abusive (hate speech or offensive)",
        negative="neither",
        source="Davidson et al. 2017, hate speech and offensive language tweets",
        licence="MIT",
        attribution=(
            "Thomas Davidson, Dana Warmsley, Michael Macy and Ingmar Weber (2017), "
            "'Automated Hate Speech Detection and the Problem of Offensive Language', ICWSM "
            "2017; data from github.com/t-davidson/hate-speech-and-offensive-language, MIT "
            "licence. Classes 0 (hate) and 1 (offensive) are the positive class."
        ),
        preprocess=("html_unescape", "mask_urls", "mask_mentions"),
    ),
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a model besides its data; stored in the artifact."""

    test_size: float = 0.2
    seed: int = 20_240_521
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    word_max_features: int = 10_000
    char_max_features: int = 15_000
    min_df: int = 2
    C: float = 10.0
    cv_folds: int = 5

    def to_json(self) -> dict[str, Any]:
        return {
            "test_size": self.test_size,
            "seed": self.seed,
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "word_max_features": self.word_max_features,
            "char_max_features": self.char_max_features,
            "min_df": self.min_df,
            "C": self.C,
            "class_weight": "balanced",
            "cv_folds": self.cv_folds,
        }


@dataclass
class Corpus:
    texts: list[str]
    labels: npt.NDArray[np.int64]
    stats: dict[str, Any] = field(default_factory=dict)


def read_training_set(spec: TrainingSet, data_dir: Path) -> Corpus:
    """Read ``spec`` from ``data_dir`` and drop duplicate texts (first label wins; texts seen
    with both labels are dropped altogether)."""
    path = data_dir / spec.path
    if any(part in EVALUATION_ONLY for part in Path(spec.path).parts):
        raise TrainingError(f"{spec.path} is evaluation-only and may not train a model")
    if not path.is_file():
        raise TrainingError(f"no training data at {path}")
    rows = spec.reader(path)
    seen: dict[str, int] = {}
    conflicting: set[str] = set()
    for text, label in rows:
        key = " ".join(text.split())
        if key in seen and seen[key] != label:
            conflicting.add(key)
        seen.setdefault(key, label)
    kept = [(t, y) for t, y in seen.items() if t not in conflicting]
    texts = [t for t, _ in kept]
    labels = np.asarray([y for _, y in kept], dtype=np.int64)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Corpus(
        texts=texts,
        labels=labels,
        stats={
            "file": spec.path,
            "sha256": digest,
            "rows": len(rows),
            "rows_used": len(texts),
            "duplicates_dropped": len(rows) - len(seen),
            "conflicting_dropped": len(conflicting),
            "positives": int(labels.sum()),
        },
    )


def split(corpus: Corpus, config: TrainConfig) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Indexes of the training and held-out parts (stratified, seeded)."""
    from sklearn.model_selection import train_test_split

    indexes = np.arange(len(corpus.texts))
    train_idx, test_idx = train_test_split(
        indexes,
        test_size=config.test_size,
        random_state=config.seed,
        stratify=corpus.labels,
    )
    return np.sort(train_idx), np.sort(test_idx)


def make_pipeline(config: TrainConfig) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    common: dict[str, Any] = {
        "lowercase": True,
        "strip_accents": "unicode",
        "sublinear_tf": True,
        "norm": "l2",
        "min_df": config.min_df,
        "dtype": np.float64,
    }
    word = TfidfVectorizer(
        analyzer="word",
        ngram_range=config.word_ngrams,
        token_pattern=fmt.WORD_TOKEN_PATTERN,
        max_features=config.word_max_features,
        **common,
    )
    char = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=config.char_ngrams,
        max_features=config.char_max_features,
        **common,
    )
    # liblinear shuffles with random_state: fixed, so the same data gives the same weights
    # (and a re-run of ``vigil models train`` writes nothing new).
    model = LogisticRegression(
        C=config.C,
        class_weight="balanced",
        max_iter=5_000,
        solver="liblinear",
        random_state=config.seed,
    )
    return Pipeline([("features", FeatureUnion([("word", word), ("char", char)])), ("lr", model)])


def choose_threshold(texts: list[str], labels: npt.NDArray[np.int64], config: TrainConfig) -> float:
    """The threshold with the best F1 on out-of-fold predictions of the training part."""
    from sklearn.metrics import precision_recall_curve
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)
    proba = cross_val_predict(
        make_pipeline(config), texts, labels, cv=folds, method="predict_proba"
    )[:, 1]
    precision, recall, thresholds = precision_recall_curve(labels, proba)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1]))
    return float(np.clip(thresholds[best], 0.01, 0.99))


def measure(
    labels: npt.NDArray[np.int64], proba: npt.NDArray[np.float64], threshold: float
) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    predicted = proba >= threshold
    tp = int(np.sum(predicted & (labels == 1)))
    fp = int(np.sum(predicted & (labels == 0)))
    fn = int(np.sum(~predicted & (labels == 1)))
    tn = int(np.sum(~predicted & (labels == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = len(set(labels.tolist())) == 2
    return {
        "rows": len(labels),
        "positives": int(labels.sum()),
        "threshold": round(threshold, 6),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "roc_auc": round(float(roc_auc_score(labels, proba)), 4) if both else None,
        "average_precision": (
            round(float(average_precision_score(labels, proba)), 4) if both else None
        ),
    }


def export(
    spec: TrainingSet,
    pipeline: Any,
    *,
    version: int,
    threshold: float,
    trained_at: datetime,
    data: dict[str, Any],
    training: dict[str, Any],
    metrics: dict[str, Any],
) -> Artifact:
    """The JSON artifact of a fitted pipeline (see :func:`make_pipeline`)."""
    blocks = []
    for _, vectorizer in pipeline.named_steps["features"].transformer_list:
        ordered = sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])
        blocks.append(
            FeatureBlock(
                analyzer=vectorizer.analyzer,
                ngram_range=tuple(vectorizer.ngram_range),
                lowercase=vectorizer.lowercase,
                strip_accents=vectorizer.strip_accents,
                token_pattern=vectorizer.token_pattern if vectorizer.analyzer == "word" else None,
                sublinear_tf=vectorizer.sublinear_tf,
                norm=vectorizer.norm,
                vocabulary=tuple(term for term, _ in ordered),
                idf=np.asarray(vectorizer.idf_, dtype=np.float64),
            )
        )
    lr = pipeline.named_steps["lr"]
    return Artifact(
        name=spec.model,
        version=version,
        description=spec.description,
        trained_at=trained_at.isoformat(timespec="seconds"),
        labels={"positive": spec.positive, "negative": spec.negative},
        data=data,
        training=training,
        metrics=metrics,
        preprocess=spec.preprocess,
        threshold=round(threshold, 6),
        features=tuple(blocks),
        coef=np.asarray(lr.coef_[0], dtype=np.float64),
        intercept=float(lr.intercept_[0]),
    )


def parity(artifact: Artifact, pipeline: Any, raw_texts: list[str]) -> float:
    """Largest difference between the JSON scorer and ``predict_proba`` on ``raw_texts``,
    after a round trip through the file format (so what is checked is what gets written).
    The JSON scorer preprocesses by itself; scikit-learn is given the preprocessed text."""
    reloaded = fmt.loads(fmt.dumps(artifact), source=f"{artifact.file_name} (in memory)")
    model = LinearTextModel(reloaded)
    ours = model.score_many(raw_texts)
    prepared = [preprocess(t, artifact.preprocess) for t in raw_texts]
    theirs = pipeline.predict_proba(prepared)[:, 1]
    return float(np.max(np.abs(ours - theirs))) if raw_texts else 0.0


@dataclass(frozen=True)
class TrainResult:
    artifact: Artifact
    path: Path | None  # None when an identical model was already there
    previous: int | None  # the version an unchanged model matched
    parity: float


def train_model(
    name: str,
    data_dir: Path,
    out_dir: Path,
    *,
    config: TrainConfig | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> TrainResult:
    """Train model ``name`` from ``data_dir`` and write ``{name}-v{N}.json`` into ``out_dir``
    (N one above the newest there). Writes nothing when the newest version already has the
    same weights (a re-run on the same data and settings is a no-op)."""
    if name not in TRAINING_SETS:
        raise TrainingError(f"no training set for a model named {name!r}")
    spec = TRAINING_SETS[name]
    config = config or TrainConfig()
    corpus = read_training_set(spec, data_dir)
    log(f"{name}: {corpus.stats['rows_used']} messages ({corpus.stats['positives']} positive)")
    texts = [preprocess(t, spec.preprocess) for t in corpus.texts]
    train_idx, test_idx = split(corpus, config)
    train_texts = [texts[i] for i in train_idx]
    test_texts = [texts[i] for i in test_idx]
    y_train, y_test = corpus.labels[train_idx], corpus.labels[test_idx]

    log(f"{name}: choosing the threshold ({config.cv_folds}-fold cross-validation)")
    threshold = choose_threshold(train_texts, y_train, config)
    log(f"{name}: fitting on {len(train_texts)} messages")
    pipeline = make_pipeline(config).fit(train_texts, y_train)
    proba = pipeline.predict_proba(test_texts)[:, 1]

    import sklearn

    metrics: dict[str, Any] = {
        "held_out": measure(y_test, proba, threshold),
        "held_out_at_0_5": measure(y_test, proba, 0.5),
    }
    existing = available(out_dir).get(name, [])
    version = (existing[-1] + 1) if existing else 1
    data = {
        "source": spec.source,
        "licence": spec.licence,
        "attribution": spec.attribution,
        **corpus.stats,
    }
    training = {**config.to_json(), "train_rows": len(train_texts), "sklearn": sklearn.__version__}
    artifact = export(
        spec,
        pipeline,
        version=version,
        threshold=threshold,
        trained_at=clock.now(),
        data=data,
        training=training,
        metrics=metrics,
    )
    gap = parity(artifact, pipeline, [corpus.texts[i] for i in test_idx])
    if gap > PARITY_TOLERANCE:
        raise TrainingError(
            f"{name}: the JSON scorer differs from scikit-learn by {gap:.2e} "
            f"(tolerance {PARITY_TOLERANCE:.0e}); nothing written"
        )
    metrics["parity_max_abs_diff"] = gap
    artifact = replace(artifact, metrics=metrics)

    if existing:
        newest = fmt.read(out_dir / f"{name}-v{existing[-1]}.json")
        if newest.weights_digest() == artifact.weights_digest():
            return TrainResult(artifact=newest, path=None, previous=newest.version, parity=gap)
    path = fmt.save(artifact, out_dir)
    return TrainResult(artifact=artifact, path=path, previous=None, parity=gap)
