"""Console: the panels of the case page that read beyond the case itself.

Why the case exists (the rules that fired, the reports, the model scores), the evidence (the
flagged texts with their matched spans marked, the account's events, its documents and
checks), the account's strikes, prior cases and decisions, the policy's guidance and the
messages sent to the user.

Invariants:
- Every query is bounded (a ``LIMIT`` on an indexed order), so the page costs the same with
  200 events on the case as with 20 000 on the account: the case's signals (``ix_events_case``,
  newest 200), the account's timeline (``ix_events_account_occurred``, newest 200, columns
  only: no JSON is decoded for it), the last 20 prior cases and decisions, 20 messages, and
  for each identifier shown how many other accounts share it, counted up to 101.
- Legal-tier cases, their decisions, the strikes they gave, the events and reports sitting on
  them are listed only to those who may see legal cases (``cases:legal``), as everywhere
  else. Strikes left out are counted ("+N not listed"): the ladder counts them.
- Personal values of the account and of its documents are masked unless the viewer revealed
  them with a reason (the caller passes ``unmasked``). Texts users wrote are evidence and
  shown as written, every character escaped, except contact details, which are replaced by a
  placeholder: in the account's own texts until the viewer revealed its personal data, in
  reports (written by other people, the reporters) always.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from markupsafe import Markup
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from vigil.accounts import service as accounts_service
from vigil.accounts.masking import mask_email, mask_name
from vigil.accounts.models import Account, Identifier
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case, CaseType
from vigil.communications.models import Message
from vigil.detection.events import TEXT_TYPES
from vigil.detection.models import Event
from vigil.detection.text.highlight import highlight, render_marked
from vigil.enforcement.appeal_state import appeal_states
from vigil.enforcement.models import (
    Decision,
    DecisionAction,
    DecisionPolicy,
    DecisionStatus,
    Strike,
)
from vigil.identity import service as identity_service
from vigil.identity.models import IdentityVerification
from vigil.identity.types import VerificationStatus
from vigil.kit import clock
from vigil.kit.errors import VigilError
from vigil.policies import service as policies_service

# Types whose ``data.text`` is something the account wrote to others (reports are shown as
# reports, profile bios are not messages).
# The texts users write to each other; reports have their own panel, profile edits are not
# evidence of a conversation.
EVIDENCE_TYPES = TEXT_TYPES - {"report_filed", "profile_update"}
SCORE_FEATURES = (
    ("scam_score", "Scam / spam"),
    ("off_platform_score", "Off-platform contact or payment"),
    ("abuse_score", "Abuse / harassment"),
)
# A text scoring this high on any model is evidence even when no rule fired on it.
HIGH_SCORE = 0.5
SIGNALS_LIMIT = 200  # the case's events read for why / evidence
TIMELINE_LIMIT = 200  # the account's events on the timeline
FLAGGED_LIMIT = 10  # flagged texts shown (each is highlighted: the costly part)
REPORTS_LIMIT = 20
PRIOR_LIMIT = 20
MESSAGES_LIMIT = 20
STRIKES_LIMIT = 50
SHARED_CAP = 100  # "100+ other accounts": counting further costs a crowded value's every row
VERIFICATIONS_LIMIT = 5


def _sees_legal(p: Principal) -> bool:
    return p.can(Permission.legal_cases)


# --- highlighting ---------------------------------------------------------------------------


def text_marker(*, unmasked: bool) -> Callable[[str], Markup]:
    """``text -> Markup``: escaped, with the spans that made it evidence (contact details,
    off-platform phrases, app names, lexicon terms) in ``<mark class="hit hit-{kind}">``.
    Contact details stay hidden behind a placeholder until the viewer revealed the
    account's personal data."""

    def mark(text: str) -> Markup:
        return render_marked(text, highlight(text), redact=not unmasked)

    return mark


# --- why the case exists and the evidence -----------------------------------------------------


def _score(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


@dataclass
class Signal:
    """What the page needs of one event: its texts and scores read out of the JSON by the
    database, so the whole payload and the ~60 features are never decoded."""

    id: int
    type: str
    occurred_at: datetime
    outcome: str
    score: float
    hits: list[dict[str, Any]]
    case_id: int | None
    account_id: int | None
    account_external_id: str
    title: str
    text: str
    reason: str
    target_type: str
    scores: dict[str, float]
    contact_kinds: list[str]


def _data(key: str) -> Any:
    return Event.payload[("data", key)].as_string().label(key)


_SIGNAL_COLUMNS = (
    Event.id,
    Event.type,
    Event.occurred_at,
    Event.outcome,
    Event.score,
    Event.hits,
    Event.case_id,
    Event.account_id,
    Event.account_external_id,
    _data("title"),
    _data("text"),
    _data("reason"),
    _data("target_type"),
    *(Event.features[name].as_float().label(name) for name, _ in SCORE_FEATURES),
    Event.features["contact_kinds"].label("contact_kinds"),
)


def _signal(row: Any) -> Signal:
    kinds = row.contact_kinds
    return Signal(
        id=row.id,
        type=row.type,
        occurred_at=row.occurred_at,
        outcome=str(getattr(row.outcome, "value", row.outcome)),
        score=_score(row.score),
        hits=[h for h in row.hits or [] if isinstance(h, dict)],
        case_id=row.case_id,
        account_id=row.account_id,
        account_external_id=row.account_external_id,
        title=row.title if isinstance(row.title, str) else "",
        text=row.text if isinstance(row.text, str) else "",
        reason=row.reason if isinstance(row.reason, str) else "",
        target_type=row.target_type if isinstance(row.target_type, str) else "",
        scores={name: _score(getattr(row, name)) for name, _ in SCORE_FEATURES},
        contact_kinds=[str(k) for k in kinds] if isinstance(kinds, list) else [],
    )


@dataclass
class Signals:
    """What the case's events say: rules, scores, flagged texts."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    opening_rules: list[str] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    contact_kinds: list[str] = field(default_factory=list)
    top_event_score: float = 0.0
    flagged: list[dict[str, Any]] = field(default_factory=list)
    flagged_total: int = 0


def case_events(db: Session, case_id: int) -> list[Signal]:
    """The signals behind the case, newest first (``ix_events_case``)."""
    stmt = (
        select(*_SIGNAL_COLUMNS)
        .where(Event.case_id == case_id)
        .order_by(Event.id.desc())
        .limit(SIGNALS_LIMIT)
    )
    return [_signal(row) for row in db.execute(stmt)]


def signals(case: Case, events: Sequence[Signal], mark: Callable[[str], Markup]) -> Signals:
    out = Signals()
    rules: dict[tuple[Any, str], dict[str, Any]] = {}
    best: dict[str, tuple[float, Signal | None]] = {k: (0.0, None) for k, _ in SCORE_FEATURES}
    kinds: set[str] = set()
    flagged: list[Signal] = []
    for e in events:
        for h in e.hits:
            key = (h.get("rule_id"), str(h.get("reason") or ""))
            row = rules.get(key)
            if row is None:
                rules[key] = row = {
                    "name": str(h.get("name") or f"rule {h.get('rule_id')}"),
                    "rule_id": h.get("rule_id"),
                    "reason": str(h.get("reason") or ""),
                    "policy_code": h.get("policy_code"),
                    "outcome": str(h.get("outcome") or ""),
                    "shadow": bool(h.get("shadow")),
                    "count": 0,
                    "last_at": e.occurred_at,
                }
            row["count"] += 1
        high = False
        for name, value in e.scores.items():
            if value > best[name][0]:
                best[name] = (value, e)
            high = high or value >= HIGH_SCORE
        kinds.update(e.contact_kinds)
        out.top_event_score = max(out.top_event_score, e.score)
        if e.type in EVIDENCE_TYPES and (e.title or e.text) and (e.hits or high):
            flagged.append(e)
    out.rules = sorted(rules.values(), key=lambda r: (r["shadow"], -r["count"], r["name"]))
    seen = {f"{r['name']}: {r['reason']}" if r["reason"] else r["name"] for r in out.rules}
    opening = (case.attributes or {}).get("rules") or []
    out.opening_rules = [str(r) for r in opening if str(r) not in seen]
    for name, label in SCORE_FEATURES:
        value, source = best[name]
        out.scores.append(
            {
                "name": name,
                "label": label,
                "value": value,
                "event_type": source.type.replace("_", " ") if source is not None else None,
                "at": source.occurred_at if source is not None else None,
            }
        )
    out.contact_kinds = sorted(kinds)
    out.flagged_total = len(flagged)
    out.flagged = [_flagged_view(e, mark) for e in flagged[:FLAGGED_LIMIT]]
    return out


def _flagged_view(e: Signal, mark: Callable[[str], Markup]) -> dict[str, Any]:
    return {
        "id": e.id,
        "type": e.type,
        "at": e.occurred_at,
        "outcome": e.outcome,
        "score": e.score,
        "rules": [str(h.get("name") or "") for h in e.hits if not h.get("shadow")],
        "scores": [(label, e.scores[name]) for name, label in SCORE_FEATURES if e.scores[name]],
        "title": mark(e.title) if e.title else None,
        "text": mark(e.text) if e.text else None,
    }


_Stmt = TypeVar("_Stmt", bound=Select[*tuple[Any, ...]])


def _visible_events(stmt: _Stmt, p: Principal) -> _Stmt:
    """``stmt`` over events, without those sitting on legal-tier cases unless ``p`` may see
    legal cases."""
    if _sees_legal(p):
        return stmt
    return stmt.outerjoin(Case, Case.id == Event.case_id).where(
        or_(Event.case_id.is_(None), Case.tier != Tier.legal)
    )


def reports(
    db: Session,
    p: Principal,
    case: Case,
    account: Account | None,
    events: Sequence[Signal],
) -> list[dict[str, Any]]:
    """Reports linked to the case, and the newest reports filed against the account (its
    ``counterparty``, however old: one read of ``ix_events_counterparty``), newest first,
    with the reporter's own words. Those words are another person's: contact details in them
    stay hidden even when the viewer revealed the account's personal data."""
    mark = text_marker(unmasked=False)
    found: dict[int, Signal] = {e.id: e for e in events if e.type == "report_filed"}
    if account is not None:
        against = db.execute(
            _visible_events(
                select(*_SIGNAL_COLUMNS).where(
                    Event.counterparty_external_id == account.external_id,
                    Event.type == "report_filed",
                ),
                p,
            )
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(REPORTS_LIMIT)
        )
        for row in against:
            found.setdefault(row.id, _signal(row))
    rows = sorted(found.values(), key=lambda e: (e.occurred_at, e.id), reverse=True)
    rows = rows[:REPORTS_LIMIT]
    reporter_ids = {e.account_id for e in rows if e.account_id is not None}
    reporters: dict[int, tuple[str, str | None]] = {}
    if reporter_ids:
        reporters = {
            i: (ext, name)
            for i, ext, name in db.execute(
                select(Account.id, Account.external_id, Account.display_name).where(
                    Account.id.in_(reporter_ids)
                )
            )
        }
    out = []
    for e in rows:
        ext, name = reporters.get(e.account_id or 0, (e.account_external_id, None))
        out.append(
            {
                "id": e.id,
                "at": e.occurred_at,
                "reason": (e.reason or "other").replace("_", " "),
                "target": e.target_type or "account",
                "text": mark(e.text),
                "reporter": ext if not name else f"{ext} ({mask_name(name)})",
                "on_case": e.case_id == case.id,
            }
        )
    return out


def account_timeline(db: Session, p: Principal, case: Case) -> list[dict[str, Any]]:
    """The account's events, newest first (the case's own when it has no account): columns
    only, so 200 rows cost no JSON decoding. Events on legal-tier cases only for legal."""
    cols = (Event.id, Event.type, Event.occurred_at, Event.outcome, Event.score, Event.case_id)
    if case.account_id is not None:
        stmt = _visible_events(
            select(*cols).where(Event.account_id == case.account_id), p
        ).order_by(Event.occurred_at.desc(), Event.id.desc())
    else:
        stmt = select(*cols).where(Event.case_id == case.id).order_by(Event.id.desc())
    return [
        {
            "id": row.id,
            "type": row.type.replace("_", " "),
            "at": row.occurred_at,
            "outcome": str(getattr(row.outcome, "value", row.outcome)),
            "score": _score(row.score),
            "on_case": row.case_id == case.id,
        }
        for row in db.execute(stmt.limit(TIMELINE_LIMIT))
    ]


# --- the account's record -------------------------------------------------------------------


@dataclass
class Strikes:
    """The strikes that count now and are listed to the viewer, and how many more count
    that are not (given by decisions on legal-tier cases the viewer may not see)."""

    rows: list[dict[str, Any]]
    not_listed: int = 0


def strikes(db: Session, p: Principal, account_id: int) -> Strikes:
    """Strikes that count now, newest first (``ix_strikes_active``); the ladder counts the
    ones from legal-tier decisions too, so those are counted when not listed."""
    now = clock.now()
    active = (Strike.account_id == account_id, Strike.voided_at.is_(None), Strike.expires_at > now)
    stmt = select(Strike).where(*active)
    hidden = 0
    if not _sees_legal(p):
        legal = (
            select(Decision.id)
            .join(Case, Case.id == Decision.case_id)
            .where(Decision.id == Strike.decision_id, Case.tier == Tier.legal)
            .exists()
        )
        stmt = stmt.where(~legal)
        hidden = db.scalar(select(func.count()).select_from(Strike).where(*active, legal)) or 0
    rows = db.scalars(stmt.order_by(Strike.id.desc()).limit(STRIKES_LIMIT))
    return Strikes(
        rows=[
            {
                "policy_code": s.policy_code,
                "policy_version": s.policy_version,
                "weight": s.weight,
                "created_at": s.created_at,
                "expires_at": s.expires_at,
            }
            for s in rows
        ],
        not_listed=int(hidden),
    )


def shared_counts(
    db: Session, account_id: int, identifiers: Sequence[Identifier]
) -> dict[int, int]:
    """For each of ``identifiers`` (the page's, at most 50) of a kind that links accounts, how
    many other accounts have the same value, counted up to ``SHARED_CAP + 1`` (a shared NAT
    address can be on thousands): one query, each count a bounded read of
    ``ix_identifiers_kind_value``. Keyed by identifier id; absent means none."""
    ids = [i.id for i in identifiers if i.kind in accounts_service.LINK_KINDS]
    if not ids:
        return {}
    mine = aliased(Identifier, name="mine")
    other = aliased(Identifier, name="other")
    capped = (
        select(other.account_id)
        .where(other.kind == mine.kind, other.value == mine.value, other.account_id != account_id)
        .limit(SHARED_CAP + 1)
        .correlate(mine)
        .subquery("capped")
    )
    count = select(func.count()).select_from(capped).scalar_subquery()
    rows = db.execute(select(mine.id, count.label("n")).where(mine.id.in_(ids)))
    return {int(row.id): int(row.n) for row in rows if row.n}


def prior(
    db: Session, p: Principal, case: Case, account: Account
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The account's other cases and its decisions on them, newest first, 20 of each (the
    case at hand excluded in the query, so 20 are shown whenever there are 20)."""
    stmt = select(Case).where(Case.account_id == account.id, Case.id != case.id)
    if not _sees_legal(p):
        stmt = stmt.where(Case.tier != Tier.legal)
    prior_cases = list(db.scalars(stmt.order_by(Case.id.desc()).limit(PRIOR_LIMIT)))

    # ix_decisions_account, newest first; the case's tier read through its primary key.
    query = select(Decision).where(
        Decision.account_id == account.id,
        Decision.case_id != case.id,
        Decision.status.in_(
            [DecisionStatus.applied, DecisionStatus.reversed, DecisionStatus.pending_approval]
        ),
    )
    if not _sees_legal(p):
        query = query.join(Case, Case.id == Decision.case_id).where(Case.tier != Tier.legal)
    rows = list(db.scalars(query.order_by(Decision.id.desc()).limit(PRIOR_LIMIT)))
    ids = [d.id for d in rows]
    actions: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    policies: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for a in db.scalars(
            select(DecisionAction)
            .where(DecisionAction.decision_id.in_(ids))
            .order_by(DecisionAction.decision_id, DecisionAction.position)
        ):
            actions[a.decision_id].append(
                {
                    "type": a.type.value.replace("_", " "),
                    "scope": a.scope.value.replace("_", " "),
                    "days": a.duration_days,
                }
            )
        for decision_id, code, version in db.execute(
            select(
                DecisionPolicy.decision_id,
                DecisionPolicy.policy_code,
                DecisionPolicy.policy_version,
            )
            .where(DecisionPolicy.decision_id.in_(ids))
            .order_by(DecisionPolicy.decision_id, DecisionPolicy.position)
        ):
            policies[decision_id].append(f"{code} v{version}")
    appeals = appeal_states(db, ids, include_legal=_sees_legal(p))
    decisions = []
    by_case: dict[int, dict[str, Any]] = {}
    for d in rows:
        appeal = appeals.get(d.id)
        row = {
            "id": d.id,
            "case_id": d.case_id,
            "at": d.applied_at or d.created_at,
            "status": d.status.value.replace("_", " "),
            "no_violation": d.no_violation,
            "actions": actions[d.id],
            "policies": policies[d.id],
            "reviewer": d.decided_by_label,
            "appeal": appeal.state.value if appeal is not None else None,
            "appeal_case_id": appeal.case_id if appeal is not None else None,
        }
        decisions.append(row)
        by_case.setdefault(d.case_id, row)
    cases_out = [
        {
            "id": c.id,
            "title": c.title,
            "type": c.type.value.replace("_", " "),
            "status": c.status.value.replace("_", " "),
            "resolution": c.resolution.value.replace("_", " ") if c.resolution else None,
            "policy_code": c.policy_code,
            "opened_at": c.opened_at,
            "closed_at": c.closed_at,
            "decision": by_case.get(c.id),
        }
        for c in prior_cases
    ]
    return cases_out, decisions


# --- documents and checks --------------------------------------------------------------------


def documents(db: Session, p: Principal, account: Account) -> list[dict[str, Any]] | None:
    """The account's newest identity verifications with their checks (no document values:
    the review screen shows those). None: the viewer may not read verifications."""
    if not p.can(Permission.identity_read):
        return None
    from vigil.web.identity import check_label, reason_label  # the review screen's words

    rows, _ = identity_service.list_for_account(
        db, p, account.external_id, limit=VERIFICATIONS_LIMIT
    )
    out = []
    for v in rows:
        checks = [
            {
                "label": check_label(str(c.get("name", ""))),
                "status": str(c.get("status", "")),
                "reason": reason_label(str(c["reason"]))
                if c.get("reason") not in (None, "", "ok", "not_applicable")
                else "",
            }
            for c in v.checks or []
            if isinstance(c, dict)
        ]
        order = {"failed": 0, "warning": 1, "passed": 2, "skipped": 3}
        checks.sort(key=lambda c: order.get(c["status"], 2))
        out.append(
            {
                "id": v.id,
                "kind": v.kind.value.replace("_", " "),
                "country": v.issuing_country,
                "status": v.status.value,
                "outcome": v.outcome.value if v.outcome else None,
                "reasons": [reason_label(r) for r in v.reasons or []],
                "decision": v.decision,
                "created_at": v.created_at,
                "in_review": v.status == VerificationStatus.review,
                "case_id": v.case_id,
                "checks": checks,
            }
        )
    return out


def case_verification(
    db: Session, docs: Sequence[dict[str, Any]] | None, case: Case
) -> dict[str, Any] | None:
    """The verification an ``identity_review`` case is about ({id, in_review}), for the
    approve / reject keys; None for other cases or a viewer who may not read verifications."""
    if docs is None or case.type != CaseType.identity_review:
        return None
    for d in docs:
        if d["case_id"] == case.id:
            return {"id": d["id"], "in_review": d["in_review"]}
    row = db.execute(
        select(IdentityVerification.id, IdentityVerification.status)
        .where(IdentityVerification.case_id == case.id)
        .order_by(IdentityVerification.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {"id": row.id, "in_review": row.status == VerificationStatus.review}


# --- policy and messages --------------------------------------------------------------------


def policy_guidance(db: Session, code: str | None) -> dict[str, Any] | None:
    """The current version of the case's policy, with its grey areas when it has any."""
    if not code:
        return None
    try:
        policy, version = policies_service.get_current(db, code)
    except VigilError:
        return {"code": code, "missing": True}
    grey = version.grey_areas or []
    return {
        "code": code,
        "missing": False,
        "retired": policy.retired,
        "version": version.version,
        "title": version.title,
        "guidance": version.guidance,
        "allowed": list(version.examples_allowed or []),
        "not_allowed": list(version.examples_not_allowed or []),
        "grey_areas": [
            {"title": str(g.get("title", "")), "guidance": str(g.get("guidance", ""))}
            for g in grey
            if isinstance(g, dict)
        ],
    }


def messages(db: Session, case_id: int, *, unmasked: bool) -> list[dict[str, Any]]:
    """Messages sent to the user about this case, newest first (``ix_messages_case``)."""
    rows = db.scalars(
        select(Message)
        .where(Message.case_id == case_id)
        .order_by(Message.id.desc())
        .limit(MESSAGES_LIMIT)
    )
    return [
        {
            "id": m.id,
            "channel": m.channel.value.replace("_", "-"),
            "locale": m.locale,
            "subject": m.subject,
            "body": m.body,
            "status": m.status.value,
            "at": m.sent_at or m.failed_at or m.created_at,
            "recipient": (m.recipient if unmasked else mask_email(m.recipient))
            if m.recipient
            else None,
            "error": m.last_error if m.status.value == "failed" else None,
        }
        for m in rows
    ]
