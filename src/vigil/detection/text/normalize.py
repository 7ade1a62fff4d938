# ruff: noqa: RUF001, RUF002  (look-alike characters are what this module undoes)
"""Obfuscation folding: turn the ways people hide contact details back into plain text.

People who want to take a deal off the platform know that a naive filter looks for
``john@gmail.com`` and ``+1 917 555 0123``, so they write ``john [at] g m a i l (dot) com``,
``nine one seven five five five...``, ``𝔀𝓱𝓪𝓽𝓼𝓪𝓹𝓹`` or ``w.h.a.t.s.a.p.p``. Each function here
undoes one family of tricks; :func:`prepare` chains them. The result is only ever *searched*
(by :mod:`vigil.detection.text.contacts`), never shown or stored, so folding may lose
information (case, accents, spacing) as long as it never invents a contact detail.

Everything is pure and cheap: the expensive steps run only when a fast check says they could
change something (most messages are plain ASCII words without digits).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Look-alike letters from other scripts that survive NFKC (Cyrillic and Greek mostly), mapped
# to the Latin letter they imitate. Not exhaustive: the ones seen in evasion, not all of Unicode.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ɡ": "g",
        "ո": "n",
        "м": "m",
        "т": "t",
        "к": "k",
        "в": "b",
        "н": "h",
        "α": "a",
        "ο": "o",
        "ρ": "p",
        "ν": "v",
        "ι": "i",
        "κ": "k",
        "τ": "t",
        "υ": "u",
        "ε": "e",
        "ѡ": "w",
        "ɑ": "a",
        "ı": "i",
        "\u00a0": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2019": "'",
        "\u2018": "'",
        "\u00b4": "'",
        "＠": "@",
        "﹫": "@",
        "。": ".",
        "．": ".",
        "・": ".",
        "•": ".",
        "·": ".",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "−": "-",
    }
)

# Unicode categories dropped after decomposition: accents (Mn), enclosing marks such as the
# keycap of "9️⃣" (Me), and invisible format characters such as zero-width spaces (Cf).
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})


def fold(text: str) -> str:
    """Lower-case, accent-free, compatibility-folded text.

    NFKC turns fullwidth, mathematical and circled letters (``ｊｏｈｎ``, ``𝐣𝐨𝐡𝐧``, ``ⓙⓞⓗⓝ``)
    into ASCII; the decomposition then drops accents (``número`` → ``numero``) so that the
    es/pt vocabularies need one spelling each; zero-width characters disappear.
    """
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).translate(_HOMOGLYPHS)
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if unicodedata.category(c) not in _DROPPED_CATEGORIES)


def nfkc(text: str) -> str:
    """The original text with compatibility folding only: case is kept, because crypto
    addresses and IBANs are case-sensitive."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text).translate(_HOMOGLYPHS)
    return "".join(c for c in text if unicodedata.category(c) not in _DROPPED_CATEGORIES)


# "[at]", "(at)", "{arroba}", "<@>", "(dot)", "[.]", "(punto)"...: a bracketed separator is
# unambiguous, so it is replaced everywhere.
_BRACKET_AT = re.compile(r"[\[({<]\s*(?:at|arroba|@)\s*[\])}>]")
_BRACKET_DOT = re.compile(r"[\[({<]\s*(?:dot|punto|ponto|\.)\s*[\])}>]")


def unbracket(text: str) -> str:
    if "[" not in text and "(" not in text and "{" not in text and "<" not in text:
        return text
    text = _BRACKET_AT.sub(" @ ", text)
    return _BRACKET_DOT.sub(".", text)


# Three or more single letters or digits separated by one space, dot, dash or underscore
# ("j o h n", "g.m.a.i.l", "w-h-a-t-s"), at least two of them letters: spelled out to beat a
# word filter. Ordinary prose almost never has three one-letter words in a row.
# A lone dot between spaces inside such a run is a real dot: "a n a . r 8 8 @ m a i l".
_SPACED = re.compile(r"(?<![a-z0-9])(?:[a-z0-9](?: \. |[ ._\-*])){2,}[a-z0-9](?![a-z0-9])")
_SPACED_SEPARATORS = re.compile(r"[ ._\-*]")


def _join_spaced(match: re.Match[str]) -> str:
    run = match.group(0)
    if sum(c.isalpha() for c in run) < 2:
        return run  # digits are the phone detector's business ("1 2 3" may be a list)
    if " " in run:
        return run.replace(" ", "")
    return _SPACED_SEPARATORS.sub("", run)


def collapse_spaced(text: str) -> str:
    return _SPACED.sub(_join_spaced, text)


# Digits written as words, en/es/pt (accents already folded). Values are digit strings; tens
# are "tens" so that "twenty five" / "veinte y cinco" / "vinte e cinco" make "25".
_UNITS = {
    # en
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    # es
    "cero": "0",
    "uno": "1",
    "una": "1",
    "dos": "2",
    "tres": "3",
    "cuatro": "4",
    "cinco": "5",
    "seis": "6",
    "siete": "7",
    "ocho": "8",
    "nueve": "9",
    # pt ("meia" is how Brazilians say six when dictating a number)
    "um": "1",
    "dois": "2",
    "duas": "2",
    "quatro": "4",
    "meia": "6",
    "sete": "7",
    "oito": "8",
    "nove": "9",
}
_TEENS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "diez": "10",
    "once": "11",
    "doce": "12",
    "trece": "13",
    "catorce": "14",
    "quince": "15",
    "dieciseis": "16",
    "diecisiete": "17",
    "dieciocho": "18",
    "diecinueve": "19",
    "dez": "10",
    "onze": "11",
    "doze": "12",
    "treze": "13",
    "quatorze": "14",
    "catorze": "14",
    "quinze": "15",
    "dezesseis": "16",
    "dezasseis": "16",
    "dezessete": "17",
    "dezoito": "18",
    "dezenove": "19",
    "veintiuno": "21",
    "veintidos": "22",
    "veintitres": "23",
    "veinticuatro": "24",
    "veinticinco": "25",
    "veintiseis": "26",
    "veintisiete": "27",
    "veintiocho": "28",
    "veintinueve": "29",
}
_TENS = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
    "veinte": "2",
    "treinta": "3",
    "cuarenta": "4",
    "cincuenta": "5",
    "sesenta": "6",
    "setenta": "7",
    "ochenta": "8",
    "noventa": "9",
    "vinte": "2",
    "trinta": "3",
    "quarenta": "4",
    "cinquenta": "5",
    "sessenta": "6",
    "oitenta": "8",
}
_REPEAT = {"double": 2, "triple": 3, "doble": 2, "duplo": 2, "triplo": 3}
_AND = {"y", "e", "and"}
_NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TEENS) | frozenset(_TENS) | frozenset(_REPEAT)

_TOKEN = re.compile(r"[a-z]+|\d+|[^a-z\d]+")
# What may sit between the words of one dictated number: spaces, commas, dashes, dots.
_GAP = re.compile(r"^[\s,.\-/()]+$")

# A dictated number shorter than this is left alone: "one or two", "cinco dias".
MIN_SPELLED_DIGITS = 7


def words_to_digits(text: str) -> str:
    """Replace runs of number words (mixed with digits) by the digits they spell:
    ``nine one seven five five five zero one two three`` → ``9175550123``,
    ``nueve uno siete, cinco cinco cinco`` → ``917555``-..., ``9 one 7`` → ``917``.

    Only runs that spell at least :data:`MIN_SPELLED_DIGITS` digits and contain at least one
    word are rewritten, so "one or two" and "I have 2 dogs" stay as they are.
    """
    tokens = _TOKEN.findall(text)
    if _NUMBER_WORDS.isdisjoint(tokens):
        return text
    out: list[str] = []
    i = 0
    n = len(tokens)
    while i < n:
        token = tokens[i]
        if token not in _NUMBER_WORDS and not token.isdigit():
            out.append(token)
            i += 1
            continue
        digits, end, words = _read_number(tokens, i)
        if words and len(digits) >= MIN_SPELLED_DIGITS:
            out.append(digits)
            i = end
        else:
            out.append(token)
            i += 1
    return "".join(out)


def _read_number(tokens: list[str], start: int) -> tuple[str, int, int]:
    """Read one dictated number from ``tokens[start]``: its digits, the index after it and
    how many number words it used. Gaps between parts are skipped; a gap that is not
    followed by another part ends the number (and is not consumed)."""
    parts: list[str] = []
    words = 0
    repeat = 1
    i = start
    n = len(tokens)
    while i < n:
        token = tokens[i]
        if token.isdigit():
            parts.append(token * repeat if repeat > 1 and len(token) == 1 else token)
            repeat = 1
        elif token in _UNITS:
            parts.append(_UNITS[token] * repeat)
            repeat = 1
            words += 1
        elif token in _TEENS:
            parts.append(_TEENS[token])
            words += 1
        elif token in _TENS:
            words += 1
            unit, skip = _unit_after_tens(tokens, i + 1)
            if unit is not None:
                parts.append(_TENS[token] + unit)
                i = skip
            else:
                parts.append(_TENS[token] + "0")
        elif token in _REPEAT:
            repeat = _REPEAT[token]
            words += 1
        else:
            break
        i += 1
        # Step over a gap only when another part follows it.
        if i + 1 < n and _GAP.match(tokens[i]) and _is_part(tokens[i + 1]):
            i += 1
    return "".join(parts), i, words


def _is_part(token: str) -> bool:
    return token.isdigit() or token in _NUMBER_WORDS


def _unit_after_tens(tokens: list[str], i: int) -> tuple[str | None, int]:
    """After "twenty" / "veinte" / "vinte": "five", "y cinco", "e cinco", "-five" make one
    two-digit group. Returns the unit digit and the index of the unit token."""
    n = len(tokens)
    j = i
    if j < n and _GAP.match(tokens[j]):
        j += 1
    if j < n and tokens[j] in _AND:
        j += 1
        if j < n and _GAP.match(tokens[j]):
            j += 1
    if j < n and tokens[j] in _UNITS and _UNITS[tokens[j]] != "0":
        return _UNITS[tokens[j]], j
    return None, i - 1


# An "o" or "l"/"i" standing in for 0 or 1 inside a run of digits: "917 555 O1O2", "2o24".
_LEET_DIGIT = re.compile(r"(?<=\d)[oil](?=[\d\s.\-])|(?<=[\d\s.\-])[oil](?=\d)")
_LEET_MAP = {"o": "0", "i": "1", "l": "1"}


def leet_digits(text: str) -> str:
    return _LEET_DIGIT.sub(lambda m: _LEET_MAP[m.group(0)], text)


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def squash(text: str) -> str:
    """Letters and digits only: ``w h a t s . a p p`` → ``whatsapp``. Used as a cheap
    pre-check (is a brand name in there at all?), never as evidence on its own."""
    return _NON_ALNUM.sub("", text)


_HAS_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class Prepared:
    """One message in the forms the detectors search.

    ``original``: NFKC only, case kept (crypto addresses, IBANs).
    ``folded``: lower-case, accent-free (phrases, brand names).
    ``plain``: ``folded`` with brackets, spaced letters and dictated digits undone (emails,
    handles, phone numbers).
    """

    original: str
    folded: str
    plain: str


def prepare(text: str) -> Prepared:
    original = nfkc(text)
    folded = fold(text)
    plain = collapse_spaced(unbracket(folded))
    plain = words_to_digits(plain)
    if _HAS_DIGIT.search(plain):
        plain = leet_digits(plain)
    return Prepared(original=original, folded=folded, plain=plain)
