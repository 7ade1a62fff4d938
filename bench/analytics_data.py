"""The analytics benchmark's data: a marketplace's 90 days at scale, written by bulk inserts.

Rows are made an hour at a time (so memory stays bounded however many events are asked for)
and written with Core ``insert()`` executemany in chunks; on PostgreSQL the events and case
timelines go through ``COPY``. Explicit ids let events point at cases without reading them
back; PostgreSQL's sequences are moved past them at the end. Proportions follow the
simulator: mostly logins and messages, a tenth of events flagged by rules, about one case per
ten events, a quarter of decisions automated, a few percent appealed and QA-sampled.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, text

from vigil.kit.models import Base

T = Base.metadata.tables
DAYS = 90
CHUNK = 5000
COUNTRIES = (
    ("BR", "pt", 15),
    ("US", "en", 14),
    ("MX", "es", 13),
    ("IN", "en", 10),
    ("ES", "es", 9),
    ("PT", "pt", 9),
    ("GB", "en", 7),
    ("NG", "en", 6),
    ("PH", "en", 6),
    ("CO", "es", 5),
    ("AR", "es", 5),
)
SIDES = ("client", "freelancer", "customer", "pro", "student", "instructor")
EVENT_TYPES = (
    ("login", 40),
    ("message_sent", 27),
    ("proposal_sent", 13),
    ("job_posted", 4),
    ("payment", 3),
    ("contract_started", 3),
    ("listing_created", 2),
    ("payout_request", 1.5),
    ("review_posted", 1),
    ("report_filed", 1),
    ("profile_update", 1),
    ("document_uploaded", 0.7),
    ("signup", 2),
)
REASONS = (
    ("scam", 35),
    ("off_platform", 35),
    ("harassment", 10),
    ("quality", 10),
    ("rude", 6),
    ("fake_reviews", 4),
)
METHODS = (("card", 70), ("paypal", 15), ("bank", 10), ("pix", 5))
POLICIES = (
    "fraud_scams",
    "fee_circumvention",
    "harassment_threats",
    "spam",
    "fake_reviews",
    "duplicate_accounts",
)
RULES = [(f"rule_{p}_{k}", p) for p in POLICIES for k in ("a", "b")]
CASE_TYPES = (
    ("detection", 55),
    ("user_report", 20),
    ("identity_review", 8),
    ("account_review", 5),
    ("dispute", 6),
    ("appeal", 6),
)
QUEUE_OF = {
    "detection": "detection",
    "user_report": "reports",
    "account_review": "reports",
    "identity_review": "identity",
    "dispute": "disputes",
    "appeal": "appeals",
}
RESOLUTIONS = (
    ("actioned", 55),
    ("no_violation", 32),
    ("duplicate", 5),
    ("insufficient_evidence", 5),
    ("withdrawn", 2),
    ("other", 1),
)
ACTIONS = (("warn", 45), ("restrict", 20), ("suspend", 15), ("remove", 15), ("ban", 5))
SCOPE = {
    "warn": "account",
    "restrict": "payouts",
    "suspend": "account",
    "remove": "listing",
    "ban": "account",
}
TEXTS = (
    "Hi, is this still available? I can pay today.",
    "Send me your WhatsApp and we skip the fees",
    "Your order is on hold, verify your card at {u}",
    "Thanks, great work!",
    "Can you deliver by Friday?",
    "Pay the deposit in gift cards to confirm",
)
FK_ORDER = (
    "cases",
    "case_events",
    "decisions",
    "decision_policies",
    "decision_actions",
    "appeals",
    "qa_samples",
    "identity_verifications",
    "disputes",
    "events",
)
# Busier by day than by night, and on weekdays than at weekends.
HOURLY = (2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 8, 7, 5, 4, 3)
WEEKDAY = (1.1, 1.1, 1.05, 1.05, 1.0, 0.8, 0.75)


def _pick(rng: random.Random, table: tuple[tuple[Any, ...], ...]) -> Any:
    return rng.choices([t[0] for t in table], [t[-1] for t in table])[0]


def _ln(rng: random.Random, median_s: float, sigma: float = 1.0) -> timedelta:
    return timedelta(seconds=max(30.0, median_s * rng.lognormvariate(0, sigma)))


@dataclass
class Builder:
    engine: Engine
    now: datetime
    events: int
    cases: int
    seed: int = 1

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.start = self.now - timedelta(days=DAYS)
        self.pg = self.engine.dialect.name == "postgresql"
        self.n_accounts = max(1000, self.events // 40)
        self.counts: dict[str, int] = {}
        # Per hour: the range of case ids opened in it (events link into it).
        self.case_hours: list[tuple[int, int]] = []

    # --- shape of time -------------------------------------------------------------------------

    def weights(self) -> list[float]:
        """Weight of each hour of the window: rhythm of the day and week, 40 % growth."""
        out = []
        for h in range(DAYS * 24):
            t = self.start + timedelta(hours=h)
            growth = 1 + 0.4 * h / (DAYS * 24)
            out.append(HOURLY[t.hour] * WEEKDAY[t.weekday()] * growth)
        return out

    def spread(self, total: int) -> list[int]:
        w = self.weights()
        s = sum(w)
        counts = [int(total * x / s) for x in w]
        for i in self.rng.sample(range(len(w)), total - sum(counts)):
            counts[i] += 1
        return counts

    # --- writing -------------------------------------------------------------------------------

    def write(self, name: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self.counts[name] = self.counts.get(name, 0) + len(rows)
        keys = {k: None for r in rows for k in r}  # one shape per statement; gaps are NULL
        if len(keys) != len(rows[0]):
            rows = [{**keys, **r} for r in rows]
        with self.engine.begin() as conn:
            if self.pg and name in ("events", "case_events"):
                self._copy(conn, name, rows)
            else:
                for i in range(0, len(rows), CHUNK):
                    conn.execute(insert(T[name]), rows[i : i + CHUNK])

    def _copy(self, conn: Any, name: str, rows: list[dict[str, Any]]) -> None:
        cols = list(rows[0])
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(
                    [json.dumps(v) if isinstance(v, dict | list) else v for v in r.values()]
                )

    def finish(self) -> None:
        if not self.pg:
            with self.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            return
        with self.engine.begin() as conn:
            for name in ("accounts", "cases", "decisions", "events", "staff_users", "queues"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {name}))"
                    )
                )
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))

    def summary(self) -> str:
        keys = (
            "accounts",
            "events",
            "cases",
            "case_events",
            "decisions",
            "appeals",
            "qa_samples",
            "identity_verifications",
            "disputes",
        )
        return ", ".join(f"{self.counts.get(k, 0):,} {k}" for k in keys)

    # --- the whole database --------------------------------------------------------------------

    def build(self) -> None:
        self.reference()
        self.accounts()
        self.all_cases()
        self.all_events()
        self.finish()

    def reference(self) -> None:
        from vigil.cases.routing import DEFAULT_QUEUES

        staff = []
        roles = [
            ("agent", 40),
            ("specialist", 8),
            ("qa", 3),
            ("policy_lead", 2),
            ("leadership", 1),
            ("admin", 1),
            ("legal", 2),
        ]
        for role, n in roles:
            for i in range(n):
                staff.append(
                    {
                        "id": len(staff) + 1,
                        "email": f"{role}{i}@bench.example",
                        "name": f"{role} {i}",
                        "role": role,
                        "password_hash": "x",
                        "languages": ["en", "es", "pt"],
                        "active": True,
                    }
                )
        self.write("staff_users", staff)
        self.agents = [s["id"] for s in staff if s["role"] in ("agent", "specialist")]
        self.qa = [s["id"] for s in staff if s["role"] == "qa"]
        queues = [
            {
                "id": i + 1,
                "slug": q.slug,
                "name": q.name,
                "tier": q.tier.value,
                "sla_minutes": q.sla_hours * 60,
                "description": q.description,
            }
            for i, q in enumerate(DEFAULT_QUEUES)
        ]
        self.write("queues", queues)
        self.queue = {q["slug"]: (q["id"], q["sla_minutes"], q["tier"]) for q in queues}
        self.write(
            "policies",
            [{"id": i + 1, "code": c, "current_version": 1} for i, c in enumerate(POLICIES)],
        )
        self.write(
            "policy_versions",
            [
                {
                    "id": i + 1,
                    "policy_id": i + 1,
                    "code": c,
                    "version": 1,
                    "title": c,
                    "description": c,
                    "guidance": "",
                    "severity": "medium",
                    "allowed_actions": [a for a, _ in ACTIONS],
                    "default_action": "warn",
                    "ladder": [],
                    "dsa_category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
                    "dsa_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
                    "tos_ground": "ToS",
                    "user_title": {"en": c},
                    "user_explanation": {"en": c},
                    "change_reason": "bench",
                }
                for i, c in enumerate(POLICIES)
            ],
        )
        self.write(
            "rules",
            [
                {"id": i + 1, "name": n, "state": "active", "current_version": 1}
                for i, (n, _) in enumerate(RULES)
            ],
        )

    def accounts(self) -> None:
        rng, rows = self.rng, []
        self.country = [""] * (self.n_accounts + 1)
        for i in range(1, self.n_accounts + 1):
            code, locale, _ = COUNTRIES[
                rng.choices(range(len(COUNTRIES)), [c[2] for c in COUNTRIES])[0]
            ]
            reg = self.now - timedelta(days=DAYS * 2 * rng.random() ** 0.7)
            self.country[i] = code
            rows.append(
                {
                    "id": i,
                    "external_id": f"acct-{i}",
                    "side": rng.choice(SIDES),
                    "country": code,
                    "locale": locale,
                    "registered_at": reg,
                    "created_at": reg,
                    "updated_at": reg,
                    "status": "active",
                    "attributes": {},
                    "version": 1,
                }
            )
            if len(rows) >= 50_000:
                self.write("accounts", rows)
                rows = []
        self.write("accounts", rows)

    # --- cases and what hangs off them -----------------------------------------------------------

    def all_cases(self) -> None:
        rng = self.rng
        per_hour = self.spread(self.cases)
        next_id, decision_id = 1, 1
        violations: list[tuple[int, int, int, datetime]] = []  # decision, case, account, when
        for h, n in enumerate(per_hour):
            hour = self.start + timedelta(hours=h)
            rows: list[dict[str, Any]] = []
            timeline: list[dict[str, Any]] = []
            decisions: list[dict[str, Any]] = []
            policies: list[dict[str, Any]] = []
            actions: list[dict[str, Any]] = []
            appeals: list[dict[str, Any]] = []
            samples: list[dict[str, Any]] = []
            idvs: list[dict[str, Any]] = []
            disputes: list[dict[str, Any]] = []
            self.case_hours.append((next_id, next_id + n))
            for _ in range(n):
                cid = next_id
                next_id += 1
                ctype = _pick(rng, CASE_TYPES)
                qid, sla, tier = self.queue[QUEUE_OF[ctype]]
                account = rng.randint(1, self.n_accounts)
                opened = hour + timedelta(seconds=rng.randrange(3600))
                first = opened + _ln(rng, 3 * 3600, 1.2)
                closed = first + _ln(rng, 15 * 60, 1.0)
                policy = rng.choice(POLICIES)
                lang = rng.choices(("en", "es", "pt"), (5, 3, 2))[0]
                due = opened + timedelta(minutes=sla)
                status, resolution, assignee = "closed", _pick(rng, RESOLUTIONS), None
                if closed > self.now:
                    closed = None
                    status = "assigned" if first <= self.now else "open"
                    assignee = rng.choice(self.agents) if status == "assigned" else None
                    resolution = None
                end = closed or self.now
                reviewer = rng.choice(self.agents)
                rows.append(
                    {
                        "id": cid,
                        "type": ctype,
                        "status": status,
                        "title": f"{ctype} {cid}",
                        "summary": "",
                        "priority": rng.randint(1, 4),
                        "severity": "medium",
                        "tier": tier,
                        "language": lang,
                        "policy_code": policy,
                        "source": "bench",
                        "attributes": {},
                        "account_id": account,
                        "queue_id": qid,
                        "assignee_id": assignee,
                        "opened_at": opened,
                        "queued_at": opened,
                        "first_assigned_at": first if first <= self.now else None,
                        "assigned_at": first if status == "assigned" else None,
                        "closed_at": closed,
                        "sla_due_at": due,
                        "sla_breached_at": due if end > due else None,
                        "resolution": resolution,
                        "version": 1,
                        "created_at": opened,
                        "updated_at": end,
                    }
                )
                timeline.append(
                    {
                        "case_id": cid,
                        "at": opened,
                        "kind": "created",
                        "actor_label": "rules",
                        "to_status": "open",
                        "data": {},
                    }
                )
                if first <= self.now:
                    timeline.append(
                        {
                            "case_id": cid,
                            "at": first,
                            "kind": "assigned",
                            "actor_id": reviewer,
                            "actor_label": "agent",
                            "from_status": "open",
                            "to_status": "assigned",
                            "data": {},
                        }
                    )
                if closed is None:
                    continue
                timeline.append(
                    {
                        "case_id": cid,
                        "at": closed,
                        "kind": "closed",
                        "actor_id": reviewer,
                        "actor_label": "agent",
                        "from_status": "assigned",
                        "to_status": "closed",
                        "data": {},
                    }
                )
                if ctype == "identity_review" or rng.random() < 0.05:
                    idvs.append(
                        self.idv(account, opened, cid if ctype == "identity_review" else None)
                    )
                if ctype == "dispute":
                    disputes.append(self.dispute(cid, account, opened, closed))
                if resolution not in ("actioned", "no_violation"):
                    continue
                auto = ctype == "detection" and rng.random() < 0.45
                violation = resolution == "actioned"
                action = _pick(rng, ACTIONS) if violation else None
                reversed_ = violation and rng.random() < 0.03
                did = decision_id
                decision_id += 1
                decisions.append(
                    {
                        "id": did,
                        "case_id": cid,
                        "account_id": account,
                        "status": "reversed" if reversed_ else "applied",
                        "no_violation": not violation,
                        "action": action,
                        "internal_reasoning": "bench",
                        "locale": lang,
                        "decided_by_id": None if auto else reviewer,
                        "decided_by_label": "rules" if auto else "agent",
                        "created_at": closed,
                        "applied_at": closed,
                        "reversed_at": closed + timedelta(days=2) if reversed_ else None,
                        "reversal_reason": "appeal" if reversed_ else None,
                        "version": 1,
                    }
                )
                timeline.append(
                    {
                        "case_id": cid,
                        "at": closed,
                        "kind": "decided",
                        "actor_id": None if auto else reviewer,
                        "actor_label": "rules" if auto else "agent",
                        "data": {},
                    }
                )
                if violation:
                    violations.append((did, cid, account, closed))
                    policies.append(
                        {
                            "decision_id": did,
                            "position": 0,
                            "policy_code": policy,
                            "policy_version": 1,
                            "policy_version_id": POLICIES.index(policy) + 1,
                        }
                    )
                    actions.append(
                        {
                            "decision_id": did,
                            "position": 0,
                            "type": action,
                            "scope": SCOPE[action],
                            "starts_at": closed,
                            "status": "reversed" if reversed_ else "active",
                            "reversed_at": closed + timedelta(days=2) if reversed_ else None,
                        }
                    )
                if not auto and rng.random() < 0.04:
                    samples.append(self.sample(did, cid, qid, reviewer, closed, action, policy))
                if ctype == "appeal" and violations:
                    appeals.append(self.appeal(cid, opened, closed, violations))
            for name, batch in (
                ("cases", rows),
                ("case_events", timeline),
                ("decisions", decisions),
                ("decision_policies", policies),
                ("decision_actions", actions),
                ("appeals", appeals),
                ("qa_samples", samples),
                ("identity_verifications", idvs),
                ("disputes", disputes),
            ):
                self.pending(name, batch)
        self.flush_pending()

    _buffers: dict[str, list[dict[str, Any]]] | None = None

    def pending(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Buffer rows per table and write them 20,000 at a time (tables in FK order)."""
        self._buffers = self._buffers or {}
        self._buffers.setdefault(name, []).extend(rows)
        if len(self._buffers.get("cases", [])) + len(self._buffers.get("case_events", [])) > 20_000:
            self.flush_pending()

    def flush_pending(self) -> None:
        buffers = self._buffers or {}
        for name in FK_ORDER:
            self.write(name, buffers.get(name, []))
        self._buffers = {}

    def idv(self, account: int, at: datetime, case_id: int | None) -> dict[str, Any]:
        rng = self.rng
        outcome = "review" if case_id else rng.choices(("approve", "reject"), (8, 2))[0]
        status = {"approve": "approved", "reject": "rejected", "review": "review"}[outcome]
        reasons = (
            []
            if outcome == "approve"
            else rng.sample(
                [
                    "mrz_check_digit",
                    "image_blurry",
                    "face_mismatch",
                    "document_expired",
                    "name_mismatch",
                ],
                rng.randint(1, 2),
            )
        )
        n = self.counts.get("identity_verifications", 0) + len(
            (self._buffers or {}).get("identity_verifications", [])
        )
        return {
            "account_id": account,
            "kind": rng.choice(("passport", "id_card", "driver_license")),
            "issuing_country": self.country[account],
            "status": status,
            "outcome": outcome,
            "reasons": reasons,
            "user_reasons": [],
            "checks": [],
            "fields": {},
            "case_id": case_id,
            "request_sha256": hashlib.sha256(f"{account}-{at}-{n}".encode()).hexdigest(),
            "submitted_by": "api",
            "processed_at": at,
            "created_at": at - timedelta(minutes=2),
            "updated_at": at,
            "version": 1,
        }

    def dispute(self, cid: int, account: int, opened: datetime, closed: datetime) -> dict[str, Any]:
        rng = self.rng
        seller = account % self.n_accounts + 1
        outcome = rng.choice(("full_refund", "partial_refund", "release", "no_action"))
        return {
            "case_id": cid,
            "status": "resolved",
            "subject_type": "contract",
            "subject_ref": f"ctr-{cid}",
            "buyer_account_id": account,
            "seller_account_id": seller,
            "opened_by": "buyer",
            "reason_code": rng.choice(("not_delivered", "not_as_described", "quality")),
            "amount_minor": rng.randint(1000, 90000),
            "currency": "USD",
            "outcome": outcome,
            "resolved_by": rng.choice(("agreement", "ruling")),
            "payment_status": "refunded" if "refund" in outcome else "released",
            "opened_at": opened,
            "response_due_at": opened + timedelta(days=3),
            "resolved_at": closed,
            "version": 1,
            "resolution_seconds": int((closed - opened).total_seconds()),
        }

    def sample(
        self,
        did: int,
        cid: int,
        qid: int,
        reviewer: int,
        at: datetime,
        action: str | None,
        policy: str,
    ) -> dict[str, Any]:
        rng = self.rng
        label = action or "no_violation"
        agreed = rng.random() < 0.85
        blind = label if agreed else rng.choice(("no_violation", "warn", "remove"))
        return {
            "decision_id": did,
            "case_id": cid,
            "queue_id": qid,
            "source": "sampled",
            "rate": 0.05,
            "decided_by_id": reviewer,
            "decided_at": at,
            "original_label": label,
            "original_policy_code": None if label == "no_violation" else policy,
            "status": "scored",
            "reviewer_id": rng.choice(self.qa),
            "blind_label": blind,
            "blind_policy_code": None if blind == "no_violation" else policy,
            "agreed": blind == label,
            "right_policy": rng.random() < 0.9,
            "right_action": agreed,
            "message_quality": rng.randint(3, 5),
            "sampled_at": at + timedelta(hours=1),
            "assigned_at": at + timedelta(hours=2),
            "answered_at": at + timedelta(hours=3),
            "revealed_at": at + timedelta(hours=3),
            "scored_at": at + timedelta(hours=4),
        }

    def appeal(
        self,
        cid: int,
        opened: datetime,
        closed: datetime,
        violations: list[tuple[int, int, int, datetime]],
    ) -> dict[str, Any]:
        """An appeal against one of the recent violation decisions (each appealed once)."""
        rng = self.rng
        k = rng.randrange(max(0, len(violations) - 500), len(violations))
        violations[k], violations[-1] = violations[-1], violations[k]
        did, original, account, decided = violations.pop()
        status = rng.choices(("upheld", "overturned", "modified"), (75, 20, 5))[0]
        submitted = max(opened, decided)
        return {
            "decision_id": did,
            "case_id": cid,
            "original_case_id": original,
            "account_id": account,
            "reference": f"APL-{cid}",
            "text": "Please review",
            "language": "en",
            "contact": "email",
            "channel": "form",
            "submitted_at": submitted,
            "window_ends_at": decided + timedelta(days=180),
            "status": status,
            "decided_at": max(closed, submitted + timedelta(minutes=10)),
            "reason": "bench",
            "version": 1,
        }

    # --- events ----------------------------------------------------------------------------------

    def all_events(self) -> None:
        self.event_no = 0
        for h, n in enumerate(self.spread(self.events)):
            self.pending("events", self.hour_of_events(self.start + timedelta(hours=h), n, h))
            if len(self._buffers["events"]) >= 20_000:  # type: ignore[index]
                self.flush_pending()
        self.flush_pending()

    def hour_of_events(self, hour: datetime, n: int, h: int | None) -> list[dict[str, Any]]:
        rng, rows = self.rng, []
        seconds = sorted(rng.randrange(3600) for _ in range(n))
        types = rng.choices([t for t, _ in EVENT_TYPES], [w for _, w in EVENT_TYPES], k=n)
        lo, hi = self.case_hours[h] if h is not None and self.case_hours else (0, 0)
        for s, kind in zip(seconds, types, strict=True):
            self.event_no += 1
            at = hour + timedelta(seconds=s)
            account = rng.randint(1, self.n_accounts)
            data: dict[str, Any] = {}
            if kind == "report_filed":
                data = {"reason": _pick(rng, REASONS), "text": rng.choice(TEXTS)}
            elif kind in ("payment", "payout_request"):
                data = {"method": _pick(rng, METHODS), "amount": rng.randint(10, 900)}
            elif kind == "message_sent":
                data = {"text": rng.choice(TEXTS).format(u=f"https://x{rng.randrange(99)}.example")}
            roll = rng.random()
            outcome = "block" if roll < 0.02 else "review" if roll < 0.10 else "allow"
            hits = []
            if outcome != "allow" or kind == "report_filed":
                for name, policy in rng.sample(RULES, rng.choice((1, 1, 2))):
                    hits.append(
                        {
                            "rule_id": RULES.index((name, policy)) + 1,
                            "name": name,
                            "policy_code": policy,
                            "outcome": outcome,
                            "shadow": False,
                        }
                    )
            if rng.random() < 0.04:
                hits.append(
                    {
                        "rule_id": 1,
                        "name": RULES[0][0],
                        "policy_code": RULES[0][1],
                        "outcome": "review",
                        "shadow": True,
                    }
                )
            case_id = None
            if (outcome != "allow" or kind == "report_filed") and hi > lo and rng.random() < 0.8:
                case_id = rng.randrange(lo, hi)
            eid = f"bench-{self.event_no}"
            rows.append(
                {
                    "event_id": eid,
                    "payload_sha256": hashlib.sha1(eid.encode()).hexdigest(),
                    "type": kind,
                    "account_id": account,
                    "account_external_id": f"acct-{account}",
                    "counterparty_external_id": None,
                    "occurred_at": at,
                    "received_at": at + timedelta(seconds=1),
                    "source": "bench",
                    "payload": {"event_id": eid, "type": kind, "data": data},
                    "features": {},
                    "outcome": outcome,
                    "score": 0.0,
                    "hits": hits,
                    "errors": [],
                    "case_id": case_id,
                }
            )
        return rows

    def add_hour(self, hour: datetime) -> int:
        """An hour of new events after the built window (for the incremental rollup)."""
        if not hasattr(self, "event_no"):
            with self.engine.connect() as conn:
                self.event_no = int(conn.scalar(text("SELECT max(id) FROM events")) or 0) + 10**8
        # An average hour at the end of the window (which grew 40 % over it).
        n = max(1, round(self.events / (DAYS * 24) * 1.2))
        self.write("events", self.hour_of_events(hour, n, None))
        return n
