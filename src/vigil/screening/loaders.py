"""Read sanctions / PEP list files into entries: CSV (Vigil's columns) and FollowTheMoney
JSON lines (the format OpenSanctions and others publish).

Invariants:

- Loaders only read and validate; they never touch the database. A bad row raises
  ``InvalidInput`` naming the line and the field, so a load either takes the whole file or
  nothing. That includes a value longer than its column stores (``MAX_LENGTHS``, read from
  the model: an id of more than 200 characters), refused here rather than cut or failed by
  the database.
- Every entry has an id and at least one name; dates are ISO strings of the precision given
  (``1970``, ``1970-05``, ``1970-05-02``); countries are upper case as given (alpha-2 or
  alpha-3); topics are lower case (``sanction``, ``role.pep``, ``crime``...).
- FollowTheMoney: only ``Person`` entities are screened (other schemas are counted and
  skipped); ``name`` and ``alias`` / ``previousName`` are names, ``weakAlias`` is not (weak
  aliases are nicknames that match too much).

CSV columns (header row required; ``id`` and ``name`` mandatory, the others optional; several
values in one cell are separated by ``;``):

``id``, ``name``, ``aliases``, ``birth_date``, ``country``, ``topics``, ``notes``
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import String

from vigil.kit.errors import InvalidInput
from vigil.screening.models import ScreeningEntry

FORMATS: tuple[str, ...] = ("csv", "ftm")
CSV_COLUMNS: tuple[str, ...] = ("id", "name", "aliases", "birth_date", "country", "topics", "notes")
FTM_NAME_PROPERTIES: tuple[str, ...] = ("name", "alias", "previousName")

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass
class EntryData:
    entry_id: str
    names: list[str]
    birth_dates: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    line: int | None = None  # where the entry was read (its first line)


def _max_lengths() -> dict[str, int]:
    """Entry attribute -> the characters its column stores (the model's ``String(n)``)."""
    attributes = {f.name for f in dataclasses.fields(EntryData)}
    return {
        column.name: int(column.type.length)
        for column in ScreeningEntry.__table__.columns
        if column.name in attributes
        and isinstance(column.type, String)
        and column.type.length is not None
    }


MAX_LENGTHS: dict[str, int] = _max_lengths()


def check_lengths(
    entry: EntryData, where: str, *, field_names: Mapping[str, str] | None = None
) -> None:
    """Refuse (``screening_bad_row``, naming ``where`` and the field) a value longer than its
    column stores. ``field_names``: the file's name of an attribute (``entry_id`` is ``id``)."""
    for attribute, limit in MAX_LENGTHS.items():
        value = getattr(entry, attribute)
        if isinstance(value, str) and len(value) > limit:
            name = (field_names or {}).get(attribute, attribute)
            raise InvalidInput(
                f"{where}: {name} is {len(value)} characters long (at most {limit})",
                field=name,
                code="screening_bad_row",
            )


# An entry attribute's name in the files, where it differs.
FILE_FIELD_NAMES: dict[str, str] = {"entry_id": "id"}


@dataclass
class ReadResult:
    entries: list[EntryData]
    skipped: int = 0  # rows that are not people (FtM schemas other than Person)


def _split(cell: str | None) -> list[str]:
    return [v.strip() for v in (cell or "").split(";") if v.strip()]


def _dates(values: list[str], where: str) -> list[str]:
    out: list[str] = []
    for value in values:
        # FtM dates may carry a time part; only the date is kept.
        value = value.strip()[:10]
        if not _DATE.match(value):
            raise InvalidInput(
                f"{where}: birth date {value!r} is not YYYY, YYYY-MM or YYYY-MM-DD",
                field="birth_date",
                code="screening_bad_date",
            )
        out.append(value)
    return list(dict.fromkeys(out))


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def read_csv(handle: TextIO) -> ReadResult:
    """Entries of a CSV list (see the module's columns)."""
    reader = csv.DictReader(handle)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("id", "name") if c not in header]
    if missing:
        raise InvalidInput(
            f"the CSV header has no {', '.join(missing)} column",
            field=missing[0],
            code="screening_bad_header",
        )
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"unknown CSV column {unknown[0]!r} (columns: {', '.join(CSV_COLUMNS)})",
            field=unknown[0],
            code="screening_bad_header",
        )
    entries: list[EntryData] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        row = {(k or "").strip(): (v or "") for k, v in row.items() if k is not None}
        entry_id = row.get("id", "").strip()
        name = row.get("name", "").strip()
        if not entry_id:
            raise InvalidInput(f"line {line}: id is empty", field="id", code="screening_bad_row")
        if not name:
            raise InvalidInput(
                f"line {line}: name is empty", field="name", code="screening_bad_row"
            )
        if entry_id in seen:
            raise InvalidInput(
                f"line {line}: id {entry_id!r} appears twice", field="id", code="screening_bad_row"
            )
        seen.add(entry_id)
        notes = row.get("notes", "").strip()
        entry = EntryData(
            entry_id=entry_id,
            names=_unique([name, *_split(row.get("aliases"))]),
            birth_dates=_dates(_split(row.get("birth_date")), f"line {line}"),
            countries=_unique([c.upper() for c in _split(row.get("country"))]),
            topics=_unique([t.lower() for t in _split(row.get("topics"))]),
            data={"notes": notes} if notes else {},
            line=line,
        )
        check_lengths(entry, f"line {line}", field_names=FILE_FIELD_NAMES)
        entries.append(entry)
    return ReadResult(entries)


def _strings(value: Any, where: str, prop: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            f"{where}: properties.{prop} must be a list of strings",
            field=f"properties.{prop}",
            code="screening_bad_row",
        )
    return [v.strip() for v in value if v.strip()]


def read_ftm(handle: TextIO) -> ReadResult:
    """Person entities of a FollowTheMoney JSON lines file (one entity per line)."""
    entries: list[EntryData] = []
    skipped = 0
    seen: set[str] = set()
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            entity = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{where}: not JSON ({exc.msg})", field="line", code="screening_bad_row"
            ) from None
        if not isinstance(entity, dict):
            raise InvalidInput(
                f"{where}: an entity must be a JSON object", field="line", code="screening_bad_row"
            )
        if entity.get("schema") != "Person":
            skipped += 1
            continue
        entry_id = entity.get("id")
        if not isinstance(entry_id, str) or not entry_id.strip():
            raise InvalidInput(f"{where}: id is missing", field="id", code="screening_bad_row")
        props = entity.get("properties")
        if not isinstance(props, dict):
            raise InvalidInput(
                f"{where}: properties is missing", field="properties", code="screening_bad_row"
            )
        names = _unique(
            [n for prop in FTM_NAME_PROPERTIES for n in _strings(props.get(prop), where, prop)]
        )
        if not names:
            caption = entity.get("caption")
            names = [caption.strip()] if isinstance(caption, str) and caption.strip() else []
        if not names:
            raise InvalidInput(
                f"{where}: a Person needs properties.name",
                field="properties.name",
                code="screening_bad_row",
            )
        if entry_id in seen:
            raise InvalidInput(
                f"{where}: id {entry_id!r} appears twice", field="id", code="screening_bad_row"
            )
        seen.add(entry_id)
        countries = _strings(props.get("country"), where, "country") + _strings(
            props.get("nationality"), where, "nationality"
        )
        data: dict[str, Any] = {"schema": "Person"}
        datasets = entity.get("datasets")
        if isinstance(datasets, list):
            data["datasets"] = [d for d in datasets if isinstance(d, str)]
        for prop in ("position", "notes"):
            values = _strings(props.get(prop), where, prop)
            if values:
                data[prop] = values
        entry = EntryData(
            entry_id=entry_id.strip(),
            names=names,
            birth_dates=_dates(_strings(props.get("birthDate"), where, "birthDate"), where),
            countries=_unique([c.upper() for c in countries]),
            topics=_unique([t.lower() for t in _strings(props.get("topics"), where, "topics")]),
            data=data,
            line=number,
        )
        check_lengths(entry, where, field_names=FILE_FIELD_NAMES)
        entries.append(entry)
    return ReadResult(entries, skipped)


def read(handle: TextIO, fmt: str) -> ReadResult:
    if fmt == "csv":
        return read_csv(handle)
    if fmt == "ftm":
        return read_ftm(handle)
    raise InvalidInput(
        f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})",
        field="format",
        code="screening_bad_format",
    )


def guess_format(path: Path) -> str:
    """``csv`` for ``.csv``; ``ftm`` for ``.json``, ``.jsonl``, ``.ftm``, ``.ndjson``."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".json", ".jsonl", ".ftm", ".ndjson"):
        return "ftm"
    raise InvalidInput(
        f"cannot tell the format of {path.name}: pass --format csv or ftm",
        field="format",
        code="screening_bad_format",
    )


SAMPLE_LIST = "sample"


def sample_path(fmt: str = "csv") -> Path:
    """The shipped sample list of fictional people (the same people in both formats)."""
    if fmt not in FORMATS:
        raise InvalidInput(
            f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})",
            field="format",
            code="screening_bad_format",
        )
    name = {"csv": "sample.csv", "ftm": "sample.ftm.jsonl"}[fmt]
    return Path(str(resources.files("vigil.screening") / "data" / name))
