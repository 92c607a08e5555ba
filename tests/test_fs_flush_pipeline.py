"""Two background batches of one file in flight at once (DataPath.flush_behind's pipeline).

Real store and member directories, no FUSE. Each put is held on an event of its own, chosen
by the batch's content, so the order in which the two puts end is the test's choice, not
the machine's: the extents are still written in batch order (a record in both batches ends
up with the newer content), a failed older batch keeps only the records no newer batch
replaced, and fsync waits for both.
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

members, store = fs_util.members, fs_util.store

# No group commit of its own during a test: only the background flushes run.
ONE_RECORD = Tuning(flush_batch=RECORD, commit_interval=3600.0)
TWO_RECORDS = Tuning(flush_batch=2 * RECORD, commit_interval=3600.0)


class PutsByContent:
    """Holds each put whose first chunk is a known payload until its own event is set."""

    def __init__(self, store: Store, payloads: Sequence[bytes]) -> None:
        self.real: Callable[[Sequence[Any]], list[bytes]] = store.put
        self.release = {p: threading.Event() for p in payloads}
        self.entered = {p: threading.Event() for p in payloads}
        self.fail: set[bytes] = set()
        store.put = self  # type: ignore[method-assign]

    def __call__(self, chunks: Sequence[Any]) -> list[bytes]:
        first = bytes(chunks[0]) if chunks else b""
        if first in self.release:
            self.entered[first].set()
            if not self.release[first].wait(HANG_GUARD_S):
                raise AssertionError("a held put was never released")
            if first in self.fail:
                self.fail.discard(first)
                raise StoreIOError("member 1 failed (held put)")
        return self.real(chunks)

    async def wait_entered(self, p: bytes) -> None:
        await trio.to_thread.run_sync(self.entered[p].wait, HANG_GUARD_S)


async def test_two_batches_in_flight_and_the_newer_copy_of_a_record_wins(
    store: Store, members: list[Path]
) -> None:
    fs = Filesystem.open(store, tuning=ONE_RECORD)
    f = fs.create(ROOT_INODE, b"big", 0o644, ROOT_CALLER)
    older, newer = payload(1), payload(2)
    puts = PutsByContent(store, [older, newer])
    with trio.fail_after(HANG_GUARD_S):
        async with trio.open_nursery() as nursery:
            await start_group_commit(nursery, fs)
            await fs.write(f.ino, 0, older)  # batch 1: record 0
            await puts.wait_entered(older)
            await fs.write(f.ino, 0, newer)  # batch 2: record 0 again, while 1 is held
            await puts.wait_entered(newer)
            assert len(fs.data.files[f.ino].batches) == 2  # both puts in flight at once
            assert await fs.read(f.ino, 0, RECORD) == newer  # readers see the newest
            pipe = fs.data.files[f.ino].pipeline
            assert pipe is not None
            puts.release[newer].set()  # the newer put ends first...
            await pipe.queue[1].done.wait()
            # ...and is not named ahead of the older one, still in flight.
            assert fs.repo.get_extent(f.ino, 0) is None
            puts.release[older].set()
            await fs.fsync(f.ino, False)
            assert committed(members, f.ino) == (RECORD, RECORD)
            nursery.cancel_scope.cancel()
    await fs.close()
    reopened = Filesystem.open(store)
    assert await reopened.read(f.ino, 0, RECORD) == newer
    await reopened.close()


async def test_a_failed_older_batch_keeps_only_what_no_newer_batch_replaced(
    store: Store, members: list[Path]
) -> None:
    fs = Filesystem.open(store, tuning=TWO_RECORDS)
    f = fs.create(ROOT_INODE, b"big", 0o644, ROOT_CALLER)
    first, second, third, fourth = payload(3), payload(4), payload(5), payload(6)
    puts = PutsByContent(store, [first, third])
    puts.fail.add(first)
    with trio.fail_after(HANG_GUARD_S):
        async with trio.open_nursery() as nursery:
            await start_group_commit(nursery, fs)
            await fs.write(f.ino, 0, first)
            await fs.write(f.ino, RECORD, second)  # batch 1: records 0 and 1
            await puts.wait_entered(first)
            await fs.write(f.ino, 0, third)
            await fs.write(f.ino, 2 * RECORD, fourth)  # batch 2: records 0 (again) and 2
            await puts.wait_entered(third)
            fb = fs.data.files[f.ino]
            puts.release[third].set()
            puts.release[first].set()  # batch 1 fails; batch 2 is stored
            while fb.batches:
                assert fb.pipeline is not None
                await fb.pipeline.settled.wait()
            # Record 1 is dirty again for the next flush; record 0's old copy is not.
            assert set(fb.dirty) == {1}
            await fs.fsync(f.ino, False)
            assert committed(members, f.ino) == (3 * RECORD, 3 * RECORD)
            nursery.cancel_scope.cancel()
    await fs.close()
    reopened = Filesystem.open(store)
    assert await reopened.read(f.ino, 0, 3 * RECORD) == third + second + fourth
    await reopened.close()
