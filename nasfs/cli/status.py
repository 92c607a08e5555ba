"""The status of an array as `nasfs status` and `nasfs demo` report it: found through its
daemon when one runs, else read offline from the disks; and its text form.

Its own module so that the commands that show a status (cli/mount.py's `status`,
cli/demo.py) both import it, rather than one importing the other.
"""

from __future__ import annotations

from pathlib import Path

from nasfs import registry
from nasfs.client import ArrayStatus, Client, DaemonGone, DaemonNotRunning
from nasfs.client.connection import Connection
from nasfs.config import Config
from nasfs.daemon.status import array_status
from nasfs.store import Store
from nasfs.store.disks import disk_name
from nasfs.store.identify import array_uuid
from nasfs.units import size


def array_status_anyhow(config: Config) -> ArrayStatus:
    """Through the array's daemon if it runs, else read offline under the array lock.

    The daemon is found by label only: a disk listed in the config that came back stale
    while the daemon runs must not make `status` fail (offline, assembly judges the list).
    """
    uuid = array_uuid(list(config.members))
    record = registry.read_record(config.run_dir, uuid)
    if record is not None:
        try:
            with Client(Connection.open(Path(record.socket), not_running_hint="")) as client:
                return client.status()
        except (DaemonNotRunning, DaemonGone):
            pass  # it stopped between the check and the call: read offline below
    return offline_status(config, uuid)


def offline_status(config: Config, uuid: str) -> ArrayStatus:
    with registry.ArrayLock.acquire(config.run_dir, uuid, "nasfs status, reading offline",
                                    what=f"array {uuid}"), \
            Store.open(list(config.members)) as store:
        return array_status(store, source="offline")


def format_status(status: ArrayStatus) -> str:
    lines = [f"array {status.array_uuid}: {status.state.upper()} "
             f"({len(status.members)} disks, parity {status.nparity}, "
             f"generation {status.generation})"]
    if status.mounted:
        lines.append(f"mounted at {status.mountpoint} (daemon pid {status.daemon_pid}, "
                     f"up {_duration(status.uptime_s or 0)})")
    elif status.source == "daemon":
        lines.append(f"not mounted (daemon pid {status.daemon_pid})")
    else:
        lines.append("not mounted (read from the disks; no daemon is running)")
    if status.read_only:
        lines.append(f"READ-ONLY (fail-safe): changes cannot be saved ({status.read_only}). "
                     "Files can still be read. Fix the cause (free or replace the full or "
                     "failing disk), then `nasfs retry-writes` or unmount and mount again "
                     "(docs/space.md)")
    if status.running_job:
        lines.append(f"running: {status.running_job}")
    if status.rebuild_in_progress is not None:
        lines.append(f"rebuild of {disk_name(status.rebuild_in_progress)} in progress")
    lines.append("disks:")
    for m in status.members:
        lines.append(f"  {disk_name(m.index):<8} {m.state:<8} {m.path or '(absent)'}")
    c = status.capacity
    lines.append(f"capacity: usable {size(c.usable_bytes)}, used {size(c.used_bytes)}, "
                 f"free {size(c.free_bytes)}, dead {size(c.dead_bytes)} "
                 f"(raw {size(c.raw_bytes)})")
    lines.append(f"space: reserve {size(c.reserve_bytes)} ({size(c.reserve_free_bytes)} "
                 f"unused), reclaimable {size(c.reclaimable_bytes)}, buffered "
                 f"{size(c.buffered_bytes)} (docs/space.md)")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    return f"{s // 3600}h {s % 3600 // 60}m"
