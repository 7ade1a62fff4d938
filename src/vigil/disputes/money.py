"""Money in disputes: integer minor units of an ISO 4217 currency.

A decimal amount from outside is turned into minor units exactly (``Decimal``, never a float)
and refused when it has more decimals than the currency has, or is zero or negative. Only the
currencies listed here are accepted: a currency whose minor unit we do not know could be
mis-scaled by a factor of 100 or 1,000, which is worse than refusing it.
"""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException, InvalidOperation

from vigil.kit.errors import InvalidInput

# ISO 4217 minor units (decimals) of the currencies marketplaces settle in.
_TWO_DECIMALS = (
    "AED ARS AUD BDT BGN BOB BRL CAD CHF CNY COP CRC CZK DKK DOP EGP EUR GBP GEL GHS GTQ HKD",
    "HNL HUF IDR ILS INR KES KZT LKR MAD MXN MYR NGN NOK NZD PAB PEN PHP PKR PLN QAR RON RSD",
    "RUB SAR SEK SGD THB TRY TWD UAH USD UYU ZAR",
)
MINOR_UNITS: dict[str, int] = {
    **{code: 2 for line in _TWO_DECIMALS for code in line.split(" ")},
    **dict.fromkeys(("CLP", "ISK", "JPY", "KRW", "PYG", "UGX", "VND", "XAF", "XOF"), 0),
    **dict.fromkeys(("BHD", "JOD", "KWD", "OMR", "TND"), 3),
}
# Far above any real dispute; keeps sums and BIGINT columns safe.
MAX_MINOR = 10**15


def check_currency(currency: str, field: str = "currency") -> str:
    code = (currency or "").strip().upper()
    if code not in MINOR_UNITS:
        raise InvalidInput(
            f"{currency!r} is not an ISO 4217 currency we settle in",
            field=field,
            code="unknown_currency",
        )
    return code


# A plain decimal: digits, at most one "." and digits after it. No exponent ("1e3"), no
# thousands separators ("2,500.00", "2.500,00"), no comma for the decimals: each of those has
# been read as a different amount by someone, so none is guessed at.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
PLAIN_HINT = 'write it as a plain decimal such as "2500.50": no exponent, no thousands separators'


def parse_amount(raw: object, field: str = "amount") -> Decimal:
    """The decimal an API amount stands for: a string or JSON number written as a plain
    decimal (``"120.50"``, ``120.5``, ``120``), else 422 ``invalid_amount`` on ``field``. A
    ``Decimal`` was already parsed by our own code and is taken as it is."""
    if isinstance(raw, Decimal):
        return raw
    text: str | None = None
    if isinstance(raw, str):
        text = raw.strip()
    elif isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    elif isinstance(raw, float):
        text = repr(raw)  # the shortest text that reads back as this float; "1e+16" stays
    if text is None or not _PLAIN_DECIMAL.fullmatch(text):
        raise InvalidInput(
            f"amount is not a plain decimal number: {PLAIN_HINT}",
            field=field,
            code="invalid_amount",
        )
    return Decimal(text)


def to_minor(amount: object, currency: str, field: str = "amount") -> int:
    """Exact minor units of a positive ``amount`` in ``currency`` (already checked)."""
    try:
        value = parse_amount(amount, field)
    except InvalidOperation:
        raise InvalidInput("amount is not a number", field=field, code="invalid_amount") from None
    if not value.is_finite():
        raise InvalidInput("amount is not a number", field=field, code="invalid_amount")
    if value <= 0:
        raise InvalidInput("amount must be more than zero", field=field, code="amount_not_positive")
    decimals = MINOR_UNITS[currency]
    # Refuse huge or tiny exponents before any arithmetic: "1e200000" would otherwise build a
    # 200,000-digit integer (seconds of CPU), "1e999998" overflows the decimal context.
    if value.adjusted() > 15:
        raise InvalidInput("amount is too large", field=field, code="amount_too_large")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        raise InvalidInput(
            f"{currency} has {decimals} decimal places; the amount has more",
            field=field,
            code="too_many_decimals",
        )
    try:
        scaled = value.scaleb(decimals)
        minor = int(scaled.to_integral_value())
    except DecimalException:
        raise InvalidInput("amount is not a number", field=field, code="invalid_amount") from None
    if scaled != minor:
        raise InvalidInput(
            f"{currency} has {decimals} decimal places; {value} has more",
            field=field,
            code="too_many_decimals",
        )
    if minor > MAX_MINOR:
        raise InvalidInput("amount is too large", field=field, code="amount_too_large")
    return minor


def to_decimal_str(minor: int, currency: str) -> str:
    decimals = MINOR_UNITS.get(currency, 2)
    return str(Decimal(minor).scaleb(-decimals).quantize(Decimal(1).scaleb(-decimals)))


def display(minor: int, currency: str) -> str:
    """``"USD 120.50"``: the code first, so it reads the same in every language."""
    return f"{currency} {to_decimal_str(minor, currency)}"


def display_local(minor: int, currency: str, language: str) -> str:
    """The amount as people read it in ``language``: ``"USD 1,234.50"`` in English,
    ``"1.234,50 USD"`` in Spanish and Portuguese (a comma before the decimals)."""
    decimals = MINOR_UNITS.get(currency, 2)
    whole, _, fraction = to_decimal_str(minor, currency).partition(".")
    if language in ("es", "pt"):
        grouped = f"{int(whole):,}".replace(",", ".")
        return f"{grouped},{fraction} {currency}" if decimals else f"{grouped} {currency}"
    grouped = f"{int(whole):,}"
    return f"{currency} {grouped}.{fraction}" if decimals else f"{currency} {grouped}"


def split_for(outcome: str, disputed_minor: int, refund_minor: int | None) -> tuple[int, int]:
    """``(refund to the buyer, release to the seller)`` in minor units for an outcome.
    ``redo`` moves nothing yet (the payment stays held); ``no_action`` is a release."""
    if outcome == "full_refund":
        return disputed_minor, 0
    if outcome == "partial_refund":
        refund = refund_minor or 0
        return refund, disputed_minor - refund
    if outcome in ("release", "no_action"):
        return 0, disputed_minor
    return 0, 0
