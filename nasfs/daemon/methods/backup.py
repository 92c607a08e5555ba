"""Control methods `backup.*` (nasfs.backup.service has the table) and the periodic job
`backup` (every 30 s, poked by `backup.run`: scheduled runs and the queue).

Thin glue: the service gets the snapshot calls of the mounted filesystem (on the trio
thread), the mount point to copy from, the run dir for USB mounts, the system log and the
daemon's events (mailed by nasfs/daemon/methods/mail.py through nasfs.mail.notices).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from nasfs.backup.incremental import SnapshotChanges
from nasfs.backup.repository import JobRepository
from nasfs.backup.runner import Context
from nasfs.backup.service import METHODS, BackupService
from nasfs.daemon.array import NotMounted
from nasfs.daemon.control import MethodTable, Request
from nasfs.daemon.methods.snapshots import policy_state, system_log
from nasfs.fs.snapshots import SnapshotManager, SnapshotNotFound

if TYPE_CHECKING:
    from nasfs.daemon.host import DaemonHost

INTERVAL_S = 30.0
WATCH_RETRY_S = 5.0


def register(table: MethodTable, daemon: DaemonHost) -> None:
    if daemon.array.volume is None or daemon.mountpoint is None:
        def unavailable(method: str) -> Callable[[Request], Awaitable[Any]]:
            async def handle(request: Request) -> Any:
                raise NotMounted("backups need the array mounted (nasfs mount): they copy "
                                 "from its snapshots")
            return handle

        for method in METHODS:
            table.add(method, unavailable(method))
        return
    service = build(daemon)
    handlers = service.methods()

    def handler(method: str) -> Callable[[Request], Awaitable[Any]]:
        async def handle(request: Request) -> Any:
            return await handlers[method](request.params)
        return handle

    for method in METHODS:
        table.add(method, handler(method))
    daemon.jobs.add("backup", INTERVAL_S, service.tick)
    service.poke = lambda: daemon.jobs.poke("backup")
    daemon.jobs.add("backup-disk-watch", WATCH_RETRY_S, disk_watch(daemon, service))


def disk_watch(daemon: DaemonHost, service: Any) -> Callable[[], Awaitable[None]]:
    """The periodic job that runs the one-touch disk watch (nasfs.backup.onetouch) for as
    long as the daemon runs; without udev it looks again every WATCH_RETRY_S."""
    import trio

    from nasfs.backup.onetouch import DiskWatch, udev_running

    token = trio.lowlevel.current_trio_token()

    def plugged(uuid: str) -> None:  # the watch's thread
        for name in service.usb_plugged(uuid):
            if trio.from_thread.run_sync(service.enqueue, name, trio_token=token):
                daemon.note("backup", "backup-disk-plugged",
                            f"{name}: its USB disk {uuid} was plugged in; backing up")

    async def watch() -> None:
        if not udev_running():
            return
        w = DiskWatch(plugged)
        service.disk_gone.append(w.forget)
        try:
            await trio.to_thread.run_sync(w.run, abandon_on_cancel=True)
        finally:
            w.stop.set()
            service.disk_gone.remove(w.forget)

    return watch


def build(daemon: DaemonHost) -> BackupService:
    assert daemon.mountpoint is not None
    array = daemon.array

    def snapshots() -> SnapshotManager:
        return array.require_volume("so a backup has no snapshot to copy from").snapshots

    async def take(name: str) -> str:
        snaps = snapshots()
        info = await snaps.create(name, policy_state(array))
        # Locked while the run reads it: never removed for the limit or for space.
        await snaps.set_locked(info.id, True)
        return str(info.name)

    async def drop(name: str) -> None:
        snaps = snapshots()
        sid = snaps.find(name)
        await snaps.set_locked(sid, False)
        await snaps.delete(sid)
        daemon.jobs.poke("reclaim")

    def names() -> list[str]:
        return [s.name for s in snapshots().list(sizes=False)]

    def has_xattrs(name: str) -> bool:
        snaps = snapshots()
        return snaps.view(snaps.find(name)).has_xattrs()

    async def release(name: str) -> None:
        snaps = snapshots()
        await snaps.set_locked(snaps.find(name), False)

    def changes(base: str, new: str, folder: str) -> SnapshotChanges | None:
        snaps = snapshots()
        try:
            older, newer = snaps.get(snaps.find(base)), snaps.get(snaps.find(new))
        except SnapshotNotFound:
            return None
        if older.policy_state != newer.policy_state:
            # Shares, ACLs or accounts changed: what the job may read is not what it read.
            return None
        diff = snaps.diff_folder(older.id, newer.id, folder.encode("utf-8", "surrogateescape"))
        if diff is None:
            return None
        return SnapshotChanges(*(tuple(p.decode("utf-8", "surrogateescape") for p in paths)
                                 for paths in (diff.added, diff.changed, diff.removed)))

    ctx = Context(mountpoint=daemon.mountpoint, run_dir=daemon.config.run_dir,
                  take_snapshot=take, drop_snapshot=drop, snapshot_names=names,
                  now=array.policy.clock.now, stopping=lambda: daemon.stopping,
                  snapshot_has_xattrs=has_xattrs, release_snapshot=release,
                  snapshot_changes=changes)

    def notify(kind: str, job: str, detail: str) -> None:
        daemon.note("backup", kind, detail)

    async def log_row(operation: str, result: str, detail: str) -> None:
        await system_log(array, operation, result=result, detail=detail)

    policy = array.policy
    return BackupService(JobRepository(policy), ctx,
                         lambda share: policy.share(share) is not None, notify, log_row,
                         policy.setting)
