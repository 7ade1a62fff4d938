"""When one event of a batch fails: bad input is refused with the field at fault (422), and an
unexpected failure of one item (here, a real unique-key race between two batches) fails only
that item (500, logged with its traceback) while the rest of the batch is decided and kept."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from tests.detection.conftest import MARKETPLACE, event, make_account
from vigil.accounts.models import Account
from vigil.config import Settings
from vigil.db import transaction
from vigil.detection import service
from vigil.detection.models import Event

SIGNUP = {"side": "client", "email": "new.client@example.com"}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (event(data={"text": "pay me\x00 outside"}), "events.0.data.text"),
        (event(event_id="evt-\x00"), "events.0.event_id"),
        (event(account_id="acct\x00"), "events.0.account_id"),
        (event(data={"extra": {"note": ["a", "b\x00"]}}), "events.0.data.extra.note.1"),
        (event(type="signup", account_id="acct-new", data={**SIGNUP, "display_name": "A\x00"}),
         "events.0.data.display_name"),
        (event(type="signup", account_id="acct-new", data={**SIGNUP, "display_name": "A\x07"}),
         "events.0.data.display_name"),
    ],
    ids=["nul-text", "nul-event-id", "nul-account", "nul-nested", "nul-name", "bell-name"],
)  # fmt: skip
def test_characters_the_database_or_accounts_refuse_are_a_422(
    db: Session, settings: Settings, item: dict[str, Any], field: str
) -> None:
    """PostgreSQL stores no NUL in text or JSON, and the accounts API takes no control
    characters in a name: both were unexpected errors (500) before; now a 422 on every
    backend, and nothing is stored."""
    make_account(db, "acct-1")
    [out] = service.ingest_batch(db, settings, [item], actor=MARKETPLACE)
    assert out.status == 422 and out.error is not None
    assert (out.error["code"], out.error["field"]) == ("invalid_field", field)
    assert db.scalar(select(func.count()).select_from(Event)) == 0


def _waiting_on_a_lock(factory: sessionmaker[Session], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with factory() as probe:
            waiting = probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the second batch never waited on the first one's new account")


@pytest.mark.only_backend("postgresql")  # SQLite runs one writer at a time: no race to lose
def test_an_unexpected_error_fails_only_its_item(
    settings: Settings,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with transaction(session_factory) as setup:
        make_account(setup, "acct-1")
    # Batch A signs a new account up and has not committed yet...
    first = session_factory()
    signup_a = event(type="signup", account_id="acct-new", event_id="evt-a", data=SIGNUP)
    [a] = service.ingest_batch(first, settings, [signup_a], actor=MARKETPLACE)
    assert a.status == 200
    # ...when batch B signs the same account up between two other events: it does not see A's
    # account yet, inserts its own and waits on the unique key until A commits.
    items = [
        event(account_id="acct-1", event_id="evt-before", data={"text": "hello"}),
        event(type="signup", account_id="acct-new", event_id="evt-b", data=SIGNUP),
        event(account_id="acct-1", event_id="evt-after", data={"text": "thanks"}),
    ]
    answered: dict[str, Any] = {}

    def batch_b() -> None:
        try:
            with transaction(session_factory) as session:
                answered["items"] = service.ingest_batch(
                    session, settings, items, actor=MARKETPLACE
                )
        except BaseException as exc:  # reported in the test's thread
            answered["raised"] = exc

    thread = threading.Thread(target=batch_b)
    with caplog.at_level(logging.ERROR, logger="vigil.detection"):
        thread.start()
        _waiting_on_a_lock(session_factory)
        first.commit()
        first.close()
        thread.join(timeout=30)
    assert "raised" not in answered, answered.get("raised")

    before, lost, after = answered["items"]
    assert (before.status, lost.status, after.status) == (200, 500, 200)
    assert lost.error == {
        "code": "internal_error",
        "message": "this event could not be processed; it was not stored, send it again later",
        "field": "events.1",
    }
    [record] = [r for r in caplog.records if "batch item 1" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is not None
    assert record.exc_info[0].__name__ == "IntegrityError"  # logged with its traceback
    with session_factory() as check:
        stored = set(check.scalars(select(Event.event_id)))
        assert stored == {"evt-a", "evt-before", "evt-after"}  # the lost item left nothing
        accounts = check.scalar(
            select(func.count()).select_from(Account).where(Account.external_id == "acct-new")
        )
        assert accounts == 1
    # Sent again, as the answer asks, it goes through: the account exists now.
    with transaction(session_factory) as session:
        [again] = service.ingest_batch(session, settings, [items[1]], actor=MARKETPLACE)
    assert again.status == 200 and again.result is not None and not again.result.duplicate
