"""nasfs.fs.allocate without FUSE: what fallocate reservations charge to the array's space
account, and that every way a reservation ends gives its charge back exactly."""

from __future__ import annotations

import pytest

from nasfs.fs import ROOT_CALLER, ROOT_INODE, AttrChanges, Filesystem, errors
from nasfs.fs.allocate import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE
from nasfs.store import Store
from tests import fs_util

MIB = 1 << 20


# The four-member array and its store, by name (tests/fs_util.py).
members, store = fs_util.members, fs_util.store


async def test_reservations_are_charged_and_every_end_gives_them_back(store: Store) -> None:
    fs = Filesystem.open(store)
    space = store.space
    cost = space.cost
    assert space.charged == 0
    a = fs.create(ROOT_INODE, b"a", 0o644, ROOT_CALLER)
    await fs.fallocate(a.ino, 0, 0, 2 * MIB + 10)
    assert space.charged == 2 * cost(MIB) + cost(10)  # record 2 reserved to byte 10
    assert fs.getattr(a.ino).size == 2 * MIB + 10
    await fs.fallocate(a.ino, 0, 0, 2 * MIB + 10)  # again: nothing more
    assert space.charged == 2 * cost(MIB) + cost(10)
    # A write into record 0 takes its reservation as the record's own charge.
    await fs.write(a.ino, 5, b"hello")
    assert space.charged == 2 * cost(MIB) + cost(10)
    await fs.fsync(a.ino, False)  # stored: record 0's charge goes, the rest stays reserved
    assert space.charged == cost(MIB) + cost(10)
    assert await fs.read(a.ino, 0, 12) == b"\0" * 5 + b"hello\0\0"
    await fs.setattr(a.ino, _size(MIB + 3), ROOT_CALLER)  # truncation clips record 1
    assert space.charged == cost(3)
    fs.unlink(ROOT_INODE, b"a", ROOT_CALLER)
    fs.forget(a.ino, 1)
    await fs.release(a.ino)  # the last reference: purged, the reservation given back
    assert space.charged == 0

    b = fs.create(ROOT_INODE, b"b", 0o644, ROOT_CALLER)
    await fs.fallocate(b.ino, FALLOC_FL_KEEP_SIZE, MIB, 3 * MIB)
    assert fs.getattr(b.ino).size == 0 and space.charged == 3 * cost(MIB)
    await fs.fallocate(b.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * MIB, MIB)
    assert space.charged == 2 * cost(MIB)
    await fs.fallocate(b.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MIB + 100, 10 * MIB)
    assert space.charged == cost(100)  # the tail of record 1 and all of record 3 went
    await fs.fallocate(b.ino, FALLOC_FL_ZERO_RANGE, 0, MIB)
    assert space.charged == cost(MIB) + cost(100) and fs.getattr(b.ino).size == MIB
    await fs.close()


def _size(n: int) -> AttrChanges:
    return AttrChanges(size=n)


async def test_modes_and_ranges_refused_before_anything_changes(store: Store) -> None:
    fs = Filesystem.open(store)
    f = fs.create(ROOT_INODE, b"f", 0o644, ROOT_CALLER)
    for mode in (FALLOC_FL_PUNCH_HOLE, 0x08, 0x20, 0x40, 0x04):
        with pytest.raises(errors.NotSupported):
            await fs.fallocate(f.ino, mode, 0, 10)
    with pytest.raises(errors.InvalidArgument):
        await fs.fallocate(f.ino, 0, 0, 0)
    with pytest.raises(errors.FileTooBig):
        await fs.fallocate(f.ino, 0, 1 << 62, 1)
    with pytest.raises(errors.NoSpace):
        await fs.fallocate(f.ino, 0, 0, 1 << 50)  # far more than the array holds
    d = fs.mkdir(ROOT_INODE, b"d", 0o755, ROOT_CALLER)
    with pytest.raises(errors.IsADirectory):
        await fs.fallocate(d.ino, 0, 0, 10)
    assert store.space.charged == 0 and fs.getattr(f.ino).size == 0
    with pytest.raises(errors.NoSuchOffset):
        fs.seek(f.ino, 0, 3)  # SEEK_DATA in an empty file
    with pytest.raises(errors.InvalidArgument):
        fs.seek(f.ino, 0, 0)
    await fs.close()


async def test_allocating_a_reserved_range_again_needs_no_space(store: Store) -> None:
    fs = Filesystem.open(store)
    f = fs.create(ROOT_INODE, b"f", 0o644, ROOT_CALLER)
    free = store.space.figures().free_bytes
    big = free * 2 // 3 // MIB * MIB  # more than half of what is free
    await fs.fallocate(f.ino, FALLOC_FL_KEEP_SIZE, 0, big)
    charged = store.space.charged
    await fs.fallocate(f.ino, FALLOC_FL_KEEP_SIZE, 0, big)  # held already: fits again
    assert store.space.charged == charged
    with pytest.raises(errors.NoSpace):  # a second range that size does not fit
        await fs.fallocate(f.ino, FALLOC_FL_KEEP_SIZE, big, big)
    assert store.space.charged == charged  # all or nothing
    await fs.close()
