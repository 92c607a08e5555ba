"""What read(2) says when the store cannot give a file's data: EIO, and a line in the log.

Real mount, real member directories. The damage is made offline: the extent rows of a file
are pointed at a chunk id the store has never seen (in every copy of fs.db, written through
the checksum VFS so that the pages check out: a wrong row no page checksum can catch, as a
bug would write), or the shards of its chunk are overwritten on more members than parity
covers.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from nasfs.db import checksums
from tests.conftest import MountedArray


def _write_synced(mnt: Path, name: str, data: bytes) -> None:
    fd = os.open(mnt / name, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_errno(path: Path) -> int | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, 1 << 20)
    except OSError as exc:
        return exc.errno
    finally:
        os.close(fd)
    return None


def _fs_db_copies(members: list[Path]) -> list[Path]:
    return [m / "nasfs" / "db" / "fs.db" for m in members]


def test_a_chunk_the_store_does_not_know_reads_as_eio_and_is_logged(
    fuse_array: MountedArray,
) -> None:
    mnt = fuse_array.mount()
    _write_synced(mnt, "report.txt", b"quarterly figures " * 5000)
    _write_synced(mnt, "other.txt", b"untouched")
    fuse_array.unmount()
    unknown = bytes(range(32))
    for copy in _fs_db_copies(fuse_array.members):
        conn = checksums.connect(copy)
        try:
            ino = conn.execute("SELECT ino FROM dentry WHERE name = ? AND died IS NULL",
                               (b"report.txt",)).fetchone()[0]
            assert conn.execute("UPDATE extent SET chunk = ? WHERE ino = ?",
                                (unknown, ino)).rowcount == 1
        finally:
            conn.close()
    mnt = fuse_array.mount()
    assert (mnt / "report.txt").stat().st_size == len(b"quarterly figures " * 5000)
    assert _read_errno(mnt / "report.txt") == errno.EIO  # not ENOENT: the file is there
    assert (mnt / "other.txt").read_bytes() == b"untouched"
    fuse_array.unmount()
    log = fuse_array.log()
    assert f"chunk {unknown.hex()[:16]} named by the filesystem is not in the store" in log
    assert "answered with EIO" in log


@pytest.mark.parametrize("nparity", [1, 2])
def test_data_lost_beyond_parity_reads_as_eio_and_is_logged(
    tmp_path: Path, nparity: int
) -> None:
    array = MountedArray(tmp_path, members=5, nparity=nparity)
    try:
        mnt = array.mount()
        _write_synced(mnt, "lost.bin", os.urandom(300_000))
        array.unmount()
        # Every segment byte on nparity + 1 members: more than parity can stand.
        for member in array.members[: nparity + 1]:
            for seg in (member / "nasfs" / "segments").glob("*.seg"):
                seg.write_bytes(os.urandom(seg.stat().st_size))
        mnt = array.mount()
        assert _read_errno(mnt / "lost.bin") == errno.EIO
        array.unmount()
        log = array.log()
        assert "is lost: more shards are missing or damaged than parity" in log
        assert "answered with EIO" in log
    finally:
        array.cleanup()
