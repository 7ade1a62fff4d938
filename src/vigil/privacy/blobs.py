"""Deleting blob files only once the rows that pointed at them are gone for good.

A row deleted in a transaction that then rolls back must still find its file, so files are
deleted after the commit; a process that dies between the commit and the unlink leaves an
orphan file, which the retention sweep of orphan blobs removes later."""

from __future__ import annotations

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from vigil.kit.blobs import BlobStore

_KEY = "privacy_blobs_to_delete"


def delete_after_commit(session: Session, store: BlobStore, keys: list[str]) -> None:
    if not keys:
        return
    if _KEY not in session.info:
        session.info[_KEY] = []
        if not sa_event.contains(session, "after_commit", _after_commit):
            sa_event.listen(session, "after_commit", _after_commit)
            sa_event.listen(session, "after_soft_rollback", _after_rollback)
    session.info[_KEY].extend((store, key) for key in keys)


def _after_commit(session: Session) -> None:
    for store, key in session.info.pop(_KEY, []):
        store.delete(key)


def _after_rollback(session: Session, _previous: object) -> None:
    if not session.in_transaction():
        session.info.pop(_KEY, None)
