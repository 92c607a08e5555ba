"""Checks on a mount point before mounting, and waiting for a mount to appear or go away.

The kernel would accept a mount over a non-empty directory and hide its contents; people
lose track of files that way, so we refuse unless `-o nonempty` says it is meant.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from nasfs.errors import NasfsError

# Our own options, handled here and never passed to FUSE (fuse3 no longer knows nonempty).
OWN_OPTIONS = frozenset({"nonempty"})


class MountpointError(NasfsError):
    """The mount point cannot be used: missing, not a directory, busy or not empty."""


def split_options(raw: Sequence[str]) -> list[str]:
    """`-o a,b -o c` → ["a", "b", "c"], empty pieces dropped, order and duplicates kept once."""
    options: list[str] = []
    for chunk in raw:
        for option in chunk.split(","):
            option = option.strip()
            if option and option not in options:
                options.append(option)
    return options


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
    target = os.path.realpath(mountpoint)
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                fields = line.split(b" ")
                if len(fields) > 4 and _unescape(fields[4]) == os.fsencode(target):
                    return True
    except OSError:
        return os.path.ismount(mountpoint)
    return False


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
