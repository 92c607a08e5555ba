"""Writing stripes: pack chunks, compute parity, write shards to members, fsync.

The writer owns no catalog state: the Store reserves stripe ids and segment space under
its lock, then hands the planned stripes here to be filled and made durable without any
lock held, so several puts can be in flight. Each member slot has one write thread, so the
writes to one member stay in order while members proceed in parallel and the caller's
thread computes the next stripe's parity, and one sync thread (nasfs.store.member_sync), so
one put's fsync never holds up the next put's writes and concurrent puts share fsyncs.
Shards bypass the page cache (O_DIRECT) where the member's filesystem allows
(nasfs.store.direct_io); the fsync that makes them durable is the same either way.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from nasfs.store import code as parity
from nasfs.store.catalog import StripeRecord
from nasfs.store.direct_io import SegmentFile, Staging
from nasfs.store.geometry import shard_member
from nasfs.store.member import MemberRoot
from nasfs.store.member_sync import MemberSync, SyncRequest
from nasfs.store.segments import segment_name

log = logging.getLogger(__name__)

# At most this many stripes' buffers are queued to the member threads at once.
MAX_IN_FLIGHT = 6

# Shards go to the disk with O_DIRECT where the filesystem allows (nasfs.store.direct_io);
# False writes them through the page cache as before.
DIRECT_WRITES = True

# A put's registration with a member's sync thread: its request and the round covering it.
Registered = tuple[SyncRequest | None, "Future[None] | None"]


@dataclass
class PlannedStripe:
    record: StripeRecord
    chunks: list[tuple[memoryview, int]]  # (content, offset in stripe data)


@dataclass
class _MemberBatch:
    """What one put did on one member: open segment files and the first error met.

    Files are opened relative to the member's pinned `nasfs/` folder, never by path: a
    member whose path now leads elsewhere (disk gone, directory moved) gets nothing new.
    Shards are written with O_DIRECT through the member thread's aligned buffer where the
    filesystem allows (nasfs.store.direct_io), buffered otherwise.
    """

    root: MemberRoot
    staging: Staging
    direct: bool = True
    files: dict[int, SegmentFile] = field(default_factory=dict)
    created: bool = False
    error: OSError | None = None

    def file_for(self, segment: int) -> SegmentFile:
        file = self.files.get(segment)
        if file is None:
            name = segment_name(segment)
            if not self.root.exists(name):
                self.created = True
            file = SegmentFile(self.root, name, direct=self.direct)
            self.files[segment] = file
        return file

    def write(self, segment: int, offset: int, data: parity.Shard) -> None:
        if self.error is not None:
            return
        try:
            self.file_for(segment).write(data, offset, self.staging)
        except OSError as exc:
            self.error = exc

    def sync_request(self) -> SyncRequest | None:
        """What the member's sync thread must make durable (None after a write error)."""
        if self.error is not None or not self.files:
            return None
        return SyncRequest(self.root, {seg: f.fd for seg, f in self.files.items()},
                           self.created)

    def close(self, synced: SyncRequest | None) -> None:
        """Take the sync's outcome, then close every file (their fsync is done or moot)."""
        if synced is not None and synced.error is not None:
            self.error = self.error or synced.error
        for file in self.files.values():
            # close can report a deferred write error (NFS, some FUSE backends).
            self.error = self.error or file.close()
        self.files.clear()


def build_shards(stripe: PlannedStripe, nparity: int) -> list[parity.Shard]:
    """The stripe's data shards, then its parity shards.

    A data shard that one chunk fills exactly (the usual case for 1 MiB records and 1 MiB
    shards) is a view of that chunk: no copy. Only shards holding several chunks, parts of
    chunks or padding are assembled into a buffer of their own.
    """
    rec = stripe.record
    size = rec.shard_size
    whole: dict[int, memoryview] = {}
    for content, offset in stripe.chunks:
        if len(content) == size and offset % size == 0:
            whole[offset // size] = content
    data: list[parity.Shard] = []
    assembled: bytearray | None = None
    for i in range(rec.width):
        view = whole.get(i)
        if view is not None:
            data.append(view)
            continue
        if assembled is None:
            assembled = _assemble(stripe, whole)
        data.append(memoryview(assembled)[i * size : (i + 1) * size])
    return [*data, *parity.encode_shards(data, nparity)]


def _assemble(stripe: PlannedStripe, whole: dict[int, memoryview]) -> bytearray:
    """The stripe's data as one zero-padded buffer (shards in `whole` left as zeros)."""
    rec = stripe.record
    buf = bytearray(rec.width * rec.shard_size)
    for content, offset in stripe.chunks:
        if whole.get(offset // rec.shard_size) is content:
            continue
        buf[offset : offset + len(content)] = content
    return buf


class MemberWriters:
    """Per member slot: a write thread with its aligned buffer, and a sync thread (shut
    down at close). `direct=False` writes every shard buffered (nasfs.store.direct_io)."""

    def __init__(self, member_count: int, *, direct: bool | None = None):
        self.direct = DIRECT_WRITES if direct is None else direct
        self._pools = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"nasfs-member{i}")
            for i in range(member_count)
        ]
        self._sync_pools = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"nasfs-sync{i}")
            for i in range(member_count)
        ]
        self.syncs = [MemberSync() for _ in range(member_count)]
        # Used only by the member's write thread (a pool of one), so never shared.
        self.staging = [Staging() for _ in range(member_count)]

    def batch(self, member: int, root: MemberRoot) -> _MemberBatch:
        """What one put writes on `member`, through that member's write thread."""
        return _MemberBatch(root, self.staging[member], self.direct)

    def submit(self, member: int, fn: Callable[[], None]) -> Future[None]:
        return self._pools[member].submit(fn)

    def register_sync(self, member: int, batch: _MemberBatch) -> Future[Registered]:
        """Queue, behind the member's pending writes of `batch`, the registration of what
        it wrote and a sync round on the sync thread; the future gives the request and
        that round (None, None after a write error). The write thread never waits for a
        round, so the next put's writes go on while this one's fsync runs."""
        def ready() -> Registered:
            req = batch.sync_request()
            if req is None:
                return None, None
            self.syncs[member].request(req)
            return req, self._sync_pools[member].submit(self.syncs[member].run)

        return self._pools[member].submit(ready)

    def close(self) -> None:
        for pool in (*self._pools, *self._sync_pools):
            pool.shutdown(wait=True)
        for staging in self.staging:
            staging.close()


def write_stripes(
    stripes: Sequence[PlannedStripe],
    present: dict[int, MemberRoot],
    member_count: int,
    nparity: int,
    writers: MemberWriters,
) -> dict[int, OSError]:
    """Write and fsync all stripes on every present member; returns errors by member.

    Nothing here touches the catalog: on any error the stripes are merely dead space.
    """
    batches = {m: writers.batch(m, root) for m, root in present.items()}
    pending: list[list[Future[None]]] = []
    for stripe in stripes:
        shards = build_shards(stripe, nparity)
        rec = stripe.record
        futures = []
        for j, shard in enumerate(shards):
            member = shard_member(rec.first_member, j, member_count)
            batch = batches.get(member)
            if batch is None:
                continue  # missing member: parity covers this shard
            futures.append(writers.submit(member, partial(batch.write, rec.segment,
                                                          rec.offset, shard)))
        pending.append(futures)
        if len(pending) > MAX_IN_FLIGHT:
            for f in pending.pop(0):
                f.result()
    synced = {m: writers.register_sync(m, b) for m, b in batches.items()}
    for futures in pending:
        for f in futures:
            f.result()
    for m, b in batches.items():
        req, round_done = synced[m].result()
        if round_done is not None:
            round_done.result()
        b.close(req)
    return {m: b.error for m, b in batches.items() if b.error is not None}


def is_no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)
