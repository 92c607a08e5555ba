"""Typed queries on the filesystem database: the only module that writes SQL for `fs.db`.

Every mutation goes through the versioned-row helpers (see nasfs.fs.schema): a row born in
the current generation changes in place, an older one is closed and copied. SQLite calls
are synchronous and run on the trio thread; the sqlite3 statement cache makes the fixed SQL
strings below prepared statements.

Over 600 lines on purpose: it is the one place that writes SQL for fs.db, so the
versioned-row predicate is typed once here and nowhere else; splitting it by table would
spread that predicate over several files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nasfs.fs.inode_rows import InodeRows
from nasfs.fs.rows import Attributes, MetadataDB
from nasfs.fs.schema import ROOT_INODE

__all__ = ["Attributes", "Extent", "MetadataDB", "Repository"]

log = logging.getLogger(__name__)

ChunkId = bytes


@dataclass(slots=True, frozen=True)
class Extent:
    idx: int
    chunk: ChunkId
    length: int


_ATTR_COLS = "id, mode, uid, gid, nlink, size, rdev, atime_ns, mtime_ns, ctime_ns, crtime_ns"
_INODE_COPY = "mode, uid, gid, nlink, size, rdev, atime_ns, mtime_ns, ctime_ns, crtime_ns"


def _attrs(row: Sequence[Any]) -> Attributes:
    return Attributes(*row)


class Repository:
    """Typed access to inodes, entries, extents, symlinks and xattrs at the live generation."""

    def __init__(self, db: MetadataDB) -> None:
        self.db = db
        self.inode_rows = InodeRows(db)
        self.generation = int(self._meta("generation", 1))
        row = db.query_one("SELECT max(id) FROM inode")
        self._next_ino = int(row[0] or ROOT_INODE) + 1
        # Entries and inodes changed since the last commit: if it fails, the kernel is told
        # to forget what it cached of them (nasfs.fs.filesystem, `changes_undone`).
        self.touched_names: set[tuple[int, bytes]] = set()
        self.touched_inodes: set[int] = set()
        # What an answer about an entry of the root depends on (nasfs.policy.gate.
        # root_answers): bumped by every change of an entry in the root and of the inode
        # rows of `top_inodes` (the inodes such answers name; a rollback undoes any of
        # them, so readers pair this with the database's rollback count).
        self.top_changes = 0
        self.top_inodes: set[int] = set()
        # The last entry looked up: (parent, name, `db.changes` then, its row or None). The
        # kernel's LOOKUP of a name comes just before the request that acts on it (UNLINK;
        # CREATE after a negative LOOKUP), whose own look at the entry then reads nothing
        # while no statement has run since: every write statement and every rollback moves
        # the stamp, so the answer is the one the database would give.
        self._last_look: tuple[int, bytes, int, Any] | None = None

    def _write(self, sql: str, params: Any = ()) -> Any:
        """Every write statement of the repository: counted, so `InodeRows` can tell
        them from changes it did not see."""
        self.inode_rows.own_writes += 1
        return self.db.execute(sql, params)

    def side_write(self, sql: str, params: Any = ()) -> Any:
        """`Filesystem.side_write`: counted as the repository's own (it changes none of the
        rows the repository reads), so it keeps the inode rows."""
        return self._write(sql, params)

    def _write_many(self, sql: str, seq: Any) -> Any:
        self.inode_rows.own_writes += 1
        return self.db.executemany(sql, seq)

    # -------------------------------------------------------------------- meta

    def _meta(self, key: str, default: Any = None) -> Any:
        row = self.db.query_one("SELECT value FROM meta WHERE key = ?", (key,))
        return default if row is None else row[0]

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self._meta(key, default)

    def set_meta(self, key: str, value: Any) -> None:
        self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def new_generation(self) -> int:
        """Freeze the current generation (a snapshot point) and continue in the next one."""
        self.generation += 1
        self.set_meta("generation", self.generation)
        return self.generation - 1

    # ------------------------------------------------------- versioned helpers

    def _close_and_copy(self, table: str, cols: str, where: str, params: Sequence[Any]) -> None:
        """Copy-on-write of a live row born before this generation (a snapshot keeps it)."""
        g = self.generation
        self._write(
            f"UPDATE {table} SET died = ? WHERE {where} AND died IS NULL AND born < ?",
            (g, *params, g),
        )
        self._write(
            f"INSERT INTO {table} ({cols}, born, died) SELECT {cols}, ?, NULL FROM {table}"
            f" WHERE {where} AND died = ? AND born < ?",
            (g, *params, g, g),
        )

    def _remove(self, table: str, where: str, params: Sequence[Any],
                borns: Sequence[int] | None = None) -> int:
        """Remove live rows: delete those born now, close older ones. Returns rows affected.

        `borns`: the `born` of every live row concerned, if the caller has just read them.
        Writes run on every synchronous copy and reads on the primary only, so the rows are
        read first and only the statements that have something to do are run (a file without
        xattrs or snapshots: no UPDATE, and nothing at all for its xattr and symlink rows).
        """
        g = self.generation
        if borns is None:
            borns = [int(r[0]) for r in self.db.query(
                f"SELECT born FROM {table} WHERE {where} AND died IS NULL", params)]
        n = 0
        if g in borns:
            n += int(
                self._write(
                    f"DELETE FROM {table} WHERE {where} AND died IS NULL AND born = ?",
                    (*params, g),
                ).rowcount
            )
        if any(b != g for b in borns):
            n += int(
                self._write(
                    f"UPDATE {table} SET died = ? WHERE {where} AND died IS NULL", (g, *params)
                ).rowcount
            )
        return n

    # ------------------------------------------------------------------ inodes

    def live_inode_count(self) -> int:
        """Inodes of the live tree (rows kept only for snapshots are not counted)."""
        row = self.db.query_one("SELECT COUNT(*) FROM inode WHERE died IS NULL")
        return int(row[0]) if row is not None else 0

    def allocate_ino(self) -> int:
        ino = self._next_ino
        self._next_ino += 1
        return ino

    def insert_inode(self, a: Attributes) -> None:
        self._write(
            "INSERT INTO inode (id, born, died, mode, uid, gid, nlink, size, rdev,"
            " atime_ns, mtime_ns, ctime_ns, crtime_ns) VALUES (?,?,NULL,?,?,?,?,?,?,?,?,?,?)",
            (a.ino, self.generation, a.mode, a.uid, a.gid, a.nlink, a.size, a.rdev,
             a.atime_ns, a.mtime_ns, a.ctime_ns, a.crtime_ns),
        )
        # A new inode: no extent or xattr row can name it before `set_extent` (or
        # `move_extents`) or `set_xattr` writes one.
        self.inode_rows.keep_new(a)

    def get_inode(self, ino: int) -> Attributes | None:
        """The live row of `ino` (a copy the caller may change), None if it has none."""
        kept = self.inode_rows.get(ino)
        if kept is not None:
            return kept
        row = self.db.query_one(
            f"SELECT {_ATTR_COLS} FROM inode WHERE id = ? AND died IS NULL", (ino,)
        )
        if row is None:
            return None
        a = _attrs(row)
        self.inode_rows.keep(a)
        return a

    def update_inode(self, a: Attributes) -> None:
        """Write every attribute of `a` to its live inode row."""
        self.touched_inodes.add(a.ino)
        if a.ino in self.top_inodes:
            self.top_changes += 1
        values = (a.mode, a.uid, a.gid, a.nlink, a.size, a.rdev,
                  a.atime_ns, a.mtime_ns, a.ctime_ns, a.crtime_ns, a.ino)
        sql = (
            "UPDATE inode SET mode=?, uid=?, gid=?, nlink=?, size=?, rdev=?, atime_ns=?,"
            " mtime_ns=?, ctime_ns=?, crtime_ns=? WHERE id = ? AND died IS NULL AND born = ?"
        )
        cur = self._write(sql, (*values, self.generation))
        if cur.rowcount == 0:
            self._close_and_copy("inode", "id, " + _INODE_COPY, "id = ?", (a.ino,))
            cur = self._write(sql, (*values, self.generation))
        if cur.rowcount:
            self.inode_rows.keep(a)
        else:
            self.inode_rows.drop(a.ino)  # no live row to update (nothing was written)

    def delete_inode(self, ino: int) -> list[ChunkId]:
        """Remove an inode with its extents, symlink and xattrs.

        Returns the chunk ids whose store references must be released once the removal is
        durable (rows closed for a snapshot keep their reference and are not returned).
        """
        if ino in self.top_inodes:
            self.top_changes += 1
        self.inode_rows.drop(ino)
        released = self.delete_extents_from(ino, 0)
        self._remove("symlink", "ino = ?", (ino,))
        self._remove("xattr", "ino = ?", (ino,))
        self._remove("inode", "id = ?", (ino,))
        self._write("DELETE FROM orphan WHERE ino = ?", (ino,))
        return released

    # ---------------------------------------------------------------- dentries

    def _looked(self, parent: int, name: bytes) -> tuple[int, bytes, int, Any] | None:
        """The last look (`_last_look`) if it was of this entry and is still current."""
        last = self._last_look
        if last is not None and last[2] == self.db.changes and last[0] == parent \
                and last[1] == name:
            return last
        return None

    def lookup(self, parent: int, name: bytes) -> int | None:
        last = self._looked(parent, name)
        if last is not None:
            return None if last[3] is None else int(last[3][0])
        row = self.db.query_one(
            "SELECT ino FROM dentry WHERE parent = ? AND name = ? AND died IS NULL",
            (parent, name),
        )
        return None if row is None else int(row[0])

    def lookup_attrs(self, parent: int, name: bytes) -> Attributes | None:
        last = self._looked(parent, name)
        if last is not None:
            # A new Attributes from the kept row: callers change what they get.
            return None if last[3] is None else _attrs(last[3])
        row = self.db.query_one(
            "SELECT i.id, i.mode, i.uid, i.gid, i.nlink, i.size, i.rdev, i.atime_ns,"
            " i.mtime_ns, i.ctime_ns, i.crtime_ns FROM dentry d JOIN inode i"
            " ON i.id = d.ino AND i.died IS NULL"
            " WHERE d.parent = ? AND d.name = ? AND d.died IS NULL",
            (parent, name),
        )
        self._last_look = (parent, name, self.db.changes, row)
        return None if row is None else _attrs(row)

    def insert_dentry(self, parent: int, name: bytes, ino: int) -> None:
        self.touched_names.add((parent, name))
        if parent == ROOT_INODE:
            self.top_changes += 1
        self._write(
            "INSERT INTO dentry (parent, name, ino, born, died) VALUES (?, ?, ?, ?, NULL)",
            (parent, name, ino, self.generation),
        )

    def delete_dentry(self, parent: int, name: bytes) -> None:
        self.touched_names.add((parent, name))
        if parent == ROOT_INODE:
            self.top_changes += 1
        self._remove("dentry", "parent = ? AND name = ?", (parent, name))

    def move_dentry(self, p1: int, n1: bytes, p2: int, n2: bytes, ino: int) -> None:
        """Entry `n1` of `p1` (naming `ino`) becomes entry `n2` of `p2`, which has none.

        A row born in this generation is in no snapshot, so it moves in place: one
        statement, where `insert_dentry` + `delete_dentry` take a read of its `born` and
        two writes (each write on every synchronous copy). It keeps its id, so its listing
        offset: a listing of `p2` already past that id does not show it (POSIX leaves
        entries added during a listing open) and no listing shows it twice. An older row
        is closed for the snapshots and a new one inserted, as before."""
        for parent, name in ((p1, n1), (p2, n2)):
            self.touched_names.add((parent, name))
            if parent == ROOT_INODE:
                self.top_changes += 1
        moved = self._write(
            "UPDATE dentry SET parent = ?, name = ? WHERE parent = ? AND name = ?"
            " AND died IS NULL AND born = ?",
            (p2, n2, p1, n1, self.generation)).rowcount
        if not moved:
            self.insert_dentry(p2, n2, ino)
            self.delete_dentry(p1, n1)

    def retarget_dentry(self, parent: int, name: bytes, ino: int) -> None:
        """Point an existing entry at another inode (rename over, exchange)."""
        self.touched_names.add((parent, name))
        if parent == ROOT_INODE:
            self.top_changes += 1
        # A new row rather than an update: the entry's readdir offset changes, which POSIX
        # allows for entries changed during a listing, and old generations stay intact.
        self.delete_dentry(parent, name)
        self.insert_dentry(parent, name, ino)

    def has_entries(self, parent: int) -> bool:
        row = self.db.query_one(
            "SELECT 1 FROM dentry WHERE parent = ? AND died IS NULL LIMIT 1", (parent,)
        )
        return row is not None

    def entry_names(self, parent: int) -> list[bytes]:
        """The names of `parent`'s live entries, oldest first (one statement, names only)."""
        rows = self.db.query_tuples(
            "SELECT name FROM dentry WHERE parent = ? AND died IS NULL ORDER BY id", (parent,)
        )
        return [bytes(r[0]) for r in rows]

    def names_of(self, ino: int, limit: int = 2) -> list[tuple[int, bytes]]:
        """Up to `limit` live entries (parent, name) naming `ino`."""
        rows = self.db.query(
            "SELECT parent, name FROM dentry WHERE ino = ? AND died IS NULL LIMIT ?",
            (ino, limit),
        )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def parent_of_directory(self, ino: int) -> int | None:
        row = self.db.query_one(
            "SELECT parent FROM dentry WHERE ino = ? AND died IS NULL LIMIT 1", (ino,)
        )
        return None if row is None else int(row[0])

    def list_entries(
        self, parent: int, after_id: int, limit: int
    ) -> list[tuple[int, bytes, Attributes]]:
        rows = self.db.query(
            "SELECT d.id, d.name, i.id, i.mode, i.uid, i.gid, i.nlink, i.size, i.rdev,"
            " i.atime_ns, i.mtime_ns, i.ctime_ns, i.crtime_ns FROM dentry d JOIN inode i"
            " ON i.id = d.ino AND i.died IS NULL"
            " WHERE d.parent = ? AND d.died IS NULL AND d.id > ? ORDER BY d.id LIMIT ?",
            (parent, after_id, limit),
        )
        return [(int(r[0]), bytes(r[1]), _attrs(tuple(r)[2:])) for r in rows]

    def list_entries_plus(
        self, parent: int, after_id: int, limit: int
    ) -> list[tuple[Any, ...]]:
        """`list_entries` for readdirplus, in one statement: rows of (entry id, name, the
        inode's `_ATTR_COLS`..., stored blocks), the last being `allocated_blocks` for
        regular files and the size in 512-byte units for the rest. Plain tuples, not
        `Attributes`: a listing builds no object per entry that it does not hand on."""
        return self.db.query_tuples(
            "SELECT d.id, d.name, i.id, i.mode, i.uid, i.gid, i.nlink, i.size, i.rdev,"
            " i.atime_ns, i.mtime_ns, i.ctime_ns, i.crtime_ns,"
            " CASE WHEN i.mode & 61440 = 32768 THEN (SELECT ifnull(sum((e.length + 511)"
            " / 512), 0) FROM extent e WHERE e.ino = i.id AND e.died IS NULL)"
            " ELSE (i.size + 511) / 512 END"
            " FROM dentry d JOIN inode i ON i.id = d.ino AND i.died IS NULL"
            " WHERE d.parent = ? AND d.died IS NULL AND d.id > ? ORDER BY d.id LIMIT ?",
            (parent, after_id, limit),
        )

    # ----------------------------------------------------------------- extents

    def get_extent(self, ino: int, idx: int) -> Extent | None:
        if self.inode_rows.holds_no_extents(ino):
            return None  # a file written to for the first time since its create
        row = self.db.query_one(
            "SELECT idx, chunk, length FROM extent WHERE ino = ? AND idx = ? AND died IS NULL",
            (ino, idx),
        )
        return None if row is None else Extent(int(row[0]), bytes(row[1]), int(row[2]))

    def set_extent(self, ino: int, idx: int, chunk: ChunkId, length: int) -> ChunkId | None:
        """Make `chunk` the content of record `idx`; returns the chunk to release, if any."""
        none_yet = self.inode_rows.holds_no_extents(ino)
        self.inode_rows.drop_blocks(ino)
        g = self.generation
        old = None if none_yet else self.db.query_one(
            "SELECT chunk, born FROM extent WHERE ino = ? AND idx = ? AND died IS NULL",
            (ino, idx),
        )
        released: ChunkId | None = None
        if old is not None:
            if int(old[1]) == g:
                released = bytes(old[0])
                self._write(
                    "DELETE FROM extent WHERE ino = ? AND idx = ? AND born = ?", (ino, idx, g)
                )
            else:
                self._write(
                    "UPDATE extent SET died = ? WHERE ino = ? AND idx = ? AND died IS NULL",
                    (g, ino, idx),
                )
        self._write(
            "INSERT INTO extent (ino, idx, chunk, length, born, died) VALUES (?,?,?,?,?,NULL)",
            (ino, idx, chunk, length, g),
        )
        return released

    def delete_extents_from(self, ino: int, first_idx: int) -> list[ChunkId]:
        """Remove records `first_idx` and later; returns chunks to release when durable."""
        self.inode_rows.drop_blocks(ino)
        g = self.generation
        rows = self.db.query(
            "SELECT chunk, born FROM extent WHERE ino = ? AND idx >= ? AND died IS NULL",
            (ino, first_idx),
        )
        borns = [int(r[1]) for r in rows]
        self._remove("extent", "ino = ? AND idx >= ?", (ino, first_idx), borns)
        return [bytes(r[0]) for r in rows if int(r[1]) == g]

    def delete_extent(self, ino: int, idx: int) -> list[ChunkId]:
        self.inode_rows.drop_blocks(ino)
        g = self.generation
        rows = self.db.query(
            "SELECT chunk, born FROM extent WHERE ino = ? AND idx = ? AND died IS NULL",
            (ino, idx),
        )
        borns = [int(r[1]) for r in rows]
        self._remove("extent", "ino = ? AND idx = ?", (ino, idx), borns)
        return [bytes(r[0]) for r in rows if int(r[1]) == g]

    def older_extent_chunks(self, ino: int) -> list[ChunkId]:
        """Chunks of live records of `ino` written before this generation (a snapshot may
        still name them, so moving them to another inode needs a new store reference)."""
        rows = self.db.query(
            "SELECT chunk FROM extent WHERE ino = ? AND died IS NULL AND born < ?",
            (ino, self.generation),
        )
        return [bytes(r[0]) for r in rows]

    def move_extents(self, src: int, dst: int) -> list[ChunkId]:
        """Give every live record of `src` to `dst` (which has none); `src` becomes empty.

        Rows born in this generation change owner in place (their store reference moves
        with them). Older rows are closed for `src` and copied for `dst`: the returned
        chunks are named twice from now on and need one more store reference each.
        """
        self.inode_rows.drop_blocks(src)
        self.inode_rows.drop_blocks(dst)
        g = self.generation
        self._write(
            "UPDATE extent SET ino = ? WHERE ino = ? AND died IS NULL AND born = ?", (dst, src, g)
        )
        older = self.older_extent_chunks(src)
        self._write(
            "INSERT INTO extent (ino, idx, chunk, length, born, died)"
            " SELECT ?, idx, chunk, length, ?, NULL FROM extent"
            " WHERE ino = ? AND died IS NULL AND born < ?",
            (dst, g, src, g),
        )
        self._write(
            "UPDATE extent SET died = ? WHERE ino = ? AND died IS NULL AND born < ?",
            (g, src, g),
        )
        return older

    def chunk_refcounts(self) -> dict[ChunkId, int]:
        """References the filesystem holds on each chunk: one per extent row, any version."""
        rows = self.db.query("SELECT chunk, count(*) FROM extent GROUP BY chunk")
        return {bytes(r[0]): int(r[1]) for r in rows}

    # ---------------------------------------------------------------- symlinks

    def insert_symlink(self, ino: int, target: bytes) -> None:
        self._write(
            "INSERT INTO symlink (ino, target, born, died) VALUES (?, ?, ?, NULL)",
            (ino, target, self.generation),
        )

    def get_symlink(self, ino: int) -> bytes | None:
        row = self.db.query_one(
            "SELECT target FROM symlink WHERE ino = ? AND died IS NULL", (ino,)
        )
        return None if row is None else bytes(row[0])

    # ------------------------------------------------------------------ xattrs

    def get_xattr(self, ino: int, name: bytes) -> bytes | None:
        if self.inode_rows.holds_no_xattrs(ino):
            return None  # e.g. the kernel's security.capability probe of a new file
        row = self.db.query_one(
            "SELECT value FROM xattr WHERE ino = ? AND name = ? AND died IS NULL", (ino, name)
        )
        return None if row is None else bytes(row[0])

    def set_xattr(self, ino: int, name: bytes, value: bytes) -> None:
        self.inode_rows.drop_xattrs(ino)
        self._remove("xattr", "ino = ? AND name = ?", (ino, name))
        self._write(
            "INSERT INTO xattr (ino, name, value, born, died) VALUES (?, ?, ?, ?, NULL)",
            (ino, name, value, self.generation),
        )

    def list_xattrs(self, ino: int) -> list[bytes]:
        if self.inode_rows.holds_no_xattrs(ino):
            return []
        rows = self.db.query(
            "SELECT name FROM xattr WHERE ino = ? AND died IS NULL ORDER BY name", (ino,)
        )
        return [bytes(r[0]) for r in rows]

    def remove_xattr(self, ino: int, name: bytes) -> bool:
        return self._remove("xattr", "ino = ? AND name = ?", (ino, name)) > 0

    # ----------------------------------------------------------------- orphans

    def add_orphan(self, ino: int) -> None:
        self._write("INSERT OR IGNORE INTO orphan (ino) VALUES (?)", (ino,))

    def delete_orphan(self, ino: int) -> None:
        self._write("DELETE FROM orphan WHERE ino = ?", (ino,))

    def orphans(self) -> Iterator[int]:
        return iter([int(r[0]) for r in self.db.query("SELECT ino FROM orphan")])

    # ------------------------------------------------------------- snapshots

    def entries_at(self, parent: int, generation: int) -> list[tuple[bytes, int]]:
        """Directory listing as it was at `generation` (what a snapshot will browse)."""
        rows = self.db.query(
            "SELECT name, ino FROM dentry WHERE parent = ? AND born <= ?"
            " AND (died IS NULL OR died > ?) ORDER BY id",
            (parent, generation, generation),
        )
        return [(bytes(r[0]), int(r[1])) for r in rows]

    def inode_at(self, ino: int, generation: int) -> Attributes | None:
        row = self.db.query_one(
            f"SELECT {_ATTR_COLS} FROM inode WHERE id = ? AND born <= ?"
            " AND (died IS NULL OR died > ?)",
            (ino, generation, generation),
        )
        return None if row is None else _attrs(row)

    # --------------------------------------------------- reads at a generation
    # A row is visible at generation S when born <= S AND (died IS NULL OR died > S). Each
    # read asks the live rows and the dead rows separately, so that each half uses its own
    # (partial) index: `*_live` for died IS NULL, `dentry_dead` / the primary keys otherwise.

    def lookup_at(self, parent: int, name: bytes, generation: int) -> Attributes | None:
        g = generation
        row = self.db.query_one(
            "SELECT ino FROM dentry WHERE parent = ? AND name = ? AND died IS NULL AND born <= ?",
            (parent, name, g),
        )
        if row is None:
            row = self.db.query_one(
                "SELECT ino FROM dentry WHERE parent = ? AND name = ? AND died > ? AND born <= ?",
                (parent, name, g, g),
            )
        return None if row is None else self.inode_at(int(row[0]), g)

    def list_entries_at(
        self, parent: int, after_id: int, limit: int, generation: int
    ) -> list[tuple[int, bytes, Attributes]]:
        """Entries of `parent` at `generation` with dentry ids above `after_id`, in id order."""
        g = generation
        inode_at = (
            f"SELECT d.id, d.name, {', '.join('i.' + c for c in _ATTR_COLS.split(', '))}"
            " FROM dentry d JOIN inode i ON i.id = d.ino AND i.born <= ?"
            " AND (i.died IS NULL OR i.died > ?)"
        )
        live = self.db.query(
            inode_at + " WHERE d.parent = ? AND d.died IS NULL AND d.born <= ? AND d.id > ?"
            " ORDER BY d.id LIMIT ?",
            (g, g, parent, g, after_id, limit),
        )
        dead = self.db.query(
            inode_at + " WHERE d.parent = ? AND d.died > ? AND d.born <= ? AND d.id > ?"
            " ORDER BY d.id LIMIT ?",
            (g, g, parent, g, g, after_id, limit),
        )
        rows = sorted([*live, *dead], key=lambda r: int(r[0]))[:limit]
        return [(int(r[0]), bytes(r[1]), _attrs(tuple(r)[2:])) for r in rows]

    def listing_at(self, parent: int, generation: int) -> list[tuple[bytes, int, Attributes]]:
        """Every entry of `parent` at `generation`: (name, born of the inode row seen,
        attributes). An inode whose row seen at a later generation has the same `born` is the
        same row: nothing of it changed in between (every change to a file, its records or
        its xattrs writes its inode row, whose copy-on-write gives it a new `born`)."""
        g = generation
        cols = ", ".join("i." + c for c in _ATTR_COLS.split(", "))
        select = (f"SELECT d.name, i.born, {cols} FROM dentry d JOIN inode i ON i.id = d.ino"
                  " AND i.born <= ? AND (i.died IS NULL OR i.died > ?)")
        rows = [*self.db.query(select + " WHERE d.parent = ? AND d.died IS NULL AND d.born <= ?",
                               (g, g, parent, g)),
                *self.db.query(select + " WHERE d.parent = ? AND d.died > ? AND d.born <= ?",
                               (g, g, parent, g, g))]
        return [(bytes(r[0]), int(r[1]), _attrs(tuple(r)[2:])) for r in rows]

    def allocated_blocks(self, ino: int) -> int:
        """512-byte blocks the stored records of `ino` hold (holes and all-zero records,
        which are never stored, hold none)."""
        kept = self.inode_rows.blocks_of(ino)
        if kept is not None:
            return kept
        row = self.db.query_one(
            "SELECT coalesce(sum((length + 511) / 512), 0) FROM extent"
            " WHERE ino = ? AND died IS NULL",
            (ino,),
        )
        blocks = int(row[0])
        self.inode_rows.keep_blocks(ino, blocks)
        return blocks

    def allocated_blocks_at(self, ino: int, generation: int) -> int:
        row = self.db.query_one(
            "SELECT coalesce(sum((length + 511) / 512), 0) FROM extent WHERE ino = ?"
            " AND born <= ? AND (died IS NULL OR died > ?)",
            (ino, generation, generation),
        )
        return int(row[0])

    def extent_indexes(self, ino: int, first: int, limit: int) -> list[int]:
        """Indexes of stored records of `ino` from `first` on, in order (at most `limit`)."""
        rows = self.db.query(
            "SELECT idx FROM extent WHERE ino = ? AND idx >= ? AND died IS NULL"
            " ORDER BY idx LIMIT ?",
            (ino, first, limit),
        )
        return [int(r[0]) for r in rows]

    def extents_between(self, ino: int, first: int, last: int, limit: int) -> list[Extent]:
        """Live stored records of `ino` with `first <= idx <= last`, in order (at most
        `limit`): what fallocate and SEEK_DATA/SEEK_HOLE walk."""
        rows = self.db.query(
            "SELECT idx, chunk, length FROM extent WHERE ino = ? AND idx >= ? AND idx <= ?"
            " AND died IS NULL ORDER BY idx LIMIT ?",
            (ino, first, last, limit),
        )
        return [Extent(int(r[0]), bytes(r[1]), int(r[2])) for r in rows]

    def extent_at(self, ino: int, idx: int, generation: int) -> Extent | None:
        row = self.db.query_one(
            "SELECT idx, chunk, length FROM extent WHERE ino = ? AND idx = ? AND born <= ?"
            " AND (died IS NULL OR died > ?)",
            (ino, idx, generation, generation),
        )
        return None if row is None else Extent(int(row[0]), bytes(row[1]), int(row[2]))

    def extents_at(self, ino: int, generation: int) -> list[Extent]:
        rows = self.db.query(
            "SELECT idx, chunk, length FROM extent WHERE ino = ? AND born <= ?"
            " AND (died IS NULL OR died > ?) ORDER BY idx",
            (ino, generation, generation),
        )
        return [Extent(int(r[0]), bytes(r[1]), int(r[2])) for r in rows]

    def symlink_at(self, ino: int, generation: int) -> bytes | None:
        row = self.db.query_one(
            "SELECT target FROM symlink WHERE ino = ? AND born <= ?"
            " AND (died IS NULL OR died > ?)",
            (ino, generation, generation),
        )
        return None if row is None else bytes(row[0])

    def xattr_at(self, ino: int, name: bytes, generation: int) -> bytes | None:
        row = self.db.query_one(
            "SELECT value FROM xattr WHERE ino = ? AND name = ? AND born <= ?"
            " AND (died IS NULL OR died > ?)",
            (ino, name, generation, generation),
        )
        return None if row is None else bytes(row[0])

    def any_xattr_at(self, generation: int) -> bool:
        """Whether any inode of the volume carried an extended attribute at `generation`."""
        return self.db.query_one(
            "SELECT 1 FROM xattr WHERE born <= ? AND (died IS NULL OR died > ?) LIMIT 1",
            (generation, generation),
        ) is not None

    def xattrs_at(self, ino: int, generation: int) -> list[tuple[bytes, bytes]]:
        rows = self.db.query(
            "SELECT name, value FROM xattr WHERE ino = ? AND born <= ?"
            " AND (died IS NULL OR died > ?) ORDER BY name",
            (ino, generation, generation),
        )
        return [(bytes(r[0]), bytes(r[1])) for r in rows]

    # ------------------------------------------------------- snapshot records

    def snapshot_rows(self) -> list[tuple[Any, ...]]:
        """(id, name, generation, created_ns, locked, schedule, policy_state), oldest first."""
        return [tuple(r) for r in self.db.query(
            "SELECT id, name, generation, created_ns, locked, schedule, policy_state"
            " FROM snapshot ORDER BY generation"
        )]

    def insert_snapshot(
        self, name: str, generation: int, created_ns: int, schedule: int | None,
        policy_state: str | None,
    ) -> int:
        cur = self._write(
            "INSERT INTO snapshot (name, generation, created_ns, locked, schedule, policy_state)"
            " VALUES (?, ?, ?, 0, ?, ?)",
            (name, generation, created_ns, schedule, policy_state),
        )
        return int(cur.lastrowid)

    def set_snapshot_locked(self, snapshot_id: int, locked: bool) -> None:
        self._write(
            "UPDATE snapshot SET locked = ? WHERE id = ?", (int(locked), snapshot_id)
        )

    def delete_snapshot_row(self, snapshot_id: int) -> None:
        self._write("DELETE FROM snapshot WHERE id = ?", (snapshot_id,))

    def purge_unseen(self, prev: int, generation: int, nxt: int | None) -> list[ChunkId]:
        """Physically delete the rows only the (deleted) snapshot at `generation` saw.

        Such a row was visible at `generation` (born <= S < died), is dead, and no remaining
        snapshot sees it: none at or before `prev` (so born > prev) and none at or after
        `nxt` (so died <= nxt). Returns the chunks of deleted extent rows, whose references
        are released once the deletion is durable.
        """
        cond = "died > ? AND born > ? AND born <= ?"
        params: tuple[int, ...] = (generation, prev, generation)
        if nxt is not None:
            cond += " AND died <= ?"
            params += (nxt,)
        chunks = [bytes(r[0]) for r in self.db.query(
            f"SELECT chunk FROM extent WHERE {cond}", params)]
        for table in ("extent", "inode", "dentry", "symlink", "xattr"):
            self._write(f"DELETE FROM {table} WHERE {cond}", params)
        return chunks

    def dead_extent_bytes(self) -> list[tuple[int, int, int]]:
        """(born, died, bytes) of all extent rows no longer live, grouped (space figures)."""
        return [(int(r[0]), int(r[1]), int(r[2])) for r in self.db.query(
            "SELECT born, died, sum(length) FROM extent WHERE died IS NOT NULL"
            " GROUP BY died, born"
        )]

    # ------------------------------------------------------ snapshot schedules

    def schedule_rows(self) -> list[tuple[Any, ...]]:
        """(id, name, cron, keep_last, keep_within_s, keep_hourly, keep_daily, keep_weekly,
        keep_monthly, last_run_ns), by name."""
        return [tuple(r) for r in self.db.query(
            "SELECT id, name, cron, keep_last, keep_within_s, keep_hourly, keep_daily,"
            " keep_weekly, keep_monthly, last_run_ns FROM snapshot_schedule ORDER BY name"
        )]

    def upsert_schedule(self, name: str, cron: str, keep: Sequence[int | None]) -> None:
        """Add or replace schedule `name`; `keep` = last, within_s, hourly, daily, weekly,
        monthly."""
        self._write(
            "INSERT INTO snapshot_schedule (name, cron, keep_last, keep_within_s, keep_hourly,"
            " keep_daily, keep_weekly, keep_monthly) VALUES (?,?,?,?,?,?,?,?)"
            " ON CONFLICT (name) DO UPDATE SET cron = excluded.cron,"
            " keep_last = excluded.keep_last, keep_within_s = excluded.keep_within_s,"
            " keep_hourly = excluded.keep_hourly, keep_daily = excluded.keep_daily,"
            " keep_weekly = excluded.keep_weekly, keep_monthly = excluded.keep_monthly",
            (name, cron, *keep),
        )

    def delete_schedule(self, name: str) -> bool:
        return int(self._write(
            "DELETE FROM snapshot_schedule WHERE name = ?", (name,)).rowcount) > 0

    def set_schedule_run(self, schedule_id: int, run_ns: int) -> None:
        self._write(
            "UPDATE snapshot_schedule SET last_run_ns = ? WHERE id = ?", (run_ns, schedule_id)
        )
