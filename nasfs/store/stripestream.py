"""Stripes streamed off every member at once, checked in parallel: scrub's and rebuild's
reading engine.

Why: checking stripe after stripe in one thread leaves every disk idle while the CPU
hashes and every core idle while a disk seeks; scrub ran at half and rebuild at a fifth
of the rate the disks give. Here:
- each member has its own reader thread, so I/O is in flight on all members at once, and
  a member's shards of consecutive stripes (adjacent in its segment file) are read as one
  large sequential pread (READ_RUN_BYTES), with the kernel told the access is sequential;
- stripes are checked (nasfs.store.stripecheck: hashes and parity, both in C that releases
  the GIL) by CHECK_THREADS threads while the readers fetch the next batches;
- results come back strictly in stripe id order, so the callers keep their cursor rules
  (scrub persists `next` after a batch; rebuild writes and fsyncs in id order).
A read error of a coalesced run falls back to one read per shard, so a bad sector costs
only the shards it is in, exactly as with single reads.

Memory: at most AHEAD batches of about BATCH_BYTES of shards are held at once.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nasfs.store.catalog import ChunkRecord, StripeRecord
from nasfs.store.geometry import shard_member
from nasfs.store.segments import segment_path
from nasfs.store.stripecheck import Shard, StripeVerdict, check_stripe

MiB = 1 << 20
READ_RUN_BYTES = 1 * MiB  # one pread covers at most this much of a member's segment file
BATCH_BYTES = 16 * MiB  # shard bytes (all members) of one batch
AHEAD = 4  # batches in flight: one being consumed, the next ones being read and checked
CHECK_THREADS = 2  # hashing and parity; the machine this was tuned on has 2 cores
QUERY_STRIPES = 256  # stripes per catalog query

ReadResult = Shard | str  # the bytes, or why they could not be read


@dataclass
class CheckedStripe:
    stripe: StripeRecord
    chunks: list[ChunkRecord]
    shards: list[Shard | None]  # as read (None: missing member or unreadable)
    why: dict[int, str]  # shard index -> why it is missing or unreadable
    verdict: StripeVerdict | None  # None when the caller asked not to check this stripe


@dataclass
class _Batch:
    items: list[tuple[StripeRecord, list[ChunkRecord]]]
    present: dict[int, Path]
    reads: dict[int, Future[dict[tuple[int, int], ReadResult]]]
    checks: list[Future[CheckedStripe]]


def _read_one(fd: int, offset: int, length: int) -> ReadResult:
    try:
        data = os.pread(fd, length, offset)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if len(data) != length:
        # A hole past the end (crashed tail, truncated file) is a damaged shard.
        return f"unreadable: short read ({len(data)} of {length} bytes)"
    return data


def read_member(member: Path, wanted: Sequence[tuple[int, int, int]]
                ) -> dict[tuple[int, int], ReadResult]:
    """The shards `wanted` = (segment, offset, length) of one member, by (segment, offset),
    read in file order with adjacent shards coalesced into runs of READ_RUN_BYTES."""
    out: dict[tuple[int, int], ReadResult] = {}
    by_segment: dict[int, list[tuple[int, int]]] = {}
    for segment, offset, length in wanted:
        by_segment.setdefault(segment, []).append((offset, length))
    for segment, ranges in sorted(by_segment.items()):
        ranges.sort()
        try:
            fd = os.open(segment_path(member, segment), os.O_RDONLY)
        except OSError as exc:
            why = f"unreadable: {exc.strerror or exc}"
            out.update({(segment, off): why for off, _ in ranges})
            continue
        try:
            os.posix_fadvise(fd, ranges[0][0], 0, os.POSIX_FADV_SEQUENTIAL)
            for run in _runs(ranges):
                _read_run(fd, segment, run, out)
        finally:
            os.close(fd)
    return out


def _runs(ranges: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    run: list[tuple[int, int]] = []
    end = size = 0
    for offset, length in ranges:
        if run and (offset != end or size + length > READ_RUN_BYTES):
            yield run
            run, size = [], 0
        run.append((offset, length))
        end = offset + length
        size += length
    if run:
        yield run


def _read_run(fd: int, segment: int, run: list[tuple[int, int]],
              out: dict[tuple[int, int], ReadResult]) -> None:
    start = run[0][0]
    total = run[-1][0] + run[-1][1] - start
    if len(run) == 1:
        out[(segment, start)] = _read_one(fd, start, total)
        return
    try:
        data = os.pread(fd, total, start)
    except OSError:
        for offset, length in run:  # find the shards the error is in, one by one
            out[(segment, offset)] = _read_one(fd, offset, length)
        return
    view = memoryview(data)
    for offset, length in run:
        lo = offset - start
        if lo + length <= len(view):
            out[(segment, offset)] = view[lo : lo + length]
        else:
            got = max(0, len(view) - lo)
            out[(segment, offset)] = f"unreadable: short read ({got} of {length} bytes)"


class StripeStream:
    """Read and check stripes in id order with I/O on all members at once (see module)."""

    def __init__(self, member_count: int, nparity: int,
                 fetch: Callable[[int, int], list[tuple[StripeRecord, list[ChunkRecord]]]],
                 present: Callable[[], dict[int, Path]]) -> None:
        self.member_count = member_count
        self.nparity = nparity
        self._fetch = fetch  # (first id, limit) -> stripes with their chunks, id order
        self._present = present  # the members to read, asked again for every batch
        self._readers: dict[int, ThreadPoolExecutor] = {}
        self._checkers = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="nasfs-check")

    def close(self) -> None:
        for pool in self._readers.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._checkers.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> StripeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stripes(self, cursor: int, stop: int | None = None,
                wanted: Callable[[StripeRecord], bool] | None = None,
                ) -> Iterator[list[CheckedStripe]]:
        """Batches of checked stripes with id >= cursor (and < stop), in id order.
        Stripes `wanted` refuses are returned unread and unchecked (verdict None)."""
        pending: deque[_Batch] = deque()
        source = self._batches(cursor, stop)
        exhausted = False
        while True:
            while not exhausted and len(pending) < AHEAD:
                items = next(source, None)
                if items is None:
                    exhausted = True
                    break
                pending.append(self._start(items, wanted))
            if not pending:
                return
            batch = pending.popleft()
            yield [f.result() for f in batch.checks]

    def _batches(self, cursor: int, stop: int | None
                 ) -> Iterator[list[tuple[StripeRecord, list[ChunkRecord]]]]:
        while True:
            found = self._fetch(cursor, QUERY_STRIPES)
            if stop is not None:
                found = [(s, c) for s, c in found if s.id < stop]
            if not found:
                return
            batch: list[tuple[StripeRecord, list[ChunkRecord]]] = []
            size = 0
            for item in found:
                batch.append(item)
                size += item[0].shard_size * (item[0].width + self.nparity)
                if size >= BATCH_BYTES:
                    yield batch
                    batch, size = [], 0
            if batch:
                yield batch
            cursor = found[-1][0].id + 1

    def _reader(self, member: int) -> ThreadPoolExecutor:
        pool = self._readers.get(member)
        if pool is None:
            pool = ThreadPoolExecutor(1, thread_name_prefix=f"nasfs-read{member + 1}")
            self._readers[member] = pool
        return pool

    def _start(self, items: list[tuple[StripeRecord, list[ChunkRecord]]],
               wanted: Callable[[StripeRecord], bool] | None) -> _Batch:
        present = self._present()
        per_member: dict[int, list[tuple[int, int, int]]] = {}
        for stripe, _chunks in items:
            if wanted is not None and not wanted(stripe):
                continue
            for j in range(stripe.width + self.nparity):
                member = shard_member(stripe.first_member, j, self.member_count)
                if member in present:
                    per_member.setdefault(member, []).append(
                        (stripe.segment, stripe.offset, stripe.shard_size))
        reads = {m: self._reader(m).submit(read_member, present[m], wanted_here)
                 for m, wanted_here in per_member.items()}
        batch = _Batch(items, present, reads, [])
        batch.checks = [self._checkers.submit(self._check, batch, stripe, chunks, wanted)
                        for stripe, chunks in items]
        return batch

    def _check(self, batch: _Batch, stripe: StripeRecord, chunks: list[ChunkRecord],
               wanted: Callable[[StripeRecord], bool] | None) -> CheckedStripe:
        if wanted is not None and not wanted(stripe):
            return CheckedStripe(stripe, chunks, [], {}, None)
        shards: list[Shard | None] = []
        why: dict[int, str] = {}
        for j in range(stripe.width + self.nparity):
            member = shard_member(stripe.first_member, j, self.member_count)
            future = batch.reads.get(member)
            if member not in batch.present or future is None:
                shards.append(None)
                why[j] = "member missing"
                continue
            try:
                got = future.result()[(stripe.segment, stripe.offset)]
            except OSError as exc:  # the reader itself failed (it catches read errors)
                got = f"unreadable: {exc.strerror or exc}"
            if isinstance(got, str):
                shards.append(None)
                why[j] = got
            else:
                shards.append(got)
        verdict = check_stripe(shards, why, stripe, chunks, self.nparity)
        return CheckedStripe(stripe, chunks, shards, why, verdict)

