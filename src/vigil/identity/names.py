"""Names: ICAO 9303 Part 3 transliteration and matching a profile's name against a document's.

A profile says "Jürgen Müller-Lüdenscheidt"; the MRZ says ``MUELLER<LUEDENSCHEIDT<<JUERGEN``,
the visual zone may print "MÜLLER-LÜDENSCHEIDT" and a US barcode "MULLER". ``transliterate``
brings all of them to one alphabet (A-Z and single spaces); ``match`` compares a profile's
free-form legal name with a document's surname and given names.

Invariants:

- ``transliterate`` returns only ``A``-``Z`` and single spaces, never leading/trailing space.
  Hyphens, ``<`` fillers, commas and dots separate words; apostrophes vanish (``O'NEIL`` ->
  ``ONEIL``, as ICAO prescribes). Letters the ICAO table lists go through the table; other
  Latin letters lose their diacritics; characters of no known script are dropped.
- The ICAO table gives some letters two forms (Ä AE/A, Å AA/A, Ö OE/O, Ø OE/O, Ü UE/U, Ñ N):
  ``transliterate(..., alternative=False)`` is the recommended form, ``alternative=True`` the
  other; ``variants`` gives both, and ``match`` tries both sides in both forms, because
  issuers and users each pick one.
- ``match`` is symmetric in what it forgives: name order (surname first or last), missing
  middle names on either side, a compound surname of which the profile gives one part,
  hyphens vs spaces, MRZ truncation (a name cut at the MRZ field's length is a prefix of the
  full name). ``score`` is 0-100; ``exact`` is True only when the same words were read (in
  some order, in one of the transliteration forms). Scores for each rule are fixed below and
  chosen against the settings ``identity_name_match_min`` (90) / ``identity_name_review_min``
  (70): forgiven differences stay at or above 90, a different name falls under 70.
- Only those fixed rules may reach 90. What is left is scored by rapidfuzz and capped at
  ``SCORE_FUZZY_MAX`` (89): a letter or two apart (a typo, or JOAN for JOHN) is a review,
  never a match.
"""

# ruff: noqa: RUF001, RUF003  (the transliteration tables are made of look-alike letters)
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz

# ICAO Doc 9303 Part 3, "Transliteration of multinational Latin-based characters":
# letter -> (recommended, alternative).
LATIN: dict[str, tuple[str, str]] = {
    "Á": ("A", "A"), "À": ("A", "A"), "Â": ("A", "A"), "Ä": ("AE", "A"), "Ã": ("A", "A"),
    "Ă": ("A", "A"), "Å": ("AA", "A"), "Ā": ("A", "A"), "Ą": ("A", "A"), "Ć": ("C", "C"),
    "Ĉ": ("C", "C"), "Č": ("C", "C"), "Ċ": ("C", "C"), "Ç": ("C", "C"), "Ď": ("D", "D"),
    "Đ": ("D", "D"), "Ð": ("D", "D"), "É": ("E", "E"), "È": ("E", "E"), "Ê": ("E", "E"),
    "Ë": ("E", "E"), "Ě": ("E", "E"), "Ė": ("E", "E"), "Ē": ("E", "E"), "Ę": ("E", "E"),
    "Ĕ": ("E", "E"), "Ĝ": ("G", "G"), "Ğ": ("G", "G"), "Ġ": ("G", "G"), "Ģ": ("G", "G"),
    "Ĥ": ("H", "H"), "Ħ": ("H", "H"), "Í": ("I", "I"), "Ì": ("I", "I"), "Î": ("I", "I"),
    "Ï": ("I", "I"), "Ĩ": ("I", "I"), "İ": ("I", "I"), "Ī": ("I", "I"), "Į": ("I", "I"),
    "Ĭ": ("I", "I"), "Ĳ": ("IJ", "IJ"), "Ĵ": ("J", "J"), "Ķ": ("K", "K"),
    "Ĺ": ("L", "L"), "Ľ": ("L", "L"), "Ļ": ("L", "L"), "Ł": ("L", "L"), "Ŀ": ("L", "L"),
    "Ń": ("N", "N"), "Ñ": ("N", "N"), "Ň": ("N", "N"), "Ņ": ("N", "N"), "Ŋ": ("N", "N"),
    "Ó": ("O", "O"), "Ò": ("O", "O"), "Ô": ("O", "O"), "Ö": ("OE", "O"), "Õ": ("O", "O"),
    "Ő": ("O", "O"), "Ø": ("OE", "O"), "Ō": ("O", "O"), "Ŏ": ("O", "O"), "Œ": ("OE", "OE"),
    "Ŕ": ("R", "R"), "Ř": ("R", "R"), "Ŗ": ("R", "R"), "Ś": ("S", "S"), "Ŝ": ("S", "S"),
    "Š": ("S", "S"), "Ş": ("S", "S"), "Ș": ("S", "S"), "Ť": ("T", "T"), "Ţ": ("T", "T"),
    "Ț": ("T", "T"), "Ŧ": ("T", "T"), "Ú": ("U", "U"), "Ù": ("U", "U"), "Û": ("U", "U"),
    "Ü": ("UE", "U"), "Ũ": ("U", "U"), "Ŭ": ("U", "U"), "Ű": ("U", "U"), "Ů": ("U", "U"),
    "Ū": ("U", "U"), "Ų": ("U", "U"), "Ŵ": ("W", "W"), "Ý": ("Y", "Y"), "Ŷ": ("Y", "Y"),
    "Ÿ": ("Y", "Y"), "Ź": ("Z", "Z"), "Ž": ("Z", "Z"), "Ż": ("Z", "Z"), "Þ": ("TH", "TH"),
    "Æ": ("AE", "AE"), "ẞ": ("SS", "SS"),
}  # fmt: skip

# ICAO Doc 9303 Part 3, "Transliteration of Cyrillic characters" (upper case; lower case is
# upper-cased first). Ь is omitted, as the table says.
CYRILLIC: dict[str, str] = {
    "А": "A", "Б": "B", "В": "V", "Г": "G", "Ґ": "G", "Д": "D", "Ѓ": "G", "Ђ": "D",
    "Е": "E", "Ё": "E", "Є": "IE", "Ж": "ZH", "З": "Z", "Ѕ": "DZ", "И": "I", "І": "I",
    "Ї": "I", "Й": "I", "Ј": "J", "К": "K", "Ќ": "K", "Л": "L", "Љ": "LJ", "М": "M",
    "Н": "N", "Њ": "NJ", "О": "O", "П": "P", "Р": "R", "С": "S", "Т": "T", "Ћ": "C",
    "У": "U", "Ў": "U", "Ф": "F", "Х": "KH", "Ц": "TS", "Ч": "CH", "Џ": "DZ", "Ш": "SH",
    "Щ": "SHCH", "Ъ": "IE", "Ы": "Y", "Ь": "", "Э": "E", "Ю": "IU", "Я": "IA",
}  # fmt: skip

_SEPARATORS = set(" \t\n-<,./_;:()\u2010\u2011\u2012\u2013\u2014")
_SILENT = set("'`\u00b4\u02bc\u2019\u2018\"")
_TITLES = {"MR", "MRS", "MS", "MISS", "DR", "SR", "SRA", "HERR", "FRAU", "MME", "MLLE"}

# Scores of the forgiving rules (see the module docstring).
SCORE_EXACT = 100.0
SCORE_MIDDLE_MISSING = 95.0
SCORE_TRUNCATED = 95.0
SCORE_EXTRA_PROFILE_NAMES = 92.0
SCORE_SURNAME_PARTIAL = 90.0
# A fuzzy score (rapidfuzz) never reaches the match threshold (90): one letter apart is a typo
# as often as another person (JOHN SMITH / JOAN SMITH, MARK / MARY JONES, MARIA / MARIO
# GARCIA LOPEZ all score 90-94), so a name only the fuzzy comparison finds close goes to a
# person. Only the forgiving rules above may pass on their own.
SCORE_FUZZY_MAX = 89.0
# MRZ name field lengths: TD1 30, TD2 and MRV-B 31, TD3 and MRV-A 39.
MRZ_NAME_LENGTHS = frozenset({30, 31, 39})


def transliterate(name: str, *, alternative: bool = False) -> str:
    out: list[str] = []
    for char in unicodedata.normalize("NFC", name):
        for up in char.upper():  # "ß".upper() is "SS"
            if "A" <= up <= "Z":
                out.append(up)
            elif up in LATIN:
                out.append(LATIN[up][1 if alternative else 0])
            elif up in CYRILLIC:
                out.append(CYRILLIC[up])
            elif up in _SEPARATORS:
                out.append(" ")
            elif up in _SILENT:
                continue
            else:
                base = unicodedata.normalize("NFKD", up)
                out.append("".join(c for c in base.upper() if "A" <= c <= "Z"))
    return " ".join("".join(out).split())


def fold(text: str) -> str:
    """Upper case, compatibility forms decomposed and accents dropped (``Nº`` -> ``NO``,
    ``Ü`` -> ``U``), punctuation and digits kept: the form in which the readers search
    printed labels, dates and numbers."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def compact(text: str | None) -> str:
    """Only the letters and digits of ``fold(text)``: a document number as compared
    (``"X 123-456"`` -> ``"X123456"``)."""
    return re.sub(r"[^A-Z0-9]", "", fold(text or ""))


def variants(name: str) -> list[str]:
    """The recommended form first, then the alternative when it differs."""
    forms = [transliterate(name), transliterate(name, alternative=True)]
    return list(dict.fromkeys(forms))


@dataclass(frozen=True)
class NameMatch:
    score: float
    exact: bool
    order_swapped: bool
    method: str
    profile: str  # the profile's name as compared (transliterated, given names first)
    document: str  # the document's name as compared (given names, then surname)
    variant: str = "icao"  # "icao" or "alternative": which transliteration matched

    def to_json(self) -> dict[str, object]:
        return {
            "score": round(self.score, 1),
            "exact": self.exact,
            "order_swapped": self.order_swapped,
            "method": self.method,
            "profile": self.profile,
            "document": self.document,
            "variant": self.variant,
        }


def _document_variants(name: str) -> list[str]:
    """A document already in A-Z (an MRZ) chose the recommended form for Ä, Ö, Ü; a profile
    typed on a keyboard without them says A, O, U. Undoing the digraphs on the document side
    gives that spelling as one more variant."""
    forms = variants(name)
    if name.isascii():
        forms.append(re.sub(r"(?<=[A-Z])([AOU])E", r"\1", forms[0]))
    return list(dict.fromkeys(forms))


def _profile_tokens(form: str) -> list[str]:
    tokens = form.split()
    while tokens and tokens[0] in _TITLES and len(tokens) > 2:
        tokens = tokens[1:]
    return tokens


def _profile_forms(profile_name: str) -> list[tuple[list[str], str]]:
    """``Surname, Given`` in a profile is turned into given-first order."""
    out: list[tuple[list[str], str]] = []
    if profile_name.count(",") == 1:
        last, first = profile_name.split(",")
        pairs = zip(variants(first), variants(last), strict=False)
        for index, (given, surname) in enumerate(pairs):
            out.append((_profile_tokens(f"{given} {surname}"), _variant(index)))
    for index, form in enumerate(variants(profile_name.replace(",", " "))):
        out.append((_profile_tokens(form), _variant(index)))
    return out


def _variant(index: int) -> str:
    return "icao" if index == 0 else "alternative"


def _is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(token in it for token in needle)


def _mrz_form(surname: list[str], given: list[str]) -> str:
    return "<".join(surname) + ("<<" + "<".join(given) if given else "")


def mrz_truncated(surname: str | None, given_names: str | None) -> bool:
    """Whether a name read from an MRZ fills its name field (30, 31 or 39 characters in the
    MRZ's own form): the issuer may have cut it there."""
    form = _mrz_form((surname or "").split(), (given_names or "").split())
    return len(form) in MRZ_NAME_LENGTHS


def _truncated_match(profile: list[str], surname: list[str], given: list[str]) -> bool | None:
    """True / False (swapped) when the document's MRZ-form name is a strict prefix of the
    profile's, split into surname and given names at some point; None when it is not."""
    document = _mrz_form(surname, given)
    for cut in range(1, len(profile)):
        western = _mrz_form(profile[cut:], profile[:cut])
        if western.startswith(document) and western != document:
            return False
        eastern = _mrz_form(profile[:cut], profile[cut:])
        if eastern.startswith(document) and eastern != document:
            return True
    return None


def _score(
    profile: list[str], surname: list[str], given: list[str], *, truncated: bool
) -> tuple[float, str, bool]:
    """(score, method, order_swapped) for one transliteration form of each side."""
    if not profile or not (surname or given):
        return 0.0, "no_name", False
    western, eastern = given + surname, surname + given
    joined = "".join(profile)
    if joined == "".join(western):
        return SCORE_EXACT, "exact", False
    if joined == "".join(eastern):
        return SCORE_EXACT, "exact", True
    if sorted(profile) == sorted(western):
        return SCORE_EXACT, "exact_reordered", True
    # Missing middle names on the profile: the first given name and the whole surname are
    # there, in order.
    if given and len(given) > 1:
        for doc_order, swapped in ((western, False), (eastern, True)):
            core = [given[0], *surname] if not swapped else [*surname, given[0]]
            if profile == core or (
                _is_subsequence(profile, doc_order) and set(core) <= set(profile)
            ):
                return SCORE_MIDDLE_MISSING, "middle_names_missing", swapped
    # Names on the profile that the document does not carry (a middle name left off a
    # driver's license, a second given name).
    if surname and given:
        for doc_order, swapped in ((western, False), (eastern, True)):
            if _is_subsequence(doc_order, profile) and profile[0] == doc_order[0]:
                return SCORE_EXTRA_PROFILE_NAMES, "profile_extra_names", swapped
    # A compound surname (Spanish, Portuguese) of which the profile gives one part.
    if len(surname) > 1 and given:
        for part in surname:
            if profile == [*given, part] or profile == [given[0], part]:
                return SCORE_SURNAME_PARTIAL, "surname_partial", False
            if profile == [part, *given] or profile == [part, given[0]]:
                return SCORE_SURNAME_PARTIAL, "surname_partial", True
    if truncated or len(_mrz_form(surname, given)) in MRZ_NAME_LENGTHS:
        swapped_cut = _truncated_match(profile, surname, given)
        if swapped_cut is not None:
            return SCORE_TRUNCATED, "truncated", swapped_cut
    text = " ".join(profile)
    straight = fuzz.ratio(text, " ".join(western))
    swapped_score = fuzz.ratio(text, " ".join(eastern))
    # Word order ignored, at a small discount: the words match but not as a name is written.
    sorted_score = fuzz.token_sort_ratio(text, " ".join(western)) * 0.95
    best = max(straight, swapped_score, sorted_score)
    swapped = best == swapped_score and swapped_score > straight
    return min(float(best), SCORE_FUZZY_MAX), "fuzzy", swapped


def match(
    profile_name: str,
    surname: str | None,
    given_names: str | None,
    *,
    truncated: bool = False,
) -> NameMatch:
    """``truncated``: the document says its name was cut (AAMVA DDE/DDF/DDG = T); MRZ
    truncation is recognised from the field length without it."""
    best: NameMatch | None = None
    document_forms = [
        (s, g, _variant(max(i, j)))
        for i, s in enumerate(_document_variants(surname or ""))
        for j, g in enumerate(_document_variants(given_names or ""))
    ]
    for profile, profile_variant in _profile_forms(profile_name):
        for doc_surname, doc_given, doc_variant in document_forms:
            score, method, swapped = _score(
                profile, doc_surname.split(), doc_given.split(), truncated=truncated
            )
            variant = "alternative" if "alternative" in (profile_variant, doc_variant) else "icao"
            candidate = NameMatch(
                score=round(score, 1),
                exact=method in ("exact", "exact_reordered"),
                order_swapped=swapped,
                method=method,
                profile=" ".join(profile),
                document=" ".join(p for p in (doc_given, doc_surname) if p),
                variant=variant,
            )
            if best is None or (candidate.score, variant == "icao") > (
                best.score,
                best.variant == "icao",
            ):
                best = candidate
    assert best is not None  # variants() always yields at least one form
    return best


_WORD = re.compile(r"[A-Z]+")


def words(name: str) -> list[str]:
    """The words of a name, transliterated (recommended form)."""
    return _WORD.findall(transliterate(name))
