"""Tables as CSV or XLSX downloads: every metrics view, case list and decision list exports
through here, so a column means the same thing in both formats.

Invariants:
- ``rows`` is an iterable consumed once, inside :func:`response` (so while the request's
  database session is still open): a caller reads rows from the database in pages and never
  holds the whole export in memory. The file is written to a spooled temporary file (in
  memory up to 8 MiB, on disk beyond) and streamed from there; XLSX is written by XlsxWriter
  in ``constant_memory`` mode, one row at a time.
- A cell is a ``str``, ``int``, ``float``, ``bool``, ``date``/``datetime`` (written in UTC
  ISO 8601, the same text in both formats, so a spreadsheet does not shift it to local time)
  or ``None`` (empty).
- CSV is UTF-8 with a byte-order mark, so a spreadsheet opens accented names correctly.
- Text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
  tab or carriage return) is written with a leading apostrophe in CSV and as a string in
  XLSX: an export of user-written text cannot execute anything when opened (CSV injection).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import xlsxwriter
from starlette.responses import Response, StreamingResponse

from vigil.kit import clock
from vigil.kit.errors import InvalidInput

Format = Literal["csv", "xlsx"]
FORMATS: tuple[str, ...] = ("csv", "xlsx")

_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Column:
    key: str
    label: str


def check_format(value: str | None, *, field: str = "format") -> Format:
    """The export format asked for; 422 ``invalid_format`` names the field otherwise."""
    fmt = (value or "").lower()
    if fmt not in FORMATS:
        raise InvalidInput(
            f"format must be one of {', '.join(FORMATS)}", field=field, code="invalid_format"
        )
    return fmt  # type: ignore[return-value]


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _csv_text(value: Any) -> str:
    value = _cell(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def csv_chunks(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """CSV in chunks of about 64 KiB: a header row of labels, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([c.label for c in columns])
    for row in rows:
        writer.writerow([_csv_text(v) for v in row])
        if buffer.tell() >= 65536:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def xlsx_bytes(
    sheets: Sequence[tuple[str, Sequence[Column], Iterable[Sequence[Any]]]],
) -> bytes:
    """A workbook with one sheet per ``(title, columns, rows)``, header row bold and frozen."""
    with tempfile.TemporaryDirectory(prefix="vigil-xlsx-") as tmp:
        out = io.BytesIO()
        book = xlsxwriter.Workbook(
            out,
            {
                "constant_memory": True,
                "tmpdir": tmp,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        bold = book.add_format({"bold": True})
        used: set[str] = set()
        for title, columns, rows in sheets:
            name = _sheet_name(title, used)
            sheet = book.add_worksheet(name)
            sheet.freeze_panes(1, 0)
            for j, c in enumerate(columns):
                sheet.write_string(0, j, c.label, bold)
                sheet.set_column(j, j, max(10, min(40, len(c.label) + 2)))
            for i, row in enumerate(rows, start=1):
                for j, value in enumerate(row):
                    value = _cell(value)
                    if value is None:
                        continue
                    if isinstance(value, bool):
                        sheet.write_boolean(i, j, value)
                    elif isinstance(value, int | float):
                        sheet.write_number(i, j, value)
                    else:
                        sheet.write_string(i, j, str(value))
        book.close()
        return out.getvalue()


def _sheet_name(title: str, used: set[str]) -> str:
    # Excel: at most 31 characters, none of []:*?/\ and unique in the book.
    base = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:31] or "Sheet"
    name, n = base, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(name.lower())
    return name


def filename(stem: str, fmt: Format) -> str:
    safe = _SAFE_NAME.sub("-", stem).strip("-") or "export"
    return f"{safe}.{fmt}"


def response(
    fmt: Format,
    stem: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    sheet: str | None = None,
) -> Response:
    """A download of one table. ``rows`` is consumed here, before the response is returned."""
    headers = {
        "Content-Disposition": f'attachment; filename="{filename(stem, fmt)}"',
        "Cache-Control": "no-store",
    }
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (closed by _drain)
    if fmt == "csv":
        for chunk in csv_chunks(columns, rows):
            spool.write(chunk)
    else:
        spool.write(xlsx_bytes([(sheet or stem, columns, rows)]))
    headers["Content-Length"] = str(spool.tell())
    spool.seek(0)
    return StreamingResponse(_drain(spool), media_type=_MEDIA[fmt], headers=headers)


def _drain(spool: Any) -> Iterator[bytes]:
    try:
        while chunk := spool.read(65536):
            yield chunk
    finally:
        spool.close()
