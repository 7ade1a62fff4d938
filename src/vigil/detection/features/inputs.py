"""What features are computed from, gathered once per event.

Features are grouped by what they need (:class:`Need`); :func:`vigil.detection.features.compute`
gathers each need once (one store call for all velocity, one linked-accounts query, one text
scan and one score per text model) and every feature then reads from :class:`Inputs`.

Linked accounts and text models come from sibling packages, resolved on first use through
:class:`Provided`: a missing provider gives the documented defaults and logs a warning
once, so features never fail for want of an optional part; a provider that exists but
breaks on import is a bug and raises.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.orm import Session

from vigil.accounts.models import Account

log = logging.getLogger(__name__)

# Texts longer than this are scored on their first part: scoring cost stays bounded per
# event whatever a client sends (event schemas cap text well below this).
MAX_TEXT_CHARS = 20_000


class Need(StrEnum):
    """What a feature is computed from; each is gathered at most once per event."""

    event = "event"
    account = "account"
    velocity = "velocity"
    links = "links"
    text = "text"


class EventLike(Protocol):
    """The envelope fields features read (``vigil.detection.events.EventIn`` has them)."""

    @property
    def event_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def occurred_at(self) -> datetime | None: ...
    @property
    def ip(self) -> str | None: ...
    @property
    def device_id(self) -> str | None: ...
    @property
    def payment_fingerprint(self) -> str | None: ...
    @property
    def counterparty_id(self) -> str | None: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class LinkInputs:
    linked_accounts: int = 0
    linked_banned_accounts: int = 0
    linked_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TextInputs:
    length: int
    emails: int = 0
    phones: int = 0
    urls: int = 0
    handles: int = 0
    payment_handles: int = 0  # crypto addresses, IBANs, Pix keys, $cashtags
    payment_apps: tuple[str, ...] = ()
    messaging_apps: tuple[str, ...] = ()
    off_platform_phrases: int = 0
    obfuscated: bool = False
    off_platform_score: float = 0.0
    scam_score: float = 0.0
    abuse_score: float = 0.0

    @property
    def contact_details(self) -> int:
        return self.emails + self.phones + self.urls + self.handles + self.payment_handles

    @property
    def contact_kinds(self) -> list[str]:
        present = (
            ("email", self.emails),
            ("phone", self.phones),
            ("url", self.urls),
            ("handle", self.handles),
            ("payment_handle", self.payment_handles),
            ("payment_app", len(self.payment_apps)),
            ("messaging_app", len(self.messaging_apps)),
        )
        return [kind for kind, n in present if n]


NO_LINKS = LinkInputs()


@dataclass(slots=True)
class Inputs:
    event: EventLike
    account: Account | None
    at: datetime  # the event's time, UTC
    velocity: dict[str, Any] = field(default_factory=dict)
    links: LinkInputs = NO_LINKS
    text: TextInputs | None = None


class Provided:
    """``module.attr`` from another part of detection, imported on first use and kept."""

    def __init__(self, module: str, attr: str) -> None:
        self.module = module
        self.attr = attr
        self._lock = threading.Lock()
        self._resolved = False
        self._value: Any = None

    def get(self) -> Any:
        if self._resolved:
            return self._value
        with self._lock:
            if not self._resolved:
                self._value = self._resolve()
                self._resolved = True
        return self._value

    def _resolve(self) -> Any:
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            # Only the provider itself being absent is tolerated, not a broken import in it.
            if exc.name is None or not self.module.startswith(exc.name):
                raise
            log.warning("%s is not installed: its features take their defaults", self.module)
            return None
        value = getattr(module, self.attr, None)
        if value is None:
            log.warning(
                "%s.%s is missing: its features take their defaults", self.module, self.attr
            )
        return value

    def reset(self) -> None:
        """Resolve again on next use (tests that install a provider mid-process)."""
        with self._lock:
            self._resolved = False
            self._value = None


LINK_FEATURES = Provided("vigil.detection.links.service", "link_features")
CONTACT_SCAN = Provided("vigil.detection.text.contacts", "scan")
LOAD_MODEL = Provided("vigil.detection.text.classifiers", "load")

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def text_model(name: str) -> Any:
    """The shipped text model ``name`` (``scam``, ``abuse``) or None, loaded once per
    process: artifacts change only with a new release or ``vigil models train``, after
    which processes restart."""
    if name in _models:
        return _models[name]
    with _models_lock:
        if name not in _models:
            load: Callable[[str], Any] | None = LOAD_MODEL.get()
            model = load(name) if load is not None else None
            if load is not None and model is None:
                log.warning("no %r text model is installed: %s_score is 0.0", name, name)
            _models[name] = model
    return _models[name]


def forget_text_models() -> None:
    with _models_lock:
        _models.clear()


def gather_links(session: Session, account: Account | None) -> LinkInputs:
    if account is None or account.id is None:
        return NO_LINKS
    link_features = LINK_FEATURES.get()
    if link_features is None:
        return NO_LINKS
    found = link_features(session, account.id)
    return LinkInputs(
        int(found.linked_accounts),
        int(found.linked_banned_accounts),
        tuple(str(k) for k in found.linked_by),
    )


def event_text(event: EventLike) -> str | None:
    value = event.data.get("text") if event.data else None
    if not isinstance(value, str) or not value.strip():
        return None
    return value[:MAX_TEXT_CHARS]


def gather_text(event: EventLike) -> TextInputs | None:
    text = event_text(event)
    if text is None:
        return None
    scan: Callable[[str], Any] | None = CONTACT_SCAN.get()
    found = scan(text) if scan is not None else None
    scam, abuse = text_model("scam"), text_model("abuse")
    length = len(text)
    scam_score = float(scam.score(text)) if scam is not None else 0.0
    abuse_score = float(abuse.score(text)) if abuse is not None else 0.0
    if found is None:
        return TextInputs(length, scam_score=scam_score, abuse_score=abuse_score)
    return TextInputs(
        length,
        emails=len(found.emails),
        phones=len(found.phones),
        urls=len(found.urls),
        handles=len(found.handles),
        payment_handles=len(getattr(found, "payment_handles", ())),
        payment_apps=tuple(str(a) for a in found.payment_apps),
        messaging_apps=tuple(str(a) for a in getattr(found, "messaging_apps", ())),
        off_platform_phrases=len(found.off_platform_phrases),
        obfuscated=bool(getattr(found, "obfuscated", False)),
        off_platform_score=float(found.score),
        scam_score=scam_score,
        abuse_score=abuse_score,
    )
