"""Bad mounts fail with one clear line and leave the array intact."""

from __future__ import annotations

import os
import shutil

from tests.conftest import MountedArray


def _fails(array: MountedArray, *extra: str) -> str:
    proc = array.start(*extra)
    assert proc.wait(timeout=60) == 1
    return array.log().strip().splitlines()[-1]


def test_missing_mountpoint(fuse_array: MountedArray) -> None:
    fuse_array.mountpoint.rmdir()
    line = _fails(fuse_array)
    assert line == f"nasfs: mount point {fuse_array.mountpoint} does not exist"


def test_busy_mountpoint(mounted: MountedArray) -> None:
    (mounted.mountpoint / "kept").write_bytes(b"x")
    line = _fails(mounted)
    assert "is busy: something is already mounted there" in line
    assert (mounted.mountpoint / "kept").read_bytes() == b"x"


def test_incomplete_array(fuse_array: MountedArray) -> None:
    fuse_array.mount()
    (fuse_array.mountpoint / "kept").write_bytes(b"data")
    fuse_array.unmount()
    moved = [fuse_array.root / "away0", fuse_array.root / "away1"]
    for member, away in zip(fuse_array.members[:2], moved, strict=True):
        os.rename(member, away)
        member.mkdir()
    line = _fails(fuse_array)
    assert line.startswith("nasfs: ") and len(line.splitlines()) == 1
    assert not os.path.ismount(fuse_array.mountpoint)
    for member, away in zip(fuse_array.members[:2], moved, strict=True):
        shutil.rmtree(member)
        os.rename(away, member)
    fuse_array.mount()
    assert (fuse_array.mountpoint / "kept").read_bytes() == b"data"
    fuse_array.unmount()
