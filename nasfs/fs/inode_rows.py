"""The live inode rows the repository read or wrote last, kept in memory: a create, the
write that follows and its flush each read the rows just written (the new file, its
folder), and every GETATTR of a folder reads it again after each create in it. With them,
the st_blocks of files' stored records (`Repository.allocated_blocks`), which every LOOKUP
and GETATTR reply of a file asks: dropped by every write of the file's extent rows. And
the inodes known to have no live extent rows at all (inserted by the repository, no
extent row written for them since), and likewise with no xattr rows: the first write of
a new file and its first flush each asked for the extent of record 0, and the kernel's
`security.capability` probe before that write for an xattr, none of which can exist yet.

Write-through, never write-back: every row here is what the database's live row holds,
because the repository puts a row here only after writing it whole (`insert_inode`,
`update_inode`) or reading it, and drops it when it removes the row. Writes the
repository does not make itself (a rollback, a migration, another module's statements on
fs.db, which all move `MetadataDB.changes` without passing through the repository) may
change any row, so they empty the whole map: it holds rows only while every change of
the database since they were read went through the repository.
"""

from __future__ import annotations

from nasfs.fs.rows import Attributes, MetadataDB

# Rows kept at most; beyond it the map starts over (a bound on memory, never on correctness).
_MOST = 8192


def copy_of(a: Attributes) -> Attributes:
    """A copy callers may change (they change what they get and write it back)."""
    return type(a)(a.ino, a.mode, a.uid, a.gid, a.nlink, a.size, a.rdev, a.atime_ns,
                   a.mtime_ns, a.ctime_ns, a.crtime_ns)


class InodeRows:
    def __init__(self, db: MetadataDB) -> None:
        self.db = db
        self.own_writes = 0  # write statements the repository made (bumped before each)
        self._rows: dict[int, Attributes] = {}
        self._blocks: dict[int, int] = {}
        self._no_extents: set[int] = set()
        self._no_xattrs: set[int] = set()
        self._foreign = self._foreign_now()

    def _foreign_now(self) -> int:
        """Changes of the database the repository did not make, its commits' own
        statements apart (they change no row of fs's tables)."""
        return self.db.changes - self.own_writes - self.db.commit_writes

    def _valid(self) -> dict[int, Attributes]:
        foreign = self._foreign_now()
        if foreign != self._foreign:
            self._rows.clear()
            self._blocks.clear()
            self._no_extents.clear()
            self._no_xattrs.clear()
            self._foreign = foreign
        return self._rows

    def blocks_of(self, ino: int) -> int | None:
        """Blocks of file `ino`'s live extent rows, if kept."""
        self._valid()
        return self._blocks.get(ino)

    def keep_blocks(self, ino: int, blocks: int) -> None:
        self._valid()
        if len(self._blocks) >= _MOST:
            self._blocks.clear()
        self._blocks[ino] = blocks

    def drop_blocks(self, ino: int) -> None:
        """Called before any write of `ino`'s extent rows."""
        self._blocks.pop(ino, None)
        self._no_extents.discard(ino)

    def holds_no_extents(self, ino: int) -> bool:
        """Whether `ino` is known to have no live extent row (False: it may have some)."""
        self._valid()
        return ino in self._no_extents

    def holds_no_xattrs(self, ino: int) -> bool:
        """Whether `ino` is known to have no live xattr row (False: it may have some)."""
        self._valid()
        return ino in self._no_xattrs

    def drop_xattrs(self, ino: int) -> None:
        """Called before any write of `ino`'s xattr rows."""
        self._no_xattrs.discard(ino)

    def keep_new(self, a: Attributes) -> None:
        """`a` is a row just inserted: as `keep`, and it has no extent or xattr rows yet."""
        self.keep(a)
        if len(self._no_extents) >= _MOST or len(self._no_xattrs) >= _MOST:
            self._no_extents.clear()
            self._no_xattrs.clear()
        self._no_extents.add(a.ino)
        self._no_xattrs.add(a.ino)

    def get(self, ino: int) -> Attributes | None:
        """A copy of live row `ino` as the database holds it, if kept."""
        a = self._valid().get(ino)
        return None if a is None else copy_of(a)

    def keep(self, a: Attributes) -> None:
        """`a` is live row `a.ino` as the database holds it now (just read or written)."""
        rows = self._valid()
        if len(rows) >= _MOST:
            rows.clear()
        rows[a.ino] = copy_of(a)

    def drop(self, ino: int) -> None:
        self._rows.pop(ino, None)
        self._blocks.pop(ino, None)
        self._no_extents.discard(ino)
        self._no_xattrs.discard(ino)
