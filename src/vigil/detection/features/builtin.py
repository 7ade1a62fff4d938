"""The features Vigil ships, in the order rule authors read them (docs/features.md).

Types follow what rules compare them with: counts, ages and minutes are ``int`` (CEL does
not compare ``int`` with ``double`` without a conversion), model and detector scores are
``double`` in [0, 1].
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from vigil.detection.features import velocity
from vigil.detection.features.inputs import Inputs, Need, TextInputs
from vigil.detection.features.registry import Feature, Registry
from vigil.kit import clock

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def signed_up_at(inputs: Inputs) -> datetime | None:
    """When the account signed up on the marketplace, or, when the marketplace never said,
    when Vigil first heard of it."""
    account = inputs.account
    if account is None:
        return None
    at = account.registered_at or account.created_at
    return clock.as_utc(at) if at is not None else None


def _age(inputs: Inputs, unit: timedelta) -> int:
    # An unknown account is as new as an account can be: age 0.
    since = signed_up_at(inputs)
    if since is None:
        return 0
    return max(0, (inputs.at - since) // unit)


def _payout_minutes(inputs: Inputs) -> int:
    if inputs.event.type != "payout_request":
        return 0
    return _age(inputs, MINUTE)


def _text(attr: str) -> Any:
    def read(inputs: Inputs) -> Any:
        text: TextInputs | None = inputs.text
        return getattr(text, attr) if text is not None else 0

    return read


def _has(attr: str) -> Any:
    def read(inputs: Inputs) -> bool:
        text = inputs.text
        return bool(text is not None and getattr(text, attr))

    return read


def _velocity(name: str) -> Any:
    return lambda inputs: inputs.velocity[name]


ACCOUNT: list[Feature] = [
    Feature(
        "account_known",
        "bool",
        "Vigil knows this account (it was upserted or seen in an earlier event).",
        lambda i: i.account is not None,
        Need.account,
    ),
    Feature(
        "account_age_days",
        "int",
        "Whole days from the account's signup (registered_at, else when Vigil first saw "
        "it) to this event; 0 for an unknown account.",
        lambda i: _age(i, DAY),
        Need.account,
    ),
    Feature(
        "account_age_hours",
        "int",
        "Whole hours from the account's signup to this event; 0 for an unknown account.",
        lambda i: _age(i, HOUR),
        Need.account,
    ),
    Feature(
        "payout_minutes_after_signup",
        "int",
        "On payout_request events: whole minutes from the account's signup to this payout "
        "request (0 for an unknown account). 0 on every other event type, so a rule using "
        "it must also test event.type == 'payout_request'.",
        _payout_minutes,
        Need.account,
    ),
]

VELOCITY: list[Feature] = [
    *(
        Feature(w.feature, "int", w.description, _velocity(w.feature), Need.velocity)
        for w in velocity.WINDOWS
    ),
    *(
        Feature(f.feature, "bool", f.description, _velocity(f.feature), Need.velocity)
        for f in velocity.FIRSTS
    ),
]

LINKS: list[Feature] = [
    Feature(
        "linked_accounts",
        "int",
        "Other accounts linked to this one by a shared identifier (device, payment "
        "instrument, phone, email, document); 0 for an unknown account.",
        lambda i: i.links.linked_accounts,
        Need.links,
    ),
    Feature(
        "linked_banned_accounts",
        "int",
        "Of the linked accounts, how many are suspended or removed.",
        lambda i: i.links.linked_banned_accounts,
        Need.links,
    ),
    Feature(
        "linked_by",
        "list_string",
        "The kinds of identifier that link this account to others, e.g. ['device', 'payment'].",
        lambda i: list(i.links.linked_by),
        Need.links,
    ),
]

TEXT: list[Feature] = [
    Feature(
        "has_text",
        "bool",
        "The event carries a non-blank data.text (messages, reviews, listings, jobs, "
        "proposals, profile bios, reports). Every other text feature is 0 / false without it.",
        lambda i: i.text is not None,
        Need.text,
    ),
    Feature("text_length", "int", "Characters in data.text.", _text("length"), Need.text),
    Feature(
        "contact_details_count",
        "int",
        "Contact details found in the text (emails, phone numbers, URLs, handles on other "
        "apps, payment handles such as crypto addresses, IBANs, Pix keys or $cashtags), "
        "obfuscated ones included. App names alone do not count.",
        lambda i: i.text.contact_details if i.text is not None else 0,
        Need.text,
    ),
    Feature(
        "contact_kinds",
        "list_string",
        "Which kinds of contact detail the text holds: email, phone, url, handle, payment_app.",
        lambda i: i.text.contact_kinds if i.text is not None else [],
        Need.text,
    ),
    Feature("has_email", "bool", "The text holds an email address.", _has("emails"), Need.text),
    Feature("has_phone", "bool", "The text holds a phone number.", _has("phones"), Need.text),
    Feature("has_url", "bool", "The text holds a URL or a bare domain.", _has("urls"), Need.text),
    Feature(
        "has_handle",
        "bool",
        "The text holds a handle on another app (e.g. @name on Telegram or Instagram).",
        _has("handles"),
        Need.text,
    ),
    Feature(
        "has_payment_app",
        "bool",
        "The text names a payment app or channel off the platform (PayPal, Venmo, Zelle, "
        "Pix, Western Union, crypto wallets...).",
        _has("payment_apps"),
        Need.text,
    ),
    Feature(
        "payment_apps",
        "list_string",
        "The payment apps or channels named, normalised (e.g. ['paypal', 'zelle']).",
        lambda i: list(i.text.payment_apps) if i.text is not None else [],
        Need.text,
    ),
    Feature(
        "has_messaging_app",
        "bool",
        "The text names a messaging app off the platform (WhatsApp, Telegram, Signal...).",
        _has("messaging_apps"),
        Need.text,
    ),
    Feature(
        "messaging_apps",
        "list_string",
        "The messaging apps named, normalised (e.g. ['whatsapp']).",
        lambda i: list(i.text.messaging_apps) if i.text is not None else [],
        Need.text,
    ),
    Feature(
        "contact_obfuscated",
        "bool",
        "A contact detail was found only after undoing a disguise ('g m a i l', 'at', "
        "'dot', digits spelled out): someone went out of their way to hide it.",
        _has("obfuscated"),
        Need.text,
    ),
    Feature(
        "has_off_platform_phrase",
        "bool",
        "The text asks to move the conversation or the payment off the platform ('text me "
        "on', 'pay me directly', ...).",
        _has("off_platform_phrases"),
        Need.text,
    ),
    Feature(
        "off_platform_score",
        "double",
        "How strongly the text solicits contact or payment off the platform, in [0, 1].",
        _text("off_platform_score"),
        Need.text,
    ),
    Feature(
        "scam_score",
        "double",
        "The scam/spam classifier's probability for the text, in [0, 1]; 0.0 when no "
        "model is installed.",
        _text("scam_score"),
        Need.text,
    ),
    Feature(
        "abuse_score",
        "double",
        "The abuse/harassment classifier's probability for the text, in [0, 1]; 0.0 when "
        "no model is installed.",
        _text("abuse_score"),
        Need.text,
    ),
]

REGISTRY = Registry([*ACCOUNT, *VELOCITY, *LINKS, *TEXT])
