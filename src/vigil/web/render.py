"""Template environment and filters for the console."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from fastapi.templating import Jinja2Templates

from vigil.kit import clock

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


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


templates.env.filters["when"] = when
templates.env.filters["minutes"] = minutes_label
