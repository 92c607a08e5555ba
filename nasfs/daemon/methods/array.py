"""Control methods about the array itself: status, flush, umount, scrub, scrub.cancel,
rebuild, methods.

Scrub and rebuild run as jobs (nasfs.daemon.jobrun): in a worker thread, one at a time per
array, the store's progress streamed to the caller as progress lines.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from nasfs import exitcodes
from nasfs.daemon import scrub_schedule
from nasfs.daemon.array import MountedArray
from nasfs.daemon.control import MethodTable, Request
from nasfs.daemon.holders import describe, holders
from nasfs.daemon.jobrun import run_job, run_scrub
from nasfs.daemon.status import array_status
from nasfs.errors import NasfsError
from nasfs.wire import codes

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

log = logging.getLogger(__name__)


class MountBusy(NasfsError):
    """`umount` while processes have files open under the mount point (and no force)."""

    wire_code = codes.MOUNT_BUSY
    errno = errno.EBUSY
    exit_code = exitcodes.BUSY


class NoJob(NasfsError):
    """`scrub.cancel` was asked while no scrub runs."""

    wire_code = codes.NO_JOB


def capacity_extra(array: MountedArray) -> dict[str, int | None]:
    """Snapshot-held and trash bytes, read on the trio thread (the filesystem's SQLite
    connection belongs to it); empty when the filesystem is not open."""
    volume = array.volume
    if volume is None:
        return {}
    extra: dict[str, int | None] = {}
    try:
        extra["snapshot_held_bytes"] = int(volume.snapshots.held_bytes())
    except Exception:
        log.exception("cannot measure snapshot-held bytes for status")
    try:
        extra["trash_bytes"] = sum(size for _, size in volume.trash.usage().values())
    except Exception:
        log.exception("cannot measure trash bytes for status")
    return extra


# Seconds the snapshot/trash figures of `status` are reused: measuring them reads the
# filesystem's database on the trio thread, and the console asks for status every 2 s.
SPACE_FIGURES_S = 15.0


def register(table: MethodTable, daemon: DaemonHost) -> None:
    figures: dict[str, Any] = {"at": -math.inf, "extra": {}}
    array = daemon.array

    async def status(request: Request) -> Any:
        now = trio.current_time()
        if now - figures["at"] > SPACE_FIGURES_S or array.volume is None:
            figures["extra"] = capacity_extra(array)
            figures["at"] = now
        extra = dict(figures["extra"])
        report = await trio.to_thread.run_sync(functools.partial(
            array_status, array.store, source="daemon", mounted=daemon.mounted,
            mountpoint=str(daemon.mountpoint) if daemon.mountpoint else None,
            daemon_pid=daemon.pid, started_at=daemon.started_at,
            running_job=daemon.running_job, events=list(daemon.events)[-20:],
            member_errors=daemon.member_errors.snapshot(), capacity_extra=extra,
            read_only=array.volume.fs.failsafe.reason if array.volume is not None else None))
        volume = array.volume
        if volume is not None:
            reserve = int(volume.snapshots.reserve_bytes(report.capacity.usable_bytes))
            report = dataclasses.replace(report, capacity=dataclasses.replace(
                report.capacity, snapshot_reserve_bytes=reserve))
        return report.to_json()

    async def flush(request: Request) -> Any:
        durable = request.param("durable", bool, True)
        volume = array.require_volume("so there is nothing to flush")
        await volume.fs.flush_all(durable=durable)
        return {"durable": durable}

    async def umount(request: Request) -> Any:
        force = request.param("force", bool, False)
        mountpoint = str(daemon.mountpoint) if daemon.mountpoint else None
        if daemon.mountpoint is not None and daemon.mounted and not force:
            found = await trio.to_thread.run_sync(functools.partial(
                holders, daemon.mountpoint, ignore=frozenset({daemon.pid})))
            if found:
                raise MountBusy(
                    f"{daemon.mountpoint} is busy, not unmounted: {describe(found)}. Close "
                    "those files (or leave those directories) and try again; `nasfs umount "
                    "--force` unmounts anyway, and those processes then get errors")
        await daemon.shutdown_and_wait(f"umount requested by pid {request.peer.pid}")
        return {"mountpoint": mountpoint, "problems": list(daemon.stop_problems)}

    async def scrub(request: Request) -> Any:
        resume = request.param("resume", bool, False)
        repair = request.param("repair", bool, True)
        return await run_scrub(daemon, request, resume=resume, repair=repair)

    async def scrub_cancel(request: Request) -> Any:
        if daemon.running_job != "scrub":
            raise NoJob("no scrub is running, so there is nothing to stop")
        daemon.cancel_job.set()
        daemon.note("daemon", "scrub-cancel-requested", f"by pid {request.peer.pid}")
        return {"cancelled": "scrub"}

    async def rebuild(request: Request) -> Any:
        member = request.param("member", int)
        onto = Path(request.param("onto", str))
        # A mistyped rebuild is refused here, before the job starts: it is bad arguments
        # (exit 2), not a rebuild that stopped (no rebuild-failed event, so no mail).
        await trio.to_thread.run_sync(array.store.check_rebuild, member, onto)
        report = await run_job(daemon, request, "rebuild", functools.partial(
            array.store.rebuild, member, onto))
        # The member list (record, config file) follows the new disk, so that the next
        # mount is whole rather than degraded.
        note = daemon.member_replaced(member, onto)
        if note is not None and isinstance(report, dict):
            report["config"] = note
        return report

    async def methods(request: Request) -> Any:
        return table.names()

    table.add("status", status)
    table.add("flush", flush)
    table.add("umount", umount)
    table.add("scrub", scrub)
    table.add("scrub.cancel", scrub_cancel)
    table.add("rebuild", rebuild)
    table.add("methods", methods)

    scrub_schedule.register(daemon)
