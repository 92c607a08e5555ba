"""Records are not copied where they need not be: a write that is exactly one record is
buffered as the `bytes` it came in (changed later only on a copy), and a flushed record
goes into the read cache as it is (a read-only view of its buffer). Reads (live and through
a snapshot) still answer `bytes`, and a later write of the same record changes a copy,
never what the cache (and so other readers) holds."""

from __future__ import annotations

import os

from nasfs.fs import ROOT_CALLER, ROOT_INODE, AttrChanges, Filesystem
from tests import fs_util

R = ROOT_CALLER
PUNCH = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE


# The four-member array, its store and a filesystem on it, by name (tests/fs_util.py).
members, store, fs = fs_util.members, fs_util.store, fs_util.fs


async def test_flushed_records_are_cached_without_a_copy(fs: Filesystem) -> None:
    rs = fs.data.record_size
    first = os.urandom(rs)
    a = fs.create(ROOT_INODE, b"f", 0o644, R)
    half = rs // 2
    await fs.write(a.ino, 0, first[:half])  # built in a buffer of its own, in two writes
    await fs.write(a.ino, half, first[half:])
    whole = os.urandom(rs)
    await fs.write(a.ino, rs, whole)  # taken as it came
    await fs.data.flush([a.ino])
    ext = fs.repo.get_extent(a.ino, 0)
    assert ext is not None
    cached = fs.data.cache.get(ext.chunk)
    assert isinstance(cached, memoryview) and cached.readonly
    assert cached == first
    ext1 = fs.repo.get_extent(a.ino, 1)
    assert ext1 is not None and fs.data.cache.get(ext1.chunk) is whole

    got = await fs.read(a.ino, 0, rs)
    assert type(got) is bytes and got == first
    part = await fs.read(a.ino, 10, 100)
    assert type(part) is bytes and part == first[10:110]

    await fs.commit()
    snap = await fs.snapshots.create()
    in_snapshot = await fs.snapshot_view(snap.id).read(a.ino, 5, 50)
    assert type(in_snapshot) is bytes and in_snapshot == first[5:55]

    # Overwriting part of the record works on a copy: the cached content stays the old one.
    await fs.write(a.ino, 0, b"\0" * 16)
    assert await fs.read(a.ino, 0, 32) == b"\0" * 16 + first[16:32]
    assert fs.data.cache.get(ext.chunk) == first
    assert await fs.snapshot_view(snap.id).read(a.ino, 0, 32) == first[:32]


async def test_a_write_of_a_whole_record_is_buffered_without_a_copy(fs: Filesystem) -> None:
    rs = fs.data.record_size
    payload = os.urandom(rs)
    a = fs.create(ROOT_INODE, b"g", 0o644, R)
    await fs.write(a.ino, rs, payload)  # exactly record 1, as a 1 MiB write(2) arrives
    assert fs.data.files[a.ino].dirty[1] is payload
    # Changed later (a write into it, a truncation, a punched hole): changed on a copy.
    await fs.write(a.ino, rs + 8, b"x" * 8)
    assert await fs.read(a.ino, rs, 24) == payload[:8] + b"x" * 8 + payload[16:24]
    assert fs.data.files[a.ino].dirty[1] is not payload
    other = os.urandom(rs)
    await fs.write(a.ino, 2 * rs, other)
    await fs.setattr(a.ino, AttrChanges(size=2 * rs + 100), R)
    await fs.fallocate(a.ino, PUNCH, 2 * rs + 10, 20)
    assert await fs.read(a.ino, 2 * rs, 200) == other[:10] + bytes(20) + other[30:100]
    await fs.data.flush([a.ino])
    assert await fs.read(a.ino, 2 * rs, 200) == other[:10] + bytes(20) + other[30:100]
    # A whole-record write of a mutable buffer is copied: changing it later changes nothing.
    buf = bytearray(os.urandom(rs))
    await fs.write(a.ino, 3 * rs, buf)  # type: ignore[arg-type]
    want = bytes(buf)
    buf[:4] = b"\0\0\0\0"
    assert await fs.read(a.ino, 3 * rs, 16) == want[:16]
