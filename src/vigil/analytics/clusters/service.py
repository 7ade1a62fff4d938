"""Emerging clusters: finding new groups of similar texts, and triaging them.

Detection (:func:`detect`, run hourly by :mod:`vigil.analytics.clusters.tasks`):

1. Read the texts of report_filed events and of flagged message_sent events (outcome review
   or block) of the recent window (``cluster_window_hours``) and of the baseline window (the
   ``cluster_baseline_days`` before it), newest first, each capped
   (``cluster_max_texts`` / ``cluster_max_baseline_texts``): memory is bounded whatever the
   volume. Events on legal-tier cases are never read.
2. Texts identical after masking contact details and folding digits, case and spaces are one
   row: scikit-learn's TF-IDF vectorizer over character 3-5-grams within word boundaries
   (sublinear term frequency, no IDF: see :func:`_vectorizer`), which survives typos,
   inserted spaces and changed names and numbers in copy-pasted scam texts, in any language.
   Near-copies are what is grouped; paraphrases in reporters' own words are not.
3. Texts at cosine similarity >= ``cluster_similarity`` are neighbours; the connected
   components of that graph (:func:`vigil.analytics.clusters.grouping.components`, block by
   block) are split by average linkage into parts whose members are on average at least
   ``cluster_group_similarity`` alike (:func:`~vigil.analytics.clusters.grouping.split`).
   A part counts when it has at least ``cluster_min_size`` texts from
   ``cluster_min_accounts`` distinct accounts.
4. A group is *new* when the baseline held few texts like it: the baseline texts within the
   same similarity of any member, scaled to the recent window's length (``expected``), must
   be at most ``size / cluster_novelty_ratio``, and ``size - expected`` at least
   ``cluster_min_size``. A message template that has run all week is no news.
5. A group that matches a cluster already stored (sharing a member event, or with its centroid
   within ``cluster_similarity`` of the stored examples') updates that cluster, new or not;
   otherwise a new group becomes a new cluster.

Everything is deterministic given the data: reads are ordered by (time, id), groups are
sorted by size then oldest event, ties in examples and terms are broken by id and text.

Nothing here commits. Triage (acknowledge, dismiss) needs ``trends:triage`` and is audited;
escalation is :func:`vigil.analytics.incidents.service.open_from_cluster`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from vigil.analytics.clusters import grouping
from vigil.analytics.clusters.models import MAX_MEMBERS, ClusterStatus, TextCluster
from vigil.analytics.sql import dialect_of, json_text
from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.config import Settings
from vigil.detection.models import Event, Outcome
from vigil.enforcement.precedent import redact_contacts
from vigil.kit import clock
from vigil.kit.errors import IllegalTransition, InvalidInput, NotFound
from vigil.kit.pagination import decode_id_cursor, encode_cursor

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

EXAMPLES = 5
TERMS = 5
MAX_TEXT_CHARS = 1_000  # longer texts are compared on their beginning
MAX_EXAMPLE_CHARS = 500
MAX_REASON = 4_000
# Memory bounds of one run: cells of one block of the baseline x members similarity product
# (float64: 32 MB), and the MB scikit-learn may use per block of the neighbour search.
_BLOCK_CELLS = 4_000_000
_WORKING_MB = 64
# Stored clusters a run compares its groups with: the newest this many seen since the
# baseline window began (older ones have no member left in either window).
_RECENT_CLUSTERS = 500
# Any fixed 63-bit number: names the cluster job's lock among PostgreSQL advisory locks.
_LOCK_KEY = 0x5649_4749_4C43_4C55 & 0x7FFF_FFFF_FFFF_FFFF

REPORT = "report_filed"
MESSAGE = "message_sent"
_FLAGGED = (Outcome.review.value, Outcome.block.value)
# Placeholders left by masking: never a cluster's topic.
_MASK_WORDS = frozenset({"email", "phone", "link", "username", "payment", "details"})
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")
# Words that never name a topic: English (scikit-learn's list) and the commonest Spanish and
# Portuguese ones of three letters or more (shorter words are not tokens at all).
_MORE_STOP_WORDS = frozenset(
    {
        "que",
        "para",
        "por",
        "con",
        "com",
        "los",
        "las",
        "del",
        "una",
        "uma",
        "como",
        "mas",
        "pero",
        "este",
        "esta",
        "isso",
        "esto",
        "muy",
        "mais",
        "usted",
        "voce",
        "você",
        "hola",
        "olá",
        "ola",
        "gracias",
        "obrigado",
        "hello",
    }
)


# --- reading texts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    event_id: int
    type: str
    account: str
    occurred_at: datetime
    body: str


@dataclass(frozen=True)
class Window:
    texts: list[Text]
    # The span the texts cover: the window, or less when the cap cut its older part off.
    hours: float


def _read(
    session: Session, start: datetime, end: datetime, cap: int, *, through: bool = False
) -> Window:
    """The newest ``cap`` texts with ``start <= occurred_at < end`` (``<= end`` when
    ``through``: the recent window includes the run's own instant), newest first.

    Events on legal-tier cases are never read: a cluster's examples, words and members are
    shown to every staff member with ``trends:read``, and a legal case's texts exist only for
    those with ``cases:legal`` (the case page hides them the same way)."""
    dialect = dialect_of(session)
    body = json_text(dialect, Event.payload, "data", "text")
    rows: list[Text] = []
    # One ordered index walk per (type, outcome): reports whatever their outcome
    # (``ix_events_type_occurred``), flagged messages per outcome
    # (``ix_events_type_outcome_occurred``, so the allowed messages, most of them, are never
    # touched).
    for kind, outcome in ((REPORT, None), *((MESSAGE, o) for o in _FLAGGED)):
        query = (
            select(Event.id, Event.type, Event.account_external_id, Event.occurred_at, body)
            .outerjoin(Case, Case.id == Event.case_id)
            .where(
                Event.type == kind,
                Event.occurred_at >= start,
                Event.occurred_at <= end if through else Event.occurred_at < end,
                body.is_not(None),
                or_(Event.case_id.is_(None), Case.tier != Tier.legal),
            )
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(cap)
        )
        if outcome is not None:
            query = query.where(Event.outcome == outcome)
        for row in session.execute(query):
            value = str(row[4] or "").strip()
            if value:
                rows.append(
                    Text(row[0], row[1], row[2], clock.as_utc(row[3]), value[:MAX_TEXT_CHARS])
                )
    rows.sort(key=lambda t: (t.occurred_at, t.event_id), reverse=True)
    rows = rows[:cap]
    hours = (end - start).total_seconds() / 3600
    if len(rows) == cap and rows:
        hours = max((end - rows[-1].occurred_at).total_seconds() / 3600, 1 / 60)
    return Window(rows, hours)


def _key(value: str) -> str:
    """What texts are compared on: contact details masked (a wave of one message rotates
    its email address and phone number), digits folded (order numbers, amounts), case and
    spacing folded. Texts with the same key are one row of the matrix, with a count: a wave
    of exact copies costs one row, not one per copy."""
    return _SPACES.sub(" ", _DIGITS.sub("0", redact_contacts(value).casefold())).strip()


def _counts(settings: Settings, texts: Sequence[Text]) -> bool:
    """Whether ``texts`` are enough to be a group: ``cluster_min_size`` texts from
    ``cluster_min_accounts`` accounts (one account repeating itself is no pattern)."""
    return (
        len(texts) >= settings.cluster_min_size
        and len({t.account for t in texts}) >= settings.cluster_min_accounts
    )


@dataclass
class _Uniques:
    """Distinct texts (by :func:`_key`) of a window, in order of first appearance, with the
    texts (events) behind each."""

    docs: list[str] = field(default_factory=list)
    members: list[list[Text]] = field(default_factory=list)

    @classmethod
    def of(cls, texts: Sequence[Text]) -> _Uniques:
        out = cls()
        index: dict[str, int] = {}
        for t in texts:
            k = _key(t.body)
            i = index.get(k)
            if i is None:
                index[k] = i = len(out.docs)
                out.docs.append(k)
                out.members.append([])
            out.members[i].append(t)
        return out


# --- grouping ---------------------------------------------------------------------------------


@dataclass
class Group:
    rows: list[int]  # rows of the recent unique matrix
    texts: list[Text]  # every member, newest first
    accounts: int
    baseline_matches: int = 0
    expected: float = 0.0

    @property
    def size(self) -> int:
        return len(self.texts)

    @property
    def event_ids(self) -> list[int]:
        return [t.event_id for t in self.texts]


@dataclass(frozen=True)
class DetectResult:
    created: list[int]
    updated: list[int]
    texts: int
    baseline: int


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        sublinear_tf=True,
        # No IDF: with it a text's vector depends on what else the window holds, and a wave
        # that is most of a quiet hour would weigh its own shared n-grams down (nine copies
        # of one message fall to 0.42 cosine). Without it similarity is a property of the
        # two texts alone, the same in every run, which also keeps matching stored clusters
        # stable.
        use_idf=False,
        strip_accents="unicode",
        lowercase=True,
    )


def _baseline_matches(
    groups: list[Group],
    matrix: csr_matrix,
    baseline: csr_matrix,
    counts: list[int],
    similarity: float,
) -> list[int]:
    """For each group, the baseline texts (counted per event) within ``similarity`` of any
    of its members. One sparse product for all groups, in blocks of baseline rows so memory
    stays bounded; the per-group maximum is a ``reduceat`` over the groups' columns."""
    import numpy as np
    from scipy.sparse import vstack

    found = [0] * len(groups)
    if baseline.shape[0] == 0 or not groups:
        return found
    members = vstack([matrix[g.rows] for g in groups]).T.tocsc()
    offsets = np.cumsum([0] + [len(g.rows) for g in groups[:-1]])
    weights = np.asarray(counts, dtype=np.int64)
    step = max(1, _BLOCK_CELLS // members.shape[1])
    totals = np.zeros(len(groups), dtype=np.int64)
    for start in range(0, baseline.shape[0], step):
        block = np.asarray((baseline[start : start + step] @ members).todense())
        best = np.maximum.reduceat(block, offsets, axis=1)
        totals += weights[start : start + step] @ (best >= similarity - 1e-9)
    return [int(t) for t in totals]


def _terms(docs: list[str], groups: list[list[int]]) -> list[list[str]]:
    """Each group's top words: mean TF-IDF over its distinct (masked) texts, against all the
    window's texts, so words every text shares ("hello", "the") rank low."""
    import numpy as np
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    vec = TfidfVectorizer(
        token_pattern=r"(?u)\b[^\W\d_]{3,}\b",
        stop_words=sorted(ENGLISH_STOP_WORDS | _MORE_STOP_WORDS),
        strip_accents="unicode",
        lowercase=True,
        sublinear_tf=True,
    )
    try:
        matrix = vec.fit_transform(docs)
    except ValueError:  # no word of three letters in any text
        return [[] for _ in groups]
    vocabulary = vec.get_feature_names_out()
    out: list[list[str]] = []
    for rows in groups:
        weights = np.asarray(matrix[rows].mean(axis=0)).ravel()
        ranked = sorted(
            (i for i in np.flatnonzero(weights) if vocabulary[i] not in _MASK_WORDS),
            key=lambda i: (-round(float(weights[i]), 9), vocabulary[i]),
        )
        out.append([str(vocabulary[i]) for i in ranked[:TERMS]])
    return out


def _examples(group: Group, unique: _Uniques, matrix: csr_matrix) -> list[dict[str, Any]]:
    """The distinct texts nearest the group's centroid (newest event of each), masked."""
    import numpy as np

    sub = matrix[group.rows]
    scores = np.asarray(sub @ grouping.centroid(sub)).ravel()
    order = sorted(range(len(group.rows)), key=lambda i: (-round(float(scores[i]), 9), i))
    out: list[dict[str, Any]] = []
    for i in order[:EXAMPLES]:
        t = unique.members[group.rows[i]][0]
        out.append(
            {
                "event_id": t.event_id,
                "type": t.type,
                "occurred_at": t.occurred_at.isoformat(),
                "text": redact_contacts(t.body)[:MAX_EXAMPLE_CHARS],
            }
        )
    return out


# --- the job ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What one run reads from the database: the two windows' texts."""

    now: datetime
    base_start: datetime
    recent: Window
    baseline: Window


@dataclass
class Analysis:
    """The groups found in a :class:`Snapshot`, with what storing them needs."""

    groups: list[Group]
    terms: list[list[str]]
    unique: _Uniques
    matrix: csr_matrix
    vectorizer: Any


def snapshot(session: Session, settings: Settings, *, now: datetime | None = None) -> Snapshot:
    """Read both windows (bounded by the caps). Reads only."""
    now = clock.as_utc(now or clock.now())
    window_start = now - timedelta(hours=settings.cluster_window_hours)
    base_start = window_start - timedelta(days=settings.cluster_baseline_days)
    recent = _read(session, window_start, now, settings.cluster_max_texts, through=True)
    baseline = _read(session, base_start, window_start, settings.cluster_max_baseline_texts)
    return Snapshot(now, base_start, recent, baseline)


def analyse(snap: Snapshot, settings: Settings) -> Analysis | None:
    """Group the recent texts and measure each group against the baseline. Pure computation
    (no database): the job runs it outside any transaction, so that on SQLite the seconds it
    takes do not hold the write lock."""
    if len(snap.recent.texts) < settings.cluster_min_size:
        return None
    unique = _Uniques.of(snap.recent.texts)
    base_unique = _Uniques.of(snap.baseline.texts)
    vectorizer = _vectorizer()
    try:
        both = vectorizer.fit_transform(unique.docs + base_unique.docs).tocsr()
    except ValueError:  # nothing but texts too short for a 3-gram
        return None
    matrix = both[: len(unique.docs)]
    base_matrix = both[len(unique.docs) :]
    sim = settings.cluster_similarity

    groups: list[Group] = []
    link_sim = settings.cluster_group_similarity
    for component in grouping.components(matrix, sim):
        if not _counts(settings, [t for r in component for t in unique.members[r]]):
            continue
        for rows in grouping.split(matrix, component, sim, link_sim):
            texts = sorted(
                (t for r in rows for t in unique.members[r]),
                key=lambda t: (t.occurred_at, t.event_id),
                reverse=True,
            )
            if _counts(settings, texts):
                groups.append(Group(rows, texts, len({t.account for t in texts})))
    groups.sort(key=lambda g: (-g.size, g.rows[0]))
    if not groups:
        return None
    base_counts = [len(m) for m in base_unique.members]
    matches = _baseline_matches(groups, matrix, base_matrix, base_counts, sim)
    for group, count in zip(groups, matches, strict=True):
        group.baseline_matches = count
        group.expected = count * snap.recent.hours / max(snap.baseline.hours, 1 / 60)
    terms = _terms(unique.docs, [g.rows for g in groups])
    return Analysis(groups, terms, unique, matrix, vectorizer)


def store(
    session: Session, settings: Settings, snap: Snapshot, analysis: Analysis | None
) -> DetectResult:
    """Update the clusters the groups continue and create the new ones."""
    result = DetectResult([], [], len(snap.recent.texts), len(snap.baseline.texts))
    if analysis is None:
        return result
    if dialect_of(session) == "postgresql":
        # Two workers storing at once would both create the same cluster; the second one in
        # sees the first one's clusters and updates them.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    sim = settings.cluster_similarity
    stored = _recent_clusters(session, snap.base_start)
    stored_centroids = _stored_centroids(analysis.vectorizer, stored)
    taken: set[int] = set()
    for group, words in zip(analysis.groups, analysis.terms, strict=True):
        found = _match(group, analysis.matrix, stored, stored_centroids, taken, sim)
        # Far above what the baseline predicts, by a ratio and by a margin of whole texts
        # (two baseline look-alikes must not make five texts news).
        novel = (
            group.size >= settings.cluster_novelty_ratio * group.expected
            and group.size - group.expected >= settings.cluster_min_size
        )
        if found is None and not novel:
            continue
        examples = _examples(group, analysis.unique, analysis.matrix)
        if found is None:
            cluster = TextCluster(
                first_seen_at=group.texts[-1].occurred_at,
                last_seen_at=group.texts[0].occurred_at,
                detected_at=snap.now,
                status=ClusterStatus.new,
            )
            _fill(cluster, group, words, examples, [], snap.now)
            session.add(cluster)
            session.flush()
            result.created.append(cluster.id)
            stored.append(cluster)
            taken.add(cluster.id)
        else:
            taken.add(found.id)
            _fill(found, group, words, examples, list(found.member_event_ids or []), snap.now)
            found.first_seen_at = min(
                clock.as_utc(found.first_seen_at), group.texts[-1].occurred_at
            )
            found.last_seen_at = max(clock.as_utc(found.last_seen_at), group.texts[0].occurred_at)
            session.flush()
            result.updated.append(found.id)
    return result


def detect(session: Session, settings: Settings, *, now: datetime | None = None) -> DetectResult:
    """One run of cluster detection in the caller's transaction (see the module docstring;
    the job splits it around :func:`analyse`). Safe to run twice: a second run over the same
    data finds the same groups and updates the same clusters."""
    snap = snapshot(session, settings, now=now)
    return store(session, settings, snap, analyse(snap, settings))


def _fill(
    cluster: TextCluster,
    group: Group,
    words: list[str],
    examples: list[dict[str, Any]],
    previous_ids: list[Any],
    now: datetime,
) -> None:
    ids = sorted({int(i) for i in previous_ids} | set(group.event_ids), reverse=True)
    cluster.label = (", ".join(words) or "(no words)")[:200]
    cluster.terms = words
    cluster.size = group.size
    cluster.accounts = group.accounts
    cluster.baseline_matches = group.baseline_matches
    cluster.event_types = sorted({t.type for t in group.texts})
    cluster.examples = examples
    cluster.member_event_ids = ids[:MAX_MEMBERS]
    cluster.updated_at = now


def _recent_clusters(session: Session, since: datetime) -> list[TextCluster]:
    return list(
        session.scalars(
            select(TextCluster)
            .where(TextCluster.last_seen_at >= since)
            .order_by(TextCluster.id.desc())
            .limit(_RECENT_CLUSTERS)
        )
    )


def _stored_centroids(vectorizer: Any, stored: list[TextCluster]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for c in stored:
        docs = [_key(str(e.get("text", ""))) for e in c.examples or [] if e.get("text")]
        if docs:
            out[c.id] = grouping.centroid(vectorizer.transform(docs))
    return out


def _match(
    group: Group,
    matrix: csr_matrix,
    stored: list[TextCluster],
    centroids: dict[int, Any],
    taken: set[int],
    similarity: float,
) -> TextCluster | None:
    """The stored cluster this group continues: most shared member events first, then the
    nearest centroid within ``similarity``; a cluster already matched in this run is not
    matched again (the larger group, seen first, keeps it)."""
    members = set(group.event_ids)
    best: tuple[int, int] | None = None
    for c in stored:
        if c.id in taken:
            continue
        shared = len(members.intersection(int(i) for i in c.member_event_ids or []))
        if shared and (best is None or (shared, -c.id) > (best[0], -best[1])):
            best = (shared, c.id)
    if best is not None:
        return next(c for c in stored if c.id == best[1])
    centre = grouping.centroid(matrix[group.rows])
    nearest: tuple[float, int] | None = None
    for c in stored:
        if c.id in taken or c.id not in centroids:
            continue
        score = float(centroids[c.id] @ centre)
        if score >= similarity and (nearest is None or score > nearest[0]):
            nearest = (score, c.id)
    if nearest is None:
        return None
    return next(c for c in stored if c.id == nearest[1])


# --- reading and triage -----------------------------------------------------------------------


def list_clusters(
    session: Session,
    actor: Principal,
    *,
    status: ClusterStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[TextCluster], str | None]:
    """Newest first, keyset on id (``ix_text_clusters_status`` for a status)."""
    actor.require(Permission.trends_read)
    query = select(TextCluster).order_by(TextCluster.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(TextCluster.status == status)
    if cursor:
        query = query.where(TextCluster.id < decode_id_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].id]) if more and rows else None
    return visible(session, actor, rows), next_cursor


def get_cluster(
    session: Session, actor: Principal, cluster_id: int, *, lock: bool = False
) -> TextCluster:
    """The cluster as ``actor`` may see it (see :func:`visible`); with ``lock`` (the
    triage writes) the stored row itself."""
    actor.require(Permission.trends_read)
    cluster = load_cluster(session, cluster_id, lock=lock)
    return cluster if lock else visible(session, actor, [cluster])[0]


def legal_event_ids(session: Session, ids: Sequence[int]) -> set[int]:
    """Those of ``ids`` that are events on legal-tier cases (read in chunks by primary key)."""
    ids = sorted(set(ids))
    hidden: set[int] = set()
    for start in range(0, len(ids), 1_000):
        hidden.update(
            session.scalars(
                select(Event.id)
                .join(Case, Case.id == Event.case_id)
                .where(Event.id.in_(ids[start : start + 1_000]), Case.tier == Tier.legal)
            )
        )
    return hidden


def visible(session: Session, actor: Principal, rows: list[TextCluster]) -> list[TextCluster]:
    """``rows`` without the examples and member ids of events that sit on legal-tier cases,
    for an actor without ``cases:legal``. The job never reads such events, but an event may
    be moved onto a legal case after it joined a cluster (or joined before the job left them
    out): its text and id must not reach who may not see the case. A cluster with something
    to hide comes back as an unsaved copy, so the stored row is never changed by reading."""
    if actor.can(Permission.legal_cases) or not rows:
        return rows
    ids = sorted(
        {int(e["event_id"]) for c in rows for e in c.examples or [] if e.get("event_id")}
        | {int(i) for c in rows for i in c.member_event_ids or []}
    )
    hidden = legal_event_ids(session, ids)
    if not hidden:
        return rows
    out: list[TextCluster] = []
    for c in rows:
        examples = [e for e in c.examples or [] if int(e.get("event_id") or 0) not in hidden]
        members = [i for i in c.member_event_ids or [] if int(i) not in hidden]
        if len(examples) == len(c.examples or []) and len(members) == len(c.member_event_ids or []):
            out.append(c)
            continue
        copy = TextCluster(
            **{a.key: getattr(c, a.key) for a in TextCluster.__mapper__.column_attrs}
        )
        copy.examples = examples
        copy.member_event_ids = members
        out.append(copy)
    return out


def load_cluster(session: Session, cluster_id: int, *, lock: bool = False) -> TextCluster:
    """The cluster for callers that checked their own permission; 404 ``cluster_not_found``."""
    query = select(TextCluster).where(TextCluster.id == cluster_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    cluster = session.scalar(query)
    if cluster is None:
        raise NotFound("no such cluster", field="cluster_id", code="cluster_not_found")
    return cluster


def new_count(session: Session, actor: Principal) -> int:
    """Clusters nobody has looked at yet (the console's badge)."""
    actor.require(Permission.trends_read)
    return int(
        session.scalar(
            select(func.count())
            .select_from(TextCluster)
            .where(TextCluster.status == ClusterStatus.new)
        )
        or 0
    )


def case_ids(session: Session, cluster: TextCluster) -> list[int]:
    """The cases the cluster's (bounded) member events were filed on, oldest case first."""
    ids = [int(i) for i in cluster.member_event_ids or []]
    if not ids:
        return []
    return list(
        session.scalars(
            select(Event.case_id)
            .where(Event.id.in_(ids), Event.case_id.is_not(None))
            .distinct()
            .order_by(Event.case_id)
        )
    )


_NEXT: dict[ClusterStatus, frozenset[ClusterStatus]] = {
    ClusterStatus.new: frozenset(
        {ClusterStatus.acknowledged, ClusterStatus.dismissed, ClusterStatus.escalated}
    ),
    ClusterStatus.acknowledged: frozenset({ClusterStatus.dismissed, ClusterStatus.escalated}),
    ClusterStatus.dismissed: frozenset({ClusterStatus.escalated}),
    ClusterStatus.escalated: frozenset(),
}


def _check(cluster: TextCluster, to: ClusterStatus) -> None:
    current = ClusterStatus(cluster.status)
    if to not in _NEXT[current]:
        raise IllegalTransition(
            f"a cluster that is {current.value} cannot be {to.value}",
            field="status",
            code="illegal_transition",
        )


def _text(value: str | None, field: str, *, required: bool) -> str | None:
    cleaned = (value or "").strip()
    if required and not cleaned:
        raise InvalidInput(f"{field} is required", field=field, code=f"{field}_required")
    if len(cleaned) > MAX_REASON:
        raise InvalidInput(f"{field} is longer than {MAX_REASON} characters", field=field)
    return cleaned or None


def acknowledge(
    session: Session, actor: Principal, cluster_id: int, note: str | None = None
) -> TextCluster:
    """Someone has looked at the cluster and is on it (``trends:triage``)."""
    actor.require(Permission.trends_triage)
    cleaned = _text(note, "note", required=False)
    cluster = get_cluster(session, actor, cluster_id, lock=True)
    _check(cluster, ClusterStatus.acknowledged)
    cluster.status = ClusterStatus.acknowledged
    cluster.acknowledged_at = clock.now()
    cluster.acknowledged_by_id = actor.staff_id
    cluster.acknowledged_by_label = actor.label
    cluster.note = cleaned
    session.flush()
    audit.record(
        session, actor, "analytics.cluster.acknowledge", "text_cluster", cluster.id, reason=cleaned
    )
    return cluster


def dismiss(session: Session, actor: Principal, cluster_id: int, reason: str) -> TextCluster:
    """Not a problem (a marketing template, a known bot): ``reason`` is required."""
    actor.require(Permission.trends_triage)
    cleaned = _text(reason, "reason", required=True)
    cluster = get_cluster(session, actor, cluster_id, lock=True)
    _check(cluster, ClusterStatus.dismissed)
    cluster.status = ClusterStatus.dismissed
    cluster.dismissed_at = clock.now()
    cluster.dismissed_by_id = actor.staff_id
    cluster.dismissed_by_label = actor.label
    cluster.dismiss_reason = cleaned
    session.flush()
    audit.record(
        session, actor, "analytics.cluster.dismiss", "text_cluster", cluster.id, reason=cleaned
    )
    return cluster


def check_escalation(cluster: TextCluster) -> None:
    """Raise 409 unless the cluster may be escalated (before anything is written)."""
    _check(cluster, ClusterStatus.escalated)


def mark_escalated(
    session: Session, actor: Principal, cluster: TextCluster, incident_id: int
) -> None:
    """Record that ``cluster`` became (part of) incident ``incident_id``. Called by the
    incidents service, which checked ``incidents:write`` and locked the cluster."""
    _check(cluster, ClusterStatus.escalated)
    cluster.status = ClusterStatus.escalated
    cluster.escalated_at = clock.now()
    cluster.incident_id = incident_id
    session.flush()
    audit.record(
        session,
        actor,
        "analytics.cluster.escalate",
        "text_cluster",
        cluster.id,
        data={"incident_id": incident_id},
    )
