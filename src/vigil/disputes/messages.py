"""Messages to the two parties of a dispute, in the account's language.

Templates are package files ``disputes/templates/<locale>/<name>.txt`` (first line
``Subject: ...``, a blank line, the body), rendered in the communications sandbox (no
attribute access to Python objects, a few text filters, strict about missing names) with a
context of plain strings built here. Names: ``opened`` (to the respondent), ``reminder`` (to
the respondent), ``defaulted``, ``proposal``, ``proposal_closed`` (rejected or lapsed) and
``outcome`` (to both), ``released`` (to both: a payment held for a redo was released).

A message goes out on the account's channels: email when the account has an address, and
in-app always (the marketplace shows it), through ``communications.service.send``, which
records it on the dispute's case.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.auth.principal import Principal
from vigil.communications import service as communications
from vigil.communications import templating
from vigil.config import Settings
from vigil.disputes import money
from vigil.disputes.models import Dispute, DisputeProposal, Outcome, Party
from vigil.kit import clock

MAILER = Principal.system("disputes.messages")
TEMPLATES = (
    "opened",
    "reminder",
    "defaulted",
    "proposal",
    "proposal_closed",
    "outcome",
    "released",
)

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "buyer": "buyer",
        "seller": "seller",
        "contract": "contract",
        "job": "job",
        "payment": "payment",
        "not_delivered": "work or item not delivered",
        "not_as_described": "work or item not as described",
        "quality": "quality of the work",
        "payment_not_received": "payment not received",
        "cancellation": "cancellation",
        "other": "other",
        "full_refund": "a full refund of {refund} to the buyer",
        "partial_refund": "a refund of {refund} to the buyer, and {release} released to the seller",
        "release": "the payment of {release} released to the seller",
        "redo": "the seller redoes the work; the payment of {amount} stays held until then",
        "no_action": "no change: the payment of {release} is released to the seller as agreed",
        "withdrawn": "the dispute was withdrawn; the payment of {release} is released to the "
        "seller",
        "agreement": "both of you accepted the proposal",
        "ruling": "our mediator decided",
        "withdrawn_by": "the person who opened it withdrew it",
    },
    "es": {
        "buyer": "comprador",
        "seller": "vendedor",
        "contract": "contrato",
        "job": "trabajo",
        "payment": "pago",
        "not_delivered": "trabajo o artículo no entregado",
        "not_as_described": "trabajo o artículo distinto de lo descrito",
        "quality": "calidad del trabajo",
        "payment_not_received": "pago no recibido",
        "cancellation": "cancelación",
        "other": "otro",
        "full_refund": "un reembolso total de {refund} al comprador",
        "partial_refund": "un reembolso de {refund} al comprador y la liberación de {release} "
        "al vendedor",
        "release": "la liberación del pago de {release} al vendedor",
        "redo": "el vendedor vuelve a hacer el trabajo; el pago de {amount} sigue retenido "
        "hasta entonces",
        "no_action": "sin cambios: el pago de {release} se libera al vendedor según lo acordado",
        "withdrawn": "la disputa fue retirada; el pago de {release} se libera al vendedor",
        "agreement": "ambas partes aceptaron la propuesta",
        "ruling": "nuestro mediador tomó la decisión",
        "withdrawn_by": "la retiró la persona que la abrió",
    },
    "pt": {
        "buyer": "comprador",
        "seller": "vendedor",
        "contract": "contrato",
        "job": "trabalho",
        "payment": "pagamento",
        "not_delivered": "trabalho ou item não entregue",
        "not_as_described": "trabalho ou item diferente do descrito",
        "quality": "qualidade do trabalho",
        "payment_not_received": "pagamento não recebido",
        "cancellation": "cancelamento",
        "other": "outro",
        "full_refund": "um reembolso integral de {refund} ao comprador",
        "partial_refund": "um reembolso de {refund} ao comprador e a liberação de {release} "
        "ao vendedor",
        "release": "a liberação do pagamento de {release} ao vendedor",
        "redo": "o vendedor refaz o trabalho; o pagamento de {amount} continua retido até lá",
        "no_action": "sem alterações: o pagamento de {release} é liberado ao vendedor conforme "
        "combinado",
        "withdrawn": "a disputa foi retirada; o pagamento de {release} é liberado ao vendedor",
        "agreement": "as duas partes aceitaram a proposta",
        "ruling": "nosso mediador decidiu",
        "withdrawn_by": "a disputa foi retirada por quem a abriu",
    },
}


def language_of(account: Account) -> tuple[str, bool]:
    """The shipped language for the account's locale, and whether it fell back to English."""
    return communications.normalize_locale(account.locale)


def _when(at: datetime, language: str) -> str:
    at = clock.as_utc(at)
    return f"{communications.format_date(at, language)}, {at:%H:%M} UTC"


def describe_outcome(
    outcome: Outcome | str, dispute: Dispute, refund_minor: int, language: str
) -> str:
    """What an outcome means in money, in the reader's language."""
    value = Outcome(outcome)
    if value is Outcome.withdrawn:
        refund, release = 0, dispute.amount_minor
    else:
        refund, release = money.split_for(value.value, dispute.amount_minor, refund_minor)
    return LABELS[language][value.value].format(
        refund=money.display_local(refund, dispute.currency, language),
        release=money.display_local(release, dispute.currency, language),
        amount=money.display_local(dispute.amount_minor, dispute.currency, language),
    )


@lru_cache(maxsize=64)
def _source(language: str, name: str) -> tuple[str, str]:
    path = resources.files("vigil.disputes") / "templates" / language / f"{name}.txt"
    return templating.parse_file(path.read_text(encoding="utf-8"), name=f"{language}/{name}")


@lru_cache(maxsize=64)
def _compiled(source: str) -> Any:
    return templating.ENV.from_string(source)


def render(name: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """``(subject, body)`` of template ``name`` in ``language``."""
    subject_src, body_src = _source(language, name)
    subject = templating.tidy(_compiled(subject_src).render(context))
    body = templating.tidy(_compiled(body_src).render(context))
    return " ".join(subject.split()), body


def context(
    settings: Settings,
    dispute: Dispute,
    account: Account,
    party: Party,
    language: str,
    extra: dict[str, Any],
) -> dict[str, Any]:
    labels = LABELS[language]
    ctx: dict[str, Any] = {
        "user_name": account.display_name or "",
        "marketplace": settings.marketplace_name,
        "reference": f"D-{dispute.id}",
        "role": labels[party.value],
        "is_respondent": party is dispute.respondent,
        "is_opener": party is dispute.opened_by,
        "subject": f"{labels[dispute.subject_type.value]} {dispute.subject_ref}",
        "reason": labels[dispute.reason_code.value],
        "amount": money.display_local(dispute.amount_minor, dispute.currency, language),
        "response_deadline": _when(dispute.response_due_at, language),
        "defaulted": dispute.respondent_defaulted,
        "outcome": "",
        "resolved_by": "",
        "note": "",
        "proposal_deadline": "",
        "proposal_text": "",
        "closed_reason": "",
        "closed_by_you": False,
        "payment_held": False,
        "is_seller": party is Party.seller,
        "release_note": str(extra.get("release_note") or ""),
    }
    proposal: DisputeProposal | None = extra.get("proposal")
    if proposal is not None:
        ctx["proposal_text"] = describe_outcome(
            proposal.outcome, dispute, proposal.refund_minor, language
        )
        ctx["proposal_deadline"] = _when(proposal.due_at, language)
        ctx["note"] = proposal.note
    if "closed_reason" in extra:
        ctx["closed_reason"] = extra["closed_reason"]
        ctx["closed_by_you"] = extra.get("by_party") is party
    if dispute.outcome is not None:
        ctx["outcome"] = describe_outcome(
            dispute.outcome, dispute, dispute.refund_minor or 0, language
        )
        ctx["payment_held"] = dispute.outcome is Outcome.redo
        resolved_by = dispute.resolved_by.value if dispute.resolved_by else ""
        ctx["resolved_by"] = labels.get(
            "withdrawn_by" if resolved_by == "withdrawn" else resolved_by, ""
        )
        if dispute.resolution_note and proposal is None:
            ctx["note"] = dispute.resolution_note
    return ctx


def send(
    session: Session,
    settings: Settings,
    dispute: Dispute,
    account: Account,
    party: Party,
    name: str,
    extra: dict[str, Any],
) -> None:
    """Render ``name`` for ``account`` and send it on its channels, recorded on the case."""
    language, _ = language_of(account)
    subject, body = render(
        name, language, context(settings, dispute, account, party, language, extra)
    )
    channels = ["email", "in_app"] if account.email else ["in_app"]
    communications.send(
        session,
        MAILER,
        account_id=account.id,
        case_id=dispute.case_id,
        decision_id=None,
        locale=language,
        subject=subject,
        body=body,
        channels=channels,
        template_key=f"shipped:disputes/{language}/{name}",
        any_case_account=True,
    )
