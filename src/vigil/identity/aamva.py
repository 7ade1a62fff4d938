"""AAMVA DL/ID card data (the PDF417 on the back of US and Canadian driver's licenses).

``parse`` reads a payload as the barcode gives it; ``encode`` writes one (the simulator's
documents and the tests). A payload is a header, subfile designators and subfiles::

    @ LF RS CR "ANSI " IIN(6) version(2) [jurisdiction version(2), from version 2] entries(2)
    entries x (type(2) offset(4) length(4))
    "DL" DAQ... LF DCS... LF ... CR          (then "ZV..." jurisdiction subfiles)

Invariants:

- ``parse`` raises ``AamvaError`` only when the payload is not AAMVA at all (no file type and
  IIN to be found). Anything else that is wrong (an unknown IIN, a date that does not parse, a
  missing mandatory element, a country that is not the IIN's) is listed in
  ``AamvaResult.errors``; deviations that real, genuine cards show (control characters
  stripped from the header by the scanner, subfile offsets that do not add up, "ANSI" without
  its space, an address in another state than the issuer's: people move) are ``warnings``
  and change no field. Federal issuers (``FEDERAL_IINS``: the Department of State) have no
  state of their own: any address state matches them.
- Dates follow the version's format: CCYYMMDD for version 1 (AAMVA DL/ID-2000) and for
  Canada, MMDDCCYY for the United States from version 2 on. A date that only parses in the
  other format is accepted with a warning (several jurisdictions shipped that way).
- ``encode`` output always round-trips through ``parse`` with no errors and no warnings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from vigil.identity.types import DocumentFields, DocumentKind

STANDARD_HEADER = "@\n\x1e\rANSI "
LATEST_VERSION = 10

# Issuers that are not a place: their cards carry the holder's address in any state.
FEDERAL_IINS: frozenset[str] = frozenset({"636027"})  # U.S. Department of State ("DS")

# Issuer Identification Numbers (AAMVA's registry): IIN -> (jurisdiction, name, country).
IIN_JURISDICTIONS: dict[str, tuple[str, str, str]] = {
    "636000": ("VA", "Virginia", "USA"),
    "636001": ("NY", "New York", "USA"),
    "636002": ("MA", "Massachusetts", "USA"),
    "636003": ("MD", "Maryland", "USA"),
    "636004": ("NC", "North Carolina", "USA"),
    "636005": ("SC", "South Carolina", "USA"),
    "636006": ("CT", "Connecticut", "USA"),
    "636007": ("LA", "Louisiana", "USA"),
    "636008": ("MT", "Montana", "USA"),
    "636009": ("NM", "New Mexico", "USA"),
    "636010": ("FL", "Florida", "USA"),
    "636011": ("DE", "Delaware", "USA"),
    "636012": ("ON", "Ontario", "CAN"),
    "636013": ("NS", "Nova Scotia", "CAN"),
    "636014": ("CA", "California", "USA"),
    "636015": ("TX", "Texas", "USA"),
    "636016": ("NL", "Newfoundland and Labrador", "CAN"),
    "636017": ("NB", "New Brunswick", "CAN"),
    "636018": ("IA", "Iowa", "USA"),
    "636019": ("GU", "Guam", "USA"),
    "636020": ("CO", "Colorado", "USA"),
    "636021": ("AR", "Arkansas", "USA"),
    "636022": ("KS", "Kansas", "USA"),
    "636023": ("OH", "Ohio", "USA"),
    "636024": ("VT", "Vermont", "USA"),
    "636025": ("PA", "Pennsylvania", "USA"),
    "636026": ("AZ", "Arizona", "USA"),
    "636027": ("DS", "U.S. Department of State", "USA"),
    "636028": ("BC", "British Columbia", "CAN"),
    "636029": ("OR", "Oregon", "USA"),
    "636030": ("MO", "Missouri", "USA"),
    "636031": ("WI", "Wisconsin", "USA"),
    "636032": ("MI", "Michigan", "USA"),
    "636033": ("AL", "Alabama", "USA"),
    "636034": ("ND", "North Dakota", "USA"),
    "636035": ("IL", "Illinois", "USA"),
    "636036": ("NJ", "New Jersey", "USA"),
    "636037": ("IN", "Indiana", "USA"),
    "636038": ("MN", "Minnesota", "USA"),
    "636039": ("NH", "New Hampshire", "USA"),
    "636040": ("UT", "Utah", "USA"),
    "636041": ("ME", "Maine", "USA"),
    "636042": ("SD", "South Dakota", "USA"),
    "636043": ("DC", "District of Columbia", "USA"),
    "636044": ("SK", "Saskatchewan", "CAN"),
    "636045": ("WA", "Washington", "USA"),
    "636046": ("KY", "Kentucky", "USA"),
    "636047": ("HI", "Hawaii", "USA"),
    "636048": ("MB", "Manitoba", "CAN"),
    "636049": ("NV", "Nevada", "USA"),
    "636050": ("ID", "Idaho", "USA"),
    "636051": ("MS", "Mississippi", "USA"),
    "636052": ("RI", "Rhode Island", "USA"),
    "636053": ("TN", "Tennessee", "USA"),
    "636054": ("NE", "Nebraska", "USA"),
    "636055": ("GA", "Georgia", "USA"),
    "636056": ("CU", "Coahuila", "MEX"),
    "636057": ("HL", "Hidalgo", "MEX"),
    "636058": ("OK", "Oklahoma", "USA"),
    "636059": ("AK", "Alaska", "USA"),
    "636060": ("WY", "Wyoming", "USA"),
    "636061": ("WV", "West Virginia", "USA"),
    "636062": ("VI", "U.S. Virgin Islands", "USA"),
    "604426": ("PE", "Prince Edward Island", "CAN"),
    "604427": ("AS", "American Samoa", "USA"),
    "604428": ("QC", "Quebec", "CAN"),
    "604429": ("YT", "Yukon", "CAN"),
    "604430": ("MP", "Northern Mariana Islands", "USA"),
    "604431": ("PR", "Puerto Rico", "USA"),
    "604432": ("AB", "Alberta", "CAN"),
    "604433": ("NU", "Nunavut", "CAN"),
    "604434": ("NT", "Northwest Territories", "CAN"),
}
JURISDICTION_IIN: dict[str, str] = {code: iin for iin, (code, _, _) in IIN_JURISDICTIONS.items()}

# Data elements (AAMVA DL/ID Card Design Standard, versions 1 to 10): ID -> meaning.
ELEMENTS: dict[str, str] = {
    "DAA": "Full name (version 1)",
    "DAB": "Family name (version 1)",
    "DAC": "First name",
    "DAD": "Middle name(s)",
    "DAE": "Name suffix (version 1)",
    "DAF": "Name prefix (version 1)",
    "DAG": "Address: street 1",
    "DAH": "Address: street 2",
    "DAI": "Address: city",
    "DAJ": "Address: jurisdiction code",
    "DAK": "Address: postal code",
    "DAL": "Residence street 1 (version 1)",
    "DAM": "Residence street 2 (version 1)",
    "DAN": "Residence city (version 1)",
    "DAO": "Residence jurisdiction (version 1)",
    "DAP": "Residence postal code (version 1)",
    "DAQ": "Customer ID number (license number)",
    "DAR": "License classification (version 1)",
    "DAS": "License restrictions (version 1)",
    "DAT": "License endorsements (version 1)",
    "DAU": "Height",
    "DAV": "Height in centimetres (version 1)",
    "DAW": "Weight in pounds",
    "DAX": "Weight in kilograms",
    "DAY": "Eye colour",
    "DAZ": "Hair colour",
    "DBA": "Document expiration date",
    "DBB": "Date of birth",
    "DBC": "Sex (1 male, 2 female, 9 not specified)",
    "DBD": "Document issue date",
    "DBE": "Issue timestamp (version 1)",
    "DBF": "Number of duplicates (version 1)",
    "DBG": "Alias given name",
    "DBH": "Organ donor (version 1)",
    "DBI": "Non-resident indicator (version 1)",
    "DBJ": "Unique customer identifier (version 1)",
    "DBK": "Social security number (version 1)",
    "DBL": "Date of birth (version 1, alternative)",
    "DBM": "Social security number (version 1, alternative)",
    "DBN": "Alias family name",
    "DBO": "Alias last name (version 1)",
    "DBP": "Alias first name (version 1)",
    "DBQ": "Alias middle name (version 1)",
    "DBR": "Alias suffix (version 1)",
    "DBS": "Alias suffix",
    "DCA": "Jurisdiction-specific vehicle class",
    "DCB": "Jurisdiction-specific restriction codes",
    "DCD": "Jurisdiction-specific endorsement codes",
    "DCE": "Weight range",
    "DCF": "Document discriminator",
    "DCG": "Country identification",
    "DCH": "Federal commercial vehicle codes",
    "DCI": "Place of birth",
    "DCJ": "Audit information",
    "DCK": "Inventory control number",
    "DCL": "Race / ethnicity",
    "DCM": "Standard vehicle classification",
    "DCN": "Standard endorsement code",
    "DCO": "Standard restriction code",
    "DCP": "Vehicle classification description",
    "DCQ": "Endorsement code description",
    "DCR": "Restriction code description",
    "DCS": "Family name",
    "DCT": "Given names (versions 2 and 3)",
    "DCU": "Name suffix",
    "DDA": "Compliance type (F: fully compliant, N: non-compliant)",
    "DDB": "Card revision date",
    "DDC": "HAZMAT endorsement expiration date",
    "DDD": "Limited duration document (1: yes)",
    "DDE": "Family name truncation (T truncated, N not, U unknown)",
    "DDF": "First name truncation (T truncated, N not, U unknown)",
    "DDG": "Middle name truncation (T truncated, N not, U unknown)",
    "DDH": "Under 18 until",
    "DDI": "Under 19 until",
    "DDJ": "Under 21 until",
    "DDK": "Organ donor indicator",
    "DDL": "Veteran indicator",
}
DATE_ELEMENTS = frozenset({"DBA", "DBB", "DBD", "DDB", "DDC", "DDH", "DDI", "DDJ", "DBL"})
SUBFILE_TYPES = {"DL": DocumentKind.driver_license, "ID": DocumentKind.id_card}
SEX_CODES = {"1": "M", "2": "F", "9": "X", "M": "M", "F": "F", "X": "X"}
TRUNCATION_ELEMENTS = {"DDE": "family", "DDF": "first", "DDG": "middle"}
# Placeholders some jurisdictions write where a name part is absent.
_EMPTY_NAMES = {"NONE", "UNAVL", "UNAVAILABLE", "NFN", "NMN"}

_FILE_TYPE = re.compile(r"(ANSI ?|AAMVA)(\d{6})(\d{2})")
_SEPARATORS = "\r\n\x1e\x1d\x1c"
_ELEMENT = re.compile(r"^([A-Z]{3})(.*)$", re.S)


class AamvaError(ValueError):
    """The payload is not an AAMVA card data payload at all."""


@dataclass
class AamvaResult:
    version: int
    iin: str
    jurisdiction: str | None
    jurisdiction_matches_iin: bool
    subfiles: list[dict[str, object]]
    elements: dict[str, str]
    fields: DocumentFields
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    jurisdiction_version: int | None = None
    header_standard: bool = True
    # "family" / "first" / "middle" -> "T" (truncated), "N" (not), "U" (unknown)
    truncation: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def truncated(self) -> bool:
        return any(flag == "T" for flag in self.truncation.values())

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "jurisdiction_version": self.jurisdiction_version,
            "iin": self.iin,
            "jurisdiction": self.jurisdiction,
            "jurisdiction_matches_iin": self.jurisdiction_matches_iin,
            "subfiles": self.subfiles,
            "elements": self.elements,
            "fields": self.fields.to_json(),
            "truncation": self.truncation,
            "errors": self.errors,
            "warnings": self.warnings,
        }


def _decode(payload: str | bytes) -> str:
    if isinstance(payload, str):
        return payload
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        # AAMVA data is ASCII; Latin-1 keeps every byte readable and the offsets intact.
        return payload.decode("latin-1")


def parse_date(value: str, fmt: str) -> date | None:
    """``fmt`` is "MMDDCCYY" or "CCYYMMDD"; None when the value is not such a date."""
    value = value.strip()
    if not re.fullmatch(r"\d{8}", value):
        return None
    if fmt == "MMDDCCYY":
        month, day, year = int(value[:2]), int(value[2:4]), int(value[4:])
    else:
        year, month, day = int(value[:4]), int(value[4:6]), int(value[6:])
    try:
        return date(year, month, day)
    except ValueError:
        return None


def date_format(version: int, country: str | None) -> str:
    if version <= 1 or country == "CAN":
        return "CCYYMMDD"
    return "MMDDCCYY"


def format_date(value: date, *, version: int = LATEST_VERSION, country: str = "USA") -> str:
    if date_format(version, country) == "CCYYMMDD":
        return value.strftime("%Y%m%d")
    return value.strftime("%m%d%Y")


def _name_part(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(value.replace(",", " ").split())
    if not cleaned or cleaned.upper() in _EMPTY_NAMES:
        return None
    return cleaned


def _names(elements: dict[str, str], warnings: list[str]) -> tuple[str | None, str | None]:
    surname = _name_part(elements.get("DCS") or elements.get("DAB"))
    first = _name_part(elements.get("DAC"))
    middle = _name_part(elements.get("DAD"))
    given: str | None = " ".join(p for p in (first, middle) if p) or None
    if given is None and "DCT" in elements:
        given = _name_part(elements["DCT"])
    if (surname is None or given is None) and "DAA" in elements:
        full = elements["DAA"]
        if "," in full:
            parts = [p.strip() for p in full.split(",")]
            surname = surname or _name_part(parts[0])
            given = given or _name_part(" ".join(parts[1:]))
        else:
            # Without commas the order is not stated; family name first is the version-1 rule.
            warnings.append("full name (DAA) without commas: read as family name first")
            tokens = full.split()
            if tokens:
                surname = surname or _name_part(tokens[0])
                given = given or _name_part(" ".join(tokens[1:]))
    return surname, given


def _find_header(text: str) -> tuple[re.Match[str], int]:
    match = _FILE_TYPE.search(text)
    if match is None:
        raise AamvaError("no AAMVA file type (ANSI or AAMVA) followed by an IIN")
    start = text.rfind("@", max(0, match.start() - 8), match.start())
    return match, start


def _locate(text: str, kind: str, *, expected: int, after: int, first: int) -> int | None:
    """Where subfile ``kind`` starts when its offset is wrong: the occurrence at the start of a
    segment (right after the designators or a separator) nearest to where the offset points,
    since scanners drop or add a few separator characters."""
    starts = [m.start() for m in re.finditer(re.escape(kind), text) if m.start() >= after]
    if not starts:
        return None
    segment = [s for s in starts if s == first or text[s - 1] in _SEPARATORS]
    return min(segment or starts, key=lambda s: (abs(s - expected), s))


def parse(payload: str | bytes) -> AamvaResult:
    text = _decode(payload)
    match, at = _find_header(text)
    errors: list[str] = []
    warnings: list[str] = []
    iin, version = match.group(2), int(match.group(3))
    pos = match.end()
    jurisdiction_version: int | None = None
    if version >= 2:
        if not re.fullmatch(r"\d{2}", text[pos : pos + 2]):
            raise AamvaError("header cut short after the AAMVA version")
        jurisdiction_version = int(text[pos : pos + 2])
        pos += 2
    if not re.fullmatch(r"\d{2}", text[pos : pos + 2]):
        raise AamvaError("header cut short before the number of entries")
    entries = int(text[pos : pos + 2])
    pos += 2
    header_standard = at >= 0 and text[at : match.start()] + match.group(1) == STANDARD_HEADER
    if not header_standard:
        warnings.append(f"non-standard header {text[max(at, 0) : match.start() + 5]!r}")
    if version > LATEST_VERSION:
        warnings.append(f"version {version} is newer than this reader ({LATEST_VERSION})")
    if version == 0:
        warnings.append("version 0: a card from before the AAMVA DL/ID-2000 standard")
    # Offsets count from the compliance indicator "@" (or where it should have been).
    origin = at if at >= 0 else max(0, match.start() - 4)

    designators: list[tuple[str, int, int]] = []
    for _ in range(entries):
        chunk = text[pos : pos + 10]
        found = re.fullmatch(r"([A-Z0-9]{2})(\d{4})(\d{4})", chunk)
        if found is None:
            errors.append(f"subfile designator {len(designators) + 1} malformed: {chunk!r}")
            break
        designators.append((found.group(1), int(found.group(2)), int(found.group(3))))
        pos += 10
    if not designators:
        # No usable designator: take any DL/ID subfile found after the header.
        for kind in ("DL", "ID"):
            start = text.find(kind, pos)
            if start >= 0:
                designators.append((kind, start - origin, 0))
                break

    subfiles: list[dict[str, object]] = []
    elements: dict[str, str] = {}
    search_from = pos
    located: list[tuple[str, int, int]] = []
    for kind, offset, length in designators:
        start = origin + offset
        if text[start : start + 2] != kind:
            found_at = _locate(text, kind, expected=start, after=search_from, first=pos)
            if found_at is None:
                errors.append(f"subfile {kind} not found")
                continue
            start = found_at
            warnings.append(f"subfile {kind} found at {start - origin}, not at offset {offset}")
        located.append((kind, start, length))
        search_from = start + 2
    for index, (kind, start, length) in enumerate(located):
        next_start = located[index + 1][1] if index + 1 < len(located) else len(text)
        end = text.find("\r", start, next_start)
        end = next_start if end < 0 else end
        body = text[start + 2 : end]
        subfiles.append({"type": kind, "offset": start - origin, "length": length})
        for line in re.split(r"[\r\n\x1e\x1d\x1c]+", body):
            line = line.strip(" ")
            if not line:
                continue
            found_element = _ELEMENT.match(line)
            if found_element is None:
                warnings.append(f"unreadable data element {line[:20]!r} in subfile {kind}")
                continue
            key, value = found_element.group(1), found_element.group(2).strip()
            if key in elements:
                warnings.append(f"element {key} repeated: first value kept")
                continue
            elements[key] = value

    iin_entry = IIN_JURISDICTIONS.get(iin)
    jurisdiction = iin_entry[0] if iin_entry else None
    if iin_entry is None:
        errors.append(f"unknown IIN {iin}")
    country = elements.get("DCG") or (iin_entry[2] if iin_entry else None)
    if iin_entry and country and country != iin_entry[2]:
        errors.append(f"country {country} (DCG) is not the IIN's ({iin_entry[2]})")
    address_jurisdiction = elements.get("DAJ") or elements.get("DAO")
    matches = iin_entry is not None and (
        iin in FEDERAL_IINS
        or address_jurisdiction is None
        or address_jurisdiction.upper() == jurisdiction
    )
    if iin_entry and not matches:
        # People move, and the mailing address may lie across a state line: worth a look in
        # the evidence, not a reason to distrust the read.
        warnings.append(
            f"address jurisdiction {address_jurisdiction} is not the IIN's ({jurisdiction})"
        )

    kinds = [s["type"] for s in subfiles]
    document_kind = next((SUBFILE_TYPES[k] for k in ("DL", "ID") if k in kinds), None)
    if document_kind is None:
        errors.append("no DL or ID subfile")

    expected = date_format(version, country)
    other = "MMDDCCYY" if expected == "CCYYMMDD" else "CCYYMMDD"
    dates: dict[str, date | None] = {}
    for key in sorted(DATE_ELEMENTS & elements.keys()):
        parsed = parse_date(elements[key], expected)
        if parsed is None:
            parsed = parse_date(elements[key], other)
            if parsed is not None:
                warnings.append(f"{key} is {other}, not {expected} as version {version} says")
            else:
                errors.append(f"{key} is not a date: {elements[key]!r}")
        dates[key] = parsed

    surname, given = _names(elements, warnings)
    sex_code = elements.get("DBC", "").strip().upper()
    sex = SEX_CODES.get(sex_code)
    if sex_code and sex is None:
        errors.append(f"unknown sex code {sex_code!r}")
    number = elements.get("DAQ") or None
    for key, label in (("DAQ", "license number"), ("DBB", "date of birth")):
        if not elements.get(key) and not (key == "DBB" and elements.get("DBL")):
            errors.append(f"missing {label} ({key})")
    if surname is None:
        errors.append("missing family name (DCS)")

    truncation = {
        part: elements[key].strip().upper()
        for key, part in TRUNCATION_ELEMENTS.items()
        if elements.get(key)
    }
    fields = DocumentFields(
        source="barcode",
        document_kind=document_kind,
        issuing_country=country,
        document_number=number,
        surname=surname,
        given_names=given,
        birth_date=dates.get("DBB") or dates.get("DBL"),
        expiry_date=dates.get("DBA"),
        issue_date=dates.get("DBD"),
        sex=sex,
        nationality=None,
    )
    return AamvaResult(
        version=version,
        iin=iin,
        jurisdiction=jurisdiction,
        jurisdiction_matches_iin=matches,
        subfiles=subfiles,
        elements=elements,
        fields=fields,
        errors=errors,
        warnings=warnings,
        jurisdiction_version=jurisdiction_version,
        header_standard=header_standard,
        truncation=truncation,
    )


def encode(
    elements: dict[str, str],
    *,
    iin: str,
    version: int = LATEST_VERSION,
    jurisdiction_version: int = 0,
    subfile: str = "DL",
) -> str:
    """A standard payload: ``elements`` in the ``subfile`` (DL or ID), in the given order;
    jurisdiction elements (``Z`` + jurisdiction letter + letter, e.g. ``ZVA``) go to their
    own subfile (``ZV``). Dates must already be in the version's format (``format_date``)."""
    if not re.fullmatch(r"\d{6}", iin):
        raise ValueError("iin must be 6 digits")
    if not 0 <= version <= 99 or not 0 <= jurisdiction_version <= 99:
        raise ValueError("version and jurisdiction_version must be 0-99")
    if subfile not in SUBFILE_TYPES:
        raise ValueError("subfile must be DL or ID")
    groups: dict[str, list[str]] = {subfile: []}
    for key, value in elements.items():
        if not re.fullmatch(r"[A-Z]{3}", key):
            raise ValueError(f"element id {key!r} is not three capital letters")
        if re.search(r"[\r\n\x1c-\x1e]", value):
            raise ValueError(f"element {key} contains a separator character")
        target = key[:2] if key.startswith("Z") else subfile
        groups.setdefault(target, []).append(f"{key}{value}")
    bodies = [kind + "\n".join(lines) + "\r" for kind, lines in groups.items()]
    header = f"{STANDARD_HEADER}{iin}{version:02d}"
    if version >= 2:
        header += f"{jurisdiction_version:02d}"
    header += f"{len(bodies):02d}"
    offset = len(header) + 10 * len(bodies)
    designators = ""
    for kind, body in zip(groups, bodies, strict=True):
        designators += f"{kind}{offset:04d}{len(body):04d}"
        offset += len(body)
    return header + designators + "".join(bodies)
