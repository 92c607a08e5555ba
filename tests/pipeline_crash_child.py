"""The process test_fs_pipeline_crash kills: a file with two background batches in flight.

Opens the store and the filesystem on the given members, writes two records of a file and
fsyncs it, then writes two more records, each of which fills a flush batch, so both are put
behind the writes at once. The older batch's put is held after its shards are written and
fsynced, before its catalog commit; the newer one's runs to the end (shards, fsyncs, catalog
commit). The child reports each step on stdout and then waits to be killed:

    acked BYTES   the fsync returned: BYTES are promised
    held          the older in-flight put wrote its shards and stops before its commit
    stored        the newer put returned (durable in the store, named by no file yet)

(in either order: the two puts run at once in worker threads)

    python -m tests.pipeline_crash_child MEMBER...
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

from nasfs.fs import ROOT_CALLER, ROOT_INODE, Filesystem, Tuning
from nasfs.store import Store

RECORD = 1 << 20
ACKED_RECORDS = 2
NAME = b"big"


def record(i: int) -> bytes:
    """Record `i` of the file: distinct, deterministic bytes."""
    return random.Random(f"pipeline-crash:{i}").randbytes(RECORD)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Gate:
    """Once armed, holds the put of record ACKED_RECORDS (the older in-flight batch) after
    its shard writes and reports when the put of the next record (the newer) returned."""

    def __init__(self, store: Store) -> None:
        self.armed = False
        self.older = record(ACKED_RECORDS)
        self.newer = record(ACKED_RECORDS + 1)
        self.mine = threading.local()
        real_write = store._write
        real_put = store.put

        def write(stripes: Any) -> None:
            real_write(stripes)
            if getattr(self.mine, "hold", False):
                say("held")
                threading.Event().wait()  # until the process is killed

        def put(chunks: Sequence[Any]) -> list[bytes]:
            first = bytes(chunks[0]) if self.armed and chunks else b""
            self.mine.hold = first == self.older
            ids = real_put(chunks)
            if first == self.newer:
                say("stored")
            return ids

        store._write = write  # type: ignore[method-assign]
        store.put = put  # type: ignore[method-assign]


async def main(members: list[Path]) -> None:
    store = Store.open(members)
    gate = Gate(store)
    fs = Filesystem.open(store, tuning=Tuning(flush_batch=RECORD, commit_interval=3600.0))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fs.run_group_commit)
        while fs._background is None:  # background flushes need the group commit's nursery
            await trio.sleep(0)
        f = fs.create(ROOT_INODE, NAME, 0o644, ROOT_CALLER)
        for i in range(ACKED_RECORDS):
            await fs.write(f.ino, i * RECORD, record(i))
        await fs.fsync(f.ino, False)
        say(f"acked {ACKED_RECORDS * RECORD}")
        gate.armed = True
        for i in range(ACKED_RECORDS, ACKED_RECORDS + 2):
            await fs.write(f.ino, i * RECORD, record(i))
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, [Path(p) for p in sys.argv[1:]])
