"""Checks on a mount point before mounting, and waiting for a mount to appear or go away.

The kernel would accept a mount over a non-empty directory and hide its contents; people
lose track of files that way, so we refuse unless `-o nonempty` says it is meant.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from nasfs.errors import NasfsError
from nasfs.wire import codes

log = logging.getLogger(__name__)

# Our own options, handled here and never passed to FUSE (fuse3 no longer knows nonempty).
OWN_OPTIONS = frozenset({"nonempty"})


class MountpointError(NasfsError):
    """The mount point cannot be used: missing, not a directory, busy or not empty."""

    wire_code = codes.MOUNTPOINT


def split_options(raw: Sequence[str]) -> list[str]:
    """`-o a,b -o c` → ["a", "b", "c"], empty pieces dropped, order and duplicates kept once."""
    options: list[str] = []
    for chunk in raw:
        for option in chunk.split(","):
            option = option.strip()
            if option and option not in options:
                options.append(option)
    return options


def clear_dead_mount(mountpoint: Path) -> bool:
    """Remove a nasfs FUSE mount whose daemon died (kill -9); True if there was one.

    Such a mount answers requests with ENOTCONN ("transport endpoint is not connected") and
    would make the next mount fail as busy. statvfs is the probe because the kernel always
    asks the daemon for it (stat of the root may be answered from the attribute cache).
    The probe runs in a thread with a timeout so a live but stuck mount cannot hang us;
    anything that is not clearly dead is left alone.
    """
    if mount_fstype(mountpoint) != "fuse.nasfs":
        return False
    outcome: list[int] = []

    def probe() -> None:
        try:
            os.statvfs(mountpoint)
            outcome.append(0)
        except OSError as exc:
            outcome.append(exc.errno or 0)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(5)
    if outcome != [errno.ENOTCONN]:
        return False
    log.warning("removing the dead mount at %s left by a daemon that was killed", mountpoint)
    done = subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise MountpointError(f"mount point {mountpoint} holds a dead mount that fusermount3 "
                              f"could not remove: {done.stderr.strip()}")
    return True


def check_mountpoint(mountpoint: Path, options: Sequence[str]) -> list[str]:
    """Raise MountpointError if `mountpoint` cannot take a mount; return the FUSE options.

    The returned list is `options` without the ones nasfs handles itself (`nonempty`).
    """
    if not mountpoint.exists():
        raise MountpointError(f"mount point {mountpoint} does not exist")
    if not mountpoint.is_dir():
        raise MountpointError(f"mount point {mountpoint} is not a directory")
    if os.path.ismount(mountpoint):
        raise MountpointError(
            f"mount point {mountpoint} is busy: something is already mounted there")
    if "nonempty" not in options:
        try:
            with os.scandir(mountpoint) as entries:
                non_empty = any(True for _ in entries)
        except OSError as exc:
            raise MountpointError(
                f"mount point {mountpoint} cannot be read ({exc.strerror})") from None
        if non_empty:
            raise MountpointError(
                f"mount point {mountpoint} is not empty (mount with -o nonempty to hide its "
                "contents under the array)")
    return [o for o in options if o not in OWN_OPTIONS]


def is_mounted(mountpoint: Path) -> bool:
    """True when a filesystem is mounted exactly at `mountpoint` (per /proc/self/mountinfo).

    Unlike os.path.ismount this never stats the mount point itself, so it cannot hang on a
    FUSE mount whose daemon is stuck or gone.
    """
    return mount_fstype(mountpoint) is not None


def mount_fstype(mountpoint: Path) -> str | None:
    """The type of the filesystem mounted at `mountpoint` (e.g. "fuse.nasfs"), or None.

    The path is made absolute without resolving symlinks in its last component: resolving
    would stat the mount root, which can hang on a stuck FUSE mount.
    """
    path = Path(os.path.abspath(mountpoint))
    target = os.fsencode(os.path.join(os.path.realpath(path.parent), path.name))
    found = None
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                fields = line.split(b" ")
                if len(fields) > 4 and _unescape(fields[4]) == target:
                    # The last mount at a path is the visible one; fstype follows " - ".
                    rest = line.split(b" - ", 1)
                    found = rest[1].split(b" ")[0].decode() if len(rest) == 2 else "unknown"
    except OSError:
        return "unknown" if os.path.ismount(mountpoint) else None
    return found


def _unescape(field: bytes) -> bytes:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out = bytearray()
    i = 0
    while i < len(field):
        if field[i] == 0x5C and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(int(field[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return bytes(out)


def wait_unmounted(mountpoint: Path, *, timeout: float = 60.0) -> bool:
    """Poll until nothing is mounted at `mountpoint`; False if it is still mounted at timeout."""
    deadline = time.monotonic() + timeout
    while is_mounted(mountpoint):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
