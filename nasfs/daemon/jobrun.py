"""Running a maintenance job (scrub, rebuild) for the daemon: one at a time per array, in a
worker thread (they are blocking store calls), its progress streamed to the caller as
progress lines, its start and end noted as daemon events (and so mailed). Used by the
`scrub` and `rebuild` methods and by the scrub schedule.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import outcome
import trio

from nasfs import exitcodes
from nasfs.daemon.control import Request
from nasfs.daemon.scrubjob import full_scrub
from nasfs.daemon.status import to_jsonable
from nasfs.errors import NasfsError
from nasfs.wire import codes

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost


class JobBusy(NasfsError):
    """A scrub or rebuild is already running on this array."""

    wire_code = codes.JOB_BUSY


class ScrubCancelled(NasfsError):
    """The running scrub was stopped by `scrub.cancel` (it can be resumed)."""

    wire_code = codes.SCRUB_CANCELLED


async def run_scrub(daemon: DaemonHost, request: Request | None, *, resume: bool = False,
                    repair: bool = True) -> Any:
    """The whole scrub (data, parity, every metadata copy) as a job; `request` None: the
    schedule started it (no caller to stream progress to)."""
    token = trio.lowlevel.current_trio_token()
    return await run_job(daemon, request, "scrub", functools.partial(
        full_scrub, daemon, token, resume=resume, repair=repair), cancel=daemon.cancel_job)


async def run_job(daemon: DaemonHost, request: Request | None, name: str,
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
