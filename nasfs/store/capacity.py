"""Health and capacity reports of an assembled array, made from what the store hands its
maintenance jobs (`Store.upkeep`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nasfs.store.disks import disk_names

if TYPE_CHECKING:
    from nasfs.store.upkeep import Upkeep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberStatus:
    index: int
    path: str | None
    state: str  # "ok" | "missing"


@dataclass(frozen=True)
class Health:
    state: str  # "healthy" | "degraded" | "failed"
    array_uuid: str
    generation: int
    nparity: int
    members: list[MemberStatus]
    missing: list[int]
    rebuild_in_progress: int | None

    def summary(self) -> str:
        if self.state == "healthy":
            return "healthy"
        return f"{self.state}: {disk_names(self.missing)} missing"


@dataclass(frozen=True)
class Capacity:
    raw_bytes: int  # sum of the members' filesystem sizes (a shared filesystem once)
    usable_bytes: int  # after parity; the smallest member decides (nasfs.store.space)
    used_bytes: int  # bytes of chunks with references (user data after dedup)
    stored_bytes: int  # bytes the stripes occupy on members, parity and padding included
    dead_bytes: int  # chunk bytes no longer referenced, not yet reclaimed by compaction
    free_bytes: int  # data bytes files can still take: outside the reserve, buffers counted
    chunks: int
    live_chunks: int
    segments: int
    reserve_bytes: int = 0  # of usable: only metadata, logs, deletions, compaction use it
    reserve_free_bytes: int = 0  # the part of the reserve not used yet
    buffered_bytes: int = 0  # written by clients, charged, not yet in the store
    reclaimable_bytes: int = 0  # dead bytes in segments compaction would take now


def health(store: Upkeep) -> Health:
    missing = store.missing
    if len(missing) > store.nparity:
        state = "failed"
    elif missing:
        state = "degraded"
    else:
        state = "healthy"
    present = store.present  # a copy: one moment's members
    members = [
        MemberStatus(i, str(present[i]) if i in present else None,
                     "ok" if i in present else "missing")
        for i in range(store.member_count)
    ]
    progress = store.state("rebuild")
    return Health(
        state, store.label.array_uuid, store.label.generation, store.nparity, members, missing,
        int(progress["index"]) if progress else None,
    )


def capacity(store: Upkeep) -> Capacity:
    space = store.space.fresh_figures()  # status runs in a worker: measure now
    totals, reclaimable = store.totals()
    return Capacity(
        raw_bytes=space.raw_bytes,
        usable_bytes=space.usable_bytes,
        used_bytes=totals["live_bytes"],
        stored_bytes=totals["raw_bytes"],
        dead_bytes=totals["data_bytes"] - totals["live_bytes"],
        free_bytes=space.free_bytes,
        chunks=totals["chunks"],
        live_chunks=totals["live_chunks"],
        segments=totals["segments"],
        reserve_bytes=space.reserve_bytes,
        reserve_free_bytes=space.reserve_free_bytes,
        buffered_bytes=space.buffered_bytes,
        reclaimable_bytes=reclaimable,
    )
