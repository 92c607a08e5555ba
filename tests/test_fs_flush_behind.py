"""Flush-behind: while the group commit runs (a mount is served), a write that fills a flush
batch hands the batch to a background put and returns, so the next batch arrives while the
store writes this one. fsync and commits still wait for it, a failed background put loses
nothing, and stopping the group commit (unmount) never abandons a put half-recorded.

Real store and member directories, no FUSE. The store's put is held on an event in its
worker thread (the real put runs once the event is set), so "the write returned before its
put finished" is a fact of ordering, not of timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem, Tuning
from nasfs.store import Store
from nasfs.store.errors import StoreIOError
from tests import fs_util
from tests.fs_util import HANG_GUARD_S, RECORD, committed, payload, start_group_commit

# The four-member array and its open store, by name (pytest finds fixtures in the module).
members, store = fs_util.members, fs_util.store

# No group commit of its own during a test: only the background flushes run in its nursery.
TUNING = Tuning(flush_batch=RECORD, commit_interval=3600.0)


class HeldPut:
    """Holds the store's puts until `release` is set; the first `failures` raise instead."""

    def __init__(self, store: Store, failures: int = 0) -> None:
        self.real: Callable[[Sequence[Any]], list[bytes]] = store.put
        self.entered = threading.Event()
        self.release = threading.Event()
        self.failures = failures
        self.failed = threading.Event()
        store.put = self  # type: ignore[method-assign]

    def __call__(self, chunks: Sequence[Any]) -> list[bytes]:
        self.entered.set()
        # Bounded, so that a regression (a write waiting for its own held put) fails.
        if not self.release.wait(HANG_GUARD_S):
            raise AssertionError("the held put was never released: the writer waited for it")
        if self.failures:
            self.failures -= 1
            self.failed.set()
            raise StoreIOError("member 1 failed (held put)")
        return self.real(chunks)


async def wait_settled(fs: Filesystem, ino: int) -> None:
    fb = fs.data.files.get(ino)
    while fb is not None and fb.lock.locked():
        await trio.sleep(0.01)


async def test_a_full_batch_is_put_behind_the_write_and_fsync_waits_for_it(
    store: Store, members: list[Path]
) -> None:
    fs = Filesystem.open(store, tuning=TUNING)
    f = fs.create(ROOT_INODE, b"big", 0o644, ROOT_CALLER)
    held = HeldPut(store)
    data = payload(1)
    with trio.fail_after(HANG_GUARD_S):
        async with trio.open_nursery() as nursery:
            await start_group_commit(nursery, fs)
            assert await fs.write(f.ino, 0, data) == len(data)  # returned: put not done
            await trio.to_thread.run_sync(held.entered.wait)
            assert not held.release.is_set()
            assert fs.data.files[f.ino].flushing  # the batch is in flight
            assert committed(members, f.ino) == (0, 0)
            held.release.set()
            await fs.fsync(f.ino, False)
            assert committed(members, f.ino) == (len(data), len(data))
            nursery.cancel_scope.cancel()
        assert await fs.read(f.ino, 0, len(data)) == data
    await fs.close()


async def test_a_failed_background_put_keeps_the_records_for_the_next_flush(
    store: Store, members: list[Path]
) -> None:
    fs = Filesystem.open(store, tuning=TUNING)
    f = fs.create(ROOT_INODE, b"big", 0o644, ROOT_CALLER)
    held = HeldPut(store, failures=1)
    data = payload(2)
    with trio.fail_after(HANG_GUARD_S):
        async with trio.open_nursery() as nursery:
            await start_group_commit(nursery, fs)
            assert await fs.write(f.ino, 0, data) == len(data)
            held.release.set()
            await trio.to_thread.run_sync(held.failed.wait)
            await wait_settled(fs, f.ino)
            assert sum(map(len, fs.data.files[f.ino].dirty.values())) == len(data)
            assert committed(members, f.ino) == (0, 0)
            await fs.fsync(f.ino, False)  # the put succeeds this time
            assert committed(members, f.ino) == (len(data), len(data))
            nursery.cancel_scope.cancel()
        assert await fs.read(f.ino, 0, len(data)) == data
    await fs.close()


async def test_stopping_the_group_commit_waits_for_the_put_in_flight(
    store: Store, members: list[Path]
) -> None:
    fs = Filesystem.open(store, tuning=TUNING)
    f = fs.create(ROOT_INODE, b"big", 0o644, ROOT_CALLER)
    held = HeldPut(store)
    data = payload(3)
    with trio.fail_after(HANG_GUARD_S):
        async with trio.open_nursery() as nursery:
            await start_group_commit(nursery, fs)
            await fs.write(f.ino, 0, data)
            await trio.to_thread.run_sync(held.entered.wait)
            nursery.cancel_scope.cancel()  # as an unmount does, with the put in flight
            held.release.set()
        # The nursery closed only after the put ended and its extents were written.
        fb = fs.data.files.get(f.ino)
        assert fb is None or not fb.unsettled()
    await fs.close()
    assert committed(members, f.ino) == (len(data), len(data))
    reopened = Filesystem.open(store)
    assert await reopened.read(f.ino, 0, len(data)) == data
    await reopened.close()
