"""The demo's identity documents: some simulated sellers verify their identity.

After a run, a few accounts submit a passport, an ID card or (in the US) a driver's license
through the real intake (``identity.service.submit``): the images are checked, encrypted and
stored, and an ``identity.process`` job is queued. Reading and deciding happen later in the
worker, so loading the demo stays quick and the identity queue fills as the worker runs.

The mix is realistic: most documents are clean (approved), some are photographed badly or
expired (rejected with a reason the user can act on), and some need a person (a tampered
birth date, a document of someone else, a selfie of another face). Duplicate identities
(``Label.duplicate_identity``) submit the very document their original account used, so
document reuse shows up where the linked-accounts graph already sees the pair.

The shipped sample screening list (fictional people, ``screening.service.load_sample``) is
loaded with the documents, and one seller living in a country of a listed person is that
person's namesake (``NAMESAKE_ENTRY``: the same name and birth date, on the profile the
marketplace sends and on the document), so the queue shows a real screening hit.

Invariants:

- deterministic for a plan: the same accounts, kinds and defects every time (the pictures
  are drawn from the plan's seed);
- each submission has its own ``idempotency_key`` (``sim-<seed>-doc-<n>``), so it cannot be
  stored twice, and runs at a simulated moment after the account registered (clock frozen);
- one transaction per submission, like the marketplace's API calls;
- the sample list is loaded once (a list already loaded under its name is left as it is),
  and the namesake's profile update is sent only when it changes something.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts import service as accounts
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import transaction
from vigil.identity import service as identity
from vigil.identity.types import DocumentKind, ImageSide
from vigil.kit import clock
from vigil.kit.errors import NotFound
from vigil.screening import loaders
from vigil.screening import service as screening
from vigil.simulate import documents, pools, portraits
from vigil.simulate.documents import Defect, SyntheticDocument
from vigil.simulate.plan import AccountPlan, Label, Plan

SIMULATOR = Principal.system("simulator")
# At most this many documents, and one per 40 accounts (a small test run submits two).
# Drawing costs about a second per document, so the demo keeps it to a handful.
DEMO_DOCUMENTS = 16
ACCOUNTS_PER_DOCUMENT = 40
# The demo's mix of defects for first-time submissions (weights).
MIX: dict[Defect, int] = {
    Defect.none: 10,
    Defect.blur: 2,
    Defect.glare: 2,
    Defect.low_resolution: 1,
    Defect.expired: 2,
    Defect.bad_check_digit: 1,
    Defect.tampered_field: 2,
    Defect.mismatched_profile: 2,
    Defect.face_mismatch: 2,
}
# Countries whose citizens carry a TD1 identity card (MRZ on the back).
ID_CARD_COUNTRIES = frozenset({"ES", "PT", "AR", "MX", "CO", "BR"})
# The sample list's person whose namesake a seller is (Marisol Peñalver Quintanar, born
# 1972-02-09, ES and MX: countries the demo's sellers live in), and the holder's sex (the
# list does not say it).
NAMESAKE_ENTRY = "vgl-sample-005"
NAMESAKE_SEX = "F"


@dataclass(frozen=True)
class Namesake:
    """A person of the sample screening list, as a seller who shares their name."""

    entry_id: str
    legal_name: str
    birth_date: date
    countries: tuple[str, ...]
    sex: str


@cache
def sample_namesake(entry_id: str = NAMESAKE_ENTRY, sex: str = NAMESAKE_SEX) -> Namesake:
    """The listed person ``entry_id`` read from the shipped sample list (its CSV form)."""
    path = loaders.sample_path("csv")
    result = loaders.read(io.StringIO(path.read_text("utf-8"), newline=""), "csv")
    entry = next(e for e in result.entries if e.entry_id == entry_id)
    return Namesake(
        entry_id=entry.entry_id,
        legal_name=entry.names[0],
        birth_date=date.fromisoformat(entry.birth_dates[0]),
        countries=tuple(entry.countries),
        sex=sex,
    )


@dataclass(frozen=True)
class Submission:
    account: AccountPlan
    kind: DocumentKind
    defect: Defect
    at: datetime
    reuse_of: int | None = None  # index (in the submission list) of the document reused
    namesake: Namesake | None = None  # the seller is this listed person's namesake

    @property
    def legal_name(self) -> str:
        return self.namesake.legal_name if self.namesake else self.account.legal_name

    @property
    def date_of_birth(self) -> date:
        return self.namesake.birth_date if self.namesake else self.account.date_of_birth


def _sex(account: AccountPlan) -> str:
    country = next((c for c in pools.COUNTRIES if c.code == account.country), None)
    first = account.legal_name.split()[0]
    if country is not None and any(pools.place(n).split()[0] == first for n in country.female):
        return "F"
    return "M"


def _kind(account: AccountPlan, rng: random.Random) -> DocumentKind:
    if account.country == "US":
        return DocumentKind.driver_license if rng.random() < 0.8 else DocumentKind.passport
    if account.country in ID_CARD_COUNTRIES and rng.random() < 0.6:
        return DocumentKind.id_card
    return DocumentKind.passport


def demo_count(plan: Plan) -> int:
    return max(1, min(DEMO_DOCUMENTS, len(plan.accounts) // ACCOUNTS_PER_DOCUMENT))


def plan_submissions(plan: Plan, *, count: int | None = None) -> list[Submission]:
    """Who submits what, and when: every duplicate-identity pair first (the original's
    document, then the same document again from the duplicate), then the namesake of a
    listed person (a seller living in one of that person's countries, a clean document),
    then sellers chosen at random with defects drawn from ``MIX``; ``count`` submissions at
    most (by default one per 40 accounts, up to ``DEMO_DOCUMENTS``)."""
    count = demo_count(plan) if count is None else count
    rng = random.Random(f"identity-{plan.seed}")
    latest = plan.now - timedelta(hours=1)
    out: list[Submission] = []

    def when(a: AccountPlan) -> datetime:
        return min(a.registered_at + timedelta(hours=rng.uniform(0.5, 72)), latest)

    groups: dict[str, list[AccountPlan]] = {}
    for a in plan.accounts:
        if a.label is Label.duplicate_identity and a.group_key:
            groups.setdefault(a.group_key, []).append(a)
    # About one submission in six is a duplicate pair (at least one pair in a run of three).
    for key in sorted(groups)[: max(1 if count >= 3 else 0, count // 6)]:
        original, *copies = groups[key]
        if not copies:
            continue
        out.append(Submission(original, _kind(original, rng), Defect.none, when(original)))
        first = len(out) - 1
        dup = copies[0]
        at = max(when(dup), out[first].at + timedelta(minutes=5))
        out.append(
            Submission(
                dup, out[first].kind, Defect.reused_document, min(at, latest), reuse_of=first
            )
        )
    taken = {s.account.index for s in out}
    sellers = [a for a in plan.accounts if a.is_seller and a.index not in taken]
    rng.shuffle(sellers)
    namesake = sample_namesake()
    seller = next((a for a in sellers if a.country in namesake.countries), None)
    if seller is not None:
        sellers.remove(seller)
        out.append(
            Submission(seller, _kind(seller, rng), Defect.none, when(seller), namesake=namesake)
        )
    defects, weights = list(MIX), list(MIX.values())
    for a in sellers[: max(0, count - len(out))]:
        kind = _kind(a, rng)
        defect = rng.choices(defects, weights)[0]
        if defect not in documents.applicable(kind):
            defect = Defect.none
        out.append(Submission(a, kind, defect, when(a)))
    return out[:count]


def render_submission(
    plan: Plan, sub: Submission, rng: random.Random, rendered: list[SyntheticDocument]
) -> SyntheticDocument:
    """The document of one submission. A mismatched profile is a document of someone else
    (the account's own profile stays as the marketplace sent it)."""
    a = sub.account
    person = documents.person_from_account(
        sub.legal_name,
        sub.date_of_birth,
        a.country,
        # One face per submission, within the faces the portraits vouch to be distinct.
        face=len(rendered) % portraits.CHECKED_PEOPLE,
        sex=sub.namesake.sex if sub.namesake else _sex(a),
    )
    today = sub.at.date()
    if sub.reuse_of is not None:
        return documents.reuse(rendered[sub.reuse_of], rng=rng, today=today)
    defects: tuple[Defect, ...] = (sub.defect,)
    if sub.defect is Defect.mismatched_profile:
        person, defects = documents.impostor(person, rng), ()
    doc = documents.render(sub.kind, person, rng=rng, defects=defects, today=today)
    if sub.defect is Defect.mismatched_profile:
        doc = replace(doc, defects=(Defect.mismatched_profile,))
    return doc


def submit_documents(
    factory: sessionmaker[Session],
    plan: Plan,
    *,
    count: int | None = None,
    actor: Principal = SIMULATOR,
    settings: Settings | None = None,
) -> list[tuple[Submission, int]]:
    """Load the sample screening list, then submit the planned documents; returns each
    submission with its verification id. Processing is left to the worker
    (``identity.process`` jobs)."""
    load_screening_sample(factory, plan, actor=actor)
    rng = random.Random(f"identity-images-{plan.seed}")
    rendered: list[SyntheticDocument] = []
    out: list[tuple[Submission, int]] = []
    for n, sub in enumerate(plan_submissions(plan, count=count)):
        doc = render_submission(plan, sub, rng, rendered)
        rendered.append(doc)
        images = {ImageSide.front: doc.front}
        if doc.back is not None:
            images[ImageSide.back] = doc.back
        if doc.selfie is not None:
            images[ImageSide.selfie] = doc.selfie
        with clock.frozen(sub.at), transaction(factory) as session:
            if sub.namesake is not None:
                # The marketplace sends the seller's verified profile with the documents.
                accounts.upsert_account(
                    session,
                    actor,
                    sub.account.external_id,
                    AccountUpsert(legal_name=sub.legal_name, date_of_birth=sub.date_of_birth),
                )
            verification = identity.submit(
                session,
                actor,
                account_external_id=sub.account.external_id,
                kind=sub.kind,
                issuing_country=doc.truth.issuing_country,
                images=images,
                idempotency_key=f"sim-{plan.seed}-doc-{n}",
                settings=settings,
            )
            out.append((sub, verification.id))
    return out


def load_screening_sample(
    factory: sessionmaker[Session], plan: Plan, *, actor: Principal = SIMULATOR
) -> bool:
    """Load the shipped sample screening list before the first submission (an hour before
    the plan's history begins), unless a list of its name is there already. True when it
    was loaded now."""
    with clock.frozen(plan.start - timedelta(hours=1)), transaction(factory) as session:
        try:
            screening.get_list(session, loaders.SAMPLE_LIST)
            return False
        except NotFound:
            screening.load_sample(session, actor)
            return True
