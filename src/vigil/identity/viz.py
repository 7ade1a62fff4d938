"""The visual inspection zone: the printed fields of a document, read from OCR lines, and
compared with what the MRZ or the barcode says.

Check digits do not prove an MRZ read is right, and a barcode can be reprinted on a forged
card; the printed zone is the independent witness. ``extract`` reads labelled fields (labels
in English, Spanish, Portuguese, French, German, Italian and Dutch, and the numbered fields
of US licenses: "4d DLN", "1 LN", "3 DOB"...), the value either after the label on the same
line or on the line below it. ``compare`` looks for the reference's values in the printed
text.

Invariants:

- Lines that look like an MRZ are never used: the MRZ cannot confirm itself. A line is taken
  for an MRZ line (``is_mrz_line``) after ``mrz.normalize_line``, whatever the OCR made of
  its fillers (``<``, guillemets U+00AB and U+2039, hiragana ku U+304F, full-width U+FF1C...
  or blanks): any filler look-alike; or, each blank taken for a filler, a line of the MRZ
  alphabet only, at most an MRZ line long (48), with two blanks in a row, a run of 16+
  characters mixing digits and letters (28+ with a digit), or a document code and a known
  country at its start (``P<ESP``, ``I<UTO``).
- ``compare`` says ``differs`` only when a labelled printed value contradicts the reference
  AND the reference's value is printed nowhere else on the document; ``agrees`` when the
  value is printed (labelled or anywhere, in any date form or transliteration); otherwise
  ``not_found``. A tampered field is what ``differs`` catches; an unread one is
  ``not_found``, never a contradiction.
- Document numbers agree up to the OCR's letter/digit confusions (O/0, I/1, S/5, B/8,
  Z/2, D/0...), except at the characters the MRZ reader repaired (``exact_number``): those
  are the confusions a check-digit repair undoes, so folding them would let the visual
  zone "confirm" a repair it never saw. There only the same character agrees, and the
  number printed with the replaced character ``differs``.
- Names keep their printed spelling in ``extract`` (upper case, accents kept); comparisons
  go through ``names.transliterate`` (both ICAO forms).
- Only the MRZ or the barcode cuts a name, and a prefix agrees only when the reference is
  known to be cut (``truncated``, else ``names.mrz_truncated``). Never otherwise: a name
  that is the start of the other ("BEATRI" / "BEATRIZ") is no fuzzy agreement, whichever
  side is the shorter.
- A label is never a value. Bilingual and trilingual labels ("Apelido / Surname",
  "Name / Surname / Nom"), plural marks ("NOME(S)") and labels the OCR misread ("Sumame",
  "Date of blrth") are all labels: besides the exact phrases, each piece of a line between
  separators (``/ | :``) is matched against every label phrase in its OCR-normalised form
  (``ocr_form``: ``RN`` -> ``M``, ``0`` -> ``O``...), with at most one edit in a phrase of
  6-13 letters and two from 14, none below 6; phrases under 3 letters ("LN") only exactly.
  A field whose label is followed by nothing but labels takes its value from the line below.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from vigil.identity import dates, mrz, names
from vigil.identity.ocr import OcrLine
from vigil.identity.types import DocumentFields, DocumentKind

# Labels, upper case without accents. Longest first is handled when compiling.
LABELS: dict[str, tuple[str, ...]] = {
    "surname": (
        "SURNAME", "SURNAMES", "FAMILY NAME", "LAST NAME", "NOM", "NOM DE FAMILLE",
        "APELLIDOS", "APELLIDO", "PRIMER APELLIDO", "SEGUNDO APELLIDO", "APELIDO", "APELIDOS",
        "SOBRENOME", "NACHNAME", "FAMILIENNAME", "COGNOME", "ACHTERNAAM", "GESLACHTSNAAM",
        "NAAM", "1 LN", "LN",
    ),
    "given_names": (
        "GIVEN NAMES", "GIVEN NAME", "FIRST NAME", "FIRST NAMES", "FORENAMES", "FORENAME",
        "PRENOMS", "PRENOM", "NOMBRES", "NOMBRE", "NOME", "NOMES", "PRENOMES", "VORNAMEN",
        "VORNAME", "VOORNAMEN", "VOORNAAM", "2 FN", "FN",
    ),
    "birth_date": (
        "DATE OF BIRTH", "BIRTH DATE", "DATE OF BIRTH/DATE DE NAISSANCE", "DOB", "3 DOB",
        "DATE DE NAISSANCE", "DATE DE NAISS", "NE LE", "NEE LE", "FECHA DE NACIMIENTO",
        "FECHA NACIMIENTO", "DATA DE NASCIMENTO", "NASCIMENTO", "GEBURTSDATUM", "GEBURTSTAG",
        "GEBOREN AM", "DATA DI NASCITA", "LUOGO E DATA DI NASCITA", "PLACE AND DATE OF BIRTH",
        "GEBOORTEDATUM",
    ),
    "expiry_date": (
        "DATE OF EXPIRY", "EXPIRY DATE", "EXPIRY", "EXPIRES", "EXPIRATION", "EXP", "4B EXP",
        "DATE D EXPIRATION", "DATE D'EXPIRATION", "DATE D EXPIR", "VALABLE JUSQU AU",
        "FECHA DE CADUCIDAD", "CADUCIDAD", "VALIDO HASTA", "VALIDEZ", "VALIDO ATE",
        "DATA DE VALIDADE", "VALIDADE", "GULTIG BIS", "GUELTIG BIS", "ABLAUFDATUM",
        "DATA DI SCADENZA", "SCADENZA", "GELDIG TOT", "VERVALDATUM",
    ),
    "issue_date": (
        "DATE OF ISSUE", "ISSUE DATE", "ISSUED", "ISS", "4A ISS", "DATE DE DELIVRANCE",
        "DELIVRE LE", "FECHA DE EXPEDICION", "FECHA DE EMISION", "EXPEDICION", "EMISION",
        "DATA DE EMISSAO", "EMISSAO", "AUSSTELLUNGSDATUM", "DATA DI RILASCIO", "RILASCIO",
        "DATA DI EMISSIONE", "EMISSIONE", "DATUM VAN AFGIFTE", "AFGIFTE",
    ),
    "document_number": (
        "PASSPORT NO", "PASSPORT NUMBER", "DOCUMENT NO", "DOCUMENT NUMBER", "CARD NO",
        "CARD NUMBER", "ID NO", "LICENSE NO", "LICENCE NO", "LIC NO", "DL NO", "DLN", "4D DLN",
        "NO DU PASSEPORT", "NO DU DOCUMENT", "PASAPORTE NO", "PASAPORTE N O", "NUM SOPORTE",
        "NUM DOCUMENTO", "NUMERO", "N O DOCUMENTO", "PASSAPORTE N O", "PASSAPORTE NO",
        "N DOCUMENTO", "NO DOCUMENTO", "DOCUMENTNUMMER", "PASSNUMMER", "AUSWEISNUMMER",
        "NUMERO DOCUMENTO", "PASSAPORTO N", "PASPOORTNUMMER", "N DU DOCUMENT",
    ),
    "sex": ("SEX", "SEXE", "SEXO", "GESCHLECHT", "SESSO", "GESLACHT", "15 SEX"),
    "nationality": (
        "NATIONALITY", "NATIONALITE", "NACIONALIDAD", "NACIONALIDADE", "STAATSANGEHORIGKEIT",
        "CITTADINANZA", "NAZIONALITA", "NATIONALITEIT",
    ),
}  # fmt: skip
# Labels that are not fields but take the line below (so their value is not taken for one).
# "NAME" is the German, Italian and Spanish cards' second label ("Name / Surname / Nom",
# "Nome / Name", "Nombre / Name"): only a label, never a field of its own.
OTHER_LABELS = (
    "TYPE", "TIPO", "CODE", "CODIGO", "AUTHORITY", "AUTORIDAD", "AUTORIDADE", "ADDRESS",
    "DOMICILIO", "MORADA", "PLACE OF BIRTH", "LUGAR DE NACIMIENTO", "LOCAL DE NASCIMENTO",
    "LIEU DE NAISSANCE", "GEBURTSORT", "GEBOORTEPLAATS", "LUOGO DI NASCITA", "CLASS",
    "9 CLASS", "8 ADDRESS", "SIGNATURE", "ASSINATURA", "FIRMA", "UNTERSCHRIFT",
    "HANDTEKENING", "NAME", "NAME AT BIRTH", "GEBURTSNAME", "HEIGHT", "ALTURA", "TAILLE",
    "GROSSE", "STATURA", "LENGTE", "PARENTS", "FILIACAO", "NATURALIDADE", "PERSONAL NO",
    "PERSOONSNUMMER", "ISSUING AUTHORITY", "BEHORDE", "AUTORITE", "AUTORITA",
)  # fmt: skip
SEX_VALUES = {
    "M": "M", "F": "F", "X": "X", "MALE": "M", "FEMALE": "F", "MASCULINO": "M",
    "FEMENINO": "F", "FEMININO": "F", "MASCULIN": "M", "FEMININ": "F", "MANNLICH": "M",
    "WEIBLICH": "F", "W": "F", "V": "F", "D": "X", "H": "M", "MASCHILE": "M",
    "FEMMINILE": "F", "MAN": "M", "VROUW": "F",
}  # fmt: skip
DATE_FIELDS = ("birth_date", "expiry_date", "issue_date")
NAME_FIELDS = ("surname", "given_names")

# The longest MRZ line (TD3, MRV-A: 44), with room for a filler or two read twice.
_MRZ_MAX_LENGTH = 48
_MRZ_RUN = re.compile(r"^(?=.*[0-9])(?:(?=.*[A-Z]).{16,}|.{28,})$")
_DOCUMENT_CODE = re.compile(r"^[ACIPV]([A-Z<])([A-Z<]{3})")
# OCR confusions between letters and digits, for comparing document numbers.
_SHAPES = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "S": "5",
                         "B": "8", "Z": "2", "G": "6"})  # fmt: skip


def _label_pattern(phrases: Sequence[str]) -> str:
    parts = []
    for phrase in sorted(phrases, key=len, reverse=True):
        words = [re.escape(w) for w in re.split(r"[\s']+", phrase)]
        parts.append(r"[\s.'/º°]*".join(words))
    return r"(?<![A-Z0-9])(?:" + "|".join(parts) + r")\.?(?![A-Z0-9])"


_FIELD_LABEL = {key: re.compile(_label_pattern(phrases)) for key, phrases in LABELS.items()}
_OTHER_LABEL = re.compile(_label_pattern(OTHER_LABELS))

# A plural mark printed after a label word ("APELIDO(S)", "NOME(S)", "VORNAME(N)").
_PLURAL = re.compile(r"(?<=[A-Z])\((?:S|ES|N|EN)\)")
# The OCR's common confusions in printed labels, each pair read as one form.
_OCR_CHARS = str.maketrans({"0": "O", "1": "I", "L": "I", "|": "I", "5": "S", "8": "B", "6": "G"})
_PIECE_SEPARATORS = re.compile(r"[/|:]")
_WORD = re.compile(r"[A-Z0-9|]+")
# The longest label in words ("DATE OF BIRTH/DATE DE NAISSANCE" is split at its "/").
_MAX_LABEL_WORDS = 6


def ocr_form(text: str) -> str:
    """The letters of a folded text in one form for the confusions an OCR makes in printed
    labels ("SUMAME" and "SURNAME" both give ``SUMAME``, "N0" and "NO" give ``NO``)."""
    letters = re.sub(r"[^A-Z0-9|]", "", text).translate(_OCR_CHARS)
    return letters.replace("RN", "M").replace("VV", "W")


_LABEL_FORMS: dict[str, str] = {}
for _key, _phrases in (*LABELS.items(), ("other", OTHER_LABELS)):
    for _phrase in _phrases:
        _LABEL_FORMS.setdefault(ocr_form(_phrase), _key)
_FUZZY_FORMS = sorted((form for form in _LABEL_FORMS if len(form) >= 6), key=len, reverse=True)


def _edits_allowed(length: int) -> int:
    # One misread letter in a label of 6-13 letters, two from 14 ("FECHA DE NACIMIENTO");
    # shorter labels ("NOM", "SEXO") only in their exact OCR form.
    return 0 if length < 6 else 1 if length < 14 else 2


def _label_form(text: str) -> str | None:
    """The field (or ``other``) whose label ``text`` is, read with OCR noise, else None."""
    raw = re.sub(r"[^A-Z0-9]", "", text)
    letters = sum(c.isalpha() for c in raw)
    # Numbers and codes are values, whatever letters their digits look like.
    if letters < 2 or letters <= len(raw) - letters:
        return None
    form = ocr_form(text)
    if len(form) < 3:
        return None
    if form in _LABEL_FORMS:
        return _LABEL_FORMS[form]
    for label in _FUZZY_FORMS:
        allowed = _edits_allowed(len(label))
        if abs(len(label) - len(form)) > allowed:
            continue
        if Levenshtein.distance(form, label, score_cutoff=allowed) <= allowed:
            return _LABEL_FORMS[label]
    return None


def _noisy_labels(norm: str) -> list[tuple[str, int, int]]:
    """Labels as the OCR printed them: in each piece of the line between separators, the
    leading words that read as a label (``_label_form``), one label after another. A piece
    read whole wins over a shorter exact phrase inside it ("GLVEN NAME": not "NAME")."""
    found: list[tuple[str, int, int]] = []
    cursor = 0
    for sep in [*_PIECE_SEPARATORS.finditer(norm), None]:
        piece_end = sep.start() if sep is not None else len(norm)
        words = list(_WORD.finditer(norm, cursor, piece_end))
        i = 0
        while i < len(words):
            match = None
            for j in range(min(len(words), i + _MAX_LABEL_WORDS), i, -1):
                key = _label_form(norm[words[i].start() : words[j - 1].end()])
                if key is not None:
                    match = (key, words[i].start(), words[j - 1].end())
                    break
            if match is None:
                break
            found.append(match)
            i = j
        cursor = sep.end() if sep is not None else len(norm)
    return found


def is_mrz_line(text: str) -> bool:
    """Whether an OCR line is (part of) a machine-readable zone, whatever the OCR made of its
    fillers (see the module's invariants)."""
    upper = unicodedata.normalize("NFKC", text).strip().upper()
    if mrz.FILLER in mrz.normalize_line(upper):  # "<" or a look-alike of it
        return True
    # Fillers read as blanks: each blank is a filler.
    filled = mrz.normalize_line(re.sub(r"\s", mrz.FILLER, upper))
    if not filled or not set(filled) <= mrz.CHARSET or len(filled) > _MRZ_MAX_LENGTH:
        return False
    if mrz.FILLER * 2 in filled:
        return True
    if any(_MRZ_RUN.match(run) for run in filled.split(mrz.FILLER)):
        return True
    code = _DOCUMENT_CODE.match(filled)
    if code is None or not mrz.known_country(code.group(2)):
        return False
    first = filled.split(mrz.FILLER, 1)[0]
    return code.group(1) == mrz.FILLER or len(first) >= 12 or any(c.isdigit() for c in filled)


@dataclass
class _Line:
    text: str
    norm: str
    box: tuple[float, float, float, float]
    labels: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def height(self) -> float:
        return max(1.0, self.box[3] - self.box[1])


def _prepare(lines: Sequence[OcrLine]) -> list[_Line]:
    out = []
    for line in lines:
        text = line.text.strip()
        if not text or is_mrz_line(text):
            continue
        # Plural marks blanked (same length: positions stay those of the text).
        norm = _PLURAL.sub(lambda m: " " * len(m.group()), names.fold(text))
        x0, y0, x1, y1 = (float(v) for v in line.box)
        item = _Line(text, norm, (x0, y0, x1, y1))
        for key, pattern in _FIELD_LABEL.items():
            item.labels.extend((key, m.start(), m.end()) for m in pattern.finditer(norm))
        item.labels.extend(("other", m.start(), m.end()) for m in _OTHER_LABEL.finditer(norm))
        item.labels = _drop_overlaps(item.labels + _noisy_labels(norm))
        out.append(item)
    return out


def _drop_overlaps(labels: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    kept: list[tuple[str, int, int]] = []
    for label in sorted(labels, key=lambda x: (x[1], -(x[2] - x[1]))):
        if kept and label[1] < kept[-1][2]:
            continue
        kept.append(label)
    return kept


def _residue(line: _Line) -> str:
    """The line without its labels and the separators between them."""
    text = line.norm
    for _, start, end in sorted(line.labels, key=lambda x: -x[1]):
        text = text[:start] + " " + text[end:]
    return text.strip(" /:.-|,")


def _below(lines: list[_Line], label: _Line) -> _Line | None:
    """The nearest line under ``label`` that overlaps it horizontally and carries no label."""
    best: tuple[float, float, _Line] | None = None
    x0, y0, x1, y1 = label.box
    for other in lines:
        if other is label or other.box[1] < y0 + 0.5 * label.height:
            continue
        gap = other.box[1] - y1
        if gap > 3.0 * label.height:
            continue
        overlap = min(x1, other.box[2]) - max(x0, other.box[0])
        if overlap <= 0 and abs(other.box[0] - x0) > 2 * label.height:
            continue
        if other.labels and not _residue(other):
            continue
        key = (gap, abs(other.box[0] - x0), other)
        if best is None or key[:2] < best[:2]:
            best = key
    return best[2] if best else None


def _raw_values(lines: list[_Line]) -> dict[str, str]:
    """Field -> the printed text of its value (first labelled occurrence wins)."""
    values: dict[str, str] = {}
    for line in lines:
        field_labels = [lab for lab in line.labels if lab[0] != "other"]
        if not field_labels:
            continue
        kinds = {lab[0] for lab in field_labels}
        ordered = sorted(line.labels, key=lambda x: x[1])
        if len(kinds) == 1:
            key = field_labels[0][0]
            value = _residue(line)
            if not value or len(re.sub(r"[^A-Z0-9]", "", value)) == 0:
                below = _below(lines, line)
                value = below.text if below is not None else ""
            if value and key not in values:
                values[key] = value
            continue
        # Several labels on one line: each takes the text up to the next label.
        for index, (key, _, end) in enumerate(ordered):
            stop = ordered[index + 1][1] if index + 1 < len(ordered) else len(line.norm)
            value = line.norm[end:stop].strip(" /:.-|,")
            if key != "other" and value and key not in values:
                values[key] = value
    return values


def _name_value(text: str) -> str | None:
    cleaned = re.sub(r"[^A-Za-zÀ-ÿĀ-žА-я' \-]", " ", text)
    cleaned = " ".join(cleaned.split()).upper()
    return cleaned if sum(c.isalpha() for c in cleaned) >= 2 else None


def _number_value(text: str) -> str | None:
    tokens = re.findall(r"[A-Z0-9]+", names.fold(text))
    if not tokens:
        return None
    joined = "".join(tokens)
    if 5 <= len(joined) <= 20 and any(c.isdigit() for c in joined):
        return joined
    longest = max(tokens, key=len)
    return longest if len(longest) >= 5 and any(c.isdigit() for c in longest) else None


def _sex_value(text: str) -> str | None:
    for token in re.split(r"[\s/|,.]+", names.fold(text)):
        if token in SEX_VALUES:
            return SEX_VALUES[token]
    return None


def _order(kind: DocumentKind | None) -> str | None:
    # US licenses print MM/DD/YYYY; everything else here is day first.
    return "MDY" if kind is DocumentKind.driver_license else None


def extract(lines: Sequence[OcrLine], *, kind: DocumentKind | None = None) -> DocumentFields:
    prepared = _prepare(lines)
    raw = _raw_values(prepared)
    order = _order(kind)
    out = DocumentFields(source="viz", document_kind=kind)
    if "surname" in raw:
        out.surname = _name_value(raw["surname"])
    if "given_names" in raw:
        out.given_names = _name_value(raw["given_names"])
    for key in DATE_FIELDS:
        if key in raw:
            setattr(out, key, dates.parse_date(raw[key], order=order, past=key == "birth_date"))
    if "document_number" in raw:
        out.document_number = _number_value(raw["document_number"])
    if "sex" in raw:
        out.sex = _sex_value(raw["sex"])
    if "nationality" in raw:
        code = re.search(r"\b[A-Z]{3}\b", names.fold(raw["nationality"]))
        out.nationality = code.group(0) if code else None
    return out


@dataclass
class VizComparison:
    fields: dict[str, str]  # field -> "agrees" | "differs" | "not_found"
    agrees: int
    differs: int
    evidence: dict[str, Any]  # field -> {"reference", "printed", "how"}
    extracted: DocumentFields | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": self.fields,
            "agrees": self.agrees,
            "differs": self.differs,
            "evidence": self.evidence,
        }


def _date_forms(text: str, *, today: date | None) -> list[dates.FoundDate]:
    found: list[dates.FoundDate] = []
    for order in ("DMY", "MDY", "YMD"):
        found.extend(dates.scan(text, order=order, today=today))
        found.extend(dates.scan(text, order=order, past=True, today=today))
    return found


def _same_day(found: dates.FoundDate, reference: date) -> bool:
    if found.value == reference:
        return True
    # A two-digit year printed: the century is the reader's guess, not the document's.
    return (
        found.two_digit_year
        and (found.value.month, found.value.day)
        == (
            reference.month,
            reference.day,
        )
        and found.value.year % 100 == reference.year % 100
    )


def _compare_date(
    lines: list[_Line], raw: str | None, reference: date, *, today: date | None
) -> tuple[str, str | None, str]:
    if raw is not None:
        forms = _date_forms(raw, today=today)
        if any(_same_day(f, reference) for f in forms):
            return "agrees", raw, "labelled"
    for line in lines:
        if any(_same_day(f, reference) for f in _date_forms(line.norm, today=today)):
            return "agrees", line.text, "anywhere"
    if raw is not None and _date_forms(raw, today=today):
        return "differs", raw, "labelled"
    return "not_found", raw, "none"


def _same_number(ref: str, printed: str, exact: Collection[int]) -> bool:
    """``printed`` is ``ref`` up to the OCR's letter/digit confusions, except at the indexes
    in ``exact``, which must be the very characters."""
    if len(ref) != len(printed):
        return False
    return all(
        a == b or (i not in exact and a.translate(_SHAPES) == b.translate(_SHAPES))
        for i, (a, b) in enumerate(zip(ref, printed, strict=True))
    )


def _number_in(line: _Line, ref: str, exact: Collection[int]) -> bool:
    tokens = re.findall(r"[A-Z0-9]+", line.norm)
    if any(_same_number(ref, token, exact) for token in tokens):
        return True
    if len(ref) < 6:
        return False
    compact = "".join(tokens)
    return any(
        _same_number(ref, compact[i : i + len(ref)], exact)
        for i in range(len(compact) - len(ref) + 1)
    )


def _compare_number(
    lines: list[_Line], raw: str | None, reference: str, *, exact: Collection[int] = ()
) -> tuple[str, str | None, str]:
    ref = names.compact(reference)
    if not ref:
        return "not_found", raw, "none"
    for line in lines:
        if _number_in(line, ref, exact):
            return "agrees", line.text, "anywhere"
    if exact:
        # Printed with the very confusion the MRZ's repair undid: the printed number shows
        # the character the repair replaced, so it contradicts the repaired read.
        for line in lines:
            if _number_in(line, ref, ()):
                return "differs", line.text, "repaired_character_differs"
    printed = _number_value(raw) if raw is not None else None
    if printed is not None:
        return "differs", raw, "labelled"
    return "not_found", raw, "none"


# A truncated name's last word is matched as a prefix of a printed word only from this length:
# "AN" or "LI" would be a prefix of half the words printed on a card ("ANDORRA", "LIBERTY").
PREFIX_MIN = 4


def _words_present(ref_words: list[str], line_words: list[str], *, truncated: bool) -> bool:
    """Every reference word printed as a whole word; when the name is known to be cut
    (``truncated``), its last word may be the start of a printed word of 4+ letters."""
    if not ref_words:
        return False
    for index, word in enumerate(ref_words):
        last = index == len(ref_words) - 1
        if word in line_words:
            continue
        if (
            truncated
            and last
            and len(word) >= PREFIX_MIN
            and any(w.startswith(word) for w in line_words)
        ):
            continue
        return False
    return True


def _one_starts_the_other(a: str, b: str) -> bool:
    return a != b and (a.startswith(b) or b.startswith(a))


def _compare_name(
    lines: list[_Line], raw: str | None, reference: str, *, truncated: bool
) -> tuple[str, str | None, str]:
    ref_forms = [form.split() for form in names.variants(reference) if form]
    if not ref_forms:
        return "not_found", raw, "none"
    for line in lines:
        for line_form in names.variants(line.text):
            words = line_form.split()
            if any(_words_present(ref, words, truncated=truncated) for ref in ref_forms):
                return "agrees", line.text, "anywhere"
    if raw is not None:
        printed_forms = [p for p in names.variants(raw) if p]
        joined_forms = [" ".join(ref) for ref in ref_forms]
        # The labelled value goes on where the reference stops: a cut reference agrees, a
        # full-length one does not (the printed zone has the room a name needs; the MRZ
        # and the barcode cut it, and then say so, see ``compare``'s ``truncated``).
        if truncated and any(p.startswith(j) for j in joined_forms for p in printed_forms):
            return "agrees", raw, "labelled_truncated"
        # One or two characters misread in a long name. A name that is the other's start
        # ("BEATRI" / "BEATRIZ") is no misread but another name, or a cut one (handled
        # above): left to the fuzzy score, one letter more or less would pass.
        score = max(
            (
                fuzz.ratio(j, p)
                for j in joined_forms
                for p in printed_forms
                if not _one_starts_the_other(j, p)
            ),
            default=0.0,
        )
        if score >= 85:
            return "agrees", raw, "labelled_fuzzy"
        if printed_forms:
            return "differs", raw, "labelled"
    return "not_found", raw, "none"


def compare(
    lines: Sequence[OcrLine],
    reference: DocumentFields,
    *,
    today: date | None = None,
    truncated: bool | None = None,
    exact_number: Collection[int] = (),
) -> VizComparison:
    """``truncated``: the reference's name is known to be cut (AAMVA's truncation flags);
    None tells it from the reference: an MRZ name that fills its field
    (``names.mrz_truncated``).

    ``exact_number``: indexes of the reference's document number that the MRZ reader
    repaired (``mrz.number_repairs``). The OCR confusions folded elsewhere in the number are
    the very ones a repair undoes, so at those indexes only the same character agrees: the
    printed zone then confirms the repaired characters themselves, or contradicts them."""
    if truncated is None:
        truncated = reference.source == "mrz" and names.mrz_truncated(
            reference.surname, reference.given_names
        )
    prepared = _prepare(lines)
    raw = _raw_values(prepared)
    results: dict[str, str] = {}
    evidence: dict[str, Any] = {}

    def record(key: str, outcome: tuple[str, str | None, str], ref: object) -> None:
        results[key] = outcome[0]
        evidence[key] = {
            "reference": ref.isoformat() if isinstance(ref, date) else ref,
            "printed": outcome[1],
            "how": outcome[2],
        }

    if reference.document_number:
        outcome = _compare_number(
            prepared,
            raw.get("document_number"),
            reference.document_number,
            exact=frozenset(exact_number),
        )
        record("document_number", outcome, reference.document_number)
        if exact_number:
            evidence["document_number"]["exact_indexes"] = sorted(exact_number)
    for key in NAME_FIELDS:
        value = getattr(reference, key)
        if value:
            outcome = _compare_name(prepared, raw.get(key), value, truncated=truncated)
            record(key, outcome, value)
    for key in DATE_FIELDS:
        value = getattr(reference, key)
        if value is not None:
            record(key, _compare_date(prepared, raw.get(key), value, today=today), value)
    agrees = sum(1 for v in results.values() if v == "agrees")
    differs = sum(1 for v in results.values() if v == "differs")
    return VizComparison(
        fields=results,
        agrees=agrees,
        differs=differs,
        evidence=evidence,
        extracted=extract(lines, kind=reference.document_kind),
    )
