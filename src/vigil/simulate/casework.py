"""Plan the team's cases about a simulated marketplace, and how far each got by "now".

Which cases exist follows from the accounts: user reports (in the reporter's language and
words) about solicitors, scammers and, as noise, about ordinary sellers; detections for rings,
scammers, solicitors and review bursts; account reviews for duplicate identities. How far a
case got depends on its age against its queue's SLA: old cases are mostly closed, recent ones
mostly still waiting, a few are held, and the hard ones are escalated to a specialist or to
legal with a reason.

No ``identity_review`` case is planned here: such a case stands for a verification a person
must look at, and the reviewer works it on the verification's screen. Identity reviews come
only from real documents (``vigil.simulate.identity`` submits them; the identity pipeline
opens the case when its checks need a person), so every one has its verification.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from random import Random

from vigil.accounts.models import IdentifierKind, RestrictionKind
from vigil.auth.permissions import Role
from vigil.cases.models import CaseType, Resolution, Severity
from vigil.simulate import pools
from vigil.simulate.plan import (
    AccountPlan,
    CasePlan,
    Label,
    Plan,
    RestrictionPlan,
    StepPlan,
)

# The default queues' SLAs (vigil.cases.routing.DEFAULT_QUEUES), which set the pace of work.
SLA_HOURS = {
    CaseType.user_report: 24,
    CaseType.account_review: 24,
    CaseType.detection: 12,
}
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def _tail(value: str) -> str:
    """Show a stored fingerprint the way a person would quote it: by its last characters."""
    return "…" + value[-4:]


class _CasePlanner:
    def __init__(self, plan: Plan, rng: Random) -> None:
        self.plan = plan
        self.rng = rng
        self.now = plan.now
        self.cases: list[CasePlan] = []
        self.reports = 0
        self.benign_buyers = [
            a for a in plan.accounts if a.label is Label.benign and not a.is_seller
        ]

    # --- building blocks --------------------------------------------------------------------

    def open(
        self,
        account: AccountPlan,
        at: datetime,
        case_type: CaseType,
        *,
        title: str,
        summary: str,
        priority: int,
        severity: Severity,
        policy_code: str,
        source: str,
        dedup_key: str,
        language: str | None = None,
        attributes: dict[str, object] | None = None,
    ) -> CasePlan | None:
        if at < account.registered_at + MINUTE or at >= self.now - 2 * MINUTE:
            return None
        case = CasePlan(
            opened_at=at.replace(microsecond=0),
            account=account.index,
            type=case_type,
            title=title,
            summary=summary,
            priority=priority,
            severity=severity,
            language=language or account.language,
            policy_code=policy_code,
            source=source,
            dedup_key=dedup_key,
            attributes=dict(attributes or {}),
        )
        self.cases.append(case)
        return case

    def layout(
        self, case: CasePlan, gaps: list[timedelta], after: datetime | None = None
    ) -> list[datetime]:
        """Moments after ``after`` (the opening) spaced by ``gaps``, squeezed to end before
        now."""
        moment = after or case.opened_at
        span = max(self.now - moment - 2 * MINUTE, timedelta())
        total = sum(gaps, timedelta())
        scale = min(1.0, span / total) if total > timedelta() else 1.0
        out = []
        for gap in gaps:
            moment = moment + gap * scale
            out.append(moment.replace(microsecond=0))
        return out

    def wait(self, case: CasePlan) -> timedelta:
        """How long a case waits to be picked up: most well inside the SLA, a tail beyond."""
        sla = SLA_HOURS.get(case.type, 24)
        factor = min(self.rng.lognormvariate(math.log(0.25), 0.8), 3.0)
        return timedelta(hours=sla * factor) + MINUTE * self.rng.randint(1, 20)

    def work(self) -> timedelta:
        return MINUTE * self.rng.randint(3, 40)

    def age(self, case: CasePlan) -> float:
        """The case's age in multiples of its queue's SLA."""
        return (self.now - case.opened_at) / timedelta(hours=SLA_HOURS.get(case.type, 24))

    def closed_probability(self, case: CasePlan) -> float:
        # A team that mostly keeps up: a backlog of recent cases, a few breaches, old cases
        # done.
        ratio = self.age(case)
        if ratio < 0.25:
            return 0.05
        if ratio < 1:
            return 0.25
        if ratio < 3:
            return 0.6
        if ratio < 7:
            return 0.9
        return 0.985

    def settle(
        self,
        case: CasePlan | None,
        *,
        note: str,
        close_note: str,
        resolution: Resolution,
        restrictions: list[RestrictionPlan] | None = None,
        hold_reason: str | None = None,
        escalate: list[str] | None = None,
        force_closed: bool = False,
    ) -> None:
        """Decide how far the case got and write its steps. ``escalate`` holds one reason per
        rung climbed (specialist, then legal)."""
        if case is None:
            return
        rng = self.rng
        pick = rng.randrange(1_000_000)
        if escalate:
            self._escalated(case, note, close_note, resolution, restrictions or [], escalate, pick)
            return
        roll = rng.random()
        closed = force_closed or roll < self.closed_probability(case)
        if closed:
            with_note = rng.random() < 0.6
            gaps = [self.wait(case), self.work()] + ([self.work()] if with_note else [])
            times = self.layout(case, gaps)
            case.steps.append(StepPlan(times[0], "take", Role.agent, pick))
            if with_note:
                case.steps.append(StepPlan(times[1], "note", Role.agent, pick, text=note))
            case.steps.append(
                StepPlan(
                    times[-1],
                    "close",
                    Role.agent,
                    pick,
                    text=close_note,
                    resolution=resolution,
                    restrictions=restrictions or [],
                )
            )
            return
        p, ratio = self.closed_probability(case), self.age(case)
        if ratio < 2 and roll < p + 0.15:  # someone holds it right now
            (taken,) = self.layout(case, [self.wait(case)])
            case.steps.append(StepPlan(taken, "take", Role.agent, pick))
        elif hold_reason and ratio < 10 and roll < p + 0.35:
            taken, held = self.layout(case, [self.wait(case), self.work()])
            case.steps.append(StepPlan(taken, "take", Role.agent, pick))
            case.steps.append(
                StepPlan(
                    held,
                    "hold",
                    Role.agent,
                    pick,
                    text=hold_reason,
                    hold_days=rng.uniform(1.5, 4.0),
                )
            )

    def _escalated(
        self,
        case: CasePlan,
        note: str,
        close_note: str,
        resolution: Resolution,
        restrictions: list[RestrictionPlan],
        reasons: list[str],
        pick: int,
    ) -> None:
        rng = self.rng
        roles = [Role.agent, Role.specialist, Role.legal]
        gaps = [self.wait(case), self.work(), self.work()]
        for _ in reasons[1:]:
            gaps += [HOUR * rng.uniform(1, 12), self.work()]
        times = iter(self.layout(case, gaps))
        case.steps.append(StepPlan(next(times), "take", Role.agent, pick))
        case.steps.append(StepPlan(next(times), "note", Role.agent, pick, text=note))
        case.steps.append(
            StepPlan(
                next(times),
                "escalate",
                Role.agent,
                pick,
                text=reasons[0],
                severity=Severity.high if case.severity.rank < Severity.high.rank else None,
                priority=min(case.priority, 2),
            )
        )
        for rung, reason in enumerate(reasons[1:], start=1):
            role = roles[rung]
            case.steps.append(StepPlan(next(times), "take", role, pick))
            case.steps.append(StepPlan(next(times), "escalate", role, pick, text=reason))
        top = roles[len(reasons)]
        since = case.steps[-1].at
        waited = (self.now - since) / HOUR
        if top is Role.legal:
            # Legal takes it within a day and parks it under a hold while records are kept.
            if waited > 24 or rng.random() < 0.3:
                gaps = [HOUR * rng.uniform(1, 20), self.work(), self.work()]
                taken, noted, held = self.layout(case, gaps, since)
                case.steps.append(StepPlan(taken, "take", top, pick))
                case.steps.append(
                    StepPlan(
                        noted,
                        "note",
                        top,
                        pick,
                        text="Preservation letter sent; "
                        "chat logs and payment records exported to the evidence store.",
                    )
                )
                case.steps.append(
                    StepPlan(
                        held,
                        "hold",
                        top,
                        pick,
                        hold_days=rng.uniform(14, 30),
                        text="Legal hold: keeping records until law enforcement asks "
                        "for them or the hold expires.",
                    )
                )
            return
        finish = rng.random() < (0.9 if waited > 48 else 0.3 if waited > 6 else 0.1)
        if not finish:
            if waited > 2 and rng.random() < 0.5:
                (taken,) = self.layout(case, [HOUR * rng.uniform(0.5, 2)], since)
                case.steps.append(StepPlan(taken, "take", top, pick))
            return
        gaps = [HOUR * rng.uniform(1, 24), self.work(), self.work()]
        taken, noted, closed = self.layout(case, gaps, since)
        case.steps.append(StepPlan(taken, "take", top, pick))
        case.steps.append(StepPlan(noted, "note", top, pick, text=note))
        case.steps.append(
            StepPlan(
                closed,
                "close",
                top,
                pick,
                text=close_note,
                resolution=resolution,
                restrictions=restrictions,
            )
        )

    def reporter_for(self, target: AccountPlan, at: datetime) -> AccountPlan | None:
        candidates = [
            a for a in self.benign_buyers if a.registered_at < at - HOUR and a is not target
        ]
        same = [a for a in candidates if a.language == target.language]
        pool = same if same and self.rng.random() < 0.85 else candidates
        return self.rng.choice(pool) if pool else None

    def between(self, lo: datetime, hi: datetime | None = None) -> datetime:
        hi = hi or self.now
        if hi <= lo:
            return hi
        return lo + (hi - lo) * self.rng.random()

    def report(
        self,
        target: AccountPlan,
        at: datetime,
        kind: str,
        *,
        title: str,
        policy_code: str,
        priority: int,
        severity: Severity,
    ) -> CasePlan | None:
        reporter = self.reporter_for(target, at)
        if reporter is None:
            return None
        words = self.rng.choice(pools.REPORT_WORDS[kind][reporter.language])
        self.reports += 1
        summary = (
            f"Reported by {reporter.display_name} ({reporter.external_id}, {reporter.side.value})"
            f" about {target.display_name} ({target.external_id}):\n\n\u201c{words}\u201d"
        )
        case = self.open(
            target,
            at,
            CaseType.user_report,
            title=title,
            summary=summary,
            priority=priority,
            severity=severity,
            policy_code=policy_code,
            source="user_report",
            dedup_key=f"report:{target.external_id}:{reporter.external_id}",
            language=reporter.language,
            attributes={"reporter_external_id": reporter.external_id, "report_kind": kind},
        )
        if case is not None:
            # The report itself, as the marketplace sends it (a ``report_filed`` event by the
            # reporter about the target): ``vigil demo-data`` feeds it and links it to the case.
            case.source_ref = f"sim-{self.plan.seed}-r{self.reports:05d}"
            case.attributes["report_text"] = words
        return case

    # --- the cases ---------------------------------------------------------------------------

    def rings(self) -> None:
        rng = self.rng
        groups: dict[str, list[AccountPlan]] = defaultdict(list)
        for a in self.plan.accounts:
            if a.label is Label.fraud_ring and a.group_key:
                groups[a.group_key].append(a)
        for members in groups.values():
            if rng.random() >= 0.85:
                continue  # undetected: left for the detection benchmarks to find
            lead = members[0]
            size = len(members)
            device = lead.details["shared_devices"][0]
            card = lead.details["shared_payments"][0]
            spread = members[-1].registered_at - members[0].registered_at
            at = members[-1].registered_at + HOUR * rng.uniform(1, 30)
            big = size >= 6
            case = self.open(
                lead,
                at,
                CaseType.detection,
                title=f"Linked accounts: {size} accounts share a device and a card",
                summary=(
                    f"{size} accounts registered within {max(1, round(spread / HOUR))} h "
                    f"share device {_tail(device)} and card {_tail(card)}: "
                    + ", ".join(m.external_id for m in members)
                    + "."
                ),
                priority=1 if big else 2,
                severity=Severity.critical if big else Severity.high,
                policy_code="duplicate_accounts",
                source="detection",
                dedup_key=f"detection:duplicate_accounts:{lead.external_id}",
                language="en",
                attributes={
                    "signal": "shared_device_and_card",
                    "members": [m.external_id for m in members],
                },
            )
            suspend = [
                RestrictionPlan(
                    m.index,
                    RestrictionKind.suspension,
                    "Member of a ring sharing a device and a stolen card",
                    "duplicate_accounts",
                )
                for m in members
            ]
            escalate = (
                [
                    f"Coordinated ring of {size} accounts; a specialist should plan one takedown "
                    "and review the chargebacks."
                ]
                if big or rng.random() < 0.2
                else None
            )
            self.settle(
                case,
                note=rng.choice(pools.NOTES["ring"]),
                close_note=f"Suspended all {size} accounts: shared device and card, chargebacks.",
                resolution=Resolution.actioned,
                restrictions=suspend,
                escalate=escalate,
            )

    def scammers(self, legal_left: list[int]) -> None:
        rng = self.rng
        for a in self.plan.accounts:
            if a.label is not Label.scammer:
                continue
            suspend = [
                RestrictionPlan(
                    a.index,
                    RestrictionKind.suspension,
                    "Scam: took payment and did not deliver",
                    "fraud_scams",
                )
            ]
            last = max(s.at for s in a.sightings)
            devices = len(a.values(IdentifierKind.device))
            ips = len(a.values(IdentifierKind.ip))
            if rng.random() < 0.6:
                case = self.open(
                    a,
                    last + MINUTE * rng.randint(5, 60),
                    CaseType.detection,
                    title=f"Velocity: {devices} devices and {ips} IP addresses in a new account",
                    summary=(
                        f"Identifier churn on {a.external_id}: "
                        f"{devices} devices, {ips} addresses, "
                        f"{len(a.values(IdentifierKind.phone))} phones since registration "
                        f"on a disposable email domain."
                    ),
                    priority=2,
                    severity=Severity.high,
                    policy_code="fraud_scams",
                    source="detection",
                    dedup_key=f"detection:scam.velocity:{a.external_id}",
                    language="en",
                    attributes={"signal": "identifier_churn"},
                )
                self.settle(
                    case,
                    note=rng.choice(pools.NOTES["scam"]),
                    close_note="Churn and chat log show a scam in progress; account suspended.",
                    resolution=Resolution.actioned,
                    restrictions=suspend,
                )
            reports = (rng.random() < 0.7) + (rng.random() < 0.25)
            for _ in range(reports):
                at = self.between(a.registered_at + 2 * HOUR)
                # The first scam reports that open a case carry the legal threats (one per
                # 500 accounts): every demo has its legal case, whatever else the seed drew.
                legal = bool(legal_left)
                case = self.report(
                    a,
                    at,
                    "legal_threat" if legal else "scam",
                    title="User report: paid and nothing delivered"
                    if a.is_seller
                    else "User report: fake payment proof",
                    policy_code="fraud_scams",
                    priority=2,
                    severity=Severity.high,
                )
                if case is None:
                    continue
                escalate = (
                    ["Several buyers may be affected; a specialist should coordinate refunds."]
                    if rng.random() < 0.15
                    else None
                )
                if legal:
                    legal_left.pop()
                    escalate = [
                        "Reporter filed a police report; chat logs are evidence. Needs a "
                        "specialist before any action.",
                        "Law enforcement may request our records; legal decides what we keep "
                        "and disclose (possible legal hold).",
                    ]
                self.settle(
                    case,
                    note=rng.choice(pools.NOTES["scam"]),
                    close_note="Scam confirmed from the chat log; account suspended, buyer "
                    "pointed to the refund flow.",
                    resolution=Resolution.actioned,
                    restrictions=suspend,
                    escalate=escalate,
                )

    def solicitors(self) -> None:
        rng = self.rng
        for a in self.plan.accounts:
            if a.label is not Label.off_platform:
                continue
            messaging = [
                RestrictionPlan(
                    a.index,
                    RestrictionKind.messaging,
                    "Asked buyers to pay outside the platform",
                    "fee_circumvention",
                    days=7,
                )
            ]
            if rng.random() < 0.5:
                message = rng.choice(pools.OFF_PLATFORM_MESSAGES[a.language])
                rng.random()  # a draw once used for a model score; keeps the seed's cases
                case = self.open(
                    a,
                    self.between(a.registered_at + 6 * HOUR),
                    CaseType.detection,
                    title="Message text: request to pay outside the platform",
                    summary=(
                        f"A message from {a.external_id} asks to pay outside the platform:"
                        f"\n\n\u201c{message}\u201d"
                    ),
                    priority=3,
                    severity=Severity.medium,
                    policy_code="fee_circumvention",
                    source="detection",
                    dedup_key=f"detection:fee_circumvention:{a.external_id}",
                    attributes={"signal": "off_platform_request"},
                )
                self.settle(
                    case,
                    note=pools.NOTES["off_platform"][1],
                    close_note="Confirmed; 7-day messaging restriction and a warning sent.",
                    resolution=Resolution.actioned,
                    restrictions=messaging,
                )
            for n in range(rng.choice((1, 1, 2, 3))):
                case = self.report(
                    a,
                    self.between(a.registered_at + 6 * HOUR),
                    "off_platform",
                    title="User report: asked to pay outside the platform",
                    policy_code="fee_circumvention",
                    priority=3,
                    severity=Severity.medium,
                )
                self.settle(
                    case,
                    note=pools.NOTES["off_platform"][0],
                    close_note=(
                        "Chat log confirms it; messaging restricted for 7 days."
                        if n == 0
                        else "Repeat report; restriction already in place."
                    ),
                    resolution=Resolution.actioned,
                    restrictions=messaging if n == 0 else [],
                    escalate=(
                        [
                            "Repeat reports after a warning; a specialist should decide on a "
                            "suspension."
                        ]
                        if n > 0 and rng.random() < 0.3
                        else None
                    ),
                )

    def duplicates(self) -> None:
        rng = self.rng
        originals = {
            a.group_key: a
            for a in self.plan.accounts
            if a.label is Label.duplicate_identity and a.details.get("role") == "original"
        }
        for at, ban in self.plan.restrictions:
            original = self.plan.accounts[ban.account]
            opened = max(original.registered_at + 30 * MINUTE, at - HOUR * rng.uniform(3, 30))
            case = self.open(
                original,
                opened,
                CaseType.account_review,
                title="Account review: chargebacks on orders paid with a stolen card",
                summary=(
                    f"Three chargebacks in a week on orders by {original.external_id}; "
                    "the card issuer reports the card as stolen."
                ),
                priority=2,
                severity=Severity.high,
                policy_code="fraud_scams",
                source="chargeback",
                dedup_key=f"review:fraud_scams:{original.external_id}",
            )
            if case is None:
                continue
            (taken,) = self.layout(case, [MINUTE * rng.randint(20, 120)])
            pick = rng.randrange(1_000_000)
            case.steps.append(StepPlan(min(taken, at - MINUTE), "take", Role.agent, pick))
            case.steps.append(
                StepPlan(
                    at,
                    "close",
                    Role.agent,
                    pick,
                    text="Payment fraud confirmed; suspended.",
                    resolution=Resolution.actioned,
                    restrictions=[ban],
                )
            )
        for a in self.plan.accounts:
            if a.label is not Label.duplicate_identity or a.details.get("role") != "duplicate":
                continue
            original = originals[a.group_key]
            if rng.random() >= 0.75:
                continue
            banned = bool(a.details.get("banned_original"))
            case = self.open(
                a,
                a.registered_at + HOUR * rng.uniform(1, 48),
                CaseType.account_review,
                title=(
                    "Possible ban evasion: same person as a suspended account"
                    if banned
                    else "Possible duplicate account: same legal name and date of birth"
                ),
                summary=(
                    f"{a.external_id} has the same legal name and date of birth as "
                    f"{original.external_id}"
                    + (" (suspended)" if banned else "")
                    + "; email and phone differ."
                ),
                priority=2 if banned else 3,
                severity=Severity.high if banned else Severity.medium,
                policy_code="duplicate_accounts",
                source="detection",
                dedup_key=f"review:duplicate_accounts:{a.external_id}",
                attributes={"matched_account": original.external_id, "banned_original": banned},
            )
            restriction = RestrictionPlan(
                a.index,
                RestrictionKind.suspension if banned else RestrictionKind.listing,
                "Ban evasion" if banned else "Second account of the same person",
                "duplicate_accounts",
            )
            self.settle(
                case,
                note=rng.choice(pools.NOTES["duplicate"]),
                close_note=(
                    f"Same person as {original.external_id}; "
                    + (
                        "suspended for ban evasion."
                        if banned
                        else "asked them to keep one account; listings restricted."
                    )
                ),
                resolution=Resolution.actioned,
                restrictions=[restriction],
                escalate=(
                    [
                        "Ban evasion suspected; a specialist should confirm the match "
                        "before suspending."
                    ]
                    if banned and rng.random() < 0.3
                    else None
                ),
            )

    def review_bursts(self) -> None:
        rng = self.rng
        groups: dict[str, list[AccountPlan]] = defaultdict(list)
        for a in self.plan.accounts:
            if a.label is Label.fake_reviewer and a.group_key:
                groups[a.group_key].append(a)
        for members in groups.values():
            if rng.random() >= 0.7:
                continue
            first = members[0]
            reviewed = first.details.get("reviewed") or "a seller"
            case = self.open(
                first,
                members[-1].registered_at + HOUR * rng.uniform(6, 72),
                CaseType.detection,
                title=f"Review burst: {len(members)} five-star reviews from new accounts",
                summary=(
                    f"{len(members)} accounts created within hours, sharing one IP address, "
                    f"each left five stars for {reviewed}: "
                    + ", ".join(m.external_id for m in members)
                    + "."
                ),
                priority=4,
                severity=Severity.low,
                policy_code="fake_reviews",
                source="detection",
                language="en",
                dedup_key=f"detection:fake_reviews:{first.external_id}",
                attributes={"reviewed": reviewed, "members": [m.external_id for m in members]},
            )
            self.settle(
                case,
                note=pools.NOTES["fake_reviews"][0],
                close_note="Reviews removed; reviewer accounts suspended.",
                resolution=Resolution.actioned,
                restrictions=[
                    RestrictionPlan(
                        m.index,
                        RestrictionKind.suspension,
                        "Fake reviews",
                        "fake_reviews",
                    )
                    for m in members
                ],
            )

    def noise_reports(self) -> None:
        """Reports about ordinary sellers: most are disagreements, not violations."""
        rng = self.rng
        sellers = [a for a in self.plan.accounts if a.label is Label.benign and a.is_seller]
        if not sellers:
            return
        impersonation_left = 1
        for _ in range(round(len(self.plan.accounts) * 0.05)):
            target = rng.choice(sellers)
            kind = rng.choice(("rude", "quality", "quality"))
            if impersonation_left and rng.random() < 0.15:
                kind, impersonation_left = "impersonation", 0
            title, policy, priority = {
                "rude": ("User report: abusive messages", "conduct.harassment", 3),
                "quality": ("User report: late or poor delivery", "quality.service", 4),
                "impersonation": (
                    "User report: profile impersonates someone",
                    "fake_identity",
                    2,
                ),
            }[kind]
            case = self.report(
                target,
                self.between(target.registered_at + 12 * HOUR),
                kind,
                title=title,
                policy_code=policy,
                priority=priority,
                severity=Severity.medium if priority <= 3 else Severity.low,
            )
            self.settle(
                case,
                note=rng.choice(pools.NOTES["benign"]),
                close_note=rng.choice(
                    (
                        "No policy violation; a disagreement about the work. Pointed both users "
                        "to the dispute flow.",
                        "Nothing in the chat breaks the rules.",
                    )
                ),
                resolution=rng.choice(
                    (
                        Resolution.no_violation,
                        Resolution.no_violation,
                        Resolution.insufficient_evidence,
                    )
                ),
                hold_reason=(
                    "Asked the reporter for the order number and the messages about the delivery."
                    if kind == "quality"
                    else None
                ),
                escalate=(
                    [
                        "The reporter says the photos are theirs; a specialist should "
                        "compare identities before we act."
                    ]
                    if kind == "impersonation"
                    else None
                ),
            )


def plan_cases(plan: Plan, rng: Random) -> list[CasePlan]:
    """Cases in the order they were opened."""
    p = _CasePlanner(plan, rng)
    p.rings()
    p.scammers(legal_left=[1] * max(1, len(plan.accounts) // 500))
    p.solicitors()
    p.duplicates()
    p.review_bursts()
    p.noise_reports()
    return sorted(p.cases, key=lambda c: c.opened_at)
