"""Precedent: the past decisions most like a case, under its policy, with what became of them
(appealed, upheld, overturned), never a legal-tier case for someone who may not see one, and
no contact details in what is shown."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    SPAM,
    SUSPEND_7,
    decide,
    held_case,
    make_account,
    make_policy,
    staff,
)
from vigil.accounts.models import Account
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseType, Resolution
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.enforcement import precedent, service
from vigil.enforcement.models import Decision
from vigil.enforcement.precedent import similar_decisions
from vigil.kit import clock
from vigil.kit.errors import NotFound

pytestmark = pytest.mark.usefixtures("fees")

SYSTEM = Principal.system("tests")
_n = itertools.count(1)
CODE = "fee_circumvention"


def add_event(db: Session, case: Case, text: str, type_: str = "message_sent") -> Event:
    n = next(_n)
    event = Event(
        event_id=f"prec-{n}",
        payload_sha256=f"{n:064d}",
        type=type_,
        account_id=case.account_id,
        account_external_id=f"acct-{case.account_id}",
        occurred_at=clock.now(),
        payload={"type": type_, "data": {"text": text}},
        case_id=case.id,
    )
    db.add(event)
    db.flush()
    return event


def decided(
    db: Session,
    settings: Settings,
    reviewer: tuple[StaffUser, Principal],
    *,
    title: str,
    texts: tuple[str, ...] = (),
    account: Account | None = None,
    **kw: Any,
) -> Decision:
    """A case under the fee policy with ``texts`` as its messages, decided by ``reviewer``."""
    user, actor = reviewer
    case_kw = {k: kw.pop(k) for k in ("tier", "type") if k in kw}
    case = held_case(
        db, user, account or make_account(db), title=title, policy_code=CODE, **case_kw
    )
    for text in texts:
        add_event(db, case, text)
    return decide(db, actor, case, settings, **kw)


def open_case(db: Session, title: str, texts: tuple[str, ...] = (), **kw: Any) -> Case:
    kw.setdefault("policy_code", CODE)
    kw.setdefault("type", CaseType.user_report)
    case = cases.create_case(
        db, SYSTEM, cases.NewCase(title=title, account_id=make_account(db).id, **kw)
    ).case
    for text in texts:
        add_event(db, case, text)
    db.flush()
    return case


def test_the_most_similar_decision_comes_first_with_what_was_decided(
    db: Session, settings: Settings
) -> None:
    reviewer = staff(db, Role.specialist)
    bank = decided(db, settings, reviewer, title="Asked for a bank transfer",
                   texts=("send the money by wire transfer to my bank account",),
                   internal_reasoning="Bank details in two messages.")  # fmt: skip
    bizum = decided(db, settings, reviewer, title="Payment request in a message",
                    texts=("hazme un bizum y te hago descuento", "bizum al 612 345 678"),
                    actions=SUSPEND_7, departure_reason="Third request this month.",
                    internal_reasoning="Bizum requested twice, with a phone number.")  # fmt: skip
    decided(db, settings, reviewer, title="Crypto wallet shared",
            texts=("pay in USDT to my wallet",))  # fmt: skip
    case = open_case(db, "Payment request in a message", ("mándame un bizum, es más fácil",))
    _, agent = staff(db)

    found = similar_decisions(db, agent, case)

    assert found[0].decision_id == bizum.id
    assert {p.decision_id for p in found[1:]} >= {bank.id}
    top = found[0]
    assert top.case_id == bizum.case_id and top.case_title == "Payment request in a message"
    assert top.reviewer == reviewer[0].name
    assert [(a.type, a.scope, a.duration_days) for a in top.actions] == [("suspend", "account", 7)]
    assert top.actions[0].label == "suspend account, 7 days"
    assert top.reason == "Bizum requested twice, with a phone number."
    assert top.policy_version == 1 and not top.no_violation
    assert (top.appealed, top.appeal_outcome, top.reversed) == (False, None, False)
    assert top.similarity > found[-1].similarity
    assert len(found) == 3


def test_only_other_cases_under_the_same_policy_that_took_effect(
    db: Session, settings: Settings
) -> None:
    reviewer = staff(db, Role.specialist)
    make_policy(db, SPAM)
    spam = decided(db, settings, reviewer, title="Bizum spam", policy="spam")
    same = decided(db, settings, reviewer, title="Bizum request")
    # A decision on the case itself (decided, then reopened) is not precedent for it.
    user, actor = reviewer
    case = held_case(db, user, make_account(db), title="Bizum again", policy_code=CODE)
    own = decide(db, actor, case, settings)
    _, agent = staff(db)

    found = similar_decisions(db, agent, case)

    ids = {p.decision_id for p in found}
    assert same.id in ids
    assert spam.id not in ids and own.id not in ids


def test_no_policy_or_no_history_means_no_precedent(db: Session, settings: Settings) -> None:
    _, agent = staff(db)
    assert similar_decisions(db, agent, open_case(db, "Anything", policy_code=None)) == []
    assert similar_decisions(db, agent, open_case(db, "First of its kind")) == []


def test_legal_tier_decisions_only_for_those_who_may_see_legal_cases(
    db: Session, settings: Settings
) -> None:
    legal = decided(db, settings, staff(db, Role.legal), title="Court order bizum",
                    tier=Tier.legal)  # fmt: skip
    plain = decided(db, settings, staff(db, Role.specialist), title="Bizum request")
    case = open_case(db, "Court order bizum")
    _, agent = staff(db)
    _, lawyer = staff(db, Role.legal)

    assert [p.decision_id for p in similar_decisions(db, agent, case)] == [plain.id]
    assert [p.decision_id for p in similar_decisions(db, lawyer, case)] == [legal.id, plain.id]


def _appeal(db: Session, decision: Decision) -> Case:
    return cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.appeal,
            title=f"Appeal against decision {decision.id}",
            tier=Tier.specialist,
            policy_code=CODE,
            account_id=decision.account_id,
            dedup_key=f"appeal:decision:{decision.id}",
            attributes={"appeal": {"decision_id": decision.id}},
        ),
    ).case


def test_appeals_and_their_outcomes(db: Session, settings: Settings) -> None:
    reviewer = staff(db, Role.specialist)
    account = make_account(db)
    _, senior = staff(db, Role.specialist)
    overturned = decided(
        db, settings, reviewer, title="Bizum A", account=account, actions=SUSPEND_7,
        departure_reason="Asked twice.",
    )  # fmt: skip
    upheld = decided(
        db,
        settings,
        reviewer,
        title="Bizum B",
        account=account,
        departure_reason="A first warning.",
    )
    pending = decided(db, settings, reviewer, title="Bizum C")
    reversed_only = decided(db, settings, reviewer, title="Bizum D", actions=SUSPEND_7,
                            departure_reason="Asked twice.")  # fmt: skip
    never = decided(db, settings, reviewer, title="Bizum E")

    appeal = _appeal(db, overturned)
    service.reverse_decision(db, senior, overturned.id, "The messages were a joke between friends.",
                             settings=settings)  # fmt: skip
    cases.assign(db, SYSTEM, appeal.id, staff_id=reviewer[0].id)
    cases.close(db, SYSTEM, appeal.id, resolution=Resolution.actioned, note="Overturned.")
    appeal = _appeal(db, upheld)
    cases.assign(db, SYSTEM, appeal.id, staff_id=reviewer[0].id)
    cases.close(db, SYSTEM, appeal.id, resolution=Resolution.no_violation, note="Upheld.")
    _appeal(db, pending)
    service.reverse_decision(db, senior, reversed_only.id, "Wrong account.", settings=settings)
    case = open_case(db, "Bizum F")
    _, agent = staff(db)

    found = {p.decision_id: p for p in similar_decisions(db, agent, case, limit=10)}

    assert (found[overturned.id].appeal_outcome, found[overturned.id].reversed) == (
        "overturned",
        True,
    )
    assert (found[upheld.id].appealed, found[upheld.id].appeal_outcome) == (True, "upheld")
    assert found[pending.id].appeal_outcome == "pending"
    assert (found[reversed_only.id].appealed, found[reversed_only.id].reversed) == (False, True)
    assert (found[never.id].appealed, found[never.id].appeal_outcome) == (False, None)


def test_contact_details_never_reach_the_precedent(db: Session, settings: Settings) -> None:
    reviewer = staff(db, Role.specialist)
    reasoning = "Wrote 'whatsapp me +34 612 345 678' and her IG @maria_fotos."
    decided(db, settings, reviewer, title="Gave out maria.lopez88@gmail.com in a message",
            internal_reasoning=reasoning)  # fmt: skip
    case = open_case(db, "Gave out an email in a message")
    _, agent = staff(db)

    (p,) = similar_decisions(db, agent, case)

    assert p.case_title == "Gave out [email] in a message"
    assert "612" not in p.reason and "maria_fotos" not in p.reason
    assert "[phone]" in p.reason and "[username]" in p.reason


def test_candidates_are_bounded_to_the_newest(
    db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reviewer = staff(db, Role.specialist)
    oldest = decided(db, settings, reviewer, title="Bizum bizum bizum")
    newer = [decided(db, settings, reviewer, title=f"Unrelated matter {i}") for i in range(2)]
    case = open_case(db, "Bizum bizum bizum")
    _, agent = staff(db)
    monkeypatch.setattr(precedent, "MAX_CANDIDATES", 2)

    found = similar_decisions(db, agent, case)

    assert oldest.id not in {p.decision_id for p in found}
    assert {p.decision_id for p in found} == {d.id for d in newer}


def test_the_flagged_messages_count_not_only_the_title(db: Session, settings: Settings) -> None:
    reviewer = staff(db, Role.specialist)
    pix = decided(db, settings, reviewer, title="Reported by a client",
                  texts=("faz um pix na minha chave que eu começo hoje",))  # fmt: skip
    decided(db, settings, reviewer, title="Reported by a client",
            texts=("send it through western union please",))  # fmt: skip
    case = open_case(db, "Reported by a client", ("me manda um pix, chave aleatória",))
    _, agent = staff(db)

    assert similar_decisions(db, agent, case)[0].decision_id == pix.id


def test_only_the_newest_texts_of_a_case_count(
    db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A candidate's texts are its newest few text events among its newest events: a message
    buried under later activity, or older than the newest TEXTS_PER_CASE texts, is not read
    (the cost per case stays bounded however many events it has)."""
    monkeypatch.setattr(precedent, "CANDIDATE_WINDOW", 4)
    reviewer = staff(db, Role.specialist)
    pix = "faz um pix na minha chave que eu começo hoje"
    # Titles share no word with the open case's: only the texts make a case similar.
    title = "Flagged automatically"
    fresh = decided(db, settings, reviewer, title=title, texts=(pix,))
    later = ("the logo is ready", "two more drafts", "thanks a lot")
    crowded = decided(db, settings, reviewer, title=title, texts=(pix, *later))
    buried = decided(db, settings, reviewer, title=title, texts=(pix,))
    buried_case = db.get(Case, buried.case_id)
    assert buried_case is not None
    for _ in range(4):  # later activity without text pushes the message out of the window
        add_event(db, buried_case, "", type_="login")
    case = open_case(db, "Reported by a client", ("me manda um pix, chave aleatória",))
    _, agent = staff(db)

    ranked = similar_decisions(db, agent, case)
    found = {p.decision_id: p for p in ranked}

    # Read in full, "buried" (the newest decision) would tie with "fresh" and come first.
    assert ranked[0].decision_id == fresh.id
    assert found[fresh.id].similarity > 0
    assert found[buried.id].similarity == found[crowded.id].similarity == 0


def test_the_case_itself_must_be_visible(db: Session, settings: Settings) -> None:
    _, agent = staff(db)
    legal_case = open_case(db, "Court order", tier=Tier.legal)
    with pytest.raises(NotFound):
        precedent.visible_case(db, agent, legal_case.id)
