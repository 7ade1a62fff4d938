"""Real servers on loopback for tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver.

Both record what they receive; the receiver can be told to fail its next N requests, which is
how tests play a flaky marketplace. Use them through the ``smtp_server`` and ``webhook_receiver``
fixtures in ``tests/conftest.py``.
"""

from __future__ import annotations

import socket
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

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
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

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

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
    lock: threading.Lock = field(default_factory=threading.Lock)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every request and answers 200, or
    ``fail_status`` for the next ``fail(n)`` requests."""

    def __init__(self) -> None:
        state = self.state = _ReceiverState()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with state.lock:
                    if state.fail_next > 0:
                        state.fail_next -= 1
                        status = state.fail_status
                    else:
                        status = 200
                    state.requests.append(
                        ReceivedRequest(
                            "POST",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            status,
                        )
                    )
                payload = b'{"ok":true}' if status == 200 else b'{"error":"unavailable"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/vigil"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, count: int, status: int = 503) -> None:
        with self.state.lock:
            self.state.fail_next = count
            self.state.fail_status = status

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def accepted(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.answered == 200]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Wait until ``count`` requests were answered 200."""
        _wait(lambda: len(self.accepted) >= count, timeout, f"{count} accepted webhook(s)")
        return self.accepted
