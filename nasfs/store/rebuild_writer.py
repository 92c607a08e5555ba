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
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass

from nasfs.store.errors import RebuildError
from nasfs.store.member import SEGMENTS_DIR, MemberRoot
from nasfs.store.segments import segment_name, write_all
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
    def __init__(self, target: MemberRoot, batch_bytes: int) -> None:
        self.target = target
        self.batch_bytes = batch_bytes
        self._fds: dict[int, int] = {}
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
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

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
        for w in writes:
            self._write(w)
            if self._unflushed >= self.batch_bytes:
                self._flush(w.stripe_id + 1)  # stripes come in id order
        if final is not None:
            self._flush(final)

    def _fd(self, segment: int) -> int:
        fd = self._fds.get(segment)
        if fd is None:
            fd = self.target.open(segment_name(segment), os.O_WRONLY | os.O_CREAT)
            self._fds[segment] = fd
        return fd

    def _write(self, w: ShardWrite) -> None:
        if w.shard is None:
            # Leave a hole where the shard would be (reads as damage, like any lost shard).
            fd = self._fd(w.segment)
            if os.fstat(fd).st_size < w.offset + w.length:
                os.ftruncate(fd, w.offset + w.length)
        elif w.shard:
            write_all(self._fd(w.segment), w.shard, w.offset)
            self._unflushed += len(w.shard)

    def _flush(self, cursor: int) -> None:
        problem = self.target.problem()
        if problem is not None:
            raise RebuildError(f"the rebuild target is no longer usable: {problem}")
        for fd in self._fds.values():
            os.fsync(fd)
        self.target.fsync_dir(SEGMENTS_DIR)
        self._unflushed = 0
        with self._lock:
            self._durable = cursor


class _Stopped(Exception):
    """The writer was closed: later jobs are dropped (not an error of the rebuild)."""
