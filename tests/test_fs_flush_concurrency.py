"""Flushes that overlap: a commit never makes a size durable ahead of the data behind it.

Real store, real member directories, no FUSE: what is checked is the committed state, read
through a second SQLite connection to the primary copy of fs.db, i.e. what a kill -9 at
that instant would leave.
"""

from __future__ import annotations

from pathlib import Path

import trio

from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem, Tuning
from nasfs.store import Store
from tests import fs_util
from tests.fs_util import committed

# The four-member array and its open store, by name (pytest finds fixtures in the module).
members, store = fs_util.members, fs_util.store


async def test_fsync_waits_for_a_flush_of_its_file_that_another_fsync_started(
    store: Store, members: list[Path]
) -> None:
    fs = Filesystem.open(store)
    a = fs.create(ROOT_INODE, b"a", 0o644, ROOT_CALLER)
    b = fs.create(ROOT_INODE, b"b", 0o644, ROOT_CALLER)
    payload = bytes(range(256)) * (3 * 4096 + 7)  # three records and a bit, all buffered
    await fs.write(b.ino, 0, payload)
    await fs.write(a.ino, 0, b"a")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fs.fsync, a.ino, False)  # its commit flushes b's records too
        while not fs.data.files[b.ino].flushing:  # b's put is now in a worker thread
            await trio.sleep(0)
        await fs.fsync(b.ino, False)
        # What fsync promised: b's size and all of its data are committed.
        assert committed(members, b.ino) == (len(payload), len(payload))
    await fs.close()


async def test_a_commit_under_a_write_storm_ends_and_never_outruns_the_data(
    store: Store, members: list[Path]
) -> None:
    fs = Filesystem.open(store, tuning=Tuning(flush_batch=1 << 20))
    f = fs.create(ROOT_INODE, b"storm", 0o644, ROOT_CALLER)
    piece = 64 << 10

    async def storm() -> None:
        off = 0
        while True:
            await fs.write(f.ino, off, bytes([off // piece % 251]) * piece)
            off += piece
            await trio.sleep(0)  # writes are pure memory here: let the committer run

    async with trio.open_nursery() as nursery:
        nursery.start_soon(storm)
        for _ in range(3):
            await trio.sleep(0.05)  # let the storm dirty records between commits
            await fs.commit()  # returns although the storm goes on (the write gate)
            size, covered = committed(members, f.ino)
            assert size <= covered, f"size {size} committed over {covered} stored bytes"
        nursery.cancel_scope.cancel()
    await fs.close()
