"""Reading list files: the shipped sample in both formats, and bad rows refused with the line
and the field at fault."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from vigil.kit.errors import InvalidInput
from vigil.screening import loaders


def _csv(text: str) -> loaders.ReadResult:
    return loaders.read(io.StringIO(text, newline=""), "csv")


def _ftm(*entities: object) -> loaders.ReadResult:
    text = "\n".join(e if isinstance(e, str) else json.dumps(e) for e in entities)
    return loaders.read(io.StringIO(text), "ftm")


def test_the_sample_ships_the_same_people_in_both_formats() -> None:
    with loaders.sample_path("csv").open(encoding="utf-8", newline="") as handle:
        from_csv = loaders.read_csv(handle)
    with loaders.sample_path("ftm").open(encoding="utf-8") as handle:
        from_ftm = loaders.read_ftm(handle)
    assert len(from_csv.entries) == 12
    assert from_ftm.skipped == 1  # a company: only people are screened

    def people(result: loaders.ReadResult) -> list[tuple[object, ...]]:
        return [(e.entry_id, e.names, e.birth_dates, e.countries, e.topics) for e in result.entries]

    assert people(from_csv) == people(from_ftm)
    juergen = from_csv.entries[1]
    assert juergen.names == ["Jürgen Öberholtz-Krammer", "Juergen Oberholtz"]
    assert juergen.topics == ["sanction", "crime"]
    assert from_csv.entries[2].birth_dates == ["1975"]  # year only, as the source gives it


def test_csv_multiple_values_and_optional_columns() -> None:
    result = _csv(
        "id,name,aliases,birth_date,country\nx1,Ana Ruiz,Ana R.; A. Ruiz ,1970-01;1971,es\n"
    )
    entry = result.entries[0]
    assert entry.names == ["Ana Ruiz", "Ana R.", "A. Ruiz"]
    assert entry.birth_dates == ["1970-01", "1971"]
    assert entry.countries == ["ES"]
    assert entry.topics == []


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("name\nAna\n", "id", "no id column"),
        ("id,name,colour\n1,Ana,red\n", "colour", "unknown CSV column 'colour'"),
        ("id,name\n1,\n", "name", "line 2: name is empty"),
        ("id,name\n1,Ana\n1,Bea\n", "id", "line 3: id '1' appears twice"),
        ("id,name,birth_date\n1,Ana,12/01/1970\n", "birth_date", "line 2: birth date"),
    ],
)
def test_bad_csv_is_refused_with_line_and_field(text: str, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _csv(text)
    assert caught.value.field == field
    assert message in caught.value.message


def test_ftm_reads_people_and_their_aliases_but_not_weak_aliases() -> None:
    person = {
        "id": "p1",
        "schema": "Person",
        "properties": {
            "name": ["Ana Ruiz"],
            "alias": ["Anita Ruiz"],
            "weakAlias": ["La Jefa"],
            "previousName": ["Ana Ortega"],
            "birthDate": ["1970-01-02T00:00:00"],
            "nationality": ["es"],
            "topics": ["role.pep"],
            "position": ["Minister of Fictional Affairs"],
        },
    }
    result = _ftm(person, {"id": "c1", "schema": "Company", "properties": {"name": ["X"]}}, "")
    assert result.skipped == 1
    entry = result.entries[0]
    assert entry.names == ["Ana Ruiz", "Anita Ruiz", "Ana Ortega"]
    assert entry.birth_dates == ["1970-01-02"]
    assert entry.countries == ["ES"]
    assert entry.data["position"] == ["Minister of Fictional Affairs"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("{not json", "line"),
        ("[1, 2]", "line"),
        (json.dumps({"schema": "Person", "properties": {"name": ["A"]}}), "id"),
        (json.dumps({"id": "p", "schema": "Person", "properties": {}}), "properties.name"),
        (
            json.dumps({"id": "p", "schema": "Person", "properties": {"name": "A", "alias": 3}}),
            "properties.alias",
        ),
    ],
)
def test_bad_ftm_is_refused_with_line_and_field(line: str, field: str) -> None:
    good = {"id": "ok", "schema": "Person", "properties": {"name": ["Ana"]}}
    with pytest.raises(InvalidInput) as caught:
        _ftm(good, line)
    assert caught.value.field == field
    assert caught.value.message.startswith("line 2")


def test_format_from_the_extension() -> None:
    assert loaders.guess_format(Path("un.csv")) == "csv"
    assert loaders.guess_format(Path("opensanctions.ftm.jsonl")) == "ftm"
    with pytest.raises(InvalidInput) as caught:
        loaders.guess_format(Path("list.xlsx"))
    assert caught.value.field == "format"


def test_values_longer_than_their_column_are_refused_with_line_and_field() -> None:
    assert loaders.MAX_LENGTHS["entry_id"] == 200  # the model's String(200)
    fits, long = "x" * 200, "x" * 201
    assert _csv(f"id,name\n{fits},Ana\n").entries[0].entry_id == fits
    with pytest.raises(InvalidInput) as caught:
        _csv(f"id,name\nok,Ana\n{long},Bea\n")
    assert (caught.value.field, caught.value.code) == ("id", "screening_bad_row")
    assert caught.value.message == "line 3: id is 201 characters long (at most 200)"
    good = {"id": "ok", "schema": "Person", "properties": {"name": ["Ana"]}}
    with pytest.raises(InvalidInput) as ftm:
        _ftm(good, {"id": long, "schema": "Person", "properties": {"name": ["Bea"]}})
    assert (ftm.value.field, ftm.value.code) == ("id", "screening_bad_row")
    assert ftm.value.message.startswith("line 2: id is 201 characters long")
