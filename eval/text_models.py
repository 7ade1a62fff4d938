"""Evaluate Vigil's text models and contact detector; print tables.

    .venv/bin/python eval/text_models.py                  # everything
    .venv/bin/python eval/text_models.py --data ../shared/data/text

1. Each shipped classifier on the held-out part of its training set: the split is rebuilt
   from the seed and size stored in the artifact, the messages are scored by the shipped
   JSON model (numpy, no scikit-learn), and the figures are compared with the ones the
   artifact recorded at training.
2. Cross-domain: the scam model (trained on UCI SMS, 2011) on the messages of the smishing
   set (Mishra & Soni 2022) that are not copies of UCI messages; spam and smishing are the
   positive class.
3. The abuse model (trained on tweets) on ordinary SMS (UCI ham): how often it fires on
   text from another domain, by threshold.
4. The contact detector on the project's labelled corpus (tests/detection/text/), by half
   (development, held out, blind), language and family; its speed; and sanity counts on the
   smishing set (against the set's own URL / EMAIL / PHONE flags) and the fake job posts.
   The corpus comes in three parts: development (tuned on), held out and blind (each
   measured once before any of its errors were fixed; those first figures are in
   docs/text-models.md, and are the fair estimate for new phrasing).

Sections 1-3 and the sanity counts need the reference data (``../shared/data``); without it
they are skipped with a message. Nothing here is asserted: read the tables.
"""

from __future__ import annotations

import argparse
import csv
import gc
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from vigil.detection.text import classifiers, contacts
from vigil.detection.text import train as training

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "text"
CORPORA = {
    "development": ROOT / "tests/detection/text/contact_corpus.tsv",
    "held out": ROOT / "tests/detection/text/contact_corpus_holdout.tsv",
    "blind": ROOT / "tests/detection/text/contact_corpus_blind.tsv",
}
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_MASKED = re.compile(r"#(?:EMAIL|PHONE|URL)_[0-9a-f]+#")


def table(title: str, header: list[str], rows: Iterable[list[object]]) -> None:
    rows = [[_cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    print(f"\n{title}")
    print("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def prf(labels: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    tp = int(np.sum(predicted & (labels == 1)))
    fp = int(np.sum(predicted & (labels == 0)))
    fn = int(np.sum(~predicted & (labels == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def ranking(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


# --- 1. held-out splits -----------------------------------------------------------------------


def held_out(data: Path) -> None:
    rows = []
    for name in classifiers.MODEL_NAMES:
        model = classifiers.load(name)
        if model is None:
            print(f"\n{name}: no shipped model (run `vigil models train`)")
            continue
        spec = training.TRAINING_SETS[name]
        stored = model.artifact.training
        config = training.TrainConfig(test_size=stored["test_size"], seed=stored["seed"])
        corpus = training.read_training_set(spec, data)
        _, test_idx = training.split(corpus, config)
        labels = corpus.labels[test_idx]
        scores = model.score_many(corpus.texts[i] for i in test_idx)
        recorded = model.metrics["held_out"]
        for threshold, label in ((model.threshold, "model's"), (0.5, "0.5")):
            p, r, f1 = prf(labels, scores >= threshold)
            auc, ap = ranking(labels, scores)
            same = (
                "yes"
                if label == "0.5" or abs(f1 - recorded["f1"]) < 5e-4
                else f"no (recorded F1 {recorded['f1']})"
            )
            rows.append(
                [
                    f"{name} v{model.version}",
                    len(labels),
                    f"{labels.mean():.1%}",
                    f"{threshold:.3f} ({label})",
                    p,
                    r,
                    f1,
                    auc,
                    ap,
                    same,
                ]
            )
    table(
        "1. Held-out split of each training set (20%, stratified; scored by the JSON model)",
        [
            "model",
            "messages",
            "positive",
            "threshold",
            "precision",
            "recall",
            "F1",
            "ROC AUC",
            "avg prec",
            "matches artifact",
        ],
        rows,
    )


# --- 2. cross-domain --------------------------------------------------------------------------


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def cross_domain(data: Path) -> None:
    model = classifiers.load("scam")
    smishing = data / "smishing" / "Dataset_5971.csv"
    uci = data / "sms_spam" / "SMSSpamCollection"
    if model is None or not smishing.is_file() or not uci.is_file():
        print("\n2. Cross-domain: skipped (scam model or smishing / UCI data missing)")
        return
    uci_texts = {_squeeze(t) for t, _ in training.read_uci_sms(uci)}
    with smishing.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    copies = [r for r in rows if _squeeze(r["TEXT"]) in uci_texts]
    new = [r for r in rows if _squeeze(r["TEXT"]) not in uci_texts]
    kinds = np.array([r["label"].strip().lower() for r in new])
    labels = (kinds != "ham").astype(np.int64)
    scores = model.score_many(r["TEXT"] for r in new)
    print(
        f"\n2. Cross-domain: scam v{model.version} (trained on UCI SMS) on the smishing set\n"
        f"   {len(rows)} rows; {len(copies)} rows are copies of UCI messages "
        f"({len({_squeeze(r['TEXT']) for r in copies})} distinct texts) and are dropped;\n"
        f"   {len(new)} new messages: {Counter(kinds.tolist())}"
    )
    out = []
    auc, ap = ranking(labels, scores)
    for threshold in (model.threshold, 0.5, 0.2):
        predicted = scores >= threshold
        p, r, f1 = prf(labels, predicted)
        recall_by = {k: float(np.mean(predicted[kinds == k])) for k in ("spam", "smishing")}
        fpr = float(np.mean(predicted[kinds == "ham"]))
        out.append(
            [f"{threshold:.3f}", p, r, f1, recall_by["spam"], recall_by["smishing"], fpr, auc, ap]
        )
    table(
        "   spam + smishing = positive",
        [
            "threshold",
            "precision",
            "recall",
            "F1",
            "recall spam",
            "recall smishing",
            "ham flagged",
            "ROC AUC",
            "avg prec",
        ],
        out,
    )


# --- 3. abuse out of domain -------------------------------------------------------------------


def abuse_out_of_domain(data: Path) -> None:
    model = classifiers.load("abuse")
    uci = data / "sms_spam" / "SMSSpamCollection"
    if model is None or not uci.is_file():
        print("\n3. Abuse out of domain: skipped (abuse model or UCI data missing)")
        return
    ham = [t for t, y in training.read_uci_sms(uci) if y == 0]
    scores = model.score_many(ham)
    rows = [
        [f"{t:.3f}", f"{np.mean(scores >= t):.1%}"] for t in (model.threshold, 0.5, 0.8, 0.9, 0.95)
    ]
    table(
        f"3. abuse v{model.version} on {len(ham)} ordinary SMS (UCI ham; not abuse training data):"
        " share scored at or above",
        ["threshold", "ham flagged"],
        rows,
    )


# --- 4. contact detector ----------------------------------------------------------------------


def read_corpus(path: Path) -> list[tuple[int, str, str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, lang, family, text = line.split("\t")
        text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
        rows.append((int(label), lang, family, text))
    return rows


def detector_corpus() -> list[str]:
    texts: list[str] = []
    rows_out = []
    by_lang: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    misses = []
    for half, path in CORPORA.items():
        rows = read_corpus(path)
        labels = np.array([r[0] for r in rows])
        flagged = np.array([contacts.scan(r[3]).flagged for r in rows])
        p, r, f1 = prf(labels, flagged)
        rows_out.append(
            [
                half,
                int(labels.sum()),
                int((labels == 0).sum()),
                p,
                r,
                f1,
                int(np.sum(flagged & (labels == 0))),
                int(np.sum(~flagged & (labels == 1))),
            ]
        )
        for (label, lang, family, text), hit in zip(rows, flagged, strict=True):
            by_lang[lang].append((label, bool(hit)))
            texts.append(text)
            if bool(hit) != bool(label):
                misses.append([half, "missed" if label else "false alarm", lang, family, text[:70]])
    table(
        f"4a. Contact detector on the project's corpus (flagged = score >= {contacts.FLAG_AT})",
        ["part", "positives", "negatives", "precision", "recall", "F1", "false alarms", "missed"],
        rows_out,
    )
    lang_rows = []
    for lang, pairs in sorted(by_lang.items()):
        labels = np.array([a for a, _ in pairs])
        hits = np.array([b for _, b in pairs])
        p, r, f1 = prf(labels, hits)
        lang_rows.append([lang, int(labels.sum()), int((labels == 0).sum()), p, r, f1])
    table(
        "    by language (all parts)",
        ["lang", "positives", "negatives", "precision", "recall", "F1"],
        lang_rows,
    )
    if misses:
        table("    errors", ["part", "kind", "lang", "family", "text"], misses)
    return texts


def timing(label: str, func: Callable[[str], object], texts: list[str]) -> list[object]:
    gc.disable()
    try:
        samples = []
        for text in texts:
            best = float("inf")
            for _ in range(3):  # best of three: the machine is shared, noise only adds
                start = time.perf_counter_ns()
                func(text)
                best = min(best, (time.perf_counter_ns() - start) / 1000)
            samples.append(best)
    finally:
        gc.enable()
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    mean_len = sum(len(t) for t in texts) / len(texts)
    return [
        label,
        len(texts),
        round(mean_len),
        round(statistics.median(samples), 1),
        round(p99, 1),
        round(sum(samples) / len(samples), 1),
    ]


def speed(corpus_texts: list[str], data: Path) -> None:
    sets = {"contact corpus": corpus_texts}
    uci = data / "sms_spam" / "SMSSpamCollection"
    if uci.is_file():
        sets["UCI SMS"] = [t for t, _ in training.read_uci_sms(uci)]
    rows = [timing(f"contacts.scan / {name}", contacts.scan, texts) for name, texts in sets.items()]
    for name in classifiers.MODEL_NAMES:
        model = classifiers.load(name)
        if model is not None:
            for set_name, texts in sets.items():
                rows.append(timing(f"{name}.score / {set_name}", model.score, texts))
    table(
        "4b. Speed, µs per message (best of 3 runs per message, one core)",
        ["what", "messages", "mean chars", "median", "p99", "mean"],
        rows,
    )


def _yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "1", "true")


def sanity_smishing(data: Path) -> None:
    path = data / "smishing" / "Dataset_5971.csv"
    if not path.is_file():
        print("\n4c. Smishing sanity counts: skipped (no data)")
        return
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    scans = [contacts.scan(r["TEXT"]) for r in rows]
    out = []
    for flag, get in (
        ("URL", lambda s: bool(s.urls)),
        ("EMAIL", lambda s: bool(s.emails)),
        ("PHONE", lambda s: bool(s.phones)),
    ):
        truth = np.array([_yes(r[flag]) for r in rows])
        ours = np.array([get(s) for s in scans])
        p, r, f1 = prf(truth.astype(np.int64), ours)
        out.append([flag, int(truth.sum()), int(ours.sum()), p, r, f1])
    table(
        f"4c. Smishing set ({len(rows)} SMS): our extraction against the set's own flags",
        ["flag", "set says yes", "we found", "precision", "recall", "F1"],
        out,
    )
    by_label: dict[str, list[bool]] = defaultdict(list)
    for row, result in zip(rows, scans, strict=True):
        by_label[row["label"].strip().lower()].append(result.flagged)
    table(
        "    off-platform flag by label",
        ["label", "messages", "flagged"],
        [[k, len(v), f"{np.mean(v):.1%}"] for k, v in sorted(by_label.items())],
    )


def sanity_fake_jobs(data: Path) -> None:
    path = data / "fake_jobs" / "fake_job_postings.csv"
    if not path.is_file():
        print("\n4d. Fake job posts sanity counts: skipped (no data)")
        return
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        text = " ".join(
            row[k] for k in ("title", "company_profile", "description", "requirements", "benefits")
        )
        result = contacts.scan(text)
        kind = "fraudulent" if row["fraudulent"] == "1" else "legitimate"
        c = counts[kind]
        c["posts"] += 1
        c["flagged"] += result.flagged
        c["email"] += bool(result.emails)
        c["phone"] += bool(result.phones)
        c["url"] += bool(result.urls)
        c["messaging app"] += bool(result.messaging_apps)
        c["payment app"] += bool(result.payment_apps)
        c["phrase"] += bool(result.off_platform_phrases)
        c["masked by the set"] += bool(_MASKED.search(text))
    columns = [
        "flagged",
        "email",
        "phone",
        "url",
        "messaging app",
        "payment app",
        "phrase",
        "masked by the set",
    ]
    table(
        "4d. Fake job posts (EMSCAD subset): share of posts with each finding (the set replaces"
        " emails, phones and links by #EMAIL_…#, #PHONE_…#, #URL_…#)",
        ["posts", "count", *columns],
        [
            [kind, c["posts"], *(f"{c[k] / c['posts']:.1%}" for k in columns)]
            for kind, c in sorted(counts.items())
        ],
    )


def simulator_messages(count: int = 3000) -> None:
    """The detector on what the simulator writes (project-generated, so always available):
    off-platform solicitations with a contact detail vs ordinary conversation turns."""
    try:
        from vigil.simulate import chat
    except ImportError:
        print("\n4e. Simulator messages: skipped (vigil.simulate.chat not available)")
        return
    rng = random.Random(4)
    flagged: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    try:
        for i in range(count):
            lang = ("en", "es", "pt")[i % 3]
            slots: dict[str, object] = {
                "name": "Ana",
                "task": "a logo",
                "price": "150",
                "day": "Monday",
                "discount": 20,
                "offer": "Logo design",
                "offer_lc": "logo design",
                "years": 5,
                "city": "Lima",
                "url": chat.scam_url(rng),
            }
            written, style = chat.contact(
                lang,
                rng,
                phone=f"+55119{rng.randint(10_000_000, 99_999_999)}",
                email=f"ana.r{rng.randint(1, 99)}@mail.example",
                display_name="Ana Ruiz",
            )
            slots |= {
                "contact": written,
                "app": rng.choice(chat.CHAT_APPS),
                "pay": rng.choice(chat.PAY_CHANNELS[lang]),
            }
            solicitation = rng.choice(chat.SOLICITATIONS[lang]).format_map(slots)
            turns = rng.choice((chat.BUYER_TURNS, chat.SELLER_TURNS))[lang]
            ordinary = rng.choice(rng.choice(turns)).format_map(slots)
            pairs = ((f"solicitation ({style})", solicitation), ("ordinary turn", ordinary))
            for kind, text in pairs:
                totals[kind] += 1
                flagged[kind] += contacts.scan(text).flagged
    except (AttributeError, KeyError, TypeError) as exc:  # the simulator's templates moved
        print(f"\n4e. Simulator messages: skipped ({exc.__class__.__name__}: {exc})")
        return
    table(
        "4e. Simulator messages (vigil.simulate.chat templates): share flagged",
        ["message", "count", "flagged"],
        [[k, totals[k], f"{flagged[k] / totals[k]:.1%}"] for k in sorted(totals)],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="the reference text data (default: ../shared/data/text)",
    )
    args = parser.parse_args(argv)
    data: Path = args.data
    have_data = data.is_dir()
    if have_data:
        held_out(data)
        cross_domain(data)
        abuse_out_of_domain(data)
    else:
        print(
            f"Reference data not found at {data}: sections 1-3 and the sanity counts are "
            "skipped (pass --data to point at ../shared/data/text)."
        )
    corpus_texts = detector_corpus()
    speed(corpus_texts, data)
    simulator_messages()
    if have_data:
        sanity_smishing(data)
        sanity_fake_jobs(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
