"""Deleting blob files only once the rows that pointed at them are gone for good.

A row deleted in a transaction that then rolls back must still find its file, so files are
deleted after the OUTERMOST transaction commits. ``after_commit`` also fires when a
savepoint is released (``begin_nested``), so that event alone is not enough (the identity
domain guards the same way, ``identity.service._track_blob``):

- each key is recorded with the transaction (savepoint or outermost) that was current;
- a savepoint that is released hands its keys to its parent; one that rolls back drops them
  (its rows came back);
- only when the outermost transaction ends, and only if it committed, are the files
  unlinked; a rollback drops the list.

A process that dies between the commit and the unlink, or an unlink that fails (logged,
never raised: the data is already committed), leaves an orphan file, which the retention
sweep of orphan blobs removes later."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from vigil.kit.blobs import BlobStore

log = logging.getLogger(__name__)

_KEY = "vigil.privacy.pending_blob_deletes"
_COMMITTED = "vigil.privacy.committed_transactions"


def _current(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def delete_after_commit(session: Session, store: BlobStore, keys: list[str]) -> None:
    """Unlink ``keys`` from ``store`` once the session's outermost transaction commits."""
    if not keys:
        return
    owner = _current(session)
    if owner is None:
        session.connection()  # autobegin, so the keys belong to a transaction
        owner = _current(session)
    if not sa_event.contains(session, "after_commit", _after_commit):
        sa_event.listen(session, "after_commit", _after_commit)
        sa_event.listen(session, "after_transaction_end", _after_transaction_end)
    session.info.setdefault(_KEY, []).extend((owner, store, key) for key in keys)


def _after_commit(session: Session) -> None:
    # Fires for the outermost commit and for a savepoint's release; the transaction being
    # committed is the innermost one.
    committed = _current(session)
    if committed is not None:
        session.info.setdefault(_COMMITTED, []).append(committed)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    done: list[SessionTransaction] = session.info.get(_COMMITTED, [])
    committed = any(t is transaction for t in done)
    if committed:
        session.info[_COMMITTED] = [t for t in done if t is not transaction]
    pending: list[tuple[Any, BlobStore, str]] = session.info.get(_KEY, [])
    if not pending:
        return
    mine = [(store, key) for owner, store, key in pending if owner is transaction]
    rest = [p for p in pending if p[0] is not transaction]
    if transaction.nested or transaction.parent is not None:
        if committed:  # a released savepoint: its parent decides
            rest.extend((transaction.parent, store, key) for store, key in mine)
        session.info[_KEY] = rest
        return
    session.info[_KEY] = rest
    if not committed:
        return
    for store, key in mine:
        try:
            store.delete(key)
        except OSError:
            log.exception("could not delete blob %s; the orphan sweep will", key)
