"""Where in a message the contact detector's evidence is, so a reviewer sees it marked.

:func:`vigil.detection.text.contacts.scan` answers *what* a message contains (an email
address, a phone number, "pay me directly", PayPal...), on a normalized copy of the text with
the disguises undone. A reviewer needs *where*: :func:`highlight` finds each of those values
again in the **original** text and returns character spans into it, and
:func:`render_marked` turns text and spans into safe HTML with ``<mark>`` around them.

How a value is found again:

- The text is folded character by character (lower case, accents and zero-width characters
  dropped, look-alike letters and fullwidth forms read as Latin, as
  :func:`~vigil.detection.text.normalize.fold` does), keeping for every folded character the
  index of the original character it came from. Searching the folded text and mapping the
  match back gives offsets into the original, whatever Unicode tricks were used.
- Each found value becomes a tolerant pattern that accepts the disguises ``scan`` undoes: an
  ``@`` may be written "at", "arroba", "[at]"; a dot "dot", "punto", "(.)"; letters may be
  spaced out ("g m a i l", "w.h.a.t.s"); a phone number may have any separators, "O" for
  zero, or be dictated in words ("nine one seven...", "veinticinco").
- Phrases and app names are searched with the lexicon's own patterns (app names also on the
  leet-folded text, "p4yp@l"), and a phrase that is negated in its clause ("never pay outside
  the platform") is not marked, as ``scan`` does not count it.

Only what ``scan`` reports is marked, so the marks and the score always agree. A value that
cannot be located (rare: a disguise no pattern here reads back) is simply not marked; the
case page still lists the scan's findings. Spans are sorted and never overlap: when two
would, the one that starts first wins, and of two starting together the longer.

Labels say what a span is ("email address", "phone number, dictated in words") without
repeating the value, so a label never reveals more than the text it sits on.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

from vigil.detection.text import contacts
from vigil.detection.text import lexicon as lx
from vigil.detection.text.contacts import ContactScan
from vigil.detection.text.normalize import fold, leet_digits, words_to_digits

__all__ = ["CONTACT_KINDS", "KINDS", "Span", "highlight", "render_marked"]

# Kinds of span, in the CSS class ``hit-{kind}``.
KINDS: Final = (
    "email",
    "phone",
    "url",
    "handle",
    "payment_handle",
    "phrase",
    "payment_app",
    "messaging_app",
)
# Kinds whose text is a personal contact detail: :func:`render_marked` can hide them.
CONTACT_KINDS: Final = frozenset({"email", "phone", "url", "handle", "payment_handle"})

_REDACTED = {
    "email": "email address hidden",
    "phone": "phone number hidden",
    "url": "link hidden",
    "handle": "username hidden",
    "payment_handle": "payment details hidden",
}


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` is evidence of ``kind`` (one of :data:`KINDS`); ``label`` is a
    short plain-English description for a tooltip or a screen reader."""

    start: int
    end: int
    kind: str
    label: str


# --- folding with an offset map -------------------------------------------------------------

_MARKS: Final = frozenset({"Mn", "Me"})


# One character as the detector's folding reads it (the same function, one character at a
# time: folding never merges characters, it only drops or expands them).
_fold_char = functools.lru_cache(maxsize=4096)(fold)


@dataclass(frozen=True, slots=True)
class _Folded:
    text: str  # folded text
    origin: list[int] | None  # folded index -> original index; None: one to one
    original: str

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of folded ``[start, end)``; the end takes in any combining marks
        that were dropped after the last character."""
        if self.origin is None:
            return start, end
        first = self.origin[start]
        last = self.origin[end - 1] + 1
        while last < len(self.original) and unicodedata.category(self.original[last]) in _MARKS:
            last += 1
        return first, last


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fold(text: str) -> _Folded:
    if text.isascii():
        return _Folded(text.lower(), None, text)
    # Most characters fold to exactly one (ASCII as is, "é" to "e"): then offsets are
    # unchanged and no map is needed. Only when some character folds to none (a zero-width
    # space, a combining accent) or to several ("ß") is the map built.
    parts: list[str] = []
    resized = False
    pos = 0
    for m in _NON_ASCII.finditer(text):
        i = m.start()
        parts.append(text[pos:i].lower())
        f = _fold_char(m.group(0))
        resized = resized or len(f) != 1
        parts.append(f)
        pos = i + 1
    parts.append(text[pos:].lower())
    if not resized:
        return _Folded("".join(parts), None, text)
    out: list[str] = []
    origin: list[int] = []
    pos = 0
    for m in _NON_ASCII.finditer(text):
        i = m.start()
        out.append(text[pos:i].lower())
        origin.extend(range(pos, i))
        f = _fold_char(m.group(0))
        out.append(f)
        origin.extend([i] * len(f))
        pos = i + 1
    out.append(text[pos:].lower())
    origin.extend(range(pos, len(text)))
    return _Folded("".join(out), origin, text)


def _at_word_start(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """Spans of ``pattern`` in ``text`` that start a word. The patterns start with a
    literal and the boundary is checked here: a leading look-behind would cost the regex
    engine its fast literal scan (see ``lexicon.word_start``)."""
    return [m.span() for m in lx.word_start(pattern, text)]


# --- tolerant patterns ----------------------------------------------------------------------

_BR = r"[\s\[\](){}<>]"  # what may surround a spelled or bracketed separator
_AT_ALT = rf"(?:{_BR}{{0,3}}(?:@|at|arroba){_BR}{{0,3}})"
_DOT_ALT = rf"(?:{_BR}{{0,3}}(?:\.|dot|punto|ponto){_BR}{{0,3}})"
_UNDERSCORE_ALT = r"(?:_|\s*(?:underscore|guion bajo|guion abajo|sublinhado|underline)\s*)"
_SLASH_ALT = r"(?:\s*(?:/|slash|barra)\s*)"
_SPACER = r"(?:[ ._\-*]|\s\.\s)?"  # between spaced-out letters ("g m a i l", "w.h.a.t")


def _letters(value: str, *, spaced: bool) -> str:
    """Pattern for ``value`` with its separators written in any of their disguises."""
    parts: list[str] = []
    prev_plain = False
    for c in value:
        if c == "@":
            parts.append(_AT_ALT)
            prev_plain = False
        elif c == ".":
            parts.append(_DOT_ALT)
            prev_plain = False
        elif c == "_":
            parts.append(_UNDERSCORE_ALT)
            prev_plain = False
        elif c == "/":
            parts.append(_SLASH_ALT)
            prev_plain = False
        else:
            if spaced and prev_plain:
                parts.append(_SPACER)
            parts.append(re.escape(c))
            prev_plain = True
    return "".join(parts)


@functools.lru_cache(maxsize=1024)
def _email_pattern(email: str) -> re.Pattern[str]:
    return re.compile(rf"{_letters(email, spaced=True)}(?![a-z0-9_])")


@functools.lru_cache(maxsize=1024)
def _url_pattern(url: str) -> re.Pattern[str]:
    return re.compile(_letters(url, spaced=False))


@functools.lru_cache(maxsize=1024)
def _handle_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"@?{_letters(name, spaced=False)}(?![a-z0-9_])")


_DIGIT_ALT: Final = {"0": "[0o]", "1": "[1il]"}


@functools.lru_cache(maxsize=1024)
def _phone_pattern(phone: str) -> re.Pattern[str]:
    """Digits with any separators between them, "O" for zero and "l"/"I" for one."""
    plus = phone.startswith("+")
    digits = phone.lstrip("+")
    body = r"[\s().\-/]{0,3}".join(_DIGIT_ALT.get(d, d) for d in digits)
    lead = r"\+\s?" if plus else r"(?:\+\s?)?"
    return re.compile(rf"(?<![\w]){lead}\(?{body}(?!\d)")


_NUMBER_WORDS: Final = lx.words(
    "zero oh one two three four five six seven eight nine cero uno una dos tres cuatro cinco "
    "seis siete ocho nueve um dois duas quatro meia sete oito nove ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen diez once doce trece catorce quince "
    "dieciseis diecisiete dieciocho diecinueve dez onze doze treze quatorze catorze quinze "
    "dezesseis dezasseis dezessete dezoito dezenove veintiuno veintidos veintitres "
    "veinticuatro veinticinco veintiseis veintisiete veintiocho veintinueve twenty thirty "
    "forty fifty sixty seventy eighty ninety veinte treinta cuarenta cincuenta sesenta setenta "
    "ochenta noventa vinte trinta quarenta cinquenta sessenta oitenta double triple doble "
    "duplo triplo"
)
_NUM = (
    r"(?:\d+|(?<![a-z])(?:"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r"|[oil])(?![a-z]))"
)
_DISCORD_TAG: Final = re.compile(r"#\d{4}")
_NUM_SEP = r"[\s,.\-/()]*"
# A run of digits and number words, possibly joined by "y" / "e" / "and" ("treinta y dos").
_NUMBER_RUN: Final = re.compile(rf"\+?\s?{_NUM}(?:{_NUM_SEP}(?:(?:y|e|and)\s+)?{_NUM})*")
_NON_DIGIT: Final = re.compile(r"\D+")


def _dictated(folded: str, digits: str) -> list[tuple[int, int]]:
    """Runs of number words and digits that spell ``digits`` (as the normalizer reads them)."""
    found = []
    for m in _NUMBER_RUN.finditer(folded):
        run = m.group(0)
        if len(run) < len(digits):
            continue
        spelled = _NON_DIGIT.sub("", leet_digits(words_to_digits(run)))
        if digits in spelled:
            found.append(m.span())
    return found


@functools.lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str, spaced: bool) -> re.Pattern[str]:
    words = phrase.split()
    if spaced:
        body = r"\s+".join(_letters(w, spaced=True) for w in words)
    else:
        body = r"\s+".join(re.escape(w) for w in words)
    return re.compile(rf"{body}(?![a-z0-9])")


def _negated(folded: str, start: int) -> bool:
    before = folded[max(0, start - 60) : start]
    breaks = list(lx.CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    return bool(lx.NEGATION.search(before))


_BRANDS: Final = {b.name: b for b in (*lx.MESSAGING_APPS, *lx.PAYMENT_APPS)}
_KEY_WORD: Final = re.compile(r"[a-z0-9]+")

_APP_NAMES: Final = {
    "whatsapp": "WhatsApp",
    "imessage": "iMessage",
    "wechat": "WeChat",
    "tiktok": "TikTok",
    "paypal": "PayPal",
    "cash app": "Cash App",
    "pix": "Pix",
    "picpay": "PicPay",
    "pagseguro": "PagSeguro",
    "daviplata": "Daviplata",
    "mercado pago": "Mercado Pago",
    "western union": "Western Union",
    "moneygram": "MoneyGram",
    "oxxo": "OXXO",
    "apple pay": "Apple Pay",
    "google pay": "Google Pay",
    "crypto": "cryptocurrency",
    "bank transfer": "bank transfer",
    # labels of usernames, as ``scan`` reports them ("ig:@name")
    "ig": "Instagram",
    "insta": "Instagram",
    "snap": "Snapchat",
    "tg": "Telegram",
    "fb": "Facebook",
    "wsp": "WhatsApp",
    "zap": "WhatsApp",
    "cashapp": "Cash App",
}


def _app_name(name: str) -> str:
    return _APP_NAMES.get(name, name.title())


# --- highlight ------------------------------------------------------------------------------


class _Collector:
    def __init__(self, folded: _Folded) -> None:
        self.folded = folded
        self.spans: list[Span] = []
        self._leet: str | None = None

    @property
    def leet(self) -> str:
        """The folded text with leet digits read as letters ("p4yp@l"), same offsets."""
        if self._leet is None:
            self._leet = self.folded.text.translate(lx.LEET)
        return self._leet

    def add(self, start: int, end: int, kind: str, label: str) -> None:
        text = self.folded.text
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            a, b = self.folded.span(start, end)
            self.spans.append(Span(a, b, kind, label))


def highlight(text: str) -> list[Span]:
    """Spans of ``text`` that hold what :func:`contacts.scan` found in it: contact details,
    off-platform phrases, payment and messaging app names. Sorted, non-overlapping,
    offsets into ``text`` itself. Never raises on any string."""
    if not text or text.isspace():
        return []
    text = text[: contacts.MAX_TEXT]
    found = contacts.scan(text)
    if found == contacts.EMPTY:
        return []
    folded = _fold(text)
    out = _Collector(folded)
    _contact_spans(found, folded.text, out)
    _phrase_spans(found, folded.text, out)
    _app_spans(found, folded.text, out)
    return _without_overlaps(out.spans)


def _contact_spans(found: ContactScan, f: str, out: _Collector) -> None:
    for email in found.emails:
        for start, end in _at_word_start(_email_pattern(email), f):
            plain = f[start:end] == email
            out.add(start, end, "email", "email address" if plain else "email address, disguised")
    for url in found.urls:
        host = url.split("//", 1)[-1].split("/", 1)[0].removeprefix("www.")
        off = host in lx.OFF_PLATFORM_HOSTS or any(
            host.endswith("." + h) for h in lx.OFF_PLATFORM_HOSTS
        )
        label = "link to another app or payment service" if off else "link"
        for start, end in _at_word_start(_url_pattern(url), f):
            out.add(start, end, "url", label)
    for phone in found.phones:
        spans = [m.span() for m in _phone_pattern(phone).finditer(f)]
        label = "phone number"
        if not spans:
            spans = _dictated(f, phone.lstrip("+"))
            label = "phone number, dictated in words"
        for start, end in spans:
            out.add(start, end, "phone", label)
    for handle in found.handles:
        app, _, name = handle.rpartition(":")
        name = name.removeprefix("@")
        if "#" in name:  # discord "name#1234" is reported as its name
            name = name.split("#", 1)[0]
        label = f"username on {_app_name(app)}" if app else "username on another app"
        for start, end in _at_word_start(_handle_pattern(name), f):
            if app == "discord":
                tag = _DISCORD_TAG.match(f, end)
                end = tag.end() if tag else end
            out.add(start, end, "handle", label)
    for handle in found.payment_handles:
        kind, _, value = handle.partition(":")
        label = _PAYMENT_HANDLE_LABELS.get(kind, "payment details")
        for start, end in _payment_handle_spans(kind, value, f):
            out.add(start, end, "payment_handle", label)


_PAYMENT_HANDLE_LABELS: Final = {
    "crypto": "cryptocurrency address",
    "iban": "bank account (IBAN)",
    "bank": "bank account number",
    "pix": "Pix key",
    "cashtag": "Cash App $cashtag",
}


def _payment_handle_spans(kind: str, value: str, f: str) -> list[tuple[int, int]]:
    v = value.lower()
    # IBANs and account numbers are written in groups: "GB29 NWBK 6016...", "0110 5995-2000".
    grouped = kind in ("iban", "bank")
    body = r"[\s\-]?".join(map(re.escape, v)) if grouped else re.escape(v)
    return _at_word_start(re.compile(rf"{body}(?![a-z0-9])"), f)


def _phrase_spans(found: ContactScan, f: str, out: _Collector) -> None:
    for phrase in found.off_platform_phrases:
        spans = _at_word_start(_phrase_pattern(phrase, False), f)
        if not spans:  # found in the leet reading ("wh4ts@pp me") or spaced out
            spans = _at_word_start(_phrase_pattern(phrase, False), out.leet)
        if not spans:
            spans = _at_word_start(_phrase_pattern(phrase, True), f)
        for start, end in spans:
            if not _negated(f, start):
                out.add(start, end, "phrase", "asks to leave the platform")


def _app_spans(found: ContactScan, f: str, out: _Collector) -> None:
    apps = [(n, "payment_app", "payment app") for n in found.payment_apps]
    apps += [(n, "messaging_app", "messaging app") for n in found.messaging_apps]
    if not apps:
        return
    leet = out.leet
    for name, kind, what in apps:
        brand = _BRANDS.get(name)
        if brand is None:
            continue
        label = f"{what}: {_app_name(name)}"
        for pattern in brand.patterns:
            for m in lx.word_start(pattern, leet):
                start, end = m.span()
                # "on zap", "chave pix", "via wise account": start at the app's own word.
                for w in _KEY_WORD.finditer(leet, start, end):
                    if w.group(0) in brand.keys:
                        start = w.start()
                        break
                out.add(start, end, kind, label)


def _without_overlaps(spans: list[Span]) -> list[Span]:
    ordered = sorted(spans, key=lambda s: (s.start, -(s.end - s.start)))
    kept: list[Span] = []
    for s in ordered:
        if kept and s.start < kept[-1].end:
            continue
        kept.append(s)
    return kept


# --- rendering ------------------------------------------------------------------------------


def render_marked(text: str, spans: list[Span], *, redact: bool = False) -> Markup:
    """``text`` as HTML, everything escaped, each span wrapped in
    ``<mark class="hit hit-{kind}" title="{label}">``.

    With ``redact``, the text of contact-detail spans (:data:`CONTACT_KINDS`) is replaced by
    a placeholder ("email address hidden"): for showing a message to someone who has not
    revealed the account's personal data. Spans that overlap an earlier one or fall outside
    the text are ignored, so any list of spans is safe to pass.
    """
    parts: list[str] = []
    pos = 0
    n = len(text)
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if s.start < pos or s.end > n or s.start >= s.end:
            continue
        parts.append(str(escape(text[pos : s.start])))
        kind = s.kind if s.kind in KINDS else "other"
        inner = text[s.start : s.end]
        if redact and kind in CONTACT_KINDS:
            inner = f"[{_REDACTED[kind]}]"
        parts.append(
            f'<mark class="hit hit-{kind}" title="{escape(s.label)}">{escape(inner)}</mark>'
        )
        pos = s.end
    parts.append(str(escape(text[pos:])))
    return Markup("".join(parts))
