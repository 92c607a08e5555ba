"""Scrub: read every stripe, check every chunk and every parity, repair what parity can.

Resumable: the id of the next stripe to check is kept in the catalog (`state.scrub`) every
few stripes, so `scrub(resume=True)` after an interruption goes on from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nasfs.store.disks import disk_name
from nasfs.store.events import ProgressCallback, ProgressMeter, StoreEvent
from nasfs.store.geometry import shard_member
from nasfs.store.segments import rewrite_range
from nasfs.store.stripecheck import check_stripe, read_stripe

if TYPE_CHECKING:
    from nasfs.store.store import Store

log = logging.getLogger(__name__)

BATCH = 64  # stripes per catalog query and per persisted cursor


@dataclass
class ScrubReport:
    stripes: int = 0
    bytes_read: int = 0
    repaired_shards: int = 0
    degraded_stripes: int = 0  # stripes with a shard on a missing member (rebuild fixes)
    unrecoverable: list[str] = field(default_factory=list)
    resumed_from: int = 0

    @property
    def clean(self) -> bool:
        return not self.unrecoverable and not self.repaired_shards


def scrub(store: Store, *, resume: bool = False, progress: ProgressCallback | None = None,
          repair: bool = True) -> ScrubReport:
    with store.maintenance_lock:
        with store._lock:
            saved = store.catalog.get_state("scrub") if resume else None
            start = int(saved["next"]) if saved else 0
            row = store.catalog.db.query_one(
                "SELECT COALESCE(SUM(shard_size * (width + ?)), 0),"
                " COALESCE(SUM(CASE WHEN id < ? THEN shard_size * (width + ?) END), 0)"
                " FROM stripes",
                (store.nparity, start, store.nparity),
            )
        assert row is not None
        meter = ProgressMeter(int(row[0]), progress, start_done=int(row[1]))
        report = ScrubReport(resumed_from=start)
        cursor = start
        while True:
            with store._lock:
                stripes = store.catalog.stripes_from(cursor, BATCH)
                chunk_lists = [store.catalog.chunks_in_stripe(s.id) for s in stripes]
            if not stripes:
                break
            for stripe, chunks in zip(stripes, chunk_lists, strict=True):
                scrub_stripe(store, stripe, chunks, report, repair)
                meter.advance(stripe.shard_size * (stripe.width + store.nparity))
            cursor = stripes[-1].id + 1
            with store._lock:
                store.catalog.set_state("scrub", {"next": cursor})
        with store._lock:
            store.catalog.set_state("scrub", None, commit=False)
            store.catalog.set_state("last_scrub", {
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


def scrub_stripe(store: Store, stripe: object, chunks: list, report: ScrubReport,
                  repair: bool) -> None:
    from nasfs.store.catalog import StripeRecord

    assert isinstance(stripe, StripeRecord)
    present = dict(store.present)
    shards, why = read_stripe(stripe, present, store.member_count, store.nparity)
    report.stripes += 1
    report.bytes_read += sum(len(s) for s in shards if s is not None)
    verdict = check_stripe(shards, why, stripe, chunks, store.nparity)
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
                raise OSError(f"{path} was failed during the scrub") from None
            rewrite_range(root, stripe.segment, stripe.offset, verdict.shards[j], create=True)
        except OSError as exc:
            store.verify_members()  # a member that vanished is failed, not written to
            detail = f"stripe {stripe.id} shard {j}: {reason}; rewrite failed: {exc}"
            report.unrecoverable.append(detail)
            store.emit(StoreEvent("read-error", member=member, path=str(path),
                                  segment=stripe.segment, detail=detail))
            continue
        report.repaired_shards += 1
        store.emit(StoreEvent("repaired", member=member, path=str(path), segment=stripe.segment,
                              detail=f"stripe {stripe.id} shard {j}: {reason}; rewritten"))
