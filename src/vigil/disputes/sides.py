"""The parties' sides: statements, message excerpts and files of evidence.

Files are checked by their bytes (never by name or declared type), sealed in the blob store
(AES-GCM, ``vigil.kit.blobs``) before the row is written, and deleted again if the
transaction does not commit. Only staff read them back, and every read is audited."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.disputes import states
from vigil.disputes.access import (
    clean_text,
    get_visible,
    party_of,
    require_marketplace,
)
from vigil.disputes.deadlines import apply_default
from vigil.disputes.models import (
    Dispute,
    DisputeEventKind,
    DisputeStatus,
    DisputeSubmission,
    Party,
    SubmissionKind,
)
from vigil.disputes.outbound import (
    emit_updated,
)
from vigil.disputes.schemas import (
    MAX_EXCERPT_CHARS,
    MAX_EXCERPTS,
    MAX_STATEMENT_CHARS,
    SubmissionIn,
)
from vigil.kit import clock
from vigil.kit.blobs import BlobError, BlobStore
from vigil.kit.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooLarge,
)

MAX_FILE_BYTES = 10 * 1024 * 1024  # per file
MAX_FILES_PER_PARTY = 20
MAX_SUBMISSIONS_PER_PARTY = 20  # statements and excerpt sets, files apart
MAX_FILENAME_CHARS = 200

# File types accepted as evidence, told by their first bytes (never by name or declared type).
PDF, JPEG, PNG, WEBP, GIF, TEXT = (
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "text/plain",
)
FILE_TYPES = (PDF, JPEG, PNG, WEBP, GIF, TEXT)

# --- submissions ------------------------------------------------------------------------------


def default_if_overdue(
    session: Session, settings: Settings, dispute: Dispute, actor: Principal
) -> bool:
    """Apply the respondent's default now if their deadline has passed (the sweep may not
    have run yet). Called before a party's input is written, so the timeline reads
    "defaulted", then the late submission."""
    if dispute.status == DisputeStatus.awaiting_response and clock.now() >= dispute.response_due_at:
        apply_default(session, settings, dispute, actor)
        return True
    return False


def after_party_input(
    session: Session, actor: Principal, dispute: Dispute, party: Party, settings: Settings
) -> None:
    """A respondent's first side, in time, moves an awaiting dispute into mediation. After the
    response deadline the respondent has defaulted, whether or not the sweep has run yet: the
    default is applied now and the submission stays on file as evidence sent late."""
    if party is dispute.respondent and dispute.status == DisputeStatus.awaiting_response:
        if default_if_overdue(session, settings, dispute, actor):
            return
        states.mark_responded(dispute)
        event = states.transition(
            session,
            dispute,
            DisputeStatus.in_mediation,
            DisputeEventKind.responded,
            actor=actor,
            party=party,
        )
        emit_updated(session, dispute, event)


def _check_excerpts(raw: Sequence[Any]) -> list[dict[str, Any]]:
    if len(raw) > MAX_EXCERPTS:
        raise InvalidInput(
            f"at most {MAX_EXCERPTS} excerpts per submission", field="excerpts", code="too_many"
        )
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        data = item.model_dump() if hasattr(item, "model_dump") else dict(item)
        author = str(data.get("author") or "")
        text = str(data.get("text") or "").strip()
        sent_at = data.get("sent_at")
        if author not in (Party.buyer.value, Party.seller.value):
            raise InvalidInput(
                "author is buyer or seller", field=f"excerpts.{i}.author", code="invalid_author"
            )
        if not text or len(text) > MAX_EXCERPT_CHARS:
            raise InvalidInput(
                f"text is 1 to {MAX_EXCERPT_CHARS} characters",
                field=f"excerpts.{i}.text",
                code="invalid_text",
            )
        if not isinstance(sent_at, datetime) or sent_at.tzinfo is None:
            raise InvalidInput(
                "sent_at is a date and time with its zone",
                field=f"excerpts.{i}.sent_at",
                code="invalid_time",
            )
        if sent_at > clock.now() + timedelta(minutes=5):
            raise InvalidInput(
                "sent_at is in the future", field=f"excerpts.{i}.sent_at", code="invalid_time"
            )
        out.append({"sent_at": clock.as_utc(sent_at).isoformat(), "author": author, "text": text})
    return out


def submit(
    session: Session,
    actor: Principal,
    dispute_id: int,
    party_external_id: str,
    body: SubmissionIn,
    *,
    settings: Settings,
) -> DisputeSubmission:
    """A party's statement and/or message excerpts. The respondent's first submission ends
    ``awaiting_response``. 403 ``not_a_party``; 409 ``dispute_resolved``."""
    require_marketplace(actor)
    dispute = get_visible(session, actor, dispute_id, lock=True)
    party = party_of(session, dispute, party_external_id)
    states.refuse_if_resolved(dispute)
    statement = clean_text(body.statement, "statement", MAX_STATEMENT_CHARS, required=False)
    excerpts = _check_excerpts(body.excerpts)
    if not statement and not excerpts:
        raise InvalidInput(
            "send a statement or message excerpts", field="statement", code="empty_submission"
        )
    _check_submission_cap(session, dispute, party)
    default_if_overdue(session, settings, dispute, actor)
    sub = DisputeSubmission(
        dispute_id=dispute.id,
        party=party,
        kind=SubmissionKind.statement if statement else SubmissionKind.excerpts,
        statement=statement or None,
        excerpts=excerpts,
        submitted_via=actor.label[:200],
        created_at=clock.now(),
    )
    session.add(sub)
    session.flush()
    states.record(
        session,
        dispute,
        DisputeEventKind.submission,
        actor=actor,
        party=party,
        data={"submission_id": sub.id, "kind": sub.kind.value, "excerpts": len(excerpts)},
    )
    after_party_input(session, actor, dispute, party, settings)
    session.flush()
    audit.record(
        session,
        actor,
        "disputes.submission.create",
        "dispute",
        dispute.id,
        data={"submission_id": sub.id, "party": party.value, "kind": sub.kind.value},
    )
    return sub


def _check_submission_cap(session: Session, dispute: Dispute, party: Party) -> None:
    count = session.scalar(
        select(func.count())
        .select_from(DisputeSubmission)
        .where(
            DisputeSubmission.dispute_id == dispute.id,
            DisputeSubmission.party == party,
            DisputeSubmission.kind != SubmissionKind.file,
        )
    )
    if (count or 0) >= MAX_SUBMISSIONS_PER_PARTY:
        raise Conflict(
            f"a party may send at most {MAX_SUBMISSIONS_PER_PARTY} statements or excerpt sets",
            field="statement",
            code="too_many_submissions",
        )


def sniff(data: bytes) -> str | None:
    """The type the first bytes announce, or None when it is not one we accept as evidence.
    Plain text is UTF-8 without control characters other than tab and line breaks."""
    if data[:5] == b"%PDF-":
        return PDF
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text and not any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text):
        return TEXT
    return None


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def clean_filename(filename: str | None) -> str:
    name = _UNSAFE_NAME.sub("_", (filename or "").strip()).strip(" .") or "evidence"
    return name[-MAX_FILENAME_CHARS:]


_PENDING = "vigil.disputes.pending_blobs"


def _forget_blobs(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)


def _drop_blobs(session: Session, transaction: Any) -> None:
    # Whatever is still listed when the outermost transaction ends was not committed.
    if transaction.parent is not None or transaction.nested:
        return
    for store, key in session.info.pop(_PENDING, []):
        store.delete(key)


def track_blob(session: Session, store: BlobStore, key: str) -> None:
    if _PENDING not in session.info:
        if not sa_event.contains(session, "after_commit", _forget_blobs):
            sa_event.listen(session, "after_commit", _forget_blobs)
            sa_event.listen(session, "after_transaction_end", _drop_blobs)
        session.info[_PENDING] = []
    session.info[_PENDING].append((store, key))


def blob_store(settings: Settings) -> BlobStore:
    # The identity domain owns the store's construction (one per Settings, key read once).
    from vigil.identity.service import blob_store

    return blob_store(settings)


def add_file(
    session: Session,
    actor: Principal,
    dispute_id: int,
    party_external_id: str,
    filename: str | None,
    content_type: str | None,
    data: bytes,
    *,
    settings: Settings,
) -> DisputeSubmission:
    """A file of evidence, sealed in the blob store. The type is told by the bytes (PDF,
    JPEG, PNG, WebP, GIF, plain text); a declared ``content_type`` that says otherwise is
    refused (422 ``content_type_mismatch``); over :data:`MAX_FILE_BYTES` is 413
    ``file_too_large``."""
    require_marketplace(actor)
    dispute = get_visible(session, actor, dispute_id, lock=True)
    party = party_of(session, dispute, party_external_id)
    states.refuse_if_resolved(dispute)
    if not data:
        raise InvalidInput("the file is empty", field="file", code="empty_file")
    if len(data) > MAX_FILE_BYTES:
        raise TooLarge(
            f"the file is {len(data):,} bytes; the limit is {MAX_FILE_BYTES:,}",
            field="file",
            code="file_too_large",
        )
    kind = sniff(data)
    if kind is None:
        raise InvalidInput(
            f"the file is not one of: {', '.join(FILE_TYPES)}",
            field="file",
            code="unsupported_file_type",
        )
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared and declared != "application/octet-stream" and declared != kind:
        raise InvalidInput(
            f"the file is {kind}, not {declared}", field="file", code="content_type_mismatch"
        )
    count = session.scalar(
        select(func.count())
        .select_from(DisputeSubmission)
        .where(
            DisputeSubmission.dispute_id == dispute.id,
            DisputeSubmission.party == party,
            DisputeSubmission.kind == SubmissionKind.file,
        )
    )
    if (count or 0) >= MAX_FILES_PER_PARTY:
        raise Conflict(
            f"a party may add at most {MAX_FILES_PER_PARTY} files",
            field="file",
            code="too_many_files",
        )
    default_if_overdue(session, settings, dispute, actor)
    store = blob_store(settings)
    try:
        key = store.put(data)
    except (OSError, BlobError) as exc:  # pragma: no cover - disk trouble
        raise Conflict("the file could not be stored; try again", code="storage_failed") from exc
    track_blob(session, store, key)
    sub = DisputeSubmission(
        dispute_id=dispute.id,
        party=party,
        kind=SubmissionKind.file,
        filename=clean_filename(filename),
        content_type=kind,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        blob_key=key,
        excerpts=[],
        submitted_via=actor.label[:200],
        created_at=clock.now(),
    )
    session.add(sub)
    session.flush()
    states.record(
        session,
        dispute,
        DisputeEventKind.submission,
        actor=actor,
        party=party,
        data={"submission_id": sub.id, "kind": SubmissionKind.file.value, "bytes": len(data)},
    )
    after_party_input(session, actor, dispute, party, settings)
    session.flush()
    audit.record(
        session,
        actor,
        "disputes.submission.create",
        "dispute",
        dispute.id,
        data={
            "submission_id": sub.id,
            "party": party.value,
            "kind": "file",
            "content_type": kind,
            "size_bytes": len(data),
        },
    )
    return sub


def file_content(
    session: Session,
    actor: Principal,
    dispute_id: int,
    submission_id: int,
    *,
    settings: Settings,
) -> tuple[bytes, str]:
    """A file's bytes and type, for staff only; every read is audited. Pass the app's
    ``settings`` (the blob store lives under its data folder)."""
    actor.require(Permission.disputes_read)
    dispute = get_visible(session, actor, dispute_id, lock=False)
    if not actor.is_staff:
        raise PermissionDenied("files are shown to staff only", code="staff_only")
    sub = session.get(DisputeSubmission, submission_id)
    if sub is None or sub.dispute_id != dispute.id or sub.kind != SubmissionKind.file:
        raise NotFound("no such file", code="file_not_found")
    assert sub.blob_key is not None and sub.content_type is not None
    try:
        data = blob_store(settings).get(sub.blob_key)
    except BlobError as exc:
        raise NotFound("the file's content is not available", code="file_unavailable") from exc
    audit.record(
        session,
        actor,
        "disputes.file.view",
        "dispute",
        dispute.id,
        data={"submission_id": sub.id, "party": sub.party.value},
    )
    return data, sub.content_type
