"""File data: records buffered in memory, flushed in batches to the store, read through a cache.

(About 740 lines, on purpose: the dirty map, the in-flight batches, the per-file flush locks,
flush-behind with its pipeline and the quiet moment are one concurrency protocol; the
invariants below hold only if one module owns all of it.)

A file is cut into records of `record_size` bytes by offset; record `idx` covers bytes
`[idx * record_size, (idx + 1) * record_size)`. A stored record is one chunk of its own
length (a short file is one short chunk); bytes after a record's content up to st_size read
as zeros, and a record with no extent row is a hole. All-zero records are never stored.

The content of record `idx` of a file is, in order of precedence: its dirty buffer (written,
not yet flushed), its in-flight copy (being put to the store; of the newest batch when a
background flush has two in flight), its extent's chunk, zeros.

Concurrency (see docs/architecture.md): everything here runs on the trio thread; the only
awaits are store calls in worker threads. A per-file lock serialises flushes and truncation
of that file, so a flush never commits an extent for a record that a truncate removed.
Writes do not take the lock: they go to the dirty map, which a flush swaps out atomically.
A file whose records another task is flushing is waited for, never skipped: its size is in
the database before its extent rows are, so committing without waiting would make that size
durable over missing data (an fsync returning early, a file full of zeros after a crash).
Commits and snapshots therefore run at a quiet moment (`at_quiet_moment`): nothing dirty,
nothing in flight, nothing truncating, with no await between that check and the commit.

Space (nasfs.store.space): every buffered record is charged against the array's free space
when it is created or grows, before the write that causes it returns, so a write that would
not fit fails with ENOSPC instead of being lost at flush. A record's charge is always
`space.cost(len(record))`; it is dropped once the store holds the record (or the record is
dropped). A write that runs out of space part way returns the bytes it did take. A record
fallocate reserved (nasfs.fs.reserve) turns its reservation into that charge when written.

Ordering with the store: chunks are put (durable) before extent rows naming them are
written; chunks of removed rows are queued and released only after the next durable commit
(Filesystem.commit), so a crash can leak references (fixed by reconcile) but never lose data.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import trio

from nasfs.errors import NasfsError
from nasfs.fs import errors
from nasfs.fs.repository import ChunkId, Repository
from nasfs.fs.reserve import Reservations

log = logging.getLogger(__name__)

T = TypeVar("T")


class ChunkStore(Protocol):
    """What the filesystem needs from nasfs.store.Store (sync, thread-safe)."""

    def put(self, chunks: Sequence[Any]) -> list[ChunkId]: ...
    def get(self, chunk_id: ChunkId) -> bytes: ...
    def release(self, chunk_ids: Iterable[ChunkId]) -> None: ...
    def retain(self, chunk_ids: Iterable[ChunkId]) -> None: ...
    def reconcile(self, refcounts: Mapping[ChunkId, int]) -> None: ...
    def capacity(self) -> Any: ...

    @property
    def space(self) -> Any: ...  # nasfs.store.space.SpaceAccount


# A buffered record: a bytearray, or the `bytes` of a write that covered the whole record
# (taken as it is, without a copy; `FileBuffers.writable` makes it a bytearray before any
# change).
Record = bytes | bytearray


class FileBuffers:
    """Unflushed records of one file."""

    __slots__ = ("batches", "dirty", "flushing", "lock", "nbytes", "pins", "pipeline",
                 "truncating")

    def __init__(self) -> None:
        self.dirty: dict[int, Record] = {}
        # Being put to the store (under `lock`): every in-flight batch's records, the newest
        # batch's copy of a record winning, as readers need it.
        self.flushing: dict[int, Record] = {}
        self.batches: list[dict[int, Record]] = []  # the in-flight batches, oldest first
        # The background flush holding `lock` while it may take one more batch.
        self.pipeline: Pipeline | None = None
        self.lock = trio.Lock()
        self.nbytes = 0  # bytes in `dirty`
        self.pins = 0  # writers/truncations holding this object across an await
        self.truncating = False  # a truncation holds `lock` and may await

    def unsettled(self) -> bool:
        """Records not yet named by extent rows: dirty, being put, or being truncated.

        Not `lock.locked()`: a task that merely waits its turn to flush holds the lock when
        it is handed over, and counting that would let tasks waiting for each other pass
        the lock around forever without anything left to do.
        """
        return bool(self.dirty) or bool(self.flushing) or self.truncating

    def idle(self) -> bool:
        """Nothing buffered and nobody using it: the object can be forgotten."""
        return not self.dirty and not self.flushing and not self.pins and not self.lock.locked()

    def take(self) -> dict[int, Record]:
        """Move the dirty records into a new in-flight batch (the caller holds `lock`)."""
        batch, self.dirty = self.dirty, {}
        self.batches.append(batch)
        self.flushing = batch if len(self.batches) == 1 else {**self.flushing, **batch}
        self.nbytes = 0
        return batch

    def settle(self, batch: dict[int, Record]) -> None:
        """`batch` is no longer in flight (stored and named by extents, or given up)."""
        self.batches = [b for b in self.batches if b is not batch]
        merged: dict[int, Record] = {}
        for b in self.batches:
            merged.update(b)
        self.flushing = self.batches[0] if len(self.batches) == 1 else merged

    def superseded(self, batch: dict[int, Record], idx: int) -> bool:
        """A newer copy of record `idx` than `batch`'s is dirty or in a later batch."""
        if idx in self.dirty:
            return True
        later = False
        for b in self.batches:
            if later and idx in b:
                return True
            later = later or b is batch
        return False

    def writable(self, idx: int) -> bytearray:
        """Dirty record `idx` as a bytearray to change in place (a taken `bytes` is copied
        once, here; its length, and so every byte count, stays the same)."""
        rec = self.dirty[idx]
        if isinstance(rec, bytearray):
            return rec
        copy = self.dirty[idx] = bytearray(rec)
        return copy


# A chunk's content: `bytes` from the store, or a read-only view of the record buffer a
# flush stored (the buffer is not copied; nothing writes to it once it is flushed, and the
# exported view makes any attempt to resize it fail loudly).
Content = bytes | memoryview


class RecordCache:
    """LRU of chunk contents by chunk id, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[ChunkId, Content] = OrderedDict()

    def get(self, chunk: ChunkId) -> Content | None:
        data = self._items.get(chunk)
        if data is not None:
            self._items.move_to_end(chunk)
        return data

    def put(self, chunk: ChunkId, data: Content) -> None:
        if chunk in self._items or len(data) > self.max_bytes:
            return
        self._items[chunk] = data
        self.nbytes += len(data)
        while self.nbytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.nbytes -= len(old)


# Batches of one file a background flush keeps in flight at once: while the store makes one
# durable (its fsyncs, its catalog commit), it hashes, encodes and writes the next.
MAX_BEHIND = 2

# A record being flushed: (inode, its buffers, record index, content).
Item = tuple[int, "FileBuffers", int, Record]


class BehindPut:
    """One batch of a background flush: its records and, once done, the store's answer."""

    __slots__ = ("done", "error", "ids", "items", "records", "to_store")

    def __init__(self, records: dict[int, Record], items: list[Item], to_store: list[Item]):
        self.records = records  # the batch as `FileBuffers.take` made it
        self.items = items
        self.to_store = to_store  # the items not all zeros
        self.ids: list[ChunkId] = []
        self.error: Exception | None = None
        self.done = trio.Event()


class Pipeline:
    """The batches a background flush of one file has in flight, oldest first.

    Their puts run at once in `nursery`; their extents are written strictly in this order,
    so a record in two batches ends up named by the newer one's chunk.
    """

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.queue: list[BehindPut] = []
        self.settled = trio.Event()  # set (and replaced) whenever the oldest batch settles

    def room(self) -> bool:
        return len(self.queue) < MAX_BEHIND


class DataPath:
    """Reads, writes, truncation and flushing of file records."""

    def __init__(
        self,
        repo: Repository,
        store: ChunkStore,
        *,
        record_size: int,
        flush_batch: int,
        max_dirty: int,
        cache_bytes: int,
    ) -> None:
        self.repo = repo
        self.store = store
        self.space = store.space
        self.record_size = record_size
        self.flush_batch = flush_batch
        self.max_dirty = max_dirty
        self.cache = RecordCache(cache_bytes)
        self.files: dict[int, FileBuffers] = {}
        self.dirty_bytes = 0
        # Chunks whose last referencing row is removed but maybe not yet durably so.
        self.release_after_commit: list[ChunkId] = []
        self._fetching: dict[ChunkId, trio.Event] = {}
        self._zeros = bytes(record_size)
        # Set while a commit or a snapshot drains the buffers (at_quiet_moment): new writes
        # and truncations wait for it, so the drain ends. None almost always: then no await
        # is added. Several drains may hold it at once; the last one out opens it.
        self.write_gate: trio.Event | None = None
        self._gate_holders = 0
        # Space held for fallocated records not yet written (nasfs.fs.reserve).
        self.reservations = Reservations(self.space)

    def _charge(self, old_len: int, new_len: int) -> None:
        """Charge a record's change of length; NoSpace (ENOSPC) if it does not fit."""
        cost = self.space.cost
        delta = cost(new_len) - cost(old_len)
        if delta:
            try:
                self.space.charge(delta)
            except NasfsError as exc:
                raise errors.NoSpace(str(exc)) from None

    def _uncharge(self, records: Iterable[Record]) -> None:
        cost = self.space.cost
        self.space.uncharge(sum(cost(len(r)) for r in records))

    async def wait_write_gate(self) -> None:
        while self.write_gate is not None:
            await self.write_gate.wait()

    # -------------------------------------------------------------- reading

    async def _fetch(self, chunk: ChunkId) -> Content:
        """Chunk content from the cache or the store; concurrent readers share one fetch."""
        while True:
            data = self.cache.get(chunk)
            if data is not None:
                return data
            pending = self._fetching.get(chunk)
            if pending is None:
                break
            await pending.wait()
        done = self._fetching[chunk] = trio.Event()
        try:
            data = await trio.to_thread.run_sync(self.store.get, chunk)
            self.cache.put(chunk, data)
            return data
        finally:
            del self._fetching[chunk]
            done.set()

    async def fetch_chunk(self, chunk: ChunkId) -> Content:
        """Content of a chunk through the record cache (also for snapshot reads)."""
        return await self._fetch(chunk)

    async def _stored(self, ino: int, idx: int) -> Content:
        """Committed content of a record (extent chunk, or b'' for a hole)."""
        ext = self.repo.get_extent(ino, idx)
        if ext is None:
            return b""
        return await self._fetch(ext.chunk)

    async def read(self, ino: int, off: int, size: int, file_size: int) -> bytes:
        end = min(off + size, file_size)
        if off >= end:
            return b""
        rs = self.record_size
        parts: list[bytes] = []
        pos = off
        while pos < end:
            idx, roff = divmod(pos, rs)
            n = min(rs - roff, end - pos)
            fb = self.files.get(ino)
            buf: Content | Record | None = None
            if fb is not None:
                buf = fb.dirty.get(idx)
                if buf is None:
                    buf = fb.flushing.get(idx)
            if buf is None:
                buf = await self._stored(ino, idx)
            piece = bytes(buf[roff : roff + n])
            if len(piece) < n:
                piece += bytes(n - len(piece))
            parts.append(piece)
            pos += n
        return parts[0] if len(parts) == 1 else b"".join(parts)

    # -------------------------------------------------------------- writing

    def buffers(self, ino: int) -> FileBuffers:
        fb = self.files.get(ino)
        if fb is None:
            fb = self.files[ino] = FileBuffers()
        return fb

    async def _dirty_record(self, ino: int, fb: FileBuffers, idx: int) -> bytearray:
        if idx in fb.dirty:
            return fb.writable(idx)
        base: Content | Record | None = fb.flushing.get(idx)
        if base is None:
            base = await self._stored(ino, idx)
            if idx in fb.dirty:  # a concurrent write may have created it meanwhile
                return fb.writable(idx)
        # An allocated record: its reservation becomes the record's charge, the buffer
        # padded to the reserved length, so writes within it need no new space.
        # Charge only what the record needs beyond its reservation (nothing when the
        # reservation covers it), then hand the reservation's charge to the record.
        reserved = self.reservations.held(ino, idx)
        self._charge(reserved, max(len(base), reserved))
        self.reservations.claim(ino, idx)
        rec = fb.dirty[idx] = bytearray(base)
        if len(rec) < reserved:
            rec.extend(bytes(reserved - len(rec)))
        fb.nbytes += len(rec)
        self.dirty_bytes += len(rec)
        return rec

    async def write(self, ino: int, off: int, data: bytes) -> int:
        """Buffer `data` at `off`; returns how many bytes were taken (fewer than asked only
        when the array filled part way). NoSpace (ENOSPC) when not even one byte fits."""
        if self.write_gate is not None:
            await self.wait_write_gate()
        fb = self.buffers(ino)
        fb.pins += 1  # a flush finishing during our await must not forget `fb`
        try:
            return await self._write(ino, fb, off, data)
        finally:
            fb.pins -= 1

    async def _write(self, ino: int, fb: FileBuffers, off: int, data: bytes) -> int:
        try:
            await self._write_records(ino, fb, off, data)
        except errors.NoSpace as full:
            if full.done:
                return full.done  # a short write: what was taken is acknowledged
            raise
        return len(data)

    async def _write_records(self, ino: int, fb: FileBuffers, off: int, data: bytes) -> None:
        rs = self.record_size
        view = memoryview(data)
        done = 0
        total = len(data)
        while done < total:
            idx, roff = divmod(off + done, rs)
            n = min(rs - roff, total - done)
            whole = n == rs and idx not in fb.dirty
            try:
                if whole:
                    self._charge(self.reservations.held(ino, idx), n)
                    self.reservations.claim(ino, idx)
                else:
                    rec = await self._dirty_record(ino, fb, idx)
                    self._charge(len(rec), max(len(rec), roff + n))
            except errors.NoSpace as full:
                full.done = done
                raise
            if whole:
                # A whole record: no need to read what it replaces. A write that is exactly
                # the record (a 1 MiB write(2) at a record boundary) is taken as it is: its
                # `bytes` cannot change, and copying it cost the trio thread a memcpy per MiB.
                fb.dirty[idx] = (data if done == 0 and n == total and type(data) is bytes
                                 else bytearray(view[done : done + n]))
                fb.nbytes += n
                self.dirty_bytes += n
            else:
                rec = fb.writable(idx)
                before = len(rec)
                if before < roff:
                    rec.extend(bytes(roff - before))
                rec[roff : roff + n] = view[done : done + n]
                grown = len(rec) - before
                fb.nbytes += grown
                self.dirty_bytes += grown
            done += n

    def needs_flush(self, ino: int) -> bool:
        fb = self.files.get(ino)
        return fb is not None and fb.nbytes >= self.flush_batch and not fb.lock.locked()

    def batch_ready(self, ino: int) -> bool:
        """A flush batch of this file is dirty (whether or not a flush of it is running)."""
        fb = self.files.get(ino)
        return fb is not None and fb.nbytes >= self.flush_batch

    async def flush_behind(self, ino: int, nursery: trio.Nursery) -> None:
        """Start putting this file's dirty batch to the store in `nursery` and return once
        it is taken, so the writer fills the next batch while the store writes this one.

        Up to MAX_BEHIND batches of a file are in flight (their puts overlap: one's fsyncs
        and catalog commit run while the next is hashed and written); past that this waits
        until the oldest settles (back-pressure; memory stays bounded by MAX_BEHIND + 1
        batches a file). A task waiting for the file's lock (an fsync, a commit, a
        truncation) stops new batches from joining, so it gets the lock once those in
        flight settle. The puts run shielded from cancellation, so an unmount never
        abandons a put half-recorded. A failure is logged and the batch's records stay
        dirty (unless a newer copy exists), so the next flush, fsync or commit retries
        and reports it; nothing is lost.
        """
        fb = self.files.get(ino)
        if fb is None:
            return
        while (pipe := fb.pipeline) is not None and not fb.lock.statistics().tasks_waiting:
            if pipe.room():
                if fb.nbytes >= self.flush_batch:
                    self._start_put(ino, fb, pipe)
                return
            fb.pins += 1
            try:
                await pipe.settled.wait()
            finally:
                fb.pins -= 1
        if fb.lock.locked():
            fb.pins += 1  # forgetting it while we wait would lose track of the records
            try:
                async with fb.lock:  # fair: the in-flight flush finishes first
                    pass
            finally:
                fb.pins -= 1
            self._forget_if_idle(ino, fb)
        if self.needs_flush(ino):
            await nursery.start(self._flush_task, ino)

    async def _flush_task(self, ino: int, task_status: trio.TaskStatus[None]) -> None:
        fb = self.files.get(ino)
        if fb is None or not fb.dirty or fb.lock.locked():
            task_status.started()  # someone else flushes it, or nothing is left
            return
        fb.lock.acquire_nowait()
        try:
            with trio.CancelScope(shield=True):
                async with trio.open_nursery() as nursery:
                    pipe = fb.pipeline = Pipeline(nursery)
                    try:
                        self._start_put(ino, fb, pipe)
                        task_status.started()
                        await self._drain(ino, fb, pipe)
                    finally:
                        # No await since the queue was last seen empty: no batch is left.
                        fb.pipeline = None
        finally:
            fb.lock.release()
        self._forget_if_idle(ino, fb)

    def _start_put(self, ino: int, fb: FileBuffers, pipe: Pipeline) -> None:
        self.dirty_bytes -= fb.nbytes
        records = fb.take()
        items = [(ino, fb, idx, rec) for idx, rec in records.items()]
        put = BehindPut(records, items, self._worth_storing(items))
        pipe.queue.append(put)
        pipe.nursery.start_soon(self._run_put, put)

    async def _run_put(self, put: BehindPut) -> None:
        try:
            put.ids = await trio.to_thread.run_sync(self.store.put,
                                                    [item[3] for item in put.to_store])
        except Exception as exc:
            put.error = exc
        finally:
            put.done.set()

    async def _drain(self, ino: int, fb: FileBuffers, pipe: Pipeline) -> None:
        """Settle the pipeline's batches in order until none is left."""
        while pipe.queue:
            put = pipe.queue[0]
            await put.done.wait()
            del pipe.queue[0]
            try:
                if put.error is not None:
                    self._restore([(fb, put.records)])
                    raise put.error
                try:
                    orphaned = self._name_stored(put.items, put.to_store, put.ids)
                finally:
                    fb.settle(put.records)
                if orphaned:
                    await trio.to_thread.run_sync(self.store.release, orphaned)
            except Exception:
                log.warning("background flush of inode %d failed; its records stay buffered "
                            "and the next flush retries", ino, exc_info=True)
            finally:
                pipe.settled.set()
                pipe.settled = trio.Event()

    def over_memory_bound(self) -> bool:
        return self.dirty_bytes > self.max_dirty

    # ----------------------------------------------------------- truncation

    async def truncate(self, ino: int, old_size: int, new_size: int) -> None:
        """Drop data past `new_size` (shrinking); growing leaves a hole, nothing to do."""
        if new_size >= old_size:
            return
        if self.write_gate is not None:
            await self.wait_write_gate()
        rs = self.record_size
        fb = self.buffers(ino)
        fb.pins += 1
        try:
            async with fb.lock:
                fb.truncating = True
                try:
                    await self._truncate_locked(ino, fb, new_size, rs)
                finally:
                    fb.truncating = False
        finally:
            fb.pins -= 1
        self._forget_if_idle(ino, fb)

    async def _truncate_locked(self, ino: int, fb: FileBuffers, new_size: int, rs: int) -> None:
        self.reservations.clip(ino, new_size, rs)
        first_gone = -(-new_size // rs)
        for idx in [i for i in fb.dirty if i >= first_gone]:
            self._drop_dirty(fb, idx)
        self.release_after_commit += self.repo.delete_extents_from(ino, first_gone)
        cut = new_size % rs
        if cut:
            idx = new_size // rs
            rec = fb.writable(idx) if idx in fb.dirty else None
            if rec is None:
                ext = self.repo.get_extent(ino, idx)
                if ext is not None and ext.length > cut:
                    rec = await self._dirty_record(ino, fb, idx)
            if rec is not None and len(rec) > cut:
                self._charge(len(rec), cut)
                shrink = len(rec) - cut
                del rec[cut:]
                fb.nbytes -= shrink
                self.dirty_bytes -= shrink

    def _drop_dirty(self, fb: FileBuffers, idx: int) -> None:
        rec = fb.dirty.pop(idx)
        self._uncharge([rec])
        fb.nbytes -= len(rec)
        self.dirty_bytes -= len(rec)

    def discard(self, ino: int) -> None:
        """Forget every buffer and reservation of a purged inode."""
        self.reservations.discard(ino)
        fb = self.files.pop(ino, None)
        if fb is not None:
            self.dirty_bytes -= fb.nbytes
            # In-flight records are uncharged by the flush that holds them.
            self._uncharge(fb.dirty.values())

    # ------------------------------------------------------------- flushing

    def dirty_inodes(self) -> list[int]:
        """Inodes with dirty records or with a flush or truncation in flight.

        In-flight ones count: their sizes are already in the database, their extent rows
        are not, so whoever commits (or snapshots) must wait for them as for dirty ones.
        """
        return [ino for ino, fb in self.files.items() if fb.unsettled()]

    async def flush(self, inos: Iterable[int]) -> None:
        """Put the dirty records of `inos` to the store (one batch) and write their extents.

        Returns when every record that was dirty at the call is in the store and named by an
        extent row (not yet committed: the caller commits). A file another task is flushing
        (or truncating) is waited for, then flushed again if it got dirty meanwhile: skipping
        it would let the caller commit its size before its extents exist. Store errors
        propagate with the records put back, so nothing is lost and the caller's fsync fails.
        """
        mine: list[tuple[int, FileBuffers]] = []
        busy: list[int] = []
        for ino in inos:
            fb = self.files.get(ino)
            if fb is None or not fb.unsettled():
                continue
            if fb.lock.locked():
                busy.append(ino)
                continue
            fb.lock.acquire_nowait()
            mine.append((ino, fb))
        try:
            await self._flush_locked(mine)
        finally:
            for _, fb in mine:
                fb.lock.release()
        for ino, fb in mine:
            self._forget_if_idle(ino, fb)
        for ino in busy:
            maybe = self.files.get(ino)
            if maybe is None:
                continue
            maybe.pins += 1  # forgetting it while we wait would lose the records we wait for
            try:
                async with maybe.lock:  # trio.Lock is fair: the in-flight one finishes first
                    await self._flush_locked([(ino, maybe)])
            finally:
                maybe.pins -= 1
            self._forget_if_idle(ino, maybe)

    async def at_quiet_moment(self, action: Callable[[], T], *, free_rounds: int = 2) -> T:
        """Run `action` (synchronous) when no record is dirty, in flight or truncating.

        Flushes while writers go on for up to `free_rounds` rounds; if writers keep dirtying
        records, new writes and truncations are then held at the write gate until the rest
        is drained, so this ends however busy the writers are. No await separates the last
        check from `action`, so a commit in `action` never names a size whose data it lacks.
        """
        for _ in range(free_rounds):
            pending = self.dirty_inodes()
            if not pending:
                return action()
            await self.flush(pending)
        self._gate_holders += 1
        if self.write_gate is None:
            self.write_gate = trio.Event()
        try:
            while True:
                pending = self.dirty_inodes()
                if not pending:
                    return action()
                await self.flush(pending)
        finally:
            self._gate_holders -= 1
            if not self._gate_holders and self.write_gate is not None:
                gate, self.write_gate = self.write_gate, None
                gate.set()

    def _forget_if_idle(self, ino: int, fb: FileBuffers) -> None:
        # Keeping one object per inode ever written would grow without bound and make
        # every dirty scan (group commit, snapshot) proportional to the files ever touched.
        if fb.idle() and self.files.get(ino) is fb:
            del self.files[ino]

    async def _flush_locked(self, files: list[tuple[int, FileBuffers]]) -> None:
        batch: list[Item] = []
        taken: list[tuple[FileBuffers, dict[int, Record]]] = []
        for ino, fb in files:
            if not fb.dirty:
                continue
            self.dirty_bytes -= fb.nbytes
            records = fb.take()
            taken.append((fb, records))
            batch += [(ino, fb, idx, rec) for idx, rec in records.items()]
        if not batch:
            return
        to_store = self._worth_storing(batch)
        try:
            ids = await trio.to_thread.run_sync(self.store.put, [item[3] for item in to_store])
        except BaseException:
            self._restore(taken)
            raise
        try:
            orphaned = self._name_stored(batch, to_store, ids)
        finally:
            # Also when writing the rows failed (the metadata had no room: the transaction
            # was rolled back and the files are as on disk, nasfs.fs.filesystem): nothing
            # of this batch is in flight any more, or every later commit would wait for it.
            for fb, records in taken:
                fb.settle(records)
        if orphaned:
            # Never named by any row, committed or not: safe to release at once.
            await trio.to_thread.run_sync(self.store.release, orphaned)

    def _worth_storing(self, batch: list[Item]) -> list[Item]:
        zeros = self._zeros
        return [item for item in batch if len(item[3]) and item[3] != zeros[: len(item[3])]]

    def _name_stored(self, batch: list[Item], to_store: list[Item],
                     ids: list[ChunkId]) -> list[ChunkId]:
        """Extent rows for a stored batch; returns the chunks no live file takes."""
        # The store holds them now (its free space shows them): their charges go.
        self._uncharge(item[3] for item in batch)
        stored = {(item[0], item[2]): cid for item, cid in zip(to_store, ids, strict=True)}
        orphaned: list[ChunkId] = []
        live: dict[int, bool] = {}
        for ino, fb, idx, rec in batch:
            if ino not in live:
                live[ino] = (self.repo.get_inode(ino) is not None
                             and self.files.get(ino) is fb)
            cid = stored.get((ino, idx))
            if not live[ino]:
                if cid is not None:
                    orphaned.append(cid)
                continue
            if cid is None:
                self.release_after_commit += self.repo.delete_extent(ino, idx)
            else:
                # Cached as it is (a copy per flushed MiB cost the trio thread 0.5 ms):
                # from here on only the cache holds the record, and nothing writes it.
                self.cache.put(cid, rec if isinstance(rec, bytes)
                               else memoryview(rec).toreadonly())
                old = self.repo.set_extent(ino, idx, cid, len(rec))
                if old is not None:
                    self.release_after_commit.append(old)
        return orphaned

    def _restore(self, taken: list[tuple[FileBuffers, dict[int, Record]]]) -> None:
        """Put a failed batch's records back as dirty, unless a newer copy exists."""
        for fb, records in taken:
            for idx, rec in records.items():
                if not fb.superseded(records, idx):
                    fb.dirty[idx] = rec  # keeps its charge
                    fb.nbytes += len(rec)
                    self.dirty_bytes += len(rec)
                else:
                    self._uncharge([rec])  # superseded by a newer write, charged on its own
            fb.settle(records)

    async def release_committed(self) -> None:
        """Release chunks whose removal is now durable (call right after a durable commit)."""
        ids, self.release_after_commit = self.release_after_commit, []
        if ids:
            await trio.to_thread.run_sync(self.store.release, ids)
