"""Real servers on loopback for tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver.

Both record what they receive and can be made to misbehave, which is how tests play a flaky
mail server or marketplace:

- ``SmtpServer.refuse(n, code)`` answers the next ``n`` mail transactions with an SMTP error
  (421/451 temporary, 550 permanent) at RCPT or DATA; ``go_down()`` / ``come_back()`` close
  and reopen the listening port (connection refused meanwhile, same port afterwards).
- ``WebhookReceiver.fail(n, status)`` answers the next ``n`` requests with an HTTP error;
  ``script(...)`` plays a list of behaviours (a status, a connection reset before or after
  processing, a slow answer after processing); ``go_down()`` / ``come_back()`` as for SMTP.
  The receiver dedups by ``Idempotency-Key`` like a careful marketplace: ``effects`` counts how
  often each key's action was applied (at most once), ``requests`` keeps every request.

Use them through the ``smtp_server`` and ``webhook_receiver`` fixtures in ``tests/conftest.py``.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "the message has no text/plain part"
        return str(part.get_content())  # type: ignore[attr-defined]


class _Sink:
    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.lock = threading.Lock()
        self.refuse_next = 0
        self.refuse_code = 451
        self.refuse_at = "DATA"
        self.refused = 0  # transactions answered with an error so far

    def _refusal(self, stage: str) -> str | None:
        with self.lock:
            if self.refuse_next > 0 and self.refuse_at == stage:
                self.refuse_next -= 1
                self.refused += 1
                kind = "temporary" if self.refuse_code < 500 else "permanent"
                return f"{self.refuse_code} {kind} failure (test server)"
        return None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        refusal = self._refusal("RCPT")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self._refusal("DATA")
        if refusal is not None:
            return refusal
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(
                ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), parsed)
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self._sink = _Sink()
        self._controller = Controller(self._sink, hostname=self.host, port=self.port)
        self._running = False

    def start(self) -> SmtpServer:
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False

    def go_down(self) -> None:
        """Close the port: connections are refused until :meth:`come_back`."""
        self.stop()

    def come_back(self) -> None:
        """Listen again on the same port, keeping what was received."""
        self._controller = Controller(self._sink, hostname=self.host, port=self.port)
        self.start()

    def refuse(self, count: int, code: int = 451, at: str = "DATA") -> None:
        """Answer the next ``count`` mail transactions with SMTP ``code`` at ``at``
        (``"RCPT"`` or ``"DATA"``): 421/451 are temporary, 550 permanent."""
        assert at in ("RCPT", "DATA")
        with self._sink.lock:
            self._sink.refuse_next = count
            self._sink.refuse_code = code
            self._sink.refuse_at = at

    @property
    def refused(self) -> int:
        with self._sink.lock:
            return self._sink.refused

    def by_message_id(self) -> dict[str, int]:
        """How many copies of each Message-ID arrived (a resend keeps its Message-ID)."""
        counts: dict[str, int] = {}
        for mail in self.messages:
            key = str(mail.message["Message-ID"])
            counts[key] = counts.get(key, 0) + 1
        return counts

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._sink.lock:
            return list(self._sink.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        _wait(lambda: len(self.messages) >= count, timeout, f"{count} email(s)")
        return self.messages


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int  # the status code the receiver answered with

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class _ReceiverState:
    requests: list[ReceivedRequest] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 503
    # Behaviours for the next requests, played in order before ``fail_next``: an HTTP status
    # (answered without processing), "reset" (connection reset before processing),
    # "reset-after-processing" (the action is applied, then the connection is reset, so the
    # sender never learns), ("slow", seconds) (applied, then answered after a delay), or
    # ("drip", seconds) (applied, answered 200 at once, then the body a byte at a time).
    script: list[int | str | tuple[str, float]] = field(default_factory=list)
    # Dripped answers whose sender closed the connection before the drip was over.
    hung_up_early: int = 0
    # Idempotency-Key -> how often its action was applied; the receiver dedups, so at most 1.
    effects: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


RESET = "reset"
RESET_AFTER_PROCESSING = "reset-after-processing"


def slow(seconds: float) -> tuple[str, float]:
    """A scripted behaviour: apply the action, then answer 200 after ``seconds``."""
    return ("slow", seconds)


def drip(seconds: float) -> tuple[str, float]:
    """A scripted behaviour: apply the action, answer 200 at once, then send the body one
    byte every 50 ms for ``seconds``."""
    return ("drip", seconds)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every request and answers 200, or
    ``fail_status`` for the next ``fail(n)`` requests, or what ``script(...)`` says.

    Like a marketplace that follows Vigil's advice, it applies each ``Idempotency-Key`` once:
    a repeat is answered 200 without being applied again (``effects``)."""

    def __init__(self) -> None:
        state = self.state = _ReceiverState()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                key = self.headers.get("Idempotency-Key")
                delay = 0.0
                with state.lock:
                    behaviour: int | str | tuple[str, float] = 200
                    if state.script:
                        behaviour = state.script.pop(0)
                    elif state.fail_next > 0:
                        state.fail_next -= 1
                        behaviour = state.fail_status
                    applies = behaviour in (200, RESET_AFTER_PROCESSING) or isinstance(
                        behaviour, tuple
                    )
                    if applies and key is not None and key not in state.effects:
                        state.effects[key] = 1
                    drip = 0.0
                    if isinstance(behaviour, tuple) and behaviour[0] == "drip":
                        drip, status = behaviour[1], 200
                    elif isinstance(behaviour, tuple):
                        delay, status = behaviour[1], 200
                    elif isinstance(behaviour, str):
                        status = 0  # no answer at all
                    else:
                        status = behaviour
                    state.requests.append(
                        ReceivedRequest(
                            "POST",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            status,
                        )
                    )
                if status == 0:
                    # SO_LINGER 0: closing sends RST, the client sees "connection reset".
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if delay:
                    time.sleep(delay)
                if drip:
                    self._drip(drip)
                    return
                payload = b'{"ok":true}' if status == 200 else b'{"error":"unavailable"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the sender gave up waiting (a slow answer)

            def _drip(self, seconds: float) -> None:
                steps = max(int(seconds / 0.05), 1)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(steps))
                    self.end_headers()
                    for _ in range(steps):
                        self.wfile.write(b".")
                        self.wfile.flush()
                        time.sleep(0.05)
                except OSError:
                    with state.lock:
                        state.hung_up_early += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._handler = Handler
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks/vigil"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._running = False

    def start(self) -> WebhookReceiver:
        self._thread.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._server.shutdown()
            self._server.server_close()
            self._running = False

    def go_down(self) -> None:
        """Close the port: connections are refused until :meth:`come_back`."""
        self.stop()

    def come_back(self) -> None:
        """Listen again on the same port, keeping what was received."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.start()

    def fail(self, count: int, status: int = 503) -> None:
        with self.state.lock:
            self.state.fail_next = count
            self.state.fail_status = status

    def script(self, *behaviours: int | str | tuple[str, float]) -> None:
        """Play these behaviours on the next requests, in order (see :class:`_ReceiverState`)."""
        with self.state.lock:
            self.state.script = list(behaviours)

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def hung_up_early(self) -> int:
        with self.state.lock:
            return self.state.hung_up_early

    @property
    def effects(self) -> dict[str, int]:
        with self.state.lock:
            return dict(self.state.effects)

    @property
    def accepted(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.answered == 200]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Wait until ``count`` requests were answered 200."""
        _wait(lambda: len(self.accepted) >= count, timeout, f"{count} accepted webhook(s)")
        return self.accepted
