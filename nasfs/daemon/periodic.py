"""Periodic jobs of the daemon, added by the method groups as they register (log export and
policy-copy refresh, trash retention, snapshot schedules and space, the scrub schedule, the
reclaimer, the array watch of the mail notifier, backups). Group commit is not among them:
nasfs.fuse.serve runs the filesystem's own for as long as the array is mounted. Each job
runs every `interval` seconds (or sooner when poked) in its own task; a failing run is
logged and retried next period rather than taking the daemon down.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

log = logging.getLogger(__name__)

JobFunction = Callable[[], Awaitable[None]]


@dataclass
class JobStats:
    """What `statistics()` reports per job (also shown by the `status` method)."""

    interval: float
    runs: int = 0
    failures: int = 0
    last_error: str | None = None
    last_run: float | None = None  # trio.current_time() at the end of the last run


@dataclass
class _Job:
    name: str
    function: JobFunction
    stats: JobStats
    wake: trio.Event = field(default_factory=trio.Event)


class PeriodicJobs:
    """A set of named periodic jobs run as one service.

    Add jobs before `run` starts (later additions are picked up only by a new `run`).
    """

    def __init__(self) -> None:
        self._jobs: dict[str, _Job] = {}

    def add(self, name: str, interval: float, function: JobFunction) -> None:
        if name in self._jobs:
            raise ValueError(f"periodic job {name!r} is added twice")
        if not (interval > 0 and math.isfinite(interval)):
            raise ValueError(f"periodic job {name!r} needs a positive interval")
        self._jobs[name] = _Job(name, function, JobStats(interval))

    def poke(self, name: str) -> None:
        """Run job `name` now instead of at the end of its current period."""
        self._jobs[name].wake.set()

    def statistics(self) -> dict[str, JobStats]:
        return {name: job.stats for name, job in self._jobs.items()}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every job until cancelled."""
        async with trio.open_nursery() as nursery:
            for job in self._jobs.values():
                nursery.start_soon(self._loop, job)
            task_status.started()

    async def _loop(self, job: _Job) -> None:
        while True:
            with trio.move_on_after(job.stats.interval):
                await job.wake.wait()
            job.wake = trio.Event()
            try:
                await job.function()
            except Exception as exc:
                job.stats.failures += 1
                job.stats.last_error = str(exc) or repr(exc)
                log.exception("periodic job %s failed", job.name)
            job.stats.runs += 1
            job.stats.last_run = trio.current_time()
