"""What a read does about damage it found: heal it, report it, count it.

`Store.get` calls these after a reconstructing read (nasfs.store.reader). Every shard found
wrong or unreadable becomes an event naming its member (the daemon counts `read-error` and
`repaired` per member, writes them to the system log and mails them), and so does every
chunk that could not be read at all, so no EIO reaches the kernel unreported.

Healing rewrites only bytes known to be right. The chunk's own ranges are verified by its
hash. A wrong parity shard, or a wrong data shard outside the chunk, is not: for those the
whole stripe is checked as scrub checks it (every chunk's hash, parity against data) and its
wrong shards are rewritten, provided no scrub, rebuild or compaction runs at that moment
(they hold the maintenance lock; a compaction may be deleting that very segment).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from nasfs.store.catalog import ChunkRecord, StripeRecord
from nasfs.store.disks import disk_name
from nasfs.store.events import StoreEvent
from nasfs.store.geometry import chunk_pieces, shard_member
from nasfs.store.reader import ReadOutcome
from nasfs.store.reports import ScrubReport
from nasfs.store.scrub import scrub_stripe
from nasfs.store.segments import rewrite_range

if TYPE_CHECKING:
    from nasfs.store.upkeep import Upkeep

log = logging.getLogger(__name__)


def report_and_heal(store: Upkeep, chunk: ChunkRecord, stripe: StripeRecord,
                    outcome: ReadOutcome) -> None:
    """After a read that parity saved: rewrite what was wrong and say so."""
    if outcome.suspect and _heal_stripe(store, stripe):
        # Every wrong shard of the stripe was checked, rewritten and reported there.
        _report_unreadable(store, chunk, stripe, outcome)
        return
    healed = set()
    for repair in outcome.repairs:
        try:
            rewrite_range(store.root(repair.member), repair.segment, repair.offset,
                          repair.data)
            healed.add(repair.member)
        except (OSError, KeyError) as exc:
            log.warning("could not heal %s: %s", disk_name(repair.member), exc)
    for member, why in outcome.damaged:
        if why == "member missing":
            continue
        store.emit(StoreEvent(
            "repaired" if member in healed else "read-error",
            member=member,
            path=str(store.present.get(member, "")),
            segment=stripe.segment,
            detail=f"chunk {chunk.id.hex()[:16]} stripe {stripe.id}: {why}"
            + ("; rewritten from parity" if member in healed else
               "; left for scrub" if why == "content did not match" else ""),
        ))


def _report_unreadable(store: Upkeep, chunk: ChunkRecord, stripe: StripeRecord,
                       outcome: ReadOutcome) -> None:
    for member, why in outcome.damaged:
        if why.startswith("unreadable"):
            store.emit(StoreEvent("read-error", member=member,
                                  path=str(store.present.get(member, "")),
                                  segment=stripe.segment,
                                  detail=f"chunk {chunk.id.hex()[:16]} stripe {stripe.id}: {why}"))


def _heal_stripe(store: Upkeep, stripe: StripeRecord) -> bool:
    """Check the whole stripe and rewrite its wrong shards (True: nothing left to do there,
    also when compaction moved it meanwhile); False if maintenance runs right now."""
    if not store.maintenance_lock.acquire(blocking=False):
        return False
    try:
        # A compaction that finished just before may have moved the stripe away and
        # deleted its segment: checking it then would report a loss that is not one.
        chunks = store.chunks_if_current(stripe)
        if chunks is None:
            return True
        report = ScrubReport()
        scrub_stripe(store, stripe, chunks, report, repair=True)
        return not report.unrecoverable
    finally:
        store.maintenance_lock.release()


def report_lost(store: Upkeep, chunk: ChunkRecord, stripe: StripeRecord,
                outcome: ReadOutcome | None) -> None:
    """A chunk parity could not save: one event per member that failed it, and one for
    the array, before the caller raises ChunkLostError (EIO at the kernel)."""
    what = f"chunk {chunk.id.hex()[:16]} stripe {stripe.id} (segment {stripe.segment})"
    told: set[int] = set()
    for member, why in (outcome.damaged if outcome is not None else []):
        if why == "member missing":
            continue
        told.add(member)
        store.emit(StoreEvent("read-error", member=member,
                              path=str(store.present.get(member, "")),
                              segment=stripe.segment, detail=f"{what}: {why}; data lost"))
    # The members holding the chunk's bytes, which failed its hash: the wrong one is among
    # them (or among the parity shards), and parity could not say which.
    for piece in chunk_pieces(chunk.offset, chunk.length, stripe.shard_size):
        member = shard_member(stripe.first_member, piece.shard, store.member_count)
        if member in told or member not in store.present:
            continue
        told.add(member)
        store.emit(StoreEvent("read-error", member=member, path=str(store.present[member]),
                              segment=stripe.segment,
                              detail=f"{what}: content did not match; data lost"))
    detail = (f"{what} is lost: more shards are missing or damaged than parity "
              f"{store.nparity} can rebuild")
    log.error("%s", detail)
    store.emit(StoreEvent("unrecoverable", segment=stripe.segment, detail=detail))


def report_unknown(store: Upkeep, chunk_id: bytes) -> None:
    """A chunk the filesystem names is not in the catalog (damaged metadata)."""
    detail = (f"chunk {chunk_id.hex()[:16]} named by the filesystem is not in the store "
              "catalog; its data cannot be read")
    log.error("%s", detail)
    store.emit(StoreEvent("unrecoverable", detail=detail))
