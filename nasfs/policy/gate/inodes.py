"""The kernel inode numbers the gate hands out, in one table: which range means what.

The kernel names every inode by a 64-bit number, and the gate answers it from the namespace
that owns the number's range (`nasfs.policy.gate.routing.Gate._space`). The volume's own
inodes (nasfs.fs: the live tree, trash items included) count up from `ROOT_INODE`; folders
that exist only in the mount are numbered above anything the volume will ever allocate:

| from               | up to     | what                               | module             |
|--------------------|-----------|------------------------------------|--------------------|
| 1                  | 2^62 - 1  | the volume's inodes                | live.py            |
| `TRASH_FOLDERS`    | +2^61 - 1 | `#trash` folders, one per share    | trash_folder.py    |
| `SNAPSHOT_FOLDERS` | 2^63 - 1  | `#snapshot` folders, one per share | snapshot_folder.py |
| `SNAPSHOT_NODES`   | 2^64 - 1  | nodes inside snapshots (`encode`)  | snapshot_folder.py |

Why these bounds: the volume allocates inode numbers one at a time from 2 and never reuses
them, so 2^62 is out of its reach (and `MAX_REAL_INO` below keeps snapshot nodes from ever
needing more); per-share folders need one number per share; a snapshot node must carry its
snapshot id and its inode number so that a number always means the same immutable node,
across calls and remounts, which takes the whole top half. A new kind of virtual folder
takes a slice of the per-share band (see docs/architecture.md, "The policy gate").
"""

from __future__ import annotations

import errno

from nasfs.errors import NasfsError
from nasfs.fs import ROOT_INODE
from nasfs.wire import codes

VIRTUAL_BASE = 1 << 62  # the first number that is not the volume's
TRASH_FOLDERS = VIRTUAL_BASE
SNAPSHOT_FOLDERS = VIRTUAL_BASE + (1 << 61)
SNAPSHOT_NODES = 1 << 63

# Where each namespace's range starts, in order (the live tree starts at ROOT_INODE): the gate
# picks a namespace with one bisection over these.
RANGE_STARTS = (TRASH_FOLDERS, SNAPSHOT_FOLDERS)

# Snapshot nodes: 1 << 63 | snapshot id << INO_BITS | the volume's inode number then.
ID_BITS = 24
INO_BITS = 39
MAX_SNAPSHOT_ID = (1 << ID_BITS) - 1
MAX_REAL_INO = (1 << INO_BITS) - 1


class InodeSpaceExhausted(NasfsError):
    """A snapshot id or inode number too large for the kernel inode encoding."""

    wire_code = codes.INODE_SPACE_EXHAUSTED

    errno = errno.EOVERFLOW


def encode(snapshot_id: int, ino: int) -> int:
    """The kernel inode number of inode `ino` as seen in snapshot `snapshot_id`."""
    if not 0 < snapshot_id <= MAX_SNAPSHOT_ID or not 0 < ino <= MAX_REAL_INO:
        raise InodeSpaceExhausted(
            f"inode {ino} of snapshot {snapshot_id} does not fit the snapshot inode numbering "
            f"(ids up to {MAX_SNAPSHOT_ID}, inodes up to {MAX_REAL_INO})")
    return SNAPSHOT_NODES | snapshot_id << INO_BITS | ino


def decode(kernel_ino: int) -> tuple[int, int]:
    """(snapshot id, volume inode number) of a snapshot node's kernel inode number."""
    return (kernel_ino >> INO_BITS) & MAX_SNAPSHOT_ID, kernel_ino & MAX_REAL_INO


def is_live(ino: int) -> bool:
    return ino < VIRTUAL_BASE


class FolderNumbers:
    """The numbers of one kind of per-share virtual folder: handed out from `base` in order
    of first use, stable for the life of the mount (the kernel may hold them that long)."""

    def __init__(self, base: int, end: int) -> None:
        self._base = base
        self._end = end
        self._by_share: dict[str, int] = {}
        self._by_ino: dict[int, str] = {}

    def number(self, share: str) -> int:
        ino = self._by_share.get(share)
        if ino is None:
            ino = self._base + len(self._by_share) + 1
            if ino >= self._end:
                raise InodeSpaceExhausted(f"no inode numbers left for share {share}")
            self._by_share[share] = ino
            self._by_ino[ino] = share
        return ino

    def share(self, ino: int) -> str | None:
        """The share whose folder `ino` is (None: no folder of this kind)."""
        return self._by_ino.get(ino)

    def __contains__(self, ino: int) -> bool:
        return ino in self._by_ino


__all__ = ["RANGE_STARTS", "ROOT_INODE", "SNAPSHOT_FOLDERS", "SNAPSHOT_NODES", "TRASH_FOLDERS",
           "VIRTUAL_BASE", "FolderNumbers", "InodeSpaceExhausted", "decode", "encode"]
