"""Scrub: read every stripe, check every chunk and every parity, repair what parity can.

Resumable: the id of the next stripe to check is kept in the catalog (`state.scrub`) every
few stripes, so `scrub(resume=True)` after an interruption goes on from there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nasfs.store.catalog import ChunkRecord, StripeRecord
from nasfs.store.disks import disk_name
from nasfs.store.events import ProgressCallback, ProgressMeter, StoreEvent
from nasfs.store.geometry import shard_member
from nasfs.store.reports import ScrubReport
from nasfs.store.segments import rewrite_range
from nasfs.store.stripecheck import Shard, StripeVerdict, check_stripe, read_stripe
from nasfs.store.stripestream import StripeStream
from nasfs.store.writer import is_no_space

if TYPE_CHECKING:
    from nasfs.store.upkeep import Upkeep

__all__ = ["ScrubReport", "judge_stripe", "scrub", "scrub_stripe"]

log = logging.getLogger(__name__)

CURSOR_EVERY = 64  # stripes between two persisted cursors (each is a durable commit)



def scrub(store: Upkeep, *, resume: bool = False, progress: ProgressCallback | None = None,
          repair: bool = True) -> ScrubReport:
    with store.maintenance_lock:
        saved = store.state("scrub") if resume else None
        start = int(saved["next"]) if saved else 0
        total, done_before = store.scrub_work(start)
        meter = ProgressMeter(total, progress, start_done=done_before)
        report = ScrubReport(resumed_from=start)
        # Every member streamed at once, stripes checked in parallel, results in id order
        # (nasfs.store.stripestream); the cursor is persisted after every batch.
        with StripeStream(store.member_count, store.nparity, store.stripes_with_chunks,
                          lambda: store.present) as stream:
            since = 0  # stripes checked since the cursor was last persisted
            for batch in stream.stripes(start):
                for item in batch:
                    assert item.verdict is not None
                    judge_stripe(store, item.stripe, item.shards, item.why, item.verdict,
                                 report, repair)
                    meter.advance(item.stripe.shard_size * (item.stripe.width + store.nparity))
                since += len(batch)
                if since >= CURSOR_EVERY:  # a durable commit: not after every batch
                    store.set_state("scrub", {"next": batch[-1].stripe.id + 1})
                    since = 0
        store.finish_scrub({
            "stripes": report.stripes, "repaired": report.repaired_shards,
            "unrecoverable": len(report.unrecoverable),
        })
        meter.advance(0, force=True)
        store.emit(StoreEvent(
            "scrub-done",
            detail=f"{report.stripes} stripes, {report.repaired_shards} shards repaired, "
            f"{len(report.unrecoverable)} unrecoverable",
        ))
        return report


def scrub_stripe(store: Upkeep, stripe: StripeRecord, chunks: list[ChunkRecord],
                 report: ScrubReport, repair: bool) -> None:
    """Read, check and repair one stripe (healing after a read uses this)."""
    shards, why = read_stripe(stripe, store.present, store.member_count, store.nparity)
    verdict = check_stripe(shards, why, stripe, chunks, store.nparity)
    judge_stripe(store, stripe, shards, why, verdict, report, repair)


def judge_stripe(store: Upkeep, stripe: StripeRecord, shards: Sequence[Shard | None],
                 why: dict[int, str], verdict: StripeVerdict, report: ScrubReport,
                 repair: bool) -> None:
    """Count a checked stripe and rewrite its wrong shards (or report what cannot be)."""
    present = store.present
    report.stripes += 1
    report.bytes_read += sum(len(s) for s in shards if s is not None)
    if verdict.shards is None:
        detail = (
            f"stripe {stripe.id} (segment {stripe.segment}) has more damaged shards than "
            f"parity covers: {sorted(verdict.erased)}"
        )
        report.unrecoverable.append(detail)
        store.emit(StoreEvent("unrecoverable", segment=stripe.segment, detail=detail))
        return
    for j in sorted(verdict.erased):
        member = shard_member(stripe.first_member, j, store.member_count)
        path = present.get(member)
        if path is None:
            report.degraded_stripes += 1
            continue
        reason = why.get(j, "content did not match")
        if not repair:
            store.emit(StoreEvent("read-error", member=member, path=str(path),
                                  segment=stripe.segment,
                                  detail=f"stripe {stripe.id} shard {j}: {reason}"))
            report.unrecoverable.append(f"stripe {stripe.id} shard {j} on {disk_name(member)}")
            continue
        try:
            try:
                root = store.root(member)
            except KeyError:
                report.degraded_stripes += 1  # failed since the stream read it: rebuild's
                continue
            rewrite_range(root, stripe.segment, stripe.offset, verdict.shards[j], create=True)
        except OSError as exc:
            store.verify_members()  # a member that vanished is failed, not written to
            if not is_no_space(exc):
                # A disk that fails a write has failed, as for any put (nasfs.store.store):
                # the stripe's data is whole on the others and the rebuild writes this
                # shard, so it is degraded, not lost (it was reported unrecoverable, and
                # a scrub a disk died under exited 1).
                store.fail_member(member, f"write failed: {exc.strerror or exc}")
                report.degraded_stripes += 1
                continue
            detail = f"stripe {stripe.id} shard {j}: {reason}; rewrite failed: {exc}"
            report.unrecoverable.append(detail)
            store.emit(StoreEvent("read-error", member=member, path=str(path),
                                  segment=stripe.segment, detail=detail))
            continue
        report.repaired_shards += 1
        store.emit(StoreEvent("repaired", member=member, path=str(path), segment=stripe.segment,
                              detail=f"stripe {stripe.id} shard {j}: {reason}; rewritten"))
