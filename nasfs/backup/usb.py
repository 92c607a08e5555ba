"""USB disks as backup destinations: found by filesystem UUID (never by device name),
mounted where nasfs chooses (RUN_DIR/backup/usb-<UUID>), unmounted after the job, and
optionally ejected (the kernel is told to drop the device, so it may be pulled).

`lsblk` describes disks (label, model, size, filesystem); `mount UUID=...` lets libblkid
find the device, so a disk that moved from sdb to sdc is still the same destination.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasfs.backup.results import BackupError, DestinationMissing

log = logging.getLogger(__name__)

# Filesystems that cannot hard-link: every generation is a full copy (docs/backup.md).
NO_HARDLINKS = frozenset({"vfat", "exfat", "msdos", "fat"})
# Filesystems that cannot hold POSIX owners, modes, symlinks or xattrs.
NOT_POSIX = NO_HARDLINKS
# Filesystems that hold hard links, symlinks, times and xattrs but not owners and modes:
# ntfs-3g without a user mapping shows every file as root's, mode 0777, and accepts chown
# and chmod without keeping them — rsync would then see every file as changed and never
# hard-link an unchanged one to the previous generation.
NO_OWNERS = frozenset({"ntfs", "ntfs3", "fuseblk"})


@dataclass(frozen=True)
class Disk:
    uuid: str
    device: str
    fstype: str | None
    label: str | None
    model: str | None
    size: int
    mountpoints: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__, mountpoints=list(self.mountpoints))

    def describe(self) -> str:
        words = [self.label or "(no label)", self.model or "", _size(self.size),
                 self.fstype or "?"]
        return " ".join(w for w in words if w)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return str(n)


def disks() -> list[Disk]:
    """Every block device holding a filesystem with a UUID (what may be a destination).

    blkid probes the devices itself (no udev database needed); lsblk adds size and model
    (a partition shows its disk's model).
    """
    probe = subprocess.run(["blkid", "-c", "/dev/null", "-o", "export"],
                           capture_output=True, text=True, check=False)
    if probe.returncode not in (0, 2):  # 2: no device found
        raise BackupError(f"blkid failed: {probe.stderr.strip()}")
    listing = subprocess.run(["lsblk", "--json", "--bytes", "--paths", "-o",
                              "NAME,MODEL,SIZE,PKNAME,MOUNTPOINTS"],
                             capture_output=True, text=True, check=False)
    info: dict[str, dict[str, Any]] = {}

    def walk(devices: list[dict[str, Any]]) -> None:
        for d in devices:
            info[str(d["name"])] = d
            walk(list(d.get("children") or []))

    if listing.returncode == 0:
        walk(json.loads(listing.stdout).get("blockdevices", []))
    found: list[Disk] = []
    for block in probe.stdout.split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if not fields.get("UUID") or not fields.get("DEVNAME"):
            continue
        device = fields["DEVNAME"]
        row = info.get(device, {})
        parent = info.get(str(row.get("pkname") or ""), {})
        model = _text(row.get("model")) or _text(parent.get("model"))
        points = tuple(p for p in (row.get("mountpoints") or []) if isinstance(p, str))
        found.append(Disk(fields["UUID"], device, fields.get("TYPE"), fields.get("LABEL"),
                          model, int(str(row.get("size") or 0)), points))
    return found


def _text(value: Any) -> str | None:
    return (str(value).strip() or None) if value else None


def mount_type(fstype: str | None) -> list[str]:
    """`-t TYPE` for mount when the kernel lacks the filesystem and a FUSE driver has it."""
    known = Path("/proc/filesystems").read_text().split()
    if fstype == "exfat" and "exfat" not in known and (
            Path("/sbin/mount.exfat-fuse").exists() or Path("/usr/sbin/mount.exfat-fuse").exists()):
        return ["-t", "exfat-fuse"]
    if fstype == "ntfs" and "ntfs3" not in known:
        return ["-t", "ntfs-3g"]
    return []


def find(uuid: str) -> Disk:
    """The disk whose filesystem has `uuid`; DestinationMissing when it is not plugged in."""
    for disk in disks():
        if disk.uuid.lower() == uuid.lower():
            return disk
    raise DestinationMissing(f"the USB disk with filesystem UUID {uuid} is not plugged in")


def mount_dir(run_dir: Path, uuid: str) -> Path:
    return run_dir / "backup" / f"usb-{uuid}"


def is_mounted_here(path: Path, uuid: str) -> bool:
    """Whether `path` is a mount point of the filesystem `uuid` right now (a disk pulled or
    lazily unmounted mid-run is not)."""
    if not os.path.ismount(path):
        return False
    out = subprocess.run(["findmnt", "-n", "-o", "UUID,SOURCE", "--mountpoint", str(path)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return False
    words = out.stdout.split()
    if words and words[0].lower() == uuid.lower():
        return True
    # findmnt shows no UUID for some sources; ask libblkid about the device instead.
    source = words[-1] if words else ""
    probe = subprocess.run(["blkid", "-s", "UUID", "-o", "value", source],
                           capture_output=True, text=True, check=False)
    return probe.stdout.strip().lower() == uuid.lower()


class _Users:
    """How many operations of this daemon use each USB mount place right now.

    A run, a `generations` listing, a verify and a restore of the same disk may overlap
    (the console lists generations while a one-touch run starts): the first one mounts the
    disk, the last one unmounts it. Without the count the listing's unmount pulled the
    filesystem out from under the run, and two mounts at once failed as "already mounted".
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards `count` and `eject`, held while (un)mounting
        self.count: dict[Path, int] = {}
        self.eject: set[Path] = set()  # places whose disk is ejected when the last user ends


_users = _Users()


def settle() -> None:
    """Let udev finish the events it has queued (a disk being probed, a device node being
    made), so what blkid and mount see is the disk as it is now, not half plugged."""
    from nasfs.backup.onetouch import udev_running

    if udev_running():
        subprocess.run(["udevadm", "settle", "--timeout=10"], check=False,
                       capture_output=True)


@contextlib.contextmanager
def mounted(run_dir: Path, uuid: str, *, eject: bool = False) -> Iterator[tuple[Path, Disk]]:
    """Mount the disk `uuid` at nasfs's own place for the duration; unmount after the last
    user of that place in this daemon is done (and with `eject`, tell the kernel to drop the
    device then)."""
    where = mount_dir(run_dir, uuid)
    with _users.lock:
        users = _users.count.get(where, 0)
        if users == 0:
            settle()
            disk = find(uuid)
            refuse_in_use(disk, where)
            where.mkdir(parents=True, exist_ok=True, mode=0o700)
            _clear_stale(where)
            _mount(disk, uuid, where)
        else:
            disk = find(uuid)  # still plugged in: another operation is using it
        _users.count[where] = users + 1
        if eject:
            _users.eject.add(where)
    try:
        yield where, disk
    finally:
        with _users.lock:
            _users.count[where] -= 1
            last = _users.count[where] == 0
            if last:
                del _users.count[where]
                _umount(where, lazy=not is_mounted_here(where, uuid))
                if where in _users.eject:
                    _users.eject.discard(where)
                    eject_device(disk.device)


class DestinationInUse(BackupError):
    """The disk is mounted by the system elsewhere (its root, an array member's disk, a disk
    someone mounted by hand): nasfs writes backups only onto disks it mounts itself."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "failed")


def refuse_in_use(disk: Disk, where: Path | None = None) -> None:
    """Refuse a disk mounted anywhere but nasfs's own place for it (`where`; None: any
    place named as `mount_dir` names them, for a job being added while a run may hold the
    disk). Mounting it a second time would let the backup fill the system's or the
    array's disk, and ejecting it at the end would pull that disk out from under the
    system."""
    def ours(point: str) -> bool:
        path = Path(point)
        if where is not None:
            return path == where
        return path.name.lower() == f"usb-{disk.uuid}".lower() and path.parent.name == "backup"

    elsewhere = [p for p in disk.mountpoints if not ours(p)]
    if elsewhere:
        raise DestinationInUse(
            f"the disk {disk.uuid} ({disk.describe()}) is in use by this system, mounted "
            f"at {', '.join(elsewhere)}: a backup destination must be a disk only nasfs "
            "mounts (unmount it there first, or choose another disk)")


def sibling_mounts(device: str) -> list[str]:
    """Where the other partitions of `device`'s disk are mounted (ejecting drops the whole
    disk, so a disk with any of them in use must not be ejected)."""
    listing = subprocess.run(["lsblk", "--json", "--paths", "-o", "NAME,MOUNTPOINTS"],
                             capture_output=True, text=True, check=False)
    parent = subprocess.run(["lsblk", "-n", "--paths", "-o", "PKNAME", device],
                            capture_output=True, text=True, check=False).stdout.strip()
    if listing.returncode != 0 or not parent:
        return []
    found: list[str] = []

    def walk(devices: list[dict[str, Any]], inside: bool) -> None:
        for d in devices:
            here = inside or d.get("name") == parent
            if here and d.get("name") not in (device, parent):
                found.extend(p for p in (d.get("mountpoints") or []) if isinstance(p, str))
            walk(list(d.get("children") or []), here)

    walk(json.loads(listing.stdout).get("blockdevices", []), False)
    return found


def in_use(run_dir: Path, uuid: str) -> bool:
    """Whether an operation of this daemon still has the disk `uuid` mounted."""
    with _users.lock:
        return _users.count.get(mount_dir(run_dir, uuid), 0) > 0


def _clear_stale(where: Path) -> None:
    """Nothing of this daemon uses `where` (the caller holds the lock and the count is 0),
    so a filesystem mounted there is left over: by a daemon that died mid-run, or from a
    disk pulled and plugged in again (the old mount is of the device that went away). It
    is nasfs's own place, so unmounting it loses nothing of anyone's; lazily if something
    outside (a shell standing in it) keeps it busy."""
    if os.path.ismount(where):
        log.warning("unmounting a stale mount at %s before mounting the disk again", where)
        _umount(where, lazy=False)
    if os.path.ismount(where):
        raise DestinationMissing(f"{where} is still mounted and could not be unmounted")


def _mount(disk: Disk, uuid: str, where: Path) -> None:
    done = subprocess.run(["mount", *mount_type(disk.fstype), "-o",
                           "nosuid,nodev,noexec", f"UUID={uuid}", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DestinationMissing(f"the USB disk {uuid} ({disk.describe()}) could not be "
                                 f"mounted: {done.stderr.strip()}")


def _umount(where: Path, *, lazy: bool) -> None:
    if not os.path.ismount(where):
        return
    subprocess.run(["sync", "-f", str(where)], check=False, capture_output=True)
    args = ["umount", *(["-l"] if lazy else []), str(where)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log.warning("could not unmount %s: %s; unmounting lazily", where, done.stderr.strip())
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def eject_device(device: str) -> str:
    """Flush and drop a SCSI/USB device so it may be pulled; says what happened. A disk
    with another partition in use is only flushed: dropping it would take that one too."""
    subprocess.run(["blockdev", "--flushbufs", device], check=False, capture_output=True)
    others = sibling_mounts(device)
    if others:
        return (f"{device} was flushed and unmounted; its disk was not ejected because "
                f"another partition of it is mounted at {', '.join(others)}")
    name = Path(os.path.realpath(device)).name
    parent = subprocess.run(["lsblk", "-n", "-o", "PKNAME", device], capture_output=True,
                            text=True, check=False).stdout.strip() or name
    delete = Path("/sys/block") / parent / "device" / "delete"
    if delete.exists():
        delete.write_text("1\n")
        return f"{device} was ejected and may be removed"
    return f"{device} was flushed and unmounted and may be removed (it cannot be ejected)"
