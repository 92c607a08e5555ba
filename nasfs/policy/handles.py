"""Small records the FUSE gate hands out: open handles and readdir entries.

Kept apart from `gate.py` so that the gate's helpers (such as `snapshot_browse`) can build
them without importing the gate itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasfs.fs import Attributes
from nasfs.policy.acl import Principal

if TYPE_CHECKING:
    from nasfs.fs.snapshot_view import SnapshotView


@dataclass(slots=True)
class Handle:
    """One open file or directory (pyfuse3 file handles index these)."""

    ino: int
    who: Principal
    share: str | None
    path: bytes
    admin: bool
    operation: str  # what the release row says: open-read | open-write | create
    opened_ns: int
    pid: int
    bytes: int = 0
    is_dir: bool = False
    virtual_share: str | None = None  # a `#trash` folder: its share
    snapshot_folder: str | None = None  # a `#snapshot` folder: its share
    view: SnapshotView | None = None  # inside a snapshot: the tree it reads from
    real_ino: int = 0  # inside a snapshot: the volume's inode number at that generation
    # Nodes listed but not yet referenced by the kernel: snapshot nodes
    # (nasfs.policy.snapshot_browse) or, for live folders, the gate's `Node`s of the last batch.
    pending: dict[int, Any] | None = None


@dataclass(slots=True)
class Listed:
    """One readdir entry: its offset (for resuming), name and attributes."""

    offset: int
    name: bytes
    attrs: Attributes
