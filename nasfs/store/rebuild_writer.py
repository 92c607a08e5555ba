"""The rebuild target's writer thread: rebuilt shards are written and fsynced there while
the rebuild's own thread goes on taking checked stripes off the stream.

Why: written inline, every fsync of a REBUILD_BATCH_BYTES batch stopped the rebuild's
thread, so the stream's readers and checkers ran out of room (AHEAD batches) and the
survivors sat idle while the target was flushed; reading, checking and writing now overlap.

Order and durability are the inline writer's: shards are written in stripe id order; after
at least `batch_bytes` since the last flush, at a stripe boundary, every segment file and
the segments folder are fsynced, and only then is that stripe id reported as durable
(`durable`), which the rebuild's thread then persists as its cursor. So the cursor never
names a stripe whose shard is not on stable storage, and an interrupted rebuild resumes
exactly as before. A failure in the thread (a write, an fsync, the target gone) is raised
in the rebuild's thread at its next call; nothing after it is written.

A flush fsyncs only the segment files written since the last one, and the segments folder
only when a file was created since: the others' data and names are durable already, and
every fsync of a clean file still cost the target a journal wait and a cache flush (a
rebuild of 171 MiB into 5 MiB segment files made 80 fsyncs of files and the folder before,
40 now). Shards are written with O_DIRECT where the target allows it (nasfs.store.direct_io,
as the store's own shard writes), those adjacent in a file together up to the buffer's
size: the data goes to the disk as it is written instead of in one burst at the next
fsync, which stopped the writer for as long as that burst took (docs/performance.md,
"Rebuild target writes").
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from nasfs.store.direct_io import SegmentFile, Staging
from nasfs.store.errors import RebuildError
from nasfs.store.member import SEGMENTS_DIR, MemberRoot
from nasfs.store.segments import segment_name
from nasfs.store.stripecheck import Shard

QUEUED_BATCHES = 4  # stream batches waiting for the writer (about 16 MiB of shards each)


@dataclass(frozen=True, slots=True)
class ShardWrite:
    """One stripe's share of the target: its shard (b"": none), or None for a hole of
    `length` bytes where an unrecoverable shard would be."""

    stripe_id: int
    segment: int
    offset: int
    length: int
    shard: Shard | None


_Job = tuple[list[ShardWrite], int | None]  # writes, then a final flush up to this id


class TargetWriter:
    def __init__(self, target: MemberRoot, batch_bytes: int, *, direct: bool = True) -> None:
        self.target = target
        self.batch_bytes = batch_bytes
        self.direct = direct
        self._files: dict[int, SegmentFile] = {}
        self._staging = Staging()  # the thread's aligned buffer for direct writes
        self._dirty: set[int] = set()  # segments written since the last flush
        self._created = False  # a segment file was created since the last flush
        self.fsyncs = 0  # fsync calls of segment files (counted for the profile and tests)
        self._unflushed = 0
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._lock = threading.Lock()
        self._durable: int | None = None  # newest stripe id below which all is fsynced
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="nasfs-rebuild-writer",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------- the rebuild's side

    def write(self, writes: list[ShardWrite]) -> None:
        """Queue one batch of stripes (in id order); blocks while QUEUED_BATCHES wait."""
        self._raise_failure()
        if writes:
            self._put((writes, None))

    def durable(self) -> int | None:
        """The newest cursor whose stripes are all on stable storage, once (None: none new)."""
        self._raise_failure()
        with self._lock:
            cursor, self._durable = self._durable, None
        return cursor

    def finish(self, cursor: int) -> None:
        """Write everything queued and flush it, all stripes below `cursor` included; returns
        once it is durable (or raises what went wrong)."""
        self._put(([], cursor))
        self._queue.join()
        self._raise_failure()

    def close(self) -> None:
        """Stop the thread (what is still queued is dropped) and close the segment files."""
        if self._thread.is_alive():
            self._error = self._error or _Stopped()
            self._put(None)
            self._thread.join()
        for file in self._files.values():
            file.close()
        self._files.clear()
        self._staging.close()

    def _put(self, job: _Job | None) -> None:
        # A failed thread keeps taking (and dropping) jobs, so this never waits forever.
        self._queue.put(job)

    def _raise_failure(self) -> None:
        if self._error is not None and not isinstance(self._error, _Stopped):
            raise self._error

    # --------------------------------------------------------- the thread's side

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    self._do(*job)
            except BaseException as exc:  # handed to the rebuild's thread
                self._error = exc
            finally:
                self._queue.task_done()

    def _do(self, writes: list[ShardWrite], final: int | None) -> None:
        for run in _runs(writes, self._staging.size):
            self._write(run)
            if self._unflushed >= self.batch_bytes:
                self._flush(run[-1].stripe_id + 1)  # stripes come in id order
        if final is not None:
            self._flush(final)

    def _file(self, segment: int) -> SegmentFile:
        file = self._files.get(segment)
        if file is None:
            file = SegmentFile(self.target, segment_name(segment), direct=self.direct)
            self._files[segment] = file
            self._created = True
        self._dirty.add(segment)
        return file

    def _write(self, run: list[ShardWrite]) -> None:
        first = run[0]
        if first.shard is None:
            # Leave a hole where the shard would be (reads as damage, like any lost shard).
            fd = self._file(first.segment).fd
            if os.fstat(fd).st_size < first.offset + first.length:
                os.ftruncate(fd, first.offset + first.length)
        elif first.shard:
            pieces = [w.shard for w in run if w.shard]
            self._file(first.segment).write_run(pieces, first.offset, self._staging)
            self._unflushed += sum(len(p) for p in pieces)

    def _flush(self, cursor: int) -> None:
        problem = self.target.problem()
        if problem is not None:
            raise RebuildError(f"the rebuild target is no longer usable: {problem}")
        for segment in sorted(self._dirty):
            self.fsyncs += 1
            os.fsync(self._files[segment].fd)
        if self._created:
            self.target.fsync_dir(SEGMENTS_DIR)
        self._dirty.clear()
        self._created = False
        self._unflushed = 0
        with self._lock:
            self._durable = cursor


def _runs(writes: list[ShardWrite], most: int) -> Iterator[list[ShardWrite]]:
    """`writes` in order, shards adjacent in one segment file taken together up to `most`
    bytes (one write each run); a hole or a stripe without a shard is a run of its own."""
    run: list[ShardWrite] = []
    size = end = 0
    for w in writes:
        joins = (w.shard is not None and len(w.shard) > 0 and bool(run)
                 and run[-1].segment == w.segment and end == w.offset
                 and size + len(w.shard) <= most)
        if run and not joins:
            yield run
            run, size = [], 0
        run.append(w)
        if w.shard is not None and len(w.shard) > 0:
            size += len(w.shard)
            end = w.offset + len(w.shard)
        else:
            yield run
            run, size = [], 0
    if run:
        yield run


class _Stopped(Exception):
    """The writer was closed: later jobs are dropped (not an error of the rebuild)."""
