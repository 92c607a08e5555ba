"""nasfs.store: content-addressed chunks in parity-striped segment files on member disks.

See docs/architecture.md (contract) and docs/on-disk-format.md (layout). The entry point is
`Store`: `Store.create(...)` once (mkfs), `Store.open(...)` to assemble.
"""

from nasfs.store.capacity import Capacity, Health, MemberStatus
from nasfs.store.errors import (
    AssemblyError,
    ChunkLostError,
    ChunkNotFoundError,
    MkfsError,
    RebuildArgumentError,
    RebuildError,
    StoreClosedError,
    StoreError,
    StoreFullError,
    StoreIOError,
)
from nasfs.store.events import EventSink, Progress, ProgressCallback, StoreEvent
from nasfs.store.label import ArrayLabel
from nasfs.store.store import ChunkId, Store

__all__ = [
    "ArrayLabel",
    "AssemblyError",
    "Capacity",
    "ChunkId",
    "ChunkLostError",
    "ChunkNotFoundError",
    "EventSink",
    "Health",
    "MemberStatus",
    "MkfsError",
    "Progress",
    "ProgressCallback",
    "RebuildArgumentError",
    "RebuildError",
    "Store",
    "StoreClosedError",
    "StoreError",
    "StoreEvent",
    "StoreFullError",
    "StoreIOError",
]
