"""Sealed JSON attributes on ORM models: the code reads and writes plain values, the database
holds only tokens (``vigil.kit.sealed``) bound to the row's primary key.

Usage, in a models module::

    _FIELDS = sealed.register_column("identity_verifications", "fields")

    class IdentityVerification(Base):
        fields_sealed: Mapped[str | None] = mapped_column("fields", Text)
        fields = SealedJSON("fields_sealed", _FIELDS, default=dict)

    install(IdentityVerification)

Invariants:
- Values are sealed at flush: on UPDATE in ``before_update`` (the row has its id); on INSERT
  the row is written with NULL and sealed right after, in the same transaction, by an
  ``UPDATE`` in ``after_insert`` (the id is known only then). No plaintext reaches a
  statement.
- Reading opens the token once per value and caches it on the instance; a token that fails
  to open raises ``SealedError`` (tampered, or copied from another row): never a silent
  default.
- The keyring comes from the settings the session's engine was made with
  (``vigil.db.make_engine``), remembered on the instance when it is loaded or flushed, so a
  detached instance (``expire_on_commit=False``) still reads.
- As with a plain JSON column, changing a value in place (``v.fields["x"] = 1``) is not
  seen: assign a new value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, update
from sqlalchemy.orm import Mapper, object_session
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from vigil.kit import sealed

__all__ = ["SealedJSON", "install", "keyring_for"]

_RING = "_vigil_sealed_ring"


def keyring_for(bind: Engine | Connection | None) -> sealed.Keyring:
    from vigil.db import settings_of

    engine = bind.engine if isinstance(bind, Connection) else bind
    settings = settings_of(engine) if engine is not None else None
    if settings is None:
        raise sealed.SealedError("no field keyring for this engine (made without make_engine)")
    return sealed.keyring(settings)


def _ring_of(obj: Any) -> sealed.Keyring:
    ring = obj.__dict__.get(_RING)
    if ring is None:
        session = object_session(obj)
        if session is None:
            raise sealed.SealedError("a sealed value read outside a session it was loaded in")
        bind = session.get_bind()
        ring = keyring_for(bind if isinstance(bind, Engine | Connection) else None)
        obj.__dict__[_RING] = ring
    return ring


class SealedJSON:
    """A JSON value stored sealed in the mapped ``Text`` attribute ``column_attr``."""

    def __init__(
        self,
        column_attr: str,
        column: sealed.SealedColumn,
        *,
        default: Callable[[], Any],
        dump: Callable[[Any], Any] | None = None,
        load: Callable[[Any], Any] | None = None,
    ) -> None:
        # ``dump``/``load`` turn a value into JSON and back (e.g. a ``date`` and its ISO
        # text). ``None`` is stored as SQL NULL, and NULL reads as ``default()``.
        self.column_attr = column_attr
        self.column = column
        self.default = default
        self.dump = dump or (lambda value: value)
        self.load = load or (lambda value: value)
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def _pending(self) -> str:
        return f"_vigil_pending_{self.name}"

    @property
    def _cache(self) -> str:
        return f"_vigil_plain_{self.name}"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__
        if self._pending in state:
            return state[self._pending]
        token = getattr(obj, self.column_attr)
        cached = state.get(self._cache)
        if cached is not None and cached[0] == token:
            return cached[1]
        if token is None:
            value = self.default()
        else:
            value = self.load(
                _ring_of(obj).open_json(
                    token, table=self.column.table, column=self.column.column, row=self._row(obj)
                )
            )
        state[self._cache] = (token, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self._pending] = value
        # Makes the row dirty, so the flush seals the new value (see ``_before_update``).
        setattr(obj, self.column_attr, None)
        flag_modified(obj, self.column_attr)

    def _row(self, obj: Any) -> Any:
        return getattr(obj, self.column.pk)

    def seal_pending(self, obj: Any, ring: sealed.Keyring) -> str | None:
        """Seal the value set since the last flush; returns the token (None when nothing
        was set). The caller writes it."""
        state = obj.__dict__
        if self._pending not in state:
            return None
        value = state.pop(self._pending)
        if value is None:
            state[self._cache] = (None, self.default())
            return None  # stored as NULL (the setter already cleared the column)
        token = ring.seal_json(
            self.dump(value),
            table=self.column.table,
            column=self.column.column,
            row=self._row(obj),
        )
        state[self._cache] = (token, value)
        return token


def _sealed_attrs(cls: type) -> list[SealedJSON]:
    found: dict[str, SealedJSON] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, SealedJSON):
                found[name] = value
    return list(found.values())


def install(cls: type) -> type:
    """Seal ``cls``'s :class:`SealedJSON` attributes at every flush (see the invariants)."""
    attrs = _sealed_attrs(cls)

    @event.listens_for(cls, "load")
    def _on_load(target: Any, context: Any) -> None:
        bind = context.session.get_bind()
        target.__dict__[_RING] = keyring_for(bind)

    @event.listens_for(cls, "before_update")
    def _before_update(_mapper: Mapper[Any], connection: Connection, target: Any) -> None:
        ring = keyring_for(connection)
        target.__dict__[_RING] = ring
        for attr in attrs:
            token = attr.seal_pending(target, ring)
            if token is not None:
                setattr(target, attr.column_attr, token)

    @event.listens_for(cls, "after_insert")
    def _after_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
        ring = keyring_for(connection)
        target.__dict__[_RING] = ring
        values: dict[str, str] = {}
        for attr in attrs:
            token = attr.seal_pending(target, ring)
            if token is not None:
                values[mapper.get_property(attr.column_attr).columns[0].name] = token
                set_committed_value(target, attr.column_attr, token)
        if values:
            table = mapper.local_table
            if not isinstance(table, Table):
                raise TypeError(f"{cls.__name__}: sealed attributes need a plain table")
            pk = attrs[0].column.pk
            connection.execute(
                update(table).where(table.c[pk] == getattr(target, pk)).values(values)
            )

    return cls
