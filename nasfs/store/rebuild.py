"""Rebuild: recreate a missing member's shards on a new, empty directory.

Stripe by stripe, the survivors are read, the stripe is checked (chunk hashes and parity)
and the missing shard is reconstructed and written to the new directory; files are fsynced
and the cursor (next stripe id) is persisted every REBUILD_BATCH_BYTES, so an interrupted
rebuild resumes where it stopped. `nasfs/rebuild.json` in the target marks it as the
target in progress (same array, same slot, the member UUID it will get).

Switch-over: the target joins the present members first (new writes go to it too), then
the rebuild waits for writes that reserved stripes before that moment, finishes the stripes
up to there, and only then labels the target and bumps the generation.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from nasfs.store.catalog import StripeRecord
from nasfs.store.errors import RebuildError
from nasfs.store.events import ProgressCallback, ProgressMeter, StoreEvent
from nasfs.store.geometry import member_shard
from nasfs.store.member import SEGMENTS_DIR, MemberRoot, prepare_member
from nasfs.store.reports import RebuildReport
from nasfs.store.segments import segment_name, write_all
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
    def __init__(self, store: Upkeep, index: int, target: MemberRoot, member_uuid: str,
                 meter: ProgressMeter):
        self.store = store
        self.index = index
        self.target = target
        self.member_uuid = member_uuid
        self.meter = meter
        self.fds: dict[int, int] = {}
        self.unflushed = 0
        self.stripes = 0
        self.bytes_written = 0
        self.unrecoverable: list[str] = []

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def _fd(self, segment: int) -> int:
        fd = self.fds.get(segment)
        if fd is None:
            fd = self.target.open(segment_name(segment), os.O_WRONLY | os.O_CREAT)
            self.fds[segment] = fd
        return fd

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
        (nasfs.store.stripestream); shards are written to the target in id order."""
        store = self.store
        with StripeStream(store.member_count, store.nparity, store.stripes_with_chunks,
                          self._survivors) as stream:
            for batch in stream.stripes(cursor, stop,
                                        wanted=lambda s: self._shard_index(s) >= 0):
                for item in batch:
                    if item.verdict is None:
                        self._write(item.stripe, b"")  # holds no shard of this stripe
                    elif item.verdict.shards is None:
                        self._write(item.stripe, None)
                    else:
                        self._write(item.stripe,
                                    item.verdict.shards[self._shard_index(item.stripe)])
                cursor = batch[-1].stripe.id + 1
        return cursor

    def _write(self, stripe: StripeRecord, shard: Shard | None) -> None:
        self.stripes += 1
        if shard is None:
            detail = f"stripe {stripe.id} (segment {stripe.segment}) cannot be rebuilt"
            self.unrecoverable.append(detail)
            self.store.emit(StoreEvent("unrecoverable", member=self.index,
                                       segment=stripe.segment, detail=detail))
            # Leave a hole where the shard would be (reads as damage, like any lost shard),
            # so the file still reaches the stripes it was given and the new member is not
            # taken for one put back from an old copy (nasfs.store.currency).
            fd = self._fd(stripe.segment)
            if os.fstat(fd).st_size < stripe.offset + stripe.shard_size:
                os.ftruncate(fd, stripe.offset + stripe.shard_size)
        elif shard:
            write_all(self._fd(stripe.segment), shard, stripe.offset)
            self.unflushed += len(shard)
            self.bytes_written += len(shard)
        if self.unflushed >= REBUILD_BATCH_BYTES:
            self.flush(stripe.id + 1)  # stripes are written in id order
        self.meter.advance(stripe.shard_size)

    def flush(self, cursor: int) -> None:
        problem = self.target.problem()
        if problem is not None:
            raise RebuildError(f"the rebuild target is no longer usable: {problem}")
        for fd in self.fds.values():
            os.fsync(fd)
        self.target.fsync_dir(SEGMENTS_DIR)
        self.unflushed = 0
        self.store.set_state(
            "rebuild", {"index": self.index, "member_uuid": self.member_uuid, "next": cursor})

