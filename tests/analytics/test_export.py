"""CSV and XLSX downloads: the same cells in both formats, formulas never executable, UTC times."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from vigil.analytics import export
from vigil.kit.errors import InvalidInput

COLUMNS = [export.Column("who", "Who"), export.Column("n", "Count"), export.Column("at", "At")]
ROWS = [
    [
        '=HYPERLINK("http://x")',
        3,
        datetime(2026, 11, 21, 23, 0, tzinfo=timezone(timedelta(hours=2))),
    ],
    ["María", 0.25, date(2026, 11, 1)],
    ["-12.5", None, None],
    ["@SUM(A1)", True, None],
]


def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    import asyncio

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.body_iterator])

    return asyncio.run(read())


def test_csv_neutralises_formulas_and_writes_utc() -> None:
    response = export.response("csv", "cases 2026/11", COLUMNS, iter(ROWS))
    body = _body(response)
    assert response.headers["content-disposition"] == 'attachment; filename="cases-2026-11.csv"'
    assert int(response.headers["content-length"]) == len(body)
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [
        ["Who", "Count", "At"],
        ['\'=HYPERLINK("http://x")', "3", "2026-11-21T21:00:00Z"],
        ["María", "0.25", "2026-11-01"],
        ["-12.5", "", ""],  # a negative number is data, not a formula
        ["'@SUM(A1)", "true", ""],
    ]


def test_xlsx_holds_the_same_cells_as_strings_and_numbers() -> None:
    response = export.response("xlsx", "cases", COLUMNS, iter(ROWS), sheet="Cases: open/closed")
    body = _body(response)
    book = zipfile.ZipFile(io.BytesIO(body))
    workbook = book.read("xl/workbook.xml").decode()
    assert 'name="Cases  open closed"' in workbook  # characters Excel forbids are replaced
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    # constant_memory mode writes strings inline; no cell is a formula.
    assert "<f>" not in sheet
    assert '<c r="A2" t="inlineStr"><is><t>=HYPERLINK("http://x")</t>' in sheet
    assert "2026-11-21T21:00:00Z" in sheet
    assert re.search(r'<c r="B3"[^>]*><v>0.25</v>', sheet)
    assert re.search(r'<c r="B5" t="b"><v>1</v>', sheet)


def test_unknown_format_is_refused_with_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        export.check_format("pdf")
    assert refused.value.code == "invalid_format"
    assert refused.value.field == "format"
    assert export.check_format("XLSX") == "xlsx"
    assert datetime.now(UTC)  # the module is usable without a database
