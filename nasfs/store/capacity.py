"""Health and capacity reports of an assembled array."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nasfs.store.disks import disk_names

if TYPE_CHECKING:
    from nasfs.store.store import Store

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
    raw_bytes: int  # sum of the members' filesystem sizes
    usable_bytes: int  # raw after parity
    used_bytes: int  # bytes of chunks with references (user data after dedup)
    stored_bytes: int  # bytes the stripes occupy on members, parity and padding included
    dead_bytes: int  # chunk bytes no longer referenced, not yet reclaimed by compaction
    free_bytes: int  # data bytes that still fit (fullest member decides)
    chunks: int
    live_chunks: int
    segments: int


def health(store: Store) -> Health:
    missing = store.missing
    if len(missing) > store.nparity:
        state = "failed"
    elif missing:
        state = "degraded"
    else:
        state = "healthy"
    members = [
        MemberStatus(i, str(store.present[i]) if i in store.present else None,
                     "ok" if i in store.present else "missing")
        for i in range(store.member_count)
    ]
    with store._lock:
        progress = store.catalog.get_state("rebuild")
    return Health(
        state, store.label.array_uuid, store.label.generation, store.nparity, members, missing,
        int(progress["index"]) if progress else None,
    )


def capacity(store: Store) -> Capacity:
    sizes = []
    frees = []
    for path in store.present.values():
        st = os.statvfs(path)
        sizes.append(st.f_blocks * st.f_frsize)
        frees.append(st.f_bavail * st.f_frsize)
    n = store.member_count
    # Missing members count as the size of the average present one.
    raw = sum(sizes) * n // max(len(sizes), 1)
    with store._lock:
        totals = store.catalog.totals()
    usable = raw * store.k // n
    free = min(frees) * store.k if frees else 0
    return Capacity(
        raw_bytes=raw,
        usable_bytes=usable,
        used_bytes=totals["live_bytes"],
        stored_bytes=totals["raw_bytes"],
        dead_bytes=totals["data_bytes"] - totals["live_bytes"],
        free_bytes=free,
        chunks=totals["chunks"],
        live_chunks=totals["live_chunks"],
        segments=totals["segments"],
    )
