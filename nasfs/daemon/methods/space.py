"""Space while mounted: the `compact` method and the background reclaimer.

`compact` runs the store's compaction now, as a maintenance job (one at a time, with
progress, like scrub), while the array stays mounted and in use (nasfs.store.compact keeps
its crash-safety online).

The reclaimer is a periodic job (`reclaim`, every RECLAIM_INTERVAL_S, poked after purges and
snapshot deletions): it commits the filesystem (so chunks freed by deletions become dead
space in the store), and when dead space is worth it — RECLAIM_MIN_BYTES of reclaimable
space (or RECLAIM_MIN_FRACTION of the space for files, if less), or any when the space for
files is nearly used up — compacts, throttled: after every
batch it moves it sleeps as long as the batch took, so clients keep at least half the disks'
time (not while the space for files is nearly used up: then the writers wait for it). It
skips a period while a scrub, rebuild or compaction runs, and stops between two batches
when the daemon stops (as safe as a crash).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from nasfs.daemon.control import MethodTable, Request
from nasfs.daemon.jobrun import run_job
from nasfs.daemon.status import to_jsonable
from nasfs.errors import BadParams, NasfsError
from nasfs.wire import codes

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

log = logging.getLogger(__name__)

RECLAIM_INTERVAL_S = 30.0
RECLAIM_MIN_BYTES = 64 << 20
RECLAIM_MIN_FRACTION = 0.02
RECLAIM_MIN_DEAD = 0.5  # segments at least this dead, normally
PRESSED_MIN_DEAD = 0.05  # ...and when the space for files is nearly used up
PRESSED_FREE_FRACTION = 0.10
PAUSE_FACTOR = 1.0  # seconds of pause per second of work
PAUSE_SLICE_S = 0.1


class ReclaimStopped(NasfsError):
    """The daemon is stopping: the reclaimer left the rest for later."""

    wire_code = codes.RECLAIM_STOPPED


def register(table: MethodTable, daemon: DaemonHost) -> None:
    async def compact(request: Request) -> Any:
        min_dead = float(request.param("min_dead", (int, float), 0.5))
        if not 0.0 <= min_dead <= 1.0:
            raise BadParams("min_dead must be a fraction between 0 and 1")
        await _commit(daemon)
        return await run_job(daemon, request, "compact", functools.partial(
            daemon.store.compact, min_dead))

    async def reclaim() -> None:
        await reclaim_once(daemon)

    async def retry_writes(request: Request) -> Any:
        fs = daemon.array.require_volume("so it has nothing to retry").fs
        was = fs.failsafe.reason
        await fs.retry_writes()
        return {"was_read_only": was}

    table.add("compact", compact)
    table.add("retry_writes", retry_writes)
    daemon.jobs.add("reclaim", RECLAIM_INTERVAL_S, reclaim)


async def _commit(daemon: DaemonHost) -> None:
    """Make the filesystem's pending releases durable, so their chunks are dead now."""
    volume = daemon.array.volume
    if volume is not None:
        await volume.fs.commit()


def _pressure(store: Any) -> tuple[bool, int]:
    """(nearly full, reclaimable bytes worth a run)."""
    fig = store.space.figures()
    area = fig.usable_bytes - fig.reserve_bytes
    pressed = area > 0 and fig.free_bytes < area * PRESSED_FREE_FRACTION
    return pressed, min(RECLAIM_MIN_BYTES, int(area * RECLAIM_MIN_FRACTION))


def _reclaimable(store: Any) -> int:
    return int(store.upkeep.reclaimable_bytes(including_current=True))


async def reclaim_once(daemon: DaemonHost) -> Any:
    """One run of the reclaimer; returns the compaction report, or None if it did nothing."""
    store = daemon.store
    if daemon.job_lock.locked() or daemon.stopping:
        return None
    await _commit(daemon)
    pressed, worth = await trio.to_thread.run_sync(_pressure, store)
    reclaimable = await trio.to_thread.run_sync(_reclaimable, store)
    if reclaimable <= 0 or (reclaimable < worth and not pressed):
        return None
    min_dead = PRESSED_MIN_DEAD if pressed else RECLAIM_MIN_DEAD

    def pace(seconds: float) -> None:
        # In the compaction's worker thread: give the disks back to clients for a while.
        # Not when the space for files is nearly used up: then the clients are waiting for
        # this space (their writes fail with ENOSPC until it is back), so pausing serves
        # them worse than sharing the disks (seen after a purge of a full array).
        until = time.monotonic() + (0.0 if pressed else seconds * PAUSE_FACTOR)
        while True:
            if daemon.stopping:
                raise ReclaimStopped("the daemon is stopping")
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, PAUSE_SLICE_S))

    async with daemon.job_lock:
        daemon.running_job = "reclaim"
        try:
            report = await trio.to_thread.run_sync(functools.partial(
                store.compact, min_dead, pace=pace))
        except ReclaimStopped:
            log.info("reclaimer stopped for the daemon's shutdown")
            return None
        finally:
            daemon.running_job = None
    if report.segments_compacted:
        body = to_jsonable(report)
        daemon.note("daemon", "reclaimed", ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in body.items()))
    return report
