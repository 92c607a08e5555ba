"""Member disks that really die: ext4 images on loop devices, shut down with
EXT4_IOC_SHUTDOWN, after which every I/O on the filesystem answers EIO, as a disk that
stopped answering does (its mount stays, nothing more reaches the image)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

EXT4_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 2  # stop at once, without writing the journal out


def shut_down(point: Path) -> None:
    """Kill the ext4 filesystem mounted at `point`: every later I/O on it fails (EIO)."""
    fd = os.open(point, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
    finally:
        os.close(fd)


@contextlib.contextmanager
def ext4_disks(base: Path, names: list[str], mib: int = 64) -> Iterator[list[Path]]:
    """One fresh ext4 image per name under `base`, loop-mounted at base/NAME (emptied of
    lost+found, so it is an empty directory as mkfs and rebuild want)."""
    points: list[Path] = []
    try:
        for name in names:
            image = base / f"{name}.img"
            point = base / name
            point.mkdir()
            with open(image, "wb") as f:
                f.truncate(mib << 20)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True)
            subprocess.run(["mount", "-o", "loop", str(image), str(point)], check=True)
            points.append(point)
            shutil.rmtree(point / "lost+found")
        yield points
    finally:
        for point in points:
            subprocess.run(["umount", "-l", str(point)], check=False)
