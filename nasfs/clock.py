"""Where nasfs gets the wall-clock time from, so lock-out, retention, snapshot schedules and log
timestamps can be tested with a clock the test moves by hand.

It sits below every layer (policy, trash, the fs layer's snapshots, schedules) and imports
nothing from nasfs: the namespace layer must not depend on the policy layer to know the time.

`SystemClock` is the real one. `ManualClock` is a real clock whose time only changes when told
to (tests use it; so could a replay tool). Both give UTC nanoseconds since the epoch.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """A source of wall-clock time."""

    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch (UTC)."""
        ...

    def now(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now_ns(self) -> int:
        return time.time_ns()

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that stands still until `set` or `advance` moves it (thread-safe)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._ns = int(start * 1e9)

    def now_ns(self) -> int:
        with self._lock:
            return self._ns

    def now(self) -> float:
        return self.now_ns() / 1e9

    def set(self, seconds: float) -> None:
        with self._lock:
            self._ns = int(seconds * 1e9)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._ns += int(seconds * 1e9)
