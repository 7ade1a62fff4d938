"""Ingesting the marketplace's events and deciding each one in the same request.

The pipeline, for one event, in the caller's transaction:

1. **Claim** the ``event_id``: one ``INSERT .. ON CONFLICT DO NOTHING RETURNING id``. A
   repeat (same id, same content) gets the stored decision back, ``duplicate: true``, and
   nothing is computed or applied again; the same id with other content is refused (409
   ``event_id_reused``). Two concurrent deliveries of one event: the second waits on the
   first's row and then reads its decision.
2. **Account**: looked up by the marketplace's id. A ``signup`` for an account Vigil does not
   know creates it from ``data`` (and links events that arrived before it); any other type
   for an unknown account is stored and decided, but acts on nothing.
3. **Identifiers** the event was seen with (IP, device, payment fingerprint) are recorded on
   the account through the accounts service, so linked-account features see them.
4. **Features** (:func:`vigil.detection.features.compute`), **rules**
   (:class:`vigil.detection.rules.engine.Engine`, one native call) and the **outcome**
   (:func:`vigil.detection.rules.engine.outcome_for`).
5. **Act** (:mod:`vigil.detection.decide`): a case, an automated decision, or nothing.
6. **Store** the features, hits, outcome and what was done on the claimed row (one UPDATE).

Nothing commits here. A refused event (422, 409) raises before its effects are kept: the
caller's rollback (or, in a batch, the item's savepoint) takes the claim back with it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts_service
from vigil.accounts.models import Account, IdentifierKind
from vigil.accounts.schemas import AccountUpsert, IdentifierIn
from vigil.audit import service as audit
from vigil.auth.principal import ActorType, Principal
from vigil.config import Settings
from vigil.detection import decide, features
from vigil.detection.events import EVENT_SCHEMAS, SYSTEM_EVENT_TYPES, EventIn
from vigil.detection.models import Event, Outcome
from vigil.detection.rules import engine
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, TooLarge, VigilError
from vigil.kit.pagination import decode_cursor, encode_cursor

log = logging.getLogger("vigil.detection")

__all__ = [
    "BatchItem",
    "EventResult",
    "get_event",
    "ingest",
    "ingest_batch",
    "list_events",
    "store_for",
]


# --- results ------------------------------------------------------------------------------------


@dataclass
class EventResult:
    """The decision on one event, as answered to the marketplace."""

    event_id: str
    outcome: str
    score: float
    hits: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    case_id: int | None
    decision_id: int | None
    duplicate: bool = False
    id: int | None = None  # Vigil's id for the stored event
    snoozed_by_case_id: int | None = None

    @classmethod
    def of(cls, row: Event, *, duplicate: bool) -> EventResult:
        return cls(
            event_id=row.event_id,
            outcome=Outcome(row.outcome).value,
            score=row.score,
            hits=list(row.hits or []),
            errors=list(row.errors or []),
            case_id=row.case_id,
            decision_id=row.decision_id,
            duplicate=duplicate,
            id=row.id,
            snoozed_by_case_id=row.snoozed_by_case_id,
        )


@dataclass
class BatchItem:
    """One item of a batch: its result, or why it was refused (``status`` as the single-event
    endpoint would have answered it)."""

    index: int
    event_id: str | None
    result: EventResult | None = None
    status: int = 200
    error: dict[str, Any] | None = None


# --- per-process state ------------------------------------------------------------------------

# How long a recorded sighting of an identifier makes repeats of it skip the write: most
# events repeat the account's usual IP and device, and each write is an upsert, a re-read
# and an audit record (on PostgreSQL the audit chain's lock serialises every writer).
SIGHTING_WINDOW = timedelta(hours=1)
_MAX_SIGHTINGS = 200_000


class Sightings:
    """Which (account, kind, value) this process wrote to ``identifiers`` lately.

    A value is marked only once its transaction commits (a rolled-back write must be
    written again), so a new identifier is always recorded with its first event; a repeat
    within :data:`SIGHTING_WINDOW` is not, so ``last_seen_at`` is exact to the window and
    ``seen_count`` counts sightings at most once per window and process."""

    def __init__(self) -> None:
        self._at: dict[tuple[int, str, str], datetime] = {}

    def recent(self, key: tuple[int, str, str], now: datetime) -> bool:
        at = self._at.get(key)
        return at is not None and now - at < SIGHTING_WINDOW

    def mark(self, keys: list[tuple[int, str, str]], now: datetime) -> None:
        if len(self._at) + len(keys) > _MAX_SIGHTINGS:
            self._at.clear()  # cheaper than an LRU; costs one write per identifier again
        for key in keys:
            self._at[key] = now


@dataclass
class Runtime:
    """What ingestion keeps between requests, per Settings (one per process in production;
    tests make a Settings per test, so they never share counters)."""

    store: features.VelocityStore
    sightings: Sightings


_runtimes: dict[int, Runtime] = {}
_runtimes_lock = threading.Lock()


def runtime_for(settings: Settings) -> Runtime:
    key = id(settings)
    found = _runtimes.get(key)
    if found is None:
        with _runtimes_lock:  # two first requests at once must not make two stores
            found = _runtimes.get(key)
            if found is None:
                found = _runtimes[key] = Runtime(features.make_store(settings), Sightings())
                weakref.finalize(settings, _runtimes.pop, key, None)
    return found


def store_for(settings: Settings) -> features.VelocityStore:
    """The velocity store for these settings (Redis when ``redis_url``, else in-process)."""
    return runtime_for(settings).store


_PENDING = "vigil.detection.sightings"


def _after_commit(session: Session) -> None:
    for sightings, keys, at in session.info.pop(_PENDING, []):
        sightings.mark(keys, at)


def _after_rollback(session: Session, _previous: Any) -> None:
    # Any rollback, a batch item's savepoint included: forgetting too much only costs a
    # write next time.
    session.info.pop(_PENDING, None)


def _pending(session: Session) -> list[Any]:
    if _PENDING not in session.info:
        if not sa_event.contains(session, "after_commit", _after_commit):
            sa_event.listen(session, "after_commit", _after_commit)
            sa_event.listen(session, "after_soft_rollback", _after_rollback)
        session.info[_PENDING] = []
    found: list[Any] = session.info[_PENDING]
    return found


# --- the pipeline -------------------------------------------------------------------------------


def ingest(
    session: Session,
    settings: Settings,
    event: EventIn,
    *,
    actor: Principal,
    store: features.VelocityStore | None = None,
) -> EventResult:
    """Decide one event and store it with its decision (see the module's docstring)."""
    if event.type in SYSTEM_EVENT_TYPES and actor.type is not ActorType.system:
        raise InvalidInput(
            f"'{event.type}' events are recorded by Vigil itself", field="type",
            code="reserved_event_type",
        )  # fmt: skip
    now = clock.now()
    digest = event.fingerprint()
    occurred = event.when(now)
    row_id = _claim(session, event, digest, occurred, now, actor)
    if row_id is None:
        return _repeat(session, event, digest)

    account = _account_for(session, actor, event, occurred)

    runtime = runtime_for(settings)
    if account is not None:
        _record_identifiers(session, actor, runtime.sightings, account, event, occurred, now)
    store = store if store is not None else runtime.store
    values = features.compute(session, settings, store, event, account)
    envelope = event.model_dump()
    envelope["occurred_at"] = occurred
    evaluation = engine.evaluate(
        session, event.type, engine.activation_for(envelope, account, values)
    )
    hits = list(evaluation.hits)
    outcome, score = engine.outcome_for(hits, settings)
    outcome = Outcome(outcome).value
    acted = decide.act(
        session,
        settings,
        event=event,
        occurred_at=occurred.isoformat(),
        account=account,
        hits=hits,
        outcome=outcome,
        score=score,
    )
    hit_rows = [_plain(h) for h in hits]
    errors = [{"code": "rule_error", **_plain(e)} for e in evaluation.errors] + acted.errors
    session.connection().execute(
        _FINISH,
        {
            "row_id": row_id,
            "account_id": account.id if account is not None else None,
            "features": _json(values),
            "outcome": outcome,
            "score": float(score),
            "hits": hit_rows,
            "errors": errors,
            "case_id": acted.case_id,
            "decision_id": acted.decision_id,
            "snoozed_by_case_id": acted.snoozed_by_case_id,
        },
    )
    return EventResult(
        event_id=event.event_id,
        outcome=outcome,
        score=float(score),
        hits=hit_rows,
        errors=errors,
        case_id=acted.case_id,
        decision_id=acted.decision_id,
        duplicate=False,
        id=row_id,
        snoozed_by_case_id=acted.snoozed_by_case_id,
    )


# Built once: on the hot path, building a statement costs more than running it.
_FINISH = update(Event).where(Event.id == bindparam("row_id"))


def _claim(
    session: Session,
    event: EventIn,
    digest: str,
    occurred: datetime,
    now: datetime,
    actor: Principal,
) -> int | None:
    """Insert the event's row, or find that its ``event_id`` is taken (None)."""
    payload = event.model_dump(mode="json")
    payload["occurred_at"] = occurred.isoformat()
    values: dict[str, Any] = {
        "event_id": event.event_id,
        "payload_sha256": digest,
        "type": event.type,
        "account_external_id": event.account_id,
        "counterparty_external_id": event.counterparty_id,
        "occurred_at": occurred,
        "received_at": now,
        "source": actor.label[:200],
        "payload": payload,
        "features": {},
        "outcome": Outcome.allow.value,
        "score": 0.0,
        "hits": [],
        "errors": [],
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Event)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(Event.id)
    )
    found = session.execute(stmt).scalar()
    return None if found is None else int(found)


def _repeat(session: Session, event: EventIn, digest: str) -> EventResult:
    row = session.scalar(
        select(Event)
        .where(Event.event_id == event.event_id)
        .execution_options(populate_existing=True)
    )
    if row is None:  # the conflicting insert was rolled back in between; guards a rare race
        raise Conflict("the event is being processed; send it again", code="event_in_flight")
    if row.payload_sha256 != digest:
        raise Conflict(
            f"event_id {event.event_id!r} was already used for a different event",
            field="event_id",
            code="event_id_reused",
        )
    return EventResult.of(row, duplicate=True)


_SIGNUP_FIELDS = ("side", "email", "phone", "country", "locale", "display_name")


def _account_for(
    session: Session, actor: Principal, event: EventIn, occurred: datetime
) -> Account | None:
    account = session.scalar(select(Account).where(Account.external_id == event.account_id))
    if account is not None or event.type != "signup":
        return account
    data = event.data
    if not data.get("side"):
        raise InvalidInput(
            f"account {event.account_id!r} is new to Vigil: its signup needs data.side",
            field="data.side",
            code="missing_field",
        )
    fields = {name: data[name] for name in _SIGNUP_FIELDS if data.get(name) is not None}
    try:
        upsert = AccountUpsert(**fields, registered_at=occurred)
    except ValidationError as exc:
        # The accounts API's rules (a display name with control characters, say) are
        # stricter than the event's schema: the same refusal, named as the event's field.
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(
            f"data.{name}: {first['msg']}", field=f"data.{name}", code="invalid_field"
        ) from None
    try:
        account, _ = accounts_service.upsert_account(session, actor, event.account_id, upsert)
    except InvalidInput as exc:
        if exc.field and exc.field in _SIGNUP_FIELDS:
            exc.field = f"data.{exc.field}"
        raise
    # Events that arrived before their account (out-of-order delivery) now belong to it.
    session.execute(
        update(Event)
        .where(Event.account_external_id == event.account_id, Event.account_id.is_(None))
        .values(account_id=account.id)
        .execution_options(synchronize_session=False)
    )
    return account


def _record_identifiers(
    session: Session,
    actor: Principal,
    sightings: Sightings,
    account: Account,
    event: EventIn,
    occurred: datetime,
    now: datetime,
) -> None:
    """Record the event's IP, device and payment fingerprint on the account (through the
    accounts service), unless this process recorded each of them within the window."""
    found = [
        (kind, value)
        for kind, value in (
            (IdentifierKind.ip, event.ip),
            (IdentifierKind.device, event.device_id),
            (IdentifierKind.payment, event.payment_fingerprint),
        )
        if value
    ]
    keys = [(account.id, kind.value, value) for kind, value in found]
    if all(sightings.recent(key, now) for key in keys):
        return
    items = [IdentifierIn(kind=kind, value=value, seen_at=occurred) for kind, value in found]
    accounts_service.add_identifiers(session, actor, account, items, field_prefix="event")
    _pending(session).append((sightings, keys, now))


def _plain(value: Any) -> dict[str, Any]:
    if is_dataclass(value) and not isinstance(value, type):
        return _json(asdict(value))
    if isinstance(value, dict):
        return _json(value)
    return _json(dict(vars(value)))


def _json(value: Any) -> Any:
    """JSON-safe copy (datetimes as ISO text, tuples as lists, sets sorted)."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_json(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# --- batches ------------------------------------------------------------------------------------


def ingest_batch(
    session: Session,
    settings: Settings,
    items: Sequence[EventIn | dict[str, Any] | Any],
    *,
    actor: Principal,
    store: features.VelocityStore | None = None,
) -> list[BatchItem]:
    """Decide each item on its own: a bad item gets its own error (its index and the field,
    as ``events.<i>.<field>``) and the others are still decided. Each item runs in a
    savepoint, so a refused one leaves nothing behind; an unexpected failure of one item
    (status 500, ``internal_error``, logged with its traceback) is rolled back the same way.
    Over ``events_batch_max`` items the whole batch is refused (413 ``batch_too_large``)
    before anything is read."""
    if len(items) > settings.events_batch_max:
        raise TooLarge(
            f"a batch holds at most {settings.events_batch_max} events; send {len(items)} in "
            "several batches",
            field="events",
            code="batch_too_large",
        )
    store = store if store is not None else runtime_for(settings).store
    out: list[BatchItem] = []
    for index, raw in enumerate(items):
        prefix = f"events.{index}"
        event_id = _raw_event_id(raw)
        try:
            event = raw if isinstance(raw, EventIn) else EventIn.model_validate(raw)
        except ValidationError as exc:
            out.append(BatchItem(index, event_id, status=422, error=_validation(exc, prefix)))
            continue
        savepoint = session.begin_nested()
        try:
            result = ingest(session, settings, event, actor=actor, store=store)
        except VigilError as exc:
            savepoint.rollback()
            out.append(
                BatchItem(
                    index,
                    event.event_id,
                    status=exc.status_code,
                    error={
                        "code": exc.code,
                        "message": exc.message,
                        "field": f"{prefix}.{exc.field}" if exc.field else prefix,
                    },
                )
            )
            continue
        except Exception:
            # A bug or a database error on one item (say, a value one backend refuses): that
            # item's savepoint goes, the rest of the batch is still decided and kept.
            savepoint.rollback()
            log.exception("batch item %d (event %r) failed", index, event.event_id)
            out.append(
                BatchItem(
                    index,
                    event.event_id,
                    status=500,
                    error={
                        "code": "internal_error",
                        "message": "this event could not be processed; it was not stored, "
                        "send it again later",
                        "field": prefix,
                    },
                )
            )
            continue
        savepoint.commit()
        out.append(BatchItem(index, event.event_id, result=result))
    return out


def _raw_event_id(raw: Any) -> str | None:
    if isinstance(raw, EventIn):
        return raw.event_id
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


_VALIDATION_CODES = {"extra_forbidden": "unknown_field", "missing": "missing_field"}


def _validation(exc: ValidationError, prefix: str) -> dict[str, Any]:
    """The refusal in the shape ``POST /v1/events`` answers it (same codes), with fields
    under ``events.<i>``."""
    details = [
        {
            "code": _VALIDATION_CODES.get(e["type"], "invalid_field"),
            "field": ".".join([prefix, *(str(p) for p in e["loc"])]),
            "message": str(e["msg"]),
        }
        for e in exc.errors()
    ] or [{"code": "invalid_field", "field": prefix, "message": "invalid"}]
    return {**details[0], "details": details}


# --- reading ------------------------------------------------------------------------------------


def get_event(session: Session, actor: Principal, event_id: str) -> Event:
    """One stored event by the marketplace's ``event_id`` (staff reads are audited)."""
    row = session.scalar(select(Event).where(Event.event_id == event_id))
    if row is None:
        raise NotFound(f"no event {event_id!r}", code="event_not_found")
    if actor.is_staff:
        audit.record(session, actor, "detection.event.view", "event", row.id)
    return row


def list_events(
    session: Session,
    actor: Principal,
    *,
    account: str | None = None,
    type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Event], str | None]:
    """Newest first (by ``occurred_at``, then id), one keyset page at a time. ``account`` is
    the marketplace's id; ``until`` is exclusive. Reads ``ix_events_account_occurred``,
    ``ix_events_type_occurred`` or ``ix_events_occurred``."""
    stmt = select(Event)
    if type is not None:
        if type not in EVENT_SCHEMAS:
            raise InvalidInput(
                f"unknown event type {type!r}", field="type", code="unknown_event_type"
            )
        stmt = stmt.where(Event.type == type)
    if account is not None:
        found = session.scalar(select(Account.id).where(Account.external_id == account))
        if found is not None:
            stmt = stmt.where(Event.account_id == found)
        else:  # events stored before Vigil knew the account
            stmt = stmt.where(Event.account_id.is_(None), Event.account_external_id == account)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(
                "give a time zone (e.g. 2026-11-21T09:00:00Z)", field=name, code="naive_datetime"
            )
    if since is not None:
        stmt = stmt.where(Event.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(Event.occurred_at < until)
    if cursor is not None:
        at, last_id = decode_cursor(cursor, 2)
        try:
            after = clock.as_utc(datetime.fromisoformat(str(at)))
        except ValueError:
            raise InvalidInput(
                "cursor is not valid", field="cursor", code="invalid_cursor"
            ) from None
        if not isinstance(last_id, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        stmt = stmt.where(
            or_(
                Event.occurred_at < after,
                and_(Event.occurred_at == after, Event.id < last_id),
            )
        )
    rows = list(
        session.scalars(stmt.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].occurred_at.isoformat(), rows[-1].id]) if more else None
    if actor.is_staff and rows:
        audit.record(
            session, actor, "detection.event.list", "event", None,
            data={"event_ids": [r.id for r in rows]},
        )  # fmt: skip
    return rows, next_cursor


def events_for_case(session: Session, case_id: int, *, limit: int = 200) -> list[Event]:
    """The signals behind a case, newest first (reads ``ix_events_case``)."""
    return list(
        session.scalars(
            select(Event).where(Event.case_id == case_id).order_by(Event.id.desc()).limit(limit)
        )
    )
