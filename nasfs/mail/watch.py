"""The daemon's periodic look at its array, for the mail notifier.

Every few seconds (and at once when poked by a store event about a member):
- a present member that vanished or was replaced (label or folder gone, disk unmounted so
  its path is on another filesystem) is failed in the store, as a failed write would be;
- a change of the set of missing members becomes one notice (degraded, failed, healthy
  again) that carries the details of the member events that caused it;
- capacity crossing one of `mail.capacity_percent` upwards becomes a notice, once per
  crossing (it must fall 2 points below the threshold before it can be mailed again). The
  percentage is of the space files may use (usable less the reserve, docs/space.md), so
  every threshold below 100 is mailed before the reserve is reached;
- the data area filling up (writes now fail with ENOSPC) is one more notice that says
  what to do; it is mailed again only after space came back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import trio

from nasfs.mail.notices import Notice, for_capacity, for_full, for_health

log = logging.getLogger(__name__)

INTERVAL_S = 5.0
FULL_BELOW_BYTES = 1 << 20
REARM_FULL_BYTES = 8 << 20
HYSTERESIS_PERCENT = 2.0


class ArrayWatch:
    """Call `check` periodically (a blocking function: run it in a worker thread)."""

    def __init__(self, store: Any, notify: Callable[[Notice | None], None],
                 settings: Callable[[], Mapping[str, Any]]) -> None:
        self.store = store
        self.notify = notify
        self.settings = settings
        self._lock = threading.Lock()
        self._missing: tuple[int, ...] | None = None
        self._state = "healthy"
        self._details: list[str] = []
        self._capacity_level = 0
        self._full = False

    def member_event(self, detail: str) -> None:
        """A store event about a member: its words go into the next health notice."""
        with self._lock:
            self._details.append(detail)

    def check(self) -> None:
        store = self.store
        if store is None:
            return
        self._fail_vanished_members(store)
        self._check_health(store)
        self._check_capacity(store)
        self._check_full(store)

    def _fail_vanished_members(self, store: Any) -> None:
        # The store re-probes every member (root, nasfs folder, device, label) and fails
        # those that vanished or were replaced, as a failed write would have.
        store.verify_members()

    def _check_health(self, store: Any) -> None:
        health = store.health()
        missing = tuple(health.missing)
        with self._lock:
            before, self._missing = self._missing, missing
            old_state, self._state = self._state, health.state
            details, self._details = self._details, []
        if missing == before or (before is None and not missing):
            return
        notice = for_health(old_state, health.state, missing)
        if notice is None:
            return
        if details:
            notice = Notice(notice.kind, f"health:{','.join(map(str, missing))}",
                            notice.subject, notice.body + "\n\nWhat happened:\n"
                            + "\n".join(f"- {d}" for d in details))
        else:
            notice = Notice(notice.kind, f"health:{','.join(map(str, missing))}",
                            notice.subject, notice.body)
        self.notify(notice)

    def _check_capacity(self, store: Any) -> None:
        thresholds = sorted(int(t) for t in self.settings().get("mail.capacity_percent", []))
        if not thresholds:
            return
        usable, free = space(store)
        if usable <= 0:
            return
        used = max(usable - free, 0)
        percent = 100.0 * used / usable
        level = max((t for t in thresholds if percent >= t), default=0)
        if level > self._capacity_level:
            self._capacity_level = level
            self.notify(for_capacity(percent, level, used, usable))
        elif level < self._capacity_level:
            # Re-arm only once clearly below, so hovering at the line does not mail often.
            below = [t for t in thresholds if t <= self._capacity_level
                     and percent < t - HYSTERESIS_PERCENT]
            if below:
                self._capacity_level = max((t for t in thresholds
                                            if t < min(below)), default=0)


    def _check_full(self, store: Any) -> None:
        usable, free = space(store)
        if usable <= 0:
            return
        # "Full" is less room than one record: writes of file data are failing now.
        full = free < FULL_BELOW_BYTES
        if full and not self._full:
            self.notify(for_full(usable))
        if full or free > REARM_FULL_BYTES:
            self._full = full


def space(store: Any) -> tuple[int, int]:
    """(space files may use, free) bytes: usable less the reserve, and what writes can still
    take (nasfs.store.space), from statvfs alone: the store's full figures count the catalog
    under its lock, too dear every 5 s."""
    fig = store.space.figures()
    return fig.usable_bytes - fig.reserve_bytes, fig.free_bytes


async def run_check(watch: ArrayWatch) -> None:
    """The periodic job's body."""
    await trio.to_thread.run_sync(watch.check)
