"""Runs written through the services, on SQLite and PostgreSQL: what a run writes, the
structure behind each label, and the cases the team would see."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.simulate.conftest import fresh_sqlite, rows_digest, simulate
from vigil.accounts import service as accounts
from vigil.accounts.models import Account, AccountStatus, IdentifierKind, RestrictionKind
from vigil.audit import service as audit
from vigil.auth import service as auth
from vigil.auth.permissions import Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType, Queue
from vigil.cases.timeline import timeline
from vigil.kit import clock
from vigil.kit.errors import Conflict
from vigil.simulate.models import SimulationLabel
from vigil.simulate.plan import Label

TESTS = Principal.system("tests")


def labelled(db: Session) -> list[tuple[SimulationLabel, Account]]:
    rows = db.execute(
        select(SimulationLabel, Account)
        .join(Account, Account.id == SimulationLabel.account_id)
        .order_by(Account.id)
    )
    return [(label, account) for label, account in rows]


def test_same_seed_writes_the_same_rows_and_another_seed_other_rows(
    backend: str,
    db: Session,
    session_factory: sessionmaker[Session],
    sqlite_template: Path,
    tmp_path: Path,
    frozen: clock.FrozenClock,
) -> None:
    summary = simulate(session_factory, seed=11)
    digest = rows_digest(db)

    engine, other = fresh_sqlite(sqlite_template, tmp_path / "again.db")
    try:
        again = simulate(other, seed=11)
        with other() as session:
            assert rows_digest(session) == digest  # same rows, on either database
        assert again.counts() == summary.counts()
    finally:
        engine.dispose()

    engine, third = fresh_sqlite(sqlite_template, tmp_path / "other-seed.db")
    try:
        simulate(third, seed=12)
        with third() as session:
            assert rows_digest(session) != digest
    finally:
        engine.dispose()


def test_every_account_is_labelled_and_the_summary_says_so(
    backend: str, db: Session, session_factory: sessionmaker[Session], frozen: clock.FrozenClock
) -> None:
    summary = simulate(session_factory, seed=21)
    rows = labelled(db)
    assert db.scalar(select(func.count()).select_from(Account)) == len(rows) == 120
    counts = Counter(label.label for label, _ in rows)
    assert counts == Counter(summary.labels)
    assert set(counts) == {kind.value for kind in Label}
    assert {label.run_seed for label, _ in rows} == {21}
    assert sum(summary.cases_by_status.values()) == db.scalar(
        select(func.count()).select_from(Case)
    )
    assert audit.verify(db).ok


def test_running_a_seed_twice_is_refused(
    backend: str, db: Session, session_factory: sessionmaker[Session], frozen: clock.FrozenClock
) -> None:
    simulate(session_factory, seed=31, accounts=40, with_cases=False)
    with pytest.raises(Conflict) as refused:
        simulate(session_factory, seed=31, accounts=40, with_cases=False)
    assert refused.value.code == "seed_loaded"
    assert db.scalar(select(func.count()).select_from(Account)) == 40
    db.rollback()  # on SQLite a reader holds the write lock until its transaction ends
    simulate(session_factory, seed=32, accounts=40, with_cases=False)  # another seed is fine
    assert db.scalar(select(func.count()).select_from(Account)) == 80


def test_labelled_bad_actors_have_the_structure_claimed(
    backend: str, db: Session, session_factory: sessionmaker[Session], frozen: clock.FrozenClock
) -> None:
    simulate(session_factory, seed=41, accounts=160)
    groups: dict[str, list[Account]] = defaultdict(list)
    by_label: dict[str, list[tuple[SimulationLabel, Account]]] = defaultdict(list)
    for label, account in labelled(db):
        by_label[label.label].append((label, account))
        if label.group_key:
            groups[label.group_key].append(account)

    rings = [members for key, members in groups.items() if key.startswith("ring-")]
    assert rings
    for members in rings:
        ids = {m.id for m in members}
        for member in members:
            # Linked, through the identifiers the service stores, to every other member by a
            # device and by a payment instrument.
            for kind in (IdentifierKind.device, IdentifierKind.payment):
                linked = accounts.linked_accounts(db, member, kinds=[kind], limit=50)
                assert ids - {member.id} <= {item.account.id for item in linked.items}

    duplicates = [members for key, members in groups.items() if key.startswith("dup-")]
    assert duplicates
    for members in duplicates:
        assert len({(m.legal_name, m.date_of_birth) for m in members}) == 1
        assert len({m.email for m in members}) == len({m.phone for m in members}) == len(members)
    originals = [a for lb, a in by_label["duplicate_identity"] if lb.details.get("banned")]
    for original in originals:
        assert RestrictionKind.suspension in accounts.in_force_kinds(db, original)
        assert original.status is AccountStatus.suspended

    for _, scammer in by_label["scammer"]:
        devices = accounts.list_identifiers(db, scammer, kind=IdentifierKind.device)[0]
        assert len(devices) >= 3
        assert scammer.email is not None and scammer.email.split("@")[1] in {
            "tempmail.example",
            "throwaway.example",
            "10minute.example",
            "burner.example",
        }

    # Benign noise: ordinary accounts share addresses (homes, cafés), so an IP is no proof.
    benign = [a for _, a in by_label["benign"]]
    sharing_ip = [
        a
        for a in benign
        if accounts.linked_accounts(db, a, kinds=[IdentifierKind.ip], limit=1).items
    ]
    assert sharing_ip


def test_cases_are_routed_worked_and_visible_to_the_team(
    backend: str, db: Session, session_factory: sessionmaker[Session], frozen: clock.FrozenClock
) -> None:
    agent = auth.create_staff(
        db,
        TESTS,
        email="a@t.example",
        name="Agent A",
        role=Role.agent,
        password="long-enough-password",
        languages=["en", "es", "pt"],
    )
    auth.create_staff(
        db,
        TESTS,
        email="s@t.example",
        name="Spec S",
        role=Role.specialist,
        password="long-enough-password",
        languages=["en", "es", "pt"],
    )
    auth.create_staff(
        db,
        TESTS,
        email="l@t.example",
        name="Legal L",
        role=Role.legal,
        password="long-enough-password",
        languages=["en", "es", "pt"],
    )
    db.commit()
    summary = simulate(session_factory, seed=51, accounts=500, days=30)
    assert summary.notes > 0 and summary.escalations > 0

    queues = {q.id: q for q in db.scalars(select(Queue))}
    all_cases = list(db.scalars(select(Case)))
    assert {c.type for c in all_cases} >= {
        CaseType.user_report,
        CaseType.detection,
        CaseType.account_review,
    }
    # An identity review is a verification waiting for a person: the casework never opens
    # one without it (the identity pipeline does, for the documents the demo submits).
    assert CaseType.identity_review not in {c.type for c in all_cases}
    statuses = Counter(c.status for c in all_cases)
    assert statuses[CaseStatus.closed] and statuses[CaseStatus.open]
    for case in all_cases:
        queue = queues[case.queue_id]
        assert queue.tier == case.tier
        if case.tier == Tier.tier1 and case.type is CaseType.user_report:
            expected = {"es": "es", "pt": "pt"}.get(case.language, "reports")
            assert queue.slug == expected
        if case.status is CaseStatus.closed:
            assert case.resolution is not None and case.resolution_note
    assert any(c.tier == Tier.specialist for c in all_cases)
    assert any(c.tier == Tier.legal for c in all_cases)

    # What the agent sees through the cases service: reports in the users' words, notes on
    # the timeline, and a next case to pull.
    me = auth.principal_for(agent)
    listed, _ = cases.list_cases(db, me, cases.CaseFilter(type=CaseType.user_report), limit=500)
    assert listed and all("\u201c" in c.summary for c in listed)
    assert {c.language for c in listed} >= {"en"}
    assert all(c.tier != Tier.legal for c in listed)
    noted = next(
        c
        for c in all_cases
        if c.status is CaseStatus.closed
        and c.assignee_id is None
        and c.tier == Tier.tier1
        and c.closed_at is not None
        and any(e.kind == "note" for e in timeline(db, me, c.id)[0])
    )
    entries, _ = timeline(db, me, noted.id)
    kinds = [e.kind for e in entries]
    assert kinds[0] == "created" and kinds[-1] == "closed" and "assigned" in kinds
    assert next(e for e in entries if e.kind == "note").note
    assert entries[0].at == noted.opened_at < noted.closed_at <= clock.now()
    pulled = cases.pull_next(db, me)
    assert pulled is not None and pulled.assignee_id == agent.id
    db.rollback()
