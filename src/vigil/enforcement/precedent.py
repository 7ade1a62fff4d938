"""Precedent: how reviewers decided cases like this one before, under the same policy.

Consistency is a quality measure: two agents looking at the same facts under the same policy
should reach the same action. :func:`similar_decisions` shows a reviewer the decisions most
like the case in front of them, with what happened afterwards (was it appealed, overturned?).

How the candidates are chosen and ranked:

- **Candidates** are the newest :data:`MAX_CANDIDATES` decisions citing the case's policy
  (``decision_policies`` by ``policy_code``, newest first: the ``ix_decision_policies_code``
  index), that took effect (applied, or applied and later reversed: an overturned decision is
  precedent too, of what not to do), on *other* cases the principal may see (legal-tier cases
  only with ``cases:legal``). Bounded, so the cost does not grow with the history.
- **Text** of a case: its title, its summary and the texts of up to
  :data:`TEXTS_PER_CASE` of its events that carry user-written text (the flagged messages,
  listings, reviews...), newest first, each cut at :data:`TEXT_CHARS` characters. Only the
  newest :data:`CANDIDATE_WINDOW` events of a candidate case are looked at (of the case
  itself, :data:`OWN_WINDOW`), read backwards from the ``(case_id, id)`` index: the cost
  per case is bounded however many events a case gathered.
- **Similarity** is the cosine of TF-IDF vectors (scikit-learn, word unigrams and bigrams,
  accents stripped, sublinear term frequency) fitted on the candidates and the case together,
  so a word common to every case under the policy ("payment", "platform") weighs little and a
  distinctive one ("bizum", "deposit first") a lot. The same case type adds
  :data:`SAME_TYPE_BONUS`. Ties go to the newer decision.

Contact details (emails, phones, usernames on other apps, payment details, links) that the
highlighter finds in the case title and in the decision's reasoning are replaced by a
placeholder. Nothing else is redacted: a name or another personal detail in a title or in
the reasoning is shown as written, as on a case list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session, aliased

from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases_service
from vigil.cases.models import Case
from vigil.detection.events import TEXT_TYPES
from vigil.detection.models import Event
from vigil.detection.text.highlight import CONTACT_KINDS, highlight
from vigil.enforcement.appeal_state import AppealState, appeal_states
from vigil.enforcement.models import Decision, DecisionAction, DecisionPolicy, DecisionStatus

__all__ = [
    "MAX_CANDIDATES",
    "Precedent",
    "PrecedentAction",
    "redact_contacts",
    "similar_decisions",
]

MAX_CANDIDATES: Final = 300
TEXTS_PER_CASE: Final = 3
TEXT_CHARS: Final = 1_000
# Flagged texts of the case itself: more of them, it is one case.
OWN_TEXTS: Final = 20
# How many of a case's newest events are looked at for its texts: a candidate's, and the
# case's own (as many as its page lists).
CANDIDATE_WINDOW: Final = 50
OWN_WINDOW: Final = 200
SAME_TYPE_BONUS: Final = 0.1
REASON_CHARS: Final = 400

_TOOK_EFFECT = (DecisionStatus.applied, DecisionStatus.reversed)
_PLACEHOLDER = {
    "email": "[email]",
    "phone": "[phone]",
    "url": "[link]",
    "handle": "[username]",
    "payment_handle": "[payment details]",
}


@dataclass(frozen=True, slots=True)
class PrecedentAction:
    type: str
    scope: str
    duration_days: int | None

    @property
    def label(self) -> str:
        """ "suspend account, 7 days", "warn account", "restrict payouts"."""
        text = f"{self.type} {self.scope}"
        if self.duration_days:
            text += f", {self.duration_days} day{'s' if self.duration_days != 1 else ''}"
        return text


@dataclass(frozen=True, slots=True)
class Precedent:
    """One past decision like the case at hand.

    ``appeal_outcome``: ``None`` (not appealed), ``"pending"`` (the appeal is open),
    ``"upheld"`` (the appeal closed and the decision stands), ``"overturned"`` (the
    decision was reversed after an appeal), ``"modified"`` (reversed and replaced by another
    action on the appeal case) or ``"withdrawn"`` (the user withdrew the appeal); see
    :mod:`vigil.enforcement.appeal_state`. ``reversed`` is set for any reversal, appealed
    or not (a supervisor can reverse a mistake without an appeal).
    """

    case_id: int
    case_title: str
    case_type: str
    decision_id: int
    decided_at: datetime
    reviewer: str
    policy_version: int
    no_violation: bool
    actions: tuple[PrecedentAction, ...]
    reason: str
    appealed: bool
    appeal_outcome: str | None
    reversed: bool
    similarity: float


def redact_contacts(text: str) -> str:
    """``text`` with every contact detail the highlighter finds replaced by a placeholder
    ("[email]", "[phone]"...): safe to show without revealing personal data."""
    if not text:
        return text
    out: list[str] = []
    pos = 0
    for span in highlight(text):
        if span.kind in CONTACT_KINDS:
            out.append(text[pos : span.start])
            out.append(_PLACEHOLDER[span.kind])
            pos = span.end
    out.append(text[pos:])
    return "".join(out)


def similar_decisions(
    session: Session, principal: Principal, case: Case, *, limit: int = 5
) -> list[Precedent]:
    """Up to ``limit`` past decisions under ``case``'s policy on other cases, most similar
    first (see the module docstring). Empty when the case has no policy yet or nothing was
    decided under it. The caller has already checked that ``principal`` may see ``case``."""
    principal.require(Permission.cases_read)
    if not case.policy_code or limit <= 0:
        return []
    candidates = _candidates(session, principal, case)
    if not candidates:
        return []
    case_ids = [c.case_id for c in candidates]
    texts = _case_texts(session, case_ids, TEXTS_PER_CASE, CANDIDATE_WINDOW)
    own = _case_texts(session, [case.id], OWN_TEXTS, OWN_WINDOW).get(case.id, [])
    query_doc = _document(case.title, case.summary, own)
    docs = [_document(c.title, c.summary, texts.get(c.case_id, [])) for c in candidates]
    scores = _similarities(query_doc, docs)
    ranked = sorted(
        zip(candidates, scores, strict=True),
        key=lambda pair: (
            -(pair[1] + (SAME_TYPE_BONUS if pair[0].case_type == case.type else 0.0)),
            -pair[0].decision_id,
        ),
    )[:limit]
    return _precedents(session, [(c, s) for c, s in ranked])


# --- candidates -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    decision_id: int
    case_id: int
    policy_version: int
    title: str
    summary: str
    case_type: str


def _candidates(session: Session, principal: Principal, case: Case) -> list[_Candidate]:
    query = (
        select(
            DecisionPolicy.decision_id,
            Decision.case_id,
            DecisionPolicy.policy_version,
            Case.title,
            Case.summary,
            Case.type,
        )
        .join(Decision, Decision.id == DecisionPolicy.decision_id)
        .join(Case, Case.id == Decision.case_id)
        .where(
            DecisionPolicy.policy_code == case.policy_code,
            Decision.case_id != case.id,
            Decision.status.in_(_TOOK_EFFECT),
        )
        .order_by(DecisionPolicy.decision_id.desc())
        .limit(MAX_CANDIDATES)
    )
    if not principal.can(Permission.legal_cases):
        query = query.where(Case.tier != Tier.legal)
    seen: set[int] = set()
    out = []
    for decision_id, case_id, version, title, summary, case_type in session.execute(query):
        if decision_id in seen:  # a decision citing the policy twice (never in practice)
            continue
        seen.add(decision_id)
        out.append(
            _Candidate(decision_id, case_id, version, title or "", summary or "", str(case_type))
        )
    return out


def _case_texts(
    session: Session, case_ids: list[int], per_case: int, window: int
) -> dict[int, list[str]]:
    """Up to ``per_case`` user-written texts of each case, newest first, among the case's
    newest ``window`` events. One query whose work is bounded per case: for each case the
    newest ``window`` event ids are read backwards from the ``(case_id, id)`` index, the
    text events among them kept (at most ``per_case``), and only those rows' payloads read.
    PostgreSQL runs the per-case part as a LATERAL join; SQLite, which has no LATERAL, as a
    correlated ``IN`` on the rowid (run once per case)."""
    if not case_ids:
        return {}
    recent_event = aliased(Event, name="recent_event")
    recent = (
        select(recent_event.id, recent_event.type)
        .where(recent_event.case_id == Case.id)
        .order_by(recent_event.id.desc())
        .limit(window)
        .correlate(Case)
        .subquery("recent")
    )
    newest = (
        select(recent.c.id)
        .where(recent.c.type.in_(TEXT_TYPES))
        .order_by(recent.c.id.desc())
        .limit(per_case)
        .correlate(Case)
    )
    text = func.substr(Event.payload["data"]["text"].as_string(), 1, TEXT_CHARS)
    query = select(Case.id, text).select_from(Case)
    if session.get_bind().dialect.name == "postgresql":
        chosen = newest.lateral("newest")
        query = query.join(chosen, true()).join(Event, Event.id == chosen.c.id)
    else:
        query = query.join(Event, Event.id.in_(newest))
    query = query.where(Case.id.in_(case_ids)).order_by(Case.id, Event.id.desc())
    out: dict[int, list[str]] = {}
    for case_id, value in session.execute(query):
        if value:
            out.setdefault(case_id, []).append(value)
    return out


def _document(title: str, summary: str, texts: list[str]) -> str:
    return "\n".join([title, summary, *texts])


def _similarities(query_doc: str, docs: list[str]) -> list[float]:
    """Cosine similarity of ``query_doc`` to each of ``docs`` over TF-IDF vectors fitted on
    all of them. Zero for every document when none shares a word with the query."""
    # Imported here: scikit-learn takes a while to import and only this needs it.
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        strip_accents="unicode", sublinear_tf=True, ngram_range=(1, 2), lowercase=True
    )
    try:
        matrix = vectorizer.fit_transform([query_doc, *docs])
    except ValueError:  # no word at all in any document (empty vocabulary)
        return [0.0] * len(docs)
    # Rows are L2-normalized by the vectorizer: the dot product is the cosine.
    scores = (matrix[1:] @ matrix[0].T).toarray().ravel()
    return [round(float(s), 4) for s in scores]


# --- the chosen few -------------------------------------------------------------------------


def _precedents(session: Session, ranked: list[tuple[_Candidate, float]]) -> list[Precedent]:
    if not ranked:
        return []
    ids = [c.decision_id for c, _ in ranked]
    decisions = {d.id: d for d in session.scalars(select(Decision).where(Decision.id.in_(ids)))}
    actions: dict[int, list[PrecedentAction]] = {i: [] for i in ids}
    for a in session.scalars(
        select(DecisionAction)
        .where(DecisionAction.decision_id.in_(ids))
        .order_by(DecisionAction.decision_id, DecisionAction.position)
    ):
        actions[a.decision_id].append(PrecedentAction(str(a.type), str(a.scope), a.duration_days))
    staff_ids = {d.decided_by_id for d in decisions.values() if d.decided_by_id is not None}
    names: dict[int, str] = {
        staff_id: name
        for staff_id, name in session.execute(
            select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(staff_ids))
        )
    }
    appeals = appeal_states(session, decisions)
    out = []
    for candidate, score in ranked:
        d = decisions[candidate.decision_id]
        appeal = appeals.get(d.id)
        reversed_ = d.status == DecisionStatus.reversed
        outcome: str | None = None
        if appeal is not None:
            outcome = "pending" if appeal.state == AppealState.under_appeal else appeal.state.value
        reviewer = names.get(d.decided_by_id) if d.decided_by_id is not None else None
        out.append(
            Precedent(
                case_id=candidate.case_id,
                case_title=redact_contacts(candidate.title),
                case_type=candidate.case_type,
                decision_id=d.id,
                decided_at=d.applied_at or d.created_at,
                reviewer=reviewer or d.decided_by_label,
                policy_version=candidate.policy_version,
                no_violation=d.no_violation,
                actions=tuple(actions[d.id]),
                reason=_shorten(redact_contacts(d.internal_reasoning or ""), REASON_CHARS),
                appealed=appeal is not None,
                appeal_outcome=outcome,
                reversed=reversed_,
                similarity=score,
            )
        )
    return out


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


def visible_case(session: Session, principal: Principal, case_id: int) -> Case:
    """The case whose precedent is asked for, if ``principal`` may see it (404 otherwise)."""
    principal.require(Permission.cases_read)
    return cases_service.get_case(session, principal, case_id)
