"""Control methods about the array itself: status, flush, umount, scrub, scrub.cancel,
rebuild, methods.

Scrub and rebuild run in a worker thread (they are blocking store calls) and stream the
store's progress reports to the caller as progress lines; one of them at a time per array.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import outcome
import trio

from nasfs import exitcodes
from nasfs.daemon.control import MethodTable, Request
from nasfs.daemon.holders import describe, holders
from nasfs.daemon.status import array_status, to_jsonable
from nasfs.errors import NasfsError
from nasfs.wire import codes

if TYPE_CHECKING:
    from nasfs.daemon.service import Daemon

log = logging.getLogger(__name__)


class JobBusy(NasfsError):
    """A scrub or rebuild is already running on this array."""

    wire_code = codes.JOB_BUSY


class NotMounted(NasfsError):
    """The method needs the mounted filesystem and this daemon has none."""

    wire_code = codes.NOT_MOUNTED


class ScrubCancelled(NasfsError):
    """The running scrub was stopped by `scrub.cancel` (it can be resumed)."""

    wire_code = codes.SCRUB_CANCELLED


class MountBusy(NasfsError):
    """`umount` while processes have files open under the mount point (and no force)."""

    wire_code = codes.MOUNT_BUSY
    errno = errno.EBUSY
    exit_code = exitcodes.BUSY


class NoJob(NasfsError):
    """`scrub.cancel` was asked while no scrub runs."""

    wire_code = codes.NO_JOB


def capacity_extra(daemon: Daemon) -> dict[str, int | None]:
    """Snapshot-held and trash bytes, read on the trio thread (the filesystem's SQLite
    connection belongs to it); empty when the filesystem is not open."""
    fs = daemon.fs
    if fs is None:
        return {}
    extra: dict[str, int | None] = {}
    try:
        extra["snapshot_held_bytes"] = int(fs.snapshots.held_bytes())
    except Exception:
        log.exception("cannot measure snapshot-held bytes for status")
    trash = daemon.trash
    if trash is not None:
        try:
            extra["trash_bytes"] = sum(size for _, size in trash.usage().values())
        except Exception:
            log.exception("cannot measure trash bytes for status")
    return extra


# Seconds the snapshot/trash figures of `status` are reused: measuring them reads the
# filesystem's database on the trio thread, and the console asks for status every 2 s.
SPACE_FIGURES_S = 15.0


def register(table: MethodTable, daemon: Daemon) -> None:
    figures: dict[str, Any] = {"at": -math.inf, "extra": {}}

    async def status(request: Request) -> Any:
        now = trio.current_time()
        if now - figures["at"] > SPACE_FIGURES_S or daemon.fs is None:
            figures["extra"] = capacity_extra(daemon)
            figures["at"] = now
        extra = dict(figures["extra"])
        report = await trio.to_thread.run_sync(functools.partial(
            array_status, daemon.store, source="daemon", mounted=daemon.mounted,
            mountpoint=str(daemon.mountpoint) if daemon.mountpoint else None,
            daemon_pid=daemon.pid, started_at=daemon.started_at,
            running_job=daemon.running_job, events=list(daemon.events)[-20:],
            member_errors=daemon.member_errors.snapshot(), capacity_extra=extra,
            read_only=daemon.fs.failsafe.reason if daemon.fs is not None else None))
        fs = daemon.fs
        if fs is not None:
            reserve = int(fs.snapshots.reserve_bytes(report.capacity.usable_bytes))
            report = dataclasses.replace(report, capacity=dataclasses.replace(
                report.capacity, snapshot_reserve_bytes=reserve))
        return report.to_json()

    async def flush(request: Request) -> Any:
        durable = request.param("durable", bool, True)
        if daemon.fs is None:
            raise NotMounted("the array is not mounted, so there is nothing to flush")
        await daemon.fs.flush_all(durable=durable)
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
        await trio.to_thread.run_sync(daemon.store.check_rebuild, member, onto)
        report = await _run_job(daemon, request, "rebuild", functools.partial(
            daemon.store.rebuild, member, onto))
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

    from nasfs.daemon import scrub_schedule

    scrub_schedule.register(daemon)


async def run_scrub(daemon: Daemon, request: Request | None, *, resume: bool = False,
                    repair: bool = True) -> Any:
    """The whole scrub (data, parity, every metadata copy) as a job; `request` None: the
    schedule started it (no caller to stream progress to)."""
    from nasfs.daemon.scrubjob import full_scrub

    token = trio.lowlevel.current_trio_token()
    return await _run_job(daemon, request, "scrub", functools.partial(
        full_scrub, daemon, token, resume=resume, repair=repair), cancel=daemon.cancel_job)


async def _run_job(daemon: Daemon, request: Request | None, name: str,
                   job: Callable[..., Any], cancel: threading.Event | None = None) -> Any:
    """Run a blocking store job in a thread, streaming its progress to the caller.

    With `cancel`: the job stops (ScrubCancelled) at its next progress report once the
    event is set; the store keeps its resume point, so nothing is lost.
    """
    if daemon.job_lock.locked():
        raise JobBusy(f"a {daemon.running_job or 'maintenance job'} is already running on "
                      "this array; wait for it to finish")
    async with daemon.job_lock:
        daemon.running_job = name
        if cancel is not None:
            cancel.clear()
        who = f"requested by pid {request.peer.pid}" if request is not None else "on schedule"
        daemon.note("daemon", f"{name}-started", who)
        try:
            report = await _with_progress(request, job, cancel)
        except ScrubCancelled as exc:
            daemon.note("daemon", f"{name}-cancelled", str(exc))
            raise
        except NasfsError as exc:
            # Bad arguments found only once the job runs are still not a failed job.
            refused = exc.exit_code == exitcodes.USAGE
            daemon.note("daemon", f"{name}-{'refused' if refused else 'failed'}", str(exc))
            raise
        except Exception as exc:
            daemon.note("daemon", f"{name}-failed", str(exc) or type(exc).__name__)
            raise
        finally:
            daemon.running_job = None
    daemon.note("daemon", f"{name}-finished", summary(report))
    return to_jsonable(report)


def summary(report: Any) -> str:
    """A job report in one line: its counts, and how many items were unrecoverable."""
    body = to_jsonable(report)
    if not isinstance(body, dict):
        return str(body)
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in body.items()
             if not isinstance(v, list | dict) and k != "unrecoverable"]
    lost = body.get("unrecoverable") or []
    parts.append(f"unrecoverable {len(lost) if isinstance(lost, list) else lost}")
    return ", ".join(parts)


async def _with_progress(request: Request | None, job: Callable[..., Any],
                         cancel: threading.Event | None = None) -> Any:
    send, receive = trio.open_memory_channel[dict[str, Any]](math.inf)
    token = trio.lowlevel.current_trio_token()

    def deliver(value: dict[str, Any]) -> None:
        # A report arriving after the job ended is of no use.
        with contextlib.suppress(trio.ClosedResourceError):
            send.send_nowait(value)

    def on_progress(progress: Any) -> None:
        # Called in the worker thread; hand the report to the trio thread without blocking.
        if cancel is not None and cancel.is_set():
            # Raised inside the store's loop, between stripes: the scrub keeps its cursor.
            raise ScrubCancelled("the scrub was stopped before it finished; `nasfs scrub "
                                 "--resume` goes on from where it stopped")
        value = to_jsonable(progress)
        if not isinstance(value, dict):
            value = {"value": value}
        token.run_sync_soon(deliver, value)

    async def forward() -> None:
        async for value in receive:
            if request is not None:
                await request.progress(value)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(forward)
        # Captured rather than raised inside the nursery, which would wrap the job's own
        # error in an ExceptionGroup. Not abandoned on cancel: the store must not be closed
        # under a running job.
        result = await outcome.acapture(
            trio.to_thread.run_sync, functools.partial(job, progress=on_progress))
        send.close()
    return result.unwrap()
