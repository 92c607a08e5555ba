"""Numbers for people: sizes, rates, durations, member names. No Textual here."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nasfs.client import units

# One unit system with the CLI (binary, IEC names): see nasfs.units.
size = units.size
rate = units.rate


def duration(seconds: float | None) -> str:
    """Seconds as '1 h 05 min', '3 min 20 s', '12 s'; '?' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def disk_name(index: int) -> str:
    """Members are numbered from 0 on the wire; people count disks from 1 (the same rule as
    nasfs.store.disks, which the console does not import: it talks to the daemon only)."""
    return f"disk {index + 1}"


def short_path(path: str, width: int) -> str:
    """`path` cut from the left to `width` characters: the end names the disk."""
    if len(path) <= width:
        return path
    return "…" + path[-(width - 1):] if width > 1 else "…"


# The box's time zone (setting system.timezone); None: the console process's local time.
_zone: tzinfo | None = None


def set_zone(name: str | None) -> None:
    """Show times in zone `name` from now on (unknown or empty names: local time)."""
    global _zone
    try:
        _zone = ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        _zone = None


def when(ns: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A point in time (ns since the epoch) in the box's time zone."""
    seconds = ns / 1e9
    if _zone is None:
        return time.strftime(fmt, time.localtime(seconds))
    return datetime.fromtimestamp(seconds, _zone).strftime(fmt)


# Where "now" comes from for times computed on this side (next runs); tests pin it.
clock: Callable[[], float] = time.time


def next_run(cron: str, now_s: float | None = None) -> str:
    """When a cron schedule (UTC, as the daemon reads it) fires next, in the box's time."""
    from croniter import croniter

    base = datetime.fromtimestamp(clock() if now_s is None else now_s, UTC)
    try:
        at = float(croniter(cron, base).get_next(float))
    except (ValueError, KeyError):
        return "?"
    return when(at * 1e9)
