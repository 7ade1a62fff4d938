"""Template environment and filters for the console."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from fastapi.templating import Jinja2Templates

from vigil.kit import clock

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC_DIR = Path(__file__).parent / "static"


@cache
def static_url(path: str) -> str:
    """``/static/<path>?v=<hash of the file>``: a new release never runs with a stale script
    from the browser's cache. Computed once per file; Starlette's ``url_for`` walks every
    route on each call, which cost a third of a case page's template time."""
    file = (STATIC_DIR / path).resolve()
    if not file.is_relative_to(STATIC_DIR.resolve()) or not file.is_file():
        raise ValueError(f"no static file {path!r}")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:10]
    return f"/static/{path}?v={digest}"


def human_delta(delta: timedelta) -> str:
    """'3d 4h', '2h 05m', '12m', '40s': the two largest units, for ages and SLA clocks."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def when(value: datetime | None) -> str:
    """An absolute UTC time with how far it is from now: '21 Nov 09:00 UTC (in 3h 00m)'."""
    if value is None:
        return "—"
    now = clock.now()
    rel = human_delta(value - now)
    rel = f"in {rel}" if value > now else f"{rel} ago"
    return f"{value:%d %b %H:%M} UTC ({rel})"


def minutes_label(minutes: int) -> str:
    return human_delta(timedelta(minutes=minutes))


def short_time(value: datetime | None) -> str:
    """A compact absolute time for dense tables: '21 Nov 09:00'."""
    return "—" if value is None else f"{clock.as_utc(value):%d %b %H:%M}"


templates.env.filters["when"] = when
templates.env.filters["minutes"] = minutes_label
templates.env.filters["short_time"] = short_time
templates.env.globals["static_url"] = static_url
