"""Rebuild: recreate a missing member's shards on a new, empty directory.

Stripe by stripe, the survivors are read, the stripe is checked (chunk hashes and parity)
and the missing shard is reconstructed and written to the new directory by a writer thread
(nasfs.store.rebuild_writer, so reading, checking and writing overlap); files are fsynced
and the cursor (next stripe id) is persisted every REBUILD_BATCH_BYTES, and when the
rebuild fails or is stopped, after the stripes already checked are written, so an
interrupted rebuild resumes where it stopped. `nasfs/rebuild.json` in the target marks it
as the target in progress (same array, same slot, the member UUID it will get).

Switch-over: the target joins the present members first (new writes go to it too), then
the rebuild waits for writes that reserved stripes before that moment, finishes the stripes
up to there, and only then labels the target and bumps the generation.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from nasfs.store.catalog import StripeRecord
from nasfs.store.disks import disk_name
from nasfs.store.errors import RebuildError
from nasfs.store.events import ProgressCallback, ProgressMeter, StoreEvent
from nasfs.store.geometry import member_shard
from nasfs.store.member import MemberRoot, prepare_member
from nasfs.store.rebuild_writer import ShardWrite, TargetWriter
from nasfs.store.reports import RebuildReport
from nasfs.store.stripecheck import Shard
from nasfs.store.stripestream import StripeStream

if TYPE_CHECKING:
    from nasfs.store.upkeep import Upkeep

__all__ = ["RebuildReport", "rebuild"]

log = logging.getLogger(__name__)

REBUILD_BATCH_BYTES = 64 << 20
MARKER = "rebuild.json"


def _check_target(store: Upkeep, index: int, onto: Path) -> str:
    """Validate the target; returns the member UUID it will get (kept across resumes)."""
    store.check_rebuild_target(index, onto)
    prepare_member(onto)
    marker = onto / "nasfs" / MARKER
    saved = store.state("rebuild")
    if marker.exists() and saved:
        body = json.loads(marker.read_text())
        if (body.get("array_uuid") == store.label.array_uuid and body.get("index") == index
                and saved.get("member_uuid") == body.get("member_uuid")):
            return str(body["member_uuid"])
    return uuid.uuid4().hex


def rebuild(store: Upkeep, index: int, onto: Path, *,
            progress: ProgressCallback | None = None) -> RebuildReport:
    """Rebuild slot `index` onto `onto`; an I/O error (the new disk failing, most often)
    stops it as a RebuildError that names the disk and the file, never as a bare OSError:
    the command says it in one line and what was rebuilt so far is kept for a resume."""
    try:
        return _rebuild(store, index, onto, progress)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise RebuildError(
            f"the rebuild of {disk_name(index)} onto {onto} stopped: "
            f"{exc.strerror or exc}{where}; the array stays degraded: `nasfs rebuild` "
            "again onto the same directory resumes, onto a new one starts over") from exc


def _rebuild(store: Upkeep, index: int, onto: Path,
             progress: ProgressCallback | None) -> RebuildReport:
    # The maintenance lock keeps every other job (and healing) away: the rebuild's state
    # record and the target are this job's alone until it finishes or stops.
    with store.maintenance_lock:
        member_uuid = _check_target(store, index, onto)
        saved = store.state("rebuild")
        resume = bool(saved and saved.get("member_uuid") == member_uuid)
        start = int(saved["next"]) if resume and saved else 0
        target = MemberRoot(onto, needs_label=False)
        if not resume:
            target.write_atomic(MARKER, json.dumps({
                "array_uuid": store.label.array_uuid, "index": index,
                "member_uuid": member_uuid}).encode())
            store.set_state("rebuild", {"index": index, "member_uuid": member_uuid, "next": 0})
        total = store.shard_bytes_from(0)
        done_before = total - store.shard_bytes_from(start)
        meter = ProgressMeter(total, progress, start_done=done_before)
        worker = _Rebuilder(store, index, target, member_uuid, meter)
        try:
            cursor = worker.run_until(start, None)
            # Switch-over: new writes include the target from here on.
            boundary = store.switch_over(index, target)
            store.wait_stripes_settled(boundary)
            worker.run_until(cursor, boundary)
            worker.flush(boundary)
            store.join_rebuilt(index, target, member_uuid, MARKER)
        except BaseException:
            try:
                worker.keep_what_was_done()
            finally:
                store.withdraw(index, onto)
                worker.close()
                target.close()
            raise
        worker.close()
        meter.advance(0, force=True)
        report = RebuildReport(index, str(onto), worker.stripes, worker.bytes_written,
                               worker.unrecoverable, start)
        store.emit(StoreEvent("rebuild-done", member=index, path=str(onto),
                              detail=f"{worker.stripes} stripes, {worker.bytes_written} bytes"))
        return report


class _Rebuilder:
    """Takes checked stripes off the stream and hands the target's shards to the writer
    thread (nasfs.store.rebuild_writer), persisting the cursor as the thread reports
    batches durable."""

    def __init__(self, store: Upkeep, index: int, target: MemberRoot, member_uuid: str,
                 meter: ProgressMeter):
        self.store = store
        self.index = index
        self.target = target
        self.member_uuid = member_uuid
        self.meter = meter
        self.writer = TargetWriter(target, REBUILD_BATCH_BYTES)
        self._pending: list[ShardWrite] = []  # planned, not yet handed to the writer
        self._handed_to: int | None = None  # the cursor after the last stripe handed over
        self._saved_to: int | None = None  # the last cursor `flush` saved
        self.stripes = 0
        self.bytes_written = 0
        self.unrecoverable: list[str] = []

    def close(self) -> None:
        self.writer.close()

    def _shard_index(self, stripe: StripeRecord) -> int:
        """Which shard of `stripe` the member being rebuilt holds (-1: none, narrow)."""
        return member_shard(stripe.first_member, self.index, self.store.member_count,
                            stripe.width + self.store.nparity)

    def _survivors(self) -> dict[int, Path]:
        # After the switch-over the target is present too: it is never read from.
        return {i: p for i, p in self.store.present.items() if i != self.index}

    def run_until(self, cursor: int, stop: int | None) -> int:
        """Rebuild stripes with id >= cursor (and < stop if given); returns the next id.

        The survivors are streamed all at once and stripes checked in parallel
        (nasfs.store.stripestream); shards are written to the target in id order by the
        writer thread while the next stripes are read and checked."""
        store = self.store
        with StripeStream(store.member_count, store.nparity, store.stripes_with_chunks,
                          self._survivors) as stream:
            for batch in stream.stripes(cursor, stop,
                                        wanted=lambda s: self._shard_index(s) >= 0):
                for item in batch:
                    if item.verdict is None:
                        shard: Shard | None = b""  # holds no shard of this stripe
                    elif item.verdict.shards is None:
                        shard = None
                    else:
                        shard = item.verdict.shards[self._shard_index(item.stripe)]
                    self._plan(item.stripe, shard)
                self._hand_over()
                self._persist(self.writer.durable())
                cursor = batch[-1].stripe.id + 1
        return cursor

    def _hand_over(self) -> None:
        if self._pending:
            self.writer.write(self._pending)
            self._handed_to = self._pending[-1].stripe_id + 1
            self._pending = []

    def _plan(self, stripe: StripeRecord, shard: Shard | None) -> None:
        self._pending.append(
            ShardWrite(stripe.id, stripe.segment, stripe.offset, stripe.shard_size, shard))
        self.stripes += 1
        if shard is None:
            detail = f"stripe {stripe.id} (segment {stripe.segment}) cannot be rebuilt"
            self.unrecoverable.append(detail)
            self.store.emit(StoreEvent("unrecoverable", member=self.index,
                                       segment=stripe.segment, detail=detail))
            # The writer leaves a hole where the shard would be (reads as damage, like any
            # lost shard), so the file still reaches the stripes it was given and the new
            # member is not taken for one put back from an old copy (nasfs.store.currency).
        else:
            self.bytes_written += len(shard)
        self.meter.advance(stripe.shard_size)  # may raise: the progress callback stops us

    def _persist(self, cursor: int | None) -> None:
        """Save `cursor` (every stripe below it is durable on the target) for a resume."""
        if cursor is not None:
            self.store.set_state(
                "rebuild", {"index": self.index, "member_uuid": self.member_uuid,
                            "next": cursor})

    def flush(self, cursor: int) -> None:
        """Everything below `cursor` written and durable, and `cursor` saved."""
        self._hand_over()
        self.writer.finish(cursor)
        self.writer.durable()  # taken: `cursor` is saved below instead
        self._persist(cursor)
        self._saved_to = cursor

    def keep_what_was_done(self) -> None:
        """On the way out of a failed or stopped rebuild: write and save the stripes
        already checked, so the resume starts after them (as far as the target takes
        them; a failing target keeps the last cursor that was saved)."""
        # Never raises: the caller must still take the target out of use. Handing over
        # re-raises the writer thread's error when the target is what failed.
        try:
            self._hand_over()
            if self._handed_to is None or self._handed_to == self._saved_to:
                return
            self.flush(self._handed_to)
        except Exception as exc:
            log.warning("the rebuild's last stripes could not be saved: %s", exc)
