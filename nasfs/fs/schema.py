"""Schema of the filesystem metadata database (`fs.db`), as named sqlite-utils migrations.

Versioned rows: every table that describes the tree carries `born` and `died` volume
generations. A row is live while `died IS NULL`. The volume generation (`meta.generation`)
only moves forward when a snapshot is taken (nasfs.fs.snapshots): the snapshot keeps generation
G and the live tree continues in G + 1. Changing a row born in the current generation
updates it in place; changing a row born earlier (so some snapshot may still see it) closes
it (`died = G`) and inserts the new version (`born = G`). A snapshot taken at generation S
therefore sees exactly the rows with `born <= S AND (died IS NULL OR died > S)`, and taking
one is O(1): bump the counter. Deleting a row born in the current generation removes it.

Names, symlink targets and xattr names/values are BLOBs: bytes, kept byte-exact whatever
their encoding.
"""

from __future__ import annotations

import logging

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

log = logging.getLogger(__name__)

MIGRATIONS = Migrations("nasfs.fs")

# Root directory inode number (FUSE_ROOT_ID).
ROOT_INODE = 1


@MIGRATIONS()
def m001_namespace(db: Database) -> None:
    """The namespace: inodes, directory entries, extents, symlinks, xattrs, orphans."""
    db.execute(
        """
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,  -- 'generation': current volume generation (int);
                                     -- 'clean': 1 after a clean close, 0 while mounted;
                                     -- 'record_size': bytes per file record (fixed at mkfs)
            value                    -- integer or text, per key
        )
        """
    )
    db.execute(
        """
        CREATE TABLE inode (
            id        INTEGER NOT NULL,  -- inode number the kernel sees; 1 is the root
            born      INTEGER NOT NULL,  -- generation that wrote this version
            died      INTEGER,           -- generation that replaced/removed it; NULL = live
            mode      INTEGER NOT NULL,  -- st_mode: file type bits and permission bits
            uid       INTEGER NOT NULL,  -- owner
            gid       INTEGER NOT NULL,  -- group
            nlink     INTEGER NOT NULL,  -- hard links; directories: 2 + subdirectories.
                                         -- 0 = unlinked but still open (listed in orphan)
            size      INTEGER NOT NULL,  -- st_size in bytes (regular files, symlinks)
            rdev      INTEGER NOT NULL,  -- device number of block/char device nodes, else 0
            atime_ns  INTEGER NOT NULL,  -- access time, ns since the epoch
            mtime_ns  INTEGER NOT NULL,  -- modification time, ns
            ctime_ns  INTEGER NOT NULL,  -- status change time, ns
            crtime_ns INTEGER NOT NULL,  -- creation (birth) time, ns
            PRIMARY KEY (id, born)
        ) WITHOUT ROWID
        """
    )
    # At most one live version per inode; the partial index also serves live lookups.
    db.execute("CREATE UNIQUE INDEX inode_live ON inode (id) WHERE died IS NULL")
    db.execute(
        """
        CREATE TABLE dentry (
            id     INTEGER PRIMARY KEY,  -- rowid; readdir offsets are these ids, so a listing
                                         -- in id order is stable under concurrent changes
            parent INTEGER NOT NULL,     -- inode of the directory holding the entry
            name   BLOB NOT NULL,        -- entry name, bytes (1..255, no '/' or NUL)
            ino    INTEGER NOT NULL,     -- inode the entry names
            born   INTEGER NOT NULL,     -- generation that wrote this version
            died   INTEGER               -- generation that removed it; NULL = live
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX dentry_live ON dentry (parent, name) WHERE died IS NULL")
    # readdir walks a directory in id order from an offset.
    db.execute("CREATE INDEX dentry_listing ON dentry (parent, id) WHERE died IS NULL")
    # Finding the parent of a directory (rename loop check) and the names of an inode.
    db.execute("CREATE INDEX dentry_target ON dentry (ino) WHERE died IS NULL")
    db.execute(
        """
        CREATE TABLE extent (
            ino    INTEGER NOT NULL,  -- file inode
            idx    INTEGER NOT NULL,  -- record index: the record covers bytes
                                      -- [idx * record_size, idx * record_size + length)
            chunk  BLOB NOT NULL,     -- 32-byte BLAKE3 chunk id in the store; every row
                                      -- (any version) holds one store reference
            length INTEGER NOT NULL,  -- bytes in the chunk (<= record_size); bytes after it
                                      -- up to st_size read as zeros. A missing row is a hole.
            born   INTEGER NOT NULL,  -- generation that wrote this version
            died   INTEGER,           -- generation that replaced/removed it; NULL = live
            PRIMARY KEY (ino, idx, born)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE UNIQUE INDEX extent_live ON extent (ino, idx) WHERE died IS NULL")
    db.execute(
        """
        CREATE TABLE symlink (
            ino    INTEGER NOT NULL,  -- symlink inode
            target BLOB NOT NULL,     -- link target, bytes, as given to symlink(2)
            born   INTEGER NOT NULL,  -- generation that wrote this version
            died   INTEGER,           -- generation that removed it; NULL = live
            PRIMARY KEY (ino, born)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE UNIQUE INDEX symlink_live ON symlink (ino) WHERE died IS NULL")
    db.execute(
        """
        CREATE TABLE xattr (
            ino   INTEGER NOT NULL,  -- inode carrying the attribute
            name  BLOB NOT NULL,     -- full name including namespace, e.g. b'user.comment'
            value BLOB NOT NULL,     -- value, bytes (may be empty)
            born  INTEGER NOT NULL,  -- generation that wrote this version
            died  INTEGER,           -- generation that replaced/removed it; NULL = live
            PRIMARY KEY (ino, name, born)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE UNIQUE INDEX xattr_live ON xattr (ino, name) WHERE died IS NULL")
    db.execute(
        """
        CREATE TABLE orphan (
            ino INTEGER PRIMARY KEY  -- inode with nlink 0 still referenced by the kernel
                                     -- (open or looked up); purged at forget or next mount
        )
        """
    )


@MIGRATIONS()
def m002_snapshots(db: Database) -> None:
    """Snapshots (a named, frozen generation), their schedules, and indexes on dead rows."""
    db.execute(
        """
        CREATE TABLE snapshot (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, even after delete
            name         TEXT NOT NULL UNIQUE,  -- '@GMT-YYYY.MM.DD-HH.MM.SS' (UTC) by default
            generation   INTEGER NOT NULL UNIQUE,  -- the frozen generation S: the snapshot
                                                   -- sees born <= S AND (died NULL OR > S)
            created_ns   INTEGER NOT NULL,      -- when it was taken, ns since the epoch (UTC)
            locked       INTEGER NOT NULL DEFAULT 0,  -- 1: never removed automatically
            schedule     INTEGER,               -- snapshot_schedule.id that took it, or NULL
            policy_state TEXT                   -- JSON of the policy (users, groups, shares,
                                                -- ACLs) at that moment, or NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE snapshot_schedule (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            name         TEXT NOT NULL UNIQUE,  -- administrator's label, e.g. 'hourly'
            cron         TEXT NOT NULL,         -- five-field cron expression, evaluated in UTC
            keep_last    INTEGER,               -- keep the newest N of this schedule
            keep_within_s INTEGER,              -- keep those younger than this many seconds
            keep_hourly  INTEGER,               -- GFS thinning: newest of each of the last N
            keep_daily   INTEGER,               --   hours / days / ISO weeks / months that
            keep_weekly  INTEGER,               --   have a snapshot (NULL or 0: rule off)
            keep_monthly INTEGER,
            last_run_ns  INTEGER                -- fire time of the last run, ns (UTC)
        )
        """
    )
    # Deleting a snapshot and the space figures look for rows by the generation that ended
    # them. Partial: live rows (the hot path) never touch these indexes.
    for table, cols in (("inode", "died, born"), ("dentry", "died, born"),
                        ("extent", "died, born, length"), ("symlink", "died, born"),
                        ("xattr", "died, born")):
        db.execute(f"CREATE INDEX {table}_died ON {table} ({cols}) WHERE died IS NOT NULL")
    # Browsing a snapshot: entries that are no longer live, by directory and name.
    db.execute("CREATE INDEX dentry_dead ON dentry (parent, name) WHERE died IS NOT NULL")
