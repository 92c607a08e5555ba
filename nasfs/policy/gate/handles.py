"""What the gate hands out: open handles (one dataclass per kind, a tagged union matched
with isinstance) and readdir entries.

pyfuse3 file handles index `Gate.handles`. Every handle carries what its release row needs
(who opened it, where, when, how many bytes went through); each kind adds what reading
through it needs. Listing handles keep the entries of their last batch that the kernel has
not taken yet (`pending`), so listings never grow the gate's node maps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nasfs.fs import Attributes
from nasfs.policy.acl import Principal

if TYPE_CHECKING:
    from nasfs.fs.snapshot_view import SnapshotView
    from nasfs.policy.gate.nodemap import Node
    from nasfs.policy.gate.snapshot_rule import SnapNode

# The opens that change a file, for every namespace. O_TRUNC is one whatever the access mode:
# Linux asks for write permission for O_TRUNC even with O_RDONLY (and hands FUSE the flag
# with atomic_o_trunc), so a read-only caller must not get through the gate with it.
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_TRUNC


@dataclass(slots=True)
class Opened:
    """What every handle has: the release row's fields."""

    ino: int  # the kernel's inode number
    who: Principal
    share: str | None
    path: bytes
    admin: bool
    operation: str  # what the release row says: open-read | open-write | create | opendir
    opened_ns: int
    pid: int
    bytes: int = 0


@dataclass(slots=True)
class FileHandle(Opened):
    """A file of the live tree (trash items included)."""


@dataclass(slots=True)
class DirHandle(Opened):
    """A folder of the live tree."""

    pending: dict[int, Node] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class TrashFolderHandle(Opened):
    """A share's `#trash` folder."""

    trash_share: str
    pending: dict[int, Node] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class SnapshotFolderHandle(Opened):
    """A share's `#snapshot` folder."""

    snapshot_share: str
    pending: dict[int, SnapNode] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class SnapshotFileHandle(Opened):
    """A file inside a snapshot: read from the snapshot's view."""

    view: SnapshotView
    real_ino: int  # the volume's inode number at that generation


@dataclass(slots=True, kw_only=True)
class SnapshotDirHandle(Opened):
    """A folder inside a snapshot."""

    view: SnapshotView
    real_ino: int
    pending: dict[int, SnapNode] = field(default_factory=dict)


Handle = (FileHandle | DirHandle | TrashFolderHandle | SnapshotFolderHandle
          | SnapshotFileHandle | SnapshotDirHandle)


@dataclass(slots=True)
class Listed:
    """One readdir entry: its offset (for resuming), name and attributes, and what its
    namespace decided with the listing: the (entry, attribute) cache timeouts (None:
    `Gate.timeouts` of the inode, as for a lookup) and st_blocks (None: `Gate.blocks`)."""

    offset: int
    name: bytes
    attrs: Attributes
    timeouts: tuple[float, float] | None = None
    blocks: int | None = None
