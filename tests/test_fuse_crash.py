"""Crashes and member loss under a real mount: fsynced data survives, the tree stays usable."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from pathlib import Path

from tests.conftest import MountedArray


def _storm(mnt: Path, synced: dict[str, bytes], stop: threading.Event, seed: int) -> None:
    """Write files until the mount dies; record each one whose fsync returned."""
    rng = random.Random(seed)
    n = 0
    while not stop.is_set():
        n += 1
        name = f"f{n:05d}"
        data = rng.randbytes(rng.choice((10, 5000, 300_000, 1_200_000)))
        try:
            fd = os.open(mnt / name, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
                if n % 3:
                    os.fsync(fd)
                    synced[name] = data
            finally:
                os.close(fd)
        except OSError:
            return


def test_sigkill_during_write_storm_keeps_fsynced_files(fuse_array: MountedArray) -> None:
    mnt = fuse_array.mount()
    (mnt / "before").write_bytes(b"committed before the storm")
    fd = os.open(mnt / "before", os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    synced: dict[str, bytes] = {}
    stop = threading.Event()
    writer = threading.Thread(target=_storm, args=(mnt, synced, stop, 7))
    writer.start()
    deadline = time.monotonic() + 60
    while len(synced) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    fuse_array.kill()  # mid-storm: the writer is still going
    stop.set()
    writer.join()
    assert len(synced) >= 20
    fuse_array.mount()
    assert (mnt / "before").read_bytes() == b"committed before the storm"
    for name, data in synced.items():
        assert (mnt / name).read_bytes() == data, f"{name} lost its fsynced content"
    # The whole tree is readable, and usable for new work, without any repair step.
    for name in os.listdir(mnt):
        (mnt / name).read_bytes()
    (mnt / "after").write_bytes(b"new")
    fuse_array.remount()
    assert (mnt / "after").read_bytes() == b"new"
    fuse_array.unmount()


def test_member_emptied_while_mounted(fuse_array: MountedArray) -> None:
    mnt = fuse_array.mount()
    rng = random.Random(3)
    files = {f"old{i}": rng.randbytes(rng.choice((100, 700_000, 2_500_000))) for i in range(8)}
    for name, data in files.items():
        (mnt / name).write_bytes(data)
    fd = os.open(mnt, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    for name in list(os.listdir(mnt)):
        with open(mnt / name, "rb") as f:
            os.fsync(f.fileno())
    victim = fuse_array.members[1]
    for entry in victim.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    Path("/proc/sys/vm/drop_caches").write_text("3")
    for name, data in files.items():
        assert (mnt / name).read_bytes() == data
    for i in range(4):
        data = rng.randbytes(1_500_000)
        (mnt / f"new{i}").write_bytes(data)
        files[f"new{i}"] = data
        with open(mnt / f"new{i}", "rb") as f:
            os.fsync(f.fileno())
    fuse_array.remount()  # assembles degraded
    for name, data in files.items():
        assert (mnt / name).read_bytes() == data
    fuse_array.unmount()


def test_unsynced_file_never_reads_back_as_zeros_after_a_crash(fuse_array: MountedArray) -> None:
    """fsync of one file commits the tree; another file's size must not outrun its data."""
    mnt = fuse_array.mount()
    unsynced = b"written, closed, never fsynced" * 1000
    (mnt / "unsynced").write_bytes(unsynced)  # buffered in the daemon, size already known
    fd = os.open(mnt / "synced", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"synced")
    os.fsync(fd)  # commits the whole transaction, "unsynced"'s size included
    os.close(fd)
    fuse_array.kill()
    fuse_array.mount()
    assert (mnt / "synced").read_bytes() == b"synced"
    # ext4 data=ordered: absent, empty or complete, but never a size full of zeros.
    if (mnt / "unsynced").exists():
        content = (mnt / "unsynced").read_bytes()
        assert content in (b"", unsynced)
    fuse_array.unmount()
