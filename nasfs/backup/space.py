"""How much room a job's destination has, asked without disturbing it (`backup.space`).

Answered for the Backups screen and `nasfs backup status`-like readers, so it must be cheap
and must never change anything at the destination:

- a folder on this box: statvfs of the folder;
- a USB disk: whether it is plugged in (blkid, by filesystem UUID); its free space only
  while it is mounted (during a run, or mounted by someone else) — nasfs never mounts a
  disk just to measure it (a mount and unmount would also look like a re-plug to udev);
  otherwise the size of its filesystem's partition;
- another box: `df` of the folder over the job's ssh connection;
- the cloud: `rclone about` where the provider answers it.

Blocking (a worker thread). Never raises for an unreachable destination: `reachable` is
false and `detail` says why in words.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nasfs.backup.model import Job
from nasfs.backup.results import BackupError


@dataclass(frozen=True)
class Space:
    reachable: bool
    free_bytes: int | None = None
    total_bytes: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def destination_space(job: Job) -> Space:
    dest = job.destination
    try:
        if dest.kind == "folder":
            return _statvfs(Path(dest.path), f"the folder {dest.path} does not exist")
        if dest.kind == "usb":
            return _usb(dest.uuid or "")
        if dest.kind == "ssh":
            return _ssh(job)
        return _cloud(job)
    except BackupError as exc:
        return Space(False, detail=str(exc))


def _statvfs(path: Path, missing: str) -> Space:
    try:
        st = os.statvfs(path)
    except FileNotFoundError:
        return Space(False, detail=missing)
    except OSError as exc:
        return Space(False, detail=f"{path}: {exc.strerror}")
    return Space(True, st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


def _usb(uuid: str) -> Space:
    from nasfs.backup import usb

    disk = usb.find(uuid)  # DestinationMissing: "... is not plugged in"
    for where in disk.mountpoints:
        if where:
            space = _statvfs(Path(where), f"{where} is gone")
            if space.reachable:
                return Space(True, space.free_bytes, space.total_bytes,
                             f"plugged in: {disk.describe()}")
    return Space(True, None, disk.size or None,
                 f"plugged in: {disk.describe()} (free space is measured while a backup "
                 "runs on it)")


def _ssh(job: Job) -> Space:
    import shlex

    from nasfs.backup.places import SshPlace
    from nasfs.backup.sshkeys import ssh_command

    dest = job.destination
    assert dest.host is not None
    place = SshPlace(dest.user, dest.host, dest.port, dest.path, ssh_command(dest, job.key))
    out = place.run(f"df -B1 --output=size,avail {shlex.quote(dest.path)} | tail -n1",
                    check=False).split()
    if len(out) == 2 and all(w.isdigit() for w in out):
        return Space(True, int(out[1]), int(out[0]))
    return Space(True, detail=f"{dest.host} did not say how much room {dest.path} has")


def _cloud(job: Job) -> Space:
    import json

    from nasfs.backup.cloud import CloudPlace, _rclone

    place = CloudPlace(job.key, job.destination)
    done = _rclone("about", "--json", place.at())
    if done.returncode != 0:
        if not place.still_there():
            return Space(False, detail="the cloud storage cannot be reached: "
                                       + (done.stderr.strip().splitlines() or ["?"])[-1])
        return Space(True, detail="the cloud storage does not tell its free space")
    try:
        about = json.loads(done.stdout)
    except ValueError:
        return Space(True, detail="the cloud storage does not tell its free space")
    free, total = about.get("free"), about.get("total")
    return Space(True, free if isinstance(free, int) else None,
                 total if isinstance(total, int) else None)
