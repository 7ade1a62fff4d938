"""Loading lists and screening names against them, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.kit.errors import InvalidInput, NotFound, PermissionDenied
from vigil.screening import loaders, service
from vigil.screening.models import ScreeningEntry, ScreeningList, ScreeningToken

ADMIN = Principal.staff(1, "admin@example.test", Role.admin)
AGENT = Principal.staff(2, "agent@example.test", Role.agent)


def test_the_sample_list_loads_from_the_package(db: Session) -> None:
    found = service.load_sample(db, ADMIN, fmt="ftm")
    assert (found.name, found.entries, found.format) == ("sample", 12, "ftm")
    assert found.source == "sample.ftm.jsonl" and len(found.sha256) == 64


def _sample(fmt: str = "csv") -> loaders.ReadResult:
    path = loaders.sample_path(fmt)
    with path.open(encoding="utf-8", newline="") as handle:
        return loaders.read(handle, fmt)


def _load(db: Session, result: loaders.ReadResult, name: str = "sample") -> ScreeningList:
    return service.load(
        db, ADMIN, list_name=name, result=result, source="sample.csv", fmt="csv", sha256="0" * 64
    )


def _count(db: Session, model: type) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def sample(db: Session) -> ScreeningList:
    found = _load(db, _sample())
    db.commit()
    return found


def test_exact_name_and_birth_date_is_a_full_hit(db: Session, sample: ScreeningList) -> None:
    hits = service.screen(
        db, name="Viktor Almanzor Dresk", birth_date=date(1968, 4, 17), country="CY"
    )
    assert [h.entry_id for h in hits] == ["vgl-sample-001"]
    hit = hits[0]
    assert (hit.score, hit.birth_date_agrees, hit.country_agrees) == (100.0, True, True)
    assert hit.topics == ["sanction"]
    assert hit.list_name == "sample"


@pytest.mark.parametrize(
    ("screened", "entry"),
    [
        ("JUERGEN OBERHOLTZ KRAMMER", "vgl-sample-002"),  # an MRZ's ICAO form of Jürgen Ö...
        ("Jurgen Oberholtz-Krammer", "vgl-sample-002"),  # the alternative transliteration
        ("THORUNN AESGEIRSDOTTIR", "vgl-sample-003"),  # Þ -> TH, Æ -> AE
        ("Dresk Viktor", "vgl-sample-001"),  # order swapped, an alias
        ("Viktor Almanzor Dresk Petrov", "vgl-sample-001"),  # one more name
        ("Brigitte Lemaronier", "vgl-sample-008"),  # a spelling variant
        ("SOEREN KAELLINGVIK", "vgl-sample-011"),
    ],
)
def test_names_match_across_transliteration_order_and_variants(
    db: Session, sample: ScreeningList, screened: str, entry: str
) -> None:
    hits = service.screen(db, name=screened, birth_date=None, country=None, min_score=85.0)
    assert hits, screened
    assert hits[0].entry_id == entry
    assert hits[0].birth_date_agrees is None


def test_name_scores() -> None:
    assert service.name_score("Viktor Almanzor Dresk", "DRESK VIKTOR ALMANZOR") == 100.0
    assert service.name_score("Viktor Dresk", "Viktor Almanzor Dresk") == 96.0  # one more word
    assert service.name_score("Jürgen Müller", "JURGEN MULLER") == 100.0
    # A repeated word is not a name contained in another.
    assert service.name_score("Anan Anan", "Shavol Anan") < 80
    assert service.name_score("Dresk", "Viktor Dresk") < 80  # one word is not enough


def test_birth_dates_agree_at_the_lists_precision(db: Session, sample: ScreeningList) -> None:
    def agrees(name: str, born: date) -> bool | None:
        return service.screen(db, name=name, birth_date=born, country=None)[0].birth_date_agrees

    assert agrees("Thorunn Aesgeirsdottir", date(1975, 6, 1)) is True  # listed: 1975
    assert agrees("Thorunn Aesgeirsdottir", date(1976, 6, 1)) is False
    assert agrees("Oleksandr Vantorenko", date(1964, 9, 30)) is True  # listed: 1964-09
    assert agrees("Oleksandr Vantorenko", date(1964, 10, 1)) is False


def test_unrelated_and_partial_names_do_not_hit(db: Session, sample: ScreeningList) -> None:
    assert service.screen(db, name="Maria Jose Garcia", birth_date=None, country=None) == []
    # Sharing one word (a surname) is a candidate, not a hit.
    assert service.screen(db, name="Hamid Smith", birth_date=None, country=None) == []
    assert service.screen(db, name="", birth_date=None, country=None) == []


def test_reload_replaces_every_entry_and_is_audited(db: Session, sample: ScreeningList) -> None:
    tokens_before = _count(db, ScreeningToken)
    assert _count(db, ScreeningEntry) == 12 and tokens_before > 12
    text = "id,name,birth_date\nnew-1,Petra Quellfeld,1980-02-02\n"
    replaced = _load(db, loaders.read(io.StringIO(text), "csv"))
    db.commit()
    assert replaced.id == sample.id and replaced.entries == 1
    assert _count(db, ScreeningEntry) == 1
    assert _count(db, ScreeningToken) == 2
    assert service.screen(db, name="Viktor Dresk", birth_date=None, country=None) == []
    assert service.screen(db, name="Petra Quellfeld", birth_date=None, country=None)[0].score == 100
    records = db.scalars(
        select(AuditRecord)
        .where(AuditRecord.action == "screening.list.load")
        .order_by(AuditRecord.id)
    ).all()
    assert [r.data["entries"] for r in records] == [12, 1]
    assert records[1].data["previous_entries"] == 12
    assert records[1].actor_id == "1"


def test_lists_are_screened_together_and_removed_alone(db: Session, sample: ScreeningList) -> None:
    _load(db, _sample("ftm"), name="sample-ftm")
    db.commit()
    hits = service.screen(db, name="Ngozi Adaeze Ubakwelu", birth_date=None, country=None)
    assert sorted(h.list_name for h in hits) == ["sample", "sample-ftm"]
    assert [x.name for x in service.lists(db)] == ["sample", "sample-ftm"]
    service.remove(db, ADMIN, "sample-ftm")
    db.commit()
    assert _count(db, ScreeningEntry) == 12
    with pytest.raises(NotFound):
        service.remove(db, ADMIN, "sample-ftm")


def test_loading_needs_the_permission_and_a_good_name(db: Session) -> None:
    with pytest.raises(PermissionDenied):
        service.load(db, AGENT, list_name="x", result=_sample(), source="s", fmt="csv", sha256="")
    with pytest.raises(InvalidInput) as caught:
        _load(db, _sample(), name="Bad Name!")
    assert caught.value.field == "list"
    with pytest.raises(InvalidInput) as empty:
        _load(db, loaders.ReadResult([]))
    assert empty.value.code == "screening_empty"
    assert _count(db, ScreeningList) == 0


def test_a_large_list_is_screened_through_its_index(db: Session) -> None:
    """3,000 generated people who all share a surname with the target: the one true entry is
    found, ranked first, among the candidates that share words."""
    given = ["Ana", "Bruno", "Carla", "Dario", "Elena", "Fabio", "Gala", "Hugo", "Ines", "Jon"]
    entries = [
        loaders.EntryData(f"g{i}", [f"{given[i % 10]} {given[(i // 10) % 10]}x{i} Vantorenko"])
        for i in range(3000)
    ]
    entries.append(loaders.EntryData("target", ["Oleksandr Vantorenko"], ["1964-09-01"]))
    _load(db, loaders.ReadResult(entries), name="large")
    db.commit()
    hits = service.screen(
        db, name="Oleksandr Vantorenko", birth_date=date(1964, 9, 1), country=None
    )
    assert hits[0].entry_id == "target"
    assert hits[0].birth_date_agrees is True
    assert all(h.score < 85 for h in hits[1:])


@pytest.mark.parametrize("from_file", [True, False])
def test_a_value_too_long_for_its_column_changes_nothing(
    db: Session, sample: ScreeningList, from_file: bool
) -> None:
    entries_before, tokens_before = _count(db, ScreeningEntry), _count(db, ScreeningToken)
    audits_before = _count(db, AuditRecord)
    long = "x" * 201
    if from_file:
        # The loader refuses the file itself, naming the line.
        with pytest.raises(InvalidInput) as caught:
            loaders.read(io.StringIO(f"id,name\nnew-1,Petra Quellfeld\n{long},Ana\n"), "csv")
        where = "line 3"
    else:
        # Entries built by other code are checked again before anything is written.
        result = loaders.ReadResult(
            [loaders.EntryData("new-1", ["Petra Quellfeld"]), loaders.EntryData(long, ["Ana"])]
        )
        with pytest.raises(InvalidInput) as caught:
            _load(db, result)
        where = "entry 2"
    assert (caught.value.code, caught.value.field) == ("screening_bad_row", "id")
    assert caught.value.message == f"{where}: id is 201 characters long (at most 200)"
    db.commit()  # on PostgreSQL too: the session is still usable, nothing was sent
    assert (_count(db, ScreeningEntry), _count(db, ScreeningToken)) == (
        entries_before,
        tokens_before,
    )
    assert _count(db, AuditRecord) == audits_before
    assert service.get_list(db, "sample").entries == 12


def test_a_bad_format_or_digest_is_refused_before_anything_changes(db: Session) -> None:
    with pytest.raises(InvalidInput) as fmt:
        service.load(
            db, ADMIN, list_name="x", result=_sample(), source="s", fmt="xlsx", sha256="0" * 64
        )
    assert (fmt.value.field, fmt.value.code) == ("format", "screening_bad_format")
    with pytest.raises(InvalidInput) as digest:
        service.load(db, ADMIN, list_name="x", result=_sample(), source="s", fmt="csv", sha256="")
    assert digest.value.field == "sha256"
    assert _count(db, ScreeningList) == 0


def test_lists_loaded_counts_lists_with_entries(db: Session) -> None:
    assert service.lists_loaded(db) == 0
    _load(db, _sample())
    db.commit()
    assert service.lists_loaded(db) == 1
    _load(db, _sample("ftm"), name="sample-ftm")
    db.commit()
    assert service.lists_loaded(db) == 2
    service.remove(db, ADMIN, "sample")
    db.commit()
    assert service.lists_loaded(db) == 1
