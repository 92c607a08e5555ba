"""A read-only view of the tree as it was when a snapshot was taken.

`fs.snapshot_view(snapshot_id)` returns a `SnapshotView`; the FUSE layer serves the
`#snapshot` folders with it. Inode numbers are those of the volume at the snapshot's
generation (a file that still exists live has the same number there), so a caller that
mixes live and snapshot inodes in one kernel mount must map them to numbers of its own.

Every call checks that the snapshot still exists and raises `NotFound` (ENOENT) once it is
deleted. Reads share the live tree's record cache; nothing here writes to fs.db.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable

from nasfs.fs import errors
from nasfs.fs.allocate import check_seek, find
from nasfs.fs.data import DataPath
from nasfs.fs.repository import Attributes, Repository
from nasfs.fs.schema import ROOT_INODE

log = logging.getLogger(__name__)


class SnapshotView:
    """The tree at one snapshot's generation (see module docstring)."""

    def __init__(self, repo: Repository, data: DataPath, exists: Callable[[int], bool],
                 snapshot_id: int, generation: int) -> None:
        """`repo` and `data` are the live filesystem's (the view reads old rows and shares
        the record cache); `exists(snapshot_id)` says whether the snapshot is still there."""
        self.repo = repo
        self.data = data
        self._exists = exists
        self.snapshot_id = snapshot_id
        self.generation = generation

    def _check(self) -> None:
        if not self._exists(self.snapshot_id):
            raise errors.NotFound(f"snapshot {self.snapshot_id} does not exist any more")

    def getattr(self, ino: int) -> Attributes:
        self._check()
        a = self.repo.inode_at(ino, self.generation)
        if a is None:
            raise errors.NotFound(f"inode {ino} does not exist in snapshot {self.snapshot_id}")
        return a

    def blocks(self, a: Attributes) -> int:
        """st_blocks of `a` (an inode of this view): the records stored at the snapshot."""
        if not stat.S_ISREG(a.mode):
            return (a.size + 511) // 512
        return self.repo.allocated_blocks_at(a.ino, self.generation)

    def _dir(self, ino: int) -> Attributes:
        a = self.getattr(ino)
        if not stat.S_ISDIR(a.mode):
            raise errors.NotADirectory(f"inode {ino} is not a directory")
        return a

    def lookup(self, parent_ino: int, name: bytes) -> Attributes:
        """Attributes of `name` in directory `parent_ino`; NotFound if it was not there."""
        self._dir(parent_ino)
        a = self.repo.lookup_at(parent_ino, name, self.generation)
        if a is None:
            raise errors.NotFound(
                f"{name!r} did not exist in directory {parent_ino} in snapshot "
                f"{self.snapshot_id}")
        return a

    def resolve(self, path: bytes) -> Attributes:
        """Attributes of a '/'-separated path from the volume root (b'' is the root)."""
        a = self.getattr(ROOT_INODE)
        for part in path.split(b"/"):
            if part:
                a = self.lookup(a.ino, part)
        return a

    def readdir(self, ino: int, after: int = 0,
                limit: int = 256) -> list[tuple[int, bytes, Attributes]]:
        """Up to `limit` (offset, name, attributes) with offsets above `after`, in order.

        Offsets are dentry ids, as in the live tree: stable for the snapshot's lifetime.
        """
        self._dir(ino)
        return self.repo.list_entries_at(ino, after, limit, self.generation)

    async def read(self, ino: int, off: int, size: int) -> bytes:
        a = self.getattr(ino)
        if not stat.S_ISREG(a.mode):
            raise errors.IsADirectory(f"inode {ino} is not a regular file")
        end = min(off + size, a.size)
        if off >= end:
            return b""
        rs = self.data.record_size
        parts: list[bytes] = []
        pos = off
        while pos < end:
            idx, roff = divmod(pos, rs)
            n = min(rs - roff, end - pos)
            ext = self.repo.extent_at(ino, idx, self.generation)
            content = b"" if ext is None else await self.data.fetch_chunk(ext.chunk)
            piece = bytes(content[roff : roff + n])
            if len(piece) < n:
                piece += bytes(n - len(piece))
            parts.append(piece)
            pos += n
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def seek(self, ino: int, off: int, whence: int) -> int:
        """lseek(2) SEEK_DATA / SEEK_HOLE over the records stored at the snapshot."""
        size = self.getattr(ino).size
        check_seek(off, whence, size)
        rs = self.data.record_size
        regions = ((e.idx * rs, min(e.idx * rs + e.length, size))
                   for e in self.repo.extents_at(ino, self.generation)
                   if e.length > 0 and e.idx * rs < size)
        return find(regions, off, size, whence)

    def readlink(self, ino: int) -> bytes:
        self.getattr(ino)
        target = self.repo.symlink_at(ino, self.generation)
        if target is None:
            raise errors.InvalidArgument(f"inode {ino} is not a symbolic link")
        return target

    def getxattr(self, ino: int, name: bytes) -> bytes:
        self.getattr(ino)
        value = self.repo.xattr_at(ino, name, self.generation)
        if value is None:
            raise errors.NoSuchAttribute(f"inode {ino} has no attribute {name!r}")
        return value

    def listxattr(self, ino: int) -> list[bytes]:
        self.getattr(ino)
        return [name for name, _ in self.repo.xattrs_at(ino, self.generation)]

    def has_xattrs(self) -> bool:
        """Whether any file of the volume (any share) had an extended attribute at the
        snapshot: a copy of a snapshot without any need not ask for them file by file (a
        backup's rsync through FUSE spent most of an unchanged run on those listings)."""
        self._check()
        return self.repo.any_xattr_at(self.generation)
