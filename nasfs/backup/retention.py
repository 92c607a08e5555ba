"""Which generations a job keeps: a pure function over (name, time) pairs.

Called only after a successful run, with the complete generations (never the incomplete
one), so a failed run never rotates anything. Whatever the rule, the newest generation
stays: there is always a last good one.

- keep_last N: the newest N.
- smart ("hourly for a day, daily for a month, weekly after", as Synology's Smart Recycle):
  every generation younger than a day; the newest of each UTC day for 31 days; the newest
  of each ISO week after that; at most 256 in all (the oldest weeks go first).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from nasfs.backup.model import MAX_GENERATIONS, Retention

DAY_S = 86400.0
MONTH_DAYS = 31


def _day(t: float) -> tuple[int, int, int]:
    d = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return (d.year, d.month, d.day)


def _week(t: float) -> tuple[int, int]:
    iso = datetime.datetime.fromtimestamp(t, datetime.UTC).isocalendar()
    return (iso[0], iso[1])


def to_keep(generations: Sequence[tuple[str, float]], rule: Retention,
            now_s: float) -> set[str]:
    """Names (of (name, seconds since the epoch) pairs) that `rule` keeps."""
    newest_first = sorted(generations, key=lambda g: (g[1], g[0]), reverse=True)
    if not newest_first:
        return set()
    keep: list[str] = []
    if not rule.smart:
        keep = [name for name, _ in newest_first[: rule.keep_last or 1]]
    else:
        days: set[tuple[int, int, int]] = set()
        weeks: set[tuple[int, int]] = set()
        for name, t in newest_first:
            age = now_s - t
            if age < DAY_S:
                keep.append(name)
            elif age < MONTH_DAYS * DAY_S:
                if _day(t) not in days:
                    days.add(_day(t))
                    keep.append(name)
            elif _week(t) not in weeks:
                weeks.add(_week(t))
                keep.append(name)
            # Buckets record the newest generation seen in them, kept or not, so an
            # older generation in the same day or week is dropped.
            days.add(_day(t))
            weeks.add(_week(t))
        keep = keep[:MAX_GENERATIONS]
    kept = set(keep)
    kept.add(newest_first[0][0])  # the last good generation, whatever the rule says
    return kept


def to_remove(generations: Sequence[tuple[str, float]], rule: Retention,
              now_s: float) -> list[str]:
    """The generations to delete, oldest first."""
    keep = to_keep(generations, rule, now_s)
    return [name for name, _ in sorted(generations, key=lambda g: (g[1], g[0]))
            if name not in keep]
