"""Retention: personal data goes when its time is up, except what a legal hold keeps.

Each data class has a setting in days (``retention_<class>_days``, 0 turns it off) and an
action: rows are deleted, or the personal parts of a row are removed and the row kept
(anonymized) where the rest still counts for metrics, backtests or the case record.

Invariants:
- Nothing under a legal hold is touched: every class filters holds in SQL
  (``privacy.service`` says what a hold covers), so held rows are never even loaded.
- Idempotent: a row already anonymized is not changed (nor counted) again; a deleted row is
  gone. Two runs at once (two workers) do the same thing twice at worst.
- Bounded: each class walks its candidates by id in batches of ``retention_batch_size`` and
  stops after ``retention_max_rows_per_run`` per class, so one run is one transaction of
  bounded size; the next run goes on from where this one stopped.
- One audit record per run (``privacy.retention.run``) with the counts per class, in the
  run's transaction. A dry run changes and audits nothing.
- Blob files are deleted after the commit (a rolled-back run keeps its files); orphan files
  (no row points at them) older than the grace period are swept, which also catches files of
  a run that died between its commit and the unlink.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, not_, or_, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account, Identifier
from vigil.analytics.clusters.models import TextCluster
from vigil.audit import service as audit
from vigil.auth.models import StaffSession
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.communications.models import Message, MessageStatus
from vigil.config import Settings
from vigil.detection.events import TEXT_TYPES
from vigil.detection.models import Event
from vigil.disputes.models import DisputeSubmission
from vigil.identity.models import IdentityHashBand, IdentityImage, IdentityVerification
from vigil.identity.types import VerificationStatus
from vigil.integrations.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from vigil.kit import clock
from vigil.kit.blobs import BlobStore
from vigil.privacy import service as holds
from vigil.privacy.blobs import delete_after_commit

DECIDED = (VerificationStatus.approved, VerificationStatus.rejected, VerificationStatus.failed)
# Envelope keys kept when an event is anonymized: what it was, when, between which accounts
# (the marketplace's own ids). Everything else (ip, device, payment instrument, data) goes.
EVENT_KEPT_KEYS = ("event_id", "type", "account_id", "occurred_at", "counterparty_id")
# Keys of ``data`` that hold what a user wrote.
TEXT_KEYS = ("text", "title", "description")
# Written by retention and by erasure alike, so it names neither.
REDACTED = "[removed]"
# Webhook deliveries whose body is a copy of a message to the person or of an identity
# verification's outcome (``subject_type`` values used by communications and identity).
MESSAGE_SUBJECT = "message"
IDENTITY_SUBJECT = "identity_verification"


@dataclass
class ClassResult:
    name: str
    action: str  # "delete" or "anonymize"
    days: int
    count: int = 0
    capped: bool = False


@dataclass
class RetentionReport:
    dry_run: bool
    at: datetime
    classes: list[ClassResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {c.name: c.count for c in self.classes}

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "at": self.at.isoformat(),
            "classes": [
                {
                    "name": c.name,
                    "action": c.action,
                    "days": c.days,
                    "count": c.count,
                    "capped": c.capped,
                }
                for c in self.classes
            ],
        }


@dataclass
class _Run:
    session: Session
    settings: Settings
    store: BlobStore
    now: datetime
    dry_run: bool
    batch: int
    cap: int
    blobs: list[str] = field(default_factory=list)


def _scan(run: _Run, query: Select[Any], id_col: Any) -> Iterator[list[Any]]:
    """Candidate rows in id order, a batch at a time, until the per-run cap."""
    last = 0
    seen = 0
    while seen < run.cap:
        rows = list(
            run.session.scalars(
                query.where(id_col > last).order_by(id_col).limit(min(run.batch, run.cap - seen))
            )
        )
        if not rows:
            return
        seen += len(rows)
        last = rows[-1] if isinstance(rows[-1], int) else rows[-1].id
        yield rows


def _not_in(column: Any, query: Select[Any]) -> ColumnElement[bool]:
    # NULL NOT IN (...) is NULL, which would skip every row without an account or a case.
    return or_(column.is_(None), column.not_in(query))


def _held_external_ids() -> Select[Any]:
    return select(Account.external_id).where(Account.id.in_(holds.held_account_ids_query()))


def event_hold_filter() -> list[ColumnElement[bool]]:
    return [
        _not_in(Event.account_id, holds.held_account_ids_query()),
        _not_in(Event.case_id, holds.held_case_ids_query()),
        # Events sent before the account existed carry only its external id.
        _not_in(Event.account_external_id, _held_external_ids()),
        # Reports and messages about a held account are its evidence too.
        _not_in(Event.counterparty_external_id, _held_external_ids()),
    ]


def person_events(account_id: int, external_id: str) -> ColumnElement[bool]:
    """The events of a person: linked to the account, or sent before it existed (no
    ``account_id`` yet, only the marketplace's id)."""
    return or_(
        Event.account_id == account_id,
        and_(Event.account_id.is_(None), Event.account_external_id == external_id),
    )


def delivery_hold_filter() -> list[ColumnElement[bool]]:
    """Webhook deliveries not under a hold: not on a held case, and not a copy of a
    message or an identity verification of a held account or case."""
    held_cases = holds.held_case_ids_query()
    held_messages = select(Message.id).where(
        or_(
            Message.account_id.in_(holds.held_account_ids_query()),
            Message.case_id.in_(held_cases),
        )
    )
    held_verifications = select(IdentityVerification.id).where(
        or_(
            IdentityVerification.account_id.in_(holds.accounts_with_held_evidence_query()),
            IdentityVerification.case_id.in_(held_cases),
        )
    )
    return [
        _not_in(WebhookDelivery.case_id, held_cases),
        not_(
            and_(
                WebhookDelivery.subject_type == MESSAGE_SUBJECT,
                WebhookDelivery.subject_id.in_(held_messages),
            )
        ),
        not_(
            and_(
                WebhookDelivery.subject_type == IDENTITY_SUBJECT,
                WebhookDelivery.subject_id.in_(held_verifications),
            )
        ),
    ]


def person_copy_deliveries(account_id: int) -> ColumnElement[bool]:
    """Deliveries whose body copies a message to the account or one of its identity
    verifications (wherever the case is, or without one)."""
    return or_(
        and_(
            WebhookDelivery.subject_type == MESSAGE_SUBJECT,
            WebhookDelivery.subject_id.in_(
                select(Message.id).where(Message.account_id == account_id)
            ),
        ),
        and_(
            WebhookDelivery.subject_type == IDENTITY_SUBJECT,
            WebhookDelivery.subject_id.in_(
                select(IdentityVerification.id).where(IdentityVerification.account_id == account_id)
            ),
        ),
    )


def account_deliveries(account_id: int) -> ColumnElement[bool]:
    """Every delivery about the account: copies of its messages and verifications, and
    whatever was sent about its cases (decisions)."""
    return or_(
        person_copy_deliveries(account_id),
        WebhookDelivery.case_id.in_(select(Case.id).where(Case.account_id == account_id)),
    )


FINISHED = (DeliveryStatus.delivered, DeliveryStatus.failed)


def delete_deliveries(session: Session, ids: list[int]) -> None:
    session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))


def identity_hold_filter(model: Any) -> list[ColumnElement[bool]]:
    filters = [model.account_id.not_in(holds.accounts_with_held_evidence_query())]
    if model is IdentityVerification:
        filters.append(_not_in(IdentityVerification.case_id, holds.held_case_ids_query()))
    else:
        filters.append(
            model.verification_id.not_in(
                select(IdentityVerification.id).where(
                    IdentityVerification.case_id.in_(holds.held_case_ids_query())
                )
            )
        )
    return filters


# --- the classes -----------------------------------------------------------------------------


def _decided_before(cutoff: datetime) -> list[ColumnElement[bool]]:
    return [
        IdentityVerification.status.in_(DECIDED),
        func.coalesce(IdentityVerification.decided_at, IdentityVerification.processed_at) < cutoff,
    ]


def identity_images(run: _Run, days: int) -> tuple[int, bool]:
    """Document images and selfies ``days`` after the verification's decision: rows, hash
    bands and the encrypted files are deleted."""
    cutoff = run.now - timedelta(days=days)
    decided = select(IdentityVerification.id).where(*_decided_before(cutoff))
    query = select(IdentityImage).where(
        IdentityImage.verification_id.in_(decided), *identity_hold_filter(IdentityImage)
    )
    count = 0
    for rows in _scan(run, query, IdentityImage.id):
        count += len(rows)
        if run.dry_run:
            continue
        ids = [r.id for r in rows]
        run.blobs.extend(r.blob_key for r in rows)
        run.session.execute(delete(IdentityHashBand).where(IdentityHashBand.image_id.in_(ids)))
        run.session.execute(delete(IdentityImage).where(IdentityImage.id.in_(ids)))
    return count, count >= run.cap


def clear_identity_fields(verification: IdentityVerification) -> bool:
    """Remove what was read from a document (fields, and the checks that quote it), keep the
    outcome and reason codes. Returns whether anything changed. The sealed columns become
    NULL (read back as empty), so SQL can tell a cleared row without opening it."""
    changed = verification.fields_sealed is not None or verification.checks_sealed is not None
    if changed:
        verification.fields = None
        verification.checks = None
    return changed


def identity_fields_present() -> ColumnElement[bool]:
    return or_(
        IdentityVerification.fields_sealed.is_not(None),
        IdentityVerification.checks_sealed.is_not(None),
    )


def identity_fields(run: _Run, days: int) -> tuple[int, bool]:
    """What was read from a document (names, numbers, dates, MRZ), ``days`` after the
    decision: the verification row stays with its outcome and reason codes."""
    cutoff = run.now - timedelta(days=days)
    query = select(IdentityVerification).where(
        *_decided_before(cutoff),
        identity_fields_present(),
        *identity_hold_filter(IdentityVerification),
    )
    count = 0
    for rows in _scan(run, query, IdentityVerification.id):
        for row in rows:
            count += True if run.dry_run else clear_identity_fields(row)
    return count, count >= run.cap


def _redacted() -> Any:
    return Event.payload["redacted"].as_string()


def anonymize_event(event: Event) -> bool:
    payload = event.payload or {}
    if payload.get("redacted") == "all":
        return False
    kept = {k: payload[k] for k in EVENT_KEPT_KEYS if k in payload}
    kept["redacted"] = "all"
    event.payload = kept
    return True


def redact_event_text(event: Event) -> bool:
    payload = dict(event.payload or {})
    if payload.get("redacted") is not None:
        return False
    data = payload.get("data")
    if isinstance(data, dict):
        payload["data"] = {k: v for k, v in data.items() if k not in TEXT_KEYS}
    payload["redacted"] = "text"
    event.payload = payload
    return True


def event_payloads(run: _Run, days: int) -> tuple[int, bool]:
    """Events older than ``days``: the payload keeps only what the event was; the outcome,
    features and rule hits stay (metrics and backtests). The payload's ``redacted`` key says
    how far an event was anonymized, so a run skips done rows in SQL."""
    cutoff = run.now - timedelta(days=days)
    query = select(Event).where(
        Event.occurred_at < cutoff,
        or_(_redacted().is_(None), _redacted() != "all"),
        *event_hold_filter(),
    )
    count = 0
    for rows in _scan(run, query, Event.id):
        for row in rows:
            count += True if run.dry_run else anonymize_event(row)
    return count, count >= run.cap


def event_texts(run: _Run, days: int) -> tuple[int, bool]:
    """What users wrote (messages, reviews, listings, reports) older than ``days``."""
    cutoff = run.now - timedelta(days=days)
    query = select(Event).where(
        Event.type.in_(sorted(TEXT_TYPES)),
        Event.occurred_at < cutoff,
        _redacted().is_(None),
        *event_hold_filter(),
    )
    count = 0
    for rows in _scan(run, query, Event.id):
        for row in rows:
            count += True if run.dry_run else redact_event_text(row)
    return count, count >= run.cap


def anonymize_message(message: Message) -> bool:
    """The address, the body and the last sending error (an SMTP refusal quotes the
    address) go; the templated subject, status and times stay."""
    if message.recipient is None and message.body == REDACTED and message.last_error is None:
        return False
    message.recipient = None
    message.body = REDACTED
    message.last_error = None
    return True


def messages(run: _Run, days: int) -> tuple[int, bool]:
    """Messages Vigil sent to users, ``days`` after they were written: the address and the
    body go, the record that a message was sent (subject, status, times) stays. The statement
    of reasons the body quoted is kept in its own table."""
    cutoff = run.now - timedelta(days=days)
    query = select(Message).where(
        Message.created_at < cutoff,
        Message.status.in_((MessageStatus.sent, MessageStatus.failed)),
        or_(
            Message.recipient.is_not(None),
            Message.body != REDACTED,
            Message.last_error.is_not(None),
        ),
        Message.account_id.not_in(holds.held_account_ids_query()),
        _not_in(Message.case_id, holds.held_case_ids_query()),
    )
    count = 0
    for rows in _scan(run, query, Message.id):
        for row in rows:
            count += True if run.dry_run else anonymize_message(row)
    return count, count >= run.cap


def staff_sessions(run: _Run, days: int) -> tuple[int, bool]:
    """Console sessions ``days`` after they expired (they hold the staff member's browser)."""
    expired = StaffSession.expires_at < run.now - timedelta(days=days)
    if run.dry_run:
        count = (
            run.session.scalar(select(func.count()).select_from(StaffSession).where(expired)) or 0
        )
        return min(count, run.cap), count >= run.cap
    count = 0
    while count < run.cap:
        keys = list(
            run.session.scalars(
                select(StaffSession.token_hash)
                .where(expired)
                .order_by(StaffSession.token_hash)
                .limit(min(run.batch, run.cap - count))
            )
        )
        if not keys:
            break
        count += len(keys)
        run.session.execute(delete(StaffSession).where(StaffSession.token_hash.in_(keys)))
    return count, count >= run.cap


def webhook_deliveries(run: _Run, days: int) -> tuple[int, bool]:
    """Finished webhook deliveries (delivered, or failed for good) and their attempts."""
    cutoff = run.now - timedelta(days=days)
    query = select(WebhookDelivery.id).where(
        WebhookDelivery.status.in_(FINISHED),
        WebhookDelivery.created_at < cutoff,
        *delivery_hold_filter(),
    )
    count = 0
    for ids in _scan(run, query, WebhookDelivery.id):
        count += len(ids)
        if run.dry_run:
            continue
        delete_deliveries(run.session, ids)
    return count, count >= run.cap


def identifiers(run: _Run, days: int) -> tuple[int, bool]:
    """Identifiers (emails, phones, IPs, devices, payment instruments, document numbers)
    not seen for ``days``: deleted. Linking accounts by a shared value only needs values
    still in use; an old value comes back as a new row if it is seen again."""
    cutoff = run.now - timedelta(days=days)
    query = select(Identifier.id).where(
        Identifier.last_seen_at < cutoff,
        Identifier.account_id.not_in(holds.accounts_with_held_evidence_query()),
    )
    count = 0
    for ids in _scan(run, query, Identifier.id):
        count += len(ids)
        if not run.dry_run:
            run.session.execute(delete(Identifier).where(Identifier.id.in_(ids)))
    return count, count >= run.cap


def drop_cluster_examples(session: Session, event_ids: set[int]) -> int:
    """Remove these events from every text cluster's examples and member list; returns
    how many clusters changed. Clusters are few (one row per group the periodic job found),
    so they are read whole."""
    if not event_ids:
        return 0
    changed = 0
    for cluster in session.scalars(select(TextCluster).order_by(TextCluster.id)):
        examples = [
            e
            for e in (cluster.examples or [])
            if not (isinstance(e, dict) and _as_int(e.get("event_id")) in event_ids)
        ]
        members = [m for m in (cluster.member_event_ids or []) if _as_int(m) not in event_ids]
        if len(examples) != len(cluster.examples or []) or len(members) != len(
            cluster.member_event_ids or []
        ):
            cluster.examples = examples
            cluster.member_event_ids = members
            changed += 1
    return changed


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def cluster_examples(run: _Run, days: int) -> tuple[int, bool]:
    """Text cluster examples quote users verbatim (contact details masked): an example
    goes when its event's text was removed (``event_texts``) or the event is gone. Runs
    while ``event_texts`` is on (same setting)."""
    count = 0
    for cluster in run.session.scalars(select(TextCluster).order_by(TextCluster.id)):
        ids = {
            i
            for e in (cluster.examples or [])
            if isinstance(e, dict)
            if (i := _as_int(e.get("event_id"))) is not None
        }
        if not ids:
            continue
        live = set(
            run.session.scalars(select(Event.id).where(Event.id.in_(ids), _redacted().is_(None)))
        )
        gone = [
            e
            for e in cluster.examples
            if isinstance(e, dict) and _as_int(e.get("event_id")) not in live
        ]
        if not gone:
            continue
        count += len(gone)
        if not run.dry_run:
            cluster.examples = [e for e in cluster.examples if e not in gone]
    return count, False


def referenced_blob_keys(session: Session, keys: list[str]) -> set[str]:
    found = set(
        session.scalars(select(IdentityImage.blob_key).where(IdentityImage.blob_key.in_(keys)))
    )
    found |= {
        k
        for k in session.scalars(
            select(DisputeSubmission.blob_key).where(DisputeSubmission.blob_key.in_(keys))
        )
        if k is not None
    }
    return found


def _blob_files(store: BlobStore) -> Iterator[tuple[str, float]]:
    root = store.root
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or len(folder.name) != 2:
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            name = entry.name
            if name.startswith(".") or not entry.is_file():
                continue  # a temporary file being written
            try:
                store.path_of(name)
            except Exception:  # not a storage key of ours: leave it alone
                continue
            yield name, entry.stat().st_mtime


def orphan_blobs(run: _Run, hours: int) -> tuple[int, bool]:
    """Blob files no row points at, older than the grace period (a file is written before
    the transaction that records its row commits, so a young file may be on its way)."""
    cutoff = time.time() - hours * 3600
    candidates = [name for name, mtime in _blob_files(run.store) if mtime < cutoff]
    count = 0
    for start in range(0, len(candidates), run.batch):
        if count >= run.cap:
            break
        chunk = candidates[start : start + run.batch]
        taken = referenced_blob_keys(run.session, chunk)
        orphans = [k for k in chunk if k not in taken]
        count += len(orphans)
        if not run.dry_run:
            run.blobs.extend(orphans)
    return count, count >= run.cap


# (name, action, settings field, function)
CLASSES: list[tuple[str, str, str, Callable[[_Run, int], tuple[int, bool]]]] = [
    ("identity_images", "delete", "retention_identity_images_days", identity_images),
    ("identity_fields", "anonymize", "retention_identity_fields_days", identity_fields),
    ("event_texts", "anonymize", "retention_event_texts_days", event_texts),
    ("event_payloads", "anonymize", "retention_event_payloads_days", event_payloads),
    ("messages", "anonymize", "retention_messages_days", messages),
    ("identifiers", "delete", "retention_identifiers_days", identifiers),
    ("cluster_examples", "delete", "retention_event_texts_days", cluster_examples),
    ("staff_sessions", "delete", "retention_staff_sessions_days", staff_sessions),
    ("webhook_deliveries", "delete", "retention_webhook_deliveries_days", webhook_deliveries),
    ("orphan_blobs", "delete", "retention_orphan_blob_grace_hours", orphan_blobs),
]


def run_retention(
    session: Session,
    settings: Settings,
    *,
    dry_run: bool = False,
    store: BlobStore | None = None,
    actor: Principal | None = None,
) -> RetentionReport:
    """One pass over every class. Writes one audit record (unless ``dry_run``); never
    commits. Blob files go after the caller commits."""
    from vigil.identity.service import blob_store

    run = _Run(
        session=session,
        settings=settings,
        store=store or blob_store(settings),
        now=clock.now(),
        dry_run=dry_run,
        batch=max(1, settings.retention_batch_size),
        cap=max(1, settings.retention_max_rows_per_run),
    )
    report = RetentionReport(dry_run=dry_run, at=run.now)
    for name, action, setting, fn in CLASSES:
        days = int(getattr(settings, setting))
        result = ClassResult(name=name, action=action, days=days)
        report.classes.append(result)
        if days <= 0:
            continue
        result.count, result.capped = fn(run, days)
        session.flush()
    if not dry_run:
        delete_after_commit(session, run.store, run.blobs)
        audit.record(
            session,
            actor or Principal.system("retention"),
            "privacy.retention.run",
            "retention",
            None,
            data={
                "counts": report.counts(),
                "capped": [c.name for c in report.classes if c.capped],
            },
        )
    return report
