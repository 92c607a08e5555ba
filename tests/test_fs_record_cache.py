"""A flushed record goes into the read cache as it is, without a copy: as a read-only view
of its buffer. Reads (live and through a snapshot) still answer `bytes`, and a later write
of the same record changes a copy, never what the cache (and so other readers) holds."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem
from nasfs.store import Store

R = ROOT_CALLER


@pytest.fixture
async def fs(tmp_path: Path) -> AsyncIterator[Filesystem]:
    dirs = [tmp_path / f"m{i}" for i in range(4)]
    for d in dirs:
        d.mkdir()
    Store.create(dirs, 1)
    store = Store.open(dirs)
    f = Filesystem.open(store)
    try:
        yield f
    finally:
        await f.close()
        store.close()


async def test_flushed_records_are_cached_without_a_copy(fs: Filesystem) -> None:
    rs = fs.data.record_size
    first = os.urandom(rs)
    a = fs.create(ROOT_INODE, b"f", 0o644, R)
    await fs.write(a.ino, 0, first)
    await fs.data.flush([a.ino])
    ext = fs.repo.get_extent(a.ino, 0)
    assert ext is not None
    cached = fs.data.cache.get(ext.chunk)
    assert isinstance(cached, memoryview) and cached.readonly
    assert cached == first

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
