"""Every dispute message renders in every shipped language, for each party and variant, with
the money spelled out and nothing left unfilled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.accounts.models import Account
from vigil.config import Settings
from vigil.disputes import messages, money
from vigil.disputes.models import (
    Dispute,
    DisputeProposal,
    Outcome,
    Party,
    ReasonCode,
    ResolvedBy,
    SubjectType,
)

AT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _dispute(**changes: object) -> Dispute:
    values: dict[str, object] = {
        "id": 7,
        "case_id": 1,
        "subject_type": SubjectType.contract,
        "subject_ref": "c-42",
        "buyer_account_id": 1,
        "seller_account_id": 2,
        "opened_by": Party.buyer,
        "reason_code": ReasonCode.not_delivered,
        "amount_minor": 12050,
        "currency": "USD",
        "opened_at": AT,
        "response_due_at": AT + timedelta(hours=72),
        "respondent_defaulted": False,
    }
    values.update(changes)
    return Dispute(**values)


PROPOSAL = DisputeProposal(
    id=3,
    outcome=Outcome.partial_refund,
    refund_minor=4050,
    note="The leak comes from upstairs.",
    due_at=AT + timedelta(hours=80),
)


@pytest.mark.parametrize("language", ["en", "es", "pt"])
@pytest.mark.parametrize("party", [Party.buyer, Party.seller])
@pytest.mark.parametrize(
    ("name", "extra", "dispute_changes"),
    [
        ("opened", {}, {}),
        ("reminder", {}, {}),
        ("defaulted", {}, {"respondent_defaulted": True}),
        ("proposal", {"proposal": PROPOSAL}, {}),
        ("proposal_closed", {"proposal": PROPOSAL, "closed_reason": "lapsed"}, {}),
        (
            "proposal_closed",
            {"proposal": PROPOSAL, "closed_reason": "rejected", "by_party": Party.seller},
            {},
        ),
        (
            "outcome",
            {},
            {
                "outcome": Outcome.partial_refund,
                "resolved_by": ResolvedBy.agreement,
                "refund_minor": 4050,
                "release_minor": 8000,
            },
        ),
        (
            "outcome",
            {},
            {
                "outcome": Outcome.redo,
                "resolved_by": ResolvedBy.ruling,
                "resolution_note": "Redo the finish.",
            },
        ),
        ("outcome", {}, {"outcome": Outcome.withdrawn, "resolved_by": ResolvedBy.withdrawn}),
        (
            "released",
            {"release_note": "The finish was redone."},
            {"outcome": Outcome.redo, "resolved_by": ResolvedBy.ruling},
        ),
    ],
)
def test_every_message_renders(
    language: str,
    party: Party,
    name: str,
    extra: dict[str, object],
    dispute_changes: dict[str, object],
) -> None:
    dispute = _dispute(**dispute_changes)
    account = Account(external_id="a", display_name="Ana", locale=language)
    ctx = messages.context(Settings(), dispute, account, party, language, dict(extra))
    subject, body = messages.render(name, language, ctx)
    assert subject and "\n" not in subject and len(subject) <= 120
    assert "{{" not in subject + body and "{%" not in body
    assert "Ana" in body and "D-7" in body
    # Amounts as people read them in each language: "USD 40.50", "40,50 USD".
    refund, release, whole = (
        ("USD 40.50", "USD 80.00", "USD 120.50")
        if language == "en"
        else ("40,50 USD", "80,00 USD", "120,50 USD")
    )
    if name in ("proposal", "proposal_closed"):
        assert refund in body and release in body
    if name == "outcome" and dispute.outcome is Outcome.partial_refund:
        assert refund in body
    if name == "opened":
        assert whole in body
    assert "USD 120.50" not in body or language == "en"


def _body(name: str, language: str, extra: dict[str, object], **changes: object) -> str:
    account = Account(external_id="a", display_name="Ana", locale=language)
    ctx = messages.context(
        Settings(), _dispute(**changes), account, Party.seller, language, dict(extra)
    )
    return messages.render(name, language, ctx)[1]


def test_amounts_group_thousands_per_language() -> None:
    assert money.display_local(123456, "USD", "en") == "USD 1,234.56"
    assert money.display_local(123456, "USD", "es") == "1.234,56 USD"
    assert money.display_local(123456, "BRL", "pt") == "1.234,56 BRL"
    assert money.display_local(5000, "JPY", "pt") == "5.000 JPY"
    assert money.display(123456, "USD") == "USD 1234.56"  # the API's display is unchanged


@pytest.mark.parametrize("name", ["opened", "reminder", "proposal", "outcome"])
def test_portuguese_names_the_marketplace_in_the_masculine(name: str) -> None:
    extra: dict[str, object] = {"proposal": PROPOSAL} if name == "proposal" else {}
    changes: dict[str, object] = (
        {"outcome": Outcome.release, "resolved_by": ResolvedBy.ruling} if name == "outcome" else {}
    )
    body = _body(name, "pt", extra, **changes)
    assert "na Marketplace" not in body and "A Marketplace" not in body
    assert "no Marketplace" in body or "O Marketplace" in body


@pytest.mark.parametrize(
    ("language", "both_sides", "available"),
    [
        ("en", "read both sides", "information available"),
        ("es", "ambas versiones", "información disponible"),
        ("pt", "as duas versões", "informações disponíveis"),
    ],
)
def test_a_proposal_after_a_default_does_not_claim_both_sides_were_read(
    language: str, both_sides: str, available: str
) -> None:
    heard = _body("proposal", language, {"proposal": PROPOSAL})
    assert both_sides in heard and available not in heard
    defaulted = _body("proposal", language, {"proposal": PROPOSAL}, respondent_defaulted=True)
    assert both_sides not in defaulted and available in defaulted


@pytest.mark.parametrize(
    ("language", "shortly", "held"),
    [
        ("en", "carry out the payment instruction", "stays held"),
        ("es", "aplicará la instrucción de pago", "sigue retenido"),
        ("pt", "vai executar a instrução de pagamento", "continua retido até o mediador"),
    ],
)
def test_a_redo_outcome_says_the_payment_stays_held(language: str, shortly: str, held: str) -> None:
    redo = _body("outcome", language, {}, outcome=Outcome.redo, resolved_by=ResolvedBy.ruling)
    assert shortly not in redo and held in redo
    release = _body("outcome", language, {}, outcome=Outcome.release, resolved_by=ResolvedBy.ruling)
    assert shortly in release


@pytest.mark.parametrize(
    ("language", "label"),
    [("en", "The mediator's note: Redo the finish."), ("es", "Nota del mediador: Redo"),
     ("pt", "Nota do mediador: Redo")],
)  # fmt: skip
def test_the_outcome_labels_the_mediators_note(language: str, label: str) -> None:
    """The note is the mediator's words, not the message's: it says so."""
    body = _body(
        "outcome",
        language,
        {},
        outcome=Outcome.redo,
        resolved_by=ResolvedBy.ruling,
        resolution_note="Redo the finish.",
    )
    assert label in body


@pytest.mark.parametrize(
    ("language", "party", "words"),
    [
        ("en", Party.seller, "released to you"),
        ("en", Party.buyer, "released to the seller"),
        ("es", Party.seller, "se liberó a tu favor"),
        ("pt", Party.buyer, "foi liberado para o vendedor"),
    ],
)
def test_the_release_message_says_who_gets_the_money(
    language: str, party: Party, words: str
) -> None:
    account = Account(external_id="a", display_name="Ana", locale=language)
    dispute = _dispute(outcome=Outcome.redo, resolved_by=ResolvedBy.ruling)
    ctx = messages.context(
        Settings(), dispute, account, party, language, {"release_note": "Checked the photos."}
    )
    subject, body = messages.render("released", language, ctx)
    assert "D-7" in subject and words in body and "Checked the photos." in body
