"""ICAO 9303 machine-readable zones: check digits, the five formats, strict parsing, reading
from OCR text with correction and check-digit-guided repair, and building lines for the
simulator. Pure code: no OCR, no database; dates are resolved against the ``today`` given,
else ``vigil.kit.clock``'s.

Invariants:
- ``parse`` never changes a character: it reports what the lines say, check digits included.
- ``normalize_line`` maps to an MRZ character only what is drawn as one (full-width forms,
  diacritics, Greek and Cyrillic look-alike capitals, filler look-alikes): a character of
  another script read for an OCR-B glyph would otherwise be dropped, shifting or emptying
  its field ("ES<" for "ESP"). Everything else outside the alphabet is dropped, as before.
- ``read`` corrects only what the position makes certain (a date holds digits, a country code
  letters) and repairs a field only by one OCR confusion per failing field, accepted only when
  exactly one way of repairing the document makes every check digit pass. A document whose
  check digits fail as printed is returned with ``valid=False``: it is never repaired into a
  valid one by trying arbitrary changes.
- A repair is a guess, never a proof: the composite check digit weighs the document number
  exactly as the number's own check digit does, so one confusion anywhere in the number that
  fixes one fixes both, whether the OCR misread that character or the number was misprinted
  (or forged) elsewhere. Each repair names its field and index (``number_repairs``) so that
  a confirmation can look at exactly those characters; ``checks.mrz_integrity`` never
  passes a repaired read that nothing independent confirmed.
- A filler as check digit is accepted only over an empty TD3 personal number (the one field
  ICAO 9303 lets it stand for), never over a date or a number.
- Check digits prove little on their own (docs/identity/reading-mrz.md): they cannot see
  confusions whose values differ by a multiple of 10 (``0 A K U``, ``2 C M W``, ``4 E O Y``,
  ``8 I S``...), two errors can cancel, and nationality, sex and names carry none. A valid
  read is therefore a claim to confirm, not a proof.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from vigil.identity.types import DocumentFields, DocumentKind
from vigil.kit import clock

FILLER = "<"
CHARSET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
_WEIGHTS = (7, 3, 1)


class MrzError(ValueError):
    """Lines that are not an MRZ of any format (wrong count, lengths or characters)."""


def char_value(ch: str) -> int:
    """The value ICAO 9303 gives a character for check digits: digits as such, ``<`` 0,
    ``A``..``Z`` 10..35."""
    if "0" <= ch <= "9":
        return ord(ch) - 48
    if "A" <= ch <= "Z":
        return ord(ch) - 55
    if ch == FILLER:
        return 0
    raise ValueError(f"not an MRZ character: {ch!r}")


def check_digit(value: str) -> int:
    """Weights 7, 3, 1 repeated, sum modulo 10."""
    return sum(char_value(ch) * _WEIGHTS[i % 3] for i, ch in enumerate(value)) % 10


class MrzFormat(StrEnum):
    TD1 = "TD1"  # ID cards: 3 lines of 30
    TD2 = "TD2"  # ID cards and some passports: 2 lines of 36
    TD3 = "TD3"  # passports: 2 lines of 44
    MRVA = "MRVA"  # visas, type A: 2 lines of 44
    MRVB = "MRVB"  # visas, type B: 2 lines of 36


# Position classes: A letter or filler, N digit (dates), C check digit (digit, or filler over
# an empty field), X letter, digit or filler (numbers, optional data), S sex (M F X <).
_Span = tuple[int, int, int]  # line, start, end


@dataclass(frozen=True)
class _Layout:
    fmt: MrzFormat
    count: int
    length: int
    classes: tuple[str, ...]
    # name -> (spans of the value, (line, position) of the check digit)
    checks: tuple[tuple[str, tuple[_Span, ...], tuple[int, int]], ...]


def _classes(*parts: tuple[str, int]) -> str:
    return "".join(c * n for c, n in parts)


_TD1 = _Layout(
    MrzFormat.TD1,
    3,
    30,
    (
        _classes(("A", 1), ("X", 1), ("A", 3), ("X", 9), ("C", 1), ("X", 15)),
        _classes(("N", 6), ("C", 1), ("S", 1), ("N", 6), ("C", 1), ("A", 3), ("X", 11), ("C", 1)),
        "A" * 30,
    ),
    (
        ("document_number", ((0, 5, 14),), (0, 14)),
        ("birth_date", ((1, 0, 6),), (1, 6)),
        ("expiry_date", ((1, 8, 14),), (1, 14)),
        ("composite", ((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)), (1, 29)),
    ),
)


def _line2(optional: int, personal_check: bool, composite: bool) -> str:
    return _classes(
        ("X", 9),
        ("C", 1),
        ("A", 3),
        ("N", 6),
        ("C", 1),
        ("S", 1),
        ("N", 6),
        ("C", 1),
        ("X", optional),
        ("C", int(personal_check)),
        ("C", int(composite)),
    )


_TD2 = _Layout(
    MrzFormat.TD2,
    2,
    36,
    (_classes(("A", 1), ("X", 1), ("A", 34)), _line2(7, False, True)),
    (
        ("document_number", ((1, 0, 9),), (1, 9)),
        ("birth_date", ((1, 13, 19),), (1, 19)),
        ("expiry_date", ((1, 21, 27),), (1, 27)),
        ("composite", ((1, 0, 10), (1, 13, 20), (1, 21, 35)), (1, 35)),
    ),
)
_TD3 = _Layout(
    MrzFormat.TD3,
    2,
    44,
    (_classes(("A", 1), ("X", 1), ("A", 42)), _line2(14, True, True)),
    (
        ("document_number", ((1, 0, 9),), (1, 9)),
        ("birth_date", ((1, 13, 19),), (1, 19)),
        ("expiry_date", ((1, 21, 27),), (1, 27)),
        ("personal_number", ((1, 28, 42),), (1, 42)),
        ("composite", ((1, 0, 10), (1, 13, 20), (1, 21, 43)), (1, 43)),
    ),
)
_MRV_CHECKS = (
    ("document_number", ((1, 0, 9),), (1, 9)),
    ("birth_date", ((1, 13, 19),), (1, 19)),
    ("expiry_date", ((1, 21, 27),), (1, 27)),
)
_MRVA = _Layout(
    MrzFormat.MRVA,
    2,
    44,
    (_classes(("A", 1), ("X", 1), ("A", 42)), _line2(16, False, False)),
    _MRV_CHECKS,
)
_MRVB = _Layout(
    MrzFormat.MRVB,
    2,
    36,
    (_classes(("A", 1), ("X", 1), ("A", 34)), _line2(8, False, False)),
    _MRV_CHECKS,
)
LAYOUTS: dict[MrzFormat, _Layout] = {
    layout.fmt: layout for layout in (_TD1, _TD2, _TD3, _MRVA, _MRVB)
}


# --- countries --------------------------------------------------------------------------

# ISO 3166-1 alpha-3 -> alpha-2, the 249 assigned codes (the same set as
# vigil.accounts.countries; a test keeps them equal). Entries are "AAABB".
# fmt: off
_ISO_TABLE = (
    "AFGAF ALAAX ALBAL DZADZ ASMAS ANDAD AGOAO AIAAI ATAAQ ATGAG ARGAR ARMAM ABWAW AUSAU AUTAT "
    "AZEAZ BHSBS BHRBH BGDBD BRBBB BLRBY BELBE BLZBZ BENBJ BMUBM BTNBT BOLBO BESBQ BIHBA BWABW "
    "BVTBV BRABR IOTIO BRNBN BGRBG BFABF BDIBI CPVCV KHMKH CMRCM CANCA CYMKY CAFCF TCDTD CHLCL "
    "CHNCN CXRCX CCKCC COLCO COMKM COGCG CODCD COKCK CRICR CIVCI HRVHR CUBCU CUWCW CYPCY CZECZ "
    "DNKDK DJIDJ DMADM DOMDO ECUEC EGYEG SLVSV GNQGQ ERIER ESTEE SWZSZ ETHET FLKFK FROFO FJIFJ "
    "FINFI FRAFR GUFGF PYFPF ATFTF GABGA GMBGM GEOGE DEUDE GHAGH GIBGI GRCGR GRLGL GRDGD GLPGP "
    "GUMGU GTMGT GGYGG GINGN GNBGW GUYGY HTIHT HMDHM VATVA HNDHN HKGHK HUNHU ISLIS INDIN IDNID "
    "IRNIR IRQIQ IRLIE IMNIM ISRIL ITAIT JAMJM JPNJP JEYJE JORJO KAZKZ KENKE KIRKI PRKKP KORKR "
    "KWTKW KGZKG LAOLA LVALV LBNLB LSOLS LBRLR LBYLY LIELI LTULT LUXLU MACMO MDGMG MWIMW MYSMY "
    "MDVMV MLIML MLTMT MHLMH MTQMQ MRTMR MUSMU MYTYT MEXMX FSMFM MDAMD MCOMC MNGMN MNEME MSRMS "
    "MARMA MOZMZ MMRMM NAMNA NRUNR NPLNP NLDNL NCLNC NZLNZ NICNI NERNE NGANG NIUNU NFKNF MKDMK "
    "MNPMP NORNO OMNOM PAKPK PLWPW PSEPS PANPA PNGPG PRYPY PERPE PHLPH PCNPN POLPL PRTPT PRIPR "
    "QATQA REURE ROURO RUSRU RWARW BLMBL SHNSH KNAKN LCALC MAFMF SPMPM VCTVC WSMWS SMRSM STPST "
    "SAUSA SENSN SRBRS SYCSC SLESL SGPSG SXMSX SVKSK SVNSI SLBSB SOMSO ZAFZA SGSGS SSDSS ESPES "
    "LKALK SDNSD SURSR SJMSJ SWESE CHECH SYRSY TWNTW TJKTJ TZATZ THATH TLSTL TGOTG TKLTK TONTO "
    "TTOTT TUNTN TURTR TKMTM TCATC TUVTV UGAUG UKRUA AREAE GBRGB USAUS UMIUM URYUY UZBUZ VUTVU "
    "VENVE VNMVN VGBVG VIRVI WLFWF ESHEH YEMYE ZMBZM ZWEZW"
)
# fmt: on
_ISO_ALPHA3: dict[str, str] = {entry[:3]: entry[3:] for entry in _ISO_TABLE.split()}

# Codes ICAO 9303 Part 3 adds to ISO 3166: Germany's one letter, the British nationality
# classes, Kosovo (no ISO alpha-2 is assigned: XK is user-assigned and refused by the
# project), and organisations or statuses that are no country at all (None).
_ICAO_EXTRA: dict[str, str | None] = {
    "D": "DE",
    "GBD": "GB",  # British Overseas Territories citizen
    "GBN": "GB",  # British National (Overseas)
    "GBO": "GB",  # British Overseas citizen
    "GBP": "GB",  # British protected person
    "GBS": "GB",  # British subject
    "RKS": None,  # Kosovo
    "EUE": None,  # European Union
    "UNO": None,  # United Nations Organization or its officials
    "UNA": None,  # specialized agency of the UN
    "UNK": None,  # UN interim administration in Kosovo
    "XBA": None,  # African Development Bank
    "XIM": None,  # African Export-Import Bank
    "XCC": None,  # Caribbean Community
    "XCE": None,  # Council of Europe
    "XCO": None,  # Common Market for Eastern and Southern Africa
    "XDC": None,  # Southern African Development Community
    "XEC": None,  # Economic Community of West African States
    "XES": None,  # Organisation of Eastern Caribbean States
    "XMP": None,  # Parliamentary Assembly of the Mediterranean
    "XOM": None,  # Sovereign Military Order of Malta
    "XPO": None,  # Interpol
    "INP": None,  # Interpol (code used on its travel documents)
    "XXA": None,  # stateless person
    "XXB": None,  # refugee (1951 Convention)
    "XXC": None,  # refugee (other)
    "XXX": None,  # nationality unspecified
    "UTO": None,  # Utopia: the fictional state of ICAO 9303's specimens
}
ICAO_COUNTRY_CODES: frozenset[str] = frozenset(_ISO_ALPHA3) | frozenset(_ICAO_EXTRA)


def country_alpha2(code: str) -> str | None:
    """ICAO country code (fillers allowed: ``D<<``) -> ISO 3166-1 alpha-2; None for
    organisations, statuses (stateless, refugee) and unknown codes."""
    key = code.strip().upper().strip(FILLER)
    if key in _ISO_ALPHA3:
        return _ISO_ALPHA3[key]
    return _ICAO_EXTRA.get(key)


def known_country(code: str) -> bool:
    return code.strip().upper().strip(FILLER) in ICAO_COUNTRY_CODES


# --- parsing ----------------------------------------------------------------------------


@dataclass
class MrzResult:
    format: MrzFormat
    lines: tuple[str, ...]  # after correction and repair
    raw: tuple[str, ...]  # as given (OCR text for ``read``)
    fields: DocumentFields
    check_digits: dict[str, bool]
    valid: bool  # every check digit passes and the fields are well-formed
    repairs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    document_code: str = ""
    optional_data: str = ""

    @property
    def data(self) -> tuple[str, ...]:
        return self.lines

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format.value,
            "lines": list(self.lines),
            "raw": list(self.raw),
            "fields": self.fields.to_json(),
            "check_digits": dict(self.check_digits),
            "valid": self.valid,
            "repairs": list(self.repairs),
            "errors": list(self.errors),
            "document_code": self.document_code,
            "optional_data": self.optional_data,
        }


@dataclass(frozen=True)
class _Field:
    name: str
    positions: tuple[tuple[int, int], ...]  # the value's characters
    digit: tuple[int, int]  # the check digit's position


def detect_format(lines: Sequence[str]) -> MrzFormat | None:
    lengths = [len(line) for line in lines]
    if len(lines) == 3 and lengths == [30, 30, 30]:
        return MrzFormat.TD1
    if len(lines) == 2 and lengths == [36, 36]:
        return MrzFormat.MRVB if lines[0][:1] == "V" else MrzFormat.TD2
    if len(lines) == 2 and lengths == [44, 44]:
        return MrzFormat.MRVA if lines[0][:1] == "V" else MrzFormat.TD3
    return None


def _fields_of(layout: _Layout, lines: Sequence[str]) -> list[_Field]:
    out = []
    for name, spans, digit in layout.checks:
        positions = tuple((li, p) for li, a, b in spans for p in range(a, b))
        out.append(_Field(name, positions, digit))
    # A document number longer than 9 (TD1, TD2): the check digit position holds a filler, the
    # rest of the number follows in the optional data, then its check digit, then a filler.
    if layout.fmt in (MrzFormat.TD1, MrzFormat.TD2):
        number = out[0]
        li, pos = number.digit
        start, end = (15, 30) if layout.fmt is MrzFormat.TD1 else (28, 35)
        tail = lines[li][start:end]
        head = "".join(lines[a][b] for a, b in number.positions)
        if lines[li][pos] == FILLER and FILLER not in head and tail[:1] not in ("", FILLER):
            rest = tail.split(FILLER, 1)[0]
            if len(rest) >= 2:
                extra = tuple((li, p) for p in range(start, start + len(rest) - 1))
                out[0] = _Field(number.name, number.positions + extra, (li, start + len(rest) - 1))
    return out


def _value(lines: Sequence[str], positions: Sequence[tuple[int, int]]) -> str:
    return "".join(lines[li][p] for li, p in positions)


def _passes(lines: Sequence[str], f: _Field) -> bool:
    value = _value(lines, f.positions)
    digit = lines[f.digit[0]][f.digit[1]]
    if digit == FILLER:
        # ICAO 9303 allows a filler check digit over one field only: an empty TD3 personal
        # number. Over a date or a number it is a failing check digit, whatever the value.
        return f.name == "personal_number" and set(value) <= {FILLER}
    return digit.isdigit() and int(digit) == check_digit(value)


def _check_all(layout: _Layout, lines: Sequence[str]) -> dict[str, bool]:
    return {f.name: _passes(lines, f) for f in _fields_of(layout, lines)}


def _resolve_date(text: str, *, past: bool, today: date) -> date | None:
    if not re.fullmatch(r"\d{6}", text):
        return None
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    if past:
        year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    else:
        year = 2000 + yy if 2000 + yy <= today.year + 20 else 1900 + yy
    try:
        resolved = date(year, mm, dd)
    except ValueError:
        return None
    if past and resolved > today:
        try:
            resolved = date(year - 100, mm, dd)
        except ValueError:
            return None
    return resolved


def _names(text: str) -> tuple[str | None, str | None]:
    first, _, rest = text.partition("<<")
    surname = " ".join(p for p in first.split(FILLER) if p) or None
    given = " ".join(p for p in rest.split(FILLER) if p) or None
    return surname, given


def _kind(code: str) -> DocumentKind | None:
    first, second = code[:1], code[1:2]
    if first == "P":
        return DocumentKind.passport
    if first == "V":
        return DocumentKind.visa
    if first in ("I", "A", "C"):
        return DocumentKind.residence_permit if second == "R" else DocumentKind.id_card
    return None


def _interpret(
    layout: _Layout,
    lines: tuple[str, ...],
    raw: tuple[str, ...],
    repairs: list[dict[str, Any]],
    today: date,
) -> MrzResult:
    fmt = layout.fmt
    checks = _check_all(layout, lines)
    number_field = _fields_of(layout, lines)[0]
    number = _value(lines, number_field.positions).replace(FILLER, "")
    code = lines[0][0:2]
    if fmt is MrzFormat.TD1:
        names = lines[2]
        data = lines[1]
        birth, sex, expiry, nationality = data[0:6], data[7], data[8:14], data[15:18]
        used = {p for li, p in (*number_field.positions, number_field.digit) if li == 0}
        optional = "".join(ch for p, ch in enumerate(lines[0]) if p >= 15 and p not in used)
        optional = (optional + data[18:29]).strip(FILLER)
    else:
        names = lines[0][5:]
        data = lines[1]
        birth, sex, expiry, nationality = data[13:19], data[20], data[21:27], data[10:13]
        end = {MrzFormat.TD2: 35, MrzFormat.TD3: 42, MrzFormat.MRVA: 44, MrzFormat.MRVB: 36}[fmt]
        used = {p for li, p in (*number_field.positions, number_field.digit) if li == 1}
        optional = "".join(data[p] for p in range(28, end) if p not in used).strip(FILLER)
    issuer = lines[0][2:5]
    surname, given = _names(names)
    errors: list[str] = []
    well_formed = True
    birth_date = _resolve_date(birth, past=True, today=today)
    expiry_date = _resolve_date(expiry, past=False, today=today)
    if birth_date is None and birth != FILLER * 6:
        errors.append(f"impossible birth date: {birth}")
        well_formed = False
    if expiry_date is None:
        errors.append(f"impossible expiry date: {expiry}")
        well_formed = False
    if sex not in "MFX<":
        errors.append(f"invalid sex: {sex}")
        well_formed = False
    if not code[0].isalpha():
        errors.append(f"invalid document code: {code}")
        well_formed = False
    if not number:
        errors.append("empty document number")
        well_formed = False
    for label, country in (("issuing country", issuer), ("nationality", nationality)):
        if not known_country(country):
            errors.append(f"unknown {label}: {country}")
    if surname is None:
        errors.append("empty name")
    fields = DocumentFields(
        source="mrz",
        document_kind=_kind(code),
        issuing_country=issuer.strip(FILLER) or None,
        document_number=number or None,
        surname=surname,
        given_names=given,
        birth_date=birth_date,
        expiry_date=expiry_date,
        sex=sex if sex in "MFX" else None,
        nationality=nationality.strip(FILLER) or None,
    )
    return MrzResult(
        format=fmt,
        lines=lines,
        raw=raw,
        fields=fields,
        check_digits=checks,
        valid=all(checks.values()) and well_formed,
        repairs=repairs,
        errors=errors,
        document_code=code,
        optional_data=optional,
    )


def parse(lines: Sequence[str], *, today: date | None = None) -> MrzResult:
    """Strict parse of clean lines: no correction, no repair. Raises ``MrzError`` when the
    lines are no MRZ (count, lengths, characters); a failing check digit is reported in the
    result (``valid=False``), not raised."""
    clean = tuple(line.strip() for line in lines)
    fmt = detect_format(clean)
    if fmt is None:
        shape = "+".join(str(len(line)) for line in clean)
        raise MrzError(f"no MRZ format has {len(clean)} lines of {shape} characters")
    for line in clean:
        bad = set(line) - CHARSET
        if bad:
            raise MrzError(f"characters outside the MRZ set: {''.join(sorted(bad))}")
    return _interpret(LAYOUTS[fmt], clean, tuple(lines), [], today or clock.now().date())


# --- reading OCR text -------------------------------------------------------------------

# What OCR engines print for the filler and for the chevron-like glyphs of OCR-B.
_FILLER_LOOKALIKES = (
    "\u00ab\u2039\uff1c\u304f\u3008\u300a\u2264\ufe64\u27e8\u1438\u02c2\u276e\u227a"
)
# Capitals of other scripts that are drawn like a Latin MRZ character (Unicode's confusables,
# restricted to capitals: NFKD and upper-casing come first, so lower case and full-width
# forms land here too). A recognizer trained on several scripts sometimes answers with
# one of them for an OCR-B letter (Greek Rho for the P of "ESP"); dropped, the character
# would cost its field. Cyrillic Ze is drawn like a 3.
_LOOKALIKES = {
    # Greek
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H",
    "\u0399": "I", "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O",
    "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X", "\u03f9": "C",
    "\u037f": "J", "\u03dc": "F",
    # Cyrillic
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M",
    "\u041d": "H", "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T",
    "\u0423": "Y", "\u0425": "X", "\u0405": "S", "\u0406": "I", "\u0408": "J",
    "\u04ae": "Y", "\u04c0": "I", "\u051a": "Q", "\u051c": "W", "\u0417": "3",
    # Latin letters that do not decompose, and a slashed zero
    "\u00d8": "0", "\u0141": "L", "\u0110": "D", "\u0126": "H", "\u0197": "I",
}  # fmt: skip
_NORMALIZE = str.maketrans(
    {c: FILLER for c in _FILLER_LOOKALIKES} | {c: "" for c in " \t'`\".,:;_|"} | _LOOKALIKES
)
# Position-aware correction: a digit position cannot hold a letter, and vice versa.
_TO_DIGIT = str.maketrans("OQDUIJLZSGBT", "000011125687")
_TO_LETTER = str.maketrans("0125684", "OIZSGBA")
# One OCR confusion inside a number or optional data (letter, digit or filler allowed): the
# repair candidates. Digit-for-digit confusions are not tried: they would make any failing
# date "repairable". (6 and G are a common confusion too, but 10 apart: no check digit can
# tell them, so no repair can be guided by one.)
_CONFUSIONS = ("0OQD", "1I", "2Z", "5S", "8B")
_ALTERNATIVES = {ch: group.replace(ch, "") for group in _CONFUSIONS for ch in group}


def normalize_line(text: str) -> str:
    """OCR text -> MRZ alphabet: compatibility forms folded (full-width letters and digits,
    ligatures), diacritics dropped (an MRZ has none: a mark is noise on the letter), other
    scripts' digits to ASCII, upper case, look-alike capitals of other scripts to the Latin
    character they show, filler look-alikes to ``<``, blanks and stray punctuation dropped.
    Whatever is still outside the alphabet is left for the caller to drop."""
    # Sharp s upper-cases to "SS": in an MRZ it can only be a B misread.
    decomposed = unicodedata.normalize("NFKD", text.replace("\u00df", "B"))
    plain = "".join(_plain(ch) for ch in decomposed if not unicodedata.combining(ch))
    return plain.upper().translate(_NORMALIZE)


def _plain(ch: str) -> str:
    if ch.isascii():
        return ch
    digit = unicodedata.decimal(ch, None)
    return str(digit) if digit is not None else ch


def looks_like_mrz(text: str) -> bool:
    line = normalize_line(text)
    if len(line) < 26:
        return False
    inside = sum(ch in CHARSET for ch in line)
    return inside >= len(line) - 2 and (FILLER in line or len(line) >= 40)


def _fits(line: str, length: int) -> list[str]:
    """Ways to bring a line read too short or too long to its format's length: OCR most
    often loses or adds fillers inside a run of them."""
    line = "".join(ch for ch in line if ch in CHARSET)
    diff = length - len(line)
    if diff == 0:
        return [line]
    runs = [(m.start(), m.end()) for m in re.finditer(r"<{2,}", line)]
    out = []
    if diff > 0:
        out.append(line + FILLER * diff)
        for _start, end in sorted(runs, key=lambda r: r[0] - r[1])[:2]:
            out.append(line[:end] + FILLER * diff + line[end:])
    else:
        cut = -diff
        for start, end in sorted(runs, key=lambda r: r[0] - r[1])[:2]:
            if end - start > cut:
                out.append(line[: end - cut] + line[end:])
        out.append(line[:length])
        out.append(line[cut:])
    seen: list[str] = []
    for variant in out:
        if len(variant) == length and variant not in seen:
            seen.append(variant)
    return seen


def _correct(layout: _Layout, lines: Sequence[str]) -> tuple[str, ...]:
    out = []
    for li, line in enumerate(lines):
        classes = layout.classes[li]
        chars = list(line)
        for p, ch in enumerate(chars):
            cls = classes[p]
            if cls in "NC" and ch.isalpha():
                chars[p] = ch.translate(_TO_DIGIT)
            elif cls == "A" and ch.isdigit():
                chars[p] = ch.translate(_TO_LETTER)
        out.append("".join(chars))
    out[0] = _document_code(layout.fmt, out[0])
    if layout.fmt is MrzFormat.TD1:
        out[2] = _clean_name(out[2])
    else:
        out[0] = out[0][:5] + _clean_name(out[0][5:])
    return tuple(out)


# The first character of the document code is fixed by the format: P for passports (TD3),
# V for visas, A, C or I for cards (TD1, TD2). A character that cannot be there is mapped to
# the allowed one it is most often misread from.
_CARD_CODE = {ch: "I" for ch in "1LTJZ27|"} | {"4": "A"} | {ch: "C" for ch in "GO0(6"}


def _document_code(fmt: MrzFormat, line: str) -> str:
    first = line[:1]
    if fmt is MrzFormat.TD3:
        fixed = "P"
    elif fmt in (MrzFormat.MRVA, MrzFormat.MRVB):
        fixed = "V"
    elif first in "ACI":
        fixed = first
    else:
        fixed = _CARD_CODE.get(first, first)
    return fixed + line[1:]


def _clean_name(text: str) -> str:
    """Names are padded with fillers to the end, and inside a name fillers come one or two
    at a time: after a run of three, whatever OCR saw (a stray letter, text printed beside
    the zone) is a filler."""
    match = re.search(r"<<<", text)
    if match is None:
        return text
    return text[: match.start()] + FILLER * (len(text) - match.start())


def _repair(
    layout: _Layout, lines: tuple[str, ...]
) -> tuple[tuple[str, ...], list[dict[str, Any]]] | None:
    """Single-confusion repair of each failing field; the document is repaired only when
    exactly one combination makes every check digit pass. None when no unique repair."""
    fields = _fields_of(layout, lines)
    failing = [f for f in fields if not _passes(lines, f) and f.name != "composite"]
    if not failing:
        return None
    # (line, position, replacement, field, index of the character in the field's value, or
    # None for the field's check digit)
    options: list[list[tuple[int, int, str, str, int | None]]] = []
    for f in failing:
        found = []
        for index, (li, p) in enumerate((*f.positions, f.digit)):
            if layout.classes[li][p] != "X":
                continue
            for alt in _ALTERNATIVES.get(lines[li][p], ""):
                trial = list(lines)
                trial[li] = trial[li][:p] + alt + trial[li][p + 1 :]
                if _passes(trial, f):
                    at = index if index < len(f.positions) else None
                    found.append((li, p, alt, f.name, at))
        if not found:
            return None
        options.append(found)
    fits = []
    for combo in itertools.product(*options):
        trial = list(lines)
        for li, p, alt, _name, _at in combo:
            trial[li] = trial[li][:p] + alt + trial[li][p + 1 :]
        if all(_check_all(layout, trial).values()):
            fits.append((tuple(trial), combo))
            if len(fits) > 1:
                return None
    if len(fits) != 1:
        return None
    repaired, combo = fits[0]
    repairs = [
        {"line": li, "position": p, "from": lines[li][p], "to": alt, "field": name, "index": at}
        for li, p, alt, name, at in combo
    ]
    return repaired, repairs


def number_repairs(result: MrzResult) -> frozenset[int]:
    """Where the repairs of ``result`` changed its document number: indexes into
    ``fields.document_number`` (repairs of anything else, a check digit or a personal
    number, are not among them: no printed field shows those)."""
    return frozenset(
        int(r["index"])
        for r in result.repairs
        if r.get("field") == "document_number" and r.get("index") is not None
    )


def _layouts_for(count: int, length: int) -> list[_Layout]:
    return [lay for lay in LAYOUTS.values() if lay.count == count and lay.length == length]


def _windows(lines: Sequence[str]) -> Iterator[tuple[_Layout, tuple[str, ...]]]:
    for layout in LAYOUTS.values():
        n = layout.count
        for i in range(len(lines) - n + 1):
            group = tuple(lines[i : i + n])
            if all(abs(len(line) - layout.length) <= 4 for line in group):
                yield layout, group


def _score(result: MrzResult) -> tuple[int, ...]:
    passed = sum(result.check_digits.values())
    return (
        int(result.valid),
        passed - len(result.check_digits),
        -len(result.repairs),
        -len(result.errors),
    )


def read_group(
    layout: _Layout, group: Sequence[str], *, raw: Sequence[str] | None = None, today: date
) -> MrzResult | None:
    best: MrzResult | None = None
    raw_lines = tuple(raw if raw is not None else group)
    variants = [_fits(line, layout.length) for line in group]
    for combo in itertools.product(*variants):
        first = combo[0][:1]
        if layout.fmt in (MrzFormat.MRVA, MrzFormat.MRVB) and first != "V":
            continue
        if layout.fmt in (MrzFormat.TD3,) and first == "V":
            continue
        if layout.fmt in (MrzFormat.TD2,) and first == "V":
            continue
        corrected = _correct(layout, combo)
        repaired = None
        if not all(_check_all(layout, corrected).values()):
            repaired = _repair(layout, corrected)
        if repaired is not None:
            result = _interpret(layout, repaired[0], raw_lines, repaired[1], today)
        else:
            result = _interpret(layout, corrected, raw_lines, [], today)
        if best is None or _score(result) > _score(best):
            best = result
    return best


def read(candidates: Sequence[str], *, today: date | None = None) -> MrzResult | None:
    """Find the MRZ among OCR text lines (in reading order) and read it: lines brought to
    their format's length, position-aware correction, then check-digit-guided repair (one
    confusion per failing field, only when exactly one repair of the whole document fits).
    None when no group of lines looks like an MRZ; ``valid=False`` when it still fails."""
    today = today or clock.now().date()
    lines = [normalize_line(c) for c in candidates if looks_like_mrz(c)]
    best: MrzResult | None = None
    best_key: tuple[int, ...] = ()
    for layout, group in _windows(lines):
        result = read_group(layout, group, today=today)
        if result is None:
            continue
        distance = sum(abs(len(g) - layout.length) for g in group)
        key = (int(result.valid), -distance, *_score(result))
        if best is None or key > best_key:
            best, best_key = result, key
    return best


# --- building (the simulator) -----------------------------------------------------------


def _mrz_text(text: str) -> str:
    """Free text -> MRZ characters: accents dropped, apostrophes removed, anything else that
    is not A-Z or 0-9 becomes a filler (ICAO 9303 Part 3 keeps the transliteration to the
    caller; this is its last resort)."""
    decomposed = unicodedata.normalize("NFKD", text.upper())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.replace("'", "").replace("\u2019", "")
    return re.sub(r"[^A-Z0-9]+", FILLER, plain).strip(FILLER)


def _name_field(surname: str | None, given: str | None, width: int) -> str:
    text = _mrz_text(surname or "")
    if given:
        text += "<<" + _mrz_text(given)
    return text[:width].ljust(width, FILLER)


def _pad(text: str, width: int) -> str:
    if len(text) > width:
        raise ValueError(f"{text!r} does not fit in {width} characters")
    return text.ljust(width, FILLER)


def _yymmdd(value: date | None) -> str:
    return value.strftime("%y%m%d") if value else FILLER * 6


def _digit(value: str) -> str:
    return str(check_digit(value))


def build(
    fields: DocumentFields,
    fmt: MrzFormat,
    *,
    optional_data: str = "",
    document_code: str | None = None,
) -> list[str]:
    """Lines of an MRZ for ``fields``, with correct check digits (the simulator's documents).
    Names are reduced to the MRZ alphabet and truncated to fit; a number or optional data
    that does not fit raises ``ValueError``."""
    layout = LAYOUTS[fmt]
    if document_code is None:
        document_code = {
            MrzFormat.TD3: "P",
            MrzFormat.MRVA: "V",
            MrzFormat.MRVB: "V",
        }.get(fmt, "IR" if fields.document_kind is DocumentKind.residence_permit else "I")
    code = _pad(_mrz_text(document_code), 2)
    issuer = _pad(_mrz_text(fields.issuing_country or ""), 3)
    nationality = _pad(_mrz_text(fields.nationality or ""), 3)
    number = _mrz_text(fields.document_number or "").replace(FILLER, "")
    optional = _mrz_text(optional_data)
    birth, expiry = _yymmdd(fields.birth_date), _yymmdd(fields.expiry_date)
    sex = fields.sex if fields.sex in ("M", "F", "X") else FILLER
    if not number:
        raise ValueError("a document number is needed")
    if fmt is MrzFormat.TD1:
        if len(number) <= 9:
            first = _pad(number, 9) + _digit(_pad(number, 9)) + _pad(optional, 15)
        else:
            tail = number[9:] + _digit(number) + FILLER + optional
            first = number[:9] + FILLER + _pad(tail, 15)
        line1 = code + issuer + first
        line2 = birth + _digit(birth) + sex + expiry + _digit(expiry) + nationality
        line2 += FILLER * 11
        composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
        line2 += _digit(composite)
        line3 = _name_field(fields.surname, fields.given_names, 30)
        lines = [line1, line2, line3]
    else:
        width = layout.length
        line1 = code + issuer + _name_field(fields.surname, fields.given_names, width - 5)
        opt_width = {MrzFormat.TD2: 7, MrzFormat.TD3: 14, MrzFormat.MRVA: 16, MrzFormat.MRVB: 8}
        size = opt_width[fmt]
        if len(number) <= 9:
            head = _pad(number, 9) + _digit(_pad(number, 9))
            optional_field = _pad(optional, size)
        elif fmt is MrzFormat.TD2:
            head = number[:9] + FILLER
            optional_field = _pad(number[9:] + _digit(number) + FILLER + optional, size)
        else:
            raise ValueError(f"a {fmt.value} document number has at most 9 characters")
        line2 = head + nationality + birth + _digit(birth) + sex + expiry + _digit(expiry)
        line2 += optional_field
        if fmt is MrzFormat.TD3:
            line2 += _digit(optional_field) if optional.strip(FILLER) else FILLER
        if fmt in (MrzFormat.TD2, MrzFormat.TD3):
            line2 += _digit(line2[0:10] + line2[13:20] + line2[21:])
        lines = [line1, line2]
    for line in lines:
        if len(line) != layout.length or set(line) - CHARSET:
            raise ValueError(f"could not build a {fmt.value} line from these fields: {line!r}")
    return lines
