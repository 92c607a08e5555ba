"""Events and progress reports the store hands to its caller (the daemon records the events,
writes the damage ones to the system log and mails what an administrator must hear)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StoreEvent:
    """Something an administrator should hear about.

    kind is one of: "member-missing", "member-failed", "read-error", "repaired",
    "unrecoverable", "parity-repaired", "scrub-done", "rebuild-done", "generation-bumped",
    "orphan-removed".
    """

    kind: str
    member: int | None = None
    path: str | None = None
    segment: int | None = None
    detail: str = ""


EventSink = Callable[[StoreEvent], None]


@dataclass(frozen=True)
class Progress:
    """Progress of a long operation (scrub, rebuild, compaction)."""

    done_bytes: int
    total_bytes: int
    rate_bytes_per_s: float
    eta_s: float | None


ProgressCallback = Callable[[Progress], None]

# Seconds between two progress callbacks, so a callback that prints cannot dominate.
REPORT_INTERVAL = 0.2


class ProgressMeter:
    """Turns (done, total) into Progress with a rate measured since this meter started."""

    def __init__(self, total: int, callback: ProgressCallback | None, start_done: int = 0):
        self.total = total
        self.done = start_done
        self._callback = callback
        self._start = time.monotonic()
        self._start_done = start_done
        self._last_report = 0.0

    def advance(self, nbytes: int, *, force: bool = False) -> None:
        self.done += nbytes
        now = time.monotonic()
        if self._callback is None or (not force and now - self._last_report < REPORT_INTERVAL):
            return
        self._last_report = now
        self._callback(self.snapshot())

    def snapshot(self) -> Progress:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = (self.done - self._start_done) / elapsed
        remaining = max(self.total - self.done, 0)
        eta = remaining / rate if rate > 0 else None
        return Progress(self.done, self.total, rate, eta)
