"""The access-log writer: callers hand entries over without waiting for the database; one
trio task writes them in batches, one transaction per batch.

    ok = audit.record_nowait(entry)      # never blocks; False when the queue is full
    await audit.record(entry)            # waits only while the queue is full (back-pressure)

Nothing is dropped silently: the queue is bounded, and a full queue makes `record` wait
instead of discarding. If a batch cannot be written (a database error), its entries are
written one by one, so one bad entry loses only itself; what still fails is counted as lost,
and a `log-lost` row saying how many were lost and between which times is chained in as
soon as the log can be written again: before the next entries, or by itself, retried every
LOSS_RETRY_S while no new entries come (a full disk that got room again). `log verify`
lists these rows as gaps.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trio

from nasfs.clock import Clock
from nasfs.policy.auditstore import LogEntry

log = logging.getLogger(__name__)

# Writes `entries` to log `kind` in one transaction (blocking; called in a worker thread).
BatchWriter = Callable[[str, Sequence[LogEntry]], None]

DEFAULT_CAPACITY = 10_000
DEFAULT_BATCH = 1_000
# After the first entry of a batch the writer waits this long for more: a busy stream is then
# written in a few large transactions instead of one small one per entry or two (each a
# commit on every copy of the database, in a worker thread competing for the GIL).
DEFAULT_LINGER = 0.05
LOSS_RETRY_S = 2.0  # while a loss is unreported and nothing else comes, retry this often


@dataclass
class AuditStatistics:
    queued: int  # waiting in the queue now
    capacity: int  # the queue's bound
    max_queued: int  # the most ever waiting at once (never above capacity)
    written: int  # entries written so far
    lost: int  # entries that could not be written (each reported by a log-lost row)
    batches: int  # transactions made


class AuditLog:
    """Bounded queue + batch writer (see the module docstring). Run `run` in a nursery."""

    def __init__(self, write: BatchWriter, clock: Clock, *, capacity: int = DEFAULT_CAPACITY,
                 batch: int = DEFAULT_BATCH, linger: float = DEFAULT_LINGER) -> None:
        self._write = write
        self._clock = clock
        self._capacity = capacity
        self._batch = batch
        self._linger = linger
        self._send, self._receive = trio.open_memory_channel[tuple[str, LogEntry]](capacity)
        self._pending = 0  # recorded and not yet written (or lost)
        self._idle = trio.Event()
        self._idle.set()
        # kind -> (entries lost, time of the first, time of the last), not yet in the log
        self._unreported_lost: dict[str, tuple[int, int, int]] = {}
        self._done = trio.Event()
        self.stats = AuditStatistics(0, capacity, 0, 0, 0, 0)

    def _stamp(self, entry: LogEntry) -> LogEntry:
        if entry.time_ns is None:
            return dataclasses.replace(entry, time_ns=self._clock.now_ns())
        return entry

    def _queued(self) -> None:
        self._pending += 1
        self._idle = trio.Event() if self._idle.is_set() else self._idle
        used = self._send.statistics().current_buffer_used
        self.stats.max_queued = max(self.stats.max_queued, used)

    def record_nowait(self, entry: LogEntry, kind: str = "access") -> bool:
        """Queue `entry` without waiting; False (nothing queued) when the queue is full."""
        try:
            self._send.send_nowait((kind, self._stamp(entry)))
        except trio.WouldBlock:
            return False
        self._queued()
        return True

    async def record(self, entry: LogEntry, kind: str = "access") -> None:
        """Queue `entry`, waiting while the queue is full."""
        stamped = self._stamp(entry)
        try:
            self._send.send_nowait((kind, stamped))
        except trio.WouldBlock:
            await self._send.send((kind, stamped))
        self._queued()

    async def wait_idle(self) -> None:
        """Return once everything recorded so far is written (or counted lost)."""
        while self._pending:
            await self._idle.wait()

    def statistics(self) -> AuditStatistics:
        self.stats.queued = self._send.statistics().current_buffer_used
        return dataclasses.replace(self.stats)

    async def aclose(self) -> None:
        """Stop taking entries and wait until the writer has written what was queued."""
        self._send.close()
        await self._done.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write batches until `aclose`; on cancellation, write what is queued first."""
        task_status.started()
        try:
            while True:
                first: tuple[str, LogEntry] | None = None
                wait = LOSS_RETRY_S if self._unreported_lost else math.inf
                try:
                    with trio.move_on_after(wait):
                        first = await self._receive.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    break
                if first is None:
                    # Nothing new came: chain the loss report in by itself.
                    with trio.CancelScope(shield=True):
                        await self._report_losses()
                    continue
                # Shielded: entries taken off the queue must reach the database even when
                # the daemon is stopping (a cancelled write would lose them silently).
                with trio.CancelScope(shield=True):
                    if self._linger > 0 and self._send.statistics().current_buffer_used < (
                            self._batch - 1):
                        await trio.sleep(self._linger)
                    batch = [first, *self._take(self._batch - 1)]
                    await self._write_batch(batch)
        finally:
            with trio.CancelScope(shield=True):
                while rest := self._take(self._batch):
                    await self._write_batch(rest)
                await self._report_losses()
                self._done.set()

    def _take(self, most: int) -> list[tuple[str, LogEntry]]:
        items: list[tuple[str, LogEntry]] = []
        while len(items) < most:
            try:
                items.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        return items

    async def _write_batch(self, items: list[tuple[str, LogEntry]]) -> None:
        by_kind: dict[str, list[LogEntry]] = {}
        for kind, entry in items:
            by_kind.setdefault(kind, []).append(entry)
        try:
            for kind, entries in by_kind.items():
                await trio.to_thread.run_sync(self._write_kind, kind, entries)
        finally:
            self._pending -= len(items)
            if self._pending == 0:
                self._idle.set()

    async def _report_losses(self) -> None:
        for kind in list(self._unreported_lost):
            await trio.to_thread.run_sync(self._write_kind, kind, [])

    def _loss_row(self, kind: str, lost: tuple[int, int, int]) -> LogEntry:
        count, first_ns, last_ns = lost
        return LogEntry(
            operation="log-lost", result="EIO", time_ns=self._clock.now_ns(), bytes=count,
            detail=f"{count} {kind}-log entries could not be written and are lost "
                   f"(made between {_utc(first_ns)} and {_utc(last_ns)})")

    def _write_kind(self, kind: str, entries: list[LogEntry]) -> None:
        lost = self._unreported_lost.get(kind)
        batch = list(entries)
        if lost:
            batch.insert(0, self._loss_row(kind, lost))
        try:
            self._write(kind, batch)
        except Exception as exc:
            log.warning("could not write %d %s-log entries as one batch (%s); writing them "
                        "one by one", len(batch), kind, exc)
            self._write_singly(kind, entries)
            return
        self._unreported_lost.pop(kind, None)
        self.stats.written += len(entries)
        self.stats.batches += 1

    def _write_singly(self, kind: str, entries: list[LogEntry]) -> None:
        """After a failed batch: the loss row, then each entry in its own transaction."""
        lost = self._unreported_lost.get(kind)
        if lost:
            try:
                self._write(kind, [self._loss_row(kind, lost)])
                self._unreported_lost.pop(kind, None)
                self.stats.batches += 1
            except Exception:
                log.warning("the %s log still cannot be written", kind)
        for entry in entries:
            try:
                self._write(kind, [entry])
            except Exception:
                log.exception("could not write a %s-log entry (%s); it is lost, and a "
                              "log-lost row will say so", kind, entry.operation)
                t = entry.time_ns if entry.time_ns is not None else self._clock.now_ns()
                count, first, last = self._unreported_lost.get(kind, (0, t, t))
                self._unreported_lost[kind] = (count + 1, min(first, t), max(last, t))
                self.stats.lost += 1
                continue
            self.stats.written += 1
            self.stats.batches += 1


def _utc(ns: int) -> str:
    when = datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")
