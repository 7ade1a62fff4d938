"""Contact details and off-platform payment solicitation in a message.

``scan(text)`` finds what a marketplace cares about when two users talk: an email address, a
phone number, a link or a username on another app, a payment app or a crypto address, and
the phrases that ask to take the deal or the payment off the platform ("pay me directly",
"págame por fuera", "me paga direto"). It undoes the usual disguises first (see
:mod:`vigil.detection.text.normalize`) and keeps quiet about ordinary talk: a time ("at 5"),
a price ("$150"), a date, an order number, a product ("the gmail integration").

``score`` is a noisy-OR of the evidence: each finding is an independent chance that the
message is an attempt to leave the platform, so ``1 - Π(1 - w)``. The weights are chosen so
that one real contact detail or one explicit request crosses :data:`FLAG_AT` on its own, while
merely naming an app ("I paid with PayPal at checkout") does not. Detection is pure and needs
no data beyond this package; a typical message takes tens of microseconds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from vigil.detection.text import lexicon as lx
from vigil.detection.text.normalize import prepare

# A message at or above this score is an off-platform attempt (rules use the score itself).
FLAG_AT = 0.5

# Evidence weights for the noisy-OR (see the module docstring).
W_EMAIL = 0.65
W_PHONE = 0.6
W_HANDLE = 0.6
W_PAYMENT_HANDLE = 0.7
W_OFF_PLATFORM_LINK = 0.8
W_LINK = 0.15
W_PAYMENT_APP = 0.25
W_MESSAGING_APP = 0.25
W_OBFUSCATED = 0.4

MAX_TEXT = 20_000  # longer texts are scanned on their first MAX_TEXT characters


@dataclass(frozen=True, slots=True)
class ContactScan:
    """What :func:`scan` found. Lists are de-duplicated, in order of appearance.

    ``emails`` as ``local@domain`` (lower case; ``john@gmail`` when the TLD was left out),
    ``phones`` as digits with a leading ``+`` when one was written, ``urls`` as written,
    ``handles`` as ``app:@name`` or ``@name``, ``payment_apps`` and ``messaging_apps`` as
    canonical names ("paypal", "cash app", "pix", "crypto", "bank transfer"; "whatsapp",
    "telegram"...), ``payment_handles`` as ``kind:value`` (crypto addresses, IBANs, Pix keys,
    Cash App $cashtags), ``off_platform_phrases`` as the matched words, ``obfuscated`` when a
    contact detail was only found after undoing a disguise.
    """

    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    handles: list[str] = field(default_factory=list)
    payment_apps: list[str] = field(default_factory=list)
    off_platform_phrases: list[str] = field(default_factory=list)
    messaging_apps: list[str] = field(default_factory=list)
    payment_handles: list[str] = field(default_factory=list)
    obfuscated: bool = False
    score: float = 0.0

    @property
    def contact_count(self) -> int:
        """Contact details proper: addresses, numbers, links, usernames, payment handles
        (not app names or phrases). What the ``contact_details_count`` feature counts."""
        return (
            len(self.emails)
            + len(self.phones)
            + len(self.urls)
            + len(self.handles)
            + len(self.payment_handles)
        )

    @property
    def flagged(self) -> bool:
        return self.score >= FLAG_AT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"contact_count": self.contact_count, "flagged": self.flagged}


EMPTY = ContactScan()  # for comparisons; ``scan`` returns a fresh instance every time

# --- emails -------------------------------------------------------------------------------
_PART = r"[a-z0-9](?:[a-z0-9_%+\-]*[a-z0-9])?"
_LOCAL_DOT = r"(?:\.|\s+(?:dot|punto|ponto)\s+)"
_DOMAIN_DOT = r"(?:\s?\.\s?|\s+(?:dot|punto|ponto)\s+)"
_AT = r"(\s*@\s*|\s+(?:at|arroba)\s+)"
_EMAIL = re.compile(
    rf"(?<![a-z0-9_.%+\-@])({_PART}(?:{_LOCAL_DOT}{_PART})*){_AT}({_PART}(?:{_DOMAIN_DOT}{_PART})*)"
)
# "johnATgmailDOTcom" written as one word: only with a known provider.
_GLUED_EMAIL = re.compile(
    r"(?<![a-z0-9])([a-z0-9][a-z0-9_.]{1,40}?)(?:at|arroba)("
    + "|".join(sorted(lx.STRONG_PROVIDERS, key=len, reverse=True))
    + r")(?:dot|punto|ponto|\.)(com|net|es|br|mx|ar|co|org)(?![a-z0-9])"
)
# Cheap checks before the email patterns: a spelled "at" only matters next to a provider or a
# spelled dot or a dotted TLD; a glued "johnATgmailDOTcom" always contains at+provider.
_SPELLED_EMAIL_HINTS = lx.PROVIDERS | {"dot", "punto", "ponto"}
_DOT_TLD = re.compile(r"\.\s?(?:com|net|org|io|es|br|mx|ar|co|edu|gov|info|me|uk|de|fr)\b")
_GLUED_HINT = re.compile(
    "(?:at|arroba)(?:" + "|".join(sorted(lx.STRONG_PROVIDERS, key=len, reverse=True)) + ")"
)
_DOT_WORDS = re.compile(r"\s+(?:dot|punto|ponto)\s+|\s?\.\s?")
_EMAIL_CUES = lx.words("email e-mail mail correo gmail hotmail outlook contact contacto")
_USERNAME_LIKE = re.compile(r"[0-9._]")

# --- links --------------------------------------------------------------------------------
_SPELLED_DOT = re.compile(
    r"\s+(?:dot|punto|ponto)\s+(?=(?:com|net|org|io|me|br|mx|es|co|ar|link|ly|gg|app)\b)"
)
_SPELLED_UNDERSCORE = re.compile(
    r"\s+(?:underscore|guion bajo|guion abajo|sublinhado|underline)\s+"
)
_SPELLED_SLASH = re.compile(r"(?<=[a-z])\s+(?:slash|barra)\s+(?=[a-z0-9+])")
_URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"'()|]+"
    r"|(?<![\w@.\-])(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+([a-z]{2,12})"
    r"(?:/[^\s<>\"'()|]*)?(?![\w@])"
)
_HOST = re.compile(r"^(?:https?://)?(?:www\.)?([^/?#:]+)")
_WA_NUMBER = re.compile(r"(?:wa\.me|whatsapp\.com/send\?phone=|wa\.link)/?\+?(\d{7,15})")

# --- phones -------------------------------------------------------------------------------
_PHONE = re.compile(r"(?<![\w$€£#@/.\-+])(\+\s?)?(\(?\d[\d \t().\-/]{5,30}\d)(?![\w%€$])")
_NON_DIGIT = re.compile(r"\D+")
_DATE = re.compile(r"^\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_TIME_RANGE = re.compile(r"^\d{1,2}[.:]\d{2}\s*-\s*\d{1,2}[.:]\d{2}$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")
_CPF = re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b|\b\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}\b")
_WORD = re.compile(r"[a-z][a-z']*")
_LETTERS = re.compile(r"[a-z]+")
_LEET_CHARS = re.compile(r"[a-z][4@3105!]|[4@3105!][a-z]")
_HAS_DIGIT = re.compile(r"\d")

# --- handles ------------------------------------------------------------------------------
_LABEL = (
    r"(instagram|insta|ig|telegram|tg|snapchat|snap|tiktok|twitter|discord|skype|wechat|"
    r"kik|threads|facebook|fb|signal|venmo|cash\s?app|whatsapp|wsp|zap|line)"
)
_HANDLE_AT = re.compile(
    _LABEL + r"\s*(?:[:=\-]|\bis\b|\bes\b|\be\b|\beh\b|\bid\b|\buser(?:name)?\b|\bhandle\b|"
    r"\busuario\b|\bme\b|\bat\b|\bno\b|\bna\b|\ben\b|\bon\b)*\s*@([a-z0-9_][a-z0-9_.\-]{1,29})"
)
_HANDLE_COLON = re.compile(
    r"(?<![a-z0-9])"
    + _LABEL
    + r"\s*(?:id|user(?:name)?|handle)?\s*[:=]\s*@?([a-z0-9_][a-z0-9_.\-]{1,29})"
)
_HANDLE_MY = re.compile(
    r"\b(?:my|mi|meu|minha)\s+"
    + _LABEL
    + r"\s+(?:is|es|e|eh|:)\s+@?([a-z0-9_.\-]*[0-9_.][a-z0-9_.\-]*)"
)
_BARE_AT = re.compile(r"(?<![a-z0-9_.@])@([a-z0-9_][a-z0-9_.\-]{1,29})")
_DISCORD_TAG = re.compile(r"(?<![a-z0-9_.])([a-z0-9_.]{2,32}#\d{4})\b")
_CASHTAG = re.compile(r"(?<![\w$])\$([a-z][a-z0-9_\-]{1,19})\b")

# --- payment identifiers (case-sensitive: searched in the NFKC original) ---------------------
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {c: i for i, c in enumerate(_BASE58)}
_CRYPTO = re.compile(
    r"\b(?:([13][1-9A-HJ-NP-Za-km-z]{25,34})|(T[1-9A-HJ-NP-Za-km-z]{33})"
    r"|(bc1[ac-hj-np-z02-9]{25,87})|(0x[a-fA-F0-9]{40}))\b"
)
_IBAN = re.compile(r"\b([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)\b")
_PIX_RANDOM_KEY = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
# Argentine CBU/CVU (22 digits), Mexican CLABE (18), or an account number named as such.
_BANK_ACCOUNT = re.compile(
    r"\b(cbu|cvu|clabe|(?:numero de |n(?:o|ro)\.? de )?(?:cuenta|conta)(?: bancaria| corriente|"
    r" de ahorros| poupanca)?)\W{0,4}(?:es|e|:|=|#|n(?:o|ro)?\.?)?\W{0,3}(\d[\d \-]{7,30}\d)"
)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9]{26,}")
_IBAN_HINT = re.compile(r"[A-Za-z]{2}\d{2}")


def scan(text: str) -> ContactScan:
    """Find contact details and off-platform solicitation in ``text`` (any language; tuned
    for en/es/pt). Never raises on any string."""
    if not text or text.isspace():
        return ContactScan()
    p = prepare(text[:MAX_TEXT])
    work = p.plain
    if "dot" in work or "punt" in work or "pont" in work:
        work = _SPELLED_DOT.sub(".", work)
    if "slash" in work or "barra" in work:
        work = _SPELLED_SLASH.sub("/", work)
    words = set(_WORD.findall(work))
    found = _Findings()

    if (
        "@" in work
        or (
            ("at" in words or "arroba" in words)
            and (words & _SPELLED_EMAIL_HINTS or _DOT_TLD.search(work))
        )
        or _GLUED_HINT.search(work)
    ):
        if "underscore" in work or "guion" in work or "sublinhado" in work:
            work = _SPELLED_UNDERSCORE.sub("_", work)
        work = _find_emails(work, words, p.folded, found)
    if "." in work:
        work = _find_urls(work, found)
    _find_payment_handles(p.original, work, found)
    leet = _find_brands(work, found)
    if "@" in work or ":" in work or "=" in work or "#" in work or "$" in work:
        _find_handles(work, found)
    if _HAS_DIGIT.search(work):
        _find_phones(work, words, p.folded, found)
    if words & lx.PHRASE_TRIGGERS:
        _find_phrases(work, words, found)
    if leet != work and (found.payment_apps or found.messaging_apps):
        # "wh4ts@pp me", "p4yp@l only": the phrases again with the app names read back.
        leet_words = set(_WORD.findall(leet))
        if leet_words & lx.PHRASE_TRIGGERS:
            _find_phrases(leet, leet_words, found)
    return found.result()


class _Findings:
    """Accumulates evidence; ``result`` freezes it into a ContactScan with its score."""

    def __init__(self) -> None:
        self.emails: dict[str, None] = {}
        self.phones: dict[str, None] = {}
        self.urls: dict[str, None] = {}
        self.handles: dict[str, None] = {}
        self.payment_apps: dict[str, None] = {}
        self.messaging_apps: dict[str, None] = {}
        self.payment_handles: dict[str, None] = {}
        self.phrases: dict[str, float] = {}
        self.off_platform_links = 0
        self.obfuscated = False

    def result(self) -> ContactScan:
        if not (
            self.emails
            or self.phones
            or self.urls
            or self.handles
            or self.payment_apps
            or self.messaging_apps
            or self.payment_handles
            or self.phrases
        ):
            return ContactScan()  # a fresh one: the lists are the caller's to keep
        weights: list[float] = []
        weights += [W_EMAIL] * min(len(self.emails), 2)
        weights += [W_PHONE] * min(len(self.phones), 2)
        weights += [W_HANDLE] * min(len(self.handles), 2)
        weights += [W_PAYMENT_HANDLE] * min(len(self.payment_handles), 2)
        weights += [W_OFF_PLATFORM_LINK] * min(self.off_platform_links, 2)
        weights += [W_LINK] * min(len(self.urls) - self.off_platform_links, 2)
        if self.payment_apps:
            weights.append(W_PAYMENT_APP)
        if self.messaging_apps:
            weights.append(W_MESSAGING_APP)
        weights += sorted(self.phrases.values(), reverse=True)[:3]
        if self.obfuscated:
            weights.append(W_OBFUSCATED)
        miss = 1.0
        for w in weights:
            miss *= 1.0 - w
        return ContactScan(
            emails=list(self.emails),
            phones=list(self.phones),
            urls=list(self.urls),
            handles=list(self.handles),
            payment_apps=list(self.payment_apps),
            off_platform_phrases=list(self.phrases),
            messaging_apps=list(self.messaging_apps),
            payment_handles=list(self.payment_handles),
            obfuscated=self.obfuscated,
            score=round(1.0 - miss, 4),
        )


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Blank found spans with a character no other detector matches or joins across."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = "|" * (end - start)
    return "".join(chars)


def _find_emails(work: str, words: set[str], folded: str, found: _Findings) -> str:
    spans: list[tuple[int, int]] = []
    pos = 0
    while (m := _EMAIL.search(work, pos)) is not None:
        # A rejected candidate resumes at its domain: in "a line at kate_designs at gmail" the
        # first "at" pairs the wrong words, the second one is the address.
        pos = m.start(3)
        local_raw, at, domain_raw = m.group(1), m.group(2), m.group(3)
        local = _DOT_WORDS.sub(".", local_raw)
        labels = _DOT_WORDS.sub(".", domain_raw).split(".")
        spelled_at = "@" not in at
        # Trim what a greedy match swallowed after the address ("gmail.com. thanks"). Known
        # TLDs only: "show msg+ticket@kiosk.Valid 4-7/12" is a sentence glued to a word.
        while len(labels) > 1 and labels[-1] not in lx.TLDS:
            labels.pop()
        if len(labels) == 1 and labels[0] not in lx.STRONG_PROVIDERS:
            continue
        has_tld = len(labels) > 1
        if spelled_at:
            if local in lx.STOP_LOCAL or len(local) < 2:
                continue
            provider = labels[0] in lx.PROVIDERS
            spelled_dot = any(w in m.group(0) for w in (" dot ", " punto ", " ponto "))
            username = bool(_USERNAME_LIKE.search(local))
            if not has_tld and not (username or words & _EMAIL_CUES):
                continue
            if has_tld and not provider and not (spelled_dot or username):
                continue
        email = f"{local}@{'.'.join(labels)}"
        found.emails[email] = None
        if email not in folded:
            found.obfuscated = True
        pos = m.end()
        spans.append((m.start(), pos))
    if not spans:
        for m in _GLUED_EMAIL.finditer(work):
            found.emails[f"{m.group(1)}@{m.group(2)}.{m.group(3)}"] = None
            found.obfuscated = True
            spans.append(m.span())
    return _mask(work, spans) if spans else work


def _find_urls(work: str, found: _Findings) -> str:
    spans: list[tuple[int, int]] = []
    for m in _URL.finditer(work):
        url = m.group(0).rstrip(".,;:!?")
        tld = m.group(1)
        host_match = _HOST.match(url)
        host = host_match.group(1) if host_match else url
        known = host in lx.OFF_PLATFORM_HOSTS or any(
            host.endswith("." + h) for h in lx.OFF_PLATFORM_HOSTS
        )
        if tld is not None:
            # A bare domain: needs a real TLD, and a path or a known host when the TLD is
            # also a word or a common typo ("ok.so", "done.it").
            if tld not in lx.TLDS:
                continue
            if tld in lx.AMBIGUOUS_TLDS and "/" not in url and not known:
                continue
        found.urls[url] = None
        if known:
            found.off_platform_links += 1
            if host.startswith(("wa.", "api.whatsapp", "chat.whatsapp")) or "whatsapp" in host:
                found.messaging_apps["whatsapp"] = None
            elif host in ("t.me", "telegram.me", "telegram.dog"):
                found.messaging_apps["telegram"] = None
        number = _WA_NUMBER.search(url)
        if number:
            found.phones["+" + number.group(1)] = None
        spans.append((m.start(), m.start() + len(url)))
    return _mask(work, spans) if spans else work


def _base58check(address: str) -> bool:
    value = 0
    for c in address:
        value = value * 58 + _BASE58_INDEX[c]
    try:
        raw = value.to_bytes(25, "big")
    except OverflowError:
        return False
    return hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()[:4] == raw[-4:]


def _iban_valid(iban: str) -> bool:
    compact = iban.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


def _find_payment_handles(original: str, work: str, found: _Findings) -> None:
    if _LONG_TOKEN.search(original):
        for m in _CRYPTO.finditer(original):
            legacy, tron, bech32, eth = m.groups()
            if (legacy and _base58check(legacy)) or (tron and _base58check(tron)):
                found.payment_handles[f"crypto:{legacy or tron}"] = None
            elif bech32 or eth:
                found.payment_handles[f"crypto:{bech32 or eth}"] = None
            else:
                continue
            found.payment_apps["crypto"] = None
    if _IBAN_HINT.search(original):
        for m in _IBAN.finditer(original.upper()):
            if _iban_valid(m.group(1)):
                found.payment_handles[f"iban:{m.group(1).replace(' ', '')}"] = None
                found.payment_apps["bank transfer"] = None
    if "cbu" in work or "cvu" in work or "clabe" in work or "cuenta" in work or "conta" in work:
        for m in _BANK_ACCOUNT.finditer(work):
            found.payment_handles[f"bank:{_NON_DIGIT.sub('', m.group(2))}"] = None
            found.payment_apps["bank transfer"] = None
    if "pix" in work:
        for m in _CPF.finditer(work):
            found.payment_handles[f"pix:{m.group(0)}"] = None
        for m in _PIX_RANDOM_KEY.finditer(work):
            found.payment_handles[f"pix:{m.group(0)}"] = None


def _find_brands(work: str, found: _Findings) -> str:
    """Name the apps in the message; returns the leet-folded text it searched."""
    if _LEET_CHARS.search(work):
        leet = work.translate(lx.LEET)
        keys = set(_LETTERS.findall(leet)) & lx.BRAND_KEYS
    else:
        leet = work
        keys = set(_LETTERS.findall(work)) & lx.BRAND_KEYS
    if not keys:
        return leet
    for brands, into in (
        (lx.MESSAGING_APPS, found.messaging_apps),
        (lx.PAYMENT_APPS, found.payment_apps),
    ):
        for brand in brands:
            if brand.name in into or brand.keys.isdisjoint(keys):
                continue
            for pattern in brand.patterns:
                if lx.search_word_start(pattern, leet):
                    into[brand.name] = None
                    break
    return leet


def _find_handles(work: str, found: _Findings) -> None:
    for pattern in (_HANDLE_AT, _HANDLE_COLON, _HANDLE_MY):
        for m in pattern.finditer(work):
            label = m.group(1).replace(" ", "")
            name = m.group(2).rstrip(".-")
            if name.isdigit():
                continue  # "whatsapp: 917..." is a phone number, found as one
            found.handles[f"{label}:@{name}"] = None
    named = {h.split(":@", 1)[1] for h in found.handles}
    if found.messaging_apps or found.payment_apps:
        for m in _BARE_AT.finditer(work):
            name = m.group(1).rstrip(".-")
            if name not in named and not name.isdigit():
                found.handles[f"@{name}"] = None
        if "discord" in found.messaging_apps:
            for m in _DISCORD_TAG.finditer(work):
                found.handles[f"discord:{m.group(1)}"] = None
    if "cash app" in found.payment_apps:
        for m in _CASHTAG.finditer(work):
            found.payment_handles[f"cashtag:${m.group(1)}"] = None


def _find_phones(work: str, words: set[str], folded: str, found: _Findings) -> None:
    if found.payment_handles:
        # IBANs and Pix keys are digits too; they are payment handles, not phones.
        taken = {_NON_DIGIT.sub("", h.split(":", 1)[1]) for h in found.payment_handles}
    else:
        taken = set()
    folded_digits: str | None = None
    for m in _PHONE.finditer(work):
        plus = m.group(1) is not None
        raw = m.group(2).rstrip(" \t.-/(")
        digits = _NON_DIGIT.sub("", raw)
        if not 7 <= len(digits) <= 15 or any(digits in t for t in taken if t):
            continue
        start = m.start()
        before = work[max(0, start - 30) : start]
        after = work[m.end() : m.end() + 12]
        if lx.NUMBER_NOT_PHONE.search(before) or lx.MONEY_BEFORE.search(before):
            continue
        if lx.MONEY_AFTER.match(after):
            continue
        if not _looks_like_phone(raw, digits, plus, _has_cue(work, start, m.end(), words)):
            continue
        phone = ("+" if plus else "") + digits
        found.phones[phone] = None
        if folded_digits is None:
            folded_digits = _NON_DIGIT.sub("", folded)
        if digits not in folded_digits:
            found.obfuscated = True  # spelled out ("nine one seven...") or "O" for zero


def _has_cue(work: str, start: int, end: int, words: set[str]) -> bool:
    if not words & lx.PHONE_CUES:
        return False
    near = work[max(0, start - 40) : start] + " " + work[end : end + 25]
    return bool(set(_WORD.findall(near)) & lx.PHONE_CUES)


def _looks_like_phone(raw: str, digits: str, plus: bool, cue: bool) -> bool:
    compact = raw.replace(" ", "")
    if _DATE.match(compact) or _IPV4.match(compact) or _TIME_RANGE.match(raw):
        return False
    if _CPF.fullmatch(raw):
        return False
    groups = [g for g in _NON_DIGIT.split(raw) if g]
    if all(len(g) == 4 and g[:2] in ("19", "20") for g in groups) and len(groups) > 1:
        return False  # a list of years
    if "/" in raw and not (cue or plus):
        return False
    if plus:
        return len(digits) >= 8
    n = len(digits)
    if len(groups) == 1:
        return n >= 9 or cue
    separators = set(raw.replace("\t", " ")) - set("0123456789")
    if separators <= {" "}:
        if cue:
            return True
        if n < 10 or len(groups) > 6 or all(g.endswith("0") for g in groups):
            return False  # "sizes 36 38 40 42", "150 200 300 400"
        return max(len(g) for g in groups) >= 3
    if _THOUSANDS.match(raw) and (len(groups[0]) <= 2 or "000" in groups[1:]):
        return cue  # "1.500.000" is an amount unless someone says it is a number
    if len(groups) == 2 and (min(len(g) for g in groups) == 1 or (not cue and n < 10)):
        # A decimal ("20251015.3"), a range ("1500-2000"); a short local number needs a cue.
        return False
    return n >= 8 or cue


def _find_phrases(work: str, words: set[str], found: _Findings) -> None:
    indexes: set[int] = set()
    for word in words & lx.PHRASE_TRIGGERS:
        indexes.update(lx.PHRASES_BY_TRIGGER[word])
    for i in sorted(indexes):
        phrase = lx.PHRASES[i]
        for m in lx.word_start(phrase.pattern, work):
            if _negated(work, m.start()):
                continue
            matched = " ".join(m.group(0).split())
            if len(matched) > 80:
                matched = matched[:80]
            if phrase.weight > found.phrases.get(matched, 0.0):
                found.phrases[matched] = phrase.weight


def _negated(work: str, start: int) -> bool:
    before = work[max(0, start - 60) : start]
    breaks = list(lx.CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    return bool(lx.NEGATION.search(before))
