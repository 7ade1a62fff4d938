"""A burst larger than the cap queues in the event loop instead of filling every thread."""

from __future__ import annotations

import asyncio
import threading

from starlette.types import Receive, Scope, Send

from vigil.kit.asgi import ConcurrencyLimit


def test_a_burst_runs_at_most_limit_requests_at_once_and_all_finish() -> None:
    inside = 0
    most = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.01)
        inside -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limited = ConcurrencyLimit(app, limit=3)
    statuses: list[int] = []

    async def one() -> None:
        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))  # type: ignore[call-overload]

        await limited({"type": "http", "method": "GET", "path": "/"}, receive, send)

    async def burst() -> None:
        await asyncio.gather(*(one() for _ in range(40)))

    # In a thread of its own: a browser test in this process may hold a running loop here.
    runner = threading.Thread(target=lambda: asyncio.run(burst()))
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert most == 3
    assert statuses == [200] * 40
