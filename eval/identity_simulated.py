"""The whole identity pipeline on the simulator's documents: correct outcome rate per defect.

    .venv/bin/python eval/identity_simulated.py [--per-defect 3] [--seed 1] [--verbose]

For each defect (and ``none``), N documents are rendered (``vigil.simulate.documents``:
passports, ID cards and US driver's licenses in turn, holders from several countries), an
account is created with the profile the document goes with, the images go through the real
intake (``identity.service.submit``) into a scratch SQLite database, and
``identity.pipeline.process`` reads, checks and decides them. A ``reused_document`` is first
submitted (clean) by another account with the same profile, then by the account under test.

Printed per defect: documents, the outcome the pipeline reached against the expected one
(``documents.EXPECTED``), how often the expected reasons were among the reasons found, and
the outcomes and reasons seen when it went wrong; then seconds per verification. The data
directory is not used: every document is made here.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts import service as accounts
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.principal import Principal
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.identity import pipeline
from vigil.identity import service as identity
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind, ImageSide
from vigil.kit import clock
from vigil.migrate import upgrade
from vigil.simulate import documents
from vigil.simulate.documents import Defect, Person, SyntheticDocument

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "idv"
EVAL = Principal.system("eval")
KINDS = (DocumentKind.passport, DocumentKind.id_card, DocumentKind.driver_license)
PEOPLE = (
    Person("Muñoz García", "Lucía", date(1990, 3, 14), "F", "ESP", "ES"),
    Person("Gonçalves Pereira", "João Pedro", date(1984, 7, 2), "M", "BRA", "BR"),
    Person("Hernández", "Ximena", date(1998, 10, 21), "F", "MEX", "MX"),
    Person("Okafor", "Chinedu", date(1979, 1, 30), "M", "NGA", "NG"),
    Person("Taylor", "Charlotte", date(1993, 5, 8), "F", "GBR", "GB"),
    Person("Ferreira", "Inês", date(1987, 12, 1), "F", "PRT", "PT"),
)
US_PEOPLE = (
    Person("Johnson", "Emily Rose", date(1985, 11, 2), "F", "USA", "US"),
    Person("Walker", "Tyler", date(1996, 4, 17), "M", "USA", "US"),
)
LOCALES = {"ES": "es-ES", "BR": "pt-BR", "MX": "es-MX", "PT": "pt-PT"}


@dataclass
class Row:
    defect: Defect
    total: int = 0
    correct: int = 0
    reasons_found: int = 0
    wrong: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    correct_by_kind: Counter[str] = field(default_factory=Counter)


@contextmanager
def scratch() -> Iterator[tuple[sessionmaker[Session], Settings]]:
    with tempfile.TemporaryDirectory(prefix="vigil-eval-idv-") as tmp:
        folder = Path(tmp)
        settings = Settings(
            database_url=f"sqlite:///{folder / 'vigil.db'}",
            data_dir=folder / "data",
            serve_worker=False,
            secret_key=SecretStr("eval-secret-key-not-for-production"),
        )
        engine = make_engine(settings)
        upgrade(engine)
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            ensure_default_queues(session, EVAL)  # reviews open cases in the identity queue
        try:
            yield factory, settings
        finally:
            engine.dispose()


def verify(
    factory: sessionmaker[Session], settings: Settings, external_id: str, doc: SyntheticDocument
) -> IdentityVerification:
    """Create the account, submit the document and process it, as the API and worker would."""
    profile = documents.profile_for(doc)
    images = {ImageSide.front: doc.front}
    if doc.back is not None:
        images[ImageSide.back] = doc.back
    if doc.selfie is not None:
        images[ImageSide.selfie] = doc.selfie
    with transaction(factory) as session:
        accounts.upsert_account(
            session,
            EVAL,
            external_id,
            AccountUpsert(
                side="freelancer",
                legal_name=profile["legal_name"],
                date_of_birth=profile["date_of_birth"],
                country=profile["country"],
                locale=LOCALES.get(profile["country"], "en-US"),
            ),
        )
        submitted = identity.submit(
            session,
            EVAL,
            account_external_id=external_id,
            kind=doc.kind,
            issuing_country=doc.truth.issuing_country,
            images=images,
            settings=settings,
        )
        verification_id = submitted.id
    with transaction(factory) as session:
        verification = session.get(IdentityVerification, verification_id)
        assert verification is not None
        pipeline.process(session, settings, verification)
        return verification


def run(
    data_dir: Path | None = None,
    *,
    per_defect: int = 3,
    seed: int = 1,
    verbose: bool = False,
) -> list[str]:
    rng = random.Random(seed)
    today = clock.now().date()
    rows: dict[Defect, Row] = {}
    seconds: list[float] = []
    details: list[str] = []
    n = 0
    for defect in Defect:
        row = rows[defect] = Row(defect)
        kinds = [k for k in KINDS if defect in documents.applicable(k)]
        for i in range(per_defect):
            n += 1
            kind = kinds[i % len(kinds)]
            pool = US_PEOPLE if kind is DocumentKind.driver_license else PEOPLE
            person = pool[(n + i) % len(pool)]
            person = Person(**{**person.__dict__, "face": n})
            # A database per document: the simulator has two faces, so across documents the
            # same portrait would (rightly) be flagged as image reuse; only reused_document
            # shares its database with the first submission.
            with scratch() as (factory, settings):
                if defect is Defect.reused_document:
                    first = documents.render(kind, person, rng=rng, today=today)
                    verify(factory, settings, f"eval-{n}-first", first)
                    doc = documents.reuse(first, rng=rng, today=today)
                else:
                    defects = () if defect is Defect.none else (defect,)
                    doc = documents.render(kind, person, rng=rng, defects=defects, today=today)
                started = time.perf_counter()
                result = verify(factory, settings, f"eval-{n}", doc)
                seconds.append(time.perf_counter() - started)
            found = set(result.reasons)
            ok = result.outcome is doc.expected
            row.total += 1
            row.correct += ok
            row.by_kind[kind.value] += 1
            row.correct_by_kind[kind.value] += ok
            row.reasons_found += {r.value for r in doc.expected_reasons} <= found
            if not ok:
                got = result.outcome.value if result.outcome else result.status.value
                row.wrong[f"{got}: {', '.join(sorted(found)) or '-'}"] += 1
            if verbose or not ok:
                details.append(
                    f"  {defect.value:<18} {kind.value:<15} expected {doc.expected.value:<7} "
                    f"got {result.outcome.value if result.outcome else result.status.value:<7} "
                    f"{', '.join(result.reasons) or '-'}"
                )
    out = [
        "Simulated documents through the full pipeline "
        f"({per_defect} per defect, seed {seed}, scratch SQLite)",
        f"{'defect':<20}{'expected':<10}{'correct':>9}{'rate':>7}{'reasons':>9}  by kind",
    ]
    total = correct = 0
    for defect, row in rows.items():
        expected = documents.EXPECTED[defect][0]
        rate = 100 * row.correct / row.total if row.total else 0.0
        kinds = ", ".join(
            f"{k} {row.correct_by_kind[k]}/{row.by_kind[k]}" for k in sorted(row.by_kind)
        )
        out.append(
            f"{defect.value:<20}{expected.value:<10}{row.correct:>5}/{row.total:<3}"
            f"{rate:>6.0f}%{row.reasons_found:>6}/{row.total:<3} {kinds}"
        )
        for what, count in row.wrong.most_common():
            out.append(f"{'':<22}wrong x{count}: {what}")
        total += row.total
        correct += row.correct
    out.append(f"{'all':<20}{'':<10}{correct:>5}/{total:<3}{100 * correct / max(1, total):>6.0f}%")
    if seconds:
        ordered = sorted(seconds)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        out.append(
            f"seconds per verification (decode, OCR, barcode, faces, checks): median "
            f"{statistics.median(seconds):.1f}, p95 {p95:.1f}"
        )
    if details:
        out += ["details:", *details]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="unused; every document is made here"
    )
    parser.add_argument("--per-defect", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    print(
        "\n".join(run(args.data, per_defect=args.per_defect, seed=args.seed, verbose=args.verbose))
    )


if __name__ == "__main__":
    main()
