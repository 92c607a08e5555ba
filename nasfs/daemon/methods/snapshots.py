"""Control methods `snapshot.*` (see nasfs.snapshots.api) and the daemon's snapshot jobs.

Besides the methods, `register` adds two periodic jobs when the array is mounted:
`snapshot-schedules` (every 30 s: take due scheduled snapshots, thin them out) and
`snapshot-space` (every 15 s: when snapshot-held data outgrew the reserve and the volume is
full, remove the oldest unlocked snapshots). Automatic removals and every changing call go
to the system log (when the policy layer is open) and to the daemon's events.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from nasfs.daemon.array import MountedArray, Volume
from nasfs.daemon.control import MethodTable, Request
from nasfs.fs.snapshots import SnapshotInfo
from nasfs.policy.auditstore import LogEntry
from nasfs.policy.service import process_name
from nasfs.policy.snapshot_state import export
from nasfs.snapshots import api
from nasfs.snapshots.schedule import ScheduleRunner

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

log = logging.getLogger(__name__)

SCHEDULE_INTERVAL_S = 30.0
SPACE_INTERVAL_S = 15.0


def policy_state(array: MountedArray) -> str | None:
    """The policy's current state as JSON (recorded with each snapshot)."""
    return export(array.policy.snapshot)


async def system_log(array: MountedArray, operation: str, *, result: str = "OK",
                     uid: int | None = None, pid: int | None = None,
                     detail: str | None = None) -> None:
    policy = array.policy
    entry = LogEntry(operation, result=result, uid=uid, pid=pid, process=process_name(pid),
                     admin=True, detail=detail)
    try:
        await trio.to_thread.run_sync(policy.log_system, [entry])
    except Exception:
        log.exception("could not write the system-log row for %s", operation)


def _invalidate(daemon: DaemonHost, result: dict[str, Any], volume: Volume) -> None:
    """Tell the kernel about an entry made behind its back (its negative cache is 60 s)."""
    if not daemon.mounted:
        return
    fs, gate = volume.fs, volume.gate
    try:
        path = result["path"].encode("utf-8", "surrogateescape")
        parent, _, name = path.rpartition(b"/")
        folder = fs.resolve(parent)  # the one path lookup, without a kernel reference
        if folder is not None:
            gate.invalidate(folder.ino, name)
    except Exception:
        log.exception("could not invalidate the kernel's cache after a restore")


def register(table: MethodTable, daemon: DaemonHost) -> None:
    removed: list[tuple[SnapshotInfo, str]] = []
    array = daemon.array

    def on_removed(info: SnapshotInfo, reason: str) -> None:
        removed.append((info, reason))
        daemon.note("fs", "snapshot-removed",
                    f"snapshot {info.id} ({info.name}) removed automatically: "
                    + ("more than the limit of snapshots" if reason == "limit"
                       else "the volume is full and snapshots held more than the reserve"))

    async def log_removed() -> None:
        while removed:
            info, reason = removed.pop(0)
            await system_log(array, "snapshot-removed", detail=f"{info.name} ({reason})")

    if array.volume is not None:
        array.volume.snapshots.on_removed.append(on_removed)

    def handler(method: str) -> Callable[[Request], Awaitable[Any]]:
        async def handle(request: Request) -> Any:
            volume = array.require_volume("so it has no snapshots to use")
            fs = volume.fs
            state = policy_state(array) if method == "snapshot.create" else None
            try:
                result = await api.call(fs, method, request.params, policy_state=state)
            except Exception as exc:
                if method in api.CHANGING:
                    await system_log(array, method, result=type(exc).__name__,
                                     uid=request.peer.uid, pid=request.peer.pid,
                                     detail=str(exc))
                raise
            if method == "snapshot.restore":
                _invalidate(daemon, result, volume)
            if method == "snapshot.delete":
                daemon.jobs.poke("reclaim")  # what only it held is dead space now
            if method in ("snapshot.create", "snapshot.delete") and daemon.smb is not None:
                # Previous Versions are relinked on their own thread; the caller is told
                # "done" once SMB clients see the change too.
                await trio.to_thread.run_sync(daemon.smb.versions_linked)
            if method in api.CHANGING:
                await system_log(array, method, uid=request.peer.uid, pid=request.peer.pid,
                                 detail=_describe(request.params))
            await log_removed()
            return result

        return handle

    for method in api.METHODS:
        table.add(method, handler(method))

    if array.volume is not None:
        runner = ScheduleRunner(array.volume.snapshots,
                                policy_state=lambda: policy_state(array))

        async def run_schedules() -> None:
            if array.volume is None:
                return
            taken, _ = await runner.run_due()
            for info in taken:
                await system_log(array, "snapshot.scheduled", detail=info.name)
            await log_removed()

        async def keep_space() -> None:
            if array.volume is None:
                return
            await array.volume.snapshots.reclaim_space()
            await log_removed()

        daemon.jobs.add("snapshot-schedules", SCHEDULE_INTERVAL_S, run_schedules)
        daemon.jobs.add("snapshot-space", SPACE_INTERVAL_S, keep_space)


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
