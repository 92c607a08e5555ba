"""fallocate(2) and lseek SEEK_DATA/SEEK_HOLE through a real mount (issue 13): each mode
with exact sizes, contents, st_blocks and errno, as root and as another uid inside a share;
space charged for allocation and given back by punching, on a tiny real array."""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuse_policy_util import Errno, PolicyMount, as_user, serve_nas
from tests.space_util import MIB, fill, tiny_array

ALICE = 2001
USERS = (0, ALICE)
KEEP_SIZE, PUNCH_HOLE, COLLAPSE_RANGE, ZERO_RANGE, INSERT_RANGE, UNSHARE_RANGE = (
    0x01, 0x02, 0x08, 0x10, 0x20, 0x40)

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def fallocate(fd: int, mode: int, off: int, length: int) -> None:
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def seek(fd: int, off: int, whence: int) -> int | Errno:
    try:
        return os.lseek(fd, off, whence)
    except OSError as exc:
        return Errno(exc.errno or 0)


def errno_of(fn: object, *args: object) -> int:
    try:
        fn(*args)  # type: ignore[operator]
    except OSError as exc:
        return exc.errno or 0
    return 0


@pytest.fixture
def nas(tmp_path: Path) -> Iterator[PolicyMount]:
    yield from serve_nas(tmp_path, "docs", {"alice": ALICE})


def home(nas: PolicyMount, uid: int) -> Path:
    d = nas.mnt / "docs" / f"u{uid}"
    d.mkdir()
    os.chown(d, uid, uid)
    return d


def _allocate(d: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    fd = os.open(d / "grow", os.O_RDWR | os.O_CREAT, 0o644)
    os.posix_fallocate(fd, 0, 3 * MIB + 5)
    st = os.fstat(fd)
    out["grow"] = (st.st_size, st.st_blocks, os.pread(fd, 64, 3 * MIB - 32) == bytes(37),
                   seek(fd, 0, os.SEEK_DATA), seek(fd, 0, os.SEEK_HOLE))
    os.pwrite(fd, b"abc", MIB)  # into the allocated range
    os.fsync(fd)
    st = os.fstat(fd)
    out["written"] = (st.st_size, st.st_blocks, os.pread(fd, 5, MIB - 1))
    os.close(fd)
    fd = os.open(d / "keep", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"12345")
    fallocate(fd, KEEP_SIZE, 0, 2 * MIB)
    st = os.fstat(fd)
    out["keep"] = (st.st_size, st.st_blocks, os.pread(fd, 10, 0))
    os.ftruncate(fd, 3)  # gives back what was allocated past the new end
    out["keep-truncated"] = os.fstat(fd).st_blocks
    os.close(fd)
    return out


@pytest.mark.parametrize("uid", USERS)
def test_allocate_grows_the_file_and_counts_its_blocks(nas: PolicyMount, uid: int) -> None:
    got = as_user(uid, _allocate, home(nas, uid))
    # Allocated, never written: reads zeros, st_blocks counts it, SEEK_DATA finds no data
    # (ext4 reports unwritten extents as holes too).
    assert got["grow"] == (3 * MIB + 5, (3 * MIB + 5 + 511) // 512, True,
                           Errno(errno.ENXIO), 0)
    # The write into it took the allocated record whole (padded to its reserved length).
    assert got["written"] == (3 * MIB + 5, (3 * MIB + 5 + 511) // 512, b"\0abc\0")
    assert got["keep"] == (5, 2 * MIB // 512, b"12345")
    assert got["keep-truncated"] == 1


def _punch(d: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    data = os.urandom(3 * MIB + 100)
    fd = os.open(d / "f", os.O_RDWR | os.O_CREAT, 0o644)
    out["created"] = os.fstat(fd).st_blocks  # as the CREATE reply gave it
    os.write(fd, data)
    os.fsync(fd)
    before = os.fstat(fd).st_blocks
    out["no-keep"] = errno_of(fallocate, fd, PUNCH_HOLE, 0, 10)
    fallocate(fd, PUNCH_HOLE | KEEP_SIZE, MIB, MIB)  # one whole record
    fallocate(fd, PUNCH_HOLE | KEEP_SIZE, 100, 200)  # inside a record
    fallocate(fd, PUNCH_HOLE | KEEP_SIZE, 3 * MIB + 50, 1000)  # the tail, past the end
    os.fsync(fd)
    st = os.fstat(fd)
    expected = bytearray(data)
    expected[MIB : 2 * MIB] = bytes(MIB)
    expected[100:300] = bytes(200)
    expected[3 * MIB + 50 :] = bytes(50)
    out["content"] = os.pread(fd, len(data) + 10, 0) == bytes(expected)
    out["size"] = st.st_size
    out["blocks"] = (before, st.st_blocks)
    out["seek"] = (seek(fd, 0, os.SEEK_HOLE), seek(fd, MIB, os.SEEK_DATA),
                   seek(fd, 2 * MIB, os.SEEK_HOLE), seek(fd, 3 * MIB, os.SEEK_HOLE),
                   seek(fd, 3 * MIB + 60, os.SEEK_DATA))
    os.close(fd)
    return out


@pytest.mark.parametrize("uid", USERS)
def test_punch_hole_reads_zeros_and_frees_blocks(nas: PolicyMount, uid: int) -> None:
    got = as_user(uid, _punch, home(nas, uid))
    assert got["created"] == 0  # a new file holds nothing (the adapter answers it alone)
    assert got["no-keep"] == errno.EOPNOTSUPP  # PUNCH_HOLE needs KEEP_SIZE, as on Linux
    assert got["content"] is True
    assert got["size"] == 3 * MIB + 100
    before, after = got["blocks"]  # type: ignore[misc]
    assert before == (3 * MIB + 100 + 511) // 512
    # The whole record is gone; the tail record is cut to 50 bytes.
    assert after == 2 * MIB // 512 + 1
    # Data: [0, 1 MiB) (the inner zeros are still written data), [2 MiB, 3 MiB + 50).
    assert got["seek"] == (MIB, 2 * MIB, 3 * MIB + 50, 3 * MIB + 50, Errno(errno.ENXIO))


def _zero(d: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    data = os.urandom(2 * MIB)
    fd = os.open(d / "z", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, data)
    fallocate(fd, ZERO_RANGE | KEEP_SIZE, 10, 3 * MIB)  # past the end: the size stays
    out["keep"] = (os.fstat(fd).st_size, os.pread(fd, 20, 0) == data[:10] + bytes(10))
    fallocate(fd, ZERO_RANGE, MIB, 3 * MIB)  # grows the file to the range's end
    os.fsync(fd)
    st = os.fstat(fd)
    out["grow"] = (st.st_size, os.pread(fd, 4 * MIB, 0) == data[:10] + bytes(4 * MIB - 10),
                   st.st_blocks >= 4 * MIB // 512)
    os.close(fd)
    return out


@pytest.mark.parametrize("uid", USERS)
def test_zero_range_with_and_without_keep_size(nas: PolicyMount, uid: int) -> None:
    got = as_user(uid, _zero, home(nas, uid))
    assert got["keep"] == (2 * MIB, True)
    assert got["grow"] == (4 * MIB, True, True)


def _refused(d: Path) -> dict[str, int]:
    fd = os.open(d / "r", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"x" * 8192)
    out = {name: errno_of(fallocate, fd, mode, 0, 4096)
           for name, mode in (("collapse", COLLAPSE_RANGE), ("insert", INSERT_RANGE),
                              ("unshare", UNSHARE_RANGE), ("bogus", 0x1000))}
    out["negative"] = errno_of(fallocate, fd, 0, -1, 10)
    out["empty"] = errno_of(fallocate, fd, 0, 0, 0)
    os.close(fd)
    ro = os.open(d / "r", os.O_RDONLY)
    out["read-only"] = errno_of(fallocate, ro, 0, 0, 10)
    os.close(ro)
    out["size"] = os.stat(d / "r").st_size
    return out


@pytest.mark.parametrize("uid", USERS)
def test_other_modes_and_bad_arguments_are_refused(nas: PolicyMount, uid: int) -> None:
    got = as_user(uid, _refused, home(nas, uid))
    assert got == {"collapse": errno.EOPNOTSUPP, "insert": errno.EOPNOTSUPP,
                   "unshare": errno.EOPNOTSUPP, "bogus": errno.EOPNOTSUPP,
                   "negative": errno.EINVAL, "empty": errno.EINVAL,
                   "read-only": errno.EBADF, "size": 8192}


def _seek(d: Path) -> tuple[object, ...]:
    fd = os.open(d / "s", os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(fd, b"data", 2 * MIB + 10)  # a hole of two records and a bit, then data
    found = (seek(fd, 0, os.SEEK_DATA), seek(fd, 0, os.SEEK_HOLE),
             seek(fd, 2 * MIB + 12, os.SEEK_DATA), seek(fd, 2 * MIB + 12, os.SEEK_HOLE),
             seek(fd, 2 * MIB + 14, os.SEEK_DATA), seek(fd, 2 * MIB + 14, os.SEEK_HOLE),
             seek(fd, -1, os.SEEK_DATA))
    os.fsync(fd)  # stored now: the same answers from the extents
    stored = seek(fd, 0, os.SEEK_DATA), seek(fd, 2 * MIB + 12, os.SEEK_HOLE)
    os.close(fd)
    empty = os.open(d / "e", os.O_RDWR | os.O_CREAT, 0o644)
    none = seek(empty, 0, os.SEEK_DATA), seek(empty, 0, os.SEEK_HOLE)
    os.close(empty)
    return found, stored, none


@pytest.mark.parametrize("uid", USERS)
def test_seek_data_and_hole_follow_the_records(nas: PolicyMount, uid: int) -> None:
    found, stored, none = as_user(uid, _seek, home(nas, uid))
    nx = Errno(errno.ENXIO)
    # The data region is [the record's start, its length): [2 MiB, 2 MiB + 14).
    assert found == (2 * MIB, 0, 2 * MIB + 12, 2 * MIB + 14, nx, nx, nx)
    assert stored == (2 * MIB, 2 * MIB + 14)
    assert none == (nx, nx)


def _sparse_copy(d: Path) -> tuple[int, int, bool, int]:
    src = d / "sparse"
    with open(src, "wb") as f:
        f.seek(16 * MIB)
        f.write(b"middle")
        f.seek(40 * MIB)
        f.write(b"end")
    subprocess.run(["cp", "--sparse=always", str(src), str(d / "copy")], check=True)
    du = subprocess.run(["du", "-k", str(d / "copy")], check=True, capture_output=True,
                        text=True).stdout.split()[0]
    return (os.stat(d / "copy").st_size, os.stat(d / "copy").st_blocks,
            (d / "copy").read_bytes() == src.read_bytes(), int(du))


@pytest.mark.parametrize("uid", USERS)
def test_cp_sparse_and_du_see_the_holes(nas: PolicyMount, uid: int) -> None:
    size, blocks, same, du_kib = as_user(uid, _sparse_copy, home(nas, uid))
    assert size == 40 * MIB + 3 and same
    # What the records hold: "middle" at the start of record 16, "end" in record 40 (cp may
    # write a record's data from its start, so at most the first bytes of two records).
    assert blocks <= 2 * (4096 // 512) and du_kib <= 8


def test_fallocate_is_logged_as_a_write(nas: PolicyMount) -> None:
    d = home(nas, ALICE)
    after = nas.last_access_id()

    def punch() -> None:
        with open(d / "logged", "wb") as f:
            f.write(b"x" * 5000)
            fallocate(f.fileno(), PUNCH_HOLE | KEEP_SIZE, 0, 4096)

    as_user(ALICE, punch)
    rows = [r for r in nas.access_rows(after_id=after, expect=1)
            if r["operation"] == "fallocate"]
    assert len(rows) == 1
    assert rows[0]["user"] == "alice" and rows[0]["path"].endswith("/logged")
    assert rows[0]["detail"] == f"mode={PUNCH_HOLE | KEEP_SIZE:#x} offset=0 length=4096"


def _free(mnt: Path) -> int:
    st = os.statvfs(mnt)
    return st.f_bavail * st.f_frsize


def test_allocated_space_is_charged_and_kept_for_the_file(tmp_path: Path) -> None:
    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount()
        before = _free(mnt)
        fd = os.open(mnt / "kept", os.O_RDWR | os.O_CREAT, 0o644)
        os.posix_fallocate(fd, 0, 8 * MIB)
        assert before - _free(mnt) >= 8 * MIB  # df shows it taken (parity on top)
        acked: dict[str, bytes] = {}
        fill(mnt, "f", itertools.cycle([MIB]), acked)  # until ENOSPC: others cannot take it
        fill(mnt, "g", itertools.cycle([5000]), acked)
        data = os.urandom(8 * MIB)
        assert os.pwrite(fd, data, 0) == len(data)  # the full array still takes these
        os.fsync(fd)
        os.close(fd)
        assert (mnt / "kept").read_bytes() == data
        # Beyond the allocation the array is full.
        with pytest.raises(OSError) as full:
            os.posix_fallocate(os.open(mnt / "more", os.O_RDWR | os.O_CREAT), 0, 8 * MIB)
        assert full.value.errno == errno.ENOSPC
        array.unmount()


def test_punching_a_hole_gives_the_space_back(tmp_path: Path) -> None:
    from nasfs.store import Store

    with tiny_array(tmp_path, [24] * 4) as array:
        mnt = array.mount()
        fd = os.open(mnt / "big", os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, os.urandom(12 * MIB))
        os.fsync(fd)
        written = _free(mnt)
        fallocate(fd, PUNCH_HOLE | KEEP_SIZE, 0, 12 * MIB)
        os.fsync(fd)  # the records' chunks lose their references with this commit
        assert os.fstat(fd).st_blocks == 0 and os.fstat(fd).st_size == 12 * MIB
        assert os.pread(fd, 16, 6 * MIB) == bytes(16)
        os.close(fd)
        array.unmount()
        store = Store.open(array.members)  # dead space comes back through compaction
        try:
            store.compact(0.0)
        finally:
            store.close()
        mnt = array.mount()
        assert _free(mnt) - written >= 11 * MIB
        assert (mnt / "big").read_bytes() == bytes(12 * MIB)
        array.unmount()


def test_snapshots_seek_their_own_records_and_refuse_fallocate(nas: PolicyMount) -> None:
    d = home(nas, ALICE)

    def sparse() -> None:
        with open(d / "s", "wb") as f:
            f.write(b"head")
            f.seek(3 * MIB)
            f.write(b"tail")

    as_user(ALICE, sparse)
    nas.call("snapshot.create", {"name": "then"})

    def punch_live_then_look() -> tuple[object, ...]:
        with open(d / "s", "r+b") as f:  # the live file changes; the snapshot does not
            fallocate(f.fileno(), PUNCH_HOLE | KEEP_SIZE, 0, MIB)
            live = seek(f.fileno(), 0, os.SEEK_DATA)
        fd = os.open(nas.mnt / "docs" / "#snapshot" / "then" / f"u{ALICE}" / "s", os.O_RDONLY)
        found = (seek(fd, 0, os.SEEK_DATA), seek(fd, 0, os.SEEK_HOLE),
                 seek(fd, 5, os.SEEK_DATA), seek(fd, 3 * MIB + 4, os.SEEK_HOLE))
        os.close(fd)
        return live, found

    live, found = as_user(ALICE, punch_live_then_look)
    assert live == 3 * MIB
    assert found == (0, 4, 3 * MIB, Errno(errno.ENXIO))
    fd = os.open(nas.mnt / "docs" / "#snapshot" / "then" / f"u{ALICE}" / "s", os.O_RDONLY)
    try:
        assert errno_of(fallocate, fd, 0, 0, 10) == errno.EBADF  # read-only descriptors only
    finally:
        os.close(fd)
