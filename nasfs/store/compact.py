"""Compaction: give back the space of dead chunks by rewriting mostly-dead segments.

For each segment (other than the one being appended to) whose dead fraction reaches the
threshold, its live chunks are read (BLAKE3-checked), written into new stripes and fsynced;
then the catalog is pointed at the new copies and committed durably; only then is the old
segment dropped from the catalog and its files deleted. A crash at any point leaves every
live chunk reachable: before the pointer commit the old copy is referenced, after it the
new one; files of a segment the catalog no longer knows are deleted at the next open.

Online (the array mounted and written to), three more rules keep those invariants:
- the segment being appended to is sealed first when it is itself worth compacting, so a
  small array whose data all sits in one segment gets its space back too;
- compaction waits until every stripe reserved before it chose its segments is committed
  (or given up), so no put is still writing into a segment it is about to delete; stripes
  reserved later go to the current segment or a newer one, never to a chosen one;
- a segment is taken only while the members have room for its live chunks without using
  more than half of the reserve (nasfs.store.space), most-dead first, so compaction on a
  full array frees what it can instead of filling the reserve that metadata needs.
`pace(seconds)` is called after every batch moved (the daemon's reclaimer sleeps there to
leave the disks to clients, and raises to stop); a stop between batches is as safe as a
crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from nasfs.store.catalog import ChunkRecord, SegmentRecord
from nasfs.store.errors import StoreFullError
from nasfs.store.events import ProgressCallback, ProgressMeter, StoreEvent
from nasfs.store.reports import CompactReport
from nasfs.store.segments import delete_segment

if TYPE_CHECKING:
    from nasfs.store.upkeep import Upkeep

__all__ = ["CompactReport", "compact"]

log = logging.getLogger(__name__)

MOVE_BATCH_BYTES = 32 << 20

Pace = Callable[[float], None]


def _worth(seg: SegmentRecord, min_dead_fraction: float) -> bool:
    if seg.data_bytes == 0:
        return True
    dead = seg.data_bytes - seg.live_bytes
    return dead > 0 and dead / seg.data_bytes >= min_dead_fraction


def _choose(store: Upkeep, min_dead_fraction: float) -> tuple[list[SegmentRecord], int]:
    """Segments to compact, most-dead first, and the stripe id to wait for."""
    chosen, settle_below = store.segments_to_compact(lambda s: _worth(s, min_dead_fraction))
    chosen.sort(key=lambda s: (s.live_bytes / s.data_bytes if s.data_bytes else 0.0, s.id))
    return chosen, settle_below


def _fits(store: Upkeep, seg: SegmentRecord) -> bool:
    """Room for this segment's live chunks, leaving at least half the reserve untouched."""
    if seg.live_bytes == 0:
        return True
    need = store.space.cost(seg.live_bytes)
    return need <= store.space.room_for_maintenance()


def compact(store: Upkeep, min_dead_fraction: float = 0.5, *,
            progress: ProgressCallback | None = None,
            pace: Pace | None = None) -> CompactReport:
    report = CompactReport()
    with store.maintenance_lock:
        candidates, settle_below = _choose(store, min_dead_fraction)
        store.wait_stripes_settled(settle_below)
        meter = ProgressMeter(sum(s.live_bytes for s in candidates), progress)
        for seg in candidates:
            if not _fits(store, seg):
                report.segments_skipped += 1
                continue
            try:
                dropped = _compact_segment(store, seg, report, meter, pace)
            except StoreFullError as exc:
                log.warning("compaction stopped: %s", exc)
                report.segments_skipped += 1
                break
            if not dropped:
                continue
            report.segments_compacted += 1
            report.bytes_reclaimed += seg.raw_bytes
            store.emit(StoreEvent("compacted", segment=seg.id,
                                  detail=f"{seg.data_bytes - seg.live_bytes} dead bytes freed"))
        meter.advance(0, force=True)
    return report


def _compact_segment(store: Upkeep, seg: SegmentRecord, report: CompactReport,
                     meter: ProgressMeter, pace: Pace | None) -> bool:
    """Move the segment's live chunks, drop it and delete its files; False if it kept
    changing (left for the next compaction)."""
    for _attempt in range(5):
        _move_live_chunks(store, seg.id, report, meter, pace)
        present = store.drop_segment(seg.id)
        if present is None:
            continue  # a put revived a dead chunk here meanwhile: move it too
        break
    else:
        log.warning("segment %d kept changing; left for the next compaction", seg.id)
        return False
    for path in present.values():
        delete_segment(path, seg.id)
    store.space.changed()
    return True


def _move_live_chunks(store: Upkeep, segment: int, report: CompactReport,
                      meter: ProgressMeter, pace: Pace | None) -> None:
    live = store.live_chunks_in_segment(segment)
    batch: list[ChunkRecord] = []
    size = 0
    for chunk in live:
        batch.append(chunk)
        size += chunk.length
        if size >= MOVE_BATCH_BYTES:
            _move(store, batch, report, meter, pace)
            batch, size = [], 0
    if batch:
        _move(store, batch, report, meter, pace)


def _move(store: Upkeep, batch: list[ChunkRecord], report: CompactReport,
          meter: ProgressMeter, pace: Pace | None) -> None:
    started = time.monotonic()
    contents = [(c.id, store.get(c.id)) for c in batch]
    stripes, records = store.write_stripes_for(contents)
    try:
        moved = store.move_chunks(stripes, records, {c.id: c.stripe for c in batch})
    finally:
        store.finish_stripes([s.id for s in stripes])
    report.chunks_moved += len(moved)
    moved_bytes = sum(c.length for c in batch)
    report.bytes_moved += moved_bytes
    meter.advance(moved_bytes)
    if pace is not None:
        pace(time.monotonic() - started)
