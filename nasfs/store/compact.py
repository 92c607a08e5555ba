"""Compaction: give back the space of dead chunks by rewriting mostly-dead segments.

For each segment (other than the one being appended to) whose dead fraction reaches the
threshold, its live chunks are read (BLAKE3-checked), written into new stripes and fsynced;
then the catalog is pointed at the new copies and committed durably; only then is the old
segment dropped from the catalog and its files deleted. A crash at any point leaves every
live chunk reachable: before the pointer commit the old copy is referenced, after it the
new one; files of a segment the catalog no longer knows are deleted at the next open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nasfs.store.catalog import ChunkRecord
from nasfs.store.events import ProgressCallback, ProgressMeter, StoreEvent
from nasfs.store.segments import delete_segment

if TYPE_CHECKING:
    from nasfs.store.store import Store

log = logging.getLogger(__name__)

MOVE_BATCH_BYTES = 32 << 20


@dataclass
class CompactReport:
    segments_compacted: int = 0
    chunks_moved: int = 0
    bytes_moved: int = 0
    bytes_reclaimed: int = 0  # shard bytes (all members) of the deleted segments


def compact(store: Store, min_dead_fraction: float = 0.5, *,
            progress: ProgressCallback | None = None) -> CompactReport:
    report = CompactReport()
    with store.maintenance_lock:
        with store._lock:
            current = store.current_segment
            candidates = [
                seg for seg in store.catalog.segments()
                if seg.id != current
                and (seg.data_bytes == 0
                     or (seg.data_bytes - seg.live_bytes) / seg.data_bytes >= min_dead_fraction)
            ]
        meter = ProgressMeter(sum(s.live_bytes for s in candidates), progress)
        for seg in candidates:
            for _attempt in range(5):
                _move_live_chunks(store, seg.id, report, meter)
                with store._lock:
                    try:
                        store.catalog.drop_segment(seg.id)
                    except ValueError:
                        continue  # a put revived a dead chunk here meanwhile: move it too
                    present = dict(store.present)
                break
            else:
                log.warning("segment %d kept changing; left for the next compaction", seg.id)
                continue
            for path in present.values():
                delete_segment(path, seg.id)
            report.segments_compacted += 1
            report.bytes_reclaimed += seg.raw_bytes
            store.emit(StoreEvent("compacted", segment=seg.id,
                                  detail=f"{seg.data_bytes - seg.live_bytes} dead bytes freed"))
        meter.advance(0, force=True)
    return report


def _move_live_chunks(store: Store, segment: int, report: CompactReport,
                      meter: ProgressMeter) -> None:
    with store._lock:
        live = store.catalog.live_chunks_in_segment(segment)
    batch: list[ChunkRecord] = []
    size = 0
    for chunk in live:
        batch.append(chunk)
        size += chunk.length
        if size >= MOVE_BATCH_BYTES:
            _move(store, batch, report, meter)
            batch, size = [], 0
    if batch:
        _move(store, batch, report, meter)


def _move(store: Store, batch: list[ChunkRecord], report: CompactReport,
          meter: ProgressMeter) -> None:
    contents = [(c.id, store.get(c.id)) for c in batch]
    stripes, records = store.write_stripes_for(contents)
    try:
        with store._lock:
            moved = store.catalog.move_chunks(
                stripes, store.nparity, records, {c.id: c.stripe for c in batch})
    finally:
        store.finish_stripes([s.id for s in stripes])
    report.chunks_moved += len(moved)
    moved_bytes = sum(c.length for c in batch)
    report.bytes_moved += moved_bytes
    meter.advance(moved_bytes)
